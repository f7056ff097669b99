/**
 * Datasets as random-access lists of (x, y) examples, and the helpers around them: per-class
 * subsets, batching, mapping, IDX image sets as datasets. Browser-safe.
 */
import { DataArgError } from './errors.ts';
import type { IdxImageSet } from './idx.ts';
import { preprocess, type Augment, type PreprocessSpec } from './preprocess.ts';
import { shuffle, type Rng } from './rng.ts';
import { fromGray } from './transforms.ts';

/** One example: x is (C, H, W) float32, y a class index. */
export interface Example {
  x: Float32Array;
  y: number;
}

/** A random-access dataset. `get` must return x of the same length for every i. */
export interface Dataset {
  readonly length: number;
  /** The i-th example (0 <= i < length). */
  get(i: number): Example;
}

/** A batch: x is (n, C, H, W), y is (n). The last batch may be smaller unless dropLast. */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
  /** Examples in this batch (x.length / n == C*H*W). */
  n: number;
  /** Dataset indices of the examples, in batch order. */
  indices: Int32Array;
}

/** Options of `batches`. */
export interface BatchOptions {
  /** Visit examples in a random order drawn from rng (required when true). */
  shuffle?: boolean;
  rng?: Rng;
  /** Skip a last batch smaller than batchSize (keeps BatchNorm statistics sane). */
  dropLast?: boolean;
}

function checkIndex(i: number, length: number, what: string): void {
  if (!Number.isInteger(i) || i < 0 || i >= length) throw new DataArgError(`${what}: index ${i} is out of range for a dataset of ${length} examples`);
}

/** A dataset over in-memory arrays: x is (n, ...exampleShape) flattened, y is (n). */
export function arrayDataset(x: Float32Array, y: ArrayLike<number>): Dataset {
  const n = y.length;
  if (n === 0 || x.length % n !== 0) throw new DataArgError(`arrayDataset: ${x.length} x values do not split into ${n} examples`);
  const size = x.length / n;
  return {
    length: n,
    get(i) { checkIndex(i, n, 'arrayDataset'); return { x: x.subarray(i * size, (i + 1) * size), y: y[i] }; },
  };
}

/** A lazily transformed view: get(i) = fn(ds.get(i), i). */
export function mapDataset(ds: Dataset, fn: (ex: Example, i: number) => Example): Dataset {
  return { length: ds.length, get: (i) => fn(ds.get(i), i) };
}

/** The examples of ds at `indices`, in that order. */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const idx = Int32Array.from(indices);
  for (const i of idx) checkIndex(i, ds.length, 'subset');
  return { length: idx.length, get(i) { checkIndex(i, idx.length, 'subset'); return ds.get(idx[i]); } };
}

/**
 * Indices of k examples per class, chosen at random by rng (so fixed by its seed), returned in
 * ascending order. Classes are 0..numClasses-1 (default: max label + 1); a class with fewer than
 * k examples is an error naming it.
 */
export function subsetPerClass(labels: ArrayLike<number>, k: number, rng: Rng, numClasses?: number): Int32Array {
  if (!Number.isInteger(k) || k < 1) throw new DataArgError(`subsetPerClass: k must be a positive integer, got ${k}`);
  let maxLabel = -1;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0) throw new DataArgError(`subsetPerClass: label ${l} at index ${i} is not a class index`);
    if (l > maxLabel) maxLabel = l;
  }
  const nc = numClasses ?? maxLabel + 1;
  if (maxLabel >= nc) throw new DataArgError(`subsetPerClass: label ${maxLabel} is out of range for ${nc} classes`);
  const byClass: number[][] = Array.from({ length: nc }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const out: number[] = [];
  byClass.forEach((members, c) => {
    if (members.length < k) throw new DataArgError(`subsetPerClass: class ${c} has ${members.length} examples, fewer than k = ${k}; lower k`);
    out.push(...shuffle(members, rng).slice(0, k));
  });
  return Int32Array.from(out.sort((a, b) => a - b));
}

/**
 * n indices drawn from `pool` (dataset indices; every index when omitted) stratified by class, at
 * random by rng, returned in ascending order. Each class present in the pool gets one index first
 * (n smaller than the number of classes: n classes drawn at random get one each), and the rest is shared in proportion to what each class has left (largest
 * remainders, ties broken at random), so the sample has the pool's class mix and no class is
 * favoured by its position in the data. n at least the pool size takes the whole pool.
 */
