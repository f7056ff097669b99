/**
 * The functional CNN ops in one place (what the nn modules call), plus two composites: `addN`
 * (residual sums) and `concatChannels` (Inception/DenseNet-style channel concatenation).
 * @module
 */
import type { Tensor } from '../core/tensor.ts';
import { ShapeError } from '../core/errors.ts';
import { add, concat } from '../../kernels/index.ts';
export { conv2d, linear, maxPool2d, maxPool2dWithIndices, avgPool2d, globalAvgPool2d, type Pool2dOptions, batchNorm2d, type BatchNormOptions, pad2d, type Padding2d, dropout, resize2d, type ResizeOptions, type ResizeMode } from '../../kernels/index.ts';


/** Elementwise sum of tensors (broadcasting as `add`); gradients flow to each through `add`. */
export function addN(tensors: readonly Tensor[]): Tensor {
  if (!tensors.length) throw new ShapeError('addN: needs at least one tensor');
  let acc = tensors[0];
  for (let i = 1; i < tensors.length; i++) {
    const next = add(acc, tensors[i]);
    if (i > 1) acc.dispose(); // an intermediate sum (its autograd node keeps what backward needs)
    acc = next;
  }
  return acc;
}

/** Concatenates NCHW tensors along the channel axis. */
export function concatChannels(tensors: readonly Tensor[]): Tensor {
  for (const t of tensors) if (t.rank !== 4) throw new ShapeError(`concatChannels: expected NCHW tensors, got shape [${t.shape}]`);
  return concat(tensors, 1);
}
