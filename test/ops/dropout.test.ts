import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, rand } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { dropout } from '../../kernels/dropout/dropout.ts';
import { dropoutMaskRef } from '../../kernels/dropout/reference.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

for (const [n, p] of [[1, 0.5], [1003, 0.3], [20000, 0.5], [777, 0.9]] as [number, number][]) {
  test(`dropout n=${n} p=${p}: mask matches the CPU hash, kept values scaled, backward reuses the mask`, async () => {
    const seed = Math.floor(rand() * 2 ** 32);
    const xs = randArray(n, 0.5, 2), gs = randArray(n, 0.5, 2);
    const x = variable(tensor(xs));
    const y = tidy(() => { const y = dropout(x, p, seed); backward(sum(mul(y, tensor(gs)))); return y; });
    const out = await y.data(), dx = await x.grad!.data();
    const mask = dropoutMaskRef(n, p, seed);
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const want = mask[i] ? xs[i] / (1 - p) : 0;
      if (Math.abs(out[i] - want) > 1e-5 * Math.abs(want)) assert.unreachable(`out[${i}] = ${out[i]}, expected ${want} (seed ${seed})`);
      const wantG = mask[i] ? gs[i] / (1 - p) : 0;
      if (Math.abs(dx[i] - wantG) > 1e-5 * Math.abs(wantG)) assert.unreachable(`dx[${i}] = ${dx[i]}, expected ${wantG}`);
      kept += mask[i];
    }
    if (n >= 1000) {
      // Binomial: the kept fraction lies within 5 standard deviations of 1 - p.
      const sd = Math.sqrt(p * (1 - p) / n);
      assert.ok(Math.abs(kept / n - (1 - p)) < 5 * sd, `kept ${kept}/${n}, expected about ${(1 - p) * n}`);
    }
    for (const t of [y, x.grad!, x]) t.dispose();
  });
}

test('dropout: different seeds give different, uncorrelated masks; the same seed the same mask', async () => {
  const n = 4096;
  const x = tensor(new Float32Array(n).fill(1));
  const [a, b, a2] = tidy(() => [dropout(x, 0.5, 1), dropout(x, 0.5, 2), dropout(x, 0.5, 1)]);
  const A = await a.data(), B = await b.data(), A2 = await a2.data();
  assert.equal(Array.from(A), Array.from(A2));
  let both = 0, ka = 0, kb = 0;
  for (let i = 0; i < n; i++) { const u = A[i] > 0 ? 1 : 0, v = B[i] > 0 ? 1 : 0; both += u & v; ka += u; kb += v; }
  // Independent masks agree on about a quarter of the elements; shifted or equal masks would not.
  assert.ok(Math.abs(both / n - (ka / n) * (kb / n)) < 5 * Math.sqrt(0.25 * 0.75 / n), `joint keep ${both / n}`);
  // Neighbouring elements are uncorrelated too (a weak hash shows runs).
  let same = 0;
  for (let i = 1; i < n; i++) same += (A[i] > 0) === (A[i - 1] > 0) ? 1 : 0;
  assert.ok(Math.abs(same / (n - 1) - 0.5) < 5 * Math.sqrt(0.25 / n), `neighbour agreement ${same / (n - 1)}`);
  for (const t of [a, b, a2, x]) t.dispose();
});

test('dropout: identity in eval and for p = 0; zeros for p = 1; bad p refused', async () => {
  const x = tensor(randArray(50));
  assert.is(dropout(x, 0.5, 3, false), x);
  assert.is(dropout(x, 0, 3), x);
  const z = dropout(x, 1, 3);
  assert.ok(Array.from(await z.data()).every((v) => v === 0));
  assert.throws(() => dropout(x, 1.5, 3), /p must be/);
  for (const t of [z, x]) t.dispose();
});

test.run();
