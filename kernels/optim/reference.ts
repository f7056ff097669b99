/**
 * CPU references of the SGD and Adam/AdamW updates (the same float32 arithmetic as the WGSL, one
 * rounding per WGSL operation; fma rounds once) and of gradient-norm clipping (float64 norm): the
 * test oracles. Tests and benchmarks import them from here; the library does not, and no entry
 * point exports them.
 */
import { type SgdArgs, type AdamArgs, adamScalars } from './optim.ts';

const f = Math.fround;
const fma = (a: number, b: number, c: number) => f(a * b + c); // a*b is exact in float64 for f32 inputs

/** CPU SGD step, in place on float32 arrays (the oracle for sgdUpdate). */
export function sgdRef(param: Float32Array, grad: ArrayLike<number>, buf: Float32Array | null, a: SgdArgs, first: boolean): void {
  const negLr = f(-a.lr), wd = f(a.weightDecay), mom = f(a.momentum), omd = f(1 - a.dampening);
  for (let i = 0; i < param.length; i++) {
    const p = param[i];
    let d = grad[i];
    if (wd !== 0) d = fma(p, wd, d);
    if (mom !== 0 && buf) {
      const b = first ? d : fma(d, omd, f(buf[i] * mom));
      buf[i] = b;
      d = a.nesterov ? fma(b, mom, d) : b;
    }
    param[i] = fma(d, negLr, p);
  }
}

/** CPU Adam/AdamW step, in place on float32 arrays (the oracle for adamUpdate). */
export function adamRef(param: Float32Array, grad: ArrayLike<number>, m: Float32Array, v: Float32Array, a: AdamArgs): void {
  const s = Object.fromEntries(Object.entries(adamScalars(a)).map(([k, x]) => [k, f(x)]));
  for (let i = 0; i < param.length; i++) {
    let p = param[i], g = grad[i];
    if (s.decoupled) p = f(p * s.decay);
    else if (s.weightDecay !== 0) g = fma(p, s.weightDecay, g);
    const m0 = s.first ? 0 : m[i], v0 = s.first ? 0 : v[i];
    m[i] = fma(g, s.oneMinusBeta1, f(m0 * s.beta1));
    v[i] = f(f(v0 * s.beta2) + f(f(s.oneMinusBeta2 * g) * g));
    const denom = f(f(f(Math.sqrt(v[i])) / s.bc2Sqrt) + s.eps);
    param[i] = f(p + f(f(s.negStepSize * m[i]) / denom));
  }
}

/** CPU reference (float64 norm): returns the norm and scales `grads` in place like clip_grad_norm_. */
export function clipRef(grads: Float32Array[], maxNorm: number): number {
  let s = 0;
  for (const g of grads) for (const v of g) s += v * v;
  const norm = Math.sqrt(s);
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return norm;
}
