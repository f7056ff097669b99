/**
 * float64 CPU references of slice and concat: the test oracles. Tests and benchmarks import them
 * from here; the library does not, and no entry point exports them.
 */
import type { Shape } from '../../engine/core/tensor.ts';

/** float64 reference of slice (test oracle): begin/size already normalised. */
export function sliceRef(x: ArrayLike<number>, shape: Shape, begin: readonly number[], size: readonly number[]): Float64Array {
  const r = shape.length;
  const n = size.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i, src = 0, place = 1;
    for (let d = r - 1; d >= 0; d--) {
      src += ((rem % size[d]) + begin[d]) * place;
      rem = Math.floor(rem / size[d]);
      place *= shape[d];
    }
    out[i] = x[src];
  }
  return out;
}

/** float64 reference of concat along `axis` (test oracle). */
export function concatRef(xs: ArrayLike<number>[], shapes: Shape[], axis: number): Float64Array {
  const ax = axis < 0 ? axis + shapes[0].length : axis;
  const outer = shapes[0].slice(0, ax).reduce((a, b) => a * b, 1);
  const rows = xs.map((_, i) => shapes[i].slice(ax).reduce((a, b) => a * b, 1));
  const out: number[] = [];
  for (let o = 0; o < outer; o++) xs.forEach((x, i) => { for (let j = 0; j < rows[i]; j++) out.push(x[o * rows[i] + j]); });
  return Float64Array.from(out);
}
