/**
 * The fine-tuning loop: freeze, train, evaluate, with the frozen-trunk feature cache.
 *
 * When every trunk parameter is frozen, the trunk's norms run in inference mode, it has no active
 * dropout and no random augmentation comes before it, the trunk is a fixed function: its features
 * are computed once per sample and the head trains from the cache. Otherwise the full network runs
 * every step, and autograd still records nothing below the lowest trainable layer.
 */
import type { Classifier } from '../models/types.ts';
import type { Dataset } from './data/dataset.ts';
import { batches } from './data/dataset.ts';
import { Rng } from './data/rng.ts';
import { tensor } from './factory.ts';
import { Tensor, tidy, keep } from './tensor.ts';
import { backward, noGrad } from './autograd.ts';
import { runtime } from './runtime.ts';
import { crossEntropy } from '../kernels/softmax/softmax.ts';
import { SGD, Adam, AdamW, Scheduler, cosine, constant, oneCycle, warmup, clipGradNorm } from './optim/index.ts';
import type { Optimizer } from './optim/optimizer.ts';
import { ThawError } from './errors.ts';

export interface FinetuneOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer?: 'sgd' | 'adam' | 'adamw';
  momentum?: number;
  weightDecay?: number;
  schedule?: 'constant' | 'cosine' | 'onecycle' | 'warmup-cosine';
  /** Clip gradients to this global L2 norm. */
  clipNorm?: number;
  seed?: number;
  /** 'auto' (default) uses the cache when valid; 'off' never does. */
  featureCache?: 'auto' | 'off';
  /** True when the training dataset applies random augmentation (invalidates the cache). */
  augmented?: boolean;
  numClasses: number;
  /** Called after every step and epoch. */
  onProgress?: (p: Progress) => void;
  log?: (line: string) => void;
}

export interface Progress {
  epoch: number; epochs: number; step: number; stepsPerEpoch: number; loss: number; imagesPerSec: number; phase: 'features' | 'train';
}

export interface EpochStats { epoch: number; loss: number; trainAcc: number; testAcc?: number; seconds: number; imagesPerSec: number; lr: number }

export interface FinetuneResult {
  epochs: EpochStats[];
  usedCache: boolean;
  cacheReason: string;
  /** Seconds spent computing cached features (0 without the cache). */
  cacheSeconds: number;
  seconds: number;
  dispatchesPerStep: number;
  optimizerStateBytes: number;
}

/** Why the frozen-trunk cache cannot be used, or null when it can. */
export function cacheBlocker(model: Classifier, augmented: boolean): string | null {
  if (augmented) return 'random augmentation changes the trunk input every epoch';
  const head = model.headPrefix + '.';
  const trainableTrunk = model.namedParameters().find(([k, p]) => p.requiresGrad && !k.startsWith(head));
  if (trainableTrunk) return `trunk parameter '${trainableTrunk[0]}' is trainable`;
  for (const [path, m] of model.namedModules()) {
    if (path.startsWith(head) || path === model.headPrefix) continue;
    const isNorm = m.namedBuffers().some(([k]) => k === 'running_mean');
    if (isNorm && !m.frozenNorm) return `norm layer '${path}' would use batch statistics (freeze it to put it in inference mode)`;
    if ((m as any).p > 0 && m.constructor.name === 'Dropout') return `dropout '${path}' is active in the trunk`;
  }
  return null;
}

function makeOptimizer(model: Classifier, o: FinetuneOptions): Optimizer<any> {
  const params = model.trainableParameters();
  if (!params.length) throw new ThawError('finetune', 'nothing to train: every parameter is frozen (unfreeze the head at least)');
  const wd = o.weightDecay ?? 0;
  switch (o.optimizer ?? 'sgd') {
    case 'sgd': return new SGD(params, { lr: o.lr, momentum: o.momentum ?? 0.9, weightDecay: wd, nesterov: (o.momentum ?? 0.9) > 0 });
    case 'adam': return new Adam(params, { lr: o.lr, weightDecay: wd });
    case 'adamw': return new AdamW(params, { lr: o.lr, weightDecay: wd || 0.01 });
    default: throw new ThawError('finetune', `unknown optimizer '${o.optimizer}' (sgd, adam, adamw)`);
  }
}

