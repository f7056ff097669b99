// Transforms: resize against an independent float64 reference, PyTorch fixtures and TF.js; crops, flips, layout.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DataArgError } from '../../engine/data/errors.ts';
import { Rng } from '../../engine/data/rng.ts';
import {
  centerCrop, crop, flipHorizontal, normalize, pad, randomCrop, randomHorizontalFlip, replicateChannels,
  resizeBicubic, resizeBilinear, toChw, type Image, type ResizeMode,
} from '../../engine/data/transforms.ts';
import { preprocess, withInputSize, type PreprocessSpec } from '../../engine/data/preprocess.ts';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../engine/data/preprocess.ts';

const test = suite('transforms');
const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;

function randomImage(rng: Rng, h: number, w: number, c: number): Image {
  const data = new Float32Array(h * w * c);
  for (let i = 0; i < data.length; i++) data[i] = rng.next() * 255;
  return { width: w, height: h, channels: c, data };
}

/** float64 reference written as a triangle filter over every input pixel (a different formulation from the engine's). */
function refResize(img: Image, oh: number, ow: number, mode: ResizeMode): Float64Array {
  const coord = (d: number, inn: number, out: number) => {
    let s: number;
    if (mode === 'align-corners') s = out === 1 ? 0 : d * (inn - 1) / (out - 1);
    else if (mode === 'half-pixel') s = (d + 0.5) * inn / out - 0.5;
    else s = d * inn / out;
    return Math.min(Math.max(s, 0), inn - 1);
  };
  const tri = (t: number) => Math.max(0, 1 - Math.abs(t));
  const out = new Float64Array(oh * ow * img.channels);
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) for (let c = 0; c < img.channels; c++) {
    const sy = coord(y, img.height, oh), sx = coord(x, img.width, ow);
    let acc = 0;
    for (let iy = 0; iy < img.height; iy++) {
      const wy = tri(sy - iy);
      if (wy === 0) continue;
      for (let ix = 0; ix < img.width; ix++) acc += wy * tri(sx - ix) * img.data[(iy * img.width + ix) * img.channels + c];
    }
    out[(y * ow + x) * img.channels + c] = acc;
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length, 'lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('resize matches an independent float64 reference (random sizes, all modes)', () => {
  const rng = new Rng(seed);
  for (let t = 0; t < 40; t++) {
    const [ih, iw, oh, ow, c] = [1 + rng.int(12), 1 + rng.int(12), 1 + rng.int(16), 1 + rng.int(16), 1 + rng.int(3)];
    const img = randomImage(rng, ih, iw, c);
    for (const mode of ['align-corners', 'half-pixel', 'asymmetric'] as const) {
      const got = resizeBilinear(img, [oh, ow], mode);
      assert.equal([got.height, got.width, got.channels], [oh, ow, c]);
      const d = maxAbsDiff(got.data, refResize(img, oh, ow, mode));
      assert.ok(d < 1e-3, `seed ${seed}: ${ih}x${iw}x${c} -> ${oh}x${ow} ${mode}: max diff ${d}`);
    }
  }
});

test('resize matches PyTorch F.interpolate(bilinear) fixtures, align_corners False and True', () => {
  const fx = JSON.parse(readFileSync(new URL('../fixtures/data/resize.json', import.meta.url), 'utf8'));
  assert.ok(fx.cases.length >= 9);
  for (const k of fx.cases) {
    const img: Image = { width: k.inW, height: k.inH, channels: k.channels, data: Float32Array.from(k.input) };
    for (const [mode, key] of [['half-pixel', 'halfPixel'], ['align-corners', 'alignCorners']] as const) {
      const d = maxAbsDiff(resizeBilinear(img, [k.outH, k.outW], mode).data, k[key]);
      assert.ok(d < 2e-4, `${k.name} ${mode}: max diff ${d} vs torch`);
    }
  }
});

