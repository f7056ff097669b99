import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { setup, randArray, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, type Tensor } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { maxPool2d, maxPool2dWithIndices, avgPool2d, globalAvgPool2d, poolGeometry, type Pool2dOptions } from '../../kernels/pool/pool.ts';
import { pool2dRef } from '../../kernels/pool/reference.ts';
import type { Padding2d } from '../../kernels/pad/pad.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

const fixtures = JSON.parse(readFileSync(new URL('../fixtures/cnn/pool.json', import.meta.url), 'utf8'));

/** Runs pooling forward and backward of sum(out * gout); returns output, dx and (max) indices. */
async function run(kind: 'max' | 'avg', xs: Float32Array, shape: number[], kernel: [number, number], opts: Pool2dOptions, gs?: ArrayLike<number>) {
  const x = variable(tensor(xs, shape));
  const [out, indices] = tidy(() => {
    const { out, indices } = kind === 'max' ? maxPool2dWithIndices(x, kernel, opts) : { out: avgPool2d(x, kernel, opts), indices: null };
    backward(sum(mul(out, tensor(gs ?? new Float32Array(out.size).fill(1), out.shape))));
    return indices ? [out, indices] : [out];
  });
  const res = { shape: out.shape, out: await out.data(), dx: await x.grad!.data(), indices: indices ? await indices.data() : null };
  for (const t of [out, indices, x.grad, x] as (Tensor | undefined | null)[]) t?.dispose();
  return res;
}

for (const [i, c] of (fixtures as any[]).entries()) {
  const pad = c.padding as Padding2d;
  test(`${c.kind}Pool2d vs torch #${i}: [${c.shape}] k${c.kernel} s${c.stride} pad ${JSON.stringify(pad)} d${c.dilation} ceil=${c.ceilMode} cip=${c.countIncludePad}`, async () => {
    const opts: Pool2dOptions = { stride: c.stride, padding: pad, dilation: c.kind === 'max' ? c.dilation : undefined, ceilMode: c.ceilMode, countIncludePad: c.countIncludePad ?? undefined };
    if (c.resolved) {
      const g = poolGeometry('t', c.shape, c.kernel, opts);
      assert.equal([g.pad.top, g.pad.bottom, g.pad.left, g.pad.right], c.resolved, 'resolved padding');
    }
    const r = await run(c.kind, Float32Array.from(c.x), c.shape, c.kernel, opts, c.gout);
    assert.equal(r.shape, c.outShape);
    assertClose(r.out, c.out, 1e-5, 1e-6, 'forward');
    assertClose(r.dx, c.dx, 1e-5, 1e-6, 'backward');
    if (c.indices) assert.equal(Array.from(r.indices!), c.indices, 'argmax indices');
  });
}

