/**
 * LoRA adapters (Hu et al. 2021) with PEFT's semantics and file format.
 *
 * `lora(model, { target, rank, alpha, dropout })` gives every targeted Linear and Conv2d a low-rank
 * update and freezes the rest of the model except `modulesToSave` (by default a Classifier's head):
 *
 *   y = W x + b + (alpha / r) · B(A(dropout(x)))
 *
 * as PEFT's `lora.Linear` / `lora.Conv2d`: for a Linear, A is Linear(in, r) and B Linear(r, out), both
 * without bias; for a conv, A is a conv with the layer's kernel, stride, padding and dilation and `r`
 * outputs, B a 1x1 conv from r to the layer's outputs. A starts kaiming-uniform(a=√5) (PyTorch's
 * Linear/Conv default), B at zero, so a fresh adapter leaves the model's output unchanged. `W + BA`
 * is never formed while training: the adapter is its own small branch, so gradients reach A and B
 * only, and the frozen W gets neither a gradient nor optimizer state.
 *
 * The adapted layer stays where it was (a field such as BERT's `self.query` still points at it) and
 * keeps its state-dict keys (`<path>.weight`, `<path>.bias`), so base checkpoints load as before; the
 * adapter's keys are `<path>.lora_A.weight` and `<path>.lora_B.weight`, PEFT's names without its
 * adapter name ("default"). `mergeLora` folds `(alpha/r)·BA` into W for inference or export and the
 * layer runs as a plain one; `unmergeLora` subtracts it again (exact up to float32 rounding of W).
 *
 * `saveLora(model, dir)` writes what PEFT's `save_pretrained` writes for a LoRA adapter:
 * `adapter_model.safetensors` with keys `base_model.model.<path>.lora_A.weight` / `.lora_B.weight`
 * (plus `base_model.model.<path>.<key>` for the modules to save, as PEFT's ModulesToSaveWrapper) and
 * `adapter_config.json` (PEFT's LoraConfig fields, sorted, 2-space indent). `loadLora(model, dir)`
 * reads such a folder (thaw's or PEFT's) into a model, checking everything before changing anything;
 * both are Node-only (lora_files.ts), the rest of this file runs in browsers too.
 */
import { Module } from '../nn/module.ts';
import { Linear } from '../nn/linear.ts';
import { Conv2d } from '../nn/conv.ts';
import { Dropout } from '../nn/activation.ts';
import { isNormalization } from '../nn/roles.ts';
import type { Tensor } from '../core/tensor.ts';
import { shapeStr, sameShape } from '../core/tensor.ts';
import { assign } from '../core/factory.ts';
import { ThawError } from '../core/errors.ts';
import { add, mulScalar } from '../../kernels/index.ts';
import { freeze } from './freeze.ts';
import { parseSafetensors } from '../io/safetensors.ts';
import type { HostTensor } from '../io/types.ts';
import { nonFiniteSummary } from './load.ts';

/** Module names whose LoRA targets a preset stands for (PEFT's list semantics: a path matches a name it ends with). */
export const LORA_PRESETS = {
  /** BERT's attention projections: query, key, value and the attention output (not the feed-forward dense layers). */
  bert: ['query', 'key', 'value', 'attention.output.dense'],
  /** Pointwise (1x1, ungrouped) convolutions: MobileNet's expansion and projection layers. */
  mobilenet: 'pointwise',
  pointwise: 'pointwise',
} as const;
export type LoraPreset = keyof typeof LORA_PRESETS;

/**
 * Which layers get adapters: a RegExp tested against each module path (`encoder.layer.0.attention.self.query`),
 * a list of names (PEFT's semantics: a path matches a name when it equals it or ends with `.name`), or a preset.
 */
export type LoraTarget = RegExp | readonly string[] | LoraPreset;

