/**
 * Pure image transforms on HWC float images: resize, crops, flips, channel handling, layout and
 * normalisation. Browser-safe (no node imports). No function modifies its input; one with nothing
 * to do (same size, already RGB, no flip drawn) may return the input itself.
 */
import { DataArgError } from './errors.ts';
import type { Rng } from './rng.ts';

/** An image in HWC layout: data[(y * width + x) * channels + c]. Decoders give values 0..255. */
export interface Image {
  width: number;
  height: number;
  channels: number;
  /** (height, width, channels) */
  data: Float32Array;
}

/**
 * How output pixel centres map to input coordinates in bilinear resize:
 * - 'align-corners': src = dst * (in-1)/(out-1): PyTorch `align_corners=True`, TF `alignCorners: true`.
 * - 'half-pixel': src = (dst+0.5) * in/out - 0.5: PyTorch `align_corners=False` (its default),
 *   TF `halfPixelCenters: true`.
 * - 'asymmetric': src = dst * in/out: TF's default (`alignCorners: false, halfPixelCenters: false`).
 */
export type ResizeMode = 'align-corners' | 'half-pixel' | 'asymmetric';

function checkImage(img: Image, op: string): void {
  const { width, height, channels, data } = img;
  if (!(width > 0 && height > 0 && channels > 0) || data.length !== width * height * channels) {
    throw new DataArgError(`${op}: image is ${height}x${width}x${channels} but has ${data.length} values; expected height*width*channels > 0`);
  }
}

/** Wraps RGBA bytes (e.g. canvas ImageData, decoder output) as an RGB image, dropping alpha. */
export function fromRgba(rgba: ArrayLike<number>, width: number, height: number): Image {
  const n = width * height;
  if (rgba.length !== n * 4) throw new DataArgError(`fromRgba: ${width}x${height} needs ${n * 4} RGBA values, got ${rgba.length}`);
  const data = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    data[3 * i] = rgba[4 * i]; data[3 * i + 1] = rgba[4 * i + 1]; data[3 * i + 2] = rgba[4 * i + 2];
  }
  return { width, height, channels: 3, data };
}

/** Wraps grey levels (e.g. one IDX image) as a 1-channel image. */
export function fromGray(grey: ArrayLike<number>, width: number, height: number): Image {
  if (grey.length !== width * height) throw new DataArgError(`fromGray: ${width}x${height} needs ${width * height} values, got ${grey.length}`);
  return { width, height, channels: 1, data: Float32Array.from(grey) };
}

/** Source index pairs and weights along one axis; see ResizeMode for the mappings. */
function axisTaps(inSize: number, outSize: number, mode: ResizeMode): { i0: Int32Array; i1: Int32Array; w1: Float64Array } {
  const i0 = new Int32Array(outSize), i1 = new Int32Array(outSize), w1 = new Float64Array(outSize);
  const scale = mode === 'align-corners' ? (outSize > 1 ? (inSize - 1) / (outSize - 1) : 0) : inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    let src = mode === 'half-pixel' ? (d + 0.5) * scale - 0.5 : d * scale;
    if (src < 0) src = 0; // PyTorch clamps; TF's floor/ceil clamp gives the same value
    const lo = Math.min(Math.floor(src), inSize - 1);
    i0[d] = lo;
    i1[d] = Math.min(lo + 1, inSize - 1);
    w1[d] = src - lo;
  }
  return { i0, i1, w1 };
}

/** Bilinear resize to (height, width), without antialiasing, as PyTorch's and TF's kernels. */
export function resizeBilinear(img: Image, size: readonly [number, number], mode: ResizeMode = 'half-pixel'): Image {
  checkImage(img, 'resizeBilinear');
  const [oh, ow] = size;
  if (!(Number.isInteger(oh) && Number.isInteger(ow) && oh > 0 && ow > 0)) throw new DataArgError(`resizeBilinear: size must be two positive integers, got [${size}]`);
  const { width: iw, height: ih, channels: C, data: src } = img;
  const ys = axisTaps(ih, oh, mode), xs = axisTaps(iw, ow, mode);
  const out = new Float32Array(oh * ow * C);
  for (let y = 0; y < oh; y++) {
    const r0 = ys.i0[y] * iw, r1 = ys.i1[y] * iw, wy = ys.w1[y];
    for (let x = 0; x < ow; x++) {
      const c0 = xs.i0[x], c1 = xs.i1[x], wx = xs.w1[x];
      const p00 = (r0 + c0) * C, p01 = (r0 + c1) * C, p10 = (r1 + c0) * C, p11 = (r1 + c1) * C;
      const o = (y * ow + x) * C;
      for (let c = 0; c < C; c++) {
        const top = src[p00 + c] + (src[p01 + c] - src[p00 + c]) * wx;
        const bot = src[p10 + c] + (src[p11 + c] - src[p10 + c]) * wx;
        out[o + c] = top + (bot - top) * wy;
      }
    }
  }
  return { width: ow, height: oh, channels: C, data: out };
}

