/**
 * The two Keras checkpoints of the zoo as Classifiers: ml5's darknet-tiny (ImageNet, Darknet label
 * order) and nsfwjs's MobileNetV2 (5 classes). Both take RGB / 255 at 224x224, resized with
 * align-corners (the zoo entries' preprocessing).
 */
import type { Checkpoint } from '../../engine/io/types.ts';
import type { LoadReport } from '../../engine/train/load.ts';
import { getZooEntry } from '../zoo.ts';
import type { KerasClassifier } from './classifier.ts';
import { kerasClassifierFromCheckpoint } from './index.ts';

/**
 * Layer groups of Keras' MobileNetV2 names: the stem (Conv1, bn_Conv1), expanded_conv, each
 * block_<n>, and the last 1x1 conv (Conv_1, Conv_1_bn).
 */
export function mobilenetV2KerasGroup(layer: string): string {
  if (layer === 'Conv1' || layer === 'bn_Conv1') return 'stem';
  const m = /^(expanded_conv|block_\d+|Conv_1)(_|$)/.exec(layer);
  return m ? m[1] : layer;
}

/** darknet-tiny from its TF.js checkpoint: 16 conv layers, the last (1x1, 1000 filters) is the head, featureDim 128. */
export function darknetTiny(ckpt: Checkpoint): { model: KerasClassifier; report: LoadReport } {
  return kerasClassifierFromCheckpoint(ckpt, { preprocessing: getZooEntry('darknet-tiny').preprocessing });
}

/**
 * nsfwjs's MobileNetV2 from its (UMD) checkpoint: the Keras MobileNetV2 trunk to the 7x7 average
 * pool and Flatten (featureDim 1280), then the head dense_1 (256, relu) → dense_2 (128, relu) →
 * dense_3 (5); forward gives logits, predict the softmax probabilities nsfwjs reports.
 */
export function nsfwjsMobileNetV2(ckpt: Checkpoint): { model: KerasClassifier; report: LoadReport } {
  return kerasClassifierFromCheckpoint(ckpt, {
    preprocessing: getZooEntry('mobilenetv2-nsfwjs').preprocessing,
    groupOf: mobilenetV2KerasGroup,
  });
}
