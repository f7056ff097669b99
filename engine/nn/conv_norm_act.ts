/**
 * torchvision.ops.Conv2dNormActivation: Sequential(Conv2d(bias=false), BatchNorm2d[, activation]) with
 * padding (k - 1) / 2 * dilation, so its keys are `0.weight`, `1.weight`, `1.bias`, `1.running_mean`, ...
 * It runs through convBnAct (fused.ts): a frozen conv + frozen-statistics BatchNorm pair is one conv
 * with folded weights; ReLU and ReLU6 ride in the conv or batch-norm kernels, SiLU and hardswish run
 * after them. forward() also takes a residual added before the activation (after BatchNorm), which
 * the folded conv adds in its epilogue.
 */
import type { Tensor } from '../core/tensor.ts';
import { Sequential } from './container.ts';
import { Conv2d } from './conv.ts';
import { BatchNorm2d } from './norm.ts';
import { ReLU, ReLU6, SiLU, Hardswish } from './activation.ts';
import type { Module } from './module.ts';
import { convBnAct } from './fused.ts';
import { unary } from '../../kernels/index.ts';

export type ConvNormActivation = 'relu' | 'relu6' | 'silu' | 'hardswish' | null;

export interface ConvNormActConfig {
  stride?: number;
  groups?: number;
  dilation?: number;
  /** Default 'relu' (torchvision's default activation_layer); null for none. */
  activation?: ConvNormActivation;
  /** BatchNorm2d eps (default 1e-5) and momentum (default 0.1). */
  eps?: number;
  momentum?: number;
  rng?: () => number;
}

const ACT_MODULE: Record<Exclude<ConvNormActivation, null>, () => Module> = {
  relu: () => new ReLU(), relu6: () => new ReLU6(), silu: () => new SiLU(), hardswish: () => new Hardswish(),
};

export class ConvNormAct extends Sequential {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  readonly activation: ConvNormActivation;
  constructor(inC: number, outC: number, k: number, config: ConvNormActConfig = {}) {
    const dilation = config.dilation ?? 1;
    const conv = new Conv2d(inC, outC, k, { stride: config.stride ?? 1, padding: ((k - 1) >> 1) * dilation, dilation, groups: config.groups ?? 1, bias: false, rng: config.rng });
    const bn = new BatchNorm2d(outC, { eps: config.eps, momentum: config.momentum });
    const act = config.activation === undefined ? 'relu' : config.activation;
    super(...(act ? [conv, bn, ACT_MODULE[act]()] : [conv, bn]));
    this.conv = conv;
    this.bn = bn;
    this.activation = act;
  }

  /** act(bn(conv(x)) + residual). x: (N, inC, H, W) → (N, outC, OH, OW); residual: like the output. */
  override forward(x: Tensor, residual: Tensor | null = null): Tensor {
    const act = this.activation;
    if (act === null || act === 'relu' || act === 'relu6') return convBnAct(this.conv, this.bn, x, act ?? undefined, residual);
    const y = convBnAct(this.conv, this.bn, x, undefined, residual);
    const out = unary(act, y);
    y.dispose();
    return out;
  }
}
