import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { mul, addScalar } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { layerNorm, residualLayerNorm } from '../../kernels/layernorm/layernorm.ts';
import { dropout } from '../../kernels/dropout/dropout.ts';
import { dropoutMaskRef } from '../../kernels/dropout/reference.ts';
import { add } from '../../kernels/elementwise/elementwise.ts';
import { runtime } from '../../engine/core/runtime.ts';
import type { Tensor } from '../../engine/core/tensor.ts';
import { layerNormRef, layerNormGradRef } from '../../kernels/layernorm/reference.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

// [shape, eps]: short rows packed many per workgroup, BERT-tiny's 128, BERT-base's 768, and rows
// longer than one workgroup (1030 > 256 invocations, each looping).
const CASES: [number[], number][] = [
  [[1, 1], 1e-5], [[7, 5], 1e-5], [[3, 11, 32], 1e-12], [[2, 3, 33], 1e-5], [[5, 128], 1e-12],
  [[3, 768], 1e-12], [[2, 1030], 1e-5], [[17], 1e-3], [[300, 3], 1e-5],
];

for (const [shape, eps] of CASES) {
  test(`layerNorm [${shape}] eps ${eps}: forward and backward (x, weight, bias) vs float64`, async () => {
    const D = shape[shape.length - 1], n = numel(shape);
    const X = randArray(n, -3, 3), Wt = randArray(D, 0.5, 1.5), Bs = randArray(D), G = randArray(n);
    const x = variable(tensor(X, shape)), w = variable(tensor(Wt, [D])), b = variable(tensor(Bs, [D]));
    const y = tidy(() => { const y = layerNorm(x, w, b, eps); backward(sum(mul(y, tensor(G, shape)))); return y; });
    assert.equal(y.shape, shape);
    // D = 1 normalises to exactly 0 (x - mean = 0): the output is the bias.
    // float32 rounds x - mean by about |x| 2^-24 a step, and the output scales that by rstd * weight: large
    // for a row of nearly equal values, which a short row (D = 3, 300 rows) draws now and then.
    const yRef = layerNormRef(X, D, Wt, Bs, eps), got = await y.data();
    for (let i = 0; i < n; i++) {
      const row = X.subarray(i - (i % D), i - (i % D) + D);
      const mu = row.reduce((a, v) => a + v, 0) / D;
      const rstd = 1 / Math.sqrt(row.reduce((a, v) => a + (v - mu) ** 2, 0) / D + eps);
      const rounding = 8 * 2 ** -24 * 3 * rstd * Wt[i % D];
      assert.ok(Math.abs(got[i] - yRef[i]) <= 1e-5 * Math.abs(yRef[i]) + 2e-5 + rounding, `forward: element ${i} is ${got[i]}, float64 gives ${yRef[i]}`);
    }
    const ref = layerNormGradRef(X, D, Wt, G, eps);
    const tol = D === 1 ? 1e-2 : 1e-6; // D = 1: dx is 0 up to rounding amplified by 1/sqrt(eps)
    assertClose(await x.grad!.data(), ref.dx, 1e-4, 1e-4 + tol, 'dx');
    assertClose(await w.grad!.data(), ref.dw, 1e-4, 1e-4, 'dweight');
    assertClose(await b.grad!.data(), ref.db, 1e-5, 1e-5, 'dbias');
    for (const t of [y, x.grad!, w.grad!, b.grad!, x, w, b]) t.dispose();
  });
}

test('layerNorm: gradients vs central finite differences (x, weight, bias)', async () => {
  const rows = 3, D = 7, eps = 1e-5;
  const X = randArray(rows * D, -2, 2), Wt = randArray(D, 0.5, 1.5), Bs = randArray(D), G = randArray(rows * D);
  const x = variable(tensor(X, [rows, D])), w = variable(tensor(Wt, [D])), b = variable(tensor(Bs, [D]));
  tidy(() => { backward(sum(mul(layerNorm(x, w, b, eps), tensor(G, [rows, D])))); });
  const loss = (xx: ArrayLike<number>, ww: ArrayLike<number>, bb: ArrayLike<number>) =>
    layerNormRef(xx, D, ww, bb, eps).reduce((s, v, i) => s + v * G[i], 0);
  assertClose(await x.grad!.data(), numericGrad((v) => loss(v, Wt, Bs), X), 1e-3, 1e-4, 'dx fd');
  assertClose(await w.grad!.data(), numericGrad((v) => loss(X, v, Bs), Wt), 1e-3, 1e-4, 'dweight fd');
  assertClose(await b.grad!.data(), numericGrad((v) => loss(X, Wt, v), Bs), 1e-3, 1e-4, 'dbias fd');
  for (const t of [x.grad!, w.grad!, b.grad!, x, w, b]) t.dispose();
});

