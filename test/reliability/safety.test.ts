// NaN/Inf checks: one reduction dispatch per tensor into one small buffer, one readback per check; the
// error names the step, the first bad parameter and whether its gradient or its value was bad.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from '../helpers.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { tensor, assign } from '../../engine/core/factory.ts';
import { keep, tidy, type Tensor } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { crossEntropy } from '../../kernels/softmax/softmax.ts';
import { relu } from '../../kernels/elementwise/elementwise.ts';
import { checkFinite, findNonFinite, NonFiniteError } from '../../kernels/finite/finite.ts';
import { makeRun, freeRun, trainStep, finding, BATCH, C, S } from './common.ts';

test.before(async () => { await setup(); });

/** Counts runtime readbacks while `fn` runs. */
async function readbacks<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const rt = runtime();
  const read = rt.read;
  let n = 0;
  rt.read = function (this: typeof rt, ...a: Parameters<typeof read>) { n++; return read.apply(this, a); };
  try { return [await fn(), n]; } finally { rt.read = read; }
}

test('a clean step passes with one dispatch per tensor and one readback', async () => {
  const r = makeRun(1);
  const batch = { x: new Float32Array(BATCH * C * S * S).fill(0.1), y: new Int32Array(BATCH), n: BATCH };
  await trainStep(r, batch);
  const named = r.model.namedParameters();
  tidy(() => backward(crossEntropy(r.model.forward(tensor(batch.x, [BATCH, C, S, S])), tensor(batch.y, [BATCH], 'i32'))));
  const d0 = runtime().dispatches;
  const [res, reads] = await readbacks(() => findNonFinite(named, 1, 'both'));
  assert.is(res, null);
  assert.is(reads, 1, 'one readback for all tensors');
  assert.is(runtime().dispatches - d0 - 1, 2 * named.length, 'one dispatch per gradient and per value (plus the flags buffer poison of the test helpers)');
  r.opt.zeroGrad();
  freeRun(r);
});

test('a NaN in the input: the gradient check names the step and the first parameter in order', async () => {
  const r = makeRun(1);
  const x = new Float32Array(BATCH * C * S * S).fill(0.1);
  x[5] = NaN;
  const loss = tidy(() => { const l = crossEntropy(r.model.forward(tensor(x, [BATCH, C, S, S])), tensor(new Int32Array(BATCH), [BATCH], 'i32')); backward(l); return l; });
  const lv = await loss.item();
  loss.dispose();
  // The loss alone does not show it here: ReLU's max(x, 0) turns NaN into 0 on this adapter.
  if (Number.isFinite(lv)) {
    const rl = (await relu(tensor([NaN])).data())[0];
    if (!Number.isNaN(rl)) finding('kernels/elementwise/elementwise.ts:52 (relu fwd max(x, 0.0))', `relu(NaN) = ${rl} on this adapter (WGSL max with NaN is implementation-defined; torch and the CPU reference give NaN), so a NaN input trains on with a finite loss (${lv.toFixed(4)}) while the gradients below the ReLU are NaN`);
  }
  const [err, reads] = await readbacks(() => checkFinite(r.model.namedParameters(), 17, 'grad').then(() => null, (e) => e));
  assert.ok(err instanceof NonFiniteError, String(err));
  assert.is(reads, 1);
  assert.is(err.kind, 'non-finite');
  assert.is(err.report.name, '0.weight');
  assert.is(err.report.what, 'grad');
  assert.match(err.message, /^step 17: gradient of '0\.weight' has NaN \(first at element \d+\); \d+ tensors are affected/);
  console.log(`  ${err.message}`);
  // Values are still finite: the optimizer has not run.
  assert.is(await findNonFinite(r.model.namedParameters(), 17, 'value'), null);
  r.opt.zeroGrad();
  freeRun(r);
});

test('an Inf injected into one parameter value is named with its element; NaN and Inf are told apart', async () => {
  const r = makeRun(1);
  const named = r.model.namedParameters();
  const [name, p] = named[named.length - 1]; // the head's bias, last in order
  const v = Array.from(await p.data());
  v[2] = -Infinity;
  assign(p, v);
  const err = await checkFinite(named, 3, 'value').then(() => null, (e) => e);
  assert.ok(err instanceof NonFiniteError);
  assert.equal({ ...err.report }, { step: 3, name, what: 'value', kind: 'Inf', index: 2, bad: [`${name} (value)`] });
  console.log(`  ${err.message}`);
  // A big tensor (several workgroups, a 2-D grid would follow the same path) with NaN and Inf far apart.
  const big = new Float32Array(70000);
  big[69999] = NaN; big[40000] = Infinity;
  const t = keep(tensor(big));
  const rep = await findNonFinite([['big', t] as [string, Tensor]], 0, 'value');
  assert.equal([rep?.kind, rep?.index], ['NaN and Inf', 40000]);
  t.dispose();
  // Tensors without a gradient are skipped by 'grad'; i32 tensors are never checked.
  assert.is(await findNonFinite(named, 0, 'grad'), null);
  freeRun(r);
});

test.run();
