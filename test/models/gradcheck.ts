/**
 * Whole-network gradient checks against test/fixtures/models/grad_<name>.json (make_grad_fixtures.py):
 * the model is filled with detinit weights, put in training mode (Dropout off), optionally frozen
 * with a CLI-style spec, run on the det_uniform input and back-propagated from
 * sum(logits * det_uniform('loss')). Its logits are compared in full, each gradient with the
 * fixture's float64 summary of it (norm, max |g|, a det_uniform probe's dot product, entries at
 * fixed indices), all relative to the gradient's own scale.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import type { Module } from '../../engine/nn/module.ts';
import { tidy, keep, type Tensor } from '../../engine/core/tensor.ts';
import { tensor } from '../../engine/core/factory.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { loadStateDict } from '../../engine/train/load.ts';
import { freeze, parseFreezeSpec } from '../../engine/train/freeze.ts';
import { isStochastic } from '../../engine/nn/index.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { FIXTURES, maxRelError } from './helpers.ts';
import { detStateDict, detUniform } from './detinit.ts';
import { variable } from '../../engine/core/tape.ts';

/** The fixture's summary of one float64 gradient g of n values. */
export interface GradSummary { n: number; norm: number; maxabs: number; dot: number; values: number[] }
/** One forward/backward: all logits, the gradient summaries, and (after freezing) what stays trainable. */
export interface GradRun { logits: number[]; grads: Record<string, GradSummary>; trainable?: string[] }
/** A model's runs on the det_uniform input `inputKey`: in full training mode, and after `freeze` (a depth) when given. */
export interface GradCase { inputShape: number[]; inputKey: string; full: GradRun; freeze?: string; frozen?: GradRun; layers?: [number, number, number, number]; topology?: unknown; config?: unknown; blockSetting?: unknown }

/** Logits: relative to the largest |logit| (float32 against float64). */
export const LOGITS_TOL = 1e-4;
/** Gradients: relative to each gradient's scale. */
export const GRAD_TOL = 1e-3;

/** The cases of test/fixtures/models/grad_<name>.json. */
export function gradFixture(name: string): Record<string, GradCase> {
  return JSON.parse(readFileSync(join(FIXTURES, `grad_${name}.json`), 'utf8'));
}

/**
 * A gradient far below the run's largest is typically a sum of large terms that nearly cancel (or
 * cancel exactly: the bias of a BatchNorm whose output only reaches training-mode BatchNorms through
 * linear ops gets none), so float32 cannot give it to its own relative precision. Its errors are
 * measured against this fraction of the run's largest gradient instead.
 */
export const GRAD_FLOOR = 1e-3;

/** The scales under which gradients of `run` are compared: GRAD_FLOOR times its largest norm and largest |g|. */
export function gradFloor(run: GradRun): { norm: number; maxabs: number } {
  const all = Object.values(run.grads);
  return { norm: GRAD_FLOOR * Math.max(...all.map((s) => s.norm)), maxabs: GRAD_FLOOR * Math.max(...all.map((s) => s.maxabs)) };
}

/**
 * The error of gradient `g` against its summary: the relative error of its norm and max |g|, of its
 * dot product with the probe (over ||g|| · rms(probe), the size of a random error's contribution)
 * and of the stored entries (over max |g|); the largest of these. Norms and maxima below `floor`
 * are replaced by it.
 */
export function summaryError(key: string, g: ArrayLike<number>, s: GradSummary, floor: { norm: number; maxabs: number }): number {
  assert.is(g.length, s.n, `${key}: gradient size`);
  const probe = detUniform(`probe.${key}`, s.n, -1, 1);
  let norm = 0, maxabs = 0, dot = 0, pp = 0;
  for (let i = 0; i < s.n; i++) {
    norm += g[i] * g[i];
    maxabs = Math.max(maxabs, Math.abs(g[i]));
    dot += g[i] * probe[i];
    pp += probe[i] * probe[i];
  }
  const k = s.values.length;
  let entries = 0;
  for (let j = 0; j < k; j++) entries = Math.max(entries, Math.abs(g[Math.floor((j * s.n) / k)] - s.values[j]));
  const sn = Math.max(s.norm, floor.norm), sa = Math.max(s.maxabs, floor.maxabs);
  const errs = [
    Math.abs(Math.sqrt(norm) - s.norm) / sn,
    Math.abs(maxabs - s.maxabs) / sa,
    Math.abs(dot - s.dot) / (sn * Math.sqrt(pp / s.n)),
    entries / sa,
  ];
  return errs.some(Number.isNaN) ? Infinity : Math.max(...errs);
}

