/**
 * float64 CPU reference of the sum and max reductions: the test oracle. Tests and benchmarks import
 * them from here; the library does not, and no entry point exports them.
 */
import type { Shape } from '../../engine/core/tensor.ts';
import { type ReduceOp, COMBINE } from './launch.ts';

/** float64 CPU reference for sum/max over axes (test oracle). */
export function reduceRef(op: ReduceOp, x: ArrayLike<number>, shape: Shape, axes: number[], scale = 1): Float64Array {
  const outShape = shape.filter((_, i) => !axes.includes(i));
  const out = new Float64Array(outShape.reduce((a, b) => a * b, 1)).fill(COMBINE[op].init0);
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < x.length; i++) {
    let rem = i;
    for (let d = shape.length - 1; d >= 0; d--) { idx[d] = rem % shape[d]; rem = Math.floor(rem / shape[d]); }
    let o = 0;
    for (let d = 0, k = 0; d < shape.length; d++) if (!axes.includes(d)) { o = o * outShape[k] + idx[d]; k++; }
    out[o] = COMBINE[op].ref(out[o], x[i]);
  }
  return out.map((v) => v * scale);
}
