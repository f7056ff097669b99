// f16 pooling, softmax, cross-entropy and batch norm against the float64 references, inputs rounded
// to f16 first (what the kernels see): the tolerance is the f16 rounding of each stored result
// (2^-11 relative) plus the f32 arithmetic inside, K f32 roundings (2^-24) of the sum of |terms| for
// a reduction of length K; where a backward reads the stored f16 output, that rounding's effect too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, randInt, runSeed } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, type Tensor } from '../../engine/core/tensor.ts';
import { variable } from '../../engine/core/tape.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { maxPool2d, avgPool2d, globalAvgPool2d, poolGeometry, type Pool2dOptions } from '../../kernels/pool/pool.ts';
import { pool2dRef } from '../../kernels/pool/reference.ts';
import { softmax, logSoftmax, crossEntropy } from '../../kernels/softmax/softmax.ts';
import { softmaxRef, crossEntropyRef } from '../../kernels/softmax/reference.ts';
import { batchNorm2d, setBnOnePassMax } from '../../kernels/batchnorm/batchnorm.ts';
import { batchNormRef, bnBackwardRef } from '../../kernels/batchnorm/reference.ts';
import { roundToHalf } from '../../kernels/cast/reference.ts';
import { runtime } from '../../engine/core/runtime.ts';

test.before(async () => { await setup(); });

const U16 = 2 ** -11, SUB = 2 ** -25, U32 = 2 ** -24;
const half = (xs: ArrayLike<number>) => Float64Array.from(xs, roundToHalf);
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** |got - want| <= U16 |want| + SUB + extra(i) (rounded: false drops the f16 rounding of the result, for f32 outputs). */
function assertHalfClose(got: ArrayLike<number>, want: ArrayLike<number>, extra: (i: number) => number, what: string, rounded = true): void {
  assert.is(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    const tol = (rounded ? U16 * Math.abs(want[i]) + SUB : 0) + extra(i);
    if (!(Math.abs(got[i] - want[i]) <= tol)) assert.unreachable(`${what}[${i}] = ${got[i]}, expected ${want[i]} ± ${tol} (seed ${runSeed})`);
  }
}

/** Runs op on an f16 variable x, backpropagates the f16 gradient G; y and dx on the host. */
async function fwdBwd(X: Float32Array, shape: number[], G: Float32Array | null, op: (x: Tensor) => Tensor) {
  const x = variable(tensor(X, shape, 'f16'));
  const y = tidy(() => {
    const y = op(x);
    backward(y, tensor(G ?? new Float32Array(y.size).fill(1), y.shape, 'f16'));
    return y;
  });
  assert.is(y.dtype, 'f16'); assert.is(x.grad!.dtype, 'f16');
  const out = { y: await y.data(), dx: await x.grad!.data() };
  for (const t of [y, x.grad!, x]) t.dispose();
  return out;
}

/** The adjoint of a linear map given by its float64 reference: dx_i = sum_o g_o * f(e_i)_o. */
function adjoint(f: (x: Float64Array) => Float64Array, n: number, g: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(n), e = new Float64Array(n);
  for (let i = 0; i < n; i++) { e[i] = 1; dx[i] = f(e).reduce((s, v, o) => s + v * g[o], 0); e[i] = 0; }
  return dx;
}

test('f16 maxPool2d and avgPool2d (padded, strided, ceil mode): f16 in and out, sums in f32', async () => {
  const shape = [2, 3, 9, 11], X = randArray(numel(shape)), Xh = half(X);
  const cases: [string, 'max' | 'avg', number, Pool2dOptions][] = [
    ['max 3x3 stride 2 pad 1', 'max', 3, { stride: 2, padding: 1 }],
    ['avg 3x3 stride 2 pad 1 ceil', 'avg', 3, { stride: 2, padding: 1, ceilMode: true }],
  ];
  for (const [name, kind, k, opts] of cases) {
    const g = poolGeometry(kind, shape, k, opts), ys = [g.N, g.C, g.OH, g.OW];
    const G = randArray(numel(ys)), Gh = half(G);
    const r = await fwdBwd(X, shape, G, (x) => (kind === 'max' ? maxPool2d(x, k, opts) : avgPool2d(x, k, opts)));
    const ref = pool2dRef(kind, Xh, g);
    // The max is one of the inputs (exact); the average sums k*k values in f32.
    assertHalfClose(r.y, ref.out, () => (kind === 'avg' ? k * k * U32 : 0), `${name} y`);
    let dx: Float64Array;
    if (kind === 'max') {
      dx = new Float64Array(Xh.length);
      ref.argmax.forEach((a, o) => { dx[Math.floor(o / (g.OH * g.OW)) * g.H * g.W + a] += Gh[o]; });
    } else dx = adjoint((e) => pool2dRef('avg', e, g).out, Xh.length, Gh);
    // Each input sums at most (k / s)^2 <= 4 window contributions in f32.
    assertHalfClose(r.dx, dx, () => 4 * U32 * 4, `${name} dx`);
  }
});