export function stratifiedSample(labels: ArrayLike<number>, n: number, rng: Rng, pool?: ArrayLike<number>): Int32Array {
  if (!Number.isInteger(n) || n < 0) throw new DataArgError(`stratifiedSample: n must be a non-negative integer, got ${n}`);
  const idx = pool ? Array.from(pool) : Array.from({ length: labels.length }, (_, i) => i);
  const byClass = new Map<number, number[]>();
  for (const i of idx) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0) throw new DataArgError(`stratifiedSample: label ${l} at index ${i} is not a class index`);
    let m = byClass.get(l);
    if (!m) byClass.set(l, (m = []));
    m.push(i);
  }
  if (n >= idx.length) return Int32Array.from(idx.sort((a, b) => a - b));
  // Classes in a random order, so that ties (equal remainders) favour no class by its index.
  const classes = shuffle([...byClass.keys()].sort((a, b) => a - b), rng);
  const quota = new Map<number, number>(classes.map((c) => [c, 0]));
  let left = n;
  if (n < classes.length) {
    for (const c of classes.slice(0, n)) quota.set(c, 1); // n classes at random, one index each
    left = 0;
  } else {
    for (const c of classes) quota.set(c, 1);
    left -= classes.length;
  }
  const spare = (c: number) => byClass.get(c)!.length - quota.get(c)!;
  const total = classes.reduce((a, c) => a + spare(c), 0);
  const share = classes.map((c) => ({ c, exact: total ? (left * spare(c)) / total : 0 }));
  for (const s of share) { const f = Math.floor(s.exact); quota.set(s.c, quota.get(s.c)! + f); left -= f; }
  // Stable sort: equal remainders keep the random class order.
  for (const s of [...share].sort((a, b) => (b.exact - Math.floor(b.exact)) - (a.exact - Math.floor(a.exact)))) {
    if (left <= 0) break;
    if (spare(s.c) > 0) { quota.set(s.c, quota.get(s.c)! + 1); left--; }
  }
  for (const c of classes) while (left > 0 && spare(c) > 0) { quota.set(c, quota.get(c)! + 1); left--; } // rounding slack, if any
  const out: number[] = [];
  for (const c of classes) out.push(...shuffle([...byClass.get(c)!], rng).slice(0, quota.get(c)!));
  return Int32Array.from(out.sort((a, b) => a - b));
}

/** How many of `indices` fall in each class 0..numClasses-1. */
export function countPerClass(labels: ArrayLike<number>, indices: ArrayLike<number>, numClasses: number): number[] {
  const out = new Array(numClasses).fill(0);
  for (let i = 0; i < indices.length; i++) out[labels[indices[i]]]++;
  return out;
}

/** The labels of a dataset (calls get(i) for each; cheap for IDX and folder datasets' `labels`). */
export function labelsOf(ds: Dataset & { labels?: ArrayLike<number> }): Int32Array {
  if (ds.labels) return Int32Array.from(ds.labels);
  const out = new Int32Array(ds.length);
  for (let i = 0; i < ds.length; i++) out[i] = ds.get(i).y;
  return out;
}

/**
 * Iterates over ds in batches of batchSize examples. Each yielded batch owns fresh arrays sized to
 * its own n (the last one may be smaller unless dropLast), so it can be kept or uploaded as is.
 */
export function* batches(ds: Dataset, batchSize: number, options: BatchOptions = {}): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new DataArgError(`batches: batchSize must be a positive integer, got ${batchSize}`);
  if (options.shuffle && !options.rng) throw new DataArgError('batches: shuffle needs an rng (pass { shuffle: true, rng: new Rng(seed) }) so the order is reproducible');
  const order = new Int32Array(ds.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  if (options.shuffle) shuffle(order, options.rng!);
  let size = -1;
  for (let start = 0; start < order.length; start += batchSize) {
    const n = Math.min(batchSize, order.length - start);
    if (n < batchSize && options.dropLast) return;
    const indices = order.slice(start, start + n);
    const y = new Int32Array(n);
    let x: Float32Array | null = null;
    for (let b = 0; b < n; b++) {
      const ex = ds.get(indices[b]);
      if (size < 0) size = ex.x.length;
      if (ex.x.length !== size) throw new DataArgError(`batches: example ${indices[b]} has ${ex.x.length} values, earlier ones ${size}; preprocess every example to one size`);
      x ??= new Float32Array(n * size);
      x.set(ex.x, b * size);
      y[b] = ex.y;
    }
    yield { x: x!, y, n, indices };
  }
}

/** An IDX image set (e.g. Fashion-MNIST) as a dataset preprocessed for a backbone. */
export interface ImageSetDataset extends Dataset {
  /** The raw labels, without decoding any image. */
  readonly labels: Uint8Array;
}

/**
 * Fashion-MNIST-like grey images as backbone inputs, e.g. 28x28 grey → 3x32x32 normalised for the
 * CIFAR ResNet-20. With `augment`, each get(i) draws fresh flips/crops from augment.rng.
 */
export function idxDataset(set: IdxImageSet, spec: PreprocessSpec, augment?: Augment): ImageSetDataset {
  const { images, labels, n, height, width } = set;
  const hw = height * width;
  return {
    length: n,
    labels,
    get(i) {
      checkIndex(i, n, 'idxDataset');
      return { x: preprocess(fromGray(images.subarray(i * hw, (i + 1) * hw), width, height), spec, augment), y: labels[i] };
    },
  };
}
