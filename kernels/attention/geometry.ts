/**
 * Shapes and memory layouts accepted by attention. Two layouts, both contiguous:
 * - 'bhtd': q (B, H, Tq, D), k and v (B, H, Tk, D), the layout of torch's scaled_dot_product_attention;
 * - 'bthd': q (B, Tq, H*D), k and v (B, Tk, H*D) with `heads` = H, what a Linear projection emits,
 *   so the fused kernel reads heads in place and no permute copies are made.
 */
import type { Tensor } from '../../engine/core/tensor.ts';
import { shapeStr, sameShape } from '../../engine/core/tensor.ts';
import { ShapeError } from '../../engine/core/errors.ts';

export type AttentionLayout = 'bhtd' | 'bthd';

/** Sizes, layout and element strides (batch, head, time; the head dim is contiguous). */
export interface AttentionGeometry {
  B: number; H: number; Tq: number; Tk: number; D: number;
  layout: AttentionLayout;
  qStrides: [number, number, number];
  kStrides: [number, number, number];
}

/** Largest head dim the fused kernels take (per-invocation arrays of D floats). */
export const MAX_HEAD_DIM = 256;

function strides(layout: AttentionLayout, H: number, T: number, D: number): [number, number, number] {
  return layout === 'bhtd' ? [H * T * D, T * D, D] : [T * H * D, D, H * D];
}

/** Validates q, k, v (and the mask) and derives the geometry; errors name the argument. */
export function attentionGeometry(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null | undefined, heads?: number): AttentionGeometry {
  for (const [n, t] of [['q', q], ['k', k], ['v', v]] as const) {
    if (t.dtype !== 'f32') throw new ShapeError(`attention: argument '${n}' has dtype ${t.dtype}, expected f32`);
  }
  if (!sameShape(k.shape, v.shape)) throw new ShapeError(`attention: 'k' ${shapeStr(k.shape)} and 'v' ${shapeStr(v.shape)} must have the same shape`);
  let g: AttentionGeometry;
  if (q.rank === 4) {
    const [B, H, Tq, D] = q.shape;
    if (k.rank !== 4 || k.shape[0] !== B || k.shape[1] !== H || k.shape[3] !== D) {
      throw new ShapeError(`attention: 'k' has shape ${shapeStr(k.shape)}, expected (${B}, ${H}, Tk, ${D}) to match q ${shapeStr(q.shape)}`);
    }
    if (heads !== undefined && heads !== H) throw new ShapeError(`attention: heads ${heads} disagrees with q's head axis ${H}`);
    const Tk = k.shape[2];
    g = { B, H, Tq, Tk, D, layout: 'bhtd', qStrides: strides('bhtd', H, Tq, D), kStrides: strides('bhtd', H, Tk, D) };
  } else if (q.rank === 3) {
    if (!heads || !Number.isInteger(heads) || heads < 1) throw new ShapeError(`attention: q has shape ${shapeStr(q.shape)} (B, T, H*D); pass 'heads'`);
    const [B, Tq, HD] = q.shape;
    if (HD % heads) throw new ShapeError(`attention: q's last dim ${HD} is not divisible by heads ${heads}`);
    if (k.rank !== 3 || k.shape[0] !== B || k.shape[2] !== HD) {
      throw new ShapeError(`attention: 'k' has shape ${shapeStr(k.shape)}, expected (${B}, Tk, ${HD}) to match q ${shapeStr(q.shape)}`);
    }
    const H = heads, D = HD / heads, Tk = k.shape[1];
    g = { B, H, Tq, Tk, D, layout: 'bthd', qStrides: strides('bthd', H, Tq, D), kStrides: strides('bthd', H, Tk, D) };
  } else {
    throw new ShapeError(`attention: 'q' has shape ${shapeStr(q.shape)}, expected (B, H, Tq, D) or (B, Tq, H*D) with heads`);
  }
  if (g.Tk === 0) throw new ShapeError('attention: there are no keys (Tk = 0)');
  if (g.D === 0) throw new ShapeError('attention: the head dim is 0');
  if (mask && (mask.dtype !== 'f32' || mask.rank !== 2 || mask.shape[0] !== g.B || mask.shape[1] !== g.Tk)) {
    throw new ShapeError(`attention: 'mask' has ${mask.dtype} shape ${shapeStr(mask.shape)}, expected f32 (${g.B}, ${g.Tk}) (1 = attend, 0 = padding)`);
  }
  return g;
}
