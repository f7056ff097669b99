import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, randInt, rand, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { softmax, logSoftmax, crossEntropy, type CrossEntropyOptions } from '../../kernels/softmax/softmax.ts';
import { softmaxRef, crossEntropyRef } from '../../kernels/softmax/reference.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** float64 gradient of sum(w * f(x)) for f = softmax / log-softmax along axis, from the Jacobian formula. */
function softmaxGradRef(X: ArrayLike<number>, W: ArrayLike<number>, shape: number[], axis: number, log: boolean): Float64Array {
  const ax = axis < 0 ? axis + shape.length : axis;
  const y = softmaxRef(X, shape, ax, log);
  const p = log ? y.map(Math.exp) : y;
  const len = shape[ax], inner = numel(shape.slice(ax + 1)), outer = numel(shape.slice(0, ax));
  const out = new Float64Array(X.length);
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
    const at = (k: number) => (o * len + k) * inner + i;
    let dot = 0;
    for (let k = 0; k < len; k++) dot += log ? W[at(k)] : W[at(k)] * p[at(k)];
    for (let k = 0; k < len; k++) out[at(k)] = log ? W[at(k)] - p[at(k)] * dot : p[at(k)] * (W[at(k)] - dot);
  }
  return out;
}

const CASES: [number[], number][] = [
  [[1], -1], [[7], 0], [[3, 5], -1], [[4, 33], 1], [[2, 130], -1], [[3, 4100], -1],
  [[5, 7, 3], 0], [[5, 7, 3], 1], [[5, 7, 3], -1], [[2, 3, 70, 2], 2], [[1, 1, 1], 1],
];

for (const log of [false, true]) {
  const name = log ? 'logSoftmax' : 'softmax';
  const fn = log ? logSoftmax : softmax;
  for (const [shape, axis] of CASES) {
    test(`${name} [${shape}] axis ${axis}: forward and backward vs float64`, async () => {
      const n = numel(shape);
      const X = randArray(n, -6, 6), W = randArray(n);
      const x = variable(tensor(X, shape));
      const y = tidy(() => { const y = fn(x, axis); backward(sum(mul(y, tensor(W, shape)))); return y; });
      assert.equal(y.shape, shape);
      assertClose(await y.data(), softmaxRef(X, shape, axis, log), 1e-5, log ? 2e-5 : 1e-6, `${name} forward`);
      assertClose(await x.grad!.data(), softmaxGradRef(X, W, shape, axis, log), 1e-4, 1e-5, `${name} backward`);
      y.dispose(); x.grad!.dispose(); x.dispose();
    });
  }

  test(`${name}: backward vs central finite differences`, async () => {
    const shape = [3, 9];
    const X = randArray(27, -3, 3), W = randArray(27);
    const x = variable(tensor(X, shape));
    tidy(() => { backward(sum(mul(fn(x, -1), tensor(W, shape)))); });
    const f = (v: Float64Array) => softmaxRef(v, shape, -1, log).reduce((s, yv, i) => s + yv * W[i], 0);
    assertClose(await x.grad!.data(), numericGrad(f, X), 1e-3, 1e-4, `${name} fd`);
    x.grad!.dispose(); x.dispose();
  });

  test(`${name}: stable for large logits (no overflow to NaN/Inf)`, async () => {
    const shape = [4, 37];
    const X = randArray(numel(shape), -1000, 1000);
    X[5] = 3e38; X[40] = -3e38;
    const y = tidy(() => fn(tensor(X, shape)));
    const d = await y.data();
    assert.ok(d.every(Number.isFinite), `${name} produced a non-finite value`);
    assertClose(d, softmaxRef(X, shape, -1, log), 1e-5, 1e-5, `${name} large`);
    y.dispose();
  });
}

test('softmax rows sum to 1 and rejects bad arguments', async () => {
  const y = tidy(() => sum(softmax(tensor(randArray(6 * 300, -5, 5), [6, 300])), -1));
  assertClose(await y.data(), new Array(6).fill(1), 1e-5, 1e-6, 'row sums');
  y.dispose();
  const x = tensor([1, 2, 3]);
  assert.throws(() => softmax(x, 1), (e: unknown) => e instanceof ShapeError);
  assert.throws(() => softmax(tensor([1, 2], [2], 'i32')), (e: unknown) => e instanceof ShapeError);
  x.dispose();
});

