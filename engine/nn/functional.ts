/**
 * The functional CNN ops in one place (what the nn modules call), plus two composites: `addN`
 * (residual sums) and `concatChannels` (Inception/DenseNet-style channel concatenation).
 */
import type { Tensor } from '../tensor.ts';
import { ShapeError } from '../errors.ts';
import { add } from '../../kernels/elementwise/elementwise.ts';
import { concat } from '../../kernels/slice/slice.ts';

export { conv2d } from '../../kernels/conv2d/conv2d.ts';
export { linear } from '../../kernels/matmul/matmul.ts';
export { maxPool2d, maxPool2dWithIndices, avgPool2d, globalAvgPool2d, type Pool2dOptions } from '../../kernels/pool/pool.ts';
export { batchNorm2d, type BatchNormOptions } from '../../kernels/batchnorm/batchnorm.ts';
export { pad2d, type Padding2d } from '../../kernels/pad/pad.ts';
export { dropout } from '../../kernels/dropout/dropout.ts';
export { resize2d, type ResizeOptions, type ResizeMode } from '../../kernels/resize/resize.ts';

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
