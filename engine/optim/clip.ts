/** Gradient clipping by global L2 norm (torch.nn.utils.clip_grad_norm_ semantics, norm type 2). */
import type { Tensor } from '../core/tensor.ts';
import { ThawError } from '../core/errors.ts';
import type { ParamList } from './optimizer.ts';
import { full } from '../core/factory.ts';
import { globalNorm, scaleMulti } from '../../kernels/index.ts';

/**
 * Scales the gradients of `params` in place so their global L2 norm is at most `maxNorm`, by
 * min(1, maxNorm / (norm + 1e-6)). The norm and the factor are computed on the GPU and the factor is
 * read there by the scaling kernels, so this never waits for the GPU. Parameters without a gradient,
 * and frozen ones (requiresGrad false, which the optimizer skips too), are left out.
 * Returns the norm before clipping as a new scalar tensor (shape []) the caller disposes.
 */
export function clipGradNorm(params: ParamList, maxNorm: number): Tensor {
  if (!(maxNorm >= 0)) throw new ThawError('optim', `clipGradNorm: maxNorm is ${maxNorm}; it must be a number >= 0`);
  const grads: Tensor[] = [];
  for (const e of params as (Tensor | [string, Tensor])[]) {
    const p = Array.isArray(e) ? e[1] : e;
    if (p.requiresGrad && p.grad) grads.push(p.grad);
  }
  if (grads.length === 0) return full([], 0);
  const { norm, scale } = globalNorm(grads, maxNorm);
  scaleMulti(grads, scale);
  scale.dispose();
  return norm;
}