test('layerNorm without affine parameters, and only the gradients asked for', async () => {
  const shape = [4, 9], D = 9, n = 36;
  const X = randArray(n, -2, 2), G = randArray(n);
  const x = variable(tensor(X, shape));
  const y = tidy(() => { const y = layerNorm(x, null, null, 1e-5); backward(sum(mul(y, tensor(G, shape)))); return y; });
  assertClose(await y.data(), layerNormRef(X, D, null, null, 1e-5), 1e-5, 1e-5, 'forward');
  assertClose(await x.grad!.data(), layerNormGradRef(X, D, null, G, 1e-5).dx, 1e-4, 1e-5, 'dx');
  y.dispose(); x.grad!.dispose(); x.dispose();
  // Frozen weight and bias, trainable input: no parameter gradients are produced.
  const x2 = variable(tensor(X, shape)), w = tensor(randArray(D), [D]), b = tensor(randArray(D), [D]);
  tidy(() => { backward(sum(layerNorm(x2, w, b))); });
  assert.ok(x2.grad && w.grad === null && b.grad === null);
  for (const t of [x2.grad!, x2, w, b]) t.dispose();
});

test('layerNorm keeps precision when |mean| >> std (two-pass variance)', async () => {
  // Mean 300, std ~0.58: E[x^2] - E[x]^2 in float32 would lose about 3% of the variance here
  // (ulp of 9e4 is 0.008); the centred second pass keeps it to rounding of the mean.
  const rows = 4, D = 64;
  const X = randArray(rows * D, -1, 1);
  const x = tensor(X, [rows, D]);
  const shifted = tidy(() => layerNorm(addScalar(x, 300), null, null, 0));
  const Xs = Float32Array.from(X, (v) => Math.fround(v + 300)); // the inputs the kernel saw
  assertClose(await shifted.data(), layerNormRef(Xs, D, null, null, 0), 2e-3, 2e-3, 'shifted');
  shifted.dispose(); x.dispose();
});

// residualLayerNorm: LayerNorm(dropout(h) + res) in one kernel, gradients of h and res in one more.
// [shape, eps, p]: odd rows and lengths, BERT-tiny's 128, rows longer than a workgroup, no dropout.
const RESID_CASES: [number[], number, number][] = [[[3, 11, 33], 1e-12, 0.3], [[5, 128], 1e-12, 0.1], [[2, 1030], 1e-5, 0], [[7, 5], 1e-5, 0.5]];
for (const [shape, eps, p] of RESID_CASES) {
  test(`residualLayerNorm [${shape}] p ${p}: forward and the gradients of h, res, weight, bias vs float64`, async () => {
    const D = shape[shape.length - 1], n = numel(shape), seed = (Math.random() * 2 ** 32) >>> 0;
    const H = randArray(n, -3, 3), R = randArray(n, -3, 3), Wt = randArray(D, 0.5, 1.5), Bs = randArray(D), G = randArray(n);
    const h = variable(tensor(H, shape)), r = variable(tensor(R, shape)), w = variable(tensor(Wt, [D])), b = variable(tensor(Bs, [D]));
    const y = tidy(() => {
      const y = residualLayerNorm(h, r, w, b, eps, p > 0 ? { p, seed } : null);
      backward(sum(mul(y, tensor(G, shape))));
      return y;
    });
    const keep = dropoutMaskRef(n, p, seed), scale = 1 / (1 - p);
    const X = Float64Array.from(H, (v, i) => (keep[i] ? Math.fround(v * scale) : 0) + R[i]);
    assertClose(await y.data(), layerNormRef(X, D, Wt, Bs, eps), 1e-4, 1e-4, 'forward');
    const ref = layerNormGradRef(X, D, Wt, G, eps);
    assertClose(await r.grad!.data(), ref.dx, 1e-4, 1e-4, 'dres');
    assertClose(await h.grad!.data(), ref.dx.map((v, i) => (keep[i] ? v * scale : 0)), 1e-4, 1e-4, 'dh');
    assertClose(await w.grad!.data(), ref.dw, 1e-4, 1e-4, 'dweight');
    assertClose(await b.grad!.data(), ref.db, 1e-5, 1e-5, 'dbias');
    for (const t of [y, h.grad!, r.grad!, w.grad!, b.grad!, h, r, w, b]) t.dispose();
  });
}

