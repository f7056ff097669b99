/**
 * Attention composed from tested primitives: matmul (q·kᵀ), scale, mask-bias add, softmax,
 * dropout, matmul (·v), with permutes for the 'bthd' layout. Its gradient comes from the parts.
 * It stores the (B, H, Tq, Tk) probabilities for backward; the fused path does not.
 */
import { Tensor, tidy } from '../../engine/core/tensor.ts';
import { reshape } from '../../engine/core/shape.ts';
import { matmul } from '../matmul/matmul.ts';
import { add, affine, mulScalar } from '../elementwise/elementwise.ts';
import { softmax } from '../softmax/softmax.ts';
import { dropout } from '../dropout/dropout.ts';
import { permute } from '../permute/permute.ts';
import type { AttentionGeometry } from './geometry.ts';
import type { Live } from '../../engine/core/live.ts';

/** Additive bias of a masked (padding) key; the fused kernels use the same constant (MASK_BIAS). */
export const MASK_BIAS = -1e9;

/**
 * Composed scaled dot-product attention over validated geometry `g`; `mask` (B, Tk) or null, `p`
 * the attention-dropout probability (0 = none) drawn with `seed` over the (B, H, Tq, Tk) weights.
 */
export function composedAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, g: AttentionGeometry, scale: number, p: number, seed: number | Live<number>): Tensor {
  return tidy(() => {
    const { B, H, Tq, Tk, D } = g;
    // (B, T, H*D) -> (B, H, T, D)
    const heads = (t: Tensor, T: number) => (g.layout === 'bhtd' ? t : permute(reshape(t, [B, T, H, D]), [0, 2, 1, 3]));
    const qh = heads(q, Tq), kh = heads(k, Tk), vh = heads(v, Tk);
    let scores = mulScalar(matmul(qh, kh, { transB: true }), scale); // (B, H, Tq, Tk)
    if (mask) scores = add(scores, reshape(affine(mask, -MASK_BIAS, MASK_BIAS), [B, 1, 1, Tk])); // 1 -> 0, 0 -> MASK_BIAS
    let probs = softmax(scores, -1);
    if (p > 0) probs = dropout(probs, p, seed);
    const o = matmul(probs, vh); // (B, H, Tq, D)
    return g.layout === 'bhtd' ? o : reshape(permute(o, [0, 2, 1, 3]), [B, Tq, H * D]);
  });
}
