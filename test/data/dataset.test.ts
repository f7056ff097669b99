// Datasets: per-class subsets, batching, mapping, preprocessing for a backbone.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { arrayDataset, batches, countPerClass, idxDataset, labelsOf, mapDataset, stratifiedSample, subset, subsetPerClass } from '../../engine/data/dataset.ts';
import { DataArgError } from '../../engine/data/errors.ts';
import { IMAGENET_MEAN, IMAGENET_STD, preprocess, type PreprocessSpec } from '../../engine/data/preprocess.ts';
import { Rng } from '../../engine/data/rng.ts';
import { resizeBilinear, type Image } from '../../engine/data/transforms.ts';
import { ZOO } from '../../models/zoo.ts';

const test = suite('dataset');
const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
const rng = new Rng(seed);

const CIFAR: PreprocessSpec = {
  inputSize: [32, 32], channels: 3, mean: IMAGENET_MEAN, std: IMAGENET_STD, scale: 1 / 255, resize: 'bilinear', alignCorners: false,
};

test('subsetPerClass: k per class, deterministic by seed, sorted, distinct', () => {
  const labels = Int32Array.from({ length: 500 }, () => rng.int(5));
  for (let c = 0; c < 5; c++) labels[c] = c; // every class present
  const k = 1 + rng.int(8);
  const a = subsetPerClass(labels, k, new Rng(seed));
  assert.equal(Array.from(a), Array.from(subsetPerClass(labels, k, new Rng(seed))), 'same seed, same subset');
  assert.not.equal(Array.from(a), Array.from(subsetPerClass(labels, k, new Rng(seed + 1))), 'another seed, another subset');
  assert.is(a.length, 5 * k);
  assert.is(new Set(a).size, a.length);
  for (let i = 1; i < a.length; i++) assert.ok(a[i] > a[i - 1], 'ascending');
  const counts = new Array(5).fill(0);
  for (const i of a) counts[labels[i]]++;
  assert.equal(counts, new Array(5).fill(k));
});

test('subsetPerClass errors name a class with too few examples', () => {
  const labels = [0, 0, 0, 1, 2, 2, 2];
  assert.throws(() => subsetPerClass(labels, 2, new Rng(1)), /class 1 has 1 examples, fewer than k = 2/);
  assert.throws(() => subsetPerClass(labels, 1, new Rng(1), 4), /class 3 has 0/);
  assert.throws(() => subsetPerClass(labels, 0, new Rng(1)), (e: unknown) => e instanceof DataArgError);
});

function toyDataset(n: number, size: number) {
  const x = Float32Array.from({ length: n * size }, (_, i) => i);
  const y = Int32Array.from({ length: n }, (_, i) => i % 3);
  return arrayDataset(x, y);
}

test('stratifiedSample: from a pool sorted by class, every class gets its share, not the first classes in order', () => {
  const C = 3 + rng.int(8), per = Array.from({ length: C }, () => 20 + rng.int(30));
  const labels = Int32Array.from(per.flatMap((m, c) => new Array(m).fill(c))); // folder order: class 0 first
  const skip = new Set(Array.from({ length: 5 * C }, () => rng.int(labels.length)));
  const pool = Int32Array.from([...labels.keys()].filter((i) => !skip.has(i)));
  const avail = countPerClass(labels, pool, C);
  const n = C + rng.int(pool.length - C);
  const a = stratifiedSample(labels, n, new Rng(seed), pool);
  assert.is(a.length, n);
  assert.is(new Set(a).size, n, 'distinct');
  for (let i = 1; i < a.length; i++) assert.ok(a[i] > a[i - 1], 'ascending');
  for (const i of a) assert.ok(!skip.has(i), 'drawn from the pool only');
  const got = countPerClass(labels, a, C);
  const total = pool.length;
  got.forEach((g, c) => {
    assert.ok(g >= 1, `class ${c} has a test image (${got})`);
    const want = 1 + ((n - C) * (avail[c] - 1)) / (total - C);
    assert.ok(Math.abs(g - want) < 1.0001, `class ${c}: ${g} drawn, ${want.toFixed(2)} expected (${got} of ${avail})`);
  });
  assert.equal(Array.from(stratifiedSample(labels, n, new Rng(seed), pool)), Array.from(a), 'same seed, same sample');
  assert.equal(Array.from(stratifiedSample(labels, pool.length + rng.int(5), new Rng(seed), pool)), Array.from(pool), 'n >= pool: all of it');
  // Fewer than the number of classes: distinct classes, and over seeds every class is drawn (ties are broken at random).
  const seen = new Set<number>();
  for (let s = 0; s < 40; s++) {
    const few = stratifiedSample(labels, 2, new Rng(seed + s), pool);
    assert.is(new Set(Array.from(few, (i) => labels[i])).size, 2);
    for (const i of few) seen.add(labels[i]);
  }
  assert.ok(seen.size > C / 2, `2-image samples over 40 seeds cover ${seen.size} of ${C} classes`);
});

