/**
 * Training checkpoints: one safetensors file with everything a run needs to continue exactly where it
 * stopped. Tensors: the model's parameters and buffers under `model.<key>`, the optimizer's state
 * buffers under `optim.<param>.<buffer>`. Metadata (`thaw.training`, JSON): optimizer kind, group
 * hyper-parameters and per-parameter step counts, scheduler position, RNG state, module-held seeds
 * (Dropout), step, epoch and caller data.
 *
 * Saving goes through `saveAtomic` (temp file, fsync, rename), so a crash at any moment leaves the
 * previous checkpoint whole under its name. Loading checks everything against the targets before
 * changing any of them, and writes into the existing tensors in place: the optimizer keeps pointing at
 * the model's parameters (loadStateDict replaces tensors, which would detach an existing optimizer).
 *
 * This module imports node:fs for the file functions, so it belongs in the Node entry (node.ts); the
 * byte-level encode/restore pair needs no file system and could move to a browser-safe module.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Module } from '../nn/module.ts';
import { isStochastic, type Stochastic } from '../nn/roles.ts';
import type { Tensor } from '../core/tensor.ts';
import { shapeStr, sameShape } from '../core/tensor.ts';
import { runtime } from '../core/runtime.ts';
import { ThawError } from '../core/errors.ts';
import type { Optimizer, OptimizerStateDict } from '../optim/optimizer.ts';
import type { Scheduler, SchedulerState } from '../optim/schedule.ts';
import { Rng, type RngState } from '../data/rng.ts';
import { parseSafetensors, writeSafetensors } from '../io/safetensors.ts';
import { CheckpointError } from '../io/errors.ts';
import { saveAtomic } from '../io/fs.ts';
import type { HostTensor } from '../io/types.ts';
import { nonFiniteSummary } from './load.ts';

/** What a training checkpoint saves. */
export interface TrainingState {
  model: Module;
  optimizer: Optimizer<any>;
  scheduler?: Scheduler;
  /** The data-order / augmentation generator; its stream continues exactly after a resume. */
  rng?: Rng;
  /** Optimizer steps taken so far. */
  step: number;
  epoch: number;
  /** Anything else JSON-serialisable (best accuracy, run name...). */
  extra?: Record<string, unknown>;
}

/** What a training checkpoint restores into; the objects are built by the caller as for the original run. */
export interface RestoreTargets {
  model: Module;
  optimizer: Optimizer<any>;
  scheduler?: Scheduler;
  /** Restored in place (the same object continues the saved stream). */
  rng?: Rng;
}

/** The non-tensor part of a loaded checkpoint. */
export interface RestoredState {
  step: number;
  epoch: number;
  extra: Record<string, unknown>;
  /** The restored generator (`targets.rng` itself when given), or null when none was saved. */
  rng: Rng | null;
}

/** The JSON stored under the `thaw.training` metadata key. */
interface Meta {
  format: typeof FORMAT;
  version: number;
  step: number;
  epoch: number;
  extra: Record<string, unknown>;
  optimizer: {
    kind: string;
    groups: OptimizerStateDict['groups'];
    /** Per parameter: its step count and, per state buffer, the tensor key holding it. */
    state: Record<string, { step: number; buffers: Record<string, string> }>;
  };
  scheduler: SchedulerState | null;
  rng: RngState | null;
  /** Seeds of the model's Stochastic modules (Dropout, attention dropout) by module path. */
  seeds: Record<string, number>;
}

const FORMAT = 'thaw-training-checkpoint';
const VERSION = 1;
const META_KEY = 'thaw.training';

// JSON has no NaN/Infinity; hyper-parameters may hold them (SGD's unset lr is NaN).
const encodeNum = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v);
const decodeNum = (_k: string, v: any) => (v && typeof v === 'object' && typeof v.$number === 'string' && Object.keys(v).length === 1 ? Number(v.$number) : v);

function fail(message: string): never { throw new ThawError('training-checkpoint', message); }

function seedsOf(model: Module): Map<string, Stochastic> {
  const out = new Map<string, Stochastic>();
  for (const [path, m] of model.namedModules()) if (isStochastic(m)) out.set(path, m);
  return out;
}

function host(t: Tensor, data: Float32Array | Int32Array): HostTensor {
  return { dtype: t.dtype === 'i32' ? 'i32' : 'f32', shape: [...t.shape], data };
}

