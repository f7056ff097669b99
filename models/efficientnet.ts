/**
 * torchvision EfficientNet B0..B7 (`torchvision.models.efficientnet_b0` ...) with its exact state-dict
 * keys: features.0.{0,1} (stem conv 3x3/2, bn; SiLU), features.{1..7}.{j}.block.{k}... (MBConv blocks,
 * stage by stage), features.8.{0,1} (1x1 to 4x the last stage's width; SiLU), classifier.1 (the
 * Linear after Dropout).
 *
 * An MBConv block: [expand 1x1 conv-BN-SiLU when expand_ratio != 1] → depthwise k x k conv-BN-SiLU
 * (stride) → squeeze-excitation (SiLU, sigmoid; squeeze width max(1, in / 4)) → project 1x1 conv-BN,
 * plus the input through stochastic depth when stride is 1 and the widths agree. Stochastic depth
 * grows linearly with the block index to `stochasticDepthProb` (0.2) and is the identity in eval mode.
 * B1..B7 scale B0's widths (rounded to multiples of 8) and depths (rounded up) as torchvision's
 * `_efficientnet_conf` does; B5..B7 use BatchNorm eps 1e-3, momentum 0.01.
 */
import { Module } from '../engine/nn/module.ts';
import type { Tensor } from '../engine/core/tensor.ts';
import { Linear, Dropout, Sequential } from '../engine/nn/index.ts';
import { ConvNormAct } from '../engine/nn/conv_norm_act.ts';
import { SqueezeExcitation } from '../engine/nn/squeeze_excitation.ts';
import { StochasticDepth } from '../engine/nn/stochastic_depth.ts';
import { ThawError } from '../engine/core/errors.ts';
import { add, globalAvgPool2d } from '../kernels/index.ts';
import type { Stage } from '../engine/train/types.ts';
import { TorchvisionClassifier } from './torchvision_classifier.ts';
import { makeDivisible } from './mobilenetv2.ts';

/** One stage: [expand_ratio, kernel, stride, input_channels, out_channels, num_layers] (torchvision's MBConvConfig order), before scaling. */
export type MBConvSetting = readonly [number, number, number, number, number, number];

/** EfficientNet-B0's stages (the paper's Table 1, torchvision's `_efficientnet_conf`). */
export const EFFICIENTNET_B0_SETTING: readonly MBConvSetting[] = [
  [1, 3, 1, 32, 16, 1], [6, 3, 2, 16, 24, 2], [6, 5, 2, 24, 40, 2], [6, 3, 2, 40, 80, 3],
  [6, 5, 1, 80, 112, 3], [6, 5, 2, 112, 192, 4], [6, 3, 1, 192, 320, 1],
];

export interface EfficientNetVariant { widthMult: number; depthMult: number; dropout: number; bnEps?: number; bnMomentum?: number }

/** torchvision's efficientnet_b0..b7: width and depth multipliers, classifier dropout, BatchNorm settings. */
export const EFFICIENTNET_VARIANTS = {
  efficientnet_b0: { widthMult: 1.0, depthMult: 1.0, dropout: 0.2 },
  efficientnet_b1: { widthMult: 1.0, depthMult: 1.1, dropout: 0.2 },
  efficientnet_b2: { widthMult: 1.1, depthMult: 1.2, dropout: 0.3 },
  efficientnet_b3: { widthMult: 1.2, depthMult: 1.4, dropout: 0.3 },
  efficientnet_b4: { widthMult: 1.4, depthMult: 1.8, dropout: 0.4 },
  efficientnet_b5: { widthMult: 1.6, depthMult: 2.2, dropout: 0.4, bnEps: 1e-3, bnMomentum: 0.01 },
  efficientnet_b6: { widthMult: 1.8, depthMult: 2.6, dropout: 0.5, bnEps: 1e-3, bnMomentum: 0.01 },
  efficientnet_b7: { widthMult: 2.0, depthMult: 3.1, dropout: 0.5, bnEps: 1e-3, bnMomentum: 0.01 },
} as const satisfies Record<string, EfficientNetVariant>;
export type EfficientNetName = keyof typeof EFFICIENTNET_VARIANTS;

