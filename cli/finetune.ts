/**
 * `thaw finetune`: a complete transfer-learning job. With no arguments: the pre-trained CIFAR-10
 * ResNet-20 from the zoo, fine-tuned on Fashion-MNIST (Debian's dataset-fashion-mnist) with 100
 * labels per class, evaluated on 2,000 test images.
 */
import { writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { init, runtime, requireF16 } from '../engine/core/runtime.ts';
import { fetchWithProgress } from './fetch.ts';
import { loadTorchvision, torchvisionPreprocessing } from './torchvision.ts';
import { buildFromConfig, inferConfig, type Family, type TorchvisionConfig } from '../models/zoo_infer.ts';
import { withInputSize } from '../engine/data/preprocess.ts';
import { ensureDir, loadCheckpointFile, saveAtomic } from '../engine/io/fs.ts';
import { writeSafetensors } from '../engine/io/safetensors.ts';
import { loadStateDict, describeLoad, stateToHost, loadGap, nonFiniteSummary } from '../engine/train/load.ts';
import { freeze, parseFreezeSpec, trainableSummary } from '../engine/train/freeze.ts';
import { lora, mergeLora, parseLoraTarget, type LoraConfig } from '../engine/train/lora.ts';
import { saveLora } from '../engine/train/lora_files.ts';
import { finetune, fineTuneGradual, evaluate, warmupFinetune, type FinetuneResult, type FinetuneOptions } from '../engine/train/finetune.ts';
import { loadFashionMnist, FASHION_MNIST_DIR } from '../engine/data/fashion_mnist.ts';
import { FASHION_MNIST_CLASSES } from '../engine/data/idx.ts';
import { idxDataset, subset, subsetPerClass, stratifiedSample, countPerClass, type Dataset } from '../engine/data/dataset.ts';
import { imageFolderDataset, indexImageFolder, checkImageHeaders, type ImageFolderIndex } from '../engine/data/folder.ts';
import type { IdxImageSet } from '../engine/data/idx.ts';
import type { PreprocessSpec } from '../engine/data/preprocess.ts';
import { shuffle } from '../engine/data/rng.ts';
import { ThawError } from '../engine/core/errors.ts';
import { Rng } from '../engine/data/rng.ts';
import { resnet20 } from '../models/resnet_cifar.ts';
import { KerasClassifier, kerasClassifierFromCheckpoint } from '../models/keras/index.ts';
import { mobilenetV2KerasGroup } from '../models/keras/zoo.ts';
import { getZooEntry } from '../models/zoo.ts';
import type { Checkpoint } from '../engine/io/types.ts';
import type { Classifier } from '../engine/train/types.ts';
import { UsageError, suggest } from './args.ts';
import { ProgressBar } from './progress.ts';
import { lineChartSvg } from './plot.ts';
import { outputFolder } from './paths.ts';
import { preflightFinetune } from './preflight.ts';
import { NonFiniteError, describeNonFinite } from '../kernels/index.ts';

export interface FinetuneArgs {
  /** testSize: undefined = the default, 2000 or every image left when fewer; valSplit: fraction of each class's labelled images held out to validate on (0 = none). */
  model: string; weights?: string; data: string; labelsPerClass: number; testSize?: number; valSplit?: number; freeze?: string; size?: number;
  epochs: number; lr: number; batch: number; optimizer: string; schedule: string; seed: number; out: string;
  json: boolean; fromScratch: boolean; augment: boolean; cache: boolean; precision?: 'f32' | 'mixed'; evalEvery?: number; headEpochs?: number; lrMin?: number; bnMomentum?: number | 'auto'; labelSmoothing?: number;
  /** LoRA: the adapters' rank (instead of --freeze), their target (default 'pointwise') and alpha (default: the rank). */
  lora?: number; loraTarget?: string; loraAlpha?: number;
  /** A ViT's attention heads, which its checkpoint does not store (default: torchvision's for its width). */
  heads?: number;
}

/** How the CLI builds a backbone: from scratch, or with a zoo checkpoint's weights (Keras models also take their architecture from it). */
interface ModelInfo {
  zoo: string;
  /** Freeze depth used when --freeze is not given. */
  defaultFreeze: string;
  /** Whether the architecture itself comes from the checkpoint (so --from-scratch reads it too). */
  topologyInCheckpoint: boolean;
  /** What --lora adapts when --lora-target is not given (default 'pointwise'). */
  loraTarget?: string;
  /** `ck` is null only for a from-scratch model whose architecture is not in the checkpoint; `pretrained` loads its weights. */
  create(ck: Checkpoint | null, o: { size?: number; rng: () => number; path: string; pretrained: boolean; heads?: number }): { model: Classifier; loaded: string | null };
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
      const { model, report } = kerasClassifierFromCheckpoint(ck!, { ...opts, source: o.path });
      return { model, loaded: describeLoad(report) };
    },
  };
}

