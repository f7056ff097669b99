/**
 * The fine-tuning loop: freeze, train, evaluate, with the frozen-trunk feature cache.
 *
 * When every trunk parameter is frozen, the trunk's norms run in inference mode, it has no active
 * dropout and no random augmentation comes before it, the trunk is a fixed function: its features
 * are computed once per sample and the head trains from the cache. Otherwise the full network runs
 * every step, and autograd still records nothing below the lowest trainable layer.
 *
 * Full batches repeat one fixed-shape step (the head on cached features, or the whole network): it is
 * recorded once (engine/core/recording.ts) and replayed with one submit per step, each batch written
 * into the recording's input tensors. The first full step runs eagerly (it makes the optimizer state),
 * the second is recorded; a smaller last batch runs eagerly, and a step the recording refuses (the
 * log says why) runs eagerly throughout.
 */
import type { Classifier } from './types.ts';
import type { Module } from '../nn/module.ts';
import type { Dataset } from '../data/dataset.ts';
import { batches } from '../data/dataset.ts';
import { Rng } from '../data/rng.ts';
import { tensor, clone } from '../core/factory.ts';
import { Tensor, tidy, keep, noGrad } from '../core/tensor.ts';
import { backward } from '../autograd/backward.ts';
import { runtime, requireF16 } from '../core/runtime.ts';
import { record, type Recording } from '../core/recording.ts';
import { SGD, Adam, AdamW, Scheduler, cosine, constant, oneCycle, warmup, clipGradNorm, LossScaler, type LossScalerOptions } from '../optim/index.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { type CachePlan, type FeatureCache, planCache, splitAt, computeCache, shapeOf, cachedBatch, cachedRows } from './feature_cache.ts';
import { ThawError } from '../core/errors.ts';
import { freezeTo } from './freeze.ts';
import { isNormalization, isStochastic, type Normalization } from '../nn/roles.ts';
import { warmupPipelines, type WarmupResult } from './warmup.ts';
import { crossEntropy, cast, autocast, HalfWeights, encodeFiniteCheck, findNonFinite, NonFiniteError, type NonFiniteReport, type PendingFiniteCheck } from '../../kernels/index.ts';

export { planCache, cacheBlocker, computeCache, computeFeatures, type CachePlan, type FeatureCache } from './feature_cache.ts';

/** Options of `finetune`: epochs, optimizer and schedule, batch size, the feature cache, seeding, logging. */
export interface FinetuneOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer?: 'sgd' | 'adam' | 'adamw';
  momentum?: number;
  /** L2 penalty (SGD, Adam) or decoupled decay (AdamW); default 0, AdamW 0.01. An explicit 0 is 0 for all three. */
  weightDecay?: number;
  schedule?: 'constant' | 'cosine' | 'onecycle' | 'warmup-cosine';
  /** Discriminative rates [input side, head] over the model's layer groups (overrides lr per group). */
  lrRange?: [number, number];
  /** Cross-entropy label smoothing in [0, 1] (PyTorch's `label_smoothing`); default 0. */
  labelSmoothing?: number;
  /** Clip gradients to this global L2 norm. */
  clipNorm?: number;
  /** Seeds the data order and every dropout mask (default 0): the same seed gives the same run. */
  seed?: number;
  /** 'auto' (default) uses the cache when valid; 'off' never does. */
  featureCache?: 'auto' | 'off';
  /**
   * 'f32' (default), or 'mixed' (needs the adapter's 'shader-f16'), as torch.autocast with a
   * GradScaler: the feature cache holds the frozen prefix's outputs in f16; the training step runs
   * under `autocast` (kernels/autocast.ts: matmuls and convs on f16 operands, batch norm with
   * f32 statistics, loss, softmax, layer norm and reductions in f32), weights cast to f16 from their f32 masters once per step, frozen ones once per
   * run; the loss is scaled dynamically (`lossScale`), gradients, masters and optimizer state are f32,
   * and a step whose gradients overflow is skipped on the GPU. Evaluation runs in f32 on the masters.
   * 'f16' (weights held in f16, no masters) is refused: updates below half an f16 step of a weight
   * would be lost.
   */
  precision?: 'f32' | 'mixed' | 'f16';
  /** Dynamic loss scaling of precision 'mixed' (LossScaler: initial 2^16, ×2 every 2000 good steps, ×0.5 on overflow). */
  lossScale?: LossScalerOptions;
  /** True when the training dataset applies random augmentation (invalidates the cache). */
  augmented?: boolean;
  numClasses: number;
  /**
   * Momentum of the BatchNorm layers that train (not frozen), PyTorch's convention; default: each
   * layer keeps its own. Keras checkpoints bring 0.001 (Keras' 0.999), whose running statistics
   * barely leave the pre-trained values in a short fine-tune. 'auto': 0.1 for the layers whose own
   * momentum would keep more than 10% of their old statistics after the run, the others unchanged.
   */
  bnMomentum?: number | 'auto';
  /** Record the full-batch training step once and replay it (one submit per step); default true. */
  replay?: boolean;
  /** Evaluate on the test set every this many epochs (and after the last); default 1. */
  evalEvery?: number;
  /** What the log calls the per-epoch evaluation set ('test', or 'val' when a validation split is passed as `test`); default 'test'. */
  evalName?: string;
  /** Called after every step and epoch. */
  onProgress?: (p: Progress) => void;
  /** Receives the run's report lines (cache plan, warnings); default: none. */
  log?: (line: string) => void;
}

