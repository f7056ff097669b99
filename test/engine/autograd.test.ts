// Autograd semantics: gradients through views, accumulation across backward calls, noGrad, graph
// release. Each gradient is checked against a hand-derived float64 value.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, dispose, noGrad } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { ThawError } from '../../engine/core/errors.ts';
import { reshape } from '../../engine/core/shape.ts';
import { mul, square, exp } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { permute } from '../../kernels/permute/permute.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

/** A test that also asserts it leaves no live GPU buffer behind. */
function check(name: string, fn: () => unknown): void {
  test(name, async () => {
    const before = runtime().pool.getStats().liveBuffers;
    await fn();
    assert.is(runtime().pool.getStats().liveBuffers, before, 'live buffers after the test');
  });
}

check('alias() refuses a tensor autograd tracks while recording (naming reshape), and allows it under noGrad or untracked', async () => {
  const x = variable(tensor([1, 2, 3, 4, 5, 6], [2, 3]));
  const plain = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  const isAliasError = (e: unknown) => e instanceof ThawError && e.kind === 'alias-grad' && /reshape\(\)/.test(e.message);
  assert.throws(() => x.alias([3, 2]), isAliasError, 'a leaf that requires grad');
  tidy(() => {
    const y = mul(x, plain);
    assert.ok(y.node);
    assert.throws(() => y.alias([6]), isAliasError, 'a recorded result');
  });
  const views = [noGrad(() => x.alias([3, 2])), plain.alias([6])];
  assert.equal(views.map((v) => v.shape), [[3, 2], [6]]);
  assert.equal(await views[1].array(), [1, 2, 3, 4, 5, 6]);
  dispose([...views, x, plain]);
});

check('backward through reshape (and reshape -1) lands in the leaf shape', async () => {
  const X = randArray(24), W = randArray(24);
  const x = variable(tensor(X, [2, 3, 4]));
  tidy(() => {
    const v = reshape(reshape(x, [6, -1]), [4, 6]); // (4, 6) view of the same data
    const p = permute(v, [1, 0]); // (6, 4)
    const wt = permute(tensor(W, [4, 6]), [1, 0]);
    backward(sum(mul(square(p), wt)));
  });
  assert.equal(x.grad!.shape, [2, 3, 4]);
  // loss = sum_i w_i x_i^2 in flat order (the permutes cancel): dloss/dx_i = 2 w_i x_i
  assertClose(await x.grad!.data(), Array.from(X, (v, i) => 2 * W[i] * v), 1e-5, 1e-6, 'grad');
  const fd = numericGrad((v) => v.reduce((s, xv, i) => s + W[i] * xv * xv, 0), X);
  assertClose(await x.grad!.data(), fd, 1e-3, 1e-4, 'fd');
  x.grad!.dispose(); x.dispose();
});

check('gradients accumulate over two backward calls until reset', async () => {
  const X = randArray(7);
  const x = variable(tensor(X));
  tidy(() => { backward(sum(exp(x))); });
  tidy(() => { backward(sum(mul(x, x))); });
  assertClose(await x.grad!.data(), Array.from(X, (v) => Math.exp(v) + 2 * v), 1e-5, 1e-6, 'accumulated');
  x.grad!.dispose(); x.grad = null;
  tidy(() => { backward(sum(mul(x, x))); });
  assertClose(await x.grad!.data(), Array.from(X, (v) => 2 * v), 1e-6, 1e-6, 'after reset');
  x.grad!.dispose(); x.dispose();
});

check('a tensor used twice gets the sum of both paths', async () => {
  const X = randArray(5);
  const x = variable(tensor(X));
  tidy(() => { backward(sum(mul(exp(x), x))); });
  assertClose(await x.grad!.data(), Array.from(X, (v) => Math.exp(v) * (1 + v)), 1e-5, 1e-6, 'product rule');
  x.grad!.dispose(); x.dispose();
});

check('noGrad records nothing; backward on its result throws', () => {
  const x = variable(tensor([1, 2, 3]));
  const d0 = runtime().dispatches;
  const y = tidy(() => noGrad(() => sum(mul(x, x))));
  assert.ok(runtime().dispatches > d0, 'the ops ran');
  assert.is(y.requiresGrad, false);
  assert.is(y.node, null);
  assert.throws(() => backward(y), (e: unknown) => e instanceof ThawError && e.kind === 'no-grad');
  const z = tidy(() => sum(mul(x, x)));
  assert.ok(z.requiresGrad && z.node !== null, 'recording resumes after noGrad');
  backward(z); // releases the graph and the tensors it saved
  dispose([x, y, z, x.grad!]);
});

check('the graph is released by backward unless retainGraph', async () => {
  const x = variable(tensor([1.5, -2]));
  const loss = tidy(() => sum(mul(x, x)));
  backward(loss, undefined, { retainGraph: true });
  backward(loss);
  assert.equal(Array.from(await x.grad!.data()), [6, -8]);
  assert.throws(() => backward(loss), (e: unknown) => e instanceof ThawError && e.kind === 'graph-released');
  dispose([loss, x.grad!, x]);
});

check('a non-scalar root needs an explicit gradient of matching size', async () => {
  const X = randArray(6), G = randArray(6);
  const x = variable(tensor(X, [2, 3]));
  const y = mul(x, x);
  assert.throws(() => backward(y), (e: unknown) => e instanceof ThawError && e.kind === 'shape');
  const g = tensor(G, [2, 3]);
  backward(y, g);
  assertClose(await x.grad!.data(), Array.from(X, (v, i) => 2 * v * G[i]), 1e-6, 1e-6, 'vjp');
  dispose([x, y, g, x.grad!]);
});

test.run();
