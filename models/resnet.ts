/**
 * torchvision ResNet-18/34/50 (`torchvision.models.resnet`, v1.5: the stride sits on the 3x3 conv of
 * a Bottleneck) with torchvision's exact state-dict keys: conv1, bn1, layer{1..4}.{i}.{conv1,bn1,
 * conv2,bn2[,conv3,bn3]}, layer{n}.0.downsample.{0,1}, fc. A checkpoint saved by
 * `torch.save(torchvision.models.resnet18(weights=...).state_dict())` loads without remapping.
 *
 * `width` (64 in torchvision) scales every stage, for small test and edge variants; the keys stay.
 */
import { Module } from '../engine/nn/module.ts';
import type { Tensor } from '../engine/core/tensor.ts';
import { Conv2d, BatchNorm2d, Linear, MaxPool2d, Sequential } from '../engine/nn/index.ts';
import { relu, add, globalAvgPool2d } from '../kernels/index.ts';
import { type Classifier, type Stage, runStages } from '../engine/train/types.ts';
import { IMAGENET_MEAN, IMAGENET_STD, type PreprocessSpec } from '../engine/data/preprocess.ts';

/** torchvision's ImageNet preprocessing at 224x224 (Resize + CenterCrop are the caller's choice). */
export const IMAGENET_PREPROCESS: PreprocessSpec = {
  inputSize: [224, 224], channels: 3, mean: IMAGENET_MEAN, std: IMAGENET_STD, scale: 1 / 255,
  resize: 'bilinear', alignCorners: false,
};

/** A residual block as `_make_layer` builds it. */
interface Block extends Module { forward(x: Tensor): Tensor }
type BlockCtor = { new(inPlanes: number, planes: number, stride: number, downsample: Sequential | null): Block; expansion: number };