/** A progress report of `finetune` (per step and epoch): position, loss, throughput, phase. */
export interface Progress {
  epoch: number; epochs: number; step: number; stepsPerEpoch: number; loss: number; imagesPerSec: number; phase: 'features' | 'train';
}

/** One epoch of `finetune`: mean training loss, training and test accuracy, time, rate and learning rate. */
export interface EpochStats { epoch: number; loss: number; trainAcc: number; testAcc?: number; seconds: number; imagesPerSec: number; lr: number }

/** What `finetune` returns: per-epoch statistics, whether and what it cached, timings. */
export interface FinetuneResult {
  epochs: EpochStats[];
  usedCache: boolean;
  cacheReason: string;
  /** How much of the trunk was cached: 'all', or the number of leading stages. */
  cachedStages: number | 'all';
  /** Seconds spent computing cached features (0 without the cache). */
  cacheSeconds: number;
  seconds: number;
  dispatchesPerStep: number;
  optimizerStateBytes: number;
  /** Training steps run by replaying the recorded step (the others ran eagerly). */
  replayedSteps: number;
  /** Why full batches did not replay ('' when they did, or when replay was off). */
  replayReason: string;
  precision: 'f32' | 'mixed';
  /** Steps whose update was skipped because their scaled gradients overflowed (precision 'mixed'; else 0). */
  skippedSteps: number;
  /** The loss scale at the end (precision 'mixed'; else 1). */
  lossScale: number;
  /** Most GPU memory held by live tensors during the run (the buffer pool's peak), in bytes. */
  peakGpuBytes: number;
  /** Host memory of the feature cache (training and test sets), in bytes; 0 without the cache. */
  featureCacheBytes: number;
}

/**
 * Parameter groups with discriminative learning rates: one group per layer group that has trainable
 * parameters, rates spaced geometrically from lrRange[0] (input side) to lrRange[1] (head), as
 * fastai's `slice(lo, hi)`. Without lrRange, one group at `lr`.
 */
export function paramGroups(model: Classifier, o: Pick<FinetuneOptions, 'lr' | 'lrRange'>): { params: [string, Tensor][]; lr: number }[] {
  const params = model.trainableParameters();
  if (!params.length) throw new ThawError('finetune', 'nothing to train: every parameter is frozen (unfreeze the head at least)');
  if (!o.lrRange) return [{ params, lr: o.lr }];
  const under = (k: string, p: string) => k === p || k.startsWith(p + '.');
  const groups = model.layerGroups().map((prefixes) => params.filter(([k]) => prefixes.some((p) => under(k, p)))).filter((g) => g.length);
  const rest = params.filter(([k]) => !groups.some((g) => g.some(([n]) => n === k)));
  if (rest.length) groups[groups.length - 1].push(...rest);
  const [lo, hi] = o.lrRange;
  return groups.map((g, i) => ({ params: g, lr: groups.length === 1 ? hi : lo * (hi / lo) ** (i / (groups.length - 1)) }));
}

