/**
 * float64 CPU references for conv2d forward, input gradient and weight gradient: the test oracles.
 * Written as the plain definition (one loop nest, bounds checked per tap) so they share no code
 * path with the GPU kernels. NCHW activations, OIHW weights.
 */
import type { Shape } from '../../engine/core/tensor.ts';
import { type Conv2dOptions, type ConvGeom, convGeometry } from './geometry.ts';

/**
 * Calls `f(xi, wi, yi)` for every (input, weight, output) index triple that contributes
 * `x[xi] * w[wi]` to `y[yi]`.
 */
function forEachTap(g: ConvGeom, f: (xi: number, wi: number, yi: number) => void): void {
  for (let n = 0; n < g.N; n++) for (let co = 0; co < g.Cout; co++) {
    const grp = Math.floor(co / g.coutG);
    for (let oh = 0; oh < g.OH; oh++) for (let ow = 0; ow < g.OW; ow++) {
      const yi = ((n * g.Cout + co) * g.OH + oh) * g.OW + ow;
      for (let c = 0; c < g.cinG; c++) {
        const ci = grp * g.cinG + c;
        for (let ky = 0; ky < g.kh; ky++) {
          const ih = oh * g.sh - g.pt + ky * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          for (let kx = 0; kx < g.kw; kx++) {
            const iw = ow * g.sw - g.pl + kx * g.dw;
            if (iw < 0 || iw >= g.W) continue;
            f(((n * g.Cin + ci) * g.H + ih) * g.W + iw, ((co * g.cinG + c) * g.kh + ky) * g.kw + kx, yi);
          }
        }
      }
    }
  }
}

/** y (N, Cout, OH, OW) = conv2d(x (N, Cin, H, W), w (Cout, Cin/groups, kh, kw)) + bias (Cout), in float64. */
export function conv2dRef(x: ArrayLike<number>, xShape: Shape, w: ArrayLike<number>, wShape: Shape,
  bias: ArrayLike<number> | null, opts: Conv2dOptions = {}): Float64Array {
  const g = convGeometry(xShape, wShape, opts);
  const y = new Float64Array(g.N * g.Cout * g.OH * g.OW);
  if (bias) for (let i = 0; i < y.length; i++) y[i] = bias[Math.floor(i / (g.OH * g.OW)) % g.Cout];
  forEachTap(g, (xi, wi, yi) => { y[yi] += x[xi] * w[wi]; });
  return y;
}

/** dx (N, Cin, H, W) given dy (N, Cout, OH, OW) and w, in float64. */
export function conv2dDxRef(dy: ArrayLike<number>, xShape: Shape, w: ArrayLike<number>, wShape: Shape, opts: Conv2dOptions = {}): Float64Array {
  const g = convGeometry(xShape, wShape, opts);
  const dx = new Float64Array(g.N * g.Cin * g.H * g.W);
  forEachTap(g, (xi, wi, yi) => { dx[xi] += dy[yi] * w[wi]; });
  return dx;
}

/** dw (Cout, Cin/groups, kh, kw) given x and dy (N, Cout, OH, OW), in float64. */
export function conv2dDwRef(x: ArrayLike<number>, xShape: Shape, dy: ArrayLike<number>, wShape: Shape, opts: Conv2dOptions = {}): Float64Array {
  const g = convGeometry(xShape, wShape, opts);
  const dw = new Float64Array(g.Cout * g.cinG * g.kh * g.kw);
  forEachTap(g, (xi, wi, yi) => { dw[wi] += x[xi] * dy[yi]; });
  return dw;
}

/** dbias (Cout) = sum of dy (N, Cout, OH, OW) over N, OH, OW, in float64. */
export function conv2dDbiasRef(dy: ArrayLike<number>, dyShape: Shape): Float64Array {
  const [N, C, OH, OW] = dyShape;
  const db = new Float64Array(C);
  for (let i = 0; i < N * C * OH * OW; i++) db[Math.floor(i / (OH * OW)) % C] += dy[i];
  return db;
}
