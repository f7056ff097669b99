/**
 * torchvision MobileNetV2 (`torchvision.models.mobilenet_v2`) with its exact state-dict keys:
 * features.0.{0,1} (stem conv, bn), features.{1..17}.conv.{...} (inverted residuals),
 * features.18.{0,1} (1x1 to 1280), classifier.1 (the Linear after Dropout).
 *
 * Unlike the Keras MobileNetV2 (see keras/), the stride-2 depthwise convs pad symmetrically (1 on
 * every side), so the two are not interchangeable weight-for-weight at stride 2.
 */
import { Module } from '../engine/nn/module.ts';
import type { Tensor } from '../engine/core/tensor.ts';
import { Conv2d, BatchNorm2d, Linear, Dropout, Sequential, ConvNormAct } from '../engine/nn/index.ts';
import { add } from '../kernels/index.ts';
import { convBnAct } from '../engine/nn/fused.ts';
import { TorchvisionClassifier } from './torchvision_classifier.ts';

/** torchvision's `_make_divisible`: round to the nearest multiple of `divisor`, never down by more than 10%. */
export function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

/**
 * Conv2dNormActivation(Conv2d(bias=false), BatchNorm2d, ReLU6), padding (k-1)/2: the ReLU6 rides in
 * the batch-norm kernels (or a frozen pair's folded conv), keys as torchvision's Sequential.
 */
function convBnRelu6(inC: number, outC: number, k: number, stride = 1, groups = 1, rng?: () => number): ConvNormAct {
  return new ConvNormAct(inC, outC, k, { stride, groups, activation: 'relu6', rng });
}

/** Expand 1x1 (when t != 1) → depthwise 3x3 (stride) → project 1x1 → BN, plus the input when shapes allow. */
export class InvertedResidual extends Module {
  readonly conv: Sequential;
  readonly useResidual: boolean;
  constructor(inC: number, outC: number, stride: number, expandRatio: number, rng?: () => number) {
    super();
    const hidden = Math.round(inC * expandRatio);
    this.useResidual = stride === 1 && inC === outC;
    const layers: Module[] = [];
    if (expandRatio !== 1) layers.push(convBnRelu6(inC, hidden, 1, 1, 1, rng));
    layers.push(convBnRelu6(hidden, hidden, 3, stride, hidden, rng));
    layers.push(new Conv2d(hidden, outC, 1, { bias: false, rng }), new BatchNorm2d(outC));
    this.conv = this.child('conv', new Sequential(...layers));
  }
  /**
   * x: (N, inC, H, W) → (N, outC, H/stride, W/stride). The projection conv and its BN run as one
   * convBnAct (folded when frozen), with the input added in its kernels.
   */
  forward(x: Tensor): Tensor {
    const n = this.conv.length, conv = this.conv.at(n - 2), bn = this.conv.at(n - 1);
    if (!(conv instanceof Conv2d && bn instanceof BatchNorm2d)) {
      const y = this.conv.forward(x);
      return this.useResidual ? add(x, y) : y;
    }
    let h = x;
    for (let i = 0; i < n - 2; i++) h = this.conv.at(i)!.forward(h);
    return convBnAct(conv, bn, h, undefined, this.useResidual ? x : null);
  }
}

export interface MobileNetV2Options {
  /** Output classes (default 1000). */
  numClasses?: number;
  /** Channel multiplier (default 1.0); channels are rounded to multiples of 8 as torchvision does. */
  widthMult?: number;
  /** Dropout before the classifier (default 0.2). */
  dropout?: number;
  rng?: () => number;
}

/** [expand ratio t, channels c, repeats n, first stride s] per stage, from the paper and torchvision. */
const SETTING: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

/** torchvision's MobileNetV2: classifier = Sequential(Dropout, Linear). */
export class MobileNetV2 extends TorchvisionClassifier {
  constructor(opts: MobileNetV2Options = {}) {
    const wm = opts.widthMult ?? 1;
    const rng = opts.rng;
    let inC = makeDivisible(32 * wm);
    const last = makeDivisible(1280 * Math.max(1, wm));
    const f = new Sequential(convBnRelu6(3, inC, 3, 2, 1, rng));
    for (const [t, c, n, s] of SETTING) {
      const outC = makeDivisible(c * wm);
      for (let i = 0; i < n; i++) {
        f.append(new InvertedResidual(inC, outC, i === 0 ? s : 1, t, rng));
        inC = outC;
      }
    }
    f.append(convBnRelu6(inC, last, 1, 1, 1, rng));
    super(f, new Sequential(new Dropout(opts.dropout ?? 0.2), new Linear(last, opts.numClasses ?? 1000, { rng })), last);
  }
}

/** torchvision's mobilenet_v2 (3.5 M parameters at width 1.0). */
export function mobilenetV2(opts: MobileNetV2Options = {}): MobileNetV2 { return new MobileNetV2(opts); }
