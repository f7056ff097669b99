/**
 * Attention composed from matmuls and one row kernel: matmul (q·kᵀ), then scale, mask bias, softmax
 * and dropout in one pass (scores_softmax.wgsl, with its own one-kernel backward), matmul (·v). The
 * matmuls read and write the heads through strides (matmulStrided), so the 'bthd' layout needs no
 * permute copies. It stores the (B, H, Tq, Tk) probabilities for backward; the fused path does not.
 */
import { Tensor, tidy } from '../../engine/core/tensor.ts';
import { matmulStrided, type MatmulView } from '../matmul/matmul.ts';
import type { AttentionGeometry } from './geometry.ts';
import { type Live, mapLive } from '../../engine/core/live.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { record } from '../../engine/core/tape.ts';
import { teamFor, teamGroups } from '../common/team.ts';
import teamSrc from '../common/team.wgsl';
import teamSumSrc from '../common/team_sum.wgsl';
import dropoutKeep from '../common/dropout_keep.wgsl';
import onlineSrc from '../softmax/online.wgsl';
import scoresCommon from './scores_common.wgsl';
import scoresSrc from './scores_softmax.wgsl';
import scoresBackSrc from './scores_softmax_backward.wgsl';

/** Additive bias of a masked (padding) key; the fused kernels use the same constant (MASK_BIAS). */
export const MASK_BIAS = -1e9;

/**
 * Composed scaled dot-product attention over validated geometry `g`; `mask` (B, Tk) or null, `p`
 * the attention-dropout probability (0 = none) drawn with `seed` over the (B, H, Tq, Tk) weights.
 */
export function composedAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, g: AttentionGeometry, scale: number, p: number, seed: number | Live<number>): Tensor {
  return tidy(() => {
    const { B, H, Tq, Tk, D } = g;
    // q, k, v (and the output, laid out as q) read as (B, H, T, D) in either layout.
    const qh: MatmulView = { shape: [B, H, Tq, D], strides: [...g.qStrides, 1] };
    const kh: MatmulView = { shape: [B, H, Tk, D], strides: [...g.kStrides, 1] };
    const probs = scoresSoftmax(matmulStrided(q, k, { a: qh, b: kh }, { transB: true }), mask, H * Tq, scale, p, seed); // (B, H, Tq, Tk)
    return matmulStrided(probs, v, { b: kh, out: qh }, { outShape: q.shape });
  });
}

/**
 * dropout(softmax(scores * scale + bias(mask)), p) over the last dim of scores (B, H, Tq, Tk) in one
 * kernel, bias = mask * 1e9 - 1e9 per (batch, key) (0 attended, MASK_BIAS padding; mask (B, Tk) or
 * null); `perBatch` = H * Tq rows share a mask row. The same values as mulScalar, affine, add,
 * softmax and dropout; backward (the scores' gradient) is one kernel too. The mask gets no gradient.
 */
/** The DROP build's output binding and store (scores_softmax.wgsl). */
const dropBlocks = (d: { DROP: boolean }): Record<string, string> => (d.DROP
  ? {
    OUT_DECL: '@group(0) @binding(3) var<storage, read_write> out: array<f32>;',
    STORE_OUT: '    out[i] = dropped(y, params.dscale, params.seed, params.p, i);',
  }
  : {});

function scoresSoftmax(scores: Tensor, mask: Tensor | null, perBatch: number, scale: number, p: number, seed: number | Live<number>): Tensor {
  const len = scores.shape[scores.rank - 1], rows = scores.size / len;
  const team = teamFor(len), groups = teamGroups(rows, team);
  const drop = p > 0;
  const defines = { TEAM: team, MASKED: !!mask, DROP: drop };
  const u = { rows, len, perBatch, seed: mapLive(seed, (s) => s >>> 0), scale, p, dscale: drop ? 1 / (1 - p) : 1 };
  // w: (B, H, Tq, Tk) the softmax, saved for backward; out: w dropped (DROP)
  const w = Tensor.alloc(scores.shape);
  const out = drop ? Tensor.alloc(scores.shape) : w;
  runtime().run(wgsl('attention_scores_softmax', scoresSrc, { include: [scoresCommon, teamSrc, onlineSrc, dropoutKeep], defines, blocks: dropBlocks }),
    { scores, mask: mask ?? scores, w, ...(drop ? { out } : {}) }, u, groups);
  const r = record('scoresSoftmax', [scores], out, (g, _needs, [sw]) => {
    // dscores: (B, H, Tq, Tk)
    const dscores = Tensor.alloc(scores.shape);
    runtime().run(wgsl('attention_scores_softmax_backward', scoresBackSrc, { include: [scoresCommon, teamSrc, teamSumSrc, dropoutKeep], defines: { TEAM: team, DROP: drop, SUM_T: 'f32' } }),
      { w: sw, g, dscores }, u, groups);
    return [dscores];
  }, [w]);
  if (drop) w.dispose();
  return r;
}