// Random odd shapes against the float64 reference, and finite differences of the backward.
const RANDOM: [string, 'max' | 'avg', number[], [number, number], Pool2dOptions][] = [
  ['max stride 2 asym pad ceil', 'max', [2, 3, 9, 7], [3, 2], { stride: [2, 3], padding: [1, 2, 0, 1], ceilMode: true }],
  ['max dilation 2 same', 'max', [1, 2, 11, 8], [3, 3], { stride: 2, padding: 'same', dilation: 2 }],
  ['max overlapping s1', 'max', [1, 3, 6, 5], [3, 3], { stride: 1, padding: 1 }],
  ['avg asym cip', 'avg', [2, 2, 9, 7], [3, 3], { stride: 2, padding: [0, 1, 2, 1] }],
  ['avg asym exclude pads ceil', 'avg', [2, 2, 9, 7], [3, 3], { stride: 2, padding: [1, 0, 2, 1], countIncludePad: false, ceilMode: true }],
  ['avg same (excludes pads)', 'avg', [1, 3, 10, 7], [3, 3], { stride: 2, padding: 'same' }],
  ['avg overlapping s1', 'avg', [1, 2, 5, 6], [2, 3], { stride: 1 }],
];
for (const [name, kind, shape, k, opts] of RANDOM) {
  test(`${kind}Pool2d ${name}: forward vs float64, backward vs reference/finite differences`, async () => {
    const n = shape.reduce((a, b) => a * b, 1);
    let xs = randArray(n, -2, 2);
    // Max pooling: distinct values at least 4/n apart (in random order), so the finite-difference step
    // (1e-4) never moves which element of a window is the largest.
    if (kind === 'max') { const rank = [...xs.keys()].sort((a, b) => xs[a] - xs[b]); const v = new Float32Array(n); rank.forEach((i, r) => { v[i] = -2 + 4 * r / n; }); xs = v; }
    const g = poolGeometry('t', shape, k, opts);
    const cip = opts.countIncludePad ?? opts.padding !== 'same';
    const ref = pool2dRef(kind, xs, g, cip);
    const gs = randArray(ref.out.length);
    const r = await run(kind, xs, shape, k, opts, gs);
    assert.equal(r.shape, [g.N, g.C, g.OH, g.OW]);
    assertClose(r.out, ref.out, 1e-5, 1e-6, 'forward');
    const loss = (v: Float64Array) => { const o = pool2dRef(kind, v, g, cip).out; let s = 0; for (let i = 0; i < o.length; i++) s += o[i] * gs[i]; return s; };
    if (kind === 'avg') {
      assertClose(r.dx, numericGrad(loss, xs), 1e-3, 1e-4, 'backward');
    } else {
      assert.equal(Array.from(r.indices!), Array.from(ref.argmax), 'argmax');
      const dx = new Float64Array(n);
      for (let o = 0; o < ref.out.length; o++) dx[Math.floor(o / (g.OH * g.OW)) * g.H * g.W + ref.argmax[o]] += gs[o];
      assertClose(r.dx, dx, 1e-5, 1e-6, 'backward');
      assertClose(r.dx, numericGrad(loss, xs, 1e-4), 1e-2, 1e-3, 'backward vs finite differences');
    }
  });
}

test('maxPool2d: ties keep the first element; pads never win over negative inputs', async () => {
  const xs = new Float32Array([-5, -5, -5, -5, -7, -5, -5, -5, -5]);
  const r = await run('max', xs, [1, 1, 3, 3], [2, 2], { stride: 1, padding: 1 });
  // torch.nn.functional.max_pool2d(x, 2, 1, 1, return_indices=True) on the same input gives these indices.
  assert.equal(Array.from(r.indices!), [0, 0, 1, 2, 0, 0, 1, 2, 3, 3, 5, 5, 6, 6, 7, 8]);
  assert.ok(Array.from(r.out).every((v) => v === -5), 'max of negative inputs with pads is the input max');
});

test('globalAvgPool2d: (N, C) and keepdims, with gradient', async () => {
  const shape = [2, 3, 5, 3];
  const xs = randArray(30 * 3);
  const x = variable(tensor(xs, shape));
  const out = tidy(() => { const o = globalAvgPool2d(x); backward(sum(o)); return o; });
  const k = tidy(() => globalAvgPool2d(x, true));
  assert.equal(out.shape, [2, 3]);
  assert.equal(k.shape, [2, 3, 1, 1]);
  const ref = Array.from({ length: 6 }, (_, p) => xs.slice(p * 15, p * 15 + 15).reduce((a, b) => a + b, 0) / 15);
  assertClose(await out.data(), ref, 1e-5, 1e-6, 'forward');
  assertClose(await k.data(), ref, 1e-5, 1e-6, 'keepdims');
  assertClose(await x.grad!.data(), new Float32Array(90).fill(1 / 15), 1e-6, 1e-7, 'backward');
  for (const t of [out, k, x.grad!, x]) t.dispose();
});

test('pooling refuses bad arguments with ShapeErrors', () => {
  const x = tensor(new Float32Array(16), [1, 1, 4, 4]);
  assert.throws(() => maxPool2d(x, 2, { padding: 2 }), /padding/);
  assert.throws(() => maxPool2d(x, 5), /does not fit/);
  assert.throws(() => avgPool2d(x, 2, { dilation: 2 }), /dilation/);
  assert.throws(() => maxPool2d(tensor(new Float32Array(4), [2, 2]), 2), /rank 4/);
  assert.throws(() => maxPool2d(x, 0), /positive/);
  x.dispose();
});

test.run();
