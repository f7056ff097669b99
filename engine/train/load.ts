/**
 * Loading named host tensors into a module: key remapping (strip `module.`, regex renames), shape
 * checks, and a report of loaded, missing, unexpected and mis-shaped keys by name. A partial
 * checkpoint into a model with a new head is the normal case: the report says what was skipped.
 */
import type { Module } from '../nn/module.ts';
import type { HostTensor } from '../io/types.ts';
import { Tensor, sameShape } from '../core/tensor.ts';
import { assign, assignHalfBits } from '../core/factory.ts';
import { toHalfBits } from '../core/half.ts';
import { ThawError } from '../core/errors.ts';
import { runtime } from '../core/runtime.ts';

/** One rename rule: a regex (or literal prefix) and its replacement. */
export interface RemapRule { from: RegExp | string; to: string }

/** Options of `loadStateDict`. */
export interface LoadOptions {
  /** Throw when any key is missing, unexpected or mis-shaped (default false). */
  strict?: boolean;
  /** Rename rules applied in order to each checkpoint key. `'strip-module'` strips DataParallel's `module.`. */
  remap?: (RemapRule | 'strip-module')[];
  /** Model keys to leave alone even if the checkpoint has them (e.g. a new head: /^fc\./). */
  skip?: RegExp;
  /**
   * Load tensors holding NaN or ±Infinity (default false: such a checkpoint, e.g. one saved after
   * training diverged, is refused before anything is loaded, naming the tensors).
   */
  allowNonFinite?: boolean;
  /** Names the checkpoint (a file path) in error messages. */
  source?: string;
}

/** A description of the non-finite values of a float host tensor ("12 of 432 NaN, first at element 3"), or null when all are finite. */
export function nonFiniteSummary(h: HostTensor): string | null {
  if (!(h.data instanceof Float32Array)) return null;
  const d = h.data;
  let nan = 0, inf = 0, first = -1;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v - v === 0) continue; // finite
    if (first < 0) first = i;
    if (v !== v) nan++; else inf++;
  }
  if (first < 0) return null;
  const kinds = [nan ? `${nan} NaN` : '', inf ? `${inf} Inf` : ''].filter(Boolean).join(' and ');
  return `${kinds} of ${d.length} values, first at element ${first}`;
}

/** How many finite values of `d` round to ±Infinity in f16 (|v| >= 65520). */
function countOverflow(d: Float32Array): number {
  let n = 0;
  for (let i = 0; i < d.length; i++) if (Math.abs(d[i]) >= 65520 && Number.isFinite(d[i])) n++;
  return n;
}

/** What `loadStateDict` did: keys loaded, and keys missing, unexpected or mis-shaped. */
export interface LoadReport {
  loaded: string[];
  /** Model keys the checkpoint did not provide (they keep their initial values). */
  missing: string[];
  /** Checkpoint keys with no place in the model. */
  unexpected: string[];
  /** Keys present on both sides with different shapes (not loaded). */
  mismatched: { key: string; model: number[]; checkpoint: number[] }[];
  /** Model keys deliberately left alone (`skip`). */
  skipped: string[];
}

function applyRemap(key: string, rules: LoadOptions['remap']): string {
  let k = key;
  for (const r of rules ?? []) {
    if (r === 'strip-module') k = k.replace(/^module\./, '');
    else if (typeof r.from === 'string') { if (k.startsWith(r.from)) k = r.to + k.slice(r.from.length); }
    else k = k.replace(r.from, r.to);
  }
  return k;
}

