/**
 * `thaw predict`: top-k labels with probabilities for PNG/JPEG images, from a zoo checkpoint or a
 * `thaw finetune` weights.safetensors (whose metadata names the model and the classes; the head
 * size follows the checkpoint). Images are decoded and checked before the GPU is touched, so a
 * missing file fails fast and by name.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ThawError } from '../engine/core/errors.ts';
import { init } from '../engine/core/runtime.ts';
import { tensor } from '../engine/core/factory.ts';
import { tidy, noGrad } from '../engine/core/tensor.ts';
import { loadCheckpointFile } from '../engine/io/fs.ts';
import type { Checkpoint } from '../engine/io/types.ts';
import { loadStateDict, describeLoad } from '../engine/train/load.ts';
import { readImage } from '../engine/data/image.ts';
import { preprocess, type PreprocessSpec } from '../engine/data/preprocess.ts';
import { ZOO, modelNames, nearestNames, sha256Matches, type ZooEntry } from '../models/zoo.ts';
import { resnet20 } from '../models/resnet_cifar.ts';
import type { Classifier } from '../engine/train/types.ts';
import { warmupPipelines } from '../engine/train/warmup.ts';
import { loadTorchvision, torchvisionPreprocessing } from './torchvision.ts';
import { FAMILIES, detectFamily, type Family } from '../models/zoo_infer.ts';
import { suggest, UsageError } from './args.ts';
import { checkCache, fetchWithProgress, isZooName } from './fetch.ts';
import { sha256File } from '../models/zoo_fetch.ts';
import { resolveCheckpointPath } from './inspect.ts';
import { inputFile, pathExists } from './paths.ts';

export interface PredictArgs {
  images: string[]; weights?: string; model?: string; labels?: string; labelsFile?: string;
  top: number; json: boolean; cache?: string; offline: boolean;
  /** A ViT's attention heads, which its checkpoint does not store (default: torchvision's for its width). */
  heads?: number;
}

/** One image's result. */
export interface Prediction { image: string; top: { label: string; index: number; probability: number }[] }

/**
 * What predict can build: the CIFAR ResNet-20 (any head size), any Keras classifier from a TF.js
 * layers model, or a torchvision family configured from the checkpoint's keys and shapes.
 */
type Arch = 'resnet20-cifar10' | 'keras' | Family;
const ARCH_NAMES: Record<string, Arch> = {
  'resnet20-cifar10': 'resnet20-cifar10', 'darknet-tiny': 'keras', 'mobilenetv2-keras': 'keras', keras: 'keras',
  ...Object.fromEntries(FAMILIES.map((f) => [f, f])),
};

/** An architecture or zoo name → what to build (and a zoo entry for preprocessing and labels), or a usage error. */
function archOf(name: string, from: string): { arch: Arch; zoo?: ZooEntry } {
  if (isZooName(name)) return { arch: ARCH_NAMES[ZOO[name].architecture], zoo: ZOO[name] };
  // A torchvision family is configured from the checkpoint, so no one zoo entry stands for it.
  if (ARCH_NAMES[name]) return { arch: ARCH_NAMES[name], zoo: (FAMILIES as readonly string[]).includes(name) ? undefined : Object.values(ZOO).find((e) => e.architecture === name) };
  const known = [...new Set([...Object.keys(ARCH_NAMES), ...modelNames()])];
  const near = nearestNames(name, known, 2).map((n) => `'${n}'`).join(' or ');
  throw new UsageError(`thaw predict: unknown model '${name}' (${from}). Did you mean ${near}? Known: ${known.join(', ')}.`);
}