/**
 * A torchvision backbone of the zoo: configured from the checkpoint's keys and shapes (so --weights
 * may hold another size of the same family), every key loaded; the head is replaced afterwards.
 */
function torchvisionInfo(zoo: string, loraTarget?: string): ModelInfo {
  return {
    zoo, defaultFreeze: '-1', topologyInCheckpoint: true, loraTarget,
    create(ck, o) {
      const family = getZooEntry(zoo).architecture as Family;
      let model: Classifier, loaded: string | null = null, config: TorchvisionConfig;
      if (o.pretrained) {
        const r = loadTorchvision(ck!, o.path, { family, rng: o.rng, numHeads: o.heads });
        model = r.model; config = r.config; loaded = describeLoad(r.report);
      } else {
        config = inferConfig(ck!.tensors, { family, numHeads: o.heads });
        model = buildFromConfig(config, { rng: o.rng });
        model.preprocessing = torchvisionPreprocessing(config, undefined);
      }
      if (o.size) {
        if (config.family === 'vit' && o.size !== config.options.imageSize) {
          model.dispose();
          throw new UsageError(`thaw finetune: --size ${o.size}: a ViT's input size is fixed by its position embeddings (${config.options.imageSize} for this checkpoint); leave out --size`);
        }
        model.preprocessing = withInputSize(model.preprocessing!, o.size);
      }
      return { model, loaded };
    },
  };
}

const MODELS: Record<string, ModelInfo> = {
  'resnet20-cifar10': {
    // It has no pointwise convs: adapters go on the 3x3 convs of its nine residual blocks (not the stem).
    zoo: 'resnet20-cifar10', defaultFreeze: '7', topologyInCheckpoint: false, loraTarget: '/^layer\\d\\.\\d+\\.conv[12]$/',
    create: (ck, o) => {
      const model = resnet20(10, o.rng);
      if (o.size) model.preprocessing = { ...model.preprocessing, inputSize: [o.size, o.size] };
      if (!o.pretrained) return { model, loaded: null };
      const rep = loadStateDict(model, ck!.tensors, { remap: ['strip-module'], source: o.path });
      // The head is replaced for the new classes; every other tensor must come from the checkpoint, or a frozen trunk stays random.
      const gap = loadGap(rep, (k) => k.startsWith(`${model.headPrefix}.`));
      if (gap) {
        model.dispose();
        throw new ThawError('state-dict', `${o.path} does not fit resnet20-cifar10: ${gap}. Give a resnet20-cifar10 checkpoint, --model for its architecture, or --from-scratch to train from random weights`);
      }
      return { model, loaded: describeLoad(rep) };
    },
  },
  'mobilenetv2-nsfwjs': kerasInfo('mobilenetv2-nsfwjs', '12', mobilenetV2KerasGroup),
  'darknet-tiny': kerasInfo('darknet-tiny', '13'),
  'vit-b-16': torchvisionInfo('vit-b-16', 'out_proj,mlp.0,mlp.3'),
  'convnext-tiny': torchvisionInfo('convnext-tiny', 'block.3,block.5'),
  'efficientnet-b0': torchvisionInfo('efficientnet-b0'),
  'mobilenet-v3-small': torchvisionInfo('mobilenet-v3-small'),
  'mobilenet-v3-large': torchvisionInfo('mobilenet-v3-large'),
};