/** Loads `tensors` into `model` by key; returns the report (and throws on problems when `strict`). */
export function loadStateDict(model: Module, tensors: Map<string, HostTensor>, opts: LoadOptions = {}): LoadReport {
  const state = model.stateDict();
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [], skipped: [] };
  const seen = new Set<string>();
  const toLoad: [string, HostTensor, Tensor][] = [];
  for (const [rawKey, h] of tensors) {
    const key = applyRemap(rawKey, opts.remap);
    const target = state.get(key);
    if (!target) { report.unexpected.push(rawKey === key ? key : `${rawKey} (as ${key})`); continue; }
    seen.add(key);
    if (opts.skip?.test(key)) { report.skipped.push(key); continue; }
    // A scalar counter (num_batches_tracked) may be stored as shape [] or [1].
    const same = sameShape(h.shape, target.shape);
    const scalarish = h.shape.reduce((a, b) => a * b, 1) === 1 && target.size === 1;
    if (!same && !scalarish) {
      report.mismatched.push({ key, model: [...target.shape], checkpoint: [...h.shape] });
      continue;
    }
    toLoad.push([key, h, target]);
  }
  if (!opts.allowNonFinite) {
    const bad = toLoad.flatMap(([key, h]) => { const why = nonFiniteSummary(h); return why ? [`${key} (${why})`] : []; });
    if (bad.length) {
      throw new ThawError('non-finite', `${opts.source ?? 'the checkpoint'}: ${bad.length} tensor${bad.length > 1 ? 's hold' : ' holds'} NaN or Inf: ` +
        `${bad.slice(0, 4).join('; ')}${bad.length > 4 ? `; … (${bad.length} in all)` : ''}. A model loaded from it would output NaN; ` +
        'use a checkpoint saved before training diverged (nothing was loaded)');
    }
  }
  const overflowed: string[] = [];
  for (const [key, h, target] of toLoad) {
    // Written in place, so tensors held elsewhere (an optimizer built before the load) stay valid.
    if (target.dtype === 'f16' && h.data instanceof Float32Array) {
      // f16 and bf16 checkpoints load their halves as they are (bf16 rounded); others round on the host.
      const bits = h.half ?? toHalfBits(h.data);
      const over = h.halfOverflow ?? (h.half ? 0 : countOverflow(h.data));
      if (over) overflowed.push(`${key} (${over} of ${h.data.length})`);
      assignHalfBits(target, bits);
    } else assign(target, h.data as ArrayLike<number>);
    report.loaded.push(key);
  }
  if (overflowed.length && typeof console !== 'undefined') {
    console.warn(`thaw: ${opts.source ?? 'the checkpoint'}: ${overflowed.length} tensor${overflowed.length > 1 ? 's hold' : ' holds'} values beyond f16's range (±65504), ` +
      `loaded into f16 as ±Infinity: ${overflowed.slice(0, 4).join('; ')}${overflowed.length > 4 ? '; …' : ''}; keep these tensors in f32`);
  }
  for (const key of state.keys()) {
    if (seen.has(key)) continue;
    // Checkpoints from PyTorch < 0.4 have no BatchNorm counter; torch itself defaults it to 0 on load.
    if (key.endsWith('.num_batches_tracked') || key === 'num_batches_tracked') continue;
    (opts.skip?.test(key) ? report.skipped : report.missing).push(key);
  }
  runtime().flush();
  if (opts.strict && (report.missing.length || report.unexpected.length || report.mismatched.length)) {
    throw new ThawError('state-dict', describeLoad(report, true));
  }
  return report;
}

/**
 * Why a load did not cover the model, or null when it did: nothing matched at all (the checkpoint is
 * for another architecture), or model keys that `optional` does not excuse (e.g. the trunk of a model
 * whose head is replaced anyway) were missing or mis-shaped and keep their random initial values.
 */
export function loadGap(r: LoadReport, optional: (key: string) => boolean = () => false): string | null {
  const list = (xs: string[]) => (xs.length > 6 ? `${xs.slice(0, 6).join(', ')}, … (${xs.length} in all)` : xs.join(', '));
  if (r.loaded.length === 0) {
    return `none of its ${r.unexpected.length} tensors matches the model (its keys: ${list(r.unexpected)}; ` +
      `the model's: ${list([...r.missing, ...r.mismatched.map((m) => m.key)])})`;
  }
  const gaps = [...r.missing.filter((k) => !optional(k)), ...r.mismatched.filter((m) => !optional(m.key)).map((m) => `${m.key} (shape [${m.checkpoint}], model [${m.model}])`)];
  return gaps.length ? `${gaps.length} model tensor${gaps.length > 1 ? 's are' : ' is'} missing or mis-shaped in it and would stay random: ${list(gaps)}` : null;
}

/** A human-readable summary of a load report. */
export function describeLoad(r: LoadReport, onlyProblems = false): string {
  const lines: string[] = [];
  if (!onlyProblems) lines.push(`loaded ${r.loaded.length} tensors`);
  const list = (xs: string[]) => (xs.length > 8 ? `${xs.slice(0, 8).join(', ')}, … (${xs.length} in all)` : xs.join(', '));
  if (r.missing.length) lines.push(`missing from the checkpoint (left at their initial values): ${list(r.missing)}`);
  if (r.unexpected.length) lines.push(`in the checkpoint but not in the model (ignored): ${list(r.unexpected)}`);
  if (r.mismatched.length) lines.push(`shape mismatch (not loaded): ${r.mismatched.map((m) => `${m.key} model [${m.model}] vs checkpoint [${m.checkpoint}]`).join('; ')}`);
  if (r.skipped.length) lines.push(`skipped on purpose: ${list(r.skipped)}`);
  return lines.join('\n');
}

/** Copies a module's parameters and buffers to host tensors (for saving). */
export async function stateToHost(model: Module): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [k, t] of model.stateDict()) {
    const data = await t.data();
    out.set(k, { dtype: t.dtype === 'i32' ? 'i64' : 'f32', shape: [...t.shape], data });
  }
  return out;
}
