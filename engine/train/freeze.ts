/**
 * Freezing: by parameter-name prefix, regex, or depth over a model's ordered layer groups.
 *
 * A frozen parameter has `requiresGrad = false`, so no op records it, no gradient buffer is made
 * and optimizers give it no state. Norm layers whose parameters are all frozen are put in inference
 * mode (`frozenNorm`): their running statistics stay untouched even under `train()`, unlike tfjs
 * and Burn. `trainBn` keeps norm affine parameters trainable (fastai's `train_bn`), still with
 * frozen statistics. A frozen conv followed by such a frozen norm runs as one conv with folded
 * weights where the model uses `convBnAct` (nn/fused.ts); freezing or unfreezing drops those folds.
 */
import type { Module } from '../nn/module.ts';
import { ThawError } from '../core/errors.ts';
import { invalidateFolds } from '../nn/fused.ts';
import { isNormalization } from '../nn/roles.ts';

/** A module with ordered layer groups for depth-based freezing (stem → blocks → head). */
export interface Grouped {
  /** Parameter-name prefixes of each layer group, from the input side to the head. */
  layerGroups(): string[][];
}

/** What to freeze: a parameter-name prefix ('' or '*': all), a RegExp over names, or a depth in layer groups. */
export type FreezeSpec = string | RegExp | number;

/** Options of `freeze` and `freezeTo`. */
export interface FreezeOptions {
  /** Keep batch-norm weight/bias trainable (statistics still frozen). Default false. */
  trainBn?: boolean;
}

function matcher(spec: string | RegExp): (key: string) => boolean {
  if (spec instanceof RegExp) return (k) => spec.test(k);
  if (spec === '' || spec === '*') return () => true;
  return (k) => k === spec || k.startsWith(spec.endsWith('.') ? spec : `${spec}.`);
}

/**
 * Parses a CLI-style freeze spec: a number (depth), `/regex/flags`, or comma-separated prefixes.
 * An invalid regular expression or flag is a ThawError (kind 'freeze') naming it.
 */
export function parseFreezeSpec(s: string): FreezeSpec[] {
  if (/^-?\d+$/.test(s)) return [Number(s)];
  if (s.startsWith('/') && s.lastIndexOf('/') > 0) {
    const body = s.slice(1, s.lastIndexOf('/')), flags = s.slice(s.lastIndexOf('/') + 1);
    try {
      return [new RegExp(body, flags)];
    } catch (e) {
      throw new ThawError('freeze', `freeze spec '${s}' is not a valid regular expression (${(e as Error).message.replace(/^Invalid regular expression: /, '')}); ` +
        "write /pattern/ with JavaScript regex syntax, e.g. '/^(conv1|layer1)\\./'", { cause: e });
    }
  }
  return s.split(',').map((x) => x.trim()).filter(Boolean);
}

function prefixesForDepth(model: Module, n: number): string[] {
  const g = (model as unknown as Partial<Grouped>).layerGroups?.();
  if (!g) throw new ThawError('freeze', 'freezeTo(n) needs a model with layerGroups(); freeze by name prefix or regex instead');
  const depth = n < 0 ? g.length + n : n;
  if (depth < 0 || depth > g.length) throw new ThawError('freeze', `freeze depth ${n} is out of range: the model has ${g.length} layer groups`);
  return g.slice(0, depth).flat();
}

/** Refuses a name spec that matches no parameter (a typo would otherwise freeze nothing, silently). */
function checkMatches(model: Module, spec: string | RegExp, match: (k: string) => boolean, verb: string): void {
  if (spec === '' || spec === '*') return;
  const names = model.namedParameters().map(([k]) => k);
  if (!names.length || names.some(match)) return;
  const shown = spec instanceof RegExp ? String(spec) : `'${spec}'`;
  const step = Math.max(1, Math.floor(names.length / 4));
  const examples = [...new Set([names[0], names[step], names[2 * step], names[names.length - 1]].filter(Boolean))];
  throw new ThawError('freeze', `${verb} ${shown} matches no parameter of the model, so it would ${verb} nothing; ` +
    `parameter names look like ${examples.join(', ')} (${names.length} in all); give a name prefix, a /regex/ or a depth`);
}

function setTrainable(model: Module, match: (k: string) => boolean, trainable: boolean, opts: FreezeOptions): number {
  // Folded conv + batch norm weights (nn/fused.ts) are recomputed at their next use.
  invalidateFolds();
  let count = 0;
  const normParams = new Set<string>();
  for (const [path, m] of model.namedModules()) {
    if (!isNormalization(m)) continue;
    for (const [k] of m.namedParameters(path)) normParams.add(k);
  }
  for (const [k, p] of model.namedParameters()) {
    if (!match(k)) continue;
    const keepTrainableBn = !trainable && opts.trainBn && normParams.has(k);
    p.requiresGrad = trainable || !!keepTrainableBn;
    if (!p.requiresGrad) { p.grad?.dispose(); p.grad = null; }
    count++;
  }
  // Norm layers: frozen statistics when the layer's own parameters were all matched for freezing.
  for (const [path, m] of model.namedModules()) {
    if (!isNormalization(m)) continue;
    const keys = [...m.namedParameters(path).map(([k]) => k), ...m.namedBuffers(path).map(([k]) => k)];
    if (!keys.length || !keys.every(match)) continue;
    m.frozenNorm = !trainable;
  }
  return count;
}

/** The matcher of each spec; a name spec (prefix or regex) that matches no parameter is an error naming it. */
function matchers(model: Module, specs: FreezeSpec | FreezeSpec[], verb: string): ((k: string) => boolean)[] {
  return (Array.isArray(specs) ? specs : [specs]).map((s) => {
    if (typeof s === 'number') {
      const prefixes = prefixesForDepth(model, s);
      return (k: string) => prefixes.some((p) => matcher(p)(k));
    }
    const m = matcher(s);
    checkMatches(model, s, m, verb);
    return m;
  });
}

/**
 * Freezes the parameters matched by each spec (prefix, regex, or depth). Returns how many were
 * frozen. A prefix or regex that matches no parameter is an error (naming it and example names), and
 * then nothing is frozen.
 */
export function freeze(model: Module, specs: FreezeSpec | FreezeSpec[], opts: FreezeOptions = {}): number {
  let n = 0;
  for (const m of matchers(model, specs, 'freeze')) n += setTrainable(model, m, false, opts);
  return n;
}

/** Unfreezes the parameters matched by each spec (a prefix or regex matching none is an error, as for freeze). */
export function unfreeze(model: Module, specs: FreezeSpec | FreezeSpec[] = '*'): number {
  let n = 0;
  for (const m of matchers(model, specs, 'unfreeze')) n += setTrainable(model, m, true, {});
  return n;
}

/** Freezes the first `n` layer groups and unfreezes the rest (fastai's `freeze_to`); negative n counts from the head. */
export function freezeTo(model: Module, n: number, opts: FreezeOptions = {}): void {
  unfreeze(model, '*');
  if (n !== 0) freeze(model, n, opts);
}

/** Summary of what is trainable: counts of parameters and elements, frozen norm layers. */
export function trainableSummary(model: Module): { trainable: number; frozen: number; trainableElements: number; frozenNorms: number } {
  let trainable = 0, frozen = 0, trainableElements = 0;
  for (const [, p] of model.namedParameters()) {
    if (p.requiresGrad) { trainable++; trainableElements += p.size; } else frozen++;
  }
  const frozenNorms = model.namedModules().filter(([, m]) => isNormalization(m) && m.frozenNorm).length;
  return { trainable, frozen, trainableElements, frozenNorms };
}