const OPTIMIZERS = ['sgd', 'adam', 'adamw'] as const;
const SCHEDULES = ['constant', 'cosine', 'onecycle', 'warmup-cosine'] as const;

/** @internal The optimizer a run uses (exported for tests). */
export function makeOptimizer(model: Classifier, o: FinetuneOptions): Optimizer<any> {
  const params = paramGroups(model, o);
  const wd = o.weightDecay ?? 0;
  switch (o.optimizer ?? 'sgd') {
    case 'sgd': return new SGD(params, { lr: o.lr, momentum: o.momentum ?? 0.9, weightDecay: wd, nesterov: (o.momentum ?? 0.9) > 0 });
    case 'adam': return new Adam(params, { lr: o.lr, weightDecay: wd });
    case 'adamw': return new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay ?? 0.01 });
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

/** Refuses labels outside 0..C-1 (cross-entropy would turn them into a NaN loss, the confusion matrix into a crash). */
function checkLabels(y: Int32Array, C: number, what: string, indices: Int32Array): void {
  for (let i = 0; i < y.length; i++) {
    if (!(y[i] >= 0 && y[i] < C)) {
      throw new ThawError('finetune', `${what} example ${indices[i]} has label ${y[i]}, outside 0..${C - 1} (numClasses ${C}); give numClasses as the number of classes of the data`);
    }
  }
}

function argmaxRows(L: Float32Array, n: number, C: number, out: (i: number, arg: number) => void): void {
  for (let i = 0; i < n; i++) {
    let arg = 0;
    for (let c = 1; c < C; c++) if (L[i * C + c] > L[i * C + arg]) arg = c;
    out(i, arg);
  }
}

/** Top-1 accuracy and confusion matrix (rows: true class) on a dataset, in inference mode. */
export async function evaluate(model: Classifier, ds: Dataset, batchSize: number, numClasses: number,
  cached?: { cache: FeatureCache; rest: (h: Tensor) => Tensor }): Promise<{ accuracy: number; confusion: number[][]; predictions: Int32Array }> {
  const wasTraining = model.training;
  model.eval();
  if (ds.length === 0) throw new ThawError('finetune', 'evaluate: the dataset is empty, so it has no accuracy');
  const confusion = Array.from({ length: numClasses }, () => new Array(numClasses).fill(0));
  const predictions = new Int32Array(ds.length);
  let correct = 0, seen = 0;
  try {
    for (const b of batches(ds, batchSize)) {
      checkLabels(b.y, numClasses, 'evaluation', b.indices);
      const logits = noGrad(() => tidy(() => cached
        ? cached.rest(cachedBatch(cached.cache, b.indices.map((_, i) => seen + i)))
        : model.forward(tensor(b.x, [b.n, ...shapeOf(b)]))));
      const L = await logits.data();
      logits.dispose();
      argmaxRows(L, b.n, numClasses, (i, arg) => {
        predictions[seen + i] = arg;
        confusion[b.y[i]][arg]++;
        if (arg === b.y[i]) correct++;
      });
      seen += b.n;
    }
  } finally {
    model.train(wasTraining);
  }
  return { accuracy: correct / Math.max(seen, 1), confusion, predictions };
}

/**
 * Compiles the pipelines that fine-tuning `model` on `train` with `o` runs (inference, and the
 * training step with its optimizer, clipping and finiteness check) before the first of them runs.
 * finetune() calls it; call it before your own evaluation of the model to warm that up too.
 */
export async function warmupFinetune(model: Classifier, train: Dataset, o: FinetuneOptions): Promise<WarmupResult> {
  const shape = [Math.max(1, Math.min(o.batchSize, train.length)), ...shapeOf({ x: train.get(0).x, n: 1 })];
  return warmupPipelines(model, shape, {
    train: true, optimizer: () => makeOptimizer(model, o), clipNorm: o.clipNorm, labelSmoothing: o.labelSmoothing, finiteCheck: true,
  });
}