test('bicubic resize matches PyTorch F.interpolate(bicubic, align_corners=False) fixtures', () => {
  const fx = JSON.parse(readFileSync(new URL('../fixtures/data/resize.json', import.meta.url), 'utf8'));
  for (const k of fx.cases) {
    const img: Image = { width: k.inW, height: k.inH, channels: k.channels, data: Float32Array.from(k.input) };
    const got = resizeBicubic(img, [k.outH, k.outW]);
    assert.equal([got.height, got.width, got.channels], [k.outH, k.outW, k.channels]);
    const d = maxAbsDiff(got.data, k.bicubic);
    assert.ok(d < 2e-4, `${k.name} bicubic: max diff ${d} vs torch`);
  }
});

test("preprocess with resizeShorter matches torchvision's ImageClassification (resize, centre crop, normalise)", () => {
  const fx = JSON.parse(readFileSync(new URL('../fixtures/data/imagenet.json', import.meta.url), 'utf8'));
  assert.ok(fx.cases.length >= 4);
  for (const k of fx.cases) {
    const spec: PreprocessSpec = {
      inputSize: [k.crop, k.crop], channels: 3, mean: IMAGENET_MEAN, std: IMAGENET_STD, scale: 1 / 255,
      resize: k.interpolation, alignCorners: false, resizeShorter: k.resize,
    };
    const got = preprocess({ width: k.inW, height: k.inH, channels: 3, data: Float32Array.from(k.input) }, spec);
    assert.is(got.length, 3 * k.crop * k.crop);
    const d = maxAbsDiff(got, k.chw);
    assert.ok(d < 1e-4, `${k.inH}x${k.inW} → ${k.resize} → ${k.crop} ${k.interpolation}: max diff ${d} vs torchvision`);
  }
  const s = withInputSize({ ...fx.cases[0], inputSize: [224, 224], resizeShorter: 256 } as unknown as PreprocessSpec, 64);
  assert.equal([s.inputSize, s.resizeShorter], [[64, 64], 73]);
});

test('resize matches TF.js resizeBilinear (alignCorners, halfPixelCenters, default)', async () => {
  await tf.setBackend('cpu');
  const rng = new Rng(seed + 1);
  for (let t = 0; t < 12; t++) {
    const [ih, iw, oh, ow, c] = [1 + rng.int(10), 1 + rng.int(10), 1 + rng.int(14), 1 + rng.int(14), 1 + rng.int(3)];
    const img = randomImage(rng, ih, iw, c);
    const x = tf.tensor4d(img.data, [1, ih, iw, c]);
    const cases: Array<[ResizeMode, boolean, boolean]> = [['align-corners', true, false], ['half-pixel', false, true], ['asymmetric', false, false]];
    for (const [mode, alignCorners, halfPixel] of cases) {
      const want = tf.image.resizeBilinear(x, [oh, ow], alignCorners, halfPixel).dataSync();
      const d = maxAbsDiff(resizeBilinear(img, [oh, ow], mode).data, want);
      assert.ok(d < 1e-3, `seed ${seed}: ${ih}x${iw} -> ${oh}x${ow} ${mode} vs tfjs: max diff ${d}`);
    }
    x.dispose();
  }
});

test('resize to the same size is the identity in align-corners and half-pixel modes', () => {
  const img = randomImage(new Rng(seed + 2), 7, 5, 3);
  assert.equal(Array.from(resizeBilinear(img, [7, 5], 'half-pixel').data), Array.from(img.data));
  assert.equal(Array.from(resizeBilinear(img, [7, 5], 'align-corners').data), Array.from(img.data));
  assert.throws(() => resizeBilinear(img, [0, 3]), (e: unknown) => e instanceof DataArgError);
});