export interface LoraOptions {
  target: LoraTarget;
  /** The rank r of each adapter (a positive integer). */
  rank: number;
  /** The scaling numerator: the update is scaled by alpha / rank. Default: rank (scaling 1). */
  alpha?: number;
  /** Dropout on the adapter's input while training (PEFT's `lora_dropout`); default 0. */
  dropout?: number;
  /**
   * Modules trained in full and saved with the adapters (PEFT's `modules_to_save`): names with PEFT's
   * list semantics. Default: the model's head: its parametric layers (`headLayers`) when it lists them, else
   * `headPrefix`, else none.
   */
  modulesToSave?: readonly string[];
  /** Uniform [0, 1) source for A's initialisation (default Math.random). */
  rng?: () => number;
  /** Starting seed of the adapters' dropout masks. */
  seed?: number;
}

/** What `lora()` did: the adapted layers and the settings a saved adapter records. */
export interface LoraConfig {
  rank: number;
  alpha: number;
  dropout: number;
  scaling: number;
  /** Module paths of the adapted layers, in model order. */
  adapted: string[];
  /** `target_modules` as adapter_config.json records it: the names given, or the adapted paths for a RegExp or preset. */
  targetModules: string[];
  /** Module paths trained in full and saved with the adapters. */
  modulesToSave: string[];
}

/** One adapted layer's state. */
interface Adapter {
  layer: Linear | Conv2d;
  A: Linear | Conv2d;
  B: Linear | Conv2d;
  drop: Dropout;
  scaling: number;
  merged: boolean;
  forward: (x: Tensor) => Tensor;
}

const adapters = new WeakMap<Module, Adapter>();
const configs = new WeakMap<Module, LoraConfig>();

function err(message: string): ThawError { return new ThawError('lora', message); }

/** PEFT's list matching: the path equals the name or ends with `.name`. */
function matchesName(path: string, name: string): boolean {
  return path === name || path.endsWith(`.${name}`);
}

function isPointwise(m: Module): boolean {
  return m instanceof Conv2d && m.kernelSize[0] === 1 && m.kernelSize[1] === 1 && (m.config.groups ?? 1) === 1;
}

function describeTarget(t: LoraTarget): string {
  return t instanceof RegExp ? String(t) : typeof t === 'string' ? `preset '${t}'` : `[${t.join(', ')}]`;
}

/**
 * Parses a CLI-style target: a preset name, `/regex/flags`, or comma-separated module names. An invalid
 * regular expression is a ThawError (kind 'lora') naming it.
 */
export function parseLoraTarget(s: string): LoraTarget {
  if (Object.hasOwn(LORA_PRESETS, s)) return s as LoraPreset;
  if (s.startsWith('/') && s.lastIndexOf('/') > 0) {
    const body = s.slice(1, s.lastIndexOf('/')), flags = s.slice(s.lastIndexOf('/') + 1);
    try {
      return new RegExp(body, flags);
    } catch (e) {
      throw err(`LoRA target '${s}' is not a valid regular expression (${(e as Error).message.replace(/^Invalid regular expression: /, '')}); write /pattern/ with JavaScript regex syntax, e.g. '/^layer3\\./'`);
    }
  }
  const names = s.split(',').map((x) => x.trim()).filter(Boolean);
  if (!names.length) throw err(`LoRA target '${s}' names no module; give module names (query,value), a /regex/ or a preset (${Object.keys(LORA_PRESETS).join(', ')})`);
  return names;
}

/** The LoRA config of a model `lora()` adapted, or null. */
export function loraConfig(model: Module): LoraConfig | null {
  const c = configs.get(model);
  return c ? { ...c, adapted: [...c.adapted], targetModules: [...c.targetModules], modulesToSave: [...c.modulesToSave] } : null;
}

/** Whether the module at `layer` carries a LoRA adapter. */
export function hasLora(layer: Module): boolean { return adapters.has(layer); }

