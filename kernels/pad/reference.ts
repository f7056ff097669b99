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