/** Where the weights are: an existing file or folder, a zoo name (fetched), or the --model's zoo checkpoint. */
async function resolveWeights(a: PredictArgs): Promise<{ path: string; zoo?: ZooEntry }> {
  const fetch = async (name: string) => {
    const m = await fetchWithProgress(name, { cacheDir: a.cache, offline: a.offline, quiet: a.json });
    return { path: m.files[m.entry.files[0].path], zoo: m.entry };
  };
  if (a.weights !== undefined) {
    if (pathExists('--weights', a.weights)) {
      inputFile('--weights', a.weights, { folders: true });
      const path = resolveCheckpointPath(a.weights);
      return { path, zoo: await zooEntryOf(path) };
    }
    if (isZooName(a.weights)) return fetch(a.weights);
    throw new ThawError('no-file', `--weights '${a.weights}': no such file.${suggest(a.weights, modelNames())} ` +
      `Give a checkpoint file or a zoo model name (thaw fetch --list).`);
  }
  const name = a.model ?? 'resnet20-cifar10';
  const { zoo } = archOf(name, '--model');
  if (!zoo) throw new UsageError(`thaw predict: the zoo has no checkpoint for '${name}'; pass --weights FILE`);
  return fetch(zoo.name);
}

/**
 * Checks --weights before any work: a readable file or folder, or a zoo name (or none: the --model's
 * zoo checkpoint) whose cache folder can be written.
 */
function checkWeights(a: PredictArgs, forced: { zoo?: ZooEntry } | undefined): void {
  if (a.weights !== undefined && pathExists('--weights', a.weights)) { inputFile('--weights', a.weights, { folders: true }); return; }
  if (a.weights !== undefined && !isZooName(a.weights)) {
    throw new ThawError('no-file', `--weights '${a.weights}': no such file.${suggest(a.weights, modelNames())} ` +
      `Give a checkpoint file or a zoo model name (thaw fetch --list).`);
  }
  if (a.weights !== undefined || forced?.zoo || a.model === undefined) checkCache(a.cache);
}

/** The zoo entry whose main file is byte-identical to `path` (size, then sha256), so a local copy gets its labels and preprocessing. */
async function zooEntryOf(path: string): Promise<ZooEntry | undefined> {
  const size = statSync(path).size;
  let hash: string | undefined;
  for (const e of Object.values(ZOO)) {
    const f = e.files[0];
    if ((f.bytes === null || f.bytes === size) && sha256Matches(f, hash ??= await sha256File(path))) return e;
  }
  return undefined;
}

/** Class names from --labels / --labels-file (JSON array or one per line). */
function userLabels(a: PredictArgs): string[] | undefined {
  if (a.labels !== undefined) return a.labels.split(',').map((s) => s.trim());
  if (a.labelsFile === undefined) return undefined;
  inputFile('--labels-file', a.labelsFile);
  const text = readFileSync(a.labelsFile, 'utf8');
  const t = text.trim();
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t);
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
    } catch { /* fall through to the error below */ }
    throw new ThawError('bad-labels', `--labels-file '${a.labelsFile}': expected a JSON array of strings or one label per line`);
  }
  return t.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
}

/** Labels the checkpoint or zoo supplies: finetune's `classes` metadata, the zoo's list or file, a labels.json beside a model.json. */
function checkpointLabels(ck: Checkpoint, path: string, zoo: ZooEntry | undefined): string[] | undefined {
  if (typeof ck.metadata.classes === 'string') return ck.metadata.classes.split(',');
  const lab = zoo?.labels;
  if (Array.isArray(lab)) return [...lab];
  const file = lab ? join(dirname(path), (lab as { file: string }).file) : ck.format === 'tfjs-layers' ? join(dirname(path), 'labels.json') : '';
  if (file && existsSync(file)) {
    let v: unknown;
    try {
      v = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ThawError('bad-labels', `${file}: the class names beside the model are not valid JSON (${(e as Error).message}); fix the file, or name the classes with --labels or --labels-file`);
    }
    if (Array.isArray(v)) return v.map(String);
  }
  return undefined;
}

interface Built { model: Classifier; numClasses: number; spec: PreprocessSpec; sigmoid: boolean }

