/**
 * torchvision MobileNetV3-Small and -Large (`torchvision.models.mobilenet_v3_small` / `_large`) with
 * their exact state-dict keys: features.0.{0,1} (stem conv 3x3/2, bn; hardswish),
 * features.{1..n}.block.{k}... (inverted residuals), features.{n+1}.{0,1} (1x1 to 6x the last block's
 * width; hardswish), classifier.0 (Linear to lastChannel), Hardswish, Dropout, classifier.3 (Linear to
 * the classes). BatchNorm uses eps 1e-3, momentum 0.01.
 *
 * An inverted residual: [expand 1x1 conv-BN-act when the expanded width differs] → depthwise k x k
 * conv-BN-act (stride; dilation in torchvision's `dilated` variant) → [squeeze-excitation with ReLU
 * and hardsigmoid, squeeze width rounded to a multiple of 8 of expanded / 4] → project 1x1 conv-BN,
 * plus the input when stride is 1 and the widths agree. act is ReLU ('RE') or hardswish ('HS').
 */
import { Module } from '../engine/nn/module.ts';
import type { Tensor } from '../engine/core/tensor.ts';
import { Linear, Dropout, Hardswish, Sequential } from '../engine/nn/index.ts';
import { ConvNormAct } from '../engine/nn/conv_norm_act.ts';
import { SqueezeExcitation } from '../engine/nn/squeeze_excitation.ts';
import { ThawError } from '../engine/core/errors.ts';
import { TorchvisionClassifier } from './torchvision_classifier.ts';
import { makeDivisible } from './mobilenetv2.ts';

/**
 * One block: [input_channels, kernel, expanded_channels, out_channels, use_se, activation ('RE' ReLU,
 * 'HS' hardswish), stride, dilation] (torchvision's InvertedResidualConfig order), before width scaling.
 */
export type MobileNetV3Setting = readonly [number, number, number, number, boolean, 'RE' | 'HS', number, number];

export type MobileNetV3Name = 'mobilenet_v3_small' | 'mobilenet_v3_large';

/** torchvision's `_mobilenet_v3_conf`: the blocks and the classifier's hidden width (before width scaling). */
export function mobilenetV3Setting(name: MobileNetV3Name, reducedTail = false, dilated = false): { setting: MobileNetV3Setting[]; lastChannel: number } {
  const r = reducedTail ? 2 : 1, d = dilated ? 2 : 1;
  if (name === 'mobilenet_v3_large') {
    return {
      setting: [
        [16, 3, 16, 16, false, 'RE', 1, 1], [16, 3, 64, 24, false, 'RE', 2, 1], [24, 3, 72, 24, false, 'RE', 1, 1],
        [24, 5, 72, 40, true, 'RE', 2, 1], [40, 5, 120, 40, true, 'RE', 1, 1], [40, 5, 120, 40, true, 'RE', 1, 1],
        [40, 3, 240, 80, false, 'HS', 2, 1], [80, 3, 200, 80, false, 'HS', 1, 1], [80, 3, 184, 80, false, 'HS', 1, 1],
        [80, 3, 184, 80, false, 'HS', 1, 1], [80, 3, 480, 112, true, 'HS', 1, 1], [112, 3, 672, 112, true, 'HS', 1, 1],
        [112, 5, 672, 160 / r, true, 'HS', 2, d], [160 / r, 5, 960 / r, 160 / r, true, 'HS', 1, d],
        [160 / r, 5, 960 / r, 160 / r, true, 'HS', 1, d],
      ],
      lastChannel: 1280 / r,
    };
  }
  if (name === 'mobilenet_v3_small') {
    return {
      setting: [
        [16, 3, 16, 16, true, 'RE', 2, 1], [16, 3, 72, 24, false, 'RE', 2, 1], [24, 3, 88, 24, false, 'RE', 1, 1],
        [24, 5, 96, 40, true, 'HS', 2, 1], [40, 5, 240, 40, true, 'HS', 1, 1], [40, 5, 240, 40, true, 'HS', 1, 1],
        [40, 5, 120, 48, true, 'HS', 1, 1], [48, 5, 144, 48, true, 'HS', 1, 1], [48, 5, 288, 96 / r, true, 'HS', 2, d],
        [96 / r, 5, 576 / r, 96 / r, true, 'HS', 1, d], [96 / r, 5, 576 / r, 96 / r, true, 'HS', 1, d],
      ],
      lastChannel: 1024 / r,
    };
  }
  throw new ThawError('argument', `mobilenetV3: unknown variant '${name}', expected mobilenet_v3_small or mobilenet_v3_large`);
}

