/**
 * Inverted dropout with a seeded counter-based RNG in WGSL. The keep mask is a pure function of
 * (seed, element index), so backward re-runs the same kernel on the gradient (the same mask, no
 * stored mask tensor), and a run is reproducible from its seed.
 */
import dropoutSrc from './dropout.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import dropoutKeep from '../common/dropout_keep.wgsl';
import { Tensor } from '../../engine/core/tensor.ts';
import { runtime, grid } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError, ThawError } from '../../engine/core/errors.ts';
import { record } from '../../engine/core/tape.ts';
import { type Live, valueOf, mapLive } from '../../engine/core/live.ts';

/** A dropout fused into another op's kernel (a layer norm, a linear layer's epilogue): probability p, mask drawn with `seed`. */
export interface FusedDropout { p: number; seed: number | Live<number> }

/** drop checked (p in [0, 1), an integer seed), or null where it drops nothing. */
export function checkFusedDropout(op: string, drop: FusedDropout | null): FusedDropout | null {
  if (!drop) return null;
  if (!(drop.p >= 0 && drop.p < 1)) throw new ThawError('argument', `${op}: dropout p must be in [0, 1), got ${drop.p}`);
  if (!Number.isInteger(valueOf(drop.seed))) throw new ThawError('argument', `${op}: dropout seed must be an integer, got ${drop.seed}`);
  return drop.p > 0 ? drop : null;
}

function dropoutRaw(x: Tensor, p: number, seed: number | Live<number>): Tensor {
  const out = Tensor.alloc(x.shape);
  const [gx, gy] = grid(Math.ceil(x.size / 64));
  runtime().run(wgsl('dropout', dropoutSrc, { include: [flatIndex, each, dropoutKeep] }), { x, out },
    { n: x.size, stride: gx * 64, seed: mapLive(seed, (s) => s >>> 0), p, scale: p < 1 ? 1 / (1 - p) : 0 }, [gx, gy]);
  return out;
}

/**
 * Zeroes each element with probability `p` and scales the rest by 1 / (1 - p). `seed` (a u32) picks
 * the mask; pass a new seed per step (a live one, engine/core/live.ts, when the step is recorded).
 * With `training` false (or p = 0) it returns `x` itself.
 */
export function dropout(x: Tensor, p: number, seed: number | Live<number>, training = true): Tensor {
  if (!(p >= 0 && p <= 1)) throw new ThawError('argument', `dropout: p must be in [0, 1], got ${p}`);
  if (!Number.isInteger(valueOf(seed))) throw new ThawError('argument', `dropout: seed must be an integer, got ${seed}`);
  if (x.dtype !== 'f32') throw new ShapeError(`dropout: argument 'x' has dtype ${x.dtype}, expected f32`);
  if (!training || p === 0) return x;
  const out = dropoutRaw(x, p, seed);
  return record('dropout', [x], out, (g) => [dropoutRaw(g, p, seed)]);
}
