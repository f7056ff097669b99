/**
 * float64 CPU reference of masked scaled dot-product attention and its gradients (the test
 * oracle), in the 'bhtd' layout, written from the textbook formulas: P = softmax(S), S = q·kᵀ·scale +
 * bias, O = (P ∘ Z)·v with Z the dropout factors (keep / (1 - p), or 1).
 */

/** Inputs of the reference: q (B, H, Tq, D), k, v (B, H, Tk, D), mask (B, Tk) or null, keep (B, H, Tq, Tk) 0/1 or null. */
export interface AttentionRefInput {
  q: ArrayLike<number>; k: ArrayLike<number>; v: ArrayLike<number>;
  B: number; H: number; Tq: number; Tk: number; D: number;
  mask?: ArrayLike<number> | null;
  scale?: number;
  keep?: ArrayLike<number> | null;
  p?: number;
}

/** Forward (out, probabilities) and, given dout, the gradients of sum(dout * out). */
export function attentionRef(a: AttentionRefInput, dout?: ArrayLike<number>):
  { out: Float64Array; probs: Float64Array; dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { B, H, Tq, Tk, D } = a;
  const scale = a.scale ?? 1 / Math.sqrt(D);
  const zf = (idx: number) => (a.keep ? (a.keep[idx] ? 1 / (1 - (a.p ?? 0)) : 0) : 1);
  const out = new Float64Array(B * H * Tq * D), probs = new Float64Array(B * H * Tq * Tk);
  const dq = new Float64Array(B * H * Tq * D), dk = new Float64Array(B * H * Tk * D), dv = new Float64Array(B * H * Tk * D);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const qo = (b * H + h) * Tq * D, ko = (b * H + h) * Tk * D, po = (b * H + h) * Tq * Tk;
    for (let i = 0; i < Tq; i++) {
      const s = new Float64Array(Tk);
      let m = -Infinity;
      for (let j = 0; j < Tk; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += a.q[qo + i * D + d] * a.k[ko + j * D + d];
        s[j] = dot * scale + (a.mask ? (1 - a.mask[b * Tk + j]) * -1e9 : 0);
        m = Math.max(m, s[j]);
      }
      let z = 0;
      for (let j = 0; j < Tk; j++) z += Math.exp(s[j] - m);
      for (let j = 0; j < Tk; j++) {
        const pij = Math.exp(s[j] - m) / z;
        probs[po + i * Tk + j] = pij;
        for (let d = 0; d < D; d++) out[qo + i * D + d] += pij * zf(po + i * Tk + j) * a.v[ko + j * D + d];
      }
      if (!dout) continue;
      // dP_ij = Z_ij (dO_i · v_j); dS = P ∘ (dP - rowsum(P ∘ dP)).
      const dp = new Float64Array(Tk);
      let rs = 0;
      for (let j = 0; j < Tk; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += dout[qo + i * D + d] * a.v[ko + j * D + d];
        dp[j] = dot * zf(po + i * Tk + j);
        rs += probs[po + i * Tk + j] * dp[j];
      }
      for (let j = 0; j < Tk; j++) {
        const pij = probs[po + i * Tk + j];
        const ds = pij * (dp[j] - rs) * scale;
        for (let d = 0; d < D; d++) {
          dq[qo + i * D + d] += ds * a.k[ko + j * D + d];
          dk[ko + j * D + d] += ds * a.q[qo + i * D + d];
          dv[ko + j * D + d] += pij * zf(po + i * Tk + j) * dout[qo + i * D + d];
        }
      }
    }
  }
  return { out, probs, dq, dk, dv };
}

/** Reorders (B, T, H, D) data (the 'bthd' layout) to (B, H, T, D), or back with `inverse`. */
export function bthdToBhtd(x: ArrayLike<number>, B: number, T: number, H: number, D: number, inverse = false): Float64Array {
  const out = new Float64Array(B * T * H * D);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) {
    const a = ((b * T + t) * H + h) * D + d, c = ((b * H + h) * T + t) * D + d;
    if (inverse) out[a] = x[c]; else out[c] = x[a];
  }
  return out;
}
