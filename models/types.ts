/** The interface every backbone in models/ implements, so freezing, fine-tuning and the CLI treat them alike. */
import type { Module } from '../engine/module.ts';
import type { Tensor } from '../engine/tensor.ts';
import type { PreprocessSpec } from '../engine/data/preprocess.ts';

export interface Classifier extends Module {
  /** The trunk: input (N, 3, H, W) → features (N, featureDim). */
  features(x: Tensor): Tensor;
  /** The classifier head: features → logits. */
  head: Module;
  /** The head's state-dict prefix (e.g. 'fc', 'linear', 'classifier'). */
  headPrefix: string;
  /** Width of the feature vector the head consumes. */
  featureDim: number;
  /** Logits (N, numClasses). */
  forward(x: Tensor): Tensor;
  /** Parameter-name prefixes per layer group, input side first, head last (for freezeTo(n)). */
  layerGroups(): string[][];
  /** Swaps in a freshly initialised head for `numClasses` classes. */
  replaceHead(numClasses: number, rng?: () => number): void;
  /** Input preprocessing the checkpoint expects, when known. */
  preprocessing?: PreprocessSpec;
}
