/**
 * Dynamic loss scaling for half-precision training, as torch.cuda.amp.GradScaler: the loss's gradient
 * is seeded with the scale (so small f16 gradients do not flush to zero), the f32 master gradients
 * are unscaled in one pass that also looks for Inf/NaN, the optimizer kernels skip the update when it
 * found one, and the scale halves after such a step and doubles after `interval` good steps in a row.
 *
 * The scale, the found flag and the counters are GPU buffers read by the kernels, never by the host
 * during training: a step with loss scaling has no readback and replays as recorded. `read()` brings
 * the scale and the number of skipped steps back when asked (once per epoch in finetune).
 *
 * A skipped step changes nothing, Adam's step count included (it counts good steps on the GPU), as
 * torch's GradScaler skips optimizer.step().
 *
 * Defaults: initial scale 2^16, growth ×2 every 2000 good steps, backoff ×0.5 (torch's). A fine-tune
 * of a few hundred steps never grows the scale at 2000; its first steps back off from 2^16 until the
 * scaled gradients fit in f16, which costs a few skipped steps.
 */
import { Tensor, keep } from '../core/tensor.ts';
import { tensor, clone } from '../core/factory.ts';
import { ThawError } from '../core/errors.ts';
import type { Optimizer } from './optimizer.ts';
import { unscaleMulti, lossScaleUpdate } from '../../kernels/index.ts';

/** Options of {@link LossScaler}. */
export interface LossScalerOptions {
  /** Starting scale; default 2^16. */
  init?: number;
  /** Factor after `interval` good steps in a row; default 2. */
  growth?: number;
  /** Factor after a step with a non-finite gradient; default 0.5. */
  backoff?: number;
  /** Good steps in a row before the scale grows; default 2000. */
  interval?: number;
}

/** Dynamic loss scaling (see the file comment): `seed()` before backward, `unscale()` before clipping, `step()` around the optimizer. */
export class LossScaler {
  /** The scale (1 f32). */
  readonly scale: Tensor;
  /** Whether this step found a non-finite gradient (1 i32, 0 or 1). */
  readonly found: Tensor;
  /** [good steps in a row, skipped steps] (2 i32). */
  readonly counts: Tensor;
  private readonly args: { growth: number; backoff: number; interval: number };

  constructor(o: LossScalerOptions = {}) {
    const init = o.init ?? 2 ** 16, growth = o.growth ?? 2, backoff = o.backoff ?? 0.5, interval = o.interval ?? 2000;
    if (!(init > 0 && Number.isFinite(init))) throw new ThawError('loss-scale', `init must be a positive finite number, got ${init}`);
    if (!(growth > 1)) throw new ThawError('loss-scale', `growth must be above 1, got ${growth}`);
    if (!(backoff > 0 && backoff < 1)) throw new ThawError('loss-scale', `backoff must be in (0, 1), got ${backoff}`);
    if (!(Number.isInteger(interval) && interval >= 1)) throw new ThawError('loss-scale', `interval must be a positive integer, got ${interval}`);
    this.args = { growth, backoff, interval };
    this.scale = keep(tensor(new Float32Array([init]), [1]));
    this.found = keep(tensor(new Int32Array([0]), [1], 'i32'));
    this.counts = keep(tensor(new Int32Array([0, 0]), [2], 'i32'));
  }

  /** The gradient to seed `backward(loss, seed)` with (a new tensor holding the scale), for a scalar loss. */
  seed(loss: Tensor): Tensor {
    if (loss.size !== 1) throw new ThawError('loss-scale', `the loss has ${loss.size} elements; loss scaling seeds a scalar loss`);
    return clone(this.scale);
  }

  /** Divides the gradients of `params` by the scale in place and sets the found flag if any is not finite. */
  unscale(params: Iterable<Tensor>): void {
    const grads: Tensor[] = [];
    for (const p of params) if (p.requiresGrad && p.grad) grads.push(p.grad);
    if (grads.length) unscaleMulti(grads, this.scale, this.found);
  }

  /** Runs `opt.step()` with its kernels skipping the update when the flag is set, then moves the scale. */
  step(opt: Optimizer<any>): void {
    opt.skipIf = this.found;
    try {
      opt.step();
    } finally {
      opt.skipIf = null;
    }
    lossScaleUpdate(this.scale, this.found, this.counts, this.args);
  }

  /** The current scale and the number of steps skipped so far (a readback). */
  async read(): Promise<{ scale: number; skipped: number }> {
    const [s, c] = [await this.scale.data(), await this.counts.data()];
    return { scale: s[0], skipped: c[1] };
  }

  dispose(): void {
    this.scale.dispose();
    this.found.dispose();
    this.counts.dispose();
  }
}