/** Serialises a training state to safetensors bytes (reads every tensor back from the GPU); no file system involved. */
export async function encodeTrainingCheckpoint(s: TrainingState): Promise<Uint8Array> {
  for (const [k, v] of [['step', s.step], ['epoch', s.epoch]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) fail(`saveTrainingCheckpoint: ${k} must be a non-negative integer, got ${v}`);
  }
  const tensors = new Map<string, HostTensor>();
  for (const [k, t] of s.model.stateDict()) tensors.set(`model.${k}`, host(t, await t.data()));
  const sd = await s.optimizer.stateDict();
  const state: Meta['optimizer']['state'] = {};
  for (const [name, e] of Object.entries(sd.state)) {
    const buffers: Record<string, string> = {};
    for (const [b, data] of Object.entries(e.buffers)) {
      const key = `optim.${name}.${b}`;
      if (tensors.has(key)) fail(`saveTrainingCheckpoint: optimizer state key '${key}' is ambiguous (parameter names overlap)`);
      tensors.set(key, { dtype: 'f32', shape: [data.length], data });
      buffers[b] = key;
    }
    state[name] = { step: e.step, buffers };
  }
  // A diverged state is not saved: written over the last good checkpoint it would leave nothing to resume from.
  const bad = nonFinite(tensors);
  if (bad.length) {
    throw new ThawError('non-finite', `saveTrainingCheckpoint: ${bad.length} tensor${bad.length > 1 ? 's hold' : ' holds'} NaN or Inf: ${list(bad)}. ` +
      'Training has diverged, so this state was not saved (a previous checkpoint is left as it was); resume from it with a lower learning rate');
  }
  const seeds: Record<string, number> = {};
  for (const [path, m] of seedsOf(s.model)) seeds[path] = m.seed;
  const meta: Meta = {
    format: FORMAT, version: VERSION, step: s.step, epoch: s.epoch, extra: s.extra ?? {},
    optimizer: { kind: sd.kind, groups: sd.groups, state },
    scheduler: s.scheduler?.stateDict() ?? null,
    rng: s.rng?.state() ?? null,
    seeds,
  };
  return writeSafetensors(tensors, { [META_KEY]: JSON.stringify(meta, encodeNum) });
}

/**
 * Writes a training checkpoint to `path` atomically: readers (and a run resumed after a crash) see the
 * previous file or the new one, never a torn one. Temp files left by crashed saves of the same path
 * (their process is gone) are removed first.
 */
export async function saveTrainingCheckpoint(path: string, s: TrainingState): Promise<void> {
  const bytes = await encodeTrainingCheckpoint(s);
  await removeStaleTemps(path).catch(() => []);
  const key = resolve(path);
  inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
  try {
    await saveAtomic(path, bytes);
  } finally {
    const n = inFlight.get(key)! - 1;
    if (n) inFlight.set(key, n); else inFlight.delete(key);
  }
}

/** Saves in flight in this process, by resolved path: their temp files are not stale. */
const inFlight = new Map<string, number>();

/** Reads a training checkpoint from `path` and restores it into `targets` (see restoreTrainingCheckpoint). */
export async function loadTrainingCheckpoint(path: string, targets: RestoreTargets): Promise<RestoredState> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new ThawError('training-checkpoint', `cannot read training checkpoint '${path}' (${(e as Error).message})`, { cause: e });
  }
  return restoreTrainingCheckpoint(bytes, targets, `'${path}'`);
}

/**
 * Restores checkpoint bytes into `targets`. Every mismatch (model keys, shapes and dtypes; optimizer
 * kind, groups, parameter names and state sizes; scheduler and RNG presence) is checked first and
 * reported together by name in one ThawError ('training-checkpoint'), and nothing is changed then.
 * No file system involved (bytes from IndexedDB or a download work the same).
 */
