/**
 * Dynamic loss scaling kernels (torch.cuda.amp.GradScaler's `_amp_foreach_non_finite_check_and_unscale_`
 * and `_amp_update_scale_`): the scale, the found-Inf flag and the counters live in GPU buffers, so
 * a training step with loss scaling, its optimizer kernels included (they read the flag and leave
 * everything unchanged when it is set), needs no readback and replays as recorded.
 */
import unscaleSrc from './unscale.wgsl';
import updateSrc from './loss_scale.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import eachTensor from './each_tensor.wgsl';
import type { Tensor } from '../../engine/core/tensor.ts';
import { runtime, launch1d } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { argBlocks } from './args.ts';
import { chunk, perDispatch, ranges } from './multi.ts';

/** How the scale moves: ×growth after `interval` good steps in a row, ×backoff after a non-finite one. */
export interface LossScaleArgs { growth: number; backoff: number; interval: number }

function check(op: string, t: Tensor, dtype: string, size: number, what: string): void {
  if (t.dtype !== dtype || t.size !== size) throw new ShapeError(`${op}: '${what}' has ${t.size} ${t.dtype} elements, expected ${size} ${dtype}`);
}

/** Multiplies every gradient in place by 1 / scale[0] and sets found[0] (i32) to 1 if any result is not finite. */
export function unscaleMulti(grads: Tensor[], scale: Tensor, found: Tensor): void {
  check('unscale', scale, 'f32', 1, 'scale');
  check('unscale', found, 'i32', 1, 'found');
  for (const g of grads) if (g.dtype !== 'f32') throw new ShapeError(`unscale: a gradient has dtype ${g.dtype}, expected f32 (the gradients of f32 master weights)`);
  for (const c of chunk(grads, perDispatch(1, 2), (x) => [x])) {
    const bind: Record<string, Tensor> = { scale, found };
    c.forEach((x, i) => { bind['x' + i] = x; });
    const n = c.reduce((s, x) => s + x.size, 0);
    const { groups, stride } = launch1d(n);
    runtime().run(wgsl('optim_unscale', unscaleSrc, {
      include: [flatIndex, each, eachTensor], defines: { K: c.length },
      blocks: ({ K }) => {
        const b = argBlocks([{ name: 'x', single: 'x', access: 'read_write' }], K);
        const next = Number(b.NEXT_BINDING);
        return { ...b, FOUND_BINDING: String(next + 1), UNIFORM_BINDING: String(next + 2) };
      },
    }), bind, { n, stride, ...ranges(c) }, groups);
  }
}

/** Moves the scale by the step's found[0] (see loss_scale.wgsl), counts good and skipped steps in `counts` (2, i32), clears found. */
export function lossScaleUpdate(scale: Tensor, found: Tensor, counts: Tensor, a: LossScaleArgs): void {
  check('lossScaleUpdate', scale, 'f32', 1, 'scale');
  check('lossScaleUpdate', found, 'i32', 1, 'found');
  check('lossScaleUpdate', counts, 'i32', 2, 'counts');
  runtime().run(wgsl('optim_loss_scale', updateSrc), { scale, found, counts },
    { growth: a.growth, backoff: a.backoff, interval: a.interval }, [1, 1, 1]);
}
