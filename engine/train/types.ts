/** The interface every backbone in models/ implements, so freezing, fine-tuning and the CLI treat them alike. */
import type { Module } from '../nn/module.ts';
import type { Tensor } from '../core/tensor.ts';
import type { Sequential } from '../nn/container.ts';
import { globalAvgPool2d } from '../../kernels/index.ts';
import type { PreprocessSpec } from '../data/preprocess.ts';

/** An image classifier: a trunk (`features`) and a replaceable head, with layer groups for freezing. */
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
  /**
   * The trunk as a chain of stages (features(x) = stages applied in order), when the model can be
   * split: the fine-tuning loop then caches the output of the longest frozen prefix of stages.
   */
  stages?(): Stage[];
  /** Input preprocessing the checkpoint expects, when known. */
  preprocessing?: PreprocessSpec;
}

/** One stage of a trunk: its parameter-name prefixes and its forward. */
export interface Stage {
  name: string;
  /** State-dict prefixes of the stage's parameters and buffers. */
  prefixes: string[];
  /** Runs the stage: its input → its output. */
  forward(x: Tensor): Tensor;
}

/** Applies stages in order: a trunk's features, or any contiguous slice of it. */
export function runStages(stages: readonly Stage[], x: Tensor): Tensor {
  let y = x;
  for (const s of stages) y = s.forward(y);
  return y;
}

/**
 * The stages of a torchvision-style trunk: one per entry of the Sequential registered as `name`
 * (`features.0`, `features.1`, ...), then the global average pool to (N, C).
 */
export function sequentialStages(seq: Sequential, name = 'features'): Stage[] {
  const out: Stage[] = [];
  for (let i = 0; i < seq.length; i++) {
    const m = seq.at(i)!;
    out.push({ name: `${name}.${i}`, prefixes: [`${name}.${i}`], forward: (x) => m.forward(x) });
  }
  out.push({ name: 'pool', prefixes: [], forward: (x) => globalAvgPool2d(x) });
  return out;
}

/** Layer groups of such a model: one per entry of its `name` Sequential, then the head. */
export function sequentialGroups(seq: Sequential, name = 'features', head = 'classifier'): string[][] {
  return [...Array.from({ length: seq.length }, (_, i) => [`${name}.${i}`]), [head]];
}
