/**
 * float64 CPU reference of 2-D batch norm (output and running statistics): the test oracle. Tests
 * and benchmarks import them from here; the library does not, and no entry point exports them.
 */
import type { BatchNormOptions } from './batchnorm.ts';

/**
 * float64 CPU reference (test oracle): the output and the running stats after the call.
 * x: (N, C, ...) flattened; weight/bias null mean 1/0.
 */
export function batchNormRef(x: ArrayLike<number>, shape: readonly number[], weight: ArrayLike<number> | null, bias: ArrayLike<number> | null,
  runningMean: ArrayLike<number> | null, runningVar: ArrayLike<number> | null, opts: BatchNormOptions = {}): { out: Float64Array; runningMean: Float64Array | null; runningVar: Float64Array | null } {
  const [N, C] = shape;
  const HW = shape.slice(2).reduce((a, b) => a * b, 1), M = N * HW;
  const { training = false, momentum = 0.1, eps = 1e-5 } = opts;
  const out = new Float64Array(x.length);
  const rm = runningMean ? Float64Array.from(runningMean) : null, rv = runningVar ? Float64Array.from(runningVar) : null;
  for (let c = 0; c < C; c++) {
    let m: number, v: number;
    if (training || !rm) {
      m = 0; v = 0;
      for (let n = 0; n < N; n++) for (let s = 0; s < HW; s++) m += x[(n * C + c) * HW + s];
      m /= M;
      for (let n = 0; n < N; n++) for (let s = 0; s < HW; s++) v += (x[(n * C + c) * HW + s] - m) ** 2;
      if (training && rm && rv) {
        rm[c] = (1 - momentum) * rm[c] + momentum * m;
        rv[c] = (1 - momentum) * rv[c] + momentum * v / (M - 1);
      }
      v /= M;
    } else { m = rm[c]; v = rv![c]; }
    const w = weight ? weight[c] : 1, b = bias ? bias[c] : 0;
    for (let n = 0; n < N; n++) for (let s = 0; s < HW; s++) {
      const k = (n * C + c) * HW + s;
      out[k] = (x[k] - m) / Math.sqrt(v + eps) * w + b;
    }
  }
  return { out, runningMean: rm, runningVar: rv };
}

/** float64 training-mode backward: dx, dweight, dbias of sum(bn(x) * g), and each channel's 1/σ (invStd). */
export function bnBackwardRef(x: ArrayLike<number>, shape: number[], w: ArrayLike<number>, g: ArrayLike<number>, eps: number) {
  const [N, C] = shape, HW = shape.slice(2).reduce((a, b) => a * b, 1), M = N * HW;
  const dx = new Float64Array(x.length), dw = new Float64Array(C), db = new Float64Array(C), invStd = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const idx: number[] = [];
    for (let n = 0; n < N; n++) for (let s = 0; s < HW; s++) idx.push((n * C + c) * HW + s);
    const m = idx.reduce((a, k) => a + x[k], 0) / M;
    const inv = (invStd[c] = 1 / Math.sqrt(idx.reduce((a, k) => a + (x[k] - m) ** 2, 0) / M + eps));
    for (const k of idx) { db[c] += g[k]; dw[c] += g[k] * (x[k] - m) * inv; }
    for (const k of idx) dx[k] = w[c] * inv * (g[k] - db[c] / M - (x[k] - m) * inv * dw[c] / M);
  }
  return { dx, dw, db, invStd };
}
