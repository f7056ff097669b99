/**
 * StochasticDepth (engine/nn/stochastic_depth.ts) against torchvision.ops.stochastic_depth's
 * definition: identity in eval mode and at p = 0; in training, 'row' keeps or drops each batch item
 * whole (one draw per item, dropout's seeded mask over N elements), 'batch' the whole batch (one
 * draw), survivors scaled by 1 / (1 - p), the gradient through the same mask; reproducible from the seed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { variable } from '../../engine/core/tape.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { dropoutMaskRef } from '../../kernels/dropout/reference.ts';
import { StochasticDepth } from '../../engine/nn/stochastic_depth.ts';

test.before(async () => { await setup(); });

test('StochasticDepth: eval mode and p = 0 return the input itself', () => {
  const x = tensor(randArray(2 * 3 * 4 * 4), [2, 3, 4, 4]);
  const sd = new StochasticDepth(0.5, 'row', 7);
  sd.eval();
  assert.is(sd.forward(x), x);
  assert.is(sd.seed, 7, 'eval mode draws nothing');
  const zero = new StochasticDepth(0, 'row', 7);
  assert.is(zero.forward(x), x);
  x.dispose();
});

/** Runs one training-mode forward and backward; returns output and input gradient on the host. */
async function run(sd: StochasticDepth, xs: Float32Array, gs: Float32Array, shape: number[]): Promise<[Float32Array, Float32Array]> {
  const x = variable(tensor(xs, shape));
  const y = tidy(() => { const y = sd.forward(x); backward(sum(mul(y, tensor(gs, shape)))); return y; });
  const out = [await y.data(), await x.grad!.data()] as [Float32Array, Float32Array];
  for (const t of [y, x.grad!, x]) t.dispose();
  return out;
}

for (const [mode, p] of [['row', 0.3], ['row', 0.8], ['batch', 0.5]] as const) {
  test(`StochasticDepth '${mode}' p=${p}: whole rows kept (scaled by 1/(1-p)) or zeroed as dropout's mask says, gradient likewise, seeded`, async () => {
    const N = 40, per = 3 * 5 * 5, shape = [N, 3, 5, 5];
    const xs = randArray(N * per, 0.5, 2), gs = randArray(N * per, 0.5, 2);
    const seed = 1234;
    const sd = new StochasticDepth(p, mode, seed);
    const [out, dx] = await run(sd, xs, gs, shape);
    assert.is(sd.seed, seed + 1, 'each call advances the seed');
    const draws = dropoutMaskRef(mode === 'row' ? N : 1, p, seed);
    let kept = 0;
    for (let n = 0; n < N; n++) {
      const m = draws[mode === 'row' ? n : 0];
      kept += m;
      for (let j = n * per; j < (n + 1) * per; j++) {
        const want = m ? xs[j] / (1 - p) : 0, wantG = m ? gs[j] / (1 - p) : 0;
        if (Math.abs(out[j] - want) > 1e-6 * Math.abs(want)) assert.unreachable(`out[${j}] = ${out[j]}, expected ${want}`);
        if (Math.abs(dx[j] - wantG) > 1e-6 * Math.abs(wantG)) assert.unreachable(`dx[${j}] = ${dx[j]}, expected ${wantG}`);
      }
    }
    if (mode === 'row') assert.ok(kept > 0 && kept < N, `a 'row' draw over ${N} items keeps some and drops some (kept ${kept})`);
    // The same starting seed gives the same run; the next call (seed + 1) another draw.
    const again = await run(new StochasticDepth(p, mode, seed), xs, gs, shape);
    assert.equal(Array.from(again[0]), Array.from(out));
    if (mode === 'row') {
      const next = await run(sd, xs, gs, shape);
      assert.not.equal(Array.from(next[0]), Array.from(out), 'the second call draws anew');
    }
  });
}

test('StochasticDepth p = 1 zeroes everything; bad arguments throw', async () => {
  const [out] = await run(new StochasticDepth(1, 'row', 3), new Float32Array(12).fill(1), new Float32Array(12).fill(1), [4, 3]);
  assert.equal(Array.from(out), new Array(12).fill(0));
  assert.throws(() => new StochasticDepth(1.5), /\[0, 1\]/);
  assert.throws(() => new StochasticDepth(0.1, 'col' as 'row'), /'row' or 'batch'/);
});

test.run();
