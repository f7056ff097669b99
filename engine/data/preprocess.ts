/**
 * Backbone input preprocessing: from a decoded image (HWC, 0..255) to the normalised CHW float32
 * input a pre-trained backbone expects, driven by the zoo's `PreprocessSpec`. Browser-safe.
 */
import { DataArgError } from './errors.ts';
import type { Rng } from './rng.ts';
import {
  normalize, randomCrop, randomHorizontalFlip, replicateChannels, resizeBilinear, toChw,
  type Image, type ResizeMode,
} from './transforms.ts';

/** What a backbone expects as input; each zoo entry carries one. */
export interface PreprocessSpec {
  /** [height, width] of the network input. */
  inputSize: readonly [number, number];
  channels: 3;
  /** Per-channel mean subtracted after scaling; zeros for "x / 255 only" models. */
  mean: readonly number[];
  /** Per-channel std divided by after subtracting the mean; ones for "x / 255 only" models. */
  std: readonly number[];
  /** Multiplies raw 0..255 values first; 1/255 for every model in the zoo. */
  scale: number;
  resize: 'bilinear';
  /**
   * PyTorch semantics: true → 'align-corners' (also TF alignCorners), false → 'half-pixel'
   * (PyTorch's default `align_corners=False`).
   */
  alignCorners: boolean;
}

/** Training-time augmentation applied at input size, before normalisation. */
export interface Augment {
  rng: Rng;
  /** Random horizontal flip with probability 0.5. */
  flip?: boolean;
  /** Zero-pad by this many pixels, then random-crop back to input size (CIFAR: 4). */
  cropPadding?: number;
}

/** The resize mode a spec asks for. */
export function resizeModeOf(spec: Pick<PreprocessSpec, 'alignCorners'>): ResizeMode {
  return spec.alignCorners ? 'align-corners' : 'half-pixel';
}

/** Throws a DataArgError naming the first inconsistent field of a spec. */
export function checkPreprocessSpec(spec: PreprocessSpec): void {
  const [h, w] = spec.inputSize ?? [];
  if (!(Number.isInteger(h) && Number.isInteger(w) && h > 0 && w > 0)) throw new DataArgError(`preprocess spec: inputSize must be [H, W] positive integers, got ${JSON.stringify(spec.inputSize)}`);
  if (spec.mean.length !== spec.channels || spec.std.length !== spec.channels) {
    throw new DataArgError(`preprocess spec: mean and std need ${spec.channels} values each, got ${spec.mean.length} and ${spec.std.length}`);
  }
  const bad = [...spec.mean.map((v, i) => [`mean[${i}]`, v, Number.isFinite(v)] as const), ...spec.std.map((v, i) => [`std[${i}]`, v, v > 0 && Number.isFinite(v)] as const)].find((f) => !f[2]);
  if (bad) throw new DataArgError(`preprocess spec: ${bad[0]} is ${bad[1]}; means must be finite and stds positive and finite (a zero std divides every input by 0)`);
  if (!(spec.scale > 0 && Number.isFinite(spec.scale))) throw new DataArgError(`preprocess spec: scale must be positive (1/255 for 0..255 inputs), got ${spec.scale}`);
}

/**
 * Image (any size, 1 or 3 channels, 0..255) → (channels, H, W) float32 ready for the backbone:
 * grey → RGB, bilinear resize to inputSize (skipped when already that size), optional
 * augmentation, then `(x * scale - mean) / std` per channel.
 */
export function preprocess(img: Image, spec: PreprocessSpec, augment?: Augment): Float32Array {
  checkPreprocessSpec(spec);
  let x = replicateChannels(img, spec.channels);
  const [h, w] = spec.inputSize;
  if (x.height !== h || x.width !== w) x = resizeBilinear(x, [h, w], resizeModeOf(spec));
  if (augment) {
    if (augment.cropPadding && augment.cropPadding > 0) x = randomCrop(x, [h, w], augment.rng, augment.cropPadding);
    if (augment.flip) x = randomHorizontalFlip(x, augment.rng);
  }
  return normalize(toChw(x), spec.channels, spec.mean, spec.std, spec.scale);
}

/** ImageNet mean and std (torchvision), used by the CIFAR ResNet-20 checkpoint too. */
export const IMAGENET_MEAN: readonly number[] = Object.freeze([0.485, 0.456, 0.406]);
/** ImageNet per-channel std (torchvision), for `normalize`. */
export const IMAGENET_STD: readonly number[] = Object.freeze([0.229, 0.224, 0.225]);