test('residualLayerNorm: bit for bit dropout + add + layerNorm, in 1 forward and 2 backward dispatches (5 composed)', async () => {
  const shape = [6, 37], D = 37, n = 6 * 37, p = 0.25, seed = 12345;
  const H = randArray(n, -2, 2), R = randArray(n, -2, 2), Wt = randArray(D, 0.5, 1.5), Bs = randArray(D), G = randArray(n);
  const rt = runtime();
  // Dispatches of the ops (the test helpers' poisoning of new buffers left out).
  const ops = () => rt.dispatches - (rt.dispatchByName.get('test_poison') ?? 0);
  const run = async (fused: boolean) => {
    const h = variable(tensor(H, shape)), r = variable(tensor(R, shape)), w = variable(tensor(Wt, [D])), b = variable(tensor(Bs, [D]));
    let fwd = 0, bwd = 0;
    const y = tidy(() => {
      const d0 = ops();
      const y = fused ? residualLayerNorm(h, r, w, b, 1e-12, { p, seed }) : layerNorm(add(dropout(h, p, seed), r), w, b, 1e-12);
      const d1 = ops();
      backward(y, tensor(G, shape));
      fwd = d1 - d0; bwd = ops() - d1;
      return y;
    });
    const out = await Promise.all([y, h.grad!, r.grad!, w.grad!, b.grad!].map((t) => t.data()));
    for (const t of [y, h.grad, r.grad, w.grad, b.grad, h, r, w, b] as (Tensor | null)[]) t?.dispose();
    return { out, fwd, bwd };
  };
  const f = await run(true), c = await run(false);
  ['y', 'dh', 'dres', 'dweight', 'dbias'].forEach((k, i) => assert.equal(Array.from(f.out[i]), Array.from(c.out[i]), k));
  assert.is(f.fwd, 1);
  assert.is(c.fwd, 3);
  assert.ok(f.bwd === 2 && c.bwd === 3, `backward dispatches: fused ${f.bwd}, composed ${c.bwd}`);
});

// The output dropout (outDrop) in the same kernels: BERT's embeddings (LayerNorm, then dropout).
test('layerNorm with outDrop: bit for bit layerNorm + dropout, 1 forward and 2 backward dispatches (2 and 3); vs float64', async () => {
  const shape = [5, 3, 29], D = 29, n = 5 * 3 * 29, p = 0.2, seed = (Math.random() * 2 ** 32) >>> 0;
  const X = randArray(n, -2, 2), Wt = randArray(D, 0.5, 1.5), Bs = randArray(D), G = randArray(n);
  const rt = runtime();
  const ops = () => rt.dispatches - (rt.dispatchByName.get('test_poison') ?? 0);
  const run = async (fused: boolean) => {
    const x = variable(tensor(X, shape)), w = variable(tensor(Wt, [D])), b = variable(tensor(Bs, [D]));
    let fwd = 0, bwd = 0;
    const y = tidy(() => {
      const d0 = ops();
      const y = fused ? layerNorm(x, w, b, 1e-12, { p, seed }) : dropout(layerNorm(x, w, b, 1e-12), p, seed);
      const d1 = ops();
      backward(y, tensor(G, shape));
      fwd = d1 - d0; bwd = ops() - d1;
      return y;
    });
    const out = await Promise.all([y, x.grad!, w.grad!, b.grad!].map((t) => t.data()));
    for (const t of [y, x.grad, w.grad, b.grad, x, w, b] as (Tensor | null)[]) t?.dispose();
    return { out, fwd, bwd };
  };
  const f = await run(true), c = await run(false);
  ['y', 'dx', 'dweight', 'dbias'].forEach((k, i) => assert.equal(Array.from(f.out[i]), Array.from(c.out[i]), k));
  assert.equal([f.fwd, f.bwd, c.fwd, c.bwd], [1, 2, 2, 3]);
  const keep = dropoutMaskRef(n, p, seed), scale = 1 / (1 - p);
  assertClose(f.out[0], layerNormRef(X, D, Wt, Bs, 1e-12).map((v, i) => (keep[i] ? v * scale : 0)), 1e-4, 1e-4, 'forward');
  const ref = layerNormGradRef(X, D, Wt, Float64Array.from(G, (g, i) => (keep[i] ? g * scale : 0)), 1e-12);
  assertClose(f.out[1], ref.dx, 1e-4, 1e-4, 'dx');
  assertClose(f.out[2], ref.dw, 1e-4, 1e-4, 'dweight');
  assertClose(f.out[3], ref.db, 1e-4, 1e-4, 'dbias');
});

