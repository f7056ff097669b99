/**
 * Backbone input preprocessing: from a decoded image (HWC, 0..255) to the normalised CHW float32
 * input a pre-trained backbone expects, driven by the zoo's `PreprocessSpec`. Browser-safe.
 */
import { DataArgError } from './errors.ts';
import type { Rng } from './rng.ts';
import {
  centerCrop, normalize, randomCrop, randomHorizontalFlip, replicateChannels, resizeBicubic, resizeBilinear, toChw,
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
  /** Interpolation; 'bicubic' is PyTorch's (half-pixel centres, so it needs alignCorners false). */
  resize: 'bilinear' | 'bicubic';
  /**
   * PyTorch semantics: true → 'align-corners' (also TF alignCorners), false → 'half-pixel'
   * (PyTorch's default `align_corners=False`).
   */
  alignCorners: boolean;
  /**
   * torchvision's ImageClassification `resize_size`: the shorter side is resized to this (the longer
   * one to floor(resizeShorter * long / short)), then the centre `inputSize` is cropped. Absent: the
   * whole image is resized to `inputSize`.
   */
  resizeShorter?: number;
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
  if (spec.resize !== 'bilinear' && spec.resize !== 'bicubic') throw new DataArgError(`preprocess spec: resize must be 'bilinear' or 'bicubic', got ${JSON.stringify(spec.resize)}`);
  if (spec.resize === 'bicubic' && spec.alignCorners) throw new DataArgError("preprocess spec: 'bicubic' resizing uses half-pixel centres; set alignCorners to false");
  const r = spec.resizeShorter;
  if (r !== undefined && !(Number.isInteger(r) && r > 0)) throw new DataArgError(`preprocess spec: resizeShorter must be a positive integer, got ${r}`);
}

/**
 * The spec at another square input size; a resizeShorter scales with it (torchvision's 256 for a
 * 224 crop becomes 73 for 64), so the crop keeps the same share of the image.
 */
export function withInputSize(spec: PreprocessSpec, size: number): PreprocessSpec {
  const r = spec.resizeShorter === undefined ? {} : { resizeShorter: Math.round((spec.resizeShorter * size) / Math.min(...spec.inputSize)) };
  return { ...spec, inputSize: [size, size], ...r };
}

/** Resizes to `size` with the spec's interpolation. */
function resizeTo(x: Image, size: readonly [number, number], spec: PreprocessSpec): Image {
  if (x.height === size[0] && x.width === size[1]) return x;
  return spec.resize === 'bicubic' ? resizeBicubic(x, size) : resizeBilinear(x, size, resizeModeOf(spec));
}

/**
 * The image at the spec's input size, before augmentation: resized straight to `inputSize`, or, with
 * `resizeShorter`, as torchvision's ImageClassification: shorter side to resizeShorter, centre crop.
 */
export function resizeForSpec(img: Image, spec: PreprocessSpec): Image {
  const [h, w] = spec.inputSize;
  const r = spec.resizeShorter;
  if (r === undefined) return resizeTo(img, [h, w], spec);
  const { height: ih, width: iw } = img;
  // torchvision's _compute_resized_output_size for one requested size: the long side is truncated.
  const size: [number, number] = ih <= iw ? [r, Math.floor((r * iw) / ih)] : [Math.floor((r * ih) / iw), r];
  return centerCrop(resizeTo(img, size, spec), [h, w]);
}

/**
 * Image (any size, 1 or 3 channels, 0..255) → (channels, H, W) float32 ready for the backbone:
 * grey → RGB, resize (and centre crop, with resizeShorter) to inputSize (skipped when already that size), optional
 * augmentation, then `(x * scale - mean) / std` per channel.
 */
export function preprocess(img: Image, spec: PreprocessSpec, augment?: Augment): Float32Array {
  checkPreprocessSpec(spec);
  const [h, w] = spec.inputSize;
  let x = resizeForSpec(replicateChannels(img, spec.channels), spec);
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
