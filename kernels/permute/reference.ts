/**
 * float64 CPU reference of permute: the test oracle. Tests and benchmarks import them from here;
 * the library does not, and no entry point exports them.
 */
import type { Shape } from '../../engine/core/tensor.ts';
import { normPerm } from './permute.ts';

/** float64 reference: the data of `x` (shape `shape`) permuted by `dims` (test oracle). */
export function permuteRef(x: ArrayLike<number>, shape: Shape, dims: readonly number[]): Float64Array {
  const r = shape.length;
  const p = normPerm('permuteRef', r, dims);
  const inStride: number[] = new Array(r);
  let acc = 1;
  for (let i = r - 1; i >= 0; i--) { inStride[i] = acc; acc *= shape[i]; }
  const outShape = p.map((d) => shape[d]);
  const out = new Float64Array(x.length);
  for (let i = 0; i < out.length; i++) {
    let rem = i, src = 0;
    for (let d = r - 1; d >= 0; d--) {
      src += (rem % outShape[d]) * inStride[p[d]];
      rem = Math.floor(rem / outShape[d]);
    }
    out[i] = x[src];
  }
  return out;
}
