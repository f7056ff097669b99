/**
 * ConvNeXt's stochastic depth (nn.StochasticDepth, torchvision.ops.StochasticDepth mode 'row'):
 * in training each sample's residual branch is dropped (0) or scaled by 1 / (1 - p), reproducibly for
 * a starting seed; eval mode and p = 0 are the identity; the gradient is the same multiplier; a
 * CNBlock's dropped samples come out equal to their input and its kept ones gain the branch / (1 - p).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, keep, noGrad, type Tensor } from '../../engine/core/tensor.ts';
import { variable } from '../../engine/core/tape.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { StochasticDepth } from '../../engine/nn/index.ts';
import { CNBlock, convnextTiny } from '../../models/convnext.ts';

test.before(async () => { await setup(); });

const N = 64, PER = 3 * 2 * 2;

/** The per-sample multipliers of one training-mode call on `x` (N, 3, 2, 2), checking each sample is 0 or x / (1 - p) throughout. */
async function multipliers(sd: StochasticDepth, x: Tensor, xs: Float32Array): Promise<number[]> {
  const y = noGrad(() => tidy(() => sd.forward(x)));
  const ys = await y.data();
  y.dispose();
  const out: number[] = [];
  for (let n = 0; n < N; n++) {
    const dropped = ys[n * PER] === 0 && xs[n * PER] !== 0;
    const m = dropped ? 0 : 1 / (1 - sd.p);
    for (let i = n * PER; i < (n + 1) * PER; i++) {
      if (Math.abs(ys[i] - xs[i] * m) > 1e-6 * xs[i] * m) assert.unreachable(`sample ${n}, element ${i}: ${ys[i]} is neither 0 nor x / (1 - p) = ${xs[i] * m}`);
    }
    out.push(m);
  }
  return out;
}

test('StochasticDepth row: whole samples dropped or scaled by 1/(1-p), reproducible for a seed, fresh draws per call', async () => {
  const xs = randArray(N * PER, 0.5, 1.5);
  const x = tensor(xs, [N, 3, 2, 2]);
  const p = 0.25;
  const a = new StochasticDepth(p, 'row', 1234), b = new StochasticDepth(p, 'row', 1234), c = new StochasticDepth(p, 'row', 99);
  const ma = await multipliers(a, x, xs), mb = await multipliers(b, x, xs), mc = await multipliers(c, x, xs);
  assert.equal(ma, mb, 'the same starting seed draws the same samples');
  assert.not.equal(ma, mc, 'another seed draws other samples');
  const dropped = ma.filter((m) => m === 0).length;
  assert.ok(dropped >= 4 && dropped <= 32, `${dropped} of ${N} dropped at p = ${p}`);
  assert.is(a.seed, 1235, 'the seed advances per call');
  assert.not.equal(await multipliers(a, x, xs), ma, 'the next call draws afresh');
  x.dispose();
});

test('StochasticDepth: eval mode and p = 0 are the identity; p = 1 drops everything; batch mode draws once', async () => {
  const xs = randArray(N * PER, 0.5, 1.5);
  const x = tensor(xs, [N, 3, 2, 2]);
  const sd = new StochasticDepth(0.5, 'row', 7).eval();
  assert.is(sd.forward(x), x, 'eval: the input itself');
  assert.is(sd.seed, 7, 'eval draws nothing');
  assert.is(new StochasticDepth(0, 'row', 7).forward(x), x, 'p = 0: the input itself');
  const all = await multipliers(new StochasticDepth(1, 'row', 7), x, xs);
  assert.ok(all.every((m) => m === 0), 'p = 1 drops every sample');
  for (const seed of [1, 2, 3, 4]) {
    const m = await multipliers(new StochasticDepth(0.5, 'batch', seed), x, xs);
    assert.ok(m.every((v) => v === m[0]), 'batch mode: one draw for the whole batch');
  }
  assert.throws(() => new StochasticDepth(1.5), /\[0, 1\]/);
  x.dispose();
});

test('StochasticDepth: the gradient is the same per-sample multiplier', async () => {
  const xs = randArray(N * PER, 0.5, 1.5), gs = randArray(N * PER);
  const x = variable(tensor(xs, [N, 3, 2, 2]));
  const m = await multipliers(new StochasticDepth(0.5, 'row', 31), x, xs);
  const sd = new StochasticDepth(0.5, 'row', 31);
  tidy(() => { backward(sum(mul(sd.forward(x), tensor(gs, [N, 3, 2, 2])))); });
  const dx = await x.grad!.data();
  for (let i = 0; i < N * PER; i++) {
    const want = gs[i] * m[Math.floor(i / PER)];
    if (Math.abs(dx[i] - want) > 1e-6 * Math.abs(want)) assert.unreachable(`dx[${i}] = ${dx[i]}, expected ${want}`);
  }
  x.grad!.dispose();
  x.dispose();
});

test('CNBlock in training with stochastic depth: dropped samples equal their input, kept ones gain the eval-mode branch / (1 - p)', async () => {
  const p = 0.5, C = 8, n = 16, per = C * 5 * 5;
  const blk = new CNBlock(C, 0.5, p, undefined, 2024);
  const xs = randArray(n * per);
  const x = tensor(xs, [n, C, 5, 5]);
  const run = (train: boolean) => noGrad(() => tidy(() => keep(blk.train(train).forward(x))));
  const yt = run(true), ye = run(false);
  const [t, e] = [await yt.data(), await ye.data()];
  let dropped = 0;
  for (let s = 0; s < n; s++) {
    let isDropped = true;
    for (let i = s * per; i < (s + 1) * per; i++) if (t[i] !== xs[i]) isDropped = false;
    if (isDropped) { dropped++; continue; }
    let err = 0, scale = 0;
    for (let i = s * per; i < (s + 1) * per; i++) {
      err = Math.max(err, Math.abs(t[i] - xs[i] - (e[i] - xs[i]) / (1 - p)));
      scale = Math.max(scale, Math.abs(e[i] - xs[i]));
    }
    assert.ok(err <= 1e-5 * Math.max(scale, 1), `sample ${s}: kept branch off by ${err} (branch scale ${scale})`);
  }
  assert.ok(dropped > 0 && dropped < n, `${dropped} of ${n} samples dropped at p = ${p}`);
  for (const y of [yt, ye, x]) y.dispose();
  blk.dispose();
});

test("convnextTiny: torchvision's linear stochastic-depth schedule, 0 at the first block to 0.1 at the last", () => {
  const m = convnextTiny();
  const ps = m.namedModules().filter(([, b]) => b instanceof StochasticDepth).map(([, b]) => (b as StochasticDepth).p);
  assert.is(ps.length, 18);
  ps.forEach((v, i) => assert.ok(Math.abs(v - (0.1 * i) / 17) < 1e-12, `block ${i}: p = ${v}`));
  m.dispose();
});

test.run();
