/**
 * Scaled dot-product attention with a padding mask, in two implementations that compute the same
 * function (same mask bias, same dropout mask for a given seed):
 * - 'composed': matmul + mask add + softmax (+ dropout) + matmul, gradients from the parts;
 * - 'fused': one forward kernel per (query block, batch, head) with an online softmax and a
 *   recompute-based backward (dq, then dk/dv), FlashAttention-style.
 * Benchmarks: bench/bert.ts. The float64 reference is in reference.ts.
 */
import type { Tensor } from '../../engine/core/tensor.ts';
import { ThawError } from '../../engine/core/errors.ts';
import { runtime, withTuning } from '../../engine/core/runtime.ts';
import { type Live, valueOf } from '../../engine/core/live.ts';
import type { TuningPatch } from '../../engine/core/tuning.ts';
import { attentionGeometry } from './geometry.ts';
import { composedAttention } from './composed.ts';
import { fusedAttention } from './fused.ts';

export { attentionGeometry, MAX_HEAD_DIM, type AttentionGeometry, type AttentionLayout } from './geometry.ts';
export { MASK_BIAS } from './composed.ts';

/** 'fused': one kernel per pass (flash-style); 'composed': matmul, softmax and matmul kernels. */
export type AttentionImpl = 'composed' | 'fused';

/** Options of `attention`. */
export interface AttentionOptions {
  /** Padding mask (B, Tk), f32: 1 = attend, 0 = padding (a key that no query attends to). */
  mask?: Tensor | null;
  /** Number of heads when q, k, v are (B, T, H*D); implied by the shape for (B, H, T, D). */
  heads?: number;
  /** Default 'fused'; 'auto' runs tuning.attention.impl (fused on a GPU, composed on CPU-emulated adapters). */
  impl?: AttentionImpl | 'auto';
  /** Score scale; default 1 / sqrt(D). */
  scale?: number;
  /** Dropout probability on the attention weights (0 = none, the default). */
  dropout?: number;
  /** Seed (u32) of the dropout mask; pass a new one per step (a live one, engine/core/live.ts, when the step is recorded). */
  seed?: number | Live<number>;
  /** Merged over runtime().tuning for this op, forward and backward (engine/core/tuning.ts). */
  tuning?: TuningPatch;
}

/**
 * softmax(q·kᵀ · scale + bias(mask)) · v per batch and head, where bias is 0 for attended keys and
 * MASK_BIAS (-1e9) for padding. q: (B, H, Tq, D) or (B, Tq, H*D) with `heads`; k, v: the same with
 * Tk rows. Returns the layout of q. The mask gets no gradient.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  if (opts.tuning) return withTuning(opts.tuning, () => attention(q, k, v, { ...opts, tuning: undefined }));
  const mask = opts.mask ?? null;
  const g = attentionGeometry(q, k, v, mask, opts.heads);
  const scale = opts.scale ?? 1 / Math.sqrt(g.D);
  const p = opts.dropout ?? 0;
  const seed = opts.seed ?? 0;
  if (!(p >= 0 && p < 1)) throw new ThawError('argument', `attention: dropout must be in [0, 1), got ${p}`);
  if (!Number.isInteger(valueOf(seed))) throw new ThawError('argument', `attention: seed must be an integer, got ${seed}`);
  void q.buffer; void k.buffer; void v.buffer; void mask?.buffer; // a disposed input throws before anything is allocated
  const impl = opts.impl === 'auto' ? runtime().tuning.attention.impl : opts.impl ?? 'fused';
  if (impl === 'composed') return composedAttention(q, k, v, mask, g, scale, p, seed);
  if (impl === 'fused') return fusedAttention(q, k, v, mask, g, scale, p, seed);
  throw new ThawError('argument', `attention: impl '${impl}' is not 'composed' or 'fused'`);
}
