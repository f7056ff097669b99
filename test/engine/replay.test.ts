// Recorded steps (engine/core/recording.ts): a small conv net with BatchNorm, stochastic depth and
// dropout trained 20 steps eagerly and 20 steps with the step recorded once and replayed, from the
// same initial weights, data and seeds, under a schedule that changes the learning rate (and, for
// SGD, the momentum) every step: every parameter, running statistic, seed and step count must be
// bitwise equal, so must every step's loss. Also: what a recording refuses, and that disposing it
// returns every buffer it held.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, randInt, runSeed } from '../helpers.ts';
import { tensor, assign, full } from '../../engine/core/factory.ts';
import { type Tensor, tidy, keep } from '../../engine/core/tensor.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { record, type Recording } from '../../engine/core/recording.ts';
import { live } from '../../engine/core/live.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { crossEntropy, dropout, add, mul, exp } from '../../kernels/index.ts';
import { Sequential, Conv2d, BatchNorm2d, ReLU, Flatten, Linear, Dropout, StochasticDepth } from '../../engine/nn/index.ts';
import { SGD, Adam, Scheduler, cosine, oneCycle, clipGradNorm, type Optimizer } from '../../engine/optim/index.ts';

test.before(async () => { await setup(); });

const C = 5, H = 7;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function makeModel(): Sequential {
  const rng = lcg(runSeed);
  return new Sequential(
    new Conv2d(3, 6, 3, { padding: 1, rng }), new BatchNorm2d(6), new ReLU(),
    new StochasticDepth(0.3, 'row', 11), new Flatten(), new Dropout(0.25, 23), new Linear(6 * H * H, C, { rng }),
  );
}

type Kind = 'sgd' | 'adam';
function makeOpt(m: Sequential, kind: Kind, steps: number): { opt: Optimizer<any>; sched: Scheduler } {
  const params = m.namedParameters();
  const opt = kind === 'sgd' ? new SGD(params, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }) : new Adam(params, { lr: 0.01, weightDecay: 1e-3 });
  return { opt, sched: new Scheduler(opt, kind === 'sgd' ? oneCycle(steps) : cosine(steps)) };
}

/** One training step on (x, y): forward, loss, backward, clipping, update; returns the loss. */
function step(m: Sequential, opt: Optimizer<any>, x: Tensor, y: Tensor): Tensor {
  const loss = tidy(() => {
    const loss = crossEntropy(m.forward(x), y, { labelSmoothing: 0.1 });
    backward(loss);
    return keep(loss);
  });
  clipGradNorm(m.namedParameters(), 0.5).dispose();
  opt.step();
  opt.zeroGrad();
  return loss;
}

const batches = (sizes: number[]) => sizes.map((n) => ({ x: randArray(n * 3 * H * H), y: randInt(n, C), n }));

async function snapshot(m: Sequential, opt: Optimizer<any>): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [k, t] of m.stateDict()) out[k] = Array.from(new Uint32Array((await t.data()).buffer));
  m.namedModules().forEach(([k, mod]) => { if ('seed' in mod) out[`${k}.seed`] = [(mod as any).seed]; });
  for (const [k, p] of m.namedParameters()) out[`${k}.step`] = [opt.stateOf(p)?.step ?? 0];
  return out;
}

/** Losses (as bits) and final state of `data` trained eagerly. */
async function eager(kind: Kind, data: ReturnType<typeof batches>) {
  const m = makeModel().train();
  const { opt, sched } = makeOpt(m, kind, data.length);
  const losses: number[] = [];
  for (const b of data) {
    const x = tensor(b.x, [b.n, 3, H, H]), y = tensor(b.y, [b.n], 'i32');
    const loss = step(m, opt, x, y);
    losses.push(new Uint32Array((await loss.data()).buffer)[0]);
    loss.dispose(); x.dispose(); y.dispose();
    sched.step();
  }
  const s = await snapshot(m, opt);
  opt.dispose(); m.dispose();
  return { losses, state: s };
}

/**
 * The same run with recording: the first full-size step is recorded (refused: it makes the optimizer
 * state), the second recorded, later full-size steps replayed, other sizes run eagerly.
 */