/** Resolves the target to the adaptable layers' paths; refuses a target that matches none or matches a layer LoRA cannot take. */
function resolveTargets(model: Module, target: LoraTarget, exclude: (path: string) => boolean): { paths: string[]; targetModules: string[] } {
  const modules = model.namedModules().filter(([p]) => p !== '' && !exclude(p));
  let match: (path: string, m: Module) => boolean;
  let listed: string[] | null = null;
  if (target instanceof RegExp) {
    const re = new RegExp(target.source, target.flags.replace(/[gy]/g, '')); // no lastIndex state between tests
    match = (p) => re.test(p);
  } else if (typeof target === 'string') {
    if (!Object.hasOwn(LORA_PRESETS, target)) {
      throw err(`LoRA target '${target}' is not a preset (${Object.keys(LORA_PRESETS).join(', ')}); pass module names as a list, e.g. ['${target}'], or a RegExp`);
    }
    const preset = LORA_PRESETS[target as LoraPreset];
    if (preset === 'pointwise') match = (_p, m) => isPointwise(m);
    else { listed = [...preset]; match = (p) => listed!.some((n) => matchesName(p, n)); }
  } else if (Array.isArray(target)) {
    if (!target.length || target.some((n) => typeof n !== 'string' || !n)) throw err(`LoRA target ${describeTarget(target)} must list at least one non-empty module name`);
    listed = [...target];
    match = (p) => listed!.some((n) => matchesName(p, n));
  } else {
    throw err(`LoRA target must be a RegExp, a list of module names or a preset (${Object.keys(LORA_PRESETS).join(', ')}), got ${typeof target}`);
  }
  const paths: string[] = [];
  for (const [p, m] of modules) {
    if (!match(p, m)) continue;
    if (m instanceof Linear) { paths.push(p); continue; }
    if (m instanceof Conv2d) {
      const groups = m.config.groups ?? 1;
      if (groups !== 1) throw err(`LoRA target ${describeTarget(target)} matches '${p}', a grouped conv (groups ${groups}), which thaw cannot adapt; narrow the target to ungrouped layers (the 'pointwise' preset, or a RegExp)`);
      paths.push(p);
    }
    // Containers and parameter-free or other layers (norms, embeddings) that a pattern also matches are passed over.
  }
  if (!paths.length) {
    const layers = modules.filter(([, m]) => m instanceof Linear || m instanceof Conv2d).map(([p]) => p);
    const step = Math.max(1, Math.floor(layers.length / 4));
    const examples = [...new Set([layers[0], layers[step], layers[2 * step], layers[layers.length - 1]].filter(Boolean))];
    throw err(`LoRA target ${describeTarget(target)} matches no Linear or Conv2d layer of the model; ` +
      (layers.length ? `its layers look like ${examples.join(', ')} (${layers.length} in all)` : 'it has no Linear or Conv2d layer outside the modules to save'));
  }
  for (const p of paths) {
    if (adapters.has(model.namedModules().find(([q]) => q === p)![1])) throw err(`layer '${p}' already has a LoRA adapter; apply lora() once per model (or load the adapter with loadLora)`);
  }
  return { paths, targetModules: listed ?? paths };
}

function attach(owner: Module, name: string, m: Module): void {
  (owner as unknown as { child(name: string, m: Module): Module }).child(name, m);
}

function adapterForward(a: Adapter): (x: Tensor) => Tensor {
  const base = Object.getPrototypeOf(a.layer).forward as (this: Module, x: Tensor) => Tensor;
  return (x: Tensor) => {
    const y = base.call(a.layer, x);
    const d = a.drop.forward(x);
    const h = a.A.forward(d);
    if (d !== x) d.dispose();
    const hs = mulScalar(h, a.scaling); // scaled on the r-wide branch: the cheapest place
    h.dispose();
    const u = a.B.forward(hs);
    hs.dispose();
    const out = add(y, u);
    y.dispose();
    u.dispose();
    return out;
  };
}

function newAdapter(layer: Linear | Conv2d, rank: number, scaling: number, dropout: number, rng?: () => number, seed?: number): Adapter {
  let A: Linear | Conv2d, B: Linear | Conv2d;
  if (layer instanceof Linear) {
    A = new Linear(layer.inFeatures, rank, { bias: false, rng });
    B = new Linear(rank, layer.outFeatures, { bias: false });
  } else {
    const { stride, padding, dilation } = layer.config;
    A = new Conv2d(layer.inChannels, rank, layer.kernelSize, { stride, padding, dilation, bias: false, rng });
    B = new Conv2d(rank, layer.outChannels, 1, { bias: false });
  }
  assign(B.weight, new Float32Array(B.weight.size));
  const a: Adapter = { layer, A, B, drop: new Dropout(dropout, seed), scaling, merged: false, forward: null! };
  a.forward = adapterForward(a);
  return a;
}

