/**
 * `thaw inspect`: what a checkpoint holds, without a GPU: format, tensors (name, dtype, shape),
 * parameter count, metadata, and for TF.js models the layer list. Takes a file, a folder holding
 * one model, or a zoo name (fetched into the cache first).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ThawError } from '../engine/core/errors.ts';
import { loadCheckpointFile } from '../engine/io/fs.ts';
import { sniffFormat } from '../engine/io/index.ts';
import { extractUmdTfjsModel } from '../engine/io/umd.ts';
import type { Checkpoint } from '../engine/io/types.ts';
import { modelNames } from '../models/zoo.ts';
import { describeConfig, detectFamily, inferConfig, type TorchvisionConfig } from '../models/zoo_infer.ts';
import { suggest, UsageError } from './args.ts';
import { fetchWithProgress, formatBytes, isZooName, table } from './fetch.ts';
import { inputFile, pathExists } from './paths.ts';

export interface InspectArgs { target: string; json: boolean; filter?: string; cache?: string; offline: boolean; heads?: number }

/** Non-trainable state by name: BatchNorm running statistics and counters (PyTorch and Keras names). */
const BUFFER = /(^|[./])(running_mean|running_var|num_batches_tracked|moving_mean|moving_variance)$/;
const CHECKPOINT_FILE = /^(model\.json|model\.min\.js|.*\.(safetensors|pt|pth|th|bin|ckpt))$/;

export interface LayerRow { name: string; type: string; config: string; params: number; trainable: boolean; inputs: string[] }

/** An existing file, or a folder holding one model (model.json, model.min.js or a single checkpoint file) → the checkpoint file. */
export function resolveCheckpointPath(target: string): string {
  const p = resolve(target);
  if (!statSync(p).isDirectory()) return p;
  const names = readdirSync(p).filter((f) => CHECKPOINT_FILE.test(f)).sort();
  const main = names.find((f) => f === 'model.json') ?? names.find((f) => f === 'model.min.js');
  if (main) return join(p, main);
  if (names.length === 1) return join(p, names[0]);
  throw new ThawError('no-file', `${target} is a folder with ${names.length ? `several checkpoints (${names.join(', ')})` : 'no checkpoint in it'}; name the file`);
}

/** Resolves the argument to a checkpoint file: a file, a folder with one model in it, or a zoo name. */
async function resolveTarget(a: InspectArgs): Promise<string> {
  if (pathExists('checkpoint', a.target)) {
    inputFile('checkpoint', a.target, { folders: true });
    return resolveCheckpointPath(a.target);
  }
  if (isZooName(a.target)) {
    const m = await fetchWithProgress(a.target, { cacheDir: a.cache, offline: a.offline, quiet: a.json });
    return m.files[m.entry.files[0].path];
  }
  throw new ThawError('no-file', `cannot read '${a.target}': no such file or folder.${suggest(a.target, modelNames())} ` +
    `Give a checkpoint file (.th, .pt, .safetensors, model.json, model.min.js) or a zoo model name (thaw fetch --list).`);
}

/** The raw TF.js weights manifest, to show how each weight is stored (quantization is decoded away by the parser). */
function tfjsStorage(path: string): Map<string, string> {
  const out = new Map<string, string>();
  try {
    const bytes = readFileSync(path);
    const kind = sniffFormat(bytes);
    const text = new TextDecoder().decode(bytes);
    const model: any = kind === 'tfjs-json' ? JSON.parse(text) : (extractUmdTfjsModel(text) as any).model;
    for (const g of model?.weightsManifest ?? []) {
      for (const w of g.weights ?? []) if (w.quantization?.dtype) out.set(w.name, `${w.quantization.dtype}-quantized`);
    }
  } catch { /* the parser already accepted the file; the storage column is a nicety */ }
  return out;
}