test('f16 globalAvgPool2d: one H x W average per channel, f16 out', async () => {
  const shape = [3, 5, 7, 9], X = randArray(numel(shape)), Xh = half(X), G = randArray(15), Gh = half(G);
  const r = await fwdBwd(X, shape, G, (x) => globalAvgPool2d(x));
  const want = Array.from({ length: 15 }, (_, p) => Xh.slice(p * 63, (p + 1) * 63).reduce((a, b) => a + b, 0) / 63);
  assertHalfClose(r.y, want, () => 63 * U32, 'y');
  assertHalfClose(r.dx, Array.from(Xh, (_, i) => Gh[Math.floor(i / 63)] / 63), () => U32, 'dx');
});

test('f16 softmax and logSoftmax along an inner axis: computed in f32, f16 out and dx', async () => {
  const shape = [3, 37, 5], len = 37, X = randArray(numel(shape), -4, 4), G = randArray(numel(shape)), Xh = half(X), Gh = half(G);
  for (const log of [false, true]) {
    const r = await fwdBwd(X, shape, G, (x) => (log ? logSoftmax(x, 1) : softmax(x, 1)));
    const y = softmaxRef(Xh, shape, 1, log);
    // exp and log in f32 (a few ulps) over a row of len terms; log-softmax subtracts values up to |x| + log(len) + max.
    assertHalfClose(r.y, y, (i) => 8 * len * U32 * (Math.abs(y[i]) + (log ? 8 : 0)), `${log ? 'logSoftmax' : 'softmax'} y`);
    // The backward reads the stored f16 y, off by up to U16 |y|.
    const dx = new Float64Array(y.length), tolX = new Float64Array(y.length);
    for (let o = 0; o < 3; o++) for (let j = 0; j < 5; j++) {
      const idx = Array.from({ length: len }, (_, k) => (o * len + k) * 5 + j);
      const p = idx.map((i) => (log ? Math.exp(y[i]) : y[i]));
      const dot = idx.reduce((s, i, k) => s + Gh[i] * (log ? 1 : p[k]), 0);
      const absDot = idx.reduce((s, i, k) => s + Math.abs(Gh[i]) * (log ? 1 : p[k]), 0);
      idx.forEach((i, k) => {
        dx[i] = log ? Gh[i] - p[k] * dot : p[k] * (Gh[i] - dot);
        const yErr = U16 * (log ? p[k] * Math.abs(y[i]) * Math.abs(dot) : p[k] * (Math.abs(Gh[i]) + 2 * absDot));
        tolX[i] = 1.01 * yErr + 8 * len * U32 * (Math.abs(Gh[i]) + p[k] * absDot);
      });
    }
    assertHalfClose(r.dx, dx, (i) => tolX[i], `${log ? 'logSoftmax' : 'softmax'} dx`);
  }
});

test('f16 crossEntropy (label smoothing, an ignored row): f16 logits, f32 loss, f16 dlogits', async () => {
  const N = 7, C = 29, L = randArray(N * C, -4, 4), Lh = half(L);
  const labels = randInt(N, C); labels[3] = -100;
  const logits = variable(tensor(L, [N, C], 'f16'));
  const loss = tidy(() => {
    const l = crossEntropy(logits, tensor(labels), { labelSmoothing: 0.1 });
    backward(l);
    return l;
  });
  assert.is(loss.dtype, 'f32'); assert.is(logits.grad!.dtype, 'f16');
  const ref = crossEntropyRef(Lh, labels, N, C, { labelSmoothing: 0.1 });
  // log-sum-exp and the smoothed sum over C logits of magnitude up to 4 + log(C), then N rows: f32 throughout.
  assertHalfClose(await loss.data(), [ref.loss], () => 8 * (C + N) * U32 * (Math.abs(ref.loss) + 8), 'loss', false);
  assertHalfClose(await logits.grad!.data(), ref.grad, () => 8 * C * U32 / (N - 1), 'dlogits');
  for (const t of [loss, logits.grad!, logits]) t.dispose();
});