/** Module paths matching PEFT-style `modules_to_save` names (not nested in another match). */
function resolveModulesToSave(model: Module, names: readonly string[], exact = false): string[] {
  const out: string[] = [];
  for (const n of names) {
    const hits = model.namedModules().filter(([p]) => p !== '' && (exact ? p === n : matchesName(p, n))).map(([p]) => p);
    if (!hits.length) throw err(`modulesToSave '${n}' names no module of the model; give a module path such as the head's ('fc', 'classifier')`);
    out.push(...hits);
  }
  return [...new Set(out)].filter((p, _i, all) => !all.some((q) => q !== p && p.startsWith(`${q}.`)));
}

function under(key: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => key === p || key.startsWith(`${p}.`));
}

/**
 * The default modules to save: every parametric layer of the head when the model lists them
 * (`headLayers`: a Keras head of several Dense layers, which `freeze(-1)` also leaves trainable),
 * else the head (`headPrefix`), else none.
 */
function headModules(model: Module): string[] {
  const { headLayers, headPrefix } = model as { headLayers?: unknown; headPrefix?: unknown };
  if (Array.isArray(headLayers) && headLayers.length && headLayers.every((n) => typeof n === 'string' && n)) return [...headLayers];
  return typeof headPrefix === 'string' && headPrefix ? [headPrefix] : [];
}

/**
 * Adds LoRA adapters to the layers `target` names and freezes every other parameter except the
 * modules to save. Everything is checked before the model changes. Returns the config.
 */
export function lora(model: Module, opts: LoraOptions): LoraConfig { return applyLora(model, opts, false); }

/** lora(); `exactSave`: modulesToSave are full module paths (loadLora's, from the file's keys), not PEFT-style names. */
function applyLora(model: Module, opts: LoraOptions, exactSave: boolean): LoraConfig {
  const { rank } = opts;
  if (!Number.isInteger(rank) || rank < 1) throw err(`LoRA rank must be a positive integer, got ${rank}`);
  const alpha = opts.alpha ?? rank;
  if (!(Number.isFinite(alpha) && alpha > 0)) throw err(`LoRA alpha must be a positive number, got ${alpha}`);
  const dropout = opts.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) throw err(`LoRA dropout must be in [0, 1), got ${dropout}`);
  if (configs.has(model)) throw err('the model already has LoRA adapters; apply lora() once per model (mergeLora folds them in for export)');
  const save = resolveModulesToSave(model, opts.modulesToSave ?? headModules(model), exactSave);
  const { paths, targetModules } = resolveTargets(model, opts.target, (p) => under(p, save));
  const byPath = new Map(model.namedModules());
  const scaling = alpha / rank;
  paths.forEach((p, i) => {
    const layer = byPath.get(p) as Linear | Conv2d;
    const a = newAdapter(layer, rank, scaling, dropout, opts.rng, opts.seed === undefined ? undefined : (opts.seed + i) >>> 0);
    attach(layer, 'lora_A', a.A);
    attach(layer, 'lora_B', a.B);
    attach(layer, 'lora_dropout', a.drop);
    adapters.set(layer, a);
    layer.forward = a.forward;
  });
  // Everything frozen (norms into inference mode), then the adapters and the modules to save trainable.
  freeze(model, '*');
  const adapterKeys = new Set(paths.flatMap((p) => [`${p}.lora_A.weight`, `${p}.lora_B.weight`]));
  for (const [k, t] of model.namedParameters()) if (adapterKeys.has(k) || under(k, save)) t.requiresGrad = true;
  for (const [p, m] of model.namedModules()) if (under(p, save) && isNormalization(m)) m.frozenNorm = false;
  const config: LoraConfig = { rank, alpha, dropout, scaling, adapted: paths, targetModules, modulesToSave: save };
  configs.set(model, config);
  return loraConfig(model)!;
}

