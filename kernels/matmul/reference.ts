/**
 * float64 CPU reference of batched matmul: the test oracle. Tests and benchmarks import them from
 * here; the library does not, and no entry point exports them.
 */
import { type Shape, numel } from '../../engine/core/tensor.ts';
import { broadcastShapes } from '../elementwise/elementwise.ts';

/**
 * float64 CPU reference of op(a)·op(b) with batch broadcasting (the test oracle). Written
 * independently of the GPU planning code: plain index arithmetic over the broadcast batch.
 */
export function matmulRef(a: ArrayLike<number>, aShape: Shape, b: ArrayLike<number>, bShape: Shape,
  opts: { transA?: boolean; transB?: boolean } = {}): { data: Float64Array; shape: number[] } {
  const { transA = false, transB = false } = opts;
  const ra = aShape.length, rb = bShape.length;
  const [M, K] = transA ? [aShape[ra - 1], aShape[ra - 2]] : [aShape[ra - 2], aShape[ra - 1]];
  const N = transB ? bShape[rb - 2] : bShape[rb - 1];
  const aB = aShape.slice(0, -2), bB = bShape.slice(0, -2);
  const outB = broadcastShapes('matmulRef', aB, bB);
  const nb = numel(outB);
  const out = new Float64Array(nb * M * N);
  const idx = new Array(outB.length).fill(0);
  // Matrix index of a batch in an operand whose batch dims broadcast to outB.
  const matIndex = (shape: number[]): number => {
    let i = 0;
    for (let d = 0; d < shape.length; d++) i = i * shape[d] + (shape[d] === 1 ? 0 : idx[outB.length - shape.length + d]);
    return i;
  };
  for (let t = 0; t < nb; t++) {
    let rem = t;
    for (let d = outB.length - 1; d >= 0; d--) { idx[d] = rem % outB[d]; rem = Math.floor(rem / outB[d]); }
    const ao = matIndex(aB) * M * K, bo = matIndex(bB) * K * N;
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        s += a[ao + (transA ? k * M + m : m * K + k)] * b[bo + (transB ? n * K + k : k * N + n)];
      }
      out[(t * M + m) * N + n] = s;
    }
  }
  return { data: out, shape: [...outB, M, N] };
}