async function build(arch: Arch, ck: Checkpoint, path: string, zoo: ZooEntry | undefined, heads: number | undefined): Promise<Built> {
  if ((FAMILIES as readonly string[]).includes(arch)) {
    const { model, config } = loadTorchvision(ck, path, { family: arch as Family, numHeads: heads });
    const numClasses = config.options.numClasses;
    // thaw finetune records the preprocessing it trained with (e.g. another --size).
    const spec = typeof ck.metadata.preprocessing === 'string' ? JSON.parse(ck.metadata.preprocessing) as PreprocessSpec : torchvisionPreprocessing(config, zoo);
    return { model, numClasses, spec, sigmoid: false };
  }
  if (arch === 'resnet20-cifar10') {
    const keys = [...ck.tensors.keys()];
    const head = ck.tensors.get('linear.weight') ?? ck.tensors.get('module.linear.weight');
    if (!head || head.shape.length !== 2) {
      throw new ThawError('state-dict', `${path} does not fit resnet20-cifar10: it has no 2-D 'linear.weight' (the head). ` +
        `Its keys: ${keys.slice(0, 6).join(', ')}${keys.length > 6 ? `, … (${keys.length} in all)` : ''}. Pass --model if it is another architecture.`);
    }
    const model = resnet20(head.shape[0]).eval();
    let rep;
    try {
      rep = loadStateDict(model, ck.tensors, { remap: ['strip-module'], source: path });
    } catch (e) {
      model.dispose();
      throw e;
    }
    if (rep.missing.length || rep.mismatched.length || rep.unexpected.length) {
      model.dispose();
      throw new ThawError('state-dict', `${path} does not fit resnet20-cifar10:\n${describeLoad(rep, true)}`);
    }
    return { model, numClasses: head.shape[0], spec: model.preprocessing, sigmoid: false };
  }
  if (ck.format !== 'tfjs-layers') throw new ThawError('state-dict', `${path} is ${ck.format}, but ${arch} is built from a TF.js layers model (model.json or model.min.js)`);
  const { kerasClassifierFromCheckpoint } = await import('../models/keras/index.ts');
  const spec = zoo?.preprocessing ?? tfjsDefaultSpec(ck);
  const { model } = kerasClassifierFromCheckpoint(ck, { preprocessing: spec, source: path });
  model.eval();
  const last = [...model.head.namedParameters()].pop();
  const numClasses = last ? last[1].shape[0] : 0;
  return { model, numClasses, spec, sigmoid: model.outputActivation === 'sigmoid' };
}

/** For a TF.js model not in the zoo: RGB / 255 at the topology's input size, resized with align-corners as TF.js apps do. */
function tfjsDefaultSpec(ck: Checkpoint): PreprocessSpec {
  const text = JSON.stringify(ck.metadata.modelTopology ?? {});
  const m = /"batch_input_shape":\[null,(\d+),(\d+),3\]/.exec(text);
  if (!m) throw new ThawError('preprocess', 'the TF.js model does not declare a fixed [H, W, 3] input; pass --model to use a zoo preprocessing');
  return { inputSize: [Number(m[1]), Number(m[2])], channels: 3, mean: [0, 0, 0], std: [1, 1, 1], scale: 1 / 255, resize: 'bilinear', alignCorners: true };
}