/** A stage after width and depth scaling (MBConvConfig's adjust_channels / adjust_depth). */
export interface MBConvStage { expandRatio: number; kernel: number; stride: number; inC: number; outC: number; layers: number }

/** Scales `setting` as torchvision's MBConvConfig does: channels to multiples of 8, depths rounded up. */
export function scaleSetting(setting: readonly MBConvSetting[], widthMult = 1, depthMult = 1): MBConvStage[] {
  return setting.map(([expandRatio, kernel, stride, inC, outC, layers]) => ({
    expandRatio, kernel, stride, inC: makeDivisible(inC * widthMult), outC: makeDivisible(outC * widthMult), layers: Math.ceil(layers * depthMult),
  }));
}

interface BlockOptions { bnEps?: number; bnMomentum?: number; rng?: () => number; seed?: number }

/** torchvision's MBConv: keys block.{k}... (see the file comment); `stochastic_depth` has no parameters. */
export class MBConv extends Module {
  readonly block: Sequential;
  readonly stochasticDepth: StochasticDepth;
  readonly useResidual: boolean;
  constructor(readonly cfg: MBConvStage, stochasticDepthProb: number, opts: BlockOptions = {}) {
    super();
    const { expandRatio, kernel, stride, inC, outC } = cfg;
    if (stride !== 1 && stride !== 2) throw new ThawError('argument', `MBConv: stride must be 1 or 2, got ${stride}`);
    this.useResidual = stride === 1 && inC === outC;
    const bn = { eps: opts.bnEps, momentum: opts.bnMomentum, rng: opts.rng };
    const hidden = makeDivisible(inC * expandRatio);
    const layers: Module[] = [];
    if (hidden !== inC) layers.push(new ConvNormAct(inC, hidden, 1, { ...bn, activation: 'silu' }));
    layers.push(new ConvNormAct(hidden, hidden, kernel, { ...bn, stride, groups: hidden, activation: 'silu' }));
    layers.push(new SqueezeExcitation(hidden, Math.max(1, Math.floor(inC / 4)), 'silu', 'sigmoid', opts.rng));
    layers.push(new ConvNormAct(hidden, outC, 1, { ...bn, activation: null }));
    this.block = this.child('block', new Sequential(...layers));
    this.stochasticDepth = this.child('stochastic_depth', new StochasticDepth(stochasticDepthProb, 'row', opts.seed));
  }

  /** x: (N, inC, H, W) → (N, outC, H/stride, W/stride) */
  forward(x: Tensor): Tensor {
    const n = this.block.length;
    let h = x;
    for (let i = 0; i < n - 1; i++) {
      const y = this.block.at(i)!.forward(h);
      if (h !== x) h.dispose();
      h = y;
    }
    const project = this.block.at(n - 1) as ConvNormAct;
    // Without stochastic depth the residual joins the projection (the folded conv's epilogue when frozen).
    const out = this.useResidual && !this.stochasticDepth.active ? project.forward(h, x) : project.forward(h);
    if (h !== x) h.dispose();
    if (!this.useResidual || !this.stochasticDepth.active) return out;
    const dropped = this.stochasticDepth.forward(out);
    out.dispose();
    const y = add(dropped, x);
    dropped.dispose();
    return y;
  }
}

export interface EfficientNetOptions {
  /** A named variant's multipliers, dropout and BatchNorm settings (default efficientnet_b0); the options below override them. */
  variant?: EfficientNetName;
  /** Output classes (default 1000). */
  numClasses?: number;
  /** Stages before scaling (default B0's). */
  setting?: readonly MBConvSetting[];
  widthMult?: number;
  depthMult?: number;
  /** Dropout before the classifier. */
  dropout?: number;
  /** Stochastic depth of the last block (default 0.2); block i of n gets stochasticDepthProb * i / n. */
  stochasticDepthProb?: number;
  /** Width of the last 1x1 conv (default 4x the last stage's). */
  lastChannel?: number;
  bnEps?: number;
  bnMomentum?: number;
  /** Starting seed of the stochastic-depth draws (block i starts at seed + i; default random). */
  seed?: number;
  rng?: () => number;
}