/**
 * Fine-tunes `model` on `train` (its trainable parameters only), evaluating on `test` after each
 * epoch. With the cache, the fixed prefix of the trunk runs once per sample, not once per epoch.
 */
export async function finetune(model: Classifier, train: Dataset, test: Dataset | null, o: FinetuneOptions): Promise<FinetuneResult> {
  // Refused before any work (the feature cache can take minutes): a run that could only train to nothing.
  if (!(Number.isInteger(o.numClasses) && o.numClasses >= 2)) throw new ThawError('finetune', `numClasses must be an integer of at least 2, got ${o.numClasses}: a 1-class head predicts its one class whatever the input`);
  if (train.length === 0) throw new ThawError('finetune', 'the training set is empty');
  if (test && test.length === 0) throw new ThawError('finetune', 'the test set is empty (pass null to train without evaluating)');
  if (!model.trainableParameters().length) throw new ThawError('finetune', 'nothing to train: every parameter is frozen (unfreeze the head at least)');
  if (!(OPTIMIZERS as readonly string[]).includes(o.optimizer ?? 'sgd')) throw new ThawError('finetune', `unknown optimizer '${o.optimizer}' (${OPTIMIZERS.join(', ')})`);
  if (!(SCHEDULES as readonly string[]).includes(o.schedule ?? 'cosine')) throw new ThawError('finetune', `unknown schedule '${o.schedule}' (${SCHEDULES.join(', ')})`);
  if (!(o.lr > 0 && Number.isFinite(o.lr))) throw new ThawError('finetune', `lr must be a positive finite number, got ${o.lr}`);
  const precision = o.precision ?? 'f32';
  if (precision === 'f16') throw new ThawError('finetune', "precision 'f16' (weights held in f16, no f32 masters) is refused: updates smaller than half an f16 step of a weight would be lost; use 'mixed' (f16 compute, f32 masters and loss scaling) or 'f32'");
  if (precision !== 'f32' && precision !== 'mixed') throw new ThawError('finetune', `unknown precision '${precision}' (f32, mixed)`);
  if (precision === 'mixed') requireF16("precision 'mixed'");
  const mixed = precision === 'mixed';
  // Checked before any work (throws on bad options); its buffers are made here and freed at the end.
  const scaler = mixed ? new LossScaler(o.lossScale) : null;
  const halves = mixed ? new HalfWeights(model.parameters().filter((p) => !p.requiresGrad)) : null;
  try {
    const { result, peakBytes } = await runtime().pool.measurePeak(() => run(model, train, test, o, scaler, halves));
    return { ...result, peakGpuBytes: peakBytes };
  } finally {
    scaler?.dispose();
    halves?.dispose();
  }
}

