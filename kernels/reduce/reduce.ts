/**
 * Reductions (sum, mean, max) over any set of axes, with keepdims. Adjacent reduced (or kept) axes
 * that are contiguous in memory are merged first, so most reductions run as rank-1/rank-2 loops.
 * One barrier-free kernel (reduce.wgsl) runs one invocation per output (or per 4 neighbouring outputs,
 * vec4) and chunk of the reduced range, loading vec4 along the reduced axis when it is innermost;
 * chunked reductions fold their partials in a second pass (reduce_merge.wgsl), in a fixed order.
 */
import { Tensor, type Shape } from '../../engine/core/tensor.ts';
import { broadcastTo, broadcastScaled, mul, div, compare } from '../elementwise/elementwise.ts';
import { record } from '../../engine/core/tape.ts';
import { withTuning } from '../../engine/core/runtime.ts';
import type { TuningPatch } from '../../engine/core/tuning.ts';
import { normAxes, reduceRaw, keepShape, reshapeOwned, reduceTo } from './launch.ts';

export { type ReduceOp, type ReducePlan, normAxes, reducePlan } from './launch.ts';

/** Options of sum, mean and max. */
export interface ReduceOptions {
  /** Merged over runtime().tuning for this op, forward and backward (engine/core/tuning.ts). */
  tuning?: TuningPatch;
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: number | number[], keepdims = false, opts: ReduceOptions = {}): Tensor {
  if (opts.tuning) return withTuning(opts.tuning, () => sum(x, axes, keepdims));
  const ax = normAxes('sum', x.rank, axes);
  const r = reduceRaw('sum', x, ax, 1);
  const out = keepdims ? reshapeOwned(r, keepShape(x.shape, ax)) : r;
  return record('sum', [x], out, (g) => [broadcastTo(g.alias(keepShape(x.shape, ax)), x.shape)]);
}

/** Mean over `axes` (all when omitted). */
export function mean(x: Tensor, axes?: number | number[], keepdims = false, opts: ReduceOptions = {}): Tensor {
  if (opts.tuning) return withTuning(opts.tuning, () => mean(x, axes, keepdims));
  const ax = normAxes('mean', x.rank, axes);
  const n = ax.reduce((a, i) => a * x.shape[i], 1);
  const r = reduceRaw('sum', x, ax, 1 / Math.max(n, 1));
  const out = keepdims ? reshapeOwned(r, keepShape(x.shape, ax)) : r;
  return record('mean', [x], out, (g) => [broadcastScaled(g.alias(keepShape(x.shape, ax)), x.shape, 1 / Math.max(n, 1))]);
}

/** Max over `axes`; the gradient is split evenly among tied maxima (like torch.amax). */
export function max(x: Tensor, axes?: number | number[], keepdims = false, opts: ReduceOptions = {}): Tensor {
  if (opts.tuning) return withTuning(opts.tuning, () => max(x, axes, keepdims));
  const ax = normAxes('max', x.rank, axes);
  const r = reduceRaw('max', x, ax, 1);
  const out = keepdims ? reshapeOwned(r, keepShape(x.shape, ax)) : r;
  return record('max', [x], out, (g, _n, [sx, sm]) => {
    const ks = keepShape(x.shape, ax);
    const mask = eqMask(sx, sm.alias(ks));
    const count = reduceRaw('sum', mask, ax, 1).alias(ks);
    return [mul(mask, div(g.alias(ks), count))];
  }, [x, out]);
}

/** Sums `x` down to `shape` (the reverse of broadcasting); its gradient broadcasts back. */
export function sumTo(x: Tensor, shape: Shape): Tensor {
  const out = reduceTo(x, shape);
  return out === x ? x : record('sumTo', [x], out, (g) => [broadcastTo(g, x.shape)]);
}

function eqMask(a: Tensor, b: Tensor): Tensor { return compare('eq', a, b); }