async function replayed(kind: Kind, data: ReturnType<typeof batches>, breakLive = false) {
  const m = makeModel().train();
  const { opt, sched } = makeOpt(m, kind, data.length);
  const N = data[0].n;
  const xIn = tensor(new Float32Array(N * 3 * H * H), [N, 3, H, H]), yIn = tensor(new Int32Array(N), [N], 'i32');
  const losses: number[] = [], reasons: string[] = [];
  let rec: Recording | null = null, replays = 0;
  for (const b of data) {
    let loss: Tensor;
    if (b.n !== N) {
      const x = tensor(b.x, [b.n, 3, H, H]), y = tensor(b.y, [b.n], 'i32');
      loss = step(m, opt, x, y);
      x.dispose(); y.dispose();
    } else {
      assign(xIn, b.x); assign(yIn, b.y);
      if (rec) {
        if (breakLive) (rec as any).cap.lives.length = 0;
        rec.replay();
        replays++;
        loss = rec.outputs[0];
      } else {
        const r = record(() => step(m, opt, xIn, yIn));
        loss = r.result;
        rec = r.recording;
        if (!rec) reasons.push(r.reason);
      }
    }
    losses.push(new Uint32Array((await loss.data()).buffer)[0]);
    if (loss !== rec?.outputs[0]) loss.dispose();
    sched.step();
  }
  const s = await snapshot(m, opt);
  rec?.dispose(); xIn.dispose(); yIn.dispose(); opt.dispose(); m.dispose();
  return { losses, state: s, reasons, replays };
}

function assertSame(a: Awaited<ReturnType<typeof eager>>, b: Awaited<ReturnType<typeof eager>>, what: string) {
  assert.equal(b.losses, a.losses, `${what}: losses (bits) per step (seed ${runSeed})`);
  for (const k of Object.keys(a.state)) assert.equal(b.state[k], a.state[k], `${what}: ${k} (bits; seed ${runSeed})`);
}

for (const kind of ['sgd', 'adam'] as const) {
  test(`replayed ${kind} steps match eager steps bitwise over 20 steps`, async () => {
    const data = batches(new Array(20).fill(6));
    const a = await eager(kind, data);
    const b = await replayed(kind, data);
    assert.is(b.replays, 18);
    assert.is(b.reasons.length, 1);
    assert.match(b.reasons[0], /optimizer moments/);
    assertSame(a, b, kind);
  });
}

test('other batch sizes run eagerly between replays, and the replays stay exact', async () => {
  const data = batches([6, 6, 6, 4, 6, 6, 3, 6, 6, 6]);
  const a = await eager('adam', data);
  const b = await replayed('adam', data);
  assert.is(b.replays, 6);
  assertSame(a, b, 'mixed sizes');
});

test('a replay that does not re-read its live values differs from the eager run', async () => {
  const data = batches(new Array(6).fill(6));
  const a = await eager('sgd', data);
  const b = await replayed('sgd', data, true);
  assert.not.equal(b.state['6.weight'], a.state['6.weight']);
});

test('disposing a recording returns every buffer it held to the pool', async () => {
  const rt = runtime();
  const m = makeModel().train();
  const { opt } = makeOpt(m, 'adam', 4);
  const x = tensor(randArray(6 * 3 * H * H), [6, 3, H, H]), y = tensor(randInt(6, C), [6], 'i32');
  step(m, opt, x, y).dispose();
  await rt.sync();
  const before = rt.pool.getStats();
  const { result, recording } = record(() => step(m, opt, x, y));
  assert.ok(recording);
  result.dispose();
  recording!.replay();
  await rt.sync();
  assert.is(rt.pool.getStats().liveBuffers, before.liveBuffers + 1, 'the recording keeps its output alive');
  assert.ok(rt.pool.getStats().heldBuffers > 0, 'the step\'s intermediates are held for the recording');
  recording!.dispose();
  await rt.sync();
  const after = rt.pool.getStats();
  assert.is(after.liveBuffers, before.liveBuffers);
  assert.is(after.heldBuffers, 0);
  assert.throws(() => recording!.replay(), /disposed/);
  x.dispose(); y.dispose(); opt.dispose(); m.dispose();
});

