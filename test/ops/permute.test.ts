import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, randInt, rand, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { permute, transpose, planPermute } from '../../kernels/permute/permute.ts';
import { permuteRef } from '../../kernels/permute/reference.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** A random permutation of 0..r-1 (Fisher-Yates on the seeded generator). */
function randPerm(r: number): number[] {
  const p = [...Array(r).keys()];
  for (let i = r - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [p[i], p[j]] = [p[j], p[i]]; }
  return p;
}

/** Gradient of sum(w * permute(x, dims)) w.r.t. x: w scattered back through the permutation. */
function permuteGradRef(W: ArrayLike<number>, shape: number[], dims: number[]): Float64Array {
  const outShape = dims.map((d) => shape[d]);
  const inv: number[] = new Array(dims.length);
  dims.forEach((d, i) => { inv[d] = i; });
  return permuteRef(W, outShape, inv);
}

const CASES: [number[], number[]][] = [
  [[1], [0]], [[7, 5], [1, 0]], [[33, 1], [1, 0]], [[2, 3, 4], [2, 0, 1]], [[5, 7, 3], [0, 2, 1]],
  [[2, 3, 5, 7], [0, 2, 3, 1]], [[2, 3, 5, 7], [0, 3, 1, 2]], [[2, 1, 3, 1, 4], [4, 3, 2, 1, 0]],
  [[3, 2, 2, 3, 2, 5], [5, 1, 3, 0, 4, 2]], [[2, 3, 1, 2, 3, 2, 2], [6, 0, 5, 1, 4, 2, 3]],
  [[130, 9], [-1, -2]], [[1, 1, 6], [2, 0, 1]],
];

for (const [shape, dims] of CASES) {
  test(`permute [${shape}] by [${dims}]: forward and backward vs float64`, async () => {
    const n = numel(shape);
    const X = randArray(n), W = randArray(n);
    const outShape = dims.map((d) => shape[(d + shape.length) % shape.length]);
    const x = variable(tensor(X, shape));
    const y = tidy(() => { const y = permute(x, dims); backward(sum(mul(y, tensor(W, outShape)))); return y; });
    assert.equal(y.shape, outShape);
    assertClose(await y.data(), permuteRef(X, shape, dims), 0, 0, 'forward');
    const nd = dims.map((d) => (d + shape.length) % shape.length);
    assertClose(await x.grad!.data(), permuteGradRef(W, shape, nd), 0, 0, 'backward');
    y.dispose(); x.grad!.dispose(); x.dispose();
  });
}

test('permute: random shapes and permutations, rank 1..6, f32 and i32', async () => {
  for (let trial = 0; trial < 24; trial++) {
    const r = 1 + (trial % 6);
    const shape = Array.from({ length: r }, () => 1 + Math.floor(rand() * 5));
    const dims = randPerm(r);
    const n = numel(shape);
    if (trial % 2) {
      const X = randInt(n, 1000);
      const x = tensor(X, shape, 'i32');
      const y = permute(x, dims);
      assert.is(y.dtype, 'i32');
      assert.equal(Array.from(await y.data()), Array.from(permuteRef(X, shape, dims)), `i32 [${shape}] by [${dims}]`);
      x.dispose(); y.dispose();
    } else {
      const X = randArray(n);
      const x = tensor(X, shape);
      const y = permute(x, dims);
      assertClose(await y.data(), permuteRef(X, shape, dims), 0, 0, `f32 [${shape}] by [${dims}]`);
      x.dispose(); y.dispose();
    }
  }
});

test('permute: backward vs central finite differences', async () => {
  const shape = [2, 3, 4], dims = [1, 2, 0];
  const X = randArray(24), W = randArray(24);
  const x = variable(tensor(X, shape));
  tidy(() => { backward(sum(mul(permute(x, dims), tensor(W, [3, 4, 2])))); });
  const f = (v: Float64Array) => permuteRef(v, shape, dims).reduce((s, y, i) => s + y * W[i], 0);
  assertClose(await x.grad!.data(), numericGrad(f, X), 1e-6, 1e-6, 'fd');
  x.grad!.dispose(); x.dispose();
});

test('planPermute merges adjacent axes and drops size-1 axes', () => {
  assert.equal(planPermute([2, 3, 5, 7], [0, 2, 3, 1]), { shape: [2, 3, 35], perm: [0, 2, 1] });
  assert.equal(planPermute([2, 3, 5], [0, 1, 2]), { shape: [30], perm: [0] });
  assert.equal(planPermute([1, 4, 1, 6], [2, 3, 0, 1]), { shape: [4, 6], perm: [1, 0] });
  assert.equal(planPermute([4, 1, 6], [1, 0, 2]), { shape: [24], perm: [0] });
});

test('permute moving only size-1 axes is a view; transpose matches permute', async () => {
  const X = randArray(12);
  const x = tensor(X, [1, 12, 1]);
  const y = permute(x, [2, 0, 1]);
  assert.is(y.buffer, x.buffer);
  assert.equal(y.shape, [1, 1, 12]);
  const a = tensor(randArray(3 * 4 * 5), [3, 4, 5]);
  const t = transpose(a, 0, -1);
  assert.equal(t.shape, [5, 4, 3]);
  const ad = await a.data();
  assertClose(await t.data(), permuteRef(ad, [3, 4, 5], [2, 1, 0]), 0, 0, 'transpose');
  for (const v of [x, y, a, t]) v.dispose();
});

test('permute rejects bad dims', () => {
  const x = tensor(randArray(6), [2, 3]);
  const bad = (f: () => unknown) => assert.throws(f, (e: unknown) => e instanceof ShapeError);
  bad(() => permute(x, [0]));
  bad(() => permute(x, [0, 0]));
  bad(() => permute(x, [0, 2]));
  bad(() => transpose(x, 0, 2));
  x.dispose();
});

test.run();