async function run(model: Classifier, train: Dataset, test: Dataset | null, o: FinetuneOptions, scaler: LossScaler | null, halves: HalfWeights | null): Promise<Omit<FinetuneResult, 'peakGpuBytes'>> {
  const precision = scaler ? 'mixed' : 'f32';
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const warm = await warmupFinetune(model, train, o);
  if (warm.pipelines) log(`warmup: ${warm.pipelines} pipelines compiled in ${warm.seconds.toFixed(1)} s`);
  const plan: CachePlan = o.featureCache === 'off' ? { stages: 0, all: false, reason: 'disabled by option' } : planCache(model, !!o.augmented);
  const usedCache = plan.all || plan.stages > 0;
  const split = splitAt(model, usedCache ? plan : { stages: 0, all: false, reason: '' });
  log(plan.all ? 'feature cache: on — the trunk is frozen and deterministic, so its features are computed once per sample and the head trains from the cache'
    : usedCache ? `feature cache: on after ${plan.stages} fixed trunk stage(s) — ${plan.reason}; the frozen prefix runs once per sample`
    : `feature cache: off — ${plan.reason}`);
  if (scaler) log(`precision mixed: ${usedCache ? 'the feature cache holds f16; ' : ''}the training step runs under autocast (matmuls and convs in f16, loss in f32) with f32 master weights and dynamic loss scaling from ${o.lossScale?.init ?? 2 ** 16}`);
  let trainCache: FeatureCache | undefined, testCache: FeatureCache | undefined;
  let cacheSeconds = 0;
  if (usedCache) {
    const c0 = performance.now();
    const total = train.length + (test?.length ?? 0);
    const progress = (done: number) => o.onProgress?.({ epoch: 0, epochs: o.epochs, step: done, stepsPerEpoch: total, loss: NaN, imagesPerSec: done / ((performance.now() - c0) / 1000), phase: 'features' });
    const half = !!scaler;
    trainCache = await computeCache(model, train, o.batchSize, split.prefix, progress, half);
    if (test) testCache = await computeCache(model, test, o.batchSize, split.prefix, (d) => progress(train.length + d), half);
    cacheSeconds = (performance.now() - c0) / 1000;
  }
  model.train();
  seedDropout(model, o.seed ?? 0);
  const rng = new Rng(o.seed ?? 0);
  const stepsPerEpoch = Math.ceil(train.length / o.batchSize);
  checkNormMomentum(model, o, stepsPerEpoch * o.epochs, log);
  const opt = makeOptimizer(model, o);
  const sched = new Scheduler(opt, makeSchedule(o, stepsPerEpoch * o.epochs));
  const epochs: EpochStats[] = [];
  let dispatchesPerStep = 0, globalStep = 0;
  const C = o.numClasses;
  const trainable = model.trainableParameters();
  const lrText = o.lrRange ? `${o.lrRange[0]} to ${o.lrRange[1]}` : String(o.lr);
  const hint = `Lower the learning rate (it is ${lrText}), clip gradients (clipNorm) or check the input data; the model's parameters are no longer finite, so reload them before using it.`;
  let optimizerStateBytes = 0;
  const pending: { check: PendingFiniteCheck; logits: Tensor; y: Int32Array; step: number }[] = [];
  // One training step on (x, labels): forward, loss, backward, clipping, update; the step that is recorded.
  const trainStep = (x: Tensor, labels: Tensor) => {
    const out = tidy(() => {
      const forward = () => {
        const logits = trainCache ? split.rest(x) : model.forward(x);
        return { logits, loss: crossEntropy(logits, labels, { labelSmoothing: o.labelSmoothing ?? 0 }) };
      };
      const { logits, loss } = scaler ? autocast(forward, halves) : forward();
      backward(loss, scaler?.seed(loss));
      return { loss: keep(loss), logits: keep(logits.dtype === 'f32' ? logits : noGrad(() => cast(logits, 'f32'))) };
    });
    // Unscaled before clipping, so the clipping norm is the true one (torch's unscale_ then clip).
    scaler?.unscale(trainable.map(([, p]) => p));
    if (o.clipNorm) clipGradNorm(model.trainableParameters(), o.clipNorm).dispose();
    if (scaler) scaler.step(opt);
    else opt.step();
    opt.zeroGrad();
    return out;
  };
  // The recorded full-batch step, its input tensors, and the recording attempts so far.
  let rec: Recording | null = null, xIn: Tensor | null = null, yIn: Tensor | null = null;
  let tries = o.replay === false ? 2 : 0, replayedSteps = 0, replayReason = '';
  // The optimizer's state and the unread steps are freed however the loop ends (a diverged step throws).
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const e0 = performance.now();
      let lossSum = 0, correct = 0, seen = 0, counted = 0, step = 0;
      // Results are read back every few steps: each readback waits for the GPU. One readback per step
      // brings the loss and whether every trainable parameter stayed finite after the update.
      const drain = async () => {
        const todo = pending.splice(0);
        try {
          for (const p of todo) {
            const { report, carried } = await p.check.read(p.step);
            const loss = carried[0];
            if (report || !Number.isFinite(loss)) {
              const r: NonFiniteReport = Number.isFinite(loss) ? report!
                : { step: p.step, name: 'loss', what: 'value', kind: Number.isNaN(loss) ? 'NaN' : 'Inf', index: 0, bad: ['loss', ...(report?.bad ?? [])] };
              throw new NonFiniteError({ ...r, epoch }, hint);
            }
            lossSum += loss * p.y.length;
            argmaxRows(await p.logits.data(), p.y.length, C, (i, arg) => { if (arg === p.y[i]) correct++; });
            counted += p.y.length;
          }
        } finally {
          for (const p of todo) { p.check.dispose(); p.logits.dispose(); }
        }
      };
      for (const b of batches(train, o.batchSize, { shuffle: true, rng })) {
        checkLabels(b.y, C, 'training', b.indices);
        const d0 = runtime().dispatches;
        let loss: Tensor, logits: Tensor;
        if (b.n === o.batchSize && (rec || tries < 2)) {
          // A full batch: written into the fixed inputs, then replayed, recorded or (first) run eagerly.
          xIn ??= keep(Tensor.alloc(trainCache ? [b.n, ...trainCache.shape] : [b.n, ...shapeOf(b)], 'f32', 'training input'));
          yIn ??= keep(Tensor.alloc([b.n], 'i32', 'training labels'));
          runtime().write(xIn.buffer, trainCache ? cachedRows(trainCache, b.indices) : b.x);
          runtime().write(yIn.buffer, b.y);
          if (rec) {
            rec.replay();
            replayedSteps++;
            // The outputs are rewritten by the next replay: the loss is copied by the finite check, the logits here.
            loss = rec.outputs[0];
            logits = clone(rec.outputs[1]);
          } else {
            const r = record(() => trainStep(xIn!, yIn!));
            tries++;
            ({ loss, logits } = r.result);
            if (r.recording) {
              rec = r.recording;
              const own = logits;
              logits = clone(own);
              own.dispose();
              log(`step replay: on — the full-batch step (${rec.dispatches} dispatches) replays with one submit per step`);
            } else if (tries === 2) {
              replayReason = r.reason;
              log(`step replay: off — the training step cannot be replayed: ${r.reason}`);
            }
          }
        } else {
          const x = trainCache ? cachedBatch(trainCache, b.indices) : tensor(b.x, [b.n, ...shapeOf(b)]);
          const labels = tensor(b.y, [b.n], 'i32');
          ({ loss, logits } = trainStep(x, labels));
          x.dispose();
          labels.dispose();
        }
        sched.step();
        dispatchesPerStep = runtime().dispatches - d0;
        globalStep++;
        pending.push({ check: encodeFiniteCheck(trainable, 'value', loss), logits, y: Int32Array.from(b.y), step: globalStep });
        if (loss !== rec?.outputs[0]) loss.dispose();
        seen += b.n;
        step++;
        if (pending.length >= 8) await drain();
        o.onProgress?.({ epoch, epochs: o.epochs, step, stepsPerEpoch, loss: counted ? lossSum / counted : NaN, imagesPerSec: seen / ((performance.now() - e0) / 1000), phase: 'train' });
      }
      await drain();
      const seconds = (performance.now() - e0) / 1000;
      const stats: EpochStats = { epoch, loss: lossSum / seen, trainAcc: correct / seen, seconds, imagesPerSec: seen / seconds, lr: opt.groups[0].lr };
      if (test && (epoch % (o.evalEvery ?? 1) === 0 || epoch === o.epochs)) stats.testAcc = (await evaluate(model, test, o.batchSize, C, testCache && { cache: testCache, rest: split.rest })).accuracy;
      epochs.push(stats);
      if (scaler) {
        const r = await scaler.read();
        log(`loss scale ${r.scale} after epoch ${epoch}; ${r.skipped} step(s) skipped so far (gradients overflowed in f16)`);
      }
      log(`epoch ${epoch}/${o.epochs}: loss ${stats.loss.toFixed(4)}, train acc ${(stats.trainAcc * 100).toFixed(1)}%` +
        (stats.testAcc !== undefined ? `, ${o.evalName ?? 'test'} acc ${(stats.testAcc * 100).toFixed(1)}%` : '') + `, ${stats.imagesPerSec.toFixed(0)} img/s`);
    }
    optimizerStateBytes = opt.stateBytes();
  } finally {
    for (const p of pending.splice(0)) { p.check.dispose(); p.logits.dispose(); }
    rec?.dispose();
    xIn?.dispose();
    yIn?.dispose();
    opt.dispose?.();
  }
  // The steps checked the trainable parameters (frozen ones do not change); running statistics are checked once, at the end.
  const last = await findNonFinite(model.namedBuffers(), globalStep, 'value');
  if (last) throw new NonFiniteError({ ...last, epoch: o.epochs }, hint);
  const scaled = scaler ? await scaler.read() : { scale: 1, skipped: 0 };
  return {
    epochs, usedCache, cacheReason: plan.reason, cachedStages: plan.all ? 'all' : plan.stages, cacheSeconds, seconds: (performance.now() - t0) / 1000, dispatchesPerStep, optimizerStateBytes, replayedSteps, replayReason,
    precision, skippedSteps: scaled.skipped, lossScale: scaled.scale,
    featureCacheBytes: (trainCache?.data.byteLength ?? 0) + (testCache?.data.byteLength ?? 0),
  };
}