const BN = { eps: 1e-3, momentum: 0.01 };

/** torchvision's mobilenetv3.InvertedResidual (channels already scaled). */
export class InvertedResidualV3 extends Module {
  readonly block: Sequential;
  readonly useResidual: boolean;
  constructor(inC: number, kernel: number, expanded: number, outC: number, useSe: boolean, act: 'RE' | 'HS', stride: number, dilation: number, rng?: () => number) {
    super();
    if (stride !== 1 && stride !== 2) throw new ThawError('argument', `InvertedResidualV3: stride must be 1 or 2, got ${stride}`);
    this.useResidual = stride === 1 && inC === outC;
    const activation = act === 'HS' ? 'hardswish' : 'relu';
    const layers: Module[] = [];
    if (expanded !== inC) layers.push(new ConvNormAct(inC, expanded, 1, { ...BN, activation, rng }));
    layers.push(new ConvNormAct(expanded, expanded, kernel, { ...BN, stride: dilation > 1 ? 1 : stride, dilation, groups: expanded, activation, rng }));
    if (useSe) layers.push(new SqueezeExcitation(expanded, makeDivisible(Math.floor(expanded / 4)), 'relu', 'hardsigmoid', rng));
    layers.push(new ConvNormAct(expanded, outC, 1, { ...BN, activation: null, rng }));
    this.block = this.child('block', new Sequential(...layers));
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
    // The residual joins the projection (the folded conv's epilogue when frozen).
    const out = (this.block.at(n - 1) as ConvNormAct).forward(h, this.useResidual ? x : null);
    if (h !== x) h.dispose();
    return out;
  }
}

export interface MobileNetV3Options {
  /** Output classes (default 1000). */
  numClasses?: number;
  /** Channel multiplier (default 1.0), rounded to multiples of 8 as torchvision does. */
  widthMult?: number;
  /** torchvision's reduced_tail: halves the last stage's widths. */
  reducedTail?: boolean;
  /** torchvision's dilated: dilation 2 (stride 1) in the last stage. */
  dilated?: boolean;
  /** Blocks (before width scaling) and the classifier's hidden width, instead of the named variant's. */
  setting?: readonly MobileNetV3Setting[];
  lastChannel?: number;
  /** Dropout between the classifier's Linears (default 0.2). */
  dropout?: number;
  rng?: () => number;
}

/** torchvision's MobileNetV3: classifier = Sequential(Linear, Hardswish, Dropout, Linear). */
export class MobileNetV3 extends TorchvisionClassifier {
  constructor(name: MobileNetV3Name, opts: MobileNetV3Options = {}) {
    const wm = opts.widthMult ?? 1, rng = opts.rng;
    const named = mobilenetV3Setting(name, opts.reducedTail, opts.dilated);
    const setting = opts.setting ?? named.setting;
    if (!setting.length) throw new ThawError('argument', 'MobileNetV3: the setting has no blocks');
    const ch = (c: number) => makeDivisible(c * wm);
    // torchvision scales lastChannel with the width multiplier too (adjust_channels in _mobilenet_v3_conf).
    const lastChannel = opts.lastChannel ?? ch(named.lastChannel);
    const f = new Sequential(new ConvNormAct(3, ch(setting[0][0]), 3, { ...BN, stride: 2, activation: 'hardswish', rng }));
    for (const [inC, k, exp, outC, se, act, stride, dilation] of setting) {
      f.append(new InvertedResidualV3(ch(inC), k, ch(exp), ch(outC), se, act, stride, dilation, rng));
    }
    const lastIn = ch(setting.at(-1)![3]), lastConv = 6 * lastIn;
    f.append(new ConvNormAct(lastIn, lastConv, 1, { ...BN, activation: 'hardswish', rng }));
    super(f, new Sequential(
      new Linear(lastConv, lastChannel, { rng }), new Hardswish(), new Dropout(opts.dropout ?? 0.2), new Linear(lastChannel, opts.numClasses ?? 1000, { rng })), lastConv);
  }
}

/** torchvision's mobilenet_v3_small (2.5 M parameters). */
export function mobilenetV3Small(opts: MobileNetV3Options = {}): MobileNetV3 { return new MobileNetV3('mobilenet_v3_small', opts); }
/** torchvision's mobilenet_v3_large (5.5 M parameters). */
export function mobilenetV3Large(opts: MobileNetV3Options = {}): MobileNetV3 { return new MobileNetV3('mobilenet_v3_large', opts); }
/** By torchvision's name. */
export function mobilenetV3(name: MobileNetV3Name, opts: MobileNetV3Options = {}): MobileNetV3 { return new MobileNetV3(name, opts); }
