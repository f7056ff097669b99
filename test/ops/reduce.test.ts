import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, randInt, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/factory.ts';
import { tidy } from '../../engine/tensor.ts';
import { backward, variable } from '../../engine/autograd.ts';
import { ShapeError } from '../../engine/errors.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum, mean, max, sumTo, reduceRef } from '../../kernels/reduce/reduce.ts';

test.before(async () => { await setup(); });

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
type Op = 'sum' | 'mean' | 'max';
const FNS = { sum, mean, max };

function normAxes(rank: number, axes?: number | number[]): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const l = (Array.isArray(axes) ? axes : [axes]).map((a) => (a < 0 ? a + rank : a));
  return [...new Set(l)].sort((a, b) => a - b);
}

/** Output index of every input element when reducing `axes` of `shape`. */
function outIndex(shape: number[], axes: number[]): Int32Array {
  const n = numel(shape);
  const map = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i, o = 0, place = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      const c = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      if (!axes.includes(d)) { o += c * place; place *= shape[d]; }
    }
    map[i] = o;
  }
  return map;
}

/** float64 forward and the gradient of sum(w * reduce(x)) (max: split evenly among ties). */
function reference(op: Op, X: ArrayLike<number>, shape: number[], axes: number[], W: ArrayLike<number>) {
  const n = axes.reduce((a, i) => a * shape[i], 1);
  const fwd = reduceRef(op === 'max' ? 'max' : 'sum', X, shape, axes, op === 'mean' ? 1 / n : 1);
  const map = outIndex(shape, axes);
  const grad = new Float64Array(X.length);
  const ties = new Float64Array(fwd.length);
  if (op === 'max') for (let i = 0; i < X.length; i++) if (X[i] === fwd[map[i]]) ties[map[i]]++;
  for (let i = 0; i < X.length; i++) {
    const o = map[i];
    grad[i] = op === 'sum' ? W[o] : op === 'mean' ? W[o] / n : (X[i] === fwd[o] ? W[o] / ties[o] : 0);
  }
  return { fwd, grad };
}

// [shape, axes, keepdims]
const CASES: [number[], number | number[] | undefined, boolean][] = [
  [[7], undefined, false], [[1], 0, true], [[3, 5], 1, false], [[3, 5], 0, true], [[4, 33], -1, true],
  [[2, 3, 4], [0, 2], false], [[2, 3, 4], [-1, -3], true], [[2, 3, 4, 5], [1, 3], true], [[2, 3, 4, 5], [0, 1, 2], false],
  [[2, 1, 3], 1, false], [[5, 130], 1, false], [[130, 5], 0, true], [[3, 5000], -1, false], [[4100, 3], 0, false],
  [[5000, 40], 1, false], [[6000, 7], -1, true], [[3, 70, 2], [0, 2], false], [[2, 3], [-1, -2], false],
];

for (const op of ['sum', 'mean', 'max'] as Op[]) {
  for (const [shape, axes, keepdims] of CASES) {
    test(`${op} [${shape}] axes ${JSON.stringify(axes)} keepdims=${keepdims}: forward and backward vs float64`, async () => {
      const n = numel(shape);
      // Integers in a small range for max so ties occur; random floats otherwise.
      const X = op === 'max' ? Float32Array.from(randInt(n, 9), (v) => v - 4) : randArray(n, -2, 2);
      const ax = normAxes(shape.length, axes);
      const outShape = shape.map((d, i) => (ax.includes(i) ? 1 : d)).filter((_, i) => keepdims || !ax.includes(i));
      const W = randArray(numel(outShape));
      const x = variable(tensor(X, shape));
      const y = tidy(() => {
        const y = FNS[op](x, axes, keepdims);
        backward(sum(mul(y, tensor(W, outShape))));
        return y;
      });
      assert.equal(y.shape, outShape);
      const ref = reference(op, X, shape, ax, W);
      const big = n / Math.max(1, numel(outShape)) > 1000;
      assertClose(await y.data(), ref.fwd, big ? 1e-4 : 1e-5, big ? 1e-4 : 1e-5, `${op} forward`);
      assertClose(await x.grad!.data(), ref.grad, 1e-5, 1e-6, `${op} backward`);
      y.dispose(); x.grad!.dispose(); x.dispose();
    });
  }
}

for (const op of ['sum', 'mean', 'max'] as Op[]) {
  test(`${op}: backward vs central finite differences`, async () => {
    const shape = [3, 4, 5], axes = [0, 2];
    const X = randArray(60, -2, 2), W = randArray(4);
    const x = variable(tensor(X, shape));
    tidy(() => { backward(sum(mul(FNS[op](x, axes), tensor(W, [4])))); });
    const f = (v: Float64Array) => {
      const r = reduceRef(op === 'max' ? 'max' : 'sum', v, shape, axes, op === 'mean' ? 1 / 15 : 1);
      return r.reduce((s, y, i) => s + y * W[i], 0);
    };
    assertClose(await x.grad!.data(), numericGrad(f, X, 1e-4), 1e-3, 1e-4, `${op} fd`);
    x.grad!.dispose(); x.dispose();
  });
}

test('sumTo reduces broadcast dims and leading dims', async () => {
  const X = randArray(2 * 3 * 4);
  const x = tensor(X, [2, 3, 4]);
  const cases: [number[], number[]][] = [[[3, 4], [0]], [[1, 4], [0, 1]], [[3, 1], [0, 2]], [[2, 1, 4], [1]], [[2, 3, 4], []]];
  for (const [target, axes] of cases) {
    const y = tidy(() => sumTo(x, target));
    assert.equal(y.shape, target);
    assertClose(await y.data(), reduceRef('sum', X, [2, 3, 4], axes), 1e-5, 1e-6, `sumTo [${target}]`);
    if (y !== x) y.dispose();
  }
  assert.throws(() => sumTo(x, [5, 4]), (e: unknown) => e instanceof ShapeError);
  x.dispose();
});

test('reductions reject out-of-range axes', () => {
  const x = tensor(randArray(6), [2, 3]);
  for (const f of [sum, mean, max]) {
    assert.throws(() => f(x, 2), (e: unknown) => e instanceof ShapeError);
    assert.throws(() => f(x, -3), (e: unknown) => e instanceof ShapeError);
  }
  x.dispose();
});

test.run();