/** torchvision's EfficientNet: classifier = Sequential(Dropout, Linear). */
export class EfficientNet extends TorchvisionClassifier {
  /** The scaled stages. */
  readonly stagesCfg: MBConvStage[];

  constructor(opts: EfficientNetOptions = {}) {
    const v: EfficientNetVariant = EFFICIENTNET_VARIANTS[opts.variant ?? 'efficientnet_b0'];
    if (!v) throw new ThawError('argument', `EfficientNet: unknown variant '${opts.variant}', expected one of ${Object.keys(EFFICIENTNET_VARIANTS).join(', ')}`);
    const rng = opts.rng;
    const bnEps = opts.bnEps ?? v.bnEps, bnMomentum = opts.bnMomentum ?? v.bnMomentum;
    const stages = scaleSetting(opts.setting ?? EFFICIENTNET_B0_SETTING, opts.widthMult ?? v.widthMult, opts.depthMult ?? v.depthMult);
    if (!stages.length) throw new ThawError('argument', 'EfficientNet: the setting has no stages');
    const sdProb = opts.stochasticDepthProb ?? 0.2;
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 32);
    const bn = { eps: bnEps, momentum: bnMomentum, rng };
    const f = new Sequential(new ConvNormAct(3, stages[0].inC, 3, { ...bn, stride: 2, activation: 'silu' }));
    const total = stages.reduce((a, s) => a + s.layers, 0);
    let id = 0;
    for (const s of stages) {
      const stage = new Sequential();
      for (let i = 0; i < s.layers; i++) {
        const c = i === 0 ? s : { ...s, inC: s.outC, stride: 1 };
        stage.append(new MBConv(c, (sdProb * id) / total, { bnEps, bnMomentum, rng, seed: (seed + id) >>> 0 }));
        id++;
      }
      f.append(stage);
    }
    const lastIn = stages.at(-1)!.outC;
    const last = opts.lastChannel ?? 4 * lastIn;
    f.append(new ConvNormAct(lastIn, last, 1, { ...bn, activation: 'silu' }));
    super(f, new Sequential(new Dropout(opts.dropout ?? v.dropout), new Linear(last, opts.numClasses ?? 1000, { rng })), last);
    this.stagesCfg = stages;
  }

  /** The trunk's units in order: [state-dict prefix, module]: the stem, every MBConv block, the last 1x1 conv. */
  private units(): [string, Module][] {
    const f = this.featuresSeq, n = f.length, out: [string, Module][] = [['features.0', f.at(0)!]];
    for (let i = 1; i < n - 1; i++) {
      const stage = f.at(i) as Sequential;
      for (let j = 0; j < stage.length; j++) out.push([`features.${i}.${j}`, stage.at(j)!]);
    }
    out.push([`features.${n - 1}`, f.at(n - 1)!]);
    return out;
  }

  /** The stem (/2), each MBConv block, the last 1x1 conv, then the global average pool → (N, featureDim). */
  override stages(): Stage[] {
    const out: Stage[] = this.units().map(([name, m]) => ({ name, prefixes: [name], forward: (x: Tensor) => m.forward(x) }));
    out.push({ name: 'pool', prefixes: [], forward: (x) => globalAvgPool2d(x) });
    return out;
  }

  /** One group per stem, MBConv block and last conv, then the classifier. */
  override layerGroups(): string[][] { return [...this.units().map(([name]) => [name]), ['classifier']]; }
}

/** torchvision's `efficientnet_b0` .. `efficientnet_b7` by name (B0: 5.3 M parameters). */
export function efficientnet(name: EfficientNetName, opts: Omit<EfficientNetOptions, 'variant'> = {}): EfficientNet {
  if (!Object.hasOwn(EFFICIENTNET_VARIANTS, name)) throw new ThawError('argument', `efficientnet: unknown variant '${name}', expected one of ${Object.keys(EFFICIENTNET_VARIANTS).join(', ')}`);
  return new EfficientNet({ ...opts, variant: name });
}

/** torchvision's efficientnet_b0. */
export function efficientnetB0(opts: Omit<EfficientNetOptions, 'variant'> = {}): EfficientNet { return efficientnet('efficientnet_b0', opts); }
