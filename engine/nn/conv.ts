/** torch.nn.Conv2d: weight (Cout, Cin/groups, kh, kw) OIHW, optional bias (Cout). */
import { Module } from './module.ts';
import type { Tensor } from '../core/tensor.ts';
import { ThawError } from '../core/errors.ts';
import { torchDefaultInit } from './init.ts';
import { conv2d, type Padding } from '../../kernels/index.ts';

/** Options of `Conv2d`. */
export interface Conv2dConfig {
  stride?: number | [number, number];
  /** number, [ph, pw], [top, bottom, left, right], 'same' (TF rule; PyTorch's for stride 1) or 'valid'. */
  padding?: Padding;
  dilation?: number | [number, number];
  groups?: number;
  /** Default true. */
  bias?: boolean;
  /** Uniform [0, 1) source for the default init (Math.random). */
  rng?: () => number;
}

export class Conv2d extends Module {
  readonly kernelSize: [number, number];
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: number | [number, number], readonly config: Conv2dConfig = {}) {
    super();
    const k: [number, number] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : [kernelSize[0], kernelSize[1]];
    const groups = config.groups ?? 1;
    if (!Number.isInteger(groups) || groups < 1 || inChannels % groups || outChannels % groups) {
      throw new ThawError('argument', `Conv2d: groups ${groups} must divide inChannels ${inChannels} and outChannels ${outChannels}`);
    }
    this.kernelSize = k;
    const fanIn = (inChannels / groups) * k[0] * k[1];
    this.param('weight', [outChannels, inChannels / groups, k[0], k[1]], torchDefaultInit(fanIn, config.rng));
    if (config.bias ?? true) this.param('bias', [outChannels], torchDefaultInit(fanIn, config.rng));
  }

  /** (Cout, Cin/groups, kh, kw). Read through the registry so a loaded checkpoint's tensor is used. */
  get weight(): Tensor { return this._params.get('weight')!; }
  /** The bias (Cout), or null without one. */
  get bias(): Tensor | null { return this._params.get('bias') ?? null; }

  /** x: (N, Cin, H, W) → (N, Cout, OH, OW). */
  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, groups } = this.config;
    return conv2d(x, this.weight, this.bias, { stride, padding, dilation, groups });
  }
}