/** Fills `model` with the detinit weights the fixture script used. */
export function loadDetWeights(model: Module): void {
  const r = loadStateDict(model, detStateDict(model));
  assert.equal(r.unexpected, []);
  assert.equal(r.mismatched, []);
}

/** Training mode with the stochastic layers (Dropout) off: their masks are random, so torch cannot reproduce them. */
export function trainMode(model: Module): void {
  model.train();
  for (const [, m] of model.namedModules()) if (isStochastic(m)) m.training = false;
}

export interface GradResult { logitsErr: number; gradErr: number; worst: string }

/**
 * Runs `model` (weights loaded, mode and freezing set) on the case's input through `forward`, back-
 * propagates the fixture's loss and checks the logits and every parameter's gradient against `run`:
 * a parameter has a gradient exactly when the fixture has one (with `run.trainable`, exactly those
 * still require grad, and frozen ones have none). With `inputGrad` the input's gradient is checked too.
 */
export async function checkGradRun(model: Module, forward: (x: Tensor) => Tensor, c: GradCase, run: GradRun, inputGrad = false): Promise<GradResult> {
  const n = c.inputShape.reduce((a, b) => a * b, 1);
  const x = tensor(detUniform(c.inputKey, n, -1, 1), c.inputShape);
  if (inputGrad) variable(x);
  const y = tidy(() => {
    const out = forward(x);
    backward(sum(mul(out, tensor(detUniform('loss', out.size, -1, 1), out.shape))));
    return keep(out);
  });
  const logitsErr = maxRelError(await y.data(), run.logits);
  y.dispose();
  const params: [string, Tensor][] = [...model.namedParameters(), ...(inputGrad ? [['input', x] as [string, Tensor]] : [])];
  if (run.trainable) assert.equal(model.namedParameters().filter(([, p]) => p.requiresGrad).map(([k]) => k), run.trainable, 'trainable parameters');
  let gradErr = 0, worst = '';
  const floor = gradFloor(run);
  for (const [k, p] of params) {
    const s = run.grads[k];
    if (!s) { assert.is(p.grad, null, `${k} is frozen in torch but has a gradient`); continue; }
    assert.ok(p.grad, `${k} has no gradient`);
    const e = summaryError(k, await p.grad!.data(), s, floor);
    if (e > gradErr || !worst) { gradErr = e; worst = k; }
  }
  assert.equal(Object.keys(run.grads).length, params.filter(([, p]) => p.grad).length, 'gradients in the fixture vs gradients computed');
  x.grad?.dispose();
  x.dispose();
  return { logitsErr, gradErr, worst };
}

/** Logs a result and asserts it is within LOGITS_TOL and GRAD_TOL. */
export function reportGrad(label: string, r: GradResult): void {
  console.log(`  ${label}: logits ${r.logitsErr.toExponential(2)}, worst gradient ${r.gradErr.toExponential(2)} (${r.worst})`);
  assert.ok(r.logitsErr <= LOGITS_TOL, `${label}: logits relative error ${r.logitsErr} > ${LOGITS_TOL}`);
  assert.ok(r.gradErr <= GRAD_TOL, `${label}: gradient of ${r.worst} relative error ${r.gradErr} > ${GRAD_TOL}`);
}

/**
 * The whole check for a model with layer groups: `make()` builds it, then its full training-mode run
 * and (when the case has one) the run after `freeze(model, c.freeze)`, each on a fresh model.
 */
export async function checkGradCase(label: string, make: () => Module & { forward(x: Tensor): Tensor }, c: GradCase): Promise<void> {
  for (const [run, spec] of [[c.full, null], [c.frozen, c.freeze]] as const) {
    if (!run) continue;
    const m = make();
    try {
      loadDetWeights(m);
      trainMode(m);
      if (spec) freeze(m, parseFreezeSpec(spec));
      reportGrad(`${label} ${spec ? `freeze ${spec}` : 'all trainable'}`, await checkGradRun(m, (x) => m.forward(x), c, run));
    } finally {
      m.dispose();
    }
  }
}
