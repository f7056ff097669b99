// The fine-tuning loop stops on a non-finite step instead of training on to NaN weights: every step's
// loss comes back with a GPU check of the trainable parameters in one readback, the error names the
// step, the first bad tensor and the learning rate, and nothing is leaked. Labels outside the head's
// classes are refused before any step.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, randArray } from '../helpers.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { assign } from '../../engine/core/factory.ts';
import { ThawError } from '../../engine/core/errors.ts';
import { finetune, makeOptimizer } from '../../engine/train/finetune.ts';
import { freeze, freezeTo } from '../../engine/train/freeze.ts';
import { NonFiniteError } from '../../kernels/finite/finite.ts';
import { arrayDataset } from '../../engine/data/dataset.ts';
import { KerasClassifier } from '../../models/keras/index.ts';

test.before(async () => { await setup(); });

const S = 4, CH = 3, K = 3;

/** A tiny Keras classifier: [Conv2D 1x1 → BatchNorm →] Flatten → Dense(K). */
function tiny(withConv: boolean, seed = (rand() * 2 ** 32) >>> 0): KerasClassifier {
  const layers = [
    ...(withConv ? [
      { class_name: 'Conv2D', config: { name: 'c', batch_input_shape: [null, S, S, CH], filters: 2, kernel_size: 1 } },
      { class_name: 'BatchNormalization', config: { name: 'bn' } },
    ] : []),
    { class_name: 'Flatten', config: { name: 'f', ...(withConv ? {} : { batch_input_shape: [null, S, S, CH] }) } },
    { class_name: 'Dense', config: { name: 'd', units: K } },
  ];
  let s = seed;
  return new KerasClassifier({ class_name: 'Sequential', config: { name: 't', layers } }, { rng: () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) });
}

function data(n: number): { x: Float32Array; y: Int32Array } {
  return { x: randArray(n * CH * S * S), y: Int32Array.from({ length: n }, () => Math.floor(rand() * K)) };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try { await p; } catch (e) { return e as Error; }
  throw new Error('expected a rejection');
}

test('a huge learning rate: the run stops at the step whose loss is NaN, naming it and the rate; nothing leaks', async () => {
  const m = tiny(true);
  const { x, y } = data(16);
  const live = runtime().pool.getStats().liveBuffers;
  const e = await rejection(finetune(m, arrayDataset(x, y), null, { epochs: 5, batchSize: 4, lr: 1e30, numClasses: K, featureCache: 'off', seed: 1 }));
  assert.ok(e instanceof NonFiniteError, String(e));
  const r = (e as NonFiniteError).report;
  console.log(`  ${e.message}`);
  assert.ok(r.step >= 2 && r.step <= 20, `step ${r.step}: step 1 starts from finite weights`);
  assert.is(r.epoch, Math.ceil(r.step / 4));
  assert.match(e.message, new RegExp(`^step ${r.step} \\(epoch ${r.epoch}\\): (the loss is (NaN|Inf)|value of '[\\w.]+' has (NaN|Inf))`));
  assert.match(e.message, /Lower the learning rate \(it is 1e\+30\)/);
  assert.match(e.message, /reload them before using it\.$/);
  assert.is(runtime().pool.getStats().liveBuffers, live, 'optimizer state, pending checks and logits freed');
  m.dispose();
});

test('a parameter that overflows while the loss is still finite is named, with its step and element', async () => {
  const m = tiny(false);
  const n = 8, F = CH * S * S;
  const { x, y } = data(n);
  const j = Math.floor(rand() * F);
  for (let i = 0; i < n; i++) x[i * F + j] = 1e30; // logits ~1e29 (finite loss), gradient of d.weight ~1e30
  y[0] = 0; y[1] = 1; // two labels differ, so some row of d.weight gets that gradient whatever class the logits favour
  const e = await rejection(finetune(m, arrayDataset(x, y), null, { epochs: 2, batchSize: n, lr: 1e10, momentum: 0, numClasses: K, featureCache: 'off' }));
  assert.ok(e instanceof NonFiniteError, String(e));
  const r = (e as NonFiniteError).report;
  const names = m.trainableParameters().map(([k]) => k);
  assert.equal([r.step, r.epoch, r.name, r.what, r.kind], [1, 1, names[0], 'value', 'Inf']);
  assert.ok(r.index < F, `first bad element ${r.index} is in the first row`);
  assert.match(e.message, new RegExp(`^step 1 \\(epoch 1\\): value of '${names[0]}' has Inf \\(first at element ${r.index}\\)`));
  m.dispose();
});

