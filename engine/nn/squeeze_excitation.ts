/**
 * torchvision.ops.SqueezeExcitation: scale = σ(fc2(δ(fc1(avgpool(x))))), output scale * x, with fc1
 * and fc2 1x1 convolutions with bias (keys `fc1.weight`, `fc1.bias`, `fc2.weight`, `fc2.bias`).
 * δ is ReLU by default (EfficientNet: SiLU) and σ sigmoid (MobileNetV3: hardsigmoid). The scale
 * (N, C, 1, 1) multiplies x (N, C, H, W) by broadcasting; its gradient sums over H and W.
 */
import { Module } from './module.ts';
import type { Tensor } from '../core/tensor.ts';
import { Conv2d } from './conv.ts';
import { globalAvgPool2d, unary, mul } from '../../kernels/index.ts';

export type SqueezeActivation = 'relu' | 'silu';
export type ScaleActivation = 'sigmoid' | 'hardsigmoid';

export class SqueezeExcitation extends Module {
  readonly fc1: Conv2d;
  readonly fc2: Conv2d;
  constructor(readonly inputChannels: number, readonly squeezeChannels: number,
    readonly activation: SqueezeActivation = 'relu', readonly scaleActivation: ScaleActivation = 'sigmoid', rng?: () => number) {
    super();
    this.fc1 = this.child('fc1', new Conv2d(inputChannels, squeezeChannels, 1, { rng }));
    this.fc2 = this.child('fc2', new Conv2d(squeezeChannels, inputChannels, 1, { rng }));
  }

  /** The per-channel scale: x (N, C, H, W) → (N, C, 1, 1). */
  scale(x: Tensor): Tensor {
    const pooled = globalAvgPool2d(x, true);
    const h = this.fc1.forward(pooled);
    pooled.dispose();
    const a = unary(this.activation, h);
    h.dispose();
    const z = this.fc2.forward(a);
    a.dispose();
    const s = unary(this.scaleActivation, z);
    z.dispose();
    return s;
  }

  /** x: (N, C, H, W) → scale(x) * x, same shape. */
  forward(x: Tensor): Tensor {
    const s = this.scale(x);
    const y = mul(s, x);
    s.dispose();
    return y;
  }
}
