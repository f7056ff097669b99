/**
 * CIFAR ResNet-20/32/44/56 as in akamaster/pytorch_resnet_cifar10 (`resnet.py`), with its exact
 * state-dict keys: conv1, bn1, layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2}, linear.
 *
 * Shortcut "option A": when a block changes shape, the shortcut is `x[:, :, ::2, ::2]` zero-padded
 * with planes/4 channels on each side — no weights: one subsamplePad dispatch, recorded for autograd
 * (one dispatch back), so the block's input gradient includes the shortcut's term.
 */
import { Module } from '../engine/nn/module.ts';
import type { Tensor } from '../engine/core/tensor.ts';
import { Conv2d, BatchNorm2d, Linear } from '../engine/nn/index.ts';
import { convBnAct } from '../engine/nn/fused.ts';
import { type Classifier, type Stage, runStages } from '../engine/train/types.ts';
import type { PreprocessSpec } from '../engine/data/preprocess.ts';
import { globalAvgPool2d, subsamplePad } from '../kernels/index.ts';

/** The preprocessing the akamaster checkpoints were trained with (32x32, ImageNet mean/std). */
export const CIFAR_PREPROCESS: PreprocessSpec = {
  inputSize: [32, 32], channels: 3, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], scale: 1 / 255,
  resize: 'bilinear', alignCorners: false,
};

/**
 * BasicBlock: conv3x3-bn-relu-conv3x3-bn + shortcut, relu. A frozen conv-bn pair runs as one conv
 * with folded weights, the ReLU (and the shortcut sum) in its epilogue: engine/nn/fused.ts.
 */
export class BasicBlockA extends Module {
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d; readonly conv2: Conv2d; readonly bn2: BatchNorm2d;
  private readonly shortcutPad: number;
  constructor(inPlanes: number, planes: number, stride: number, rng?: () => number) {
    super();
    this.conv1 = this.child('conv1', new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false, rng }));
    this.bn1 = this.child('bn1', new BatchNorm2d(planes));
    this.conv2 = this.child('conv2', new Conv2d(planes, planes, 3, { stride: 1, padding: 1, bias: false, rng }));
    this.bn2 = this.child('bn2', new BatchNorm2d(planes));
    this.shortcutPad = stride !== 1 || inPlanes !== planes ? planes / 4 : -1;
  }
  forward(x: Tensor): Tensor {
    const h = convBnAct(this.conv1, this.bn1, x, 'relu');
    const sc = this.shortcutPad >= 0 ? subsamplePad(x, 2, this.shortcutPad, this.shortcutPad) : x;
    // relu(bn2(conv2(h)) + sc): in the folded conv's epilogue when frozen, else in the batch-norm kernels.
    return convBnAct(this.conv2, this.bn2, h, 'relu', sc);
  }
}

class ResStage extends Module {
  readonly blocks: BasicBlockA[] = [];
  constructor(inPlanes: number, planes: number, n: number, stride: number, rng?: () => number) {
    super();
    for (let i = 0; i < n; i++) this.blocks.push(this.child(String(i), new BasicBlockA(i === 0 ? inPlanes : planes, planes, i === 0 ? stride : 1, rng)));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const b of this.blocks) y = b.forward(y);
    return y;
  }
}

/** CIFAR ResNet with depth 6n+2 (20, 32, 44, 56). */
export class ResNetCifar extends Module implements Classifier {
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d;
  readonly layer1: ResStage; readonly layer2: ResStage; readonly layer3: ResStage;
  head: Linear;
  readonly headPrefix = 'linear';
  readonly featureDim = 64;
  /** Input preprocessing (settable: the network is fully convolutional, so another input size works). */
  preprocessing: PreprocessSpec = CIFAR_PREPROCESS;

  /** `rng` (uniform [0, 1)) seeds the default initialisation; Math.random without it. */
  constructor(depth = 20, numClasses = 10, rng?: () => number) {
    super();
    if ((depth - 2) % 6) throw new Error(`CIFAR ResNet depth must be 6n+2, got ${depth}`);
    const n = (depth - 2) / 6;
    this.conv1 = this.child('conv1', new Conv2d(3, 16, 3, { stride: 1, padding: 1, bias: false, rng }));
    this.bn1 = this.child('bn1', new BatchNorm2d(16));
    this.layer1 = this.child('layer1', new ResStage(16, 16, n, 1, rng));
    this.layer2 = this.child('layer2', new ResStage(16, 32, n, 2, rng));
    this.layer3 = this.child('layer3', new ResStage(32, 64, n, 2, rng));
    this.head = this.child('linear', new Linear(64, numClasses, { rng }));
  }

  /** x: (N, 3, 32, 32) → (N, 64) */
  features(x: Tensor): Tensor {
    return runStages(this.stages(), x);
  }

  /** stem (N,16,32,32) → layer1 (N,16,32,32) → layer2 (N,32,16,16) → layer3 (N,64,8,8) → pool (N,64) */
  stages(): Stage[] {
    return [
      { name: 'stem', prefixes: ['conv1', 'bn1'], forward: (x) => convBnAct(this.conv1, this.bn1, x, 'relu') },
      { name: 'layer1', prefixes: ['layer1'], forward: (x) => this.layer1.forward(x) },
      { name: 'layer2', prefixes: ['layer2'], forward: (x) => this.layer2.forward(x) },
      { name: 'layer3', prefixes: ['layer3'], forward: (x) => this.layer3.forward(x) },
      { name: 'pool', prefixes: [], forward: (x) => globalAvgPool2d(x) },
    ];
  }

  forward(x: Tensor): Tensor { return this.head.forward(this.features(x)); }

  layerGroups(): string[][] {
    const g: string[][] = [['conv1', 'bn1']];
    for (const [name, stage] of [['layer1', this.layer1], ['layer2', this.layer2], ['layer3', this.layer3]] as const) {
      stage.blocks.forEach((_, i) => g.push([`${name}.${i}`]));
    }
    g.push(['linear']);
    return g;
  }

  replaceHead(numClasses: number, rng?: () => number): void {
    const old = this.head;
    this.head = this.child('linear', new Linear(64, numClasses, { rng }));
    old.dispose();
  }
}

/** ResNet-20 for CIFAR-10 (0.27 M parameters). */
export function resnet20(numClasses = 10, rng?: () => number): ResNetCifar { return new ResNetCifar(20, numClasses, rng); }