function makeSchedule(o: FinetuneOptions, totalSteps: number) {
  switch (o.schedule ?? 'cosine') {
    case 'constant': return constant();
    case 'cosine': return cosine(totalSteps);
    case 'onecycle': return oneCycle(totalSteps);
    case 'warmup-cosine': return warmup(Math.max(1, Math.round(totalSteps * 0.05)), cosine(totalSteps));
    default: throw new ThawError('finetune', `unknown schedule '${o.schedule}' (constant, cosine, onecycle, warmup-cosine)`);
  }
}

/** Computes trunk features for a whole dataset (inference mode, no grad). Returns (N, F) on the host. */
export async function computeFeatures(model: Classifier, ds: Dataset, batchSize: number, onBatch?: (done: number) => void): Promise<Float32Array> {
  const F = model.featureDim;
  const out = new Float32Array(ds.length * F);
  let done = 0;
  for (const b of batches(ds, batchSize)) {
    const f = noGrad(() => tidy(() => model.features(tensor(b.x, [b.n, ...shapeOf(ds, b)]))));
    out.set(await f.data(), done * F);
    f.dispose();
    done += b.n;
    onBatch?.(done);
  }
  return out;
}

function shapeOf(ds: Dataset, b: { x: Float32Array; n: number }): number[] {
  const per = b.x.length / b.n;
  const c = 3, hw = Math.round(Math.sqrt(per / c));
  if (c * hw * hw !== per) throw new ThawError('finetune', `cannot infer a square 3xHxW input from ${per} values per sample`);
  return [c, hw, hw];
}

/** Top-1 accuracy and confusion matrix (rows: true class) on a dataset, in inference mode. */
export async function evaluate(model: Classifier, ds: Dataset, batchSize: number, numClasses: number, features?: Float32Array):
  Promise<{ accuracy: number; confusion: number[][]; predictions: Int32Array }> {
  const wasTraining = model.training;
  model.eval();
  const confusion = Array.from({ length: numClasses }, () => new Array(numClasses).fill(0));
  const predictions = new Int32Array(ds.length);
  let correct = 0, seen = 0;
  try {
    for (const b of batches(ds, batchSize)) {
      const logits = noGrad(() => tidy(() => features
        ? model.head.forward(tensor(features.subarray(seen * model.featureDim, (seen + b.n) * model.featureDim), [b.n, model.featureDim]))
        : model.forward(tensor(b.x, [b.n, ...shapeOf(ds, b)]))));
      const L = await logits.data();
      logits.dispose();
      for (let i = 0; i < b.n; i++) {
        let arg = 0;
        for (let c = 1; c < numClasses; c++) if (L[i * numClasses + c] > L[i * numClasses + arg]) arg = c;
        predictions[seen + i] = arg;
        confusion[b.y[i]][arg]++;
        if (arg === b.y[i]) correct++;
      }
      seen += b.n;
    }
  } finally {
    model.train(wasTraining);
  }
  return { accuracy: correct / Math.max(seen, 1), confusion, predictions };
}

