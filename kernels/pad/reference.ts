/**
 * float64 CPU reference of pad2d: the test oracle. Tests and benchmarks import them from here; the
 * library does not, and no entry point exports them.
 */
import type { Pad4 } from './pad.ts';

/** float64 CPU reference of pad2d on NCHW data (test oracle). */
export function pad2dRef(x: ArrayLike<number>, shape: readonly number[], p: Pad4, value = 0): Float64Array {
  const [N, C, H, W] = shape;
  const OH = H + p.top + p.bottom, OW = W + p.left + p.right;
  const out = new Float64Array(N * C * OH * OW).fill(value);
  for (let pl = 0; pl < N * C; pl++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const ih = oh - p.top, iw = ow - p.left;
    if (ih >= 0 && ih < H && iw >= 0 && iw < W) out[(pl * OH + oh) * OW + ow] = x[(pl * H + ih) * W + iw];
  }
  return out;
}

/** float64 CPU reference of subsamplePad: x[:, :, ::step, ::step] with `before` and `after` zero channels. */
export function subsamplePadRef(x: ArrayLike<number>, [N, C, H, W]: readonly number[], step: number, before: number, after: number): Float64Array {
  const CO = before + C + after, OH = Math.ceil(H / step), OW = Math.ceil(W / step);
  const out = new Float64Array(N * CO * OH * OW);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let y = 0; y < OH; y++) for (let x0 = 0; x0 < OW; x0++) {
    out[((n * CO + before + c) * OH + y) * OW + x0] = x[((n * C + c) * H + y * step) * W + x0 * step];
  }
  return out;
}

/** float64 CPU reference of subsamplePad's input gradient: dy's kept channels scattered back to every step-th pixel. */
export function subsamplePadDxRef(dy: ArrayLike<number>, [N, C, H, W]: readonly number[], step: number, before: number, after: number): Float64Array {
  const CO = before + C + after, OH = Math.ceil(H / step), OW = Math.ceil(W / step);
  const dx = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let y = 0; y < OH; y++) for (let x0 = 0; x0 < OW; x0++) {
    dx[((n * C + c) * H + y * step) * W + x0 * step] = dy[((n * CO + before + c) * OH + y) * OW + x0];
  }
  return dx;
}