function adaptedLayers(model: Module, what: string): [string, Adapter][] {
  const c = configs.get(model);
  if (!c) throw err(`${what}: the model has no LoRA adapters (apply lora() or loadLora() first)`);
  const byPath = new Map(model.namedModules());
  return c.adapted.map((p) => [p, adapters.get(byPath.get(p)!)!]);
}

/** (alpha/r)·B·A as W's shape, in float64. */
async function delta(a: Adapter): Promise<Float64Array> {
  const [A, B] = [await a.A.weight.data(), await a.B.weight.data()];
  const r = a.A.weight.shape[0], out = a.B.weight.shape[0], inner = A.length / r;
  const d = new Float64Array(out * inner);
  for (let o = 0; o < out; o++) {
    for (let k = 0; k < r; k++) {
      const b = B[o * r + k] * a.scaling;
      if (b === 0) continue;
      const row = o * inner, arow = k * inner;
      for (let j = 0; j < inner; j++) d[row + j] += b * A[arow + j];
    }
  }
  return d;
}

/**
 * Folds every adapter into its layer's weight, W ← W + (alpha/r)·BA (sum in float64, rounded once),
 * for inference or export: the layers then run as plain Linear/Conv2d (and frozen conv + norm pairs
 * fold again). Returns the number of layers merged (already merged ones are left alone).
 */
export async function mergeLora(model: Module): Promise<number> {
  let n = 0;
  for (const [, a] of adaptedLayers(model, 'mergeLora')) {
    if (a.merged) continue;
    const d = await delta(a), w = await a.layer.weight.data();
    for (let i = 0; i < w.length; i++) w[i] = w[i] + d[i];
    assign(a.layer.weight, w);
    a.merged = true;
    delete (a.layer as { forward?: unknown }).forward; // the class's own forward again
    n++;
  }
  return n;
}

/** Undoes `mergeLora`: W ← W − (alpha/r)·BA and the adapter branch runs again. Returns the number of layers unmerged. */
export async function unmergeLora(model: Module): Promise<number> {
  let n = 0;
  for (const [, a] of adaptedLayers(model, 'unmergeLora')) {
    if (!a.merged) continue;
    const d = await delta(a), w = await a.layer.weight.data();
    for (let i = 0; i < w.length; i++) w[i] = w[i] - d[i];
    assign(a.layer.weight, w);
    a.merged = false;
    a.layer.forward = a.forward;
    n++;
  }
  return n;
}

/** Whether the adapters are folded into the weights. */
export function isLoraMerged(model: Module): boolean {
  return adaptedLayers(model, 'isLoraMerged').some(([, a]) => a.merged);
}

// ---------------------------------------------------------------------------------------------
// PEFT's on-disk format.

export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';
const PREFIX = 'base_model.model.';

export interface SaveLoraOptions {
  /** `base_model_name_or_path`: the base checkpoint the adapter was trained on (checked by loadLora when both sides name one). */
  baseModel?: string | null;
  /** PEFT's `task_type` ('SEQ_CLS', 'FEATURE_EXTRACTION', ...; null for models outside transformers). Default null. */
  taskType?: string | null;
}

/** adapter_config.json's object for a config: PEFT's LoraConfig fields with its defaults for what thaw does not use. */
export function peftConfigJson(c: LoraConfig, o: SaveLoraOptions = {}): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: o.baseModel ?? null, bias: 'none',
    corda_config: null, eva_config: null, exclude_modules: null, fan_in_fan_out: false, inference_mode: true, init_lora_weights: true,
    layer_replication: null, layers_pattern: null, layers_to_transform: null, loftq_config: {},
    lora_alpha: c.alpha, lora_bias: false, lora_dropout: c.dropout, megatron_config: null, megatron_core: 'megatron.core',
    modules_to_save: c.modulesToSave.length ? c.modulesToSave : null, peft_type: 'LORA', r: c.rank, rank_pattern: {},
    revision: null, target_modules: c.targetModules, task_type: o.taskType ?? null, use_dora: false, use_rslora: false,
  };
  return Object.fromEntries(Object.keys(fields).sort().map((k) => [k, fields[k]]));
}

