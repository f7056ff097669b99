/**
 * `thaw finetune`: a complete transfer-learning job. With no arguments: the pre-trained CIFAR-10
 * ResNet-20 from the zoo, fine-tuned on Fashion-MNIST (Debian's dataset-fashion-mnist) with 100
 * labels per class, evaluated on 2,000 test images.
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { init, runtime } from '../engine/runtime.ts';
import { fetchModel } from '../engine/zoo-fetch.ts';
import { loadCheckpointFile, saveAtomic } from '../engine/io/fs.ts';
import { writeSafetensors } from '../engine/io/safetensors.ts';
import { loadStateDict, describeLoad, stateToHost } from '../engine/load.ts';
import { freeze, parseFreezeSpec, trainableSummary } from '../engine/freeze.ts';
import { finetune, fineTuneGradual, evaluate, type FinetuneResult, type FinetuneOptions } from '../engine/finetune.ts';
import { loadFashionMnist, FASHION_MNIST_DIR } from '../engine/data/fashion-mnist.ts';
import { FASHION_MNIST_CLASSES } from '../engine/data/idx.ts';
import { idxDataset, subset, subsetPerClass, type Dataset } from '../engine/data/dataset.ts';
import { imageFolderDataset } from '../engine/data/folder.ts';
import { Rng } from '../engine/data/rng.ts';
import { resnet20 } from '../models/resnet_cifar.ts';
import { KerasClassifier, kerasClassifierFromCheckpoint } from '../models/keras/index.ts';
import { mobilenetV2KerasGroup } from '../models/keras/zoo.ts';
import { getZooEntry } from '../engine/zoo.ts';
import type { Checkpoint } from '../engine/io/types.ts';
import type { Classifier } from '../models/types.ts';
import { UsageError } from './args.ts';
import { ProgressBar } from './progress.ts';
import { lineChartSvg } from './plot.ts';

export interface FinetuneArgs {
  model: string; weights?: string; data: string; labelsPerClass: number; testSize: number; freeze?: string; size?: number;
  epochs: number; lr: number; batch: number; optimizer: string; schedule: string; seed: number; out: string;
  json: boolean; fromScratch: boolean; augment: boolean; cache: boolean; evalEvery?: number; headEpochs?: number; lrMin?: number; bnMomentum?: number | 'auto'; labelSmoothing?: number;
}

/** How the CLI builds a backbone: from scratch, or with a zoo checkpoint's weights (Keras models also take their architecture from it). */
interface ModelInfo {
  zoo: string;
  /** Freeze depth used when --freeze is not given. */
  defaultFreeze: string;
  /** Whether the architecture itself comes from the checkpoint (so --from-scratch reads it too). */
  topologyInCheckpoint: boolean;
  /** `ck` is null only for a from-scratch model whose architecture is not in the checkpoint; `pretrained` loads its weights. */
  create(ck: Checkpoint | null, o: { size?: number; rng: () => number; path: string; pretrained: boolean }): { model: Classifier; loaded: string | null };
}

function kerasInfo(zoo: string, defaultFreeze: string, groupOf?: (layer: string) => string): ModelInfo {
  return {
    zoo, defaultFreeze, topologyInCheckpoint: true,
    create(ck, o) {
      const spec = getZooEntry(zoo).preprocessing;
      const opts = {
        rng: o.rng, groupOf, preprocessing: o.size ? { ...spec, inputSize: [o.size, o.size] as [number, number] } : spec,
        inputShape: o.size ? [3, o.size, o.size] as [number, number, number] : undefined,
      };
      const topo = ck!.metadata.modelTopology;
      if (!topo) throw new UsageError(`thaw finetune: ${o.path} has no Keras topology (expected a TF.js layers model.json)`);
      if (!o.pretrained) return { model: new KerasClassifier(topo, opts), loaded: null };
      const { model, report } = kerasClassifierFromCheckpoint(ck!, opts);
      return { model, loaded: describeLoad(report) };
    },
  };
}

const MODELS: Record<string, ModelInfo> = {
  'resnet20-cifar10': {
    zoo: 'resnet20-cifar10', defaultFreeze: '7', topologyInCheckpoint: false,
    create: (ck, o) => {
      const model = resnet20(10, o.rng);
      if (o.size) model.preprocessing = { ...model.preprocessing, inputSize: [o.size, o.size] };
      if (!o.pretrained) return { model, loaded: null };
      const rep = loadStateDict(model, ck!.tensors, { remap: ['strip-module'] });
      if (rep.mismatched.length) throw new UsageError(`thaw finetune: ${o.path} does not fit resnet20-cifar10: ${describeLoad(rep, true)}`);
      return { model, loaded: describeLoad(rep) };
    },
  },
  'mobilenetv2-nsfwjs': kerasInfo('mobilenetv2-nsfwjs', '12', mobilenetV2KerasGroup),
  'darknet-tiny': kerasInfo('darknet-tiny', '13'),
};

