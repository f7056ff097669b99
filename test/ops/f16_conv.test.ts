// f16 conv2d against the float64 references: inputs rounded to f16 first (what the kernels see), so
// the tolerance is what the kernels add: the f16 rounding of each stored result (2^-11 relative) plus
// the f32 arithmetic inside, bounded per output by K f32 roundings of the sum of |terms| (K the
// reduction length), times the Winograd transforms' growth where F(4x4, 3x3) runs. One case per kernel path.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, runSeed } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, type Tensor } from '../../engine/core/tensor.ts';
import { variable } from '../../engine/core/tape.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { conv2d, convGeometry, pickVariant, type Conv2dOptions } from '../../kernels/conv2d/conv2d.ts';
import { conv2dRef, conv2dDxRef, conv2dDwRef, conv2dDbiasRef } from '../../kernels/conv2d/reference.ts';
import { winogradTile, winogradForwardTile } from '../../kernels/conv2d/winograd.ts';
import { roundToHalf } from '../../kernels/cast/reference.ts';
import { snapshot, ran, numel } from './conv_helpers.ts';
import { withTuning } from '../../engine/core/runtime.ts';
import type { TuningPatch } from '../../engine/core/tuning.ts';

test.before(async () => { await setup(); });

const U16 = 2 ** -11, SUB = 2 ** -25, U32 = 2 ** -24;
const half = (xs: ArrayLike<number>) => Float64Array.from(xs, roundToHalf);
// F(4x4, 3x3) sums each output from transformed values up to ~100x the inputs (B^T, G, A^T entries
// up to 5, 1/4 and 8): its f32 rounding error is that many times the direct sum's.
const WINOGRAD_GROWTH = 128;

function assertHalfClose(got: ArrayLike<number>, want: ArrayLike<number>, extra: (i: number) => number, what: string): void {
  assert.is(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    const tol = U16 * Math.abs(want[i]) + SUB + extra(i);
    if (!(Math.abs(got[i] - want[i]) <= tol)) assert.unreachable(`${what}[${i}] = ${got[i]}, expected ${want[i]} ± ${tol} (seed ${runSeed})`);
  }
}

interface Case { name: string; xs: number[]; ws: number[]; opts: Conv2dOptions; kernels: string[]; tuning?: TuningPatch }
const CASES: Case[] = [
  // 3x3 stride 2: the row-window GEMM (forward, dx per stride phase) and the split-K weight gradient.
  { name: 'gemm 3x3 stride 2', xs: [2, 5, 9, 11], ws: [7, 5, 3, 3], opts: { stride: 2, padding: 1 }, kernels: ['conv2d_gemm_sg', 'conv2d_weight_grad_sg'] },
  // 3x3 stride 1 with enough channels: Winograd F(4x4) forward and dx.
  { name: 'winograd 3x3', xs: [1, 25, 7, 9], ws: [27, 25, 3, 3], opts: { padding: 1 }, kernels: ['conv2d_wino_out'] },
  { name: 'pointwise 1x1', xs: [3, 5, 6, 6], ws: [7, 5, 1, 1], opts: {}, kernels: ['conv2d_gemm_sg'] },
  // Depthwise (multiplier 2) runs on the grouped GEMM in f16.
  { name: 'depthwise 3x3 stride 2', xs: [2, 6, 9, 7], ws: [12, 1, 3, 3], opts: { stride: 2, padding: 1, groups: 6 }, kernels: ['conv2d_gemm_sg'] },
  // Without subgroups: the register-blocked GEMM, pointwise.wgsl and the blocked weight gradient.
  { name: 'gemm 3x3, no subgroups', xs: [2, 5, 9, 11], ws: [7, 5, 3, 3], opts: { stride: 2, padding: 1 }, kernels: ['conv2d_gemm', 'conv2d_weight_grad'], tuning: { conv: { subgroups: false } } },
  { name: 'pointwise 1x1, no subgroups', xs: [3, 5, 6, 6], ws: [7, 5, 1, 1], opts: {}, kernels: ['conv2d_pointwise'], tuning: { conv: { subgroups: false } } },
];