/** Fine-tunes `model` on `train` (its trainable parameters only), evaluating on `test` after each epoch. */
export async function finetune(model: Classifier, train: Dataset, test: Dataset | null, o: FinetuneOptions): Promise<FinetuneResult> {
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const blocker = o.featureCache === 'off' ? 'disabled by option' : cacheBlocker(model, !!o.augmented);
  const usedCache = blocker === null;
  log(usedCache ? 'feature cache: on — the trunk is frozen and deterministic, so its features are computed once per sample and the head trains from the cache'
    : `feature cache: off — ${blocker}`);
  let trainFeat: Float32Array | undefined, testFeat: Float32Array | undefined;
  let cacheSeconds = 0;
  if (usedCache) {
    const c0 = performance.now();
    const total = train.length + (test?.length ?? 0);
    const progress = (done: number) => o.onProgress?.({ epoch: 0, epochs: o.epochs, step: done, stepsPerEpoch: total, loss: NaN, imagesPerSec: done / ((performance.now() - c0) / 1000), phase: 'features' });
    model.eval();
    trainFeat = await computeFeatures(model, train, o.batchSize, progress);
    if (test) testFeat = await computeFeatures(model, test, o.batchSize, (d) => progress(train.length + d));
    cacheSeconds = (performance.now() - c0) / 1000;
  }
  model.train();
  const rng = new Rng(o.seed ?? 0);
  const stepsPerEpoch = Math.ceil(train.length / o.batchSize);
  const opt = makeOptimizer(model, o);
  const sched = new Scheduler(opt, makeSchedule(o, stepsPerEpoch * o.epochs));
  const epochs: EpochStats[] = [];
  let dispatchesPerStep = 0;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const e0 = performance.now();
    let lossSum = 0, correct = 0, seen = 0, step = 0;
    const pending: { loss: Tensor; logits: Tensor; y: Int32Array }[] = [];
    const drain = async () => {
      for (const p of pending.splice(0)) {
        lossSum += (await p.loss.item()) * p.y.length;
        const L = await p.logits.data();
        const C = o.numClasses;
        for (let i = 0; i < p.y.length; i++) {
          let arg = 0;
          for (let c = 1; c < C; c++) if (L[i * C + c] > L[i * C + arg]) arg = c;
          if (arg === p.y[i]) correct++;
        }
        p.loss.dispose(); p.logits.dispose();
      }
    };
    for (const b of batches(train, o.batchSize, { shuffle: true, rng })) {
      const d0 = runtime().dispatches;
      const { loss, logits } = tidy(() => {
        const labels = tensor(b.y, [b.n], 'i32');
        const logits = trainFeat
          ? model.head.forward(tensor(gatherRows(trainFeat, b.indices, model.featureDim), [b.n, model.featureDim]))
          : model.forward(tensor(b.x, [b.n, ...shapeOf(train, b)]));
        const loss = crossEntropy(logits, labels);
        backward(loss);
        return { loss: keep(loss), logits: keep(logits) };
      });
      if (o.clipNorm) clipGradNorm(model.trainableParameters(), o.clipNorm).dispose();
      opt.step();
      opt.zeroGrad();
      sched.step();
      dispatchesPerStep = runtime().dispatches - d0;
      pending.push({ loss, logits, y: Int32Array.from(b.y) });
      seen += b.n;
      step++;
      // Read results back every few steps: each readback waits for the GPU.
      if (pending.length >= 8 || seen === train.length) await drain();
      o.onProgress?.({ epoch, epochs: o.epochs, step, stepsPerEpoch, loss: lossSum / Math.max(1, seen - pendingCount(pending)), imagesPerSec: seen / ((performance.now() - e0) / 1000), phase: 'train' });
    }
    await drain();
    const seconds = (performance.now() - e0) / 1000;
    const stats: EpochStats = { epoch, loss: lossSum / seen, trainAcc: correct / seen, seconds, imagesPerSec: seen / seconds, lr: opt.groups[0].lr };
    if (test) stats.testAcc = (await evaluate(model, test, o.batchSize, o.numClasses, testFeat)).accuracy;
    epochs.push(stats);
    log(`epoch ${epoch}/${o.epochs}: loss ${stats.loss.toFixed(4)}, train acc ${(stats.trainAcc * 100).toFixed(1)}%` +
      (stats.testAcc !== undefined ? `, test acc ${(stats.testAcc * 100).toFixed(1)}%` : '') + `, ${stats.imagesPerSec.toFixed(0)} img/s`);
  }
  const optimizerStateBytes = opt.stateBytes();
  return { epochs, usedCache, cacheReason: blocker ?? 'trunk frozen and deterministic', cacheSeconds, seconds: (performance.now() - t0) / 1000, dispatchesPerStep, optimizerStateBytes };
}

function pendingCount(p: { y: Int32Array }[]): number { return p.reduce((a, x) => a + x.y.length, 0); }

function gatherRows(src: Float32Array, idx: ArrayLike<number>, F: number): Float32Array {
  const out = new Float32Array(idx.length * F);
  for (let i = 0; i < idx.length; i++) out.set(src.subarray(idx[i] * F, (idx[i] + 1) * F), i * F);
  return out;
}