function loadData(a: FinetuneArgs, model: Classifier, rng: Rng): { train: Dataset; test: Dataset; classes: string[] } {
  const spec = model.preprocessing!;
  const augment = a.augment ? { rng: rng.fork(), flip: true, cropPadding: 4 } : undefined;
  if (a.data === 'fashion-mnist') {
    const dir = process.env.THAW_FASHION_MNIST ?? FASHION_MNIST_DIR;
    const tr = loadFashionMnist(dir, 'train'), te = loadFashionMnist(dir, 'test');
    const trainIdx = subsetPerClass(tr.labels, a.labelsPerClass, rng);
    const testIdx = Int32Array.from({ length: Math.min(a.testSize, te.n) }, (_, i) => i);
    return {
      train: subset(idxDataset(tr, spec, augment), trainIdx),
      test: subset(idxDataset(te, spec), testIdx),
      classes: [...FASHION_MNIST_CLASSES],
    };
  }
  const root = resolve(a.data);
  if (!existsSync(root)) throw new UsageError(`thaw finetune: --data ${a.data}: no such folder (give 'fashion-mnist' or a folder with one subfolder per class)`);
  const all = imageFolderDataset(root, spec, augment);
  const labels = Int32Array.from({ length: all.length }, (_, i) => (all as any).labels[i]);
  const order = rng.fork();
  const trainIdx = subsetPerClass(labels, a.labelsPerClass, order);
  const inTrain = new Set(trainIdx);
  const testIdx = Int32Array.from([...labels.keys()].filter((i) => !inTrain.has(i)).slice(0, a.testSize));
  return { train: subset(all, trainIdx), test: subset(imageFolderDataset(root, spec), testIdx), classes: (all as any).classes };
}

