/**
 * float64 CPU reference of max and average pooling: the test oracle. Tests and benchmarks import
 * them from here; the library does not, and no entry point exports them.
 */
import type { PoolGeometry } from './pool.ts';

/**
 * float64 CPU reference of pooling (test oracle): returns the output, and for max the argmax.
 * Mirrors PyTorch's loops independently of the WGSL.
 */
export function pool2dRef(kind: 'max' | 'avg', x: ArrayLike<number>, g: PoolGeometry, countIncludePad = true): { out: Float64Array; argmax: Int32Array } {
  const { N, C, H, W, OH, OW, k, s, d, pad } = g;
  const out = new Float64Array(N * C * OH * OW), argmax = new Int32Array(out.length).fill(-1);
  for (let p = 0; p < N * C; p++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const o = (p * OH + oh) * OW + ow;
    const hs = oh * s[0] - pad.top, ws = ow * s[1] - pad.left;
    let acc = kind === 'max' ? -Infinity : 0, cnt = 0;
    for (let kh = 0; kh < k[0]; kh++) for (let kw = 0; kw < k[1]; kw++) {
      const ih = hs + kh * d[0], iw = ws + kw * d[1];
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      const v = x[(p * H + ih) * W + iw];
      cnt++;
      if (kind === 'avg') acc += v;
      else if (v > acc) { acc = v; argmax[o] = ih * W + iw; }
    }
    if (kind === 'max') { out[o] = acc; continue; }
    const padded = (Math.min(hs + k[0], H + pad.bottom) - hs) * (Math.min(ws + k[1], W + pad.right) - ws);
    out[o] = acc / (countIncludePad ? padded : cnt);
  }
  return { out, argmax };
}