test('each replay adds the recorded step\'s dispatches to the runtime\'s counts, per kernel as the eager step does', async () => {
  const rt = runtime();
  const m = makeModel().train();
  const { opt } = makeOpt(m, 'sgd', 8);
  const x = tensor(randArray(6 * 3 * H * H), [6, 3, H, H]), y = tensor(randInt(6, C), [6], 'i32');
  step(m, opt, x, y).dispose();
  const since = (before: Map<string, number>) => {
    const out: Record<string, number> = {};
    for (const [k, n] of rt.dispatchByName) if (n !== (before.get(k) ?? 0)) out[k] = n - (before.get(k) ?? 0);
    return out;
  };
  let c0 = new Map(rt.dispatchByName), d0 = rt.dispatches;
  step(m, opt, x, y).dispose();
  const eager = since(c0), eagerN = rt.dispatches - d0;
  assert.ok(Object.keys(eager).length > 3);
  const { result, recording } = record(() => step(m, opt, x, y));
  result.dispose();
  assert.ok(recording);
  assert.is(recording!.dispatches, eagerN);
  c0 = new Map(rt.dispatchByName); d0 = rt.dispatches;
  recording!.replay();
  assert.equal(since(c0), eager, 'one replay');
  recording!.replay();
  recording!.replay();
  const thrice = Object.fromEntries(Object.entries(eager).map(([k, n]) => [k, 3 * n]));
  assert.equal(since(c0), thrice, 'three replays, counts read between them');
  assert.is(rt.dispatches - d0, 3 * eagerN);
  await rt.sync();
  recording!.dispose();
  x.dispose(); y.dispose(); opt.dispose(); m.dispose();
});

test('pipelineOrder numbers each recorded dispatch\'s pipeline by first use (bench/dispatch.ts issues the same pattern with Dawn alone)', async () => {
  const a = tensor(randArray(5), [5]), b = tensor(randArray(5), [5]);
  const rt = runtime(), d0 = rt.dispatches, poison = rt.pool.onAcquire;
  // add, mul, add again, exp, mul again: three pipelines, the first and second used twice (the
  // test pool's poisoning, a dispatch per new tensor, is off for it).
  rt.pool.onAcquire = null;
  let rec: ReturnType<typeof record<Tensor[]>>;
  try { rec = record(() => [add(a, b), mul(a, b), add(b, a), exp(a), mul(b, b)]); } finally { rt.pool.onAcquire = poison; }
  const { result, recording } = rec;
  assert.ok(recording);
  assert.is(rt.dispatches - d0, 5, 'one dispatch per op');
  assert.equal(recording!.pipelineOrder, [0, 1, 0, 2, 1]);
  recording!.dispose();
  for (const t of [...result, a, b]) t.dispose();
});

test('a step that writes host data, reads back, keeps new tensors or reads an outside live value is refused, and still runs', async () => {
  const x = tensor(randArray(7), [7]);
  const w = record(() => tensor([1, 2, 3]));
  assert.is(w.recording, null);
  assert.match(w.reason, /writes host data/);
  assert.equal(Array.from(await w.result.data()), [1, 2, 3]);
  w.result.dispose();
  let pending: Promise<Float32Array> | null = null;
  const r = record(() => { pending = x.data(); });
  assert.is(r.recording, null);
  assert.match(r.reason, /reads a GPU buffer back/);
  assert.is((await pending!).length, 7);
  let kept: Tensor | null = null;
  const k = record(() => { kept = keep(full([3], 2)); return null; });
  assert.is(k.recording, null);
  assert.match(k.reason, /leaves 1 tensor/);
  assert.equal(Array.from(await kept!.data()), [2, 2, 2]);
  kept!.dispose();
  const seed = live(() => 5);
  const d = record(() => dropout(x, 0.5, seed));
  assert.is(d.recording, null);
  assert.match(d.reason, /live value made before/);
  d.result.dispose();
  x.dispose();
});

test.run();