/** Labels in [0, C) with a few rows set to ignoreIndex (when given). */
function labelsFor(N: number, C: number, ignore?: number): Int32Array {
  const L = randInt(N, C);
  if (ignore !== undefined && N > 1) for (let i = 0; i < N; i++) if (rand() < 0.25) L[i] = ignore;
  return L;
}

const CE: [number, number, CrossEntropyOptions][] = [
  [1, 1, {}], [7, 3, {}], [33, 10, { reduction: 'sum' }], [5, 130, { reduction: 'none' }],
  [6, 1100, { labelSmoothing: 0.1 }], [9, 7, { labelSmoothing: 0.2, reduction: 'none' }],
  [20, 5, { ignoreIndex: -100 }], [13, 11, { ignoreIndex: 3, labelSmoothing: 0.1, reduction: 'sum' }],
  [300, 4, { labelSmoothing: 0.05 }],
];

for (const [N, C, opts] of CE) {
  test(`crossEntropy N=${N} C=${C} ${JSON.stringify(opts)}: loss and fused gradient vs float64`, async () => {
    const X = randArray(N * C, -4, 4);
    const L = labelsFor(N, C, opts.ignoreIndex);
    if (opts.ignoreIndex !== undefined && opts.ignoreIndex >= 0) L[0] = (opts.ignoreIndex + 1) % C; // keep one real row
    else if (opts.ignoreIndex !== undefined) L[0] = 0;
    const ref = crossEntropyRef(X, L, N, C, opts);
    const x = variable(tensor(X, [N, C]));
    const labels = tensor(L, [N], 'i32');
    const none = opts.reduction === 'none';
    const W = none ? randArray(N) : null;
    const loss = tidy(() => {
      const l = crossEntropy(x, labels, opts);
      backward(W ? sum(mul(l, tensor(W))) : l);
      return l;
    });
    assert.equal(loss.shape, none ? [N] : []);
    if (none) assertClose(await loss.data(), ref.rows, 1e-5, 1e-5, 'rows');
    else assertClose(await loss.data(), [ref.loss], 1e-5, 1e-5, 'loss');
    const g = W ? ref.grad.map((v, k) => v * W[Math.floor(k / C)]) : ref.grad;
    assertClose(await x.grad!.data(), g, 1e-4, 1e-6, 'dlogits');
    loss.dispose(); x.grad!.dispose(); x.dispose(); labels.dispose();
  });
}

test('crossEntropy: gradient vs central finite differences (smoothing, ignored row)', async () => {
  const N = 4, C = 6, opts: CrossEntropyOptions = { labelSmoothing: 0.15, ignoreIndex: 2 };
  const X = randArray(N * C, -2, 2);
  const L = new Int32Array([0, 2, 5, 1]);
  const x = variable(tensor(X, [N, C]));
  const labels = tensor(L, [N], 'i32');
  tidy(() => { backward(crossEntropy(x, labels, opts)); });
  const fd = numericGrad((v) => crossEntropyRef(v, L, N, C, opts).loss, X);
  assertClose(await x.grad!.data(), fd, 1e-3, 1e-4, 'fd');
  const gd = await x.grad!.data();
  for (let c = 0; c < C; c++) assert.is(gd[1 * C + c], 0, 'ignored row has zero gradient');
  x.grad!.dispose(); x.dispose(); labels.dispose();
});

test('crossEntropy: out-of-range label gives NaN; all rows ignored gives NaN mean; bad args throw', async () => {
  const x = tensor(randArray(6, -1, 1), [2, 3]);
  const bad = tensor([0, 3], [2], 'i32');
  const rows = crossEntropy(x, bad, { reduction: 'none' });
  const r = await rows.data();
  assert.ok(Number.isFinite(r[0]) && Number.isNaN(r[1]), `rows ${r}`);
  const ign = tensor([-100, -100], [2], 'i32');
  const m = crossEntropy(x, ign);
  assert.ok(Number.isNaN(await m.item()));
  const s = crossEntropy(x, ign, { reduction: 'sum' });
  assert.is(await s.item(), 0);
  assert.throws(() => crossEntropy(x, tensor([0, 1], [2], 'f32')), (e: unknown) => e instanceof ShapeError);
  assert.throws(() => crossEntropy(x, tensor([0, 1, 2], [3], 'i32')), (e: unknown) => e instanceof ShapeError);
  assert.throws(() => crossEntropy(x, bad, { labelSmoothing: 1.5 }), (e: unknown) => e instanceof ShapeError);
  for (const t of [x, bad, rows, ign, m, s]) t.dispose();
});

test.run();
