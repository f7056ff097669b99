/**
 * The shape torchvision's MobileNetV2/V3, EfficientNet and ConvNeXt share: the trunk is the Sequential
 * `features` followed by a global average pool, the head the Sequential `classifier` whose last entry is
 * the Linear that replaceHead swaps.
 */
import { Module } from '../engine/nn/module.ts';
import type { Tensor } from '../engine/core/tensor.ts';
import { Linear, type Sequential } from '../engine/nn/index.ts';
import { type Classifier, type Stage, runStages, sequentialStages, sequentialGroups } from '../engine/train/types.ts';
import type { PreprocessSpec } from '../engine/data/preprocess.ts';
import { IMAGENET_PREPROCESS } from './resnet.ts';

export abstract class TorchvisionClassifier extends Module implements Classifier {
  readonly featuresSeq: Sequential;
  readonly classifier: Sequential;
  readonly headPrefix = 'classifier';
  /** Input preprocessing (settable: the zoo and the CLI give torchvision's resize-and-crop preset, or another size). */
  preprocessing: PreprocessSpec = IMAGENET_PREPROCESS;

  constructor(features: Sequential, classifier: Sequential, readonly featureDim: number) {
    super();
    this.featuresSeq = this.child('features', features);
    this.classifier = this.child('classifier', classifier);
  }

  /** The whole `classifier` Sequential, on pooled (N, featureDim) features. */
  get head(): Module { return this.classifier; }

  /** x: (N, 3, H, W) → (N, featureDim) */
  features(x: Tensor): Tensor { return runStages(this.stages(), x); }

  /** One stage per entry of `features`, then the global average pool → (N, featureDim). */
  stages(): Stage[] { return sequentialStages(this.featuresSeq); }

  /** x: (N, 3, H, W) → logits (N, numClasses) */
  forward(x: Tensor): Tensor { return this.classifier.forward(this.features(x)); }

  /** One group per entry of `features`, then the classifier. */
  layerGroups(): string[][] { return sequentialGroups(this.featuresSeq); }

  /** A new last Linear of `classifier` for `numClasses`; the entries before it stay. */
  replaceHead(numClasses: number, rng?: () => number): void {
    const i = this.classifier.length - 1, old = this.classifier.at(i) as Linear;
    this.classifier.set(i, new Linear(old.inFeatures, numClasses, { rng }));
    old.dispose();
  }
}
