/**
 * float64 CPU references of layer norm and its gradients: the test oracles. Tests and benchmarks
 * import them from here; the library does not, and no entry point exports them.
 */

/** float64 mean and reciprocal standard deviation of row `r` of `x` viewed as (rows, D). */
function rowStats(x: ArrayLike<number>, r: number, D: number, eps: number): { mu: number; rs: number } {
  let mu = 0;
  for (let k = 0; k < D; k++) mu += x[r * D + k];
  mu /= D;
  let v = 0;
  for (let k = 0; k < D; k++) v += (x[r * D + k] - mu) ** 2;
  return { mu, rs: 1 / Math.sqrt(v / D + eps) };
}

/** float64 layer norm of `x` viewed as (rows, D). `w`/`b` may be null (no affine). */
export function layerNormRef(x: ArrayLike<number>, D: number, w: ArrayLike<number> | null, b: ArrayLike<number> | null, eps: number): Float64Array {
  const rows = x.length / D;
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    const { mu, rs } = rowStats(x, r, D, eps);
    for (let k = 0; k < D; k++) out[r * D + k] = (x[r * D + k] - mu) * rs * (w ? w[k] : 1) + (b ? b[k] : 0);
  }
  return out;
}

/** float64 gradients of sum(g * layerNorm(x)) with respect to x, weight and bias. */
export function layerNormGradRef(x: ArrayLike<number>, D: number, w: ArrayLike<number> | null, g: ArrayLike<number>, eps: number):
  { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const rows = x.length / D;
  const dx = new Float64Array(x.length), dw = new Float64Array(D), db = new Float64Array(D);
  const xh = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    const { mu, rs } = rowStats(x, r, D, eps);
    let a = 0, c = 0;
    for (let k = 0; k < D; k++) {
      xh[k] = (x[r * D + k] - mu) * rs;
      const gw = g[r * D + k] * (w ? w[k] : 1);
      a += gw; c += gw * xh[k];
      dw[k] += g[r * D + k] * xh[k];
      db[k] += g[r * D + k];
    }
    for (let k = 0; k < D; k++) dx[r * D + k] = rs * (g[r * D + k] * (w ? w[k] : 1) - a / D - xh[k] * c / D);
  }
  return { dx, dw, db };
}