export function restoreTrainingCheckpoint(bytes: Uint8Array, targets: RestoreTargets, source = 'checkpoint'): RestoredState {
  let parsed;
  try {
    parsed = parseSafetensors(bytes);
  } catch (e) {
    if (e instanceof CheckpointError) throw new CheckpointError(e.kind, `${source}: ${e.message}`, { cause: e });
    throw e;
  }
  const raw = parsed.metadata[META_KEY];
  if (typeof raw !== 'string') fail(`${source} is not a thaw training checkpoint (no '${META_KEY}' metadata); for a weights-only file use loadStateDict`);
  let meta: Meta;
  try {
    meta = JSON.parse(raw, decodeNum);
  } catch (e) {
    return fail(`${source}: '${META_KEY}' metadata is not valid JSON (${(e as Error).message})`);
  }
  if (meta?.format !== FORMAT || meta.version !== VERSION) fail(`${source}: '${META_KEY}' is format ${meta?.format} version ${meta?.version}; this thaw reads ${FORMAT} version ${VERSION}`);
  const bad = malformed(meta);
  if (bad) fail(`${source}: '${META_KEY}' metadata is malformed: ${bad}`);
  const { model, optimizer, scheduler, rng } = targets;
  const problems: string[] = [];

  // Model: every key on both sides, same shape and dtype.
  const state = model.stateDict();
  const fileModel = new Map<string, HostTensor>();
  for (const [k, t] of parsed.tensors) if (k.startsWith('model.')) fileModel.set(k.slice(6), t);
  const missing = [...state.keys()].filter((k) => !fileModel.has(k));
  const unexpected = [...fileModel.keys()].filter((k) => !state.has(k));
  if (missing.length) problems.push(`model keys missing from the checkpoint: ${list(missing)}`);
  if (unexpected.length) problems.push(`checkpoint model keys not in the model: ${list(unexpected)}`);
  for (const [k, t] of state) {
    const h = fileModel.get(k);
    if (!h) continue;
    if (!sameShape(h.shape, t.shape) || h.dtype !== t.dtype) {
      problems.push(`model '${k}': checkpoint has ${h.dtype} ${shapeStr(h.shape)}, model has ${t.dtype} ${shapeStr(t.shape)}`);
    }
  }

  // Optimizer: same kind, groups and parameter names; state buffers sized like their parameters.
  const om = meta.optimizer;
  const sd: OptimizerStateDict = { kind: om.kind, groups: om.groups, state: {} };
  if (om.kind !== optimizer.kind) problems.push(`optimizer: checkpoint is ${om.kind}, the optimizer is ${optimizer.kind}`);
  else if (om.groups.length !== optimizer.groups.length) problems.push(`optimizer: checkpoint has ${om.groups.length} parameter groups, the optimizer has ${optimizer.groups.length}`);
  else {
    const params = new Map<string, Tensor>();
    optimizer.groups.forEach((g, gi) => {
      const named: [string, Tensor][] = g.params;
      const mine = named.map(([n]) => n), theirs = om.groups[gi].params;
      const miss = mine.filter((n) => !theirs.includes(n)), extra = theirs.filter((n) => !mine.includes(n));
      if (miss.length || extra.length) problems.push(`optimizer group ${gi}: parameters missing from the checkpoint [${miss.join(', ')}], unexpected [${extra.join(', ')}]`);
      for (const [n, p] of named) params.set(n, p);
    });
    for (const [name, e] of Object.entries(om.state)) {
      const p = params.get(name);
      if (!p) { problems.push(`optimizer state for unknown parameter '${name}'`); continue; }
      const buffers: Record<string, Float32Array> = {};
      for (const [b, key] of Object.entries(e.buffers)) {
        const h = parsed.tensors.get(key);
        if (!h || !(h.data instanceof Float32Array)) { problems.push(`optimizer state '${name}.${b}': tensor '${key}' is missing or not f32`); continue; }
        if (h.data.length !== p.size) problems.push(`optimizer state '${name}.${b}' has ${h.data.length} elements, parameter ${shapeStr(p.shape)} has ${p.size}`);
        buffers[b] = h.data;
      }
      sd.state[name] = { step: e.step, buffers };
    }
  }

  if (scheduler && !meta.scheduler) problems.push('a scheduler was given but the checkpoint holds no scheduler state');
  if (!scheduler && meta.scheduler) problems.push(`the checkpoint holds scheduler state (step ${meta.scheduler.step}); pass the scheduler to restore its position`);
  if (scheduler && meta.scheduler && meta.scheduler.baseLrs.length !== optimizer.groups.length) {
    problems.push(`scheduler: checkpoint has ${meta.scheduler.baseLrs.length} groups, the optimizer has ${optimizer.groups.length}`);
  }
  if (rng && !meta.rng) problems.push('an rng was given but the checkpoint holds no RNG state');
  let restoredRng: Rng | null = null;
  if (meta.rng) {
    try { restoredRng = Rng.fromState(meta.rng); } catch (e) { problems.push(`rng: ${(e as Error).message}`); }
  }
  const seeds = seedsOf(model);
  for (const path of Object.keys(meta.seeds ?? {})) if (!seeds.has(path)) problems.push(`module '${path}' has a saved seed but no such stochastic module (Dropout, attention dropout) in the model`);

  if (problems.length) fail(`${source} does not match what it is restored into:\n  ${problems.join('\n  ')}`);
  const diverged = nonFinite(parsed.tensors);
  if (diverged.length) {
    throw new ThawError('non-finite', `${source}: ${diverged.length} tensor${diverged.length > 1 ? 's hold' : ' holds'} NaN or Inf: ${list(diverged)}; ` +
      'it was saved after training diverged, so nothing was restored: resume from an earlier checkpoint');
  }

  // Everything matches: apply. In-place writes keep tensor identity (the optimizer holds these tensors).
  const rt = runtime();
  for (const [k, t] of state) {
    const h = fileModel.get(k)!;
    if (t.size) rt.write(t.buffer, h.data as Float32Array | Int32Array);
  }
  optimizer.loadStateDict(sd);
  if (scheduler) scheduler.loadStateDict(meta.scheduler!);
  if (rng && restoredRng) Object.assign(rng, restoredRng); // plain fields: copies the stream position in place
  for (const [path, seed] of Object.entries(meta.seeds ?? {})) seeds.get(path)!.seed = seed;
  return { step: meta.step, epoch: meta.epoch, extra: meta.extra ?? {}, rng: rng && restoredRng ? rng : restoredRng };
}