/** The Keras layer list of a TF.js checkpoint's topology (functional or Sequential), or null. */
export function kerasLayers(ck: Checkpoint): { keras: string; className: string; name: string; layers: LayerRow[] } | null {
  const topo: any = ck.metadata.modelTopology;
  if (!topo || typeof topo !== 'object') return null;
  const mc = topo.model_config ?? topo;
  const cfg = mc?.config;
  const raw: any[] = Array.isArray(cfg) ? cfg : Array.isArray(cfg?.layers) ? cfg.layers : [];
  const paramsOf = new Map<string, number>();
  const trainableOf = new Map<string, number>();
  for (const [k, t] of ck.tensors) {
    const layer = k.split('/')[0];
    const n = t.shape.reduce((x, y) => x * y, 1);
    paramsOf.set(layer, (paramsOf.get(layer) ?? 0) + n);
    if (!BUFFER.test(k)) trainableOf.set(layer, (trainableOf.get(layer) ?? 0) + n);
  }
  const layers = raw.map((l): LayerRow => {
    const c = l?.config ?? {};
    const name = String(c.name ?? l?.name ?? '?');
    const bits: string[] = [];
    if (c.filters !== undefined) bits.push(`${c.filters} filters`);
    if (c.units !== undefined) bits.push(`${c.units} units`);
    if (c.depth_multiplier !== undefined) bits.push(`multiplier ${c.depth_multiplier}`);
    if (c.kernel_size) bits.push(`${c.kernel_size.join('x')}`);
    if (c.pool_size) bits.push(`pool ${c.pool_size.join('x')}`);
    if (c.strides && c.strides.some((s: number) => s !== 1)) bits.push(`stride ${c.strides.join('x')}`);
    if (c.padding && typeof c.padding === 'string') bits.push(c.padding);
    if (c.padding && Array.isArray(c.padding)) bits.push(`pad ${JSON.stringify(c.padding)}`);
    if (c.activation && c.activation !== 'linear') bits.push(c.activation);
    if (c.alpha !== undefined && l.class_name === 'LeakyReLU') bits.push(`alpha ${Number(Number(c.alpha).toPrecision(6))}`);
    if (c.max_value !== undefined && c.max_value !== null) bits.push(`max ${c.max_value}`);
    if (c.rate !== undefined) bits.push(`rate ${c.rate}`);
    if (c.batch_input_shape) bits.push(`input ${JSON.stringify(c.batch_input_shape)}`);
    const inputs = ((l?.inbound_nodes ?? [])[0] ?? []).map((n: any) => (Array.isArray(n) ? String(n[0]) : String(n?.name ?? n)));
    return { name, type: String(l?.class_name ?? '?'), config: bits.join(', '), params: paramsOf.get(name) ?? 0,
      trainable: c.trainable !== false && (trainableOf.get(name) ?? 0) > 0, inputs };
  });
  return { keras: String(topo.keras_version ?? '?'), className: String(mc?.class_name ?? '?'), name: String(cfg?.name ?? ''), layers };
}

function metadataLines(md: Record<string, unknown>): string[] {
  return Object.entries(md).filter(([k]) => k !== 'modelTopology').map(([k, v]) => {
    let s = typeof v === 'string' ? v : JSON.stringify(v);
    if (s.length > 160) s = `${s.slice(0, 157)}…`;
    return `  ${k}: ${s}`;
  });
}

/**
 * The torchvision family a checkpoint's keys belong to and the builder arguments its keys and shapes
 * determine (or why they do not), or null for other checkpoints.
 */
function torchvisionArchitecture(ck: Checkpoint, heads: number | undefined):
  { family: string; name: string | null; config: TorchvisionConfig; description: string } | { family: string; error: string } | null {
  const family = ck.format === 'tfjs-layers' ? null : detectFamily(ck.tensors);
  if (!family) return null;
  try {
    const config = inferConfig(ck.tensors, { family, numHeads: heads });
    return { family, name: config.name, config, description: describeConfig(config) };
  } catch (e) {
    if (e instanceof ThawError) return { family, error: e.message };
    throw e;
  }
}