/** torch's cubic convolution weights (A = -0.75) for a fractional offset t in [0, 1): taps at -1, 0, 1, 2. */
function cubicWeights(t: number): [number, number, number, number] {
  const A = -0.75;
  const near = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
  const far = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

/**
 * Bicubic resize to (height, width) with half-pixel centres and without antialiasing, as PyTorch's
 * `interpolate(mode='bicubic', align_corners=False)` (and so torchvision's Resize on tensors):
 * cubic convolution with A = -0.75, taps past the border clamped to the edge pixel. Values may
 * overshoot the input's range, as PyTorch's do.
 */
export function resizeBicubic(img: Image, size: readonly [number, number]): Image {
  checkImage(img, 'resizeBicubic');
  const [oh, ow] = size;
  if (!(Number.isInteger(oh) && Number.isInteger(ow) && oh > 0 && ow > 0)) throw new DataArgError(`resizeBicubic: size must be two positive integers, got [${size}]`);
  const { width: iw, height: ih, channels: C, data: src } = img;
  const taps = (inSize: number, outSize: number) => Array.from({ length: outSize }, (_, d) => {
    const s = (d + 0.5) * (inSize / outSize) - 0.5;
    const f = Math.floor(s);
    return { idx: [-1, 0, 1, 2].map((k) => Math.min(Math.max(f + k, 0), inSize - 1)), w: cubicWeights(s - f) };
  });
  const ys = taps(ih, oh), xs = taps(iw, ow);
  // Rows first (into (ih, ow)), then columns, in float64.
  const tmp = new Float64Array(ih * ow * C);
  for (let y = 0; y < ih; y++) {
    for (let x = 0; x < ow; x++) {
      const { idx, w } = xs[x];
      for (let c = 0; c < C; c++) {
        let v = 0;
        for (let k = 0; k < 4; k++) v += w[k] * src[(y * iw + idx[k]) * C + c];
        tmp[(y * ow + x) * C + c] = v;
      }
    }
  }
  const out = new Float32Array(oh * ow * C);
  for (let y = 0; y < oh; y++) {
    const { idx, w } = ys[y];
    for (let x = 0; x < ow; x++) {
      for (let c = 0; c < C; c++) {
        let v = 0;
        for (let k = 0; k < 4; k++) v += w[k] * tmp[(idx[k] * ow + x) * C + c];
        out[(y * ow + x) * C + c] = v;
      }
    }
  }
  return { width: ow, height: oh, channels: C, data: out };
}

/** HWC image → (channels, height, width) planar array. */
export function toChw(img: Image): Float32Array {
  checkImage(img, 'toChw');
  const { width, height, channels: C, data } = img;
  const hw = width * height;
  const out = new Float32Array(C * hw);
  for (let p = 0; p < hw; p++) for (let c = 0; c < C; c++) out[c * hw + p] = data[p * C + c];
  return out;
}

/** Repeats a 1-channel image into `channels` equal channels (grey → RGB); other images pass through when already `channels`. */
export function replicateChannels(img: Image, channels = 3): Image {
  checkImage(img, 'replicateChannels');
  if (img.channels === channels) return img;
  if (img.channels !== 1) throw new DataArgError(`replicateChannels: can only expand a 1-channel image, got ${img.channels} channels for ${channels}`);
  const n = img.width * img.height;
  const out = new Float32Array(n * channels);
  for (let p = 0; p < n; p++) out.fill(img.data[p], p * channels, (p + 1) * channels);
  return { ...img, channels, data: out };
}

/**
 * Per-channel normalisation of a CHW array: `(x * scale - mean[c]) / std[c]`. With scale 1/255
 * this is torchvision's ToTensor + Normalize.
 */
export function normalize(chw: Float32Array, channels: number, mean: readonly number[], std: readonly number[], scale = 1 / 255): Float32Array {
  if (mean.length !== channels || std.length !== channels) throw new DataArgError(`normalize: mean and std need ${channels} values each, got ${mean.length} and ${std.length}`);
  if (chw.length % channels !== 0) throw new DataArgError(`normalize: ${chw.length} values do not split into ${channels} channels`);
  if (std.some((s) => !(s > 0))) throw new DataArgError(`normalize: std must be positive, got [${std}]`);
  const hw = chw.length / channels;
  const out = new Float32Array(chw.length);
  for (let c = 0; c < channels; c++) {
    const m = mean[c], inv = 1 / std[c];
    for (let i = c * hw; i < (c + 1) * hw; i++) out[i] = (chw[i] * scale - m) * inv;
  }
  return out;
}

/** Mirrors an image left-right. */
export function flipHorizontal(img: Image): Image {
  checkImage(img, 'flipHorizontal');
  const { width: W, height: H, channels: C, data } = img;
  const out = new Float32Array(data.length);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const s = (y * W + x) * C, d = (y * W + (W - 1 - x)) * C;
    for (let c = 0; c < C; c++) out[d + c] = data[s + c];
  }
  return { ...img, data: out };
}