const DEFAULT_TEST_SIZE = 2000;

/** The split of a run's data, drawn before any model or GPU work: which images train, validate and test. */
interface DataPlan {
  classes: string[];
  trainIdx: Int32Array;
  valIdx: Int32Array;
  testIdx: Int32Array;
  /** Images per class in each split. */
  perClass: { train: number[]; val: number[]; test: number[] };
  /** Where the test images come from, for the data line. */
  testFrom: string;
  /** The datasets, once the model's preprocessing is known. */
  build(spec: PreprocessSpec, augment: Parameters<typeof imageFolderDataset>[2]): { train: Dataset; val: Dataset | null; test: Dataset };
}

const quote = (xs: string[], max = 6) => `${xs.slice(0, max).map((c) => `'${c}'`).join(', ')}${xs.length > max ? `, … (${xs.length} in all)` : ''}`;

/**
 * Draws the labelled images (labels-per-class per class, at random by the seed), splits --val-split of
 * each class's off to validate on, and draws the test images from `testPool` stratified by class with
 * the seed, so no split follows the order of the files. Everything a run cannot honour is an error here.
 */
function drawSplits(a: FinetuneArgs, rng: Rng, classes: string[], labels: ArrayLike<number>, testLabels: ArrayLike<number>,
  testPool: (train: Int32Array, val: Int32Array) => Int32Array, what: { images: string; testFrom: string; shared: boolean }): Omit<DataPlan, 'build'> {
  const C = classes.length;
  const k = a.labelsPerClass;
  const sizes = countPerClass(labels, Int32Array.from({ length: labels.length }, (_, i) => i), C);
  const smallest = sizes.indexOf(Math.min(...sizes));
  if (sizes[smallest] < k) {
    throw new UsageError(`thaw finetune: --labels-per-class ${k}: class '${classes[smallest]}' has only ${sizes[smallest]} ${what.images}; ` +
      `lower --labels-per-class to at most ${sizes[smallest]}${what.shared ? ' (fewer, to leave it test images)' : ''}`);
  }
  const hold = a.valSplit ? Math.round(a.valSplit * k) : 0;
  if (a.valSplit && (hold < 1 || hold >= k)) {
    throw new UsageError(`thaw finetune: --val-split ${a.valSplit} of ${k} labelled images per class holds out ${hold}; ` +
      `it must hold out at least 1 and leave at least 1 to train on (raise --labels-per-class, or give a --val-split between ${(0.5 / k).toFixed(3)} and ${((k - 0.5) / k).toFixed(3)})`);
  }
  const labelled = subsetPerClass(labels, k, rng, C);
  const train: number[] = [], val: number[] = [];
  const byClass: number[][] = Array.from({ length: C }, () => []);
  for (const i of labelled) byClass[labels[i]].push(i);
  for (const m of byClass) { const s = shuffle(m, rng); val.push(...s.slice(0, hold)); train.push(...s.slice(hold)); }
  const trainIdx = Int32Array.from(train.sort((x, y) => x - y)), valIdx = Int32Array.from(val.sort((x, y) => x - y));
  const pool = testPool(trainIdx, valIdx);
  if (pool.length === 0) {
    throw new UsageError(`thaw finetune: no images are left for testing: all ${labels.length} ${what.images} are labelled for training (${k} per class); lower --labels-per-class`);
  }
  if (a.testSize !== undefined && a.testSize > pool.length) {
    throw new UsageError(`thaw finetune: --test-size ${a.testSize}: only ${pool.length} image${pool.length > 1 ? 's are' : ' is'} available for testing (${what.testFrom}); ` +
      `give --test-size ${pool.length} or less${what.shared ? ', or lower --labels-per-class' : ''}`);
  }
  const n = a.testSize ?? Math.min(DEFAULT_TEST_SIZE, pool.length);
  const testIdx = stratifiedSample(testLabels, n, rng, pool);
  return {
    classes, trainIdx, valIdx, testIdx, testFrom: what.testFrom,
    perClass: { train: countPerClass(labels, trainIdx, C), val: countPerClass(labels, valIdx, C), test: countPerClass(testLabels, testIdx, C) },
  };
}

