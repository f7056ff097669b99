/**
 * float64 CPU reference of resize2d, following PyTorch's upsample_bilinear2d loops: the test
 * oracle. Tests and benchmarks import them from here; the library does not, and no entry point
 * exports them.
 */
import type { ResizeMode } from './resize.ts';

/** Input-per-output scale of one axis, as PyTorch computes it when given an output size. */
function ratio(mode: ResizeMode, inSize: number, outSize: number): number {
  if (mode === 'align-corners') return outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
  return inSize / outSize;
}

/** float64 CPU reference of resize2d (test oracle), following PyTorch's upsample_bilinear2d loops. */
export function resize2dRef(x: ArrayLike<number>, shape: readonly number[], size: readonly [number, number], mode: ResizeMode = 'half-pixel'): Float64Array {
  const [N, C, H, W] = shape, [OH, OW] = size;
  const axis = (o: number, inSize: number, outSize: number): [number, number, number] => {
    const r = ratio(mode, inSize, outSize);
    const s = mode === 'half-pixel' ? Math.max((o + 0.5) * r - 0.5, 0) : o * r;
    const i0 = Math.min(Math.floor(s), inSize - 1);
    return [i0, i0 < inSize - 1 ? i0 + 1 : i0, s - i0];
  };
  const out = new Float64Array(N * C * OH * OW);
  for (let p = 0; p < N * C; p++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const [h0, h1, lh] = axis(oh, H, OH), [w0, w1, lw] = axis(ow, W, OW);
    const v = (h: number, w: number) => x[(p * H + h) * W + w];
    out[(p * OH + oh) * OW + ow] = (1 - lh) * ((1 - lw) * v(h0, w0) + lw * v(h0, w1)) + lh * ((1 - lw) * v(h1, w0) + lw * v(h1, w1));
  }
  return out;
}
