/** Pooling layers: torch.nn.MaxPool2d, AvgPool2d, AdaptiveAvgPool2d (divisible sizes). */
import { Module } from './module.ts';
import { type Tensor, shapeStr } from '../core/tensor.ts';
import { ShapeError } from '../core/errors.ts';
import { maxPool2d, avgPool2d, globalAvgPool2d, type Pool2dOptions } from '../../kernels/index.ts';

type Pair = number | [number, number];

/** torch.nn.MaxPool2d over (N, C, H, W). */
export class MaxPool2d extends Module {
  /** Options as max_pool2d: stride (default: kernel), padding, dilation, ceilMode. */
  constructor(readonly kernelSize: Pair, readonly options: Omit<Pool2dOptions, 'countIncludePad'> = {}) { super(); }
  forward(x: Tensor): Tensor { return maxPool2d(x, this.kernelSize, this.options); }
}

/** torch.nn.AvgPool2d over (N, C, H, W). */
export class AvgPool2d extends Module {
  /** Options as avg_pool2d: stride (default: kernel), padding, ceilMode, countIncludePad (default true; false with 'same'). */
  constructor(readonly kernelSize: Pair, readonly options: Omit<Pool2dOptions, 'dilation'> = {}) { super(); }
  forward(x: Tensor): Tensor { return avgPool2d(x, this.kernelSize, this.options); }
}

/**
 * Adaptive average pooling to `outputSize`: 1 is global average pooling (N, C, 1, 1); other sizes
 * must divide the input (then the windows are equal and it is a plain average pool).
 */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair = 1) { super(); }
  forward(x: Tensor): Tensor {
    const [oh, ow] = typeof this.outputSize === 'number' ? [this.outputSize, this.outputSize] : this.outputSize;
    if (oh === 1 && ow === 1) return globalAvgPool2d(x, true);
    const [, , H, W] = x.shape;
    if (x.rank !== 4 || H % oh || W % ow) {
      throw new ShapeError(`AdaptiveAvgPool2d: output ${oh}x${ow} must divide the input's spatial size, got input ${shapeStr(x.shape)}`);
    }
    return avgPool2d(x, [H / oh, W / ow]);
  }
}