/** Runs the job; returns the JSON report. */
export async function runFinetune(a: FinetuneArgs): Promise<Record<string, unknown>> {
  const info = MODELS[a.model];
  if (!info) throw new UsageError(`thaw finetune: unknown --model '${a.model}' (available: ${Object.keys(MODELS).join(', ')})`);
  const say = (s: string) => { if (!a.json) console.log(s); };
  const rt = await init();
  say(`adapter: ${rt.gpu.info.description} (${rt.gpu.info.kind})`);
  const rng = new Rng(a.seed);
  // A separate stream for weight init, so the data subset and head init do not depend on it.
  const initRng = new Rng(a.seed ^ 0x5eed);
  let ck: Checkpoint | null = null, path = '';
  if (!a.fromScratch || info.topologyInCheckpoint) {
    const fetched = a.weights ? null : await fetchModel(info.zoo);
    path = a.weights ?? fetched!.files[fetched!.entry.files[0].path];
    ck = await loadCheckpointFile(path);
  }
  const { model, loaded } = info.create(ck, { size: a.size, rng: () => initRng.next(), path, pretrained: !a.fromScratch });
  const source = a.fromScratch ? 'random initialisation (--from-scratch)' : path;
  if (loaded !== null) say(`weights: ${path}\n  ${loaded.split('\n').join('\n  ')}`);
  const freezeSpec = a.freeze ?? info.defaultFreeze;
  const { train, test, classes } = loadData(a, model, rng);
  model.replaceHead(classes.length, () => rng.next());
  if (!a.fromScratch) {
    const n = freeze(model, parseFreezeSpec(freezeSpec));
    say(`freeze '${freezeSpec}': ${n} parameter tensors frozen`);
  }
  const ts = trainableSummary(model);
  say(`trainable: ${ts.trainable} tensors (${ts.trainableElements} values), frozen: ${ts.frozen}, norms in inference mode: ${ts.frozenNorms}`);
  say(`data: ${a.data}, ${train.length} training images (${a.labelsPerClass} per class), ${test.length} test images`);
  const before = await evaluate(model, test, a.batch, classes.length);
  say(`accuracy before fine-tuning: ${(before.accuracy * 100).toFixed(1)}%`);
  let bar: ProgressBar | null = null, barKey = '';
  const gradual = (a.headEpochs ?? 0) > 0;
  if (gradual && !/^-?\d+$/.test(freezeSpec)) throw new UsageError('thaw finetune: --head-epochs needs --freeze to be a depth (a number of layer groups)');
  const opts: FinetuneOptions = {
    epochs: a.epochs, batchSize: a.batch, lr: a.lr, optimizer: a.optimizer as any, schedule: a.schedule as any, seed: a.seed,
    numClasses: classes.length, augmented: a.augment, featureCache: a.cache ? 'auto' : 'off', weightDecay: 5e-4, evalEvery: a.evalEvery, bnMomentum: a.bnMomentum, labelSmoothing: a.labelSmoothing,
    lrRange: a.lrMin !== undefined && !gradual ? [a.lrMin, a.lr] : undefined,
    log: say,
    onProgress: a.json ? undefined : (p) => {
      const key = `${p.phase}${p.epoch}`;
      if (key !== barKey) { bar?.done(); barKey = key; bar = new ProgressBar(p.phase === 'features' ? 'features   ' : `epoch ${p.epoch}/${p.epochs}`, p.stepsPerEpoch); }
      bar!.update(p.step, p.phase === 'train' ? `loss ${Number.isFinite(p.loss) ? p.loss.toFixed(3) : '…'} ${p.imagesPerSec.toFixed(0)} img/s` : `${p.imagesPerSec.toFixed(0)} img/s`);
    },
  };
  let result: FinetuneResult;
  if (gradual) {
    const r = await fineTuneGradual(model, train, test, { ...opts, headEpochs: a.headEpochs!, unfreezeTo: Number(freezeSpec), lrRange: [a.lrMin ?? a.lr / 100, a.lr] });
    result = { ...r.full, epochs: [...r.head.epochs, ...r.full.epochs.map((e) => ({ ...e, epoch: e.epoch + r.head.epochs.length }))], seconds: r.head.seconds + r.full.seconds, cacheSeconds: r.head.cacheSeconds + r.full.cacheSeconds };
  } else {
    result = await finetune(model, train, test, opts);
  }
  (bar as ProgressBar | null)?.done();
  const after = await evaluate(model, test, a.batch, classes.length);
  const perClass = classes.map((c, i) => ({ class: c, accuracy: after.confusion[i][i] / Math.max(1, after.confusion[i].reduce((x, y) => x + y, 0)) }));
  mkdirSync(a.out, { recursive: true });
  const weightsPath = join(a.out, 'weights.safetensors');
  await saveAtomic(weightsPath, writeSafetensors(await stateToHost(model), { model: a.model, classes: classes.join(',') }));
  const svg = lineChartSvg(`thaw finetune ${a.model} on ${a.data} (${a.fromScratch ? 'from scratch' : 'pre-trained'})`, [
    { name: 'train loss', values: result.epochs.map((e) => e.loss), color: '#d62728', axis: 'left' },
    { name: 'train accuracy', values: result.epochs.map((e) => e.trainAcc), color: '#1f77b4', axis: 'right' },
    ...(result.epochs.every((e) => e.testAcc !== undefined) ? [{ name: 'test accuracy', values: result.epochs.map((e) => e.testAcc!), color: '#2ca02c', axis: 'right' as const }] : []),
  ]);
  await saveAtomic(join(a.out, 'curves.svg'), new TextEncoder().encode(svg));
  const report = {
    model: a.model, weightsSource: source, adapter: rt.gpu.info.description, adapterKind: rt.gpu.info.kind,
    data: a.data, trainImages: train.length, testImages: test.length, freeze: a.fromScratch ? 'none (from scratch)' : freezeSpec, inputSize: model.preprocessing?.inputSize,
    trainable: ts, accuracyBefore: before.accuracy, accuracyAfter: after.accuracy, perClass, confusion: after.confusion,
    epochs: result.epochs, featureCache: { used: result.usedCache, cachedStages: result.cachedStages, reason: result.cacheReason, seconds: result.cacheSeconds },
    seconds: result.seconds, dispatchesPerStep: result.dispatchesPerStep, optimizerStateBytes: result.optimizerStateBytes,
    peakGpuBytes: runtime().pool.getStats().peakBytes,
    files: [weightsPath, join(a.out, 'report.json'), join(a.out, 'curves.svg')],
  };
  await saveAtomic(join(a.out, 'report.json'), new TextEncoder().encode(JSON.stringify(report, null, 2)));
  if (a.json) console.log(JSON.stringify(report, null, 2));
  else {
    say(`\naccuracy: ${(before.accuracy * 100).toFixed(1)}% before → ${(after.accuracy * 100).toFixed(1)}% after (${result.seconds.toFixed(1)} s training${result.usedCache ? `, of which ${result.cacheSeconds.toFixed(1)} s computing cached features` : ''})`);
    say('per-class accuracy:\n' + perClass.map((p) => `  ${p.class.padEnd(12)} ${(p.accuracy * 100).toFixed(1)}%`).join('\n'));
    say('confusion matrix (rows: true class, columns: predicted):\n' + after.confusion.map((r, i) => `  ${String(i).padStart(2)} ${r.map((v) => String(v).padStart(4)).join('')}`).join('\n'));
    say(`wrote ${report.files.join(', ')}`);
  }
  model.dispose();
  return report;
}
