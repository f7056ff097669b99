/**
 * Global-norm gradient clipping kernels. Stage 1 writes one partial sum of squares per 4096-element
 * chunk of every gradient into a shared buffer; stage 2 (one workgroup) sums them, takes the square
 * root and writes the clip factor; stage 3 scales each gradient by that factor, read from the buffer.
 * Nothing comes back to the host, so clipping does not stall the command stream.
 */
import normScaleSrc from './norm_scale.wgsl';
import teamSumSrc from '../common/team_sum.wgsl';
import { Tensor } from '../../engine/core/tensor.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { sumsqMulti } from './multi.ts';

const CHUNK = 256 * 16; // elements per stage-1 workgroup (sumsq.wgsl: WG * PER)

/**
 * The global L2 norm of `xs` and the clip factor min(1, maxNorm / (norm + 1e-6)), both as new
 * one-element tensors computed on the GPU. norm: [] ; scale: [1]
 */
export function globalNorm(xs: Tensor[], maxNorm: number): { norm: Tensor; scale: Tensor } {
  for (const x of xs) if (x.dtype !== 'f32') throw new ShapeError(`clipGradNorm: a gradient has dtype ${x.dtype}, expected f32`);
  const chunks = xs.map((x) => Math.ceil(x.size / CHUNK));
  const count = chunks.reduce((a, b) => a + b, 0);
  const rt = runtime();
  const partials = Tensor.alloc([Math.max(count, 1)]); // (count)
  const norm = Tensor.alloc([]);
  const scale = Tensor.alloc([1]);
  sumsqMulti(xs, partials);
  rt.run(wgsl('optim_norm_scale', normScaleSrc, { include: [teamSumSrc], defines: { SUM_T: 'f32' } }), { partials, norm, scale }, { count, maxNorm }, [1]);
  partials.dispose(); // released to the pool only after the pending commands are submitted
  return { norm, scale };
}
