/** Shared helpers of the model tests (not a test file itself). */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import type { Module } from '../../engine/nn/module.ts';
import { tidy, type Tensor, noGrad } from '../../engine/core/tensor.ts';
import { tensor } from '../../engine/core/factory.ts';
import { detUniform } from './detinit.ts';
import type { Classifier } from '../../engine/train/types.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** `<repo>/../shared`: the real checkpoints and images, absent on some machines. */
export const SHARED = resolve(ROOT, '../shared');
export const FIXTURES = join(ROOT, 'test/fixtures/models');

/** Whether `<repo>/../shared/<sub>` exists; logs why a test is skipped when not. */
export function haveShared(sub: string): boolean {
  if (existsSync(join(SHARED, sub))) return true;
  console.log(`  skip: ${join(SHARED, sub)} is absent (the real checkpoints live in ../shared beside the repo)`);
  return false;
}

/** max |a - e| / max |e|: the error relative to the output's scale (robust to near-zero entries). */
export function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.is(actual.length, expected.length, 'length');
  let err = 0, scale = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return err / scale;
}

/** max |a - e|. */
export function maxAbsError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.is(actual.length, expected.length, 'length');
  let err = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
  }
  return err;
}

/** Indices of the k largest values, largest first. */
export function topK(v: ArrayLike<number>, k: number): number[] {
  return Array.from(v, (x, i) => [x, i] as const).sort((a, b) => b[0] - a[0]).slice(0, k).map(([, i]) => i);
}

/**
 * Checks the Classifier contract's bookkeeping: every parameter belongs to exactly one layer group,
 * the last group is the head (headPrefix), and the head's own keys are what headPrefix selects.
 */
export function checkGroups(model: Classifier & Module): void {
  const keys = model.namedParameters().map(([k]) => k);
  const groups = model.layerGroups();
  const owner = new Map<string, number>();
  const under = (k: string, p: string) => k === p || k.startsWith(`${p}.`);
  groups.forEach((g, gi) => {
    assert.ok(g.length > 0, `group ${gi} is empty`);
    for (const p of g) {
      const hits = keys.filter((k) => under(k, p));
      assert.ok(hits.length > 0, `group ${gi} prefix '${p}' matches no parameter`);
      for (const k of hits) {
        assert.not.ok(owner.has(k), `'${k}' is in groups ${owner.get(k)} and ${gi}`);
        owner.set(k, gi);
      }
    }
  });
  for (const k of keys) assert.ok(owner.has(k), `'${k}' is in no layer group`);
  const headKeys = keys.filter((k) => under(k, model.headPrefix));
  assert.ok(headKeys.length > 0, `headPrefix '${model.headPrefix}' matches no parameter`);
  for (const k of headKeys) assert.is(owner.get(k), groups.length - 1, `head key '${k}' is not in the last group`);
}

/**
 * Checks `stages()`: running the stages in order gives exactly `features(x)`, and their prefixes
 * cover every trunk parameter once and no head parameter.
 */
export async function checkStages(model: Classifier & Module, x: Tensor): Promise<void> {
  const stages = model.stages?.();
  assert.ok(stages && stages.length > 1, 'stages()');
  const head = new Set(model.layerGroups().at(-1)!);
  const inHead = (k: string) => [...head].some((p) => k === p || k.startsWith(`${p}.`));
  const seen = new Map<string, string>();
  for (const s of stages!) {
    for (const p of s.prefixes) {
      for (const [k] of model.namedParameters().filter(([k]) => k === p || k.startsWith(`${p}.`))) {
        assert.not.ok(seen.has(k), `'${k}' is in stages ${seen.get(k)} and ${s.name}`);
        assert.not.ok(inHead(k), `head parameter '${k}' is in stage ${s.name}`);
        seen.set(k, s.name);
      }
    }
  }
  for (const [k] of model.namedParameters()) assert.ok(inHead(k) || seen.has(k), `'${k}' is in no stage`);
  const [a, b] = noGrad(() => tidy(() => {
    let y = x;
    for (const s of stages!) y = s.forward(y);
    return [model.features(x), y];
  }));
  assert.equal(b.shape, [x.shape[0], model.featureDim]);
  assert.equal(Array.from(await b.data()), Array.from(await a.data()), 'stages composed != features');
  a.dispose(); b.dispose();
}

/**
 * The whole Classifier contract on a small model with `numClasses` 7 (disposed at the end): layer groups
 * (checkGroups), features and logits shapes, stages composing to features (checkStages), the head on
 * features equal to forward, and replaceHead(3): the trunk's keys untouched, the head's keys kept and
 * all that headPrefix selects, exactly its last Linear's weight and bias now 3 wide.
 */
export async function checkClassifierContract(m: Classifier & Module): Promise<void> {
  checkGroups(m);
  m.eval();
  const x = tensor(detUniform('x', 2 * 3 * 32 * 32, -1, 1), [2, 3, 32, 32]);
  const [f, y, yh] = noGrad(() => tidy(() => [m.features(x), m.forward(x), m.head.forward(m.features(x))]));
  assert.equal(f.shape, [2, m.featureDim]);
  assert.equal(y.shape, [2, 7]);
  assert.equal(Array.from(await yh.data()), Array.from(await y.data()), 'head(features(x)) != forward(x)');
  await checkStages(m, x);
  const inHead = (k: string) => k.startsWith(`${m.headPrefix}.`);
  const trunk = () => m.namedParameters().filter(([k]) => !inHead(k)).map(([k]) => k);
  const head = () => m.namedParameters().filter(([k]) => inHead(k)).map(([k, t]) => [k, t.shape] as const);
  const trunkBefore = trunk(), headBefore = head();
  m.replaceHead(3);
  const y2 = noGrad(() => tidy(() => m.forward(x)));
  assert.equal(y2.shape, [2, 3]);
  assert.equal(trunk(), trunkBefore);
  const headAfter = head();
  assert.equal(headAfter, m.head.namedParameters(m.headPrefix).map(([k, t]) => [k, t.shape] as const));
  assert.equal(headAfter.map(([k]) => k), headBefore.map(([k]) => k));
  assert.equal(headAfter.filter((e, i) => JSON.stringify(e) !== JSON.stringify(headBefore[i])).map(([, s]) => s[0]), [3, 3]);
  for (const t of [x, f, y, yh, y2]) t.dispose();
  m.dispose();
}
