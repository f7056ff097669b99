/**
 * The frozen-trunk feature cache: which leading stages of a trunk are a fixed function (frozen,
 * norms in inference mode, no active dropout, no random augmentation before them), the split of the
 * forward pass at that point, and the host-side cache of per-sample representations.
 */
import { type Classifier, runStages } from './types.ts';
import { isNormalization, isStochastic, batchDependentInTraining } from '../nn/roles.ts';
import { type Dataset, batches } from '../data/dataset.ts';
import { tensor } from '../core/factory.ts';
import { type Tensor, tidy, noGrad } from '../core/tensor.ts';
import { tensorFromHalfBits } from '../core/factory.ts';
import { fromHalfBits } from '../core/half.ts';
import { cast } from '../../kernels/index.ts';
import { ThawError } from '../core/errors.ts';

/** Where the fine-tuning loop caches: the number of leading trunk stages that are fixed, and why not more. */
export interface CachePlan {
  /** Cached stages: 0 = no cache; stages.length (or 'all' for models without stages) = the whole trunk. */
  stages: number;
  all: boolean;
  reason: string;
}

/**
 * Why the modules under `prefixes` are not a fixed function in training mode (trainable, norms using
 * batch statistics, random layers such as dropout), or null.
 */
function notFixed(model: Classifier, prefixes: string[]): string | null {
  const under = (k: string) => prefixes.some((p) => k === p || k.startsWith(p + '.'));
  const trainable = model.namedParameters().find(([k, p]) => p.requiresGrad && under(k));
  if (trainable) return `'${trainable[0]}' is trainable`;
  for (const [path, m] of model.namedModules()) {
    if (!under(path)) continue;
    if (isNormalization(m) && batchDependentInTraining(m)) {
      return m.runningMean ? `norm layer '${path}' would use batch statistics (freeze it to put it in inference mode)` : `norm layer '${path}' has no running statistics, so it always uses batch statistics`;
    }
    if (isStochastic(m) && m.randomInTraining) return `dropout '${path}' is active`;
  }
  return null;
}

/** Plans the feature cache: the longest prefix of trunk stages that is frozen and deterministic. */
export function planCache(model: Classifier, augmented: boolean): CachePlan {
  if (augmented) return { stages: 0, all: false, reason: 'random augmentation changes the trunk input every epoch' };
  const stages = model.stages?.();
  if (!stages) {
    const trunk = model.namedParameters().map(([k]) => k.split('.')[0]).filter((k) => k !== model.headPrefix);
    const why = notFixed(model, [...new Set(trunk)]);
    return why ? { stages: 0, all: false, reason: `trunk: ${why}` } : { stages: 0, all: true, reason: 'the whole trunk is frozen and deterministic' };
  }
  let k = 0, why: string | null = null;
  for (; k < stages.length; k++) {
    why = notFixed(model, stages[k].prefixes);
    if (why) break;
  }
  if (k === stages.length) return { stages: k, all: true, reason: 'the whole trunk is frozen and deterministic' };
  return { stages: k, all: false, reason: k ? `stages ${stages.slice(0, k).map((s) => s.name).join(', ')} are fixed; stage '${stages[k].name}': ${why}` : `stage '${stages[0].name}': ${why}` };
}

/** Why the whole trunk cannot be cached, or null when it can (a yes/no view of planCache). */
export function cacheBlocker(model: Classifier, augmented: boolean): string | null {
  const p = planCache(model, augmented);
  return p.all ? null : p.reason;
}

/**
 * A forward split at a cache point: `prefix` maps an input batch to the cached representation,
 * `rest` maps that representation to logits.
 */
export interface Split { prefix: (x: Tensor) => Tensor; rest: (h: Tensor) => Tensor; }

export function splitAt(model: Classifier, plan: CachePlan): Split {
  const stages = model.stages?.();
  if (!stages) return plan.all ? { prefix: (x) => model.features(x), rest: (h) => model.head.forward(h) } : { prefix: (x) => x, rest: (x) => model.forward(x) };
  const k = plan.stages;
  return {
    prefix: (x) => runStages(stages.slice(0, k), x),
    rest: (h) => model.head.forward(runStages(stages.slice(k), h)),
  };
}

/**
 * A host-side cache of per-sample representations (N rows of `shape`): f32 values, or with `half`
 * IEEE half bits (the features rounded to f16 on the GPU: half the memory, and half the upload per batch).
 */
export interface FeatureCache { data: Float32Array | Uint16Array; shape: number[]; per: number; half?: boolean }

/** Runs `prefix` over a whole dataset in inference mode without gradients; returns the host cache (in f16 with `half`). */
export async function computeCache(model: Classifier, ds: Dataset, batchSize: number, prefix: (x: Tensor) => Tensor, onBatch?: (done: number) => void, half = false): Promise<FeatureCache> {
  let cache: FeatureCache | null = null;
  let done = 0;
  const was = model.training;
  model.eval();
  try {
    for (const b of batches(ds, batchSize)) {
      const f = noGrad(() => tidy(() => {
        const y = prefix(tensor(b.x, [b.n, ...shapeOf(b)]));
        return half ? cast(y, 'f16') : y;
      }));
      if (!cache) {
        const shape = f.shape.slice(1);
        const per = shape.reduce((a, c) => a * c, 1);
        cache = { data: half ? new Uint16Array(ds.length * per) : new Float32Array(ds.length * per), shape, per, half };
      }
      cache.data.set(half ? await f.halfBits() : await f.data(), done * cache.per);
      f.dispose();
      done += b.n;
      onBatch?.(done);
    }
  } finally {
    model.train(was);
  }
  return cache ?? { data: new Float32Array(0), shape: [], per: 0 };
}

/** Trunk features (N, featureDim) of a whole dataset (inference mode, no grad). */
export async function computeFeatures(model: Classifier, ds: Dataset, batchSize: number, onBatch?: (done: number) => void): Promise<Float32Array> {
  return (await computeCache(model, ds, batchSize, (x) => model.features(x), onBatch)).data as Float32Array;
}

export function shapeOf(b: { x: Float32Array; n: number }): number[] {
  const per = b.x.length / b.n;
  const c = 3, hw = Math.round(Math.sqrt(per / c));
  if (c * hw * hw !== per) throw new ThawError('finetune', `cannot infer a square 3xHxW input from ${per} values per sample`);
  return [c, hw, hw];
}

/** The cached rows of samples `idx`, in order, as stored (an f16 cache's as halves). */
function rows(cache: FeatureCache, idx: ArrayLike<number>): Float32Array | Uint16Array {
  const out = cache.half ? new Uint16Array(idx.length * cache.per) : new Float32Array(idx.length * cache.per);
  for (let i = 0; i < idx.length; i++) out.set(cache.data.subarray(idx[i] * cache.per, (idx[i] + 1) * cache.per), i * cache.per);
  return out;
}

/** The cached features of samples `idx`, in order, on the host as f32 (an f16 cache's widened exactly). */
export function cachedRows(cache: FeatureCache, idx: ArrayLike<number>): Float32Array {
  const r = rows(cache, idx);
  return r instanceof Uint16Array ? fromHalfBits(r) : r;
}

/** The cached rows `idx` as an f32 tensor (an f16 cache is uploaded as halves and widened on the GPU). */
export function cachedBatch(cache: FeatureCache, idx: ArrayLike<number>): Tensor {
  const r = rows(cache, idx), shape = [idx.length, ...cache.shape];
  if (!(r instanceof Uint16Array)) return tensor(r, shape);
  const h = tensorFromHalfBits(r, shape), f = cast(h, 'f32');
  h.dispose();
  return f;
}