/** Reads, checks and splits the data (Fashion-MNIST, or a folder of class subfolders); no GPU work. */
function planData(a: FinetuneArgs, rng: Rng): DataPlan {
  if (a.data === 'fashion-mnist') {
    const dir = process.env.THAW_FASHION_MNIST ?? FASHION_MNIST_DIR;
    const tr: IdxImageSet = loadFashionMnist(dir, 'train'), te: IdxImageSet = loadFashionMnist(dir, 'test');
    const all = Int32Array.from({ length: te.n }, (_, i) => i);
    const plan = drawSplits(a, rng, [...FASHION_MNIST_CLASSES], tr.labels, te.labels, () => all,
      { images: 'training images', testFrom: `the Fashion-MNIST test split has ${te.n}`, shared: false });
    return {
      ...plan,
      build: (spec, augment) => ({
        train: subset(idxDataset(tr, spec, augment), plan.trainIdx),
        val: plan.valIdx.length ? subset(idxDataset(tr, spec), plan.valIdx) : null,
        test: subset(idxDataset(te, spec), plan.testIdx),
      }),
    };
  }
  const root = resolve(a.data);
  if (!existsSync(root)) throw new UsageError(`thaw finetune: --data ${a.data}: no such folder (give 'fashion-mnist' or a folder with one subfolder per class)`);
  const index: ImageFolderIndex = indexImageFolder(root);
  if (index.classes.length < 2) {
    throw new UsageError(`thaw finetune: --data ${a.data} has ${index.classes.length} class folder (${quote(index.classes)}); ` +
      'a classifier needs at least 2 classes: put the images of each class in its own subfolder');
  }
  // Every file, sampled or not: a stray file fails now, by name, not mid-run.
  checkImageHeaders(index.files, root);
  const plan = drawSplits(a, rng, index.classes, index.labels, index.labels, (train, val) => {
    const used = new Set([...train, ...val]);
    return Int32Array.from({ length: index.files.length }, (_, i) => i).filter((i) => !used.has(i));
  }, { images: 'images', testFrom: `${index.files.length} images in the folder, ${a.labelsPerClass * index.classes.length} of them labelled for training`, shared: true });
  return {
    ...plan,
    build: (spec, augment) => ({
      train: subset(imageFolderDataset(index, spec, augment, { checkHeaders: false }), plan.trainIdx),
      val: plan.valIdx.length ? subset(imageFolderDataset(index, spec, undefined, { checkHeaders: false }), plan.valIdx) : null,
      test: subset(imageFolderDataset(index, spec, undefined, { checkHeaders: false }), plan.testIdx),
    }),
  };
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);