/** Runs `thaw predict`; returns the predictions. */
export async function runPredict(a: PredictArgs): Promise<Prediction[]> {
  const forced = a.model !== undefined ? archOf(a.model, '--model') : undefined;
  // Check every path, then decode every image: a missing or broken file fails before any model or GPU work.
  for (const p of a.images) {
    if (inputFile('image', p, { folders: true }) === 'folder') throw new ThawError('file', `image '${p}' is a folder; give image files (e.g. ${p}/*.png)`);
  }
  const labelsGiven = userLabels(a);
  checkWeights(a, forced);
  const images = a.images.map((p) => ({ path: p, img: readImage(p) }));
  const w = await resolveWeights(a);
  const ck = await loadCheckpointFile(w.path);
  const fromMeta = typeof ck.metadata.model === 'string' ? ck.metadata.model : undefined;
  const chosen = forced ?? (fromMeta ? archOf(fromMeta, `the metadata of ${basename(w.path)}`) : undefined)
    ?? (w.zoo ? archOf(w.zoo.name, 'zoo') : undefined)
    ?? (ck.format !== 'tfjs-layers' && detectFamily(ck.tensors) ? { arch: detectFamily(ck.tensors)! as Arch } : undefined)
    ?? (ck.format === 'tfjs-layers' ? { arch: 'keras' as Arch } : archOf('resnet20-cifar10', 'default'));
  // The zoo entry gives the preprocessing: the one the weights came from, else the model's.
  const zoo = w.zoo ?? chosen.zoo;
  const rt = await init();
  const { model, numClasses, spec, sigmoid } = await build(chosen.arch, ck, w.path, zoo, a.heads);
  try {
    // Zoo labels only for the zoo's own file: a re-trained head with no `classes` metadata has unknown labels.
    let labels = labelsGiven ?? checkpointLabels(ck, w.path, w.zoo);
    if (labelsGiven && labelsGiven.length !== numClasses) {
      throw new UsageError(`thaw predict: ${labelsGiven.length} labels given, but the checkpoint's head has ${numClasses} classes`);
    }
    if (!labels || labels.length !== numClasses) {
      labels = Array.from({ length: numClasses }, (_, i) => `class ${i}`);
      if (!a.json) console.error(`note: ${basename(w.path)} does not say what its ${numClasses} classes are; pass --labels a,b,c or --labels-file FILE to name them`);
    }
    const [h, wd] = spec.inputSize;
    const per = 3 * h * wd;
    const results: Prediction[] = [];
    const k = Math.min(a.top, numClasses);
    const BATCH = 16;
    await warmupPipelines(model, [Math.min(BATCH, images.length), 3, h, wd]);
    for (let s = 0; s < images.length; s += BATCH) {
      const chunk = images.slice(s, s + BATCH);
      const x = new Float32Array(chunk.length * per); // (N, 3, H, W)
      chunk.forEach((im, i) => x.set(preprocess(im.img, spec), i * per));
      const y = noGrad(() => tidy(() => model.forward(tensor(x, [chunk.length, 3, h, wd]))));
      const logits = await y.data(); // (N, numClasses)
      y.dispose();
      chunk.forEach((im, i) => {
        const row = logits.subarray(i * numClasses, (i + 1) * numClasses);
        if (!row.every(Number.isFinite)) throw new ThawError('non-finite', `the model's output for ${im.path} is not finite (${Array.from(row.slice(0, 4)).join(', ')}…): ${basename(w.path)} holds weights that overflow on this input; use a checkpoint from before training diverged`);
        const probs = toProbabilities(logits.subarray(i * numClasses, (i + 1) * numClasses), sigmoid);
        const order = [...probs.keys()].sort((p, q) => probs[q] - probs[p]).slice(0, k);
        results.push({ image: im.path, top: order.map((j) => ({ label: labels![j], index: j, probability: probs[j] })) });
      });
    }
    if (a.json) {
      console.log(JSON.stringify({ model: zoo?.name ?? chosen.arch, weights: resolve(w.path), adapter: rt.gpu.info.description, classes: numClasses, predictions: results }, null, 2));
    } else {
      console.log(`model ${zoo?.name ?? chosen.arch} (${numClasses} classes), weights ${w.path}, adapter ${rt.gpu.info.kind}`);
      const width = Math.max(...results.flatMap((r) => r.top.map((t) => t.label.length)));
      for (const r of results) {
        console.log(`\n${r.image}`);
        r.top.forEach((t, i) => console.log(`  ${String(i + 1).padStart(2)}. ${t.label.padEnd(width)}  ${(t.probability * 100).toFixed(1).padStart(5)}%`));
      }
    }
    return results;
  } finally {
    model.dispose();
  }
}

/** Softmax (single-label heads) or per-class sigmoid (multi-label heads) in float64. */
function toProbabilities(logits: ArrayLike<number>, sigmoid: boolean): number[] {
  const z = Array.from(logits);
  if (sigmoid) return z.map((v) => 1 / (1 + Math.exp(-v)));
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((p, q) => p + q, 0);
  return e.map((v) => v / s);
}