/** The tensors `saveLora` writes, keyed as PEFT's `get_peft_model_state_dict` (base_model.model.<path>...). */
export async function loraStateDict(model: Module): Promise<Map<string, HostTensor>> {
  const c = configs.get(model);
  const layers = adaptedLayers(model, 'saveLora');
  if (layers.some(([, a]) => a.merged)) throw err('saveLora: the adapters are merged into the weights; unmergeLora(model) first, then save');
  const out = new Map<string, HostTensor>();
  for (const [p, a] of layers) {
    for (const [n, t] of [['lora_A', a.A.weight], ['lora_B', a.B.weight]] as const) {
      out.set(`${PREFIX}${p}.${n}.weight`, { dtype: 'f32', shape: [...t.shape], data: await t.data() });
    }
  }
  const adapterKeys = new Set(layers.flatMap(([p]) => [`${p}.lora_A.weight`, `${p}.lora_B.weight`]));
  const stray = model.trainableParameters().filter(([k]) => !adapterKeys.has(k) && !under(k, c!.modulesToSave)).map(([k]) => k);
  if (stray.length) {
    throw err(`saveLora: ${stray.length} trainable parameter(s) outside the adapters and the modules to save (${stray.slice(0, 3).join(', ')}${stray.length > 3 ? ', …' : ''}) would be lost; ` +
      'name their modules in lora({ modulesToSave }) or freeze them');
  }
  for (const [k, t] of model.stateDict()) {
    if (!under(k, c!.modulesToSave) || adapterKeys.has(k)) continue;
    out.set(`${PREFIX}${k}`, { dtype: t.dtype === 'i32' ? 'i64' : 'f32', shape: [...t.shape], data: await t.data() });
  }
  return out;
}

export interface LoadLoraOptions {
  /** The base checkpoint's name; refused when the adapter's base_model_name_or_path names another. */
  baseModel?: string;
  /** Starting seed of the adapters' dropout masks when loadLora creates them. */
  seed?: number;
}

/** Checks adapter_config.json's fields that thaw can honour; returns the settings. */
function checkPeftConfig(raw: unknown, source: string): { r: number; alpha: number; dropout: number; targetModules: string[] | string; modulesToSave: string[]; base: string | null } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw err(`${source}: adapter_config.json is not a JSON object; give PEFT's adapter_config.json`);
  const c = raw as Record<string, unknown>;
  const bad = (field: string, got: unknown, fix: string) => err(`${source}: adapter_config.json has ${field} ${JSON.stringify(got)}; ${fix}`);
  if (c.peft_type !== 'LORA') throw bad('peft_type', c.peft_type, 'thaw loads LoRA adapters only (peft_type "LORA")');
  if (!Number.isInteger(c.r) || (c.r as number) < 1) throw bad('r', c.r, 'r must be a positive integer');
  const alpha = c.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !(alpha > 0)) throw bad('lora_alpha', alpha, 'lora_alpha must be a positive number');
  const dropout = c.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) throw bad('lora_dropout', dropout, 'lora_dropout must be in [0, 1)');
  if ((c.bias ?? 'none') !== 'none') throw bad('bias', c.bias, 'thaw loads adapters trained with bias "none"');
  for (const f of ['use_dora', 'use_rslora', 'fan_in_fan_out', 'lora_bias'] as const) if (c[f]) throw bad(f, c[f], `thaw does not implement ${f}; train the adapter without it`);
  for (const f of ['rank_pattern', 'alpha_pattern'] as const) {
    if (c[f] && typeof c[f] === 'object' && Object.keys(c[f] as object).length) throw bad(f, c[f], 'thaw loads adapters with one rank and alpha for every layer');
  }
  if (c.layers_to_transform != null) throw bad('layers_to_transform', c.layers_to_transform, 'thaw does not implement layers_to_transform');
  const tm = c.target_modules;
  if (!(typeof tm === 'string' || (Array.isArray(tm) && tm.every((x) => typeof x === 'string')))) throw bad('target_modules', tm, 'target_modules must be a list of module names or a regular expression');
  const mts = c.modules_to_save ?? [];
  if (!Array.isArray(mts) || !mts.every((x) => typeof x === 'string')) throw bad('modules_to_save', mts, 'modules_to_save must be a list of module names or null');
  const base = typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : null;
  return { r: c.r as number, alpha, dropout, targetModules: tm as string[] | string, modulesToSave: mts as string[], base };
}