test('running statistics that end up non-finite are caught after the last step', async () => {
  const m = tiny(true);
  const { x, y } = data(8);
  const stats = m.namedBuffers().filter(([k]) => k.endsWith('running_mean'));
  assert.is(stats.length, 1);
  const v = Array.from(randArray(2));
  v[Math.floor(rand() * 2)] = NaN;
  assign(stats[0][1], v);
  const e = await rejection(finetune(m, arrayDataset(x, y), null, { epochs: 1, batchSize: 4, lr: 0.01, numClasses: K, featureCache: 'off' }));
  assert.ok(e instanceof NonFiniteError, String(e));
  assert.equal([(e as NonFiniteError).report.name, (e as NonFiniteError).report.step], [stats[0][0], 2]);
  m.dispose();
});

test('a clean run reads back once per step for the loss and the check together (plus the logits), and once at the end', async () => {
  const m = tiny(true);
  const n = 4 * (2 + Math.floor(rand() * 4));
  const { x, y } = data(n);
  const rt = runtime();
  const read = rt.read;
  let reads = 0;
  rt.read = function (this: typeof rt, ...a: Parameters<typeof read>) { reads++; return read.apply(this, a); };
  let r;
  try { r = await finetune(m, arrayDataset(x, y), null, { epochs: 2, batchSize: 4, lr: 0.01, numClasses: K, featureCache: 'off' }); } finally { rt.read = read; }
  const steps = 2 * (n / 4);
  assert.is(reads, 2 * steps + 1);
  assert.ok(r.epochs.every((e) => Number.isFinite(e.loss)));
  m.dispose();
});

test('labels outside 0..numClasses-1 are refused before any step, naming the example', async () => {
  const m = tiny(true);
  const { x, y } = data(8);
  const at = Math.floor(rand() * 8);
  y[at] = K + Math.floor(rand() * 5);
  const d0 = runtime().dispatches;
  const e = await rejection(finetune(m, arrayDataset(x, y), null, { epochs: 1, batchSize: 8, lr: 0.01, numClasses: K, featureCache: 'off' }));
  assert.ok(e instanceof ThawError && !(e instanceof NonFiniteError), String(e));
  assert.match(e.message, new RegExp(`training example ${at} has label ${y[at]}, outside 0\\.\\.${K - 1} \\(numClasses ${K}\\)`));
  assert.is(runtime().dispatches, d0, 'no step ran');
  m.dispose();
});

test('runs that could only train to nothing are refused before any work: 1 class, everything frozen, empty sets', async () => {
  const m = tiny(true);
  const { x, y } = data(8);
  const ds = arrayDataset(x, y);
  const d0 = runtime().dispatches;
  const o = { epochs: 1, batchSize: 4, lr: 0.01, numClasses: K };
  assert.match((await rejection(finetune(m, ds, null, { ...o, numClasses: 1 }))).message, /numClasses must be an integer of at least 2, got 1: a 1-class head/);
  for (const [, p] of m.namedParameters()) p.requiresGrad = false;
  assert.match((await rejection(finetune(m, ds, ds, o))).message, /^nothing to train: every parameter is frozen/);
  for (const [, p] of m.namedParameters()) p.requiresGrad = true;
  assert.match((await rejection(finetune(m, ds, { length: 0, get: () => { throw new Error('unreachable'); } }, o))).message, /the test set is empty/);
  assert.is(runtime().dispatches, d0, 'no feature cache, no step');
  m.dispose();
});

test('AdamW takes an explicit weightDecay 0 as 0 (it became 0.01); unknown optimizer or schedule names are refused before any work', async () => {
  const m = tiny(true);
  const o = { epochs: 1, batchSize: 4, lr: 0.01, numClasses: K };
  const wd = (x: Record<string, unknown>) => { const opt = makeOptimizer(m, { ...o, ...x }); const v = (opt.groups[0] as any).weightDecay; opt.dispose?.(); return v; };
  const r = Math.round(rand() * 100) / 1000;
  assert.equal([wd({ optimizer: 'adamw', weightDecay: 0 }), wd({ optimizer: 'adamw' }), wd({ optimizer: 'adamw', weightDecay: r }), wd({ optimizer: 'adam' })], [0, 0.01, r, 0]);
  const { x, y } = data(8);
  const d0 = runtime().dispatches;
  assert.match((await rejection(finetune(m, arrayDataset(x, y), null, { ...o, optimizer: 'adamm' as any }))).message, /^unknown optimizer 'adamm' \(sgd, adam, adamw\)/);
  assert.match((await rejection(finetune(m, arrayDataset(x, y), null, { ...o, schedule: 'cosin' as any }))).message, /^unknown schedule 'cosin' \(constant, cosine, onecycle, warmup-cosine\)/);
  assert.match((await rejection(finetune(m, arrayDataset(x, y), null, { ...o, lr: NaN }))).message, /^lr must be a positive finite number, got NaN/);
  assert.is(runtime().dispatches, d0);
  m.dispose();
});