test('toChw, replicateChannels and normalize', () => {
  const img: Image = { width: 2, height: 1, channels: 3, data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
  assert.equal(Array.from(toChw(img)), [1, 4, 2, 5, 3, 6]);
  const grey: Image = { width: 2, height: 2, channels: 1, data: Float32Array.from([0, 51, 102, 255]) };
  const rgb = replicateChannels(grey, 3);
  assert.equal(Array.from(rgb.data.subarray(3, 6)), [51, 51, 51]);
  const n = normalize(toChw(rgb), 3, [0.5, 0.4, 0.2], [0.25, 0.5, 1]);
  // (51/255 - mean) / std for each channel plane
  assert.ok(Math.abs(n[1] - (0.2 - 0.5) / 0.25) < 1e-6);
  assert.ok(Math.abs(n[4 + 1] - (0.2 - 0.4) / 0.5) < 1e-6);
  assert.ok(Math.abs(n[8 + 3] - (1 - 0.2) / 1) < 1e-6);
  assert.throws(() => replicateChannels(img, 4), (e: unknown) => e instanceof DataArgError);
  assert.throws(() => normalize(toChw(rgb), 3, [0, 0], [1, 1, 1]), /mean and std/);
});

test('flip, pad and crop move pixels where expected', () => {
  const rng = new Rng(seed + 3);
  const img = randomImage(rng, 4, 6, 2);
  const at = (im: Image, y: number, x: number, c: number) => im.data[(y * im.width + x) * im.channels + c];
  const f = flipHorizontal(img);
  assert.is(at(f, 2, 0, 1), at(img, 2, 5, 1));
  assert.equal(Array.from(flipHorizontal(f).data), Array.from(img.data));
  const p = pad(img, [1, 2, 3, 4]);
  assert.equal([p.height, p.width], [8, 12]);
  assert.is(at(p, 1, 4, 0), at(img, 0, 0, 0));
  assert.is(at(p, 0, 0, 0), 0);
  const c = crop(img, 1, 2, [2, 3]);
  assert.is(at(c, 1, 2, 1), at(img, 2, 4, 1));
  assert.throws(() => crop(img, 3, 0, [2, 2]), /does not fit/);
});

test('randomCrop with padding: seeded, a window of the zero-padded image', () => {
  const img = randomImage(new Rng(seed + 4), 8, 8, 3);
  const a = randomCrop(img, [8, 8], new Rng(seed), 4);
  const b = randomCrop(img, [8, 8], new Rng(seed), 4);
  assert.equal(Array.from(a.data), Array.from(b.data), 'same seed, same crop');
  const padded = pad(img, 4);
  const r = new Rng(seed);
  const top = r.int(9), left = r.int(9);
  assert.equal(Array.from(a.data), Array.from(crop(padded, top, left, [8, 8]).data));
  const seen = new Set<string>();
  const rr = new Rng(seed + 5);
  for (let i = 0; i < 200; i++) seen.add(Array.from(randomCrop(img, [8, 8], rr, 4).data).join());
  // 81 possible windows; 200 draws see about 74 of them.
  assert.ok(seen.size > 50, `crops should vary, saw ${seen.size} distinct of 81 windows`);
});

test('randomHorizontalFlip flips about half the time, reproducibly', () => {
  const img = randomImage(new Rng(seed + 6), 3, 5, 1);
  const r = new Rng(seed);
  let flips = 0;
  for (let i = 0; i < 1000; i++) if (randomHorizontalFlip(img, r) !== img) flips++;
  assert.ok(flips > 400 && flips < 600, `${flips} flips in 1000`);
  assert.is(randomHorizontalFlip(img, new Rng(1), 0), img);
});

test('centerCrop rounds like torchvision (half to even) and pads when too small', () => {
  const img: Image = { width: 5, height: 5, channels: 1, data: Float32Array.from({ length: 25 }, (_, i) => i + 1) };
  // torchvision: top = round((5 - 2) / 2) = round(1.5) = 2
  assert.equal(Array.from(centerCrop(img, [2, 2]).data), [13, 14, 18, 19]);
  // round((5 - 4) / 2) = round(0.5) = 0
  assert.is(centerCrop(img, [4, 4]).data[0], 1);
  const big = centerCrop(img, [7, 8]);
  assert.equal([big.height, big.width], [7, 8]);
  // pad left = (8-5)//2 = 1, top = (7-5)//2 = 1
  assert.is(big.data[0], 0);
  assert.is(big.data[1 * 8 + 1], 1);
});

test.run();