/**
 * Loads a LoRA adapter (the bytes of `adapter_config.json` and `adapter_model.safetensors`, from saveLora or
 * PEFT; `source` names them in errors) into `model`: applies lora() with the file's rank, alpha, dropout, layers and modules to save
 * when the model has no adapters yet, or fills the matching adapters it has. Every key, shape and
 * setting is checked before the model changes; a problem is a ThawError naming it and the fix.
 */
export async function loadLoraBytes(model: Module, cfgBytes: Uint8Array, wBytes: Uint8Array, source: string, o: LoadLoraOptions = {}): Promise<LoraConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(cfgBytes));
  } catch (e) {
    throw err(`${source}: adapter_config.json is not valid JSON (${(e as Error).message}); give PEFT's adapter_config.json`);
  }
  const cfg = checkPeftConfig(raw, source);
  if (o.baseModel && cfg.base && o.baseModel !== cfg.base) {
    throw err(`${source}: the adapter was trained on '${cfg.base}', not '${o.baseModel}'; load it into the base model it was trained on`);
  }
  const tensors = parseSafetensors(wBytes).tensors;
  // Adapter pairs by layer path, and the modules-to-save tensors by model key.
  const pairs = new Map<string, { A?: HostTensor; B?: HostTensor }>();
  const saved = new Map<string, HostTensor>();
  for (const [k, h] of tensors) {
    if (!k.startsWith(PREFIX)) throw err(`${source}: key '${k}' does not start with '${PREFIX}'; give an adapter saved by PEFT's save_pretrained or thaw's saveLora`);
    const key = k.slice(PREFIX.length);
    const m = /^(.*)\.lora_([AB])\.weight$/.exec(key);
    if (m) {
      const e = pairs.get(m[1]) ?? {};
      e[m[2] as 'A' | 'B'] = h;
      pairs.set(m[1], e);
    } else if (/\.lora_[A-Za-z_]+(\.|$)/.test(key)) {
      throw err(`${source}: key '${k}' is a kind of LoRA tensor thaw does not implement (embedding adapters, DoRA magnitudes, LoRA biases); train the adapter without it`);
    } else saved.set(key, h);
  }
  if (!pairs.size) throw err(`${source}: ${ADAPTER_WEIGHTS} holds no lora_A/lora_B weights; give a LoRA adapter`);
  const byPath = new Map(model.namedModules());
  const state = model.stateDict();
  for (const [p, { A, B }] of pairs) {
    if (!A || !B) throw err(`${source}: '${PREFIX}${p}.lora_${A ? 'B' : 'A'}.weight' is missing (the file has its lora_${A ? 'A' : 'B'}); the adapter file is incomplete, save it again`);
    const layer = byPath.get(p);
    if (!(layer instanceof Linear || layer instanceof Conv2d)) {
      throw err(`${source}: the adapter has weights for '${p}', which is ${layer ? `a ${layer.constructor.name}, not a Linear or Conv2d` : 'not a module of this model'}; load it into the base model it was trained on`);
    }
    const r = A.shape[0];
    if (r !== cfg.r) throw err(`${source}: '${PREFIX}${p}.lora_A.weight' has rank ${r} (shape ${shapeStr(A.shape)}) but adapter_config.json says r = ${cfg.r}; the config and the weights come from different adapters`);
    const w = layer.weight.shape;
    const wantA = layer instanceof Linear ? [r, w[1]] : [r, w[1], w[2], w[3]];
    const wantB = layer instanceof Linear ? [w[0], r] : [w[0], r, 1, 1];
    for (const [n, h, want] of [['A', A, wantA], ['B', B, wantB]] as const) {
      if (!sameShape(h.shape, want)) {
        throw err(`${source}: '${PREFIX}${p}.lora_${n}.weight' has shape ${shapeStr(h.shape)} but layer '${p}' (weight ${shapeStr(w)}) needs ${shapeStr(want)} at rank ${r}; load it into the base model it was trained on`);
      }
      if (h.dtype === 'bool' || !(h.data instanceof Float32Array)) throw err(`${source}: '${PREFIX}${p}.lora_${n}.weight' has dtype ${h.dtype}; LoRA weights must be floating point`);
      const nf = nonFiniteSummary(h);
      if (nf) throw err(`${source}: '${PREFIX}${p}.lora_${n}.weight' holds ${nf}; the adapter diverged in training, use an earlier one`);
    }
  }
  for (const [k, h] of saved) {
    const t = state.get(k);
    if (!t) throw err(`${source}: the adapter saves '${k}' (a module to save), which this model does not have; load it into the base model it was trained on`);
    if (!sameShape(t.shape, h.shape)) throw err(`${source}: '${PREFIX}${k}' has shape ${shapeStr(h.shape)} but the model's '${k}' is ${shapeStr(t.shape)}; give the model the same head (numClasses) as when the adapter was trained`);
    const nf = nonFiniteSummary(h);
    if (nf) throw err(`${source}: '${PREFIX}${k}' holds ${nf}; the adapter diverged in training, use an earlier one`);
  }
  const paths = [...pairs.keys()];
  const existing = configs.get(model);
  if (existing) {
    const want = [...existing.adapted].sort().join(','), got = [...paths].sort().join(',');
    if (want !== got) throw err(`${source}: the adapter covers ${paths.length} layer(s) (${paths.slice(0, 2).join(', ')}, …) but the model's adapters cover ${existing.adapted.length} (${existing.adapted.slice(0, 2).join(', ')}, …); load it into a model without adapters`);
    if (existing.rank !== cfg.r) throw err(`${source}: the adapter has rank ${cfg.r} but the model's adapters have rank ${existing.rank}; load it into a model without adapters, or apply lora() with rank ${cfg.r}`);
    if (existing.alpha !== cfg.alpha) throw err(`${source}: the adapter has lora_alpha ${cfg.alpha} but the model's adapters have alpha ${existing.alpha}; load it into a model without adapters`);
    if (adaptedLayers(model, 'loadLora').some(([, a]) => a.merged)) throw err(`${source}: the model's adapters are merged; unmergeLora(model) before loading another adapter`);
  }
  // All checked: change the model.
  const modulesToSave = [...new Set([...saved.keys()].map((k) => k.slice(0, k.lastIndexOf('.'))))];
  // Exactly the file's layers (PEFT's list matching would also take e.g. 'layer1.conv1' for a saved 'conv1').
  const exact = new RegExp(`^(?:${paths.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`);
  // The modules to save are those whose tensors the file holds (exact paths), else the config's names.
  const config = existing ?? applyLora(model, {
    target: exact, rank: cfg.r, alpha: cfg.alpha, dropout: cfg.dropout, seed: o.seed,
    modulesToSave: modulesToSave.length ? modulesToSave : cfg.modulesToSave,
  }, modulesToSave.length > 0);
  if (!existing) {
    // The config records the file's own target_modules (the names it was trained with).
    const c = configs.get(model)!;
    c.targetModules = typeof cfg.targetModules === 'string' ? [...paths] : [...cfg.targetModules];
  }
  for (const [p, { A, B }] of pairs) {
    const a = adapters.get(byPath.get(p)!)!;
    assign(a.A.weight, A!.data as Float32Array);
    assign(a.B.weight, B!.data as Float32Array);
  }
  for (const [k, h] of saved) assign(state.get(k)!, h.data as Float32Array | Int32Array);
  return loraConfig(model) ?? config;
}