const isObj = (v: unknown): v is Record<string, any> => !!v && typeof v === 'object' && !Array.isArray(v);
const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

/** What is structurally wrong with parsed metadata (a hand-edited or foreign file), or null. */
function malformed(m: Meta): string | null {
  if (!isCount(m.step) || !isCount(m.epoch)) return 'step and epoch must be non-negative integers';
  if (!isObj(m.extra)) return 'extra must be an object';
  const o = m.optimizer;
  if (!isObj(o) || typeof o.kind !== 'string' || !Array.isArray(o.groups) || !isObj(o.state)) return 'optimizer must have kind, groups and state';
  for (const g of o.groups) if (!isObj(g) || !Array.isArray(g.params) || !g.params.every((p: unknown) => typeof p === 'string') || !isObj(g.hyper)) return 'each optimizer group needs params (names) and hyper';
  for (const [n, e] of Object.entries(o.state)) {
    if (!isObj(e) || !isCount(e.step) || !isObj(e.buffers) || !Object.values(e.buffers).every((k) => typeof k === 'string')) return `optimizer state '${n}' needs a step count and buffer keys`;
  }
  const sc = m.scheduler;
  if (sc !== null && (!isObj(sc) || !isCount(sc.step) || !Array.isArray(sc.baseLrs) || !sc.baseLrs.every((x) => typeof x === 'number'))) return 'scheduler must be null or {step, baseLrs}';
  if (m.rng !== null && !isObj(m.rng)) return 'rng must be null or an RNG state';
  if (!isObj(m.seeds) || !Object.values(m.seeds).every((v) => Number.isInteger(v))) return 'seeds must map module paths to integers';
  return null;
}

/** `key (summary)` for each tensor holding NaN or Inf. */
function nonFinite(tensors: Map<string, HostTensor>): string[] {
  return [...tensors].flatMap(([k, h]) => { const why = nonFiniteSummary(h); return why ? [`${k} (${why})`] : []; });
}

function list(xs: string[]): string {
  return xs.length > 8 ? `${xs.slice(0, 8).join(', ')}, … (${xs.length} in all)` : xs.join(', ');
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/**
 * Removes temp files that interrupted saves of `path` left beside it (saveAtomic's
 * `.<name>.<pid>.<hex>.tmp`): those of processes no longer running (a crash), and this process's own
 * when no save of `path` is in flight here (a save that failed after its temp file was closed).
 * Returns the names removed. A save in flight in a live process is left alone.
 */
export async function removeStaleTemps(path: string): Promise<string[]> {
  const dir = dirname(path), base = basename(path);
  const prefix = `.${base}.`;
  const removed: string[] = [];
  for (const name of await readdir(dir)) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const m = /^(\d+)\.[0-9a-f]+\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid ? inFlight.has(resolve(path)) : alive(pid)) continue;
    await rm(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}