/** Flips with probability p (one draw from rng per call, flipped or not). */
export function randomHorizontalFlip(img: Image, rng: Rng, p = 0.5): Image {
  return rng.next() < p ? flipHorizontal(img) : img;
}

/** Pads with a constant on each side: [top, right, bottom, left] or one number for all four. */
export function pad(img: Image, padding: number | readonly [number, number, number, number], fill = 0): Image {
  checkImage(img, 'pad');
  const [t, r, b, l] = typeof padding === 'number' ? [padding, padding, padding, padding] : padding;
  if (![t, r, b, l].every((v) => Number.isInteger(v) && v >= 0)) throw new DataArgError(`pad: padding must be non-negative integers, got ${padding}`);
  const { width: W, height: H, channels: C, data } = img;
  const ow = W + l + r, oh = H + t + b;
  const out = new Float32Array(ow * oh * C).fill(fill);
  for (let y = 0; y < H; y++) out.set(data.subarray(y * W * C, (y + 1) * W * C), ((y + t) * ow + l) * C);
  return { width: ow, height: oh, channels: C, data: out };
}

/** The (h, w) window whose top-left corner is (top, left); it must lie inside the image. */
export function crop(img: Image, top: number, left: number, size: readonly [number, number]): Image {
  checkImage(img, 'crop');
  const [h, w] = size;
  const { width: W, height: H, channels: C, data } = img;
  if (!(top >= 0 && left >= 0 && h > 0 && w > 0 && top + h <= H && left + w <= W && Number.isInteger(top + left + h + w))) {
    throw new DataArgError(`crop: window ${h}x${w} at (${top}, ${left}) does not fit in a ${H}x${W} image`);
  }
  const out = new Float32Array(h * w * C);
  for (let y = 0; y < h; y++) out.set(data.subarray(((top + y) * W + left) * C, ((top + y) * W + left + w) * C), y * w * C);
  return { width: w, height: h, channels: C, data: out };
}

/**
 * torchvision's RandomCrop(size, padding): zero-pad each side by `padding`, then take a window at
 * a uniformly random position (two draws from rng: top, then left).
 */
export function randomCrop(img: Image, size: readonly [number, number], rng: Rng, padding = 0, fill = 0): Image {
  const padded = padding > 0 ? pad(img, padding, fill) : img;
  const [h, w] = size;
  if (h > padded.height || w > padded.width) {
    throw new DataArgError(`randomCrop: crop ${h}x${w} is larger than the padded image ${padded.height}x${padded.width}; increase padding or resize first`);
  }
  const top = rng.int(padded.height - h + 1);
  const left = rng.int(padded.width - w + 1);
  return crop(padded, top, left, size);
}

/** Python's round(): halves go to the even neighbour (torchvision's center_crop uses it). */
function roundHalfEven(x: number): number {
  const f = Math.floor(x), d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision's CenterCrop: the central window, zero-padding first when the crop is larger than the image. */
export function centerCrop(img: Image, size: readonly [number, number]): Image {
  checkImage(img, 'centerCrop');
  const [h, w] = size;
  let src = img;
  if (h > img.height || w > img.width) {
    const dw = Math.max(0, w - img.width), dh = Math.max(0, h - img.height);
    src = pad(img, [dh >> 1, (dw + 1) >> 1, (dh + 1) >> 1, dw >> 1]);
  }
  return crop(src, roundHalfEven((src.height - h) / 2), roundHalfEven((src.width - w) / 2), size);
}