// One case per batch-norm path: one dispatch with vec4 loads and a fused ReLU, chunked scalar sums,
// inference with running statistics.
for (const [name, shape, mode, act, withRes] of [['one dispatch, vec4, ReLU', [3, 5, 4, 8], 'one', 'relu', false], ['chunked, scalar', [5, 3, 7, 9], 'chunked', null, false],
  ['inference', [2, 3, 5, 7], 'eval', null, false], ['one dispatch, vec4, residual + ReLU', [3, 5, 4, 8], 'one', 'relu', true],
  ['chunked, scalar, residual + ReLU', [5, 3, 7, 9], 'chunked', 'relu', true], ['inference, residual', [2, 3, 5, 7], 'eval', null, true]] as const) {
  test(`f16 batchNorm2d ${name}: statistics and sums in f32, running stats and affine grads f32`, async () => {
    const [N, C] = shape, HW = shape[2] * shape[3], M = N * HW, n = numel([...shape]);
    const X = randArray(n, -2, 2), G = randArray(n), Ws = randArray(C, 0.5, 1.5), Bs = randArray(C), rm0 = randArray(C, -0.3, 0.3), rv0 = randArray(C, 0.5, 2);
    const Xh = half(X), Gh = half(G), training = mode !== 'eval';
    const R = withRes ? randArray(n, -1, 1) : null, Rh = R ? half(R) : null;
    const old = setBnOnePassMax(mode === 'chunked' ? 0 : 1 << 16);
    try {
      const x = variable(tensor(X, [...shape], 'f16')), w = variable(tensor(Ws)), b = variable(tensor(Bs));
      const res = R ? variable(tensor(R, [...shape], 'f16')) : null;
      const rm = tensor(rm0), rv = tensor(rv0);
      const d0 = new Map(runtime().dispatchByName);
      const y = tidy(() => {
        const y = batchNorm2d(x, w, b, rm, rv, { training, activation: act, residual: res });
        backward(y, tensor(G, [...shape], 'f16'));
        return y;
      });
      const ran = (k: string) => (runtime().dispatchByName.get(k) ?? 0) - (d0.get(k) ?? 0);
      assert.ok(ran(mode === 'one' ? 'bn_train' : mode === 'chunked' ? 'bn_partial' : 'bn_running') > 0, 'the path under test ran');
      assert.is(y.dtype, 'f16'); assert.is(x.grad!.dtype, 'f16'); assert.is(w.grad!.dtype, 'f32'); assert.is(rm.dtype, 'f32');
      const ref = batchNormRef(Xh, shape, Ws, Bs, rm0, rv0, { training });
      const sum = Rh ? ref.out.map((v, i) => v + Rh[i]) : ref.out;
      const yRef = act ? sum.map((v) => Math.max(0, v)) : sum;
      // Mean and variance over M values in f32 move xhat by ~M f32 roundings of its magnitude (a few units).
      const stat = training ? 8 * M * U32 : 8 * U32;
      assertHalfClose(await y.data(), yRef, (i) => stat * (Math.abs(ref.out[i]) + 4), 'y');
      // Masked by the ReLU as the kernels mask it (from the stored y).
      const yGot = await y.data(), Gm = act ? Gh.map((v, i) => (yGot[i] > 0 ? v : 0)) : Gh;
      if (res) { assert.is(res.grad!.dtype, 'f16'); assert.equal(Array.from(await res.grad!.data()), Array.from(Gm), 'residual gradient: the masked g'); }
      const back = training ? bnBackwardRef(Xh, [...shape], Ws, Gm, 1e-5) : null;
      const inv = Array.from({ length: C }, (_, c) => 1 / Math.sqrt(rv0[c] + 1e-5));
      const dx = back ? back.dx : Gm.map((v, i) => v * Ws[Math.floor(i / HW) % C] * inv[Math.floor(i / HW) % C]);
      const gScale = Gm.reduce((s, v) => s + Math.abs(v), 0) / M;
      assertHalfClose(await x.grad!.data(), dx, () => 16 * M * U32 * (gScale + 1) * 4, 'dx');
      if (training) {
        assertHalfClose(await rm.data(), ref.runningMean!, () => 8 * M * U32, 'runningMean', false);
        assertHalfClose(await rv.data(), ref.runningVar!, (c) => 8 * M * U32 * ref.runningVar![c], 'runningVar', false);
        assertHalfClose(await w.grad!.data(), back!.dw, () => 16 * M * U32 * gScale * M, 'dweight', false);
        assertHalfClose(await b.grad!.data(), back!.db, () => 4 * M * U32 * gScale * M, 'dbias', false);
      }
      for (const t of [y, x.grad, w.grad, b.grad, x, w, b, rm, rv, res?.grad, res]) t?.dispose();
    } finally { setBnOnePassMax(old); }
  });
}

test.run();