/** Runs the job; returns the JSON report. */
export async function runFinetune(a: FinetuneArgs): Promise<Record<string, unknown>> {
  const info = MODELS[a.model];
  if (!info) throw new UsageError(`thaw finetune: unknown --model '${a.model}'.${suggest(a.model, Object.keys(MODELS))} Choose from ${Object.keys(MODELS).join(', ')}.`);
  if (a.fromScratch && a.weights !== undefined && !info.topologyInCheckpoint) {
    throw new UsageError(`thaw finetune: --weights is not read with --from-scratch (${a.model} starts from random weights then); give one of them`);
  }
  if (a.heads !== undefined && getZooEntry(info.zoo).architecture !== 'vit') {
    throw new UsageError(`thaw finetune: --heads is for ViT backbones (their checkpoints do not store the head count); ${a.model} has none, leave it out`);
  }
  if (a.fromScratch && a.freeze !== undefined) throw new UsageError('thaw finetune: --freeze has no effect with --from-scratch (every parameter trains from random weights); give one of them');
  for (const [flag, v, names] of [['optimizer', a.optimizer, ['sgd', 'adam', 'adamw']], ['schedule', a.schedule, ['constant', 'cosine', 'onecycle', 'warmup-cosine']]] as const) {
    if (!(names as readonly string[]).includes(v)) throw new UsageError(`thaw finetune: unknown --${flag} '${v}'.${suggest(v, [...names])} Choose from ${names.join(', ')}.`);
  }
  if (a.lora !== undefined) {
    const clash = a.fromScratch ? '--from-scratch' : a.freeze !== undefined ? '--freeze' : (a.headEpochs ?? 0) > 0 ? '--head-epochs' : a.lrMin !== undefined ? '--lr-min' : null;
    if (clash) throw new UsageError(`thaw finetune: --lora trains adapters on a frozen pre-trained model, so ${clash} does not apply; give one of them`);
  }
  const loraTarget = a.lora === undefined ? null : parseLoraTarget(a.loraTarget ?? info.loraTarget ?? 'pointwise');
  const freezeSpec = a.freeze ?? info.defaultFreeze;
  const gradual = (a.headEpochs ?? 0) > 0;
  if (gradual && !/^-?\d+$/.test(freezeSpec)) throw new UsageError('thaw finetune: --head-epochs needs --freeze to be a depth (a number of layer groups)');
  const freezeSpecs = parseFreezeSpec(freezeSpec);
  if (!freezeSpecs.length) throw new UsageError(`thaw finetune: --freeze '${freezeSpec}' names nothing to freeze; give a depth, /regex/ or name prefixes`);
  const say = (s: string) => { if (!a.json) console.log(s); };
  const rng = new Rng(a.seed);
  // A separate stream for weight init, so the data subset and head init do not depend on it.
  const initRng = new Rng(a.seed ^ 0x5eed);
  // An adapter without shader-f16 cannot run --precision mixed: said before any data is read or anything written.
  if (a.precision === 'mixed') {
    await init();
    requireF16('--precision mixed');
  }
  // The input paths are checked, the data indexed, checked and split before any model or GPU work;
  // then the output folder is created and probed (not after training; a run refused above leaves none behind).
  const { weights } = preflightFinetune(a);
  const plan = planData(a, rng);
  outputFolder('--out', a.out, 'give --out a folder you can write to, e.g. --out out/finetune');
  const { classes } = plan;
  let ck: Checkpoint | null = null, path = '';
  if (!a.fromScratch || info.topologyInCheckpoint) {
    const fetched = weights ? null : await fetchWithProgress(info.zoo, { quiet: a.json });
    path = weights ?? fetched!.files[fetched!.entry.files[0].path];
    ck = await loadCheckpointFile(path);
  }
  const rt = await init();
  say(`adapter: ${rt.gpu.info.description} (${rt.gpu.info.kind})`);
  const { model, loaded } = info.create(ck, { size: a.size, rng: () => initRng.next(), path, pretrained: !a.fromScratch, heads: a.heads });
  const source = a.fromScratch ? 'random initialisation (--from-scratch)' : path;
  if (loaded !== null) say(`weights: ${path}\n  ${loaded.split('\n').join('\n  ')}`);
  const augment = a.augment ? { rng: rng.fork(), flip: true, cropPadding: 4 } : undefined;
  model.replaceHead(classes.length, () => rng.next());
  let loraCfg: LoraConfig | null = null;
  if (loraTarget) {
    try {
      loraCfg = lora(model, { target: loraTarget, rank: a.lora!, alpha: a.loraAlpha, rng: () => initRng.next(), seed: a.seed });
    } catch (e) {
      if (e instanceof ThawError && e.kind === 'lora') throw new UsageError(`thaw finetune: --lora-target: ${e.message}`);
      throw e;
    }
    say(`lora: rank ${loraCfg.rank}, alpha ${loraCfg.alpha} on ${loraCfg.adapted.length} layer(s) (${quote(loraCfg.adapted, 3)}); everything else frozen but ${quote(loraCfg.modulesToSave)}`);
  } else if (!a.fromScratch) {
    let n: number;
    try {
      n = freeze(model, freezeSpecs);
    } catch (e) {
      if (e instanceof ThawError && e.kind === 'freeze') throw new UsageError(`thaw finetune: --${e.message}`);
      throw e;
    }
    say(`freeze '${freezeSpec}': ${n} parameter tensors frozen`);
  }
  const ts = trainableSummary(model);
  if (ts.trainable === 0) throw new UsageError(`thaw finetune: --freeze '${freezeSpec}' freezes every parameter, the new head included, so nothing would train; freeze less (e.g. --freeze -1: all but the head)`);
  say(`trainable: ${ts.trainable} tensors (${ts.trainableElements} values), frozen: ${ts.frozen}, norms in inference mode: ${ts.frozenNorms}`);
  const { train, val, test } = plan.build(model.preprocessing!, augment);
  const C = classes.length;
  const untested = classes.filter((_, c) => plan.perClass.test[c] === 0);
  say(`data: ${a.data}, ${train.length} training images (${plan.perClass.train[0]} per class)` +
    (val ? `, ${val.length} validation images (${plan.perClass.val[0]} per class)` : '') +
    `, ${test.length} test images drawn per class with seed ${a.seed} (${plan.testFrom})`);
  say(`test images per class: ${classes.map((c, i) => `${c} ${plan.perClass.test[i]}`).join(', ')}`);
  if (untested.length) {
    say(`warning: ${untested.length} of ${C} classes have no test images (${quote(untested)}): their accuracy is n/a and the overall accuracy covers the other ${C - untested.length}`);
  }
  let bar: ProgressBar | null = null, barKey = '';
  const opts: FinetuneOptions = {
    epochs: a.epochs, batchSize: a.batch, lr: a.lr, optimizer: a.optimizer as any, schedule: a.schedule as any, seed: a.seed,
    numClasses: C, augmented: a.augment, featureCache: a.cache ? 'auto' : 'off', precision: a.precision, weightDecay: 5e-4, evalEvery: a.evalEvery, bnMomentum: a.bnMomentum, labelSmoothing: a.labelSmoothing,
    lrRange: a.lrMin !== undefined && !gradual ? [a.lrMin, a.lr] : undefined, evalName: val ? 'val' : 'test',
    log: say,
    onProgress: a.json ? undefined : (p) => {
      const key = `${p.phase}${p.epoch}`;
      if (key !== barKey) { bar?.done(); barKey = key; bar = new ProgressBar(p.phase === 'features' ? 'features   ' : `epoch ${p.epoch}/${p.epochs}`, p.stepsPerEpoch); }
      bar!.update(p.step, p.phase === 'train' ? `loss ${Number.isFinite(p.loss) ? p.loss.toFixed(3) : '…'} ${p.imagesPerSec.toFixed(0)} img/s` : `${p.imagesPerSec.toFixed(0)} img/s`);
    },
  };
  // Every pipeline the run uses, the evaluation before it included, compiled before the first runs.
  const warm = await warmupFinetune(model, train, opts);
  if (warm.pipelines) say(`warmup: ${warm.pipelines} pipelines compiled in ${warm.seconds.toFixed(1)} s`);
  const before = await evaluate(model, test, a.batch, C);
  say(`accuracy before fine-tuning: ${pct(before.accuracy)}`);
  // Each epoch is evaluated on the validation images when there are some, else on the test images.
  const evalSet = val ?? test;
  let result: FinetuneResult;
  try {
    if (gradual) {
      const r = await fineTuneGradual(model, train, evalSet, { ...opts, headEpochs: a.headEpochs!, unfreezeTo: Number(freezeSpec), lrRange: [a.lrMin ?? a.lr / 100, a.lr] });
      result = {
        ...r.full, epochs: [...r.head.epochs, ...r.full.epochs.map((e) => ({ ...e, epoch: e.epoch + r.head.epochs.length }))], seconds: r.head.seconds + r.full.seconds, cacheSeconds: r.head.cacheSeconds + r.full.cacheSeconds,
        skippedSteps: r.head.skippedSteps + r.full.skippedSteps, peakGpuBytes: Math.max(r.head.peakGpuBytes, r.full.peakGpuBytes), featureCacheBytes: Math.max(r.head.featureCacheBytes, r.full.featureCacheBytes),
      };
    } else {
      result = await finetune(model, train, evalSet, opts);
    }
  } catch (e) {
    if (!(e instanceof NonFiniteError)) throw e;
    (bar as ProgressBar | null)?.done();
    throw new ThawError('non-finite', `training diverged at ${describeNonFinite(e.report)}. Lower --lr (it is ${a.lr}${a.lrMin !== undefined ? `, --lr-min ${a.lrMin}` : ''}; the default is 0.05) or check the data; nothing was written to ${a.out}`);
  }
  (bar as ProgressBar | null)?.done();
  const after = await evaluate(model, test, a.batch, C);
  const perClass = classes.map((c, i) => {
    const n = after.confusion[i].reduce((x, y) => x + y, 0);
    return { class: c, testImages: n, accuracy: n ? after.confusion[i][i] / n : null };
  });
  // LoRA: the adapter alone as PEFT's folder, then the weights with the adapters merged in, under the base model's keys.
  let adapterFiles: string[] = [];
  if (loraCfg) {
    const saved = await saveLora(model, join(a.out, 'adapter'), { baseModel: a.weights ?? info.zoo });
    adapterFiles = [saved.weights, saved.config];
    await mergeLora(model);
  }
  // The weights are read back once for saving; a non-finite one (which the loop's checks should have stopped) is never written.
  const state = await stateToHost(model);
  if (loraCfg) for (const k of [...state.keys()]) if (/\.lora_[AB]\.weight$/.test(k)) state.delete(k);
  const bad = [...state].flatMap(([k, h]) => { const why = nonFiniteSummary(h); return why ? [`${k} (${why})`] : []; });
  if (bad.length) throw new ThawError('non-finite', `the trained weights hold NaN or Inf (${bad.slice(0, 3).join('; ')}${bad.length > 3 ? '; …' : ''}); lower --lr. Nothing was written to ${a.out}`);
  ensureDir(a.out);
  const weightsPath = join(a.out, 'weights.safetensors');
  await saveAtomic(weightsPath, writeSafetensors(state, { model: a.model, classes: classes.join(','), preprocessing: JSON.stringify(model.preprocessing) }));
  const evalWord = val ? 'validation' : 'test';
  const svg = lineChartSvg(`thaw finetune ${a.model} on ${a.data} (${a.fromScratch ? 'from scratch' : 'pre-trained'})`, [
    { name: 'train loss', values: result.epochs.map((e) => e.loss), color: '#d62728', axis: 'left' },
    { name: 'train accuracy', values: result.epochs.map((e) => e.trainAcc), color: '#1f77b4', axis: 'right' },
    ...(result.epochs.every((e) => e.testAcc !== undefined) ? [{ name: `${evalWord} accuracy`, values: result.epochs.map((e) => e.testAcc!), color: '#2ca02c', axis: 'right' as const }] : []),
  ]);
  await saveAtomic(join(a.out, 'curves.svg'), new TextEncoder().encode(svg));
  const epochs = val ? result.epochs.map(({ testAcc, ...e }) => ({ ...e, valAcc: testAcc })) : result.epochs;
  const report = {
    model: a.model, weightsSource: source, adapter: rt.gpu.info.description, adapterKind: rt.gpu.info.kind,
    data: a.data, trainImages: train.length, valImages: val?.length ?? 0, testImages: test.length,
    split: { seed: a.seed, stratified: true, trainPerClass: plan.perClass.train, valPerClass: plan.perClass.val, testPerClass: plan.perClass.test, testFrom: plan.testFrom },
    freeze: a.fromScratch ? 'none (from scratch)' : loraCfg ? 'lora' : freezeSpec, inputSize: model.preprocessing?.inputSize,
    ...(loraCfg ? { lora: { rank: loraCfg.rank, alpha: loraCfg.alpha, targetModules: loraCfg.targetModules, adaptedLayers: loraCfg.adapted.length, modulesToSave: loraCfg.modulesToSave, weightsMerged: true, files: adapterFiles } } : {}),
    trainable: ts, accuracyBefore: before.accuracy, accuracyAfter: after.accuracy,
    // A class without test images has accuracy null (n/a), not 0; its confusion row is all zeros.
    perClass, confusion: after.confusion,
    epochs, epochEvaluatedOn: evalWord, featureCache: { used: result.usedCache, cachedStages: result.cachedStages, reason: result.cacheReason, seconds: result.cacheSeconds },
    seconds: result.seconds, dispatchesPerStep: result.dispatchesPerStep, optimizerStateBytes: result.optimizerStateBytes,
    peakGpuBytes: runtime().pool.getStats().peakBytes,
    // The training run alone, per precision: its peak of live GPU tensors, the feature cache's host bytes, loss scaling.
    precision: result.precision, trainingPeakGpuBytes: result.peakGpuBytes, featureCacheBytes: result.featureCacheBytes,
    ...(result.precision === 'mixed' ? { lossScale: result.lossScale, skippedSteps: result.skippedSteps } : {}),
    files: [weightsPath, join(a.out, 'report.json'), join(a.out, 'curves.svg'), ...adapterFiles],
  };
  await saveAtomic(join(a.out, 'report.json'), new TextEncoder().encode(JSON.stringify(report, null, 2)));
  if (a.json) console.log(JSON.stringify(report, null, 2));
  else {
    const w = Math.max(12, ...classes.map((c) => c.length));
    say(`\naccuracy: ${pct(before.accuracy)} before → ${pct(after.accuracy)} after on ${test.length} test images${untested.length ? ` of ${C - untested.length} of the ${C} classes` : ''} (${result.seconds.toFixed(1)} s training${result.usedCache ? `, of which ${result.cacheSeconds.toFixed(1)} s computing cached features` : ''})`);
    say('per-class accuracy (test images):\n' + perClass.map((p) => `  ${p.class.padEnd(w)} ${pct(p.accuracy).padStart(6)}  (${p.testImages})`).join('\n'));
    say('confusion matrix (rows: true class, columns: predicted):\n' + after.confusion.map((r, i) =>
      `  ${String(i).padStart(2)} ${perClass[i].testImages ? r.map((v) => String(v).padStart(4)).join('') : '   n/a (no test images)'}`).join('\n'));
    say(`precision ${result.precision}: training peak ${mib(result.peakGpuBytes)} MiB of GPU tensors, feature cache ${mib(result.featureCacheBytes)} MiB` +
      (result.precision === 'mixed' ? `, loss scale ${result.lossScale}, ${result.skippedSteps} step(s) skipped on overflow` : ''));
    say(`wrote ${report.files.join(', ')}`);
  }
  model.dispose();
  return report;
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