/** 3x3 → 3x3, expansion 1 (ResNet-18/34). */
export class BasicBlock extends Module implements Block {
  static readonly expansion = 1;
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d; readonly conv2: Conv2d; readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;
  constructor(inPlanes: number, planes: number, stride: number, downsample: Sequential | null) {
    super();
    this.conv1 = this.child('conv1', new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn1 = this.child('bn1', new BatchNorm2d(planes));
    this.conv2 = this.child('conv2', new Conv2d(planes, planes, 3, { padding: 1, bias: false }));
    this.bn2 = this.child('bn2', new BatchNorm2d(planes));
    this.downsample = downsample ? this.child('downsample', downsample) : null;
  }
  /** x: (N, inPlanes, H, W) → (N, planes, H/stride, W/stride) */
  forward(x: Tensor): Tensor {
    const out = this.bn2.forward(this.conv2.forward(relu(this.bn1.forward(this.conv1.forward(x)))));
    const identity = this.downsample ? this.downsample.forward(x) : x;
    return relu(add(out, identity));
  }
}

/** 1x1 → 3x3 (stride) → 1x1, expansion 4 (ResNet-50). */
export class Bottleneck extends Module implements Block {
  static readonly expansion = 4;
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d; readonly conv2: Conv2d; readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d; readonly bn3: BatchNorm2d; readonly downsample: Sequential | null;
  constructor(inPlanes: number, planes: number, stride: number, downsample: Sequential | null) {
    super();
    this.conv1 = this.child('conv1', new Conv2d(inPlanes, planes, 1, { bias: false }));
    this.bn1 = this.child('bn1', new BatchNorm2d(planes));
    this.conv2 = this.child('conv2', new Conv2d(planes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn2 = this.child('bn2', new BatchNorm2d(planes));
    this.conv3 = this.child('conv3', new Conv2d(planes, planes * 4, 1, { bias: false }));
    this.bn3 = this.child('bn3', new BatchNorm2d(planes * 4));
    this.downsample = downsample ? this.child('downsample', downsample) : null;
  }
  /** x: (N, inPlanes, H, W) → (N, 4*planes, H/stride, W/stride) */
  forward(x: Tensor): Tensor {
    let out = relu(this.bn1.forward(this.conv1.forward(x)));
    out = relu(this.bn2.forward(this.conv2.forward(out)));
    out = this.bn3.forward(this.conv3.forward(out));
    const identity = this.downsample ? this.downsample.forward(x) : x;
    return relu(add(out, identity));
  }
}

export interface ResNetOptions {
  /** Output classes of `fc` (default 1000). */
  numClasses?: number;
  /** Channels of the stem and layer1 (default 64, as torchvision); stages use width·{1,2,4,8}. */
  width?: number;
  /** Uniform [0, 1) source for the default init (Math.random). */
  rng?: () => number;
}

/** torchvision's ResNet: conv1 7x7/2 → bn1 → relu → maxpool 3x3/2 → layer1..4 → global avg pool → fc. */
export class ResNet extends Module implements Classifier {
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d; readonly maxpool: MaxPool2d;
  readonly layers: Sequential[] = [];
  head: Linear;
  readonly headPrefix = 'fc';
  readonly featureDim: number;
  readonly preprocessing = IMAGENET_PREPROCESS;
  private readonly depths: readonly number[];

  constructor(block: BlockCtor, depths: readonly [number, number, number, number], opts: ResNetOptions = {}) {
    super();
    const w = opts.width ?? 64;
    this.depths = depths;
    this.conv1 = this.child('conv1', new Conv2d(3, w, 7, { stride: 2, padding: 3, bias: false, rng: opts.rng }));
    this.bn1 = this.child('bn1', new BatchNorm2d(w));
    this.maxpool = new MaxPool2d(3, { stride: 2, padding: 1 });
    let inPlanes = w;
    depths.forEach((n, s) => {
      const planes = w << s, stride = s === 0 ? 1 : 2;
      const stage = new Sequential();
      for (let i = 0; i < n; i++) {
        const out = planes * block.expansion;
        // torchvision adds a projection shortcut when the first block changes stride or width.
        const ds = i === 0 && (stride !== 1 || inPlanes !== out)
          ? new Sequential(new Conv2d(inPlanes, out, 1, { stride, bias: false, rng: opts.rng }), new BatchNorm2d(out))
          : null;
        stage.append(new block(inPlanes, planes, i === 0 ? stride : 1, ds));
        inPlanes = out;
      }
      this.layers.push(this.child(`layer${s + 1}`, stage));
    });
    this.featureDim = inPlanes;
    this.head = this.child('fc', new Linear(inPlanes, opts.numClasses ?? 1000, { rng: opts.rng }));
  }

  /** x: (N, 3, H, W) → (N, featureDim) */
  features(x: Tensor): Tensor {
    return runStages(this.stages(), x);
  }

  /** stem (N, w, H/4, W/4) → layer1..4 (N, 8w·e, H/32, W/32) → pool (N, 8w·e), e = block expansion */
  stages(): Stage[] {
    return [
      { name: 'stem', prefixes: ['conv1', 'bn1'], forward: (x) => this.maxpool.forward(relu(this.bn1.forward(this.conv1.forward(x)))) },
      ...this.layers.map((l, i) => ({ name: `layer${i + 1}`, prefixes: [`layer${i + 1}`], forward: (x: Tensor) => l.forward(x) })),
      { name: 'pool', prefixes: [], forward: (x) => globalAvgPool2d(x) },
    ];
  }

  /** x: (N, 3, H, W) → logits (N, numClasses) */
  forward(x: Tensor): Tensor { return this.head.forward(this.features(x)); }

  /** The stem, then one group per residual block, then fc. */
  layerGroups(): string[][] {
    const g: string[][] = [['conv1', 'bn1']];
    this.depths.forEach((n, s) => { for (let i = 0; i < n; i++) g.push([`layer${s + 1}.${i}`]); });
    g.push(['fc']);
    return g;
  }

  replaceHead(numClasses: number, rng?: () => number): void {
    const old = this.head;
    this.head = this.child('fc', new Linear(this.featureDim, numClasses, { rng }));
    old.dispose();
  }
}

/** ResNet-18: BasicBlock [2, 2, 2, 2], 11.7 M parameters at width 64. */
export function resnet18(opts: ResNetOptions = {}): ResNet { return new ResNet(BasicBlock, [2, 2, 2, 2], opts); }
/** ResNet-34: BasicBlock [3, 4, 6, 3], 21.8 M parameters at width 64. */
export function resnet34(opts: ResNetOptions = {}): ResNet { return new ResNet(BasicBlock, [3, 4, 6, 3], opts); }
/** ResNet-50: Bottleneck [3, 4, 6, 3], 25.6 M parameters at width 64. */
export function resnet50(opts: ResNetOptions = {}): ResNet { return new ResNet(Bottleneck, [3, 4, 6, 3], opts); }
