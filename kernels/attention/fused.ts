/**
 * Fused attention: one kernel forward (online softmax over key tiles, FlashAttention-style) and two
 * backward (dq with the per-row delta, then dk/dv), all recomputing probabilities from the saved
 * per-row log-sum-exp instead of storing the (Tq, Tk) matrix. Memory beyond q, k, v and the output
 * is two floats per query row. See the WGSL files for the maths.
 */
import fwdSrc from './attention_forward.wgsl';
import dqSrc from './attention_backward_dq.wgsl';
import dkdvSrc from './attention_backward_dkdv.wgsl';
import commonSrc from './attention_common.wgsl';
import loadSrc from './attention_load.wgsl';
import paramsSrc from './attention_params.wgsl';
import backwardSrc from './attention_backward.wgsl';
import { Tensor } from '../../engine/core/tensor.ts';
import { runtime, type Kernel } from '../../engine/core/runtime.ts';
import { type Live, mapLive } from '../../engine/core/live.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { LimitError } from '../../engine/core/errors.ts';
import { type AttentionGeometry, MAX_HEAD_DIM } from './geometry.ts';
import { record } from '../../engine/core/tape.ts';

/** Rows (queries in forward/dq, keys in dk/dv) per workgroup, one invocation each. */
const BQ = 64;

/** Key (or query) tile: a power of two in [4, 64] with tile * D4 <= 256 vec4s (8 KiB of workgroup memory for two tiles). */
function tileFor(D4: number): number {
  let t = 64;
  while (t > 4 && t * D4 > 256) t /= 2;
  return t;
}

/**
 * WGSL accessors of the head dim as vec4s: ld_<name>(o, c) reads elements 4c .. 4c+3 of the row at
 * offset o (zeros past D), st_<name>(o, c, x) writes the ones below D.
 */
function accessors(D: number, reads: string[], writes: string[]): string {
  const part = ['x', 'y', 'z', 'w'];
  const guard = (i: number) => (D % 4 === 0 ? '' : `if (d + ${i}u < D) `);
  const r = reads.map((n) => `fn ld_${n}(o: u32, c: u32) -> vec4<f32> {
  let d = 4u * c;
  var r = vec4<f32>(0.0);
${part.map((p, i) => `  ${guard(i)}{ r.${p} = ${n}[o + d + ${i}u]; }`).join('\n')}
  return r;
}`);
  const w = writes.map((n) => `fn st_${n}(o: u32, c: u32, x: vec4<f32>) {
  let d = 4u * c;
${part.map((p, i) => `  ${guard(i)}{ ${n}[o + d + ${i}u] = x.${p}; }`).join('\n')}
}`);
  return [...r, ...w].join('\n');
}

const IO: Record<string, [string[], string[]]> = {
  attention_forward: [['q', 'k', 'v'], ['out']],
  attention_backward_dq: [['q', 'k', 'v', 'out', 'dout'], ['dq']],
  attention_backward_dkdv: [['q', 'k', 'v', 'dout'], ['dk', 'dv']],
};

/** The shared pieces of each kernel: Params and inputs, the common helpers, backward's inputs, key tiles. */
const INCLUDE: Record<keyof typeof IO, string[]> = {
  attention_forward: [paramsSrc, commonSrc, loadSrc],
  attention_backward_dq: [paramsSrc, commonSrc, backwardSrc, loadSrc],
  attention_backward_dkdv: [paramsSrc, commonSrc, backwardSrc],
};

const SRC: Record<keyof typeof IO, string> = { attention_forward: fwdSrc, attention_backward_dq: dqSrc, attention_backward_dkdv: dkdvSrc };

/**
 * One fused attention kernel for head dim D: after the shared pieces, lines with `$c` repeat for
 * c = 0 .. D4-1, the per-vec4 registers of a row.
 */
function kernel(name: keyof typeof IO, D: number, dropout: boolean): Kernel {
  const D4 = Math.ceil(D / 4);
  const BK = tileFor(D4);
  const include = INCLUDE[name];
  return wgsl(name, SRC[name], {
    include, defines: { D, D4, BQ, BK, BKD4: BK * D4, DROPOUT: dropout }, unroll: { c: D4 },
    blocks: (d) => ({ IO: accessors(d.D, ...IO[name]) }),
  });
}

/**
 * Fused scaled dot-product attention over validated geometry `g`. `mask` (B, Tk) or null; `p` is
 * the attention-dropout probability (0 = none) with mask seed `seed`. Output and gradients use the
 * layout of the inputs.
 */
export function fusedAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, g: AttentionGeometry, scale: number, p: number, seed: number | Live<number>): Tensor {
  if (g.D > MAX_HEAD_DIM) throw new LimitError(`attention: head dim ${g.D} exceeds the fused kernel's ${MAX_HEAD_DIM}; use impl 'composed'`);
  if (g.B * g.H > 65535) throw new LimitError(`attention: B*H = ${g.B * g.H} exceeds 65535 workgroups; use impl 'composed'`);
  const drop = p > 0;
  const params = {
    B: g.B, H: g.H, Tq: g.Tq, Tk: g.Tk,
    qsB: g.qStrides[0], qsH: g.qStrides[1], qsT: g.qStrides[2],
    ksB: g.kStrides[0], ksH: g.kStrides[1], ksT: g.kStrides[2],
    hasMask: mask ? 1 : 0, seed: mapLive(seed, (s) => s >>> 0), scale, p, keepScale: p < 1 ? 1 / (1 - p) : 0,
  };
  const bh = g.B * g.H;
  // out: like q; lse: (B, H, Tq)
  const out = Tensor.alloc(q.shape);
  const lse = Tensor.alloc([g.B, g.H, g.Tq]);
  const m = mask ?? q; // an unused binding when there is no mask
  runtime().run(kernel('attention_forward', g.D, drop), { q, k, v, mask: m, out, lse }, params, [Math.ceil(g.Tq / BQ), bh]);
  const result = record('attention', [q, k, v], out, (dout, needs, [sq, sk, sv, smask, sout, slse]) => {
    // delta: (B, H, Tq); dq: like q; dk, dv: like k
    const delta = Tensor.alloc([g.B, g.H, g.Tq]);
    const dq = Tensor.alloc(q.shape);
    runtime().run(kernel('attention_backward_dq', g.D, drop),
      { q: sq, k: sk, v: sv, mask: smask, out: sout, dout, lse: slse, delta, dq }, params, [Math.ceil(g.Tq / BQ), bh]);
    let dk: Tensor | null = null, dv: Tensor | null = null;
    if (needs[1] || needs[2]) {
      dk = Tensor.alloc(k.shape);
      dv = Tensor.alloc(k.shape);
      runtime().run(kernel('attention_backward_dkdv', g.D, drop),
        { q: sq, k: sk, v: sv, mask: smask, dout, lse: slse, delta, dk, dv }, params, [Math.ceil(g.Tk / BQ), bh]);
    }
    delta.dispose();
    if (!needs[0]) { dq.dispose(); }
    return [needs[0] ? dq : null, needs[1] ? dk : (dk?.dispose(), null), needs[2] ? dv : (dv?.dispose(), null)];
  }, [q, k, v, m, out, lse]);
  lse.dispose();
  return result;
}
