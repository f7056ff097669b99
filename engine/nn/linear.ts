/** torch.nn.Linear: weight (out, in), bias (out). */
import { Module } from './module.ts';
import type { Tensor } from '../core/tensor.ts';
import { torchDefaultInit } from './init.ts';
import { linear } from '../../kernels/index.ts';

/** Options of `Linear`. */
export interface LinearConfig {
  /** Default true. */
  bias?: boolean;
  /** Uniform [0, 1) source for the default init (Math.random). */
  rng?: () => number;
}

/** torch.nn.Linear: y = x W^T + b over the last dim; weight (out, in), bias (out), PyTorch's default init. */
export class Linear extends Module {
  constructor(readonly inFeatures: number, readonly outFeatures: number, config: LinearConfig = {}) {
    super();
    this.param('weight', [outFeatures, inFeatures], torchDefaultInit(inFeatures, config.rng));
    if (config.bias ?? true) this.param('bias', [outFeatures], torchDefaultInit(inFeatures, config.rng));
  }

  /** (out, in). */
  get weight(): Tensor { return this._params.get('weight')!; }
  /** The bias (out), or null without one. */
  get bias(): Tensor | null { return this._params.get('bias') ?? null; }

  /** x: (..., in) → (..., out). */
  forward(x: Tensor): Tensor { return linear(x, this.weight, this.bias); }
}
