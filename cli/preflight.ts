/**
 * `thaw finetune`'s input paths, checked before any work (no GPU, no checkpoint parsing, no image
 * decoding): the checkpoint file is there and readable, and so is the data set (Fashion-MNIST's
 * files, or an image folder whose listing has no link loops, cycles or broken links). runFinetune
 * calls it after checking the option values, then checks and splits the data, and creates and
 * probes the output folder, before the GPU starts.
 */
import { resolve } from 'node:path';
import { FASHION_MNIST_DIR, FASHION_MNIST_ENV, fashionMnistFiles } from '../engine/data/fashion_mnist.ts';
import { indexImageFolder } from '../engine/data/folder.ts';
import { isZooName } from './fetch.ts';
import { resolveCheckpointPath } from './inspect.ts';
import { inputFile, inputFolder } from './paths.ts';

export interface FinetuneInputs { weights?: string; data: string }

/**
 * Checks finetune's input paths; returns the checkpoint file to load (a folder given as --weights
 * resolves to the model in it). Throws one-line errors naming the option.
 */
export function preflightFinetune(a: FinetuneInputs): { weights?: string } {
  let weights = a.weights;
  if (weights !== undefined) {
    const zooHint = isZooName(weights) ? ` (to fine-tune the zoo's ${weights}, pass --model ${weights} without --weights)` : '';
    const kind = inputFile('--weights', weights, { folders: true, missing: `no such file${zooHint}; give a checkpoint file (.th, .pt, .safetensors, model.json, model.min.js)` });
    if (kind === 'folder') weights = resolveCheckpointPath(weights);
  }
  if (a.data === 'fashion-mnist') {
    const dir = process.env[FASHION_MNIST_ENV] ?? FASHION_MNIST_DIR;
    for (const split of ['train', 'test'] as const) fashionMnistFiles(dir, split);
  } else {
    inputFolder('--data', a.data, "give 'fashion-mnist' or a folder with one subfolder per class");
    indexImageFolder(resolve(a.data));
  }
  return { weights };
}