test("precision 'mixed': the feature cache holds f16 and the run matches f32 up to f16 rounding; 'f16' is refused", async () => {
  const { x, y } = data(24);
  const seed = (rand() * 2 ** 32) >>> 0;
  const runs: { loss: number; lines: string[] }[] = [];
  for (const precision of ['f32', 'mixed'] as const) {
    const m = tiny(true, seed);
    freeze(m, /^(c|bn)\./);
    const lines: string[] = [];
    const r = await finetune(m, arrayDataset(x, y), arrayDataset(x, y), { epochs: 2, batchSize: 8, lr: 0.05, numClasses: K, seed: 3, precision, log: (l) => lines.push(l) });
    assert.ok(r.usedCache, precision);
    runs.push({ loss: r.epochs.at(-1)!.loss, lines });
    m.dispose();
  }
  assert.ok(runs[1].lines.some((l) => l.startsWith('precision mixed: the feature cache holds f16; the training step runs under autocast')), runs[1].lines.join('\n'));
  // Features, head operands and logits rounded to f16 move the loss by a few 2^-11 relative, far less than 1%.
  assert.ok(Math.abs(runs[1].loss - runs[0].loss) <= 0.01 * runs[0].loss, `mixed loss ${runs[1].loss} vs f32 ${runs[0].loss}`);
  assert.ok(runs[1].loss !== runs[0].loss, 'the mixed run should see f16-rounded features');
  const m = tiny(true);
  const e = await rejection(finetune(m, arrayDataset(x, y), null, { epochs: 1, batchSize: 8, lr: 0.05, numClasses: K, precision: 'f16' }));
  assert.match(e.message, /^precision 'f16' \(weights held in f16, no f32 masters\) is refused: .*; use 'mixed'/);
  m.dispose();
});

test.run();

test('full batches replay the recorded step and end bitwise where the eager run ends; the partial last batch runs eagerly', async () => {
  for (const cached of [false, true]) {
    const k = 3 + Math.floor(rand() * 3), n = 4 * k + 1 + Math.floor(rand() * 3);
    const { x, y } = data(n);
    const models = [tiny(true), tiny(true)];
    for (const [key, t] of models[1].stateDict()) assign(t, await models[0].stateDict().get(key)!.data());
    if (cached) for (const m of models) freezeTo(m, -1);
    const live = runtime().pool.getStats().liveBuffers;
    const runs = [];
    for (const [i, m] of models.entries()) {
      runs.push(await finetune(m, arrayDataset(x, y), null, { epochs: 2, batchSize: 4, lr: 0.01, optimizer: 'adam', numClasses: K, featureCache: cached ? 'auto' : 'off', seed: 3, replay: i === 1 }));
    }
    assert.is(runs[1].usedCache, cached);
    assert.is(runs[0].replayedSteps, 0);
    assert.is(runs[1].replayedSteps, 2 * k - 2, `${k} full batches per epoch: the first eager, the second recorded, the rest replayed`);
    assert.is(runs[1].replayReason, '');
    assert.equal(runs[1].epochs.map((e) => [e.loss, e.trainAcc]), runs[0].epochs.map((e) => [e.loss, e.trainAcc]));
    for (const [key, t] of models[0].stateDict()) {
      const a = new Uint32Array((await t.data()).buffer), b = new Uint32Array((await models[1].stateDict().get(key)!.data()).buffer);
      assert.equal(Array.from(b), Array.from(a), `${key} (cache ${cached})`);
    }
    assert.is(runtime().pool.getStats().liveBuffers, live, 'the recording, its inputs and its held buffers are freed');
    assert.is(runtime().pool.getStats().heldBuffers, 0);
    for (const m of models) m.dispose();
  }
});