test('batches: sizes, last batch, dropLast, content matches get(i)', () => {
  const n = 10 + rng.int(30), size = 1 + rng.int(5), bs = 1 + rng.int(9);
  const ds = toyDataset(n, size);
  const all = [...batches(ds, bs)];
  assert.is(all.length, Math.ceil(n / bs));
  assert.is(all.reduce((a, b) => a + b.n, 0), n);
  for (const b of all) {
    assert.is(b.x.length, b.n * size);
    assert.is(b.y.length, b.n);
    for (let j = 0; j < b.n; j++) {
      const ex = ds.get(b.indices[j]);
      assert.equal(Array.from(b.x.subarray(j * size, (j + 1) * size)), Array.from(ex.x));
      assert.is(b.y[j], ex.y);
    }
  }
  const dropped = [...batches(ds, bs, { dropLast: true })];
  assert.is(dropped.length, Math.floor(n / bs));
  assert.ok(dropped.every((b) => b.n === bs));
});

test('batches: shuffle visits every example once, reproducibly, and needs an rng', () => {
  const ds = toyDataset(37, 2);
  const order = (s: number) => [...batches(ds, 8, { shuffle: true, rng: new Rng(s) })].flatMap((b) => Array.from(b.indices));
  const o = order(seed);
  assert.equal([...o].sort((a, b) => a - b), Array.from({ length: 37 }, (_, i) => i));
  assert.equal(o, order(seed));
  assert.not.equal(o, order(seed + 1));
  assert.throws(() => [...batches(ds, 8, { shuffle: true })], /needs an rng/);
  assert.throws(() => [...batches(ds, 0)], /batchSize/);
  const ragged = mapDataset(ds, (ex, i) => ({ x: i === 5 ? new Float32Array(3) : ex.x, y: ex.y }));
  assert.throws(() => [...batches(ragged, 4)], /example 5 has 3 values/);
});

test('mapDataset, subset and labelsOf', () => {
  const ds = toyDataset(6, 2);
  const m = mapDataset(ds, (ex) => ({ x: ex.x.map((v) => v * 2), y: ex.y + 1 }));
  assert.equal(Array.from(m.get(2).x), [8, 10]);
  assert.is(m.get(2).y, 3);
  const s = subset(ds, [5, 1]);
  assert.is(s.length, 2);
  assert.equal(Array.from(s.get(0).x), [10, 11]);
  assert.equal(Array.from(labelsOf(s)), [2, 1]);
  assert.throws(() => subset(ds, [6]), /out of range/);
});

test('preprocess: 28x28 grey → 3x32x32 normalised for the CIFAR ResNet-20', () => {
  const grey = Float32Array.from({ length: 784 }, () => rng.int(256));
  const img: Image = { width: 28, height: 28, channels: 1, data: grey };
  const x = preprocess(img, CIFAR);
  assert.is(x.length, 3 * 32 * 32);
  const resized = resizeBilinear(img, [32, 32], 'half-pixel').data;
  for (let c = 0; c < 3; c++) for (const p of [0, 17, 500, 1023]) {
    const want = (resized[p] / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
    assert.ok(Math.abs(x[c * 1024 + p] - want) < 1e-5, `channel ${c} pixel ${p}`);
  }
  assert.equal(ZOO['resnet20-cifar10'].preprocessing, CIFAR, 'the zoo spec of resnet20 is the one tested here');
});

test('preprocess refuses a spec whose std is 0 or not finite, or whose mean is not finite (every input would become Inf or NaN)', () => {
  const img: Image = { width: 4, height: 4, channels: 1, data: Float32Array.from({ length: 16 }, () => rng.int(256)) };
  const c = rng.int(3);
  for (const [field, v] of [['std', 0], ['std', -0.5], ['std', Infinity], ['mean', NaN]] as const) {
    const vals = [...CIFAR[field]];
    vals[c] = v;
    assert.throws(() => preprocess(img, { ...CIFAR, [field]: vals }), (e: unknown) => e instanceof DataArgError && new RegExp(`^preprocess spec: ${field}\\[${c}\\] is ${v}; `).test((e as Error).message));
  }
  assert.ok(preprocess(img, CIFAR).every(Number.isFinite));
});

test('idxDataset: raw labels, preprocessed x, seeded augmentation', () => {
  const n = 12;
  const set = { images: Uint8Array.from({ length: n * 784 }, () => rng.int(256)), labels: Uint8Array.from({ length: n }, () => rng.int(10)), n, height: 28, width: 28 };
  const ds = idxDataset(set, CIFAR);
  assert.is(ds.length, n);
  assert.equal(Array.from(labelsOf(ds)), Array.from(set.labels));
  const ex = ds.get(3);
  assert.is(ex.y, set.labels[3]);
  const img: Image = { width: 28, height: 28, channels: 1, data: Float32Array.from(set.images.subarray(3 * 784, 4 * 784)) };
  assert.equal(Array.from(ex.x), Array.from(preprocess(img, CIFAR)));
  const aug = (s: number) => idxDataset(set, CIFAR, { rng: new Rng(s), flip: true, cropPadding: 4 });
  const a = aug(seed), b = aug(seed);
  for (let i = 0; i < n; i++) assert.equal(Array.from(a.get(i).x), Array.from(b.get(i).x));
  let differs = 0;
  for (let i = 0; i < n; i++) if (Array.from(a.get(i).x).join() !== Array.from(ds.get(i).x).join()) differs++;
  assert.ok(differs > 0, 'augmentation changes some examples');
  assert.throws(() => ds.get(n), /out of range/);
});

test.run();