/** Runs `thaw inspect`; returns the JSON summary. */
export async function runInspect(a: InspectArgs): Promise<Record<string, unknown>> {
  let filter: RegExp | undefined;
  if (a.filter !== undefined) {
    try { filter = new RegExp(a.filter); } catch (e) { throw new UsageError(`thaw inspect: --filter is not a valid regular expression (${(e as Error).message})`); }
  }
  const path = await resolveTarget(a);
  const ck = await loadCheckpointFile(path);
  const storage = ck.format === 'tfjs-layers' ? tfjsStorage(path) : new Map<string, string>();
  const tensors = [...ck.tensors].map(([name, t]) => ({
    name, dtype: t.dtype, shape: t.shape, values: t.shape.reduce((x, y) => x * y, 1), ...(storage.has(name) ? { stored: storage.get(name) } : {}),
  }));
  const params = tensors.filter((t) => !BUFFER.test(t.name)).reduce((s, t) => s + t.values, 0);
  const buffers = tensors.filter((t) => BUFFER.test(t.name)).reduce((s, t) => s + t.values, 0);
  const dtypes: Record<string, number> = {};
  for (const t of tensors) dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  const keras = kerasLayers(ck);
  const { modelTopology: _t, ...metadata } = ck.metadata;
  const architecture = torchvisionArchitecture(ck, a.heads);
  const shown = filter ? tensors.filter((t) => filter!.test(t.name)) : tensors;
  const layers = keras ? (filter ? keras.layers.filter((l) => filter!.test(l.name)) : keras.layers) : undefined;
  const summary = {
    file: path, bytes: statSync(path).size, format: ck.format, tensorCount: tensors.length, dtypes, parameters: params, bufferValues: buffers,
    metadata, ...(architecture ? { architecture } : {}), ...(keras ? { keras: { version: keras.keras, class: keras.className, name: keras.name, layerCount: keras.layers.length }, layers } : {}),
    tensors: shown,
  };
  if (a.json) { console.log(JSON.stringify(summary, null, 2)); return summary; }

  const out: string[] = [];
  out.push(`file:        ${path} (${formatBytes(summary.bytes)})`);
  out.push(`format:      ${ck.format}${storage.size ? ` (${storage.size} of ${tensors.length} weights stored ${[...new Set(storage.values())].join('/')})` : ''}`);
  out.push(`tensors:     ${tensors.length} (${Object.entries(dtypes).map(([d, n]) => `${n} ${d}`).join(', ')})`);
  out.push(`parameters:  ${params.toLocaleString('en-US')}${buffers ? ` (+ ${buffers.toLocaleString('en-US')} values of running statistics and counters)` : ''}`);
  if (architecture) out.push(`architecture: torchvision ${architecture.family}: ${'error' in architecture ? architecture.error : architecture.description}`);
  const md = metadataLines(metadata);
  out.push(md.length ? `metadata:\n${md.join('\n')}` : 'metadata:    (none)');
  if (keras) {
    out.push(`\nKeras ${keras.keras} ${keras.className}${keras.name ? ` '${keras.name}'` : ''}: ${keras.layers.length} layers` +
      `${filter ? ` (${layers!.length} matching /${a.filter}/)` : ''}`);
    out.push(table(['layer', 'type', 'config', 'params', 'trainable', 'inputs'],
      layers!.map((l) => [l.name, l.type, l.config, l.params ? l.params.toLocaleString('en-US') : '', l.params ? (l.trainable ? 'yes' : 'no') : '', l.inputs.join(', ')]), [3]));
  }
  out.push(`\n${filter ? `tensors matching /${a.filter}/: ${shown.length} of ${tensors.length}` : 'tensors:'}`);
  out.push(table(['name', 'dtype', 'shape', 'values'],
    shown.map((t) => [t.name, t.stored ? `${t.dtype} (${t.stored})` : t.dtype, `[${t.shape.join(', ')}]`, t.values.toLocaleString('en-US')]), [3]));
  console.log(out.join('\n'));
  return summary;
}