test('residualLayerNorm with both dropouts (branch and output) vs float64', async () => {
  const shape = [4, 37], D = 37, n = 4 * 37, p = 0.3, q = 0.15, s1 = 11, s2 = 9001;
  const H = randArray(n, -2, 2), R = randArray(n, -2, 2), Wt = randArray(D, 0.5, 1.5), Bs = randArray(D), G = randArray(n);
  const h = variable(tensor(H, shape)), r = variable(tensor(R, shape)), w = variable(tensor(Wt, [D])), b = variable(tensor(Bs, [D]));
  const y = tidy(() => { const y = residualLayerNorm(h, r, w, b, 1e-5, { p, seed: s1 }, { p: q, seed: s2 }); backward(y, tensor(G, shape)); return y; });
  const k1 = dropoutMaskRef(n, p, s1), k2 = dropoutMaskRef(n, q, s2);
  const X = Float64Array.from(H, (v, i) => (k1[i] ? Math.fround(v / (1 - p)) : 0) + R[i]);
  assertClose(await y.data(), layerNormRef(X, D, Wt, Bs, 1e-5).map((v, i) => (k2[i] ? v / (1 - q) : 0)), 1e-4, 1e-4, 'forward');
  const ref = layerNormGradRef(X, D, Wt, Float64Array.from(G, (g, i) => (k2[i] ? g / (1 - q) : 0)), 1e-5);
  assertClose(await r.grad!.data(), ref.dx, 1e-4, 1e-4, 'dres');
  assertClose(await h.grad!.data(), ref.dx.map((v, i) => (k1[i] ? v / (1 - p) : 0)), 1e-4, 1e-4, 'dh');
  assertClose(await w.grad!.data(), ref.dw, 1e-4, 1e-4, 'dweight');
  for (const t of [y, h.grad!, r.grad!, w.grad!, b.grad!, h, r, w, b]) t.dispose();
});

test('residualLayerNorm rejects bad arguments by name', () => {
  const h = tensor(randArray(12), [3, 4]), r = tensor(randArray(15), [3, 5]), w = tensor(randArray(4), [4]);
  assert.throws(() => residualLayerNorm(h, r, null, null), (e: unknown) => e instanceof ShapeError && /'res'/.test((e as Error).message));
  assert.throws(() => residualLayerNorm(h, h, w, w, 1e-5, { p: 1, seed: 0 }), /dropout p/);
  for (const t of [h, r, w]) t.dispose();
});

test('layerNorm rejects mismatched parameters by name', () => {
  const x = tensor(randArray(12), [3, 4]), w = tensor(randArray(5), [5]), b = tensor(randArray(4), [4]);
  assert.throws(() => layerNorm(x, w, b), (e: unknown) => e instanceof ShapeError && /'weight'.*\[4\]/.test((e as Error).message));
  assert.throws(() => layerNorm(x, b, null), (e: unknown) => e instanceof ShapeError && /both/.test((e as Error).message));
  for (const t of [x, w, b]) t.dispose();
});

test.run();
