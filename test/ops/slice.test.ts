import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, randInt, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { slice, concat } from '../../kernels/slice/slice.ts';
import { sliceRef, concatRef } from '../../kernels/slice/reference.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Gradient of sum(w * slice(x)) w.r.t. x: w placed at the box, zeros elsewhere (float64). */
function sliceGradRef(W: ArrayLike<number>, shape: number[], begin: number[], size: number[]): Float64Array {
  const out = new Float64Array(numel(shape));
  const r = shape.length;
  for (let i = 0; i < W.length; i++) {
    let rem = i, dst = 0, place = 1;
    for (let d = r - 1; d >= 0; d--) {
      dst += ((rem % size[d]) + begin[d]) * place;
      rem = Math.floor(rem / size[d]);
      place *= shape[d];
    }
    out[dst] = W[i];
  }
  return out;
}

// [shape, begin, size, normalised begin, normalised size]
const CASES: [number[], number[], number[], number[], number[]][] = [
  [[7], [2], [3], [2], [3]], [[7], [-3], [-1], [4], [3]], [[1], [0], [1], [0], [1]],
  [[5, 7], [1, 2], [3, 4], [1, 2], [3, 4]], [[33, 5], [0, 0], [33, 5], [0, 0], [33, 5]],
  [[130, 3], [64, 1], [-1, 1], [64, 1], [66, 1]], [[2, 3, 4, 5], [1, 0, 2, 1], [1, 3, 2, -1], [1, 0, 2, 1], [1, 3, 2, 4]],
  [[4, 5], [1, 1], [0, 3], [1, 1], [0, 3]], [[3, 2, 4, 2, 3, 2], [1, 0, 1, 1, 0, 1], [2, 2, 3, 1, 2, 1], [1, 0, 1, 1, 0, 1], [2, 2, 3, 1, 2, 1]],
];

for (const [shape, begin, size, nb, ns] of CASES) {
  test(`slice [${shape}] begin [${begin}] size [${size}]: forward and scatter backward vs float64`, async () => {
    const X = randArray(numel(shape)), W = randArray(numel(ns));
    const x = variable(tensor(X, shape));
    const y = tidy(() => {
      const y = slice(x, begin, size);
      backward(sum(mul(y, tensor(W, ns))));
      return y;
    });
    assert.equal(y.shape, ns);
    assertClose(await y.data(), sliceRef(X, shape, nb, ns), 0, 0, 'forward');
    assertClose(await x.grad!.data(), sliceGradRef(W, shape, nb, ns), 0, 0, 'backward');
    y.dispose(); x.grad!.dispose(); x.dispose();
  });
}

test('slice: backward vs central finite differences; i32 slices', async () => {
  const shape = [3, 4, 5];
  const X = randArray(60), W = randArray(2 * 2 * 3);
  const x = variable(tensor(X, shape));
  tidy(() => { backward(sum(mul(slice(x, [1, 1, 2], [2, 2, 3]), tensor(W, [2, 2, 3])))); });
  const f = (v: Float64Array) => sliceRef(v, shape, [1, 1, 2], [2, 2, 3]).reduce((s, y, i) => s + y * W[i], 0);
  assertClose(await x.grad!.data(), numericGrad(f, X), 1e-6, 1e-6, 'fd');
  x.grad!.dispose(); x.dispose();
  const I = randInt(7 * 9, 1 << 30);
  const xi = tensor(I, [7, 9], 'i32');
  const yi = slice(xi, [2, 3], [4, 5]);
  assert.is(yi.dtype, 'i32');
  assert.equal(Array.from(await yi.data()), Array.from(sliceRef(I, [7, 9], [2, 3], [4, 5])));
  xi.dispose(); yi.dispose();
});

test('slice rejects boxes outside the tensor', () => {
  const x = tensor(randArray(12), [3, 4]);
  const bad = (f: () => unknown) => assert.throws(f, (e: unknown) => e instanceof ShapeError);
  bad(() => slice(x, [0], [1]));
  bad(() => slice(x, [2, 0], [2, 4]));
  bad(() => slice(x, [0, 5], [1, -1]));
  bad(() => slice(x, [0, 0], [1, 1.5]));
  x.dispose();
});

const CONCAT: [number[][], number][] = [
  [[[2, 3, 4, 5], [2, 1, 4, 5], [2, 7, 4, 5]], 1], [[[3, 5], [4, 5]], 0], [[[3, 5], [3, 2], [3, 1]], -1],
  [[[7]], 0], [[[1], [1], [1], [1]], 0], [[[2, 0, 3], [2, 4, 3]], 1], [[[33, 2], [33, 130]], 1],
];

for (const [shapes, axis] of CONCAT) {
  test(`concat ${shapes.map((s) => `[${s}]`).join(' ')} axis ${axis}: forward and backward vs float64`, async () => {
    const Xs = shapes.map((s) => randArray(numel(s)));
    const xs = Xs.map((X, i) => variable(tensor(X, shapes[i])));
    const ax = axis < 0 ? axis + shapes[0].length : axis;
    const outShape = [...shapes[0]];
    outShape[ax] = shapes.reduce((a, s) => a + s[ax], 0);
    const W = randArray(numel(outShape));
    const y = tidy(() => { const y = concat(xs, axis); backward(sum(mul(y, tensor(W, outShape)))); return y; });
    assert.equal(y.shape, outShape);
    assertClose(await y.data(), concatRef(Xs, shapes, axis), 0, 0, 'forward');
    // d/dx_i sum(w * concat) = the band of w that x_i occupies.
    let off = 0;
    for (let i = 0; i < xs.length; i++) {
      const begin = outShape.map((_, d) => (d === ax ? off : 0));
      const want = sliceRef(W, outShape, begin, shapes[i]);
      assertClose(await xs[i].grad!.data(), want, 0, 0, `grad ${i}`);
      off += shapes[i][ax];
    }
    y.dispose();
    for (const x of xs) { x.grad!.dispose(); x.dispose(); }
  });
}

test('concat: backward vs finite differences, partial requiresGrad, i32', async () => {
  const A = randArray(6), B = randArray(4), W = randArray(10);
  const a = variable(tensor(A, [2, 3]));
  const b = tensor(B, [2, 2]);
  tidy(() => { backward(sum(mul(concat([a, b], 1), tensor(W, [2, 5])))); });
  assert.is(b.grad, null);
  const f = (v: Float64Array) => concatRef([v, B], [[2, 3], [2, 2]], 1).reduce((s, y, i) => s + y * W[i], 0);
  assertClose(await a.grad!.data(), numericGrad(f, A), 1e-6, 1e-6, 'fd');
  a.grad!.dispose(); a.dispose(); b.dispose();
  const I1 = randInt(6, 100), I2 = randInt(3, 100);
  const c = concat([tensor(I1, [3, 2], 'i32'), tensor(I2, [3, 1], 'i32')], 1);
  assert.is(c.dtype, 'i32');
  assert.equal(Array.from(await c.data()), Array.from(concatRef([I1, I2], [[3, 2], [3, 1]], 1)));
  c.dispose();
});

test('concat rejects mismatched shapes and dtypes', () => {
  const a = tensor(randArray(6), [2, 3]), b = tensor(randArray(8), [2, 4]), c = tensor([1, 2, 3, 4, 5, 6], [2, 3], 'i32');
  const bad = (f: () => unknown) => assert.throws(f, (e: unknown) => e instanceof ShapeError);
  bad(() => concat([a, b], 0));
  bad(() => concat([a, c], 0));
  bad(() => concat([], 0));
  bad(() => concat([a, b], 2));
  for (const t of [a, b, c]) t.dispose();
});

test.run();