/**
 * Gives every {@link Stochastic} module (Dropout, attention dropout) a starting seed derived from
 * `seed` and its place in the model, so that a fine-tuning run is reproducible; their default seeds
 * come from Math.random.
 */
export function seedDropout(model: Module, seed: number): void {
  model.namedModules().forEach(([, m], i) => {
    if (!isStochastic(m)) return;
    let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    m.seed = (h ^ (h >>> 16)) >>> 0;
  });
}

/**
 * Applies `bnMomentum` to the BatchNorm layers that will train, and warns when their running
 * statistics would keep more than 10% of their old values after the whole run: evaluation then
 * normalises with statistics the trained layers never saw, and test accuracy lags for no visible reason.
 */
function checkNormMomentum(model: Classifier, o: FinetuneOptions, steps: number, log: (s: string) => void): void {
  const norms = model.namedModules().filter((e): e is [string, Normalization] => isNormalization(e[1]) && e[1].usesBatchStats && !!e[1].runningMean);
  const isSlow = (m: Normalization) => (1 - m.momentum) ** steps > 0.1;
  if (o.bnMomentum === 'auto') {
    const slow = norms.filter(([, m]) => isSlow(m));
    if (slow.length) log(`batch norm: momentum ${+Math.min(...slow.map(([, m]) => m.momentum)).toPrecision(3)} → 0.1 in ${slow.length} trainable layer(s), so their running statistics follow the new data within the run's ${steps} step(s)`);
    for (const [, m] of slow) m.momentum = 0.1;
  } else if (o.bnMomentum !== undefined) for (const [, m] of norms) m.momentum = o.bnMomentum;
  const slow = norms.filter(([, m]) => isSlow(m));
  if (slow.length) {
    const m = Math.min(...slow.map(([, n]) => n.momentum));
    log(`warning: ${slow.length} trainable BatchNorm layer(s) (${slow[0][0]}${slow.length > 1 ? ', …' : ''}) have momentum ${+m.toPrecision(3)}: after ${steps} step(s) their running statistics still hold ` +
      `${((1 - m) ** steps * 100).toFixed(0)}% of the pre-trained values, so evaluation will not match training; ${m < 0.1 ? 'set bnMomentum (e.g. 0.1)' : 'raise bnMomentum or train longer'}`);
  }
}

/**
 * Gradual unfreezing (fastai's `fine_tune`): train the head alone for `headEpochs` (from the feature
 * cache), then unfreeze down to layer group `unfreezeTo` (0 = everything) and train `epochs` more
 * with discriminative rates `lrRange` across the layer groups.
 */
export async function fineTuneGradual(model: Classifier, train: Dataset, test: Dataset | null,
  o: FinetuneOptions & { headEpochs: number; unfreezeTo?: number; lrRange: [number, number] }): Promise<{ head: FinetuneResult; full: FinetuneResult }> {
  const log = o.log ?? (() => {});
  freezeTo(model, -1);
  log(`gradual unfreezing: ${o.headEpochs} epoch(s) of the head alone`);
  const head = await finetune(model, train, test, { ...o, epochs: o.headEpochs, lrRange: undefined });
  freezeTo(model, o.unfreezeTo ?? 0);
  log(`gradual unfreezing: layer groups ${o.unfreezeTo ?? 0}.. trainable, rates ${o.lrRange[0]} → ${o.lrRange[1]}`);
  const full = await finetune(model, train, test, o);
  return { head, full };
}