for (const c of CASES) {
  test(`f16 conv2d ${c.name}: y, dx, dw in f16 (f32 sums), db in f32, against float64`, async () => {
    const g = convGeometry(c.xs, c.ws, c.opts);
    const ys = [g.N, g.Cout, g.OH, g.OW];
    const X = randArray(numel(c.xs)), W = randArray(numel(c.ws)), B = randArray(g.Cout), GY = randArray(numel(ys));
    const x = variable(tensor(X, c.xs, 'f16')), w = variable(tensor(W, c.ws, 'f16')), b = variable(tensor(B, [g.Cout]));
    const s0 = snapshot();
    // The tuning covers the backward pass too.
    const y = withTuning(c.tuning, () => tidy(() => {
      const y = conv2d(x, w, b, c.opts);
      backward(y, tensor(GY, ys, 'f16'));
      return y;
    }));
    for (const k of c.kernels) assert.ok(ran(s0, k) > 0, `${c.name} runs ${k}`);
    // Forward and dx on Winograd with one tile size: one dispatch transforms the weights for both.
    const tiles = withTuning(c.tuning, () => [winogradForwardTile(g), winogradTile(g)]);
    if (tiles[0] && tiles[0] === tiles[1]) assert.is(ran(s0, 'conv2d_wino_w'), 1, `${c.name} one weight transform`);
    assert.is(y.dtype, 'f16'); assert.is(x.grad!.dtype, 'f16'); assert.is(w.grad!.dtype, 'f16'); assert.is(b.grad!.dtype, 'f32');
    const Xh = half(X), Wh = half(W), GYh = half(GY), opts = c.opts;
    // Per output, the sum of |terms| of its reduction and the reduction length.
    const abs = (a: Float64Array) => a.map(Math.abs);
    const pY = conv2dRef(abs(Xh), c.xs, abs(Wh), c.ws, B.map(Math.abs), opts), kY = g.cinG * g.kh * g.kw;
    const pX = conv2dDxRef(abs(GYh), c.xs, abs(Wh), c.ws, opts), kX = g.coutG * g.kh * g.kw;
    const pW = conv2dDwRef(abs(Xh), c.xs, abs(GYh), c.ws, opts), kW = g.N * g.OH * g.OW;
    const wf = winogradForwardTile(g) === 4 ? WINOGRAD_GROWTH : 1, wd = winogradTile(g) === 4 ? WINOGRAD_GROWTH : 1;
    assertHalfClose(await y.data(), conv2dRef(Xh, c.xs, Wh, c.ws, B, opts), (i) => 2 * wf * kY * U32 * pY[i], `${c.name} y`);
    assertHalfClose(await x.grad!.data(), conv2dDxRef(GYh, c.xs, Wh, c.ws, opts), (i) => 2 * wd * kX * U32 * pX[i], `${c.name} dx`);
    assertHalfClose(await w.grad!.data(), conv2dDwRef(Xh, c.xs, GYh, c.ws, opts), (i) => 2 * kW * U32 * pW[i], `${c.name} dw`);
    // db sums the f16 dy in f32 and stays f32: no f16 rounding of the result.
    const db = conv2dDbiasRef(GYh, ys), pB = conv2dDbiasRef(abs(GYh), ys);
    assertHalfClose(await b.grad!.data(), db, (i) => 2 * kW * U32 * pB[i] - U16 * Math.abs(db[i]), `${c.name} db`);
    for (const t of [y, x.grad, w.grad, b.grad, x, w, b] as Tensor[]) t.dispose();
  });
}

test('f16 conv2d: residual and ReLU in the epilogue, the residual f16', async () => {
  const xs = [1, 5, 7, 9], ws = [6, 5, 3, 3], opts = { padding: 1, activation: 'relu' as const };
  const X = randArray(numel(xs)), W = randArray(numel(ws)), R = randArray(6 * 7 * 9);
  const y = tidy(() => conv2d(tensor(X, xs, 'f16'), tensor(W, ws, 'f16'), null, opts, tensor(R, [1, 6, 7, 9], 'f16')));
  const Xh = half(X), Wh = half(W), Rh = half(R);
  const conv = conv2dRef(Xh, xs, Wh, ws, null, { padding: 1 }), p = conv2dRef(Xh.map(Math.abs), xs, Wh.map(Math.abs), ws, null, { padding: 1 });
  const want = conv.map((v, i) => Math.max(0, v + Rh[i]));
  assertHalfClose(await y.data(), want, (i) => 2 * 45 * U32 * (p[i] + Math.abs(Rh[i])), 'y');
  y.dispose();
});

test('f16 conv2d refuses mixed dtypes and f32-only variants before any work, naming the fix', () => {
  tidy(() => {
    const x = tensor(randArray(2 * 3 * 5 * 5), [2, 3, 5, 5], 'f16'), w = tensor(randArray(4 * 3 * 3 * 3), [4, 3, 3, 3], 'f16');
    assert.throws(() => conv2d(x, tensor(randArray(4 * 27), [4, 3, 3, 3])), (e: Error) => e instanceof ShapeError && /argument 'w' has dtype f32 and argument 'x' f16; cast\(\) one/.test(e.message));
    assert.throws(() => conv2d(x, w, tensor([1, 2, 3, 4], [4], 'f16')), (e: Error) => e instanceof ShapeError && /'bias' has dtype f16, expected f32/.test(e.message));
    const before = snapshot();
    assert.throws(() => conv2d(x, w, null, { variant: 'naive' }), (e: Error) => e instanceof ShapeError && /variant 'naive' has no f16 build; .*cast\(x, 'f32'\)/.test(e.message));
    assert.is(ran(before, 'conv2d_wtrans') + ran(before, 'conv2d_pad'), 0, 'nothing dispatched');
    assert.is(pickVariant(convGeometry([1, 4, 5, 5], [4, 1, 3, 3], { groups: 4 }), 'auto', 'f16'), 'gemm');
  });
});

test.run();
