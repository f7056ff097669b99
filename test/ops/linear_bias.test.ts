// linear's bias is added in the matmul kernel's store: bit for bit matmul then add (forward and the
// gradients of x and weight) with every matmul kernel, and no separate add dispatch. Its gradient is
// summed by the weight-gradient matmul (ROWSUM), with no reduce dispatch: against a float64 sum.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, type Tensor } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { runtime, withTuning } from '../../engine/core/runtime.ts';
import { variable } from '../../engine/core/tape.ts';
import { linear, matmul } from '../../kernels/matmul/matmul.ts';
import { add } from '../../kernels/elementwise/elementwise.ts';

await setup();

const bits = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a).buffer));

// [x shape, out features]: odd rows and columns (edge blocks), and vec4-aligned ones (the subgroup kernel).
const shapes: [number[], number][] = [[[3, 7, 13], 9], [[2, 8, 16], 12], [[5, 33], 70]];

for (const kernel of ['blocked', 'tiled', 'subgroup'] as const) {
  for (const [xs, outF] of shapes) {
    test(`linear with bias on the ${kernel} kernel, x [${xs}] -> ${outF}: bit for bit matmul then add, no add dispatch`, async () => {
      const inF = xs[xs.length - 1], n = xs.reduce((a, b) => a * b, 1);
      const X = randArray(n), W = randArray(outF * inF), B = randArray(outF), G = randArray((n / inF) * outF);
      const run = async (fused: boolean) => withTuning({ matmul: { kernel } }, async () => {
        const x = variable(tensor(X, xs)), w = variable(tensor(W, [outF, inF])), b = variable(tensor(B, [outF]));
        const rt = runtime();
        let adds = 0, reduces = 0;
        const count = (k: string) => rt.dispatchByName.get(k) ?? 0;
        const y = tidy(() => {
          const a0 = count('binary');
          const y = fused ? linear(x, w, b) : add(matmul(x, w, { transB: true }), b);
          adds = count('binary') - a0;
          const r0 = count('reduce');
          backward(y, tensor(G, y.shape));
          reduces = count('reduce') - r0;
          return y;
        });
        const r = { y: await y.data(), dx: await x.grad!.data(), dw: await w.grad!.data(), db: await b.grad!.data(), adds, reduces };
        for (const t of [y, x, w, b, x.grad, w.grad, b.grad] as (Tensor | null)[]) t?.dispose();
        return r;
      });
      const f = await run(true), p = await run(false);
      for (const k of ['y', 'dx', 'dw'] as const) assert.equal(bits(f[k]), bits(p[k]), k);
      const db = new Float64Array(outF);
      for (let i = 0; i < G.length; i++) db[i % outF] += G[i];
      assertClose(f.db, db, 1e-5, 1e-5, 'db (summed in the weight-gradient matmul)');
      assertClose(p.db, db, 1e-5, 1e-5, 'db (summed by reduce)');
      assert.is(f.adds, 0, 'the add runs in the matmul');
      assert.is(p.adds, 1);
      assert.is(f.reduces, 0, 'the bias gradient is summed in the weight-gradient matmul');
      assert.ok(p.reduces >= 1);
    });
  }
}

// x feeding two linears: the second backward's x gradient adds the first's in its matmul store (the
// gradient autograd gathered, GradInto), so no add dispatch; the same values as the separate add.
for (const kernel of ['blocked', 'tiled', 'subgroup'] as const) {
  test(`linear backward on the ${kernel} kernel: x's gathered gradient is added in the dx matmul, no add dispatch`, async () => {
    const [rows, inF, outF] = kernel === 'subgroup' ? [12, 16, 8] : [7, 13, 9];
    const X = randArray(rows * inF), W1 = randArray(outF * inF), W2 = randArray(outF * inF), B = randArray(outF), G = randArray(rows * outF);
    await withTuning({ matmul: { kernel } }, async () => {
      const x = variable(tensor(X, [rows, inF])), w1 = variable(tensor(W1, [outF, inF])), w2 = variable(tensor(W2, [outF, inF]));
      const b = tensor(B, [outF]), rt = runtime();
      let adds = 0;
      tidy(() => {
        const y = add(linear(x, w1, b), linear(x, w2, b));
        const a0 = rt.dispatchByName.get('binary') ?? 0;
        backward(y, tensor(G, y.shape));
        adds = (rt.dispatchByName.get('binary') ?? 0) - a0;
      });
      // dx = G·(W1 + W2), in float64
      const dx = new Float64Array(rows * inF);
      for (let r = 0; r < rows; r++) for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) dx[r * inF + i] += G[r * outF + o] * (W1[o * inF + i] + W2[o * inF + i]);
      assertClose(await x.grad!.data(), dx, 1e-4, 1e-5, 'dx');
      assert.is(adds, 0, 'the second dx matmul adds the first in its store');
      for (const t of [x, w1, w2, b, x.grad, w1.grad, w2.grad] as (Tensor | null)[]) t?.dispose();
    });
  });
}

test.run();
