// Winograd forward pass of 3x3 stride-1 undilated ungrouped convs (kernels/conv2d/winograd.ts,
// on where tuning.conv.fwdWinograd says): fresh random data against the float64 reference at F(2x2) and
// F(4x4), with and without subgroups, odd sizes, asymmetric and TF-same padding, bias on and off;
// conv2d + backward through autograd with both passes on Winograd; the size threshold and the
// convs it must not touch.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { runtime } from '../../engine/core/runtime.ts';
import type { ConvTuning } from '../../engine/core/tuning.ts';
import { conv2d, conv2dInputGrad, conv2dOutputShape, conv2dRef, conv2dDxRef, conv2dDwRef, conv2dDbiasRef, constantWeights, releaseConstantWeights, type Conv2dOptions } from '../../kernels/conv2d/conv2d.ts';
import { subgroupLanes } from '../../kernels/conv2d/launch.ts';
import { variable } from '../../engine/core/tape.ts';

await setup();

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const snapshot = () => new Map(runtime().dispatchByName);
const ran = (since: Map<string, number>, name: string) => (runtime().dispatchByName.get(name) ?? 0) - (since.get(name) ?? 0);
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

interface Case { x: number[]; w: number[]; opts: Conv2dOptions; bias: boolean }
const CASES: Case[] = [
  { x: [2, 3, 7, 6], w: [5, 3, 3, 3], opts: { padding: 1 }, bias: true },
  { x: [1, 3, 6, 5], w: [4, 3, 3, 3], opts: { padding: 2 }, bias: false },
  { x: [2, 20, 10, 9], w: [24, 20, 3, 3], opts: { padding: 'valid' }, bias: true },
  { x: [1, 33, 11, 13], w: [36, 33, 3, 3], opts: { padding: [1, 2, 0, 1] }, bias: false },
  { x: [2, 17, 5, 4], w: [19, 17, 3, 3], opts: { padding: [0, 1, 1, 0] }, bias: true },
  { x: [3, 8, 9, 7], w: [16, 8, 3, 3], opts: { padding: 'same' }, bias: true },
  { x: [1, 5, 8, 8], w: [7, 5, 3, 3], opts: { padding: 'same' }, bias: false },
  { x: [2, 4, 13, 3], w: [3, 4, 3, 3], opts: { padding: [3, 0, 2, 2] }, bias: true },
];

/** F(4x4)'s transforms (coefficients up to 8 and 1/24) round worse than the direct sum: an absolute error relative to the largest value. */
const atol = (m: number, ref: ArrayLike<number>) => (m === 2 ? 1e-5 : 1e-5 * Math.max(1, maxAbs(ref)));

/** `opts` with `conv` tuning for the call. */
const tuned = (opts: Conv2dOptions, conv: Partial<ConvTuning>): Conv2dOptions => ({ ...opts, tuning: { conv } });

test('Winograd forward (F(2x2), F(4x4), with and without subgroups, bias on/off) matches float64', async () => {
  for (const m of [2, 4]) {
    for (const sg of subgroupLanes() ? [true, false] : [false]) {
      const t = { fwdWinograd: m, winogradMinChannels: 0, subgroups: sg };
      for (const c of CASES) {
        const X = randArray(numel(c.x)), Wt = randArray(numel(c.w)), B = c.bias ? randArray(c.w[0]) : null;
        const x = tensor(X, c.x), w = tensor(Wt, c.w), b = B ? tensor(B, [B.length]) : null;
        const since = snapshot();
        const y = conv2d(x, w, b, tuned(c.opts, t));
        const what = `F(${m}) subgroups ${sg} ${JSON.stringify(c)}`;
        assert.is(ran(since, 'conv2d_wino_in'), 1, `Winograd ran for ${what}`);
        assert.equal(y.shape, conv2dOutputShape(c.x, c.w, c.opts));
        const ref = conv2dRef(X, c.x, Wt, c.w, B, c.opts);
        assertClose(await y.data(), ref, 1e-4, atol(m, ref), `${what} y`);
        for (const u of [x, w, b, y]) u?.dispose();
      }
    }
  }
});

test('conv2d + backward with Winograd forward and dx matches float64 (y, dx, dw, db)', async () => {
  // One tile size: one weight transform dispatch for both passes; two sizes: one each.
  for (const [m, md] of [[2, 2], [4, 4], [4, 2]]) {
    const t = { fwdWinograd: m, dxWinograd: md, winogradMinChannels: 0 };
    for (const c of [CASES[0], CASES[3], CASES[5]]) {
      const X = randArray(numel(c.x)), Wt = randArray(numel(c.w)), B = c.bias ? randArray(c.w[0]) : null;
      const ys = conv2dOutputShape(c.x, c.w, c.opts), GY = randArray(numel(ys));
      const x = variable(tensor(X, c.x)), w = variable(tensor(Wt, c.w)), b = B ? variable(tensor(B, [B.length])) : null;
      const since = snapshot();
      const y = tidy(() => {
        // The backward pass runs under the forward's tuning (Winograd dx as well).
        const y = conv2d(x, w, b, tuned(c.opts, t));
        backward(y, tensor(GY, ys));
        return y;
      });
      const what = `F(${m}) dx F(${md}) ${JSON.stringify(c)}`;
      assert.is(ran(since, 'conv2d_wino_in'), 2, `Winograd forward and dx ran for ${what}`);
      assert.is(ran(since, 'conv2d_wino_w'), m === md ? 1 : 2, `weight transform dispatches for ${what}`);
      const yr = conv2dRef(X, c.x, Wt, c.w, B, c.opts), dxr = conv2dDxRef(GY, c.x, Wt, c.w, c.opts);
      assertClose(await y.data(), yr, 1e-4, atol(m, yr), `${what} y`);
      assertClose(await x.grad!.data(), dxr, 1e-4, atol(md, dxr), `${what} dx`);
      assertClose(await w.grad!.data(), conv2dDwRef(X, c.x, GY, c.w, c.opts), 1e-4, 5e-5, `${what} dw`);
      if (b) assertClose(await b.grad!.data(), conv2dDbiasRef(GY, ys), 1e-4, 5e-5, `${what} db`);
      for (const u of [y, x.grad, w.grad, b?.grad, x, w, b]) u?.dispose();
    }
  }
});

test('Winograd runs only for 3x3 stride-1 undilated ungrouped convs at or above the size threshold (forward and dx)', async () => {
  const NOT: Case[] = [
    { x: [1, 4, 9, 11], w: [9, 4, 3, 3], opts: { stride: 2, padding: 1 }, bias: true },
    { x: [3, 2, 8, 7], w: [4, 2, 3, 3], opts: { dilation: 2, padding: 2 }, bias: false },
    { x: [2, 6, 6, 9], w: [10, 3, 3, 3], opts: { groups: 2, padding: 'same' }, bias: false },
    { x: [2, 7, 8, 9], w: [7, 1, 3, 3], opts: { groups: 7, padding: 1 }, bias: false },
    { x: [1, 4, 9, 10], w: [5, 4, 3, 2], opts: { padding: 1 }, bias: false },
    { x: [2, 9, 4, 6], w: [13, 9, 1, 1], opts: {}, bias: false },
  ];
  for (const c of NOT) {
    const x = tensor(randArray(numel(c.x)), c.x), w = tensor(randArray(numel(c.w)), c.w);
    for (const variant of ['auto', 'naive'] as const) {
      const since = snapshot();
      conv2d(x, w, null, tuned({ ...c.opts, variant }, { fwdWinograd: 4, winogradMinChannels: 0 })).dispose();
      assert.is(ran(since, 'conv2d_wino_in'), 0, `no Winograd for ${JSON.stringify(c)} ${variant}`);
    }
    x.dispose();
    w.dispose();
  }
  const c = CASES[2]; // 20 -> 24 channels: harmonic mean 21.8
  const x = tensor(randArray(numel(c.x)), c.x), w = tensor(randArray(numel(c.w)), c.w);
  const ys = conv2dOutputShape(c.x, c.w, c.opts), gy = tensor(randArray(numel(ys)), ys);
  for (const [min, runs] of [[22, 0], [21.8, 1]]) {
    let since = snapshot();
    conv2d(x, w, null, tuned(c.opts, { fwdWinograd: 4, winogradMinChannels: min })).dispose();
    assert.is(ran(since, 'conv2d_wino_in'), runs, `threshold ${min}`);
    // The input gradient takes the same threshold.
    since = snapshot();
    conv2dInputGrad(gy, w, c.x, tuned(c.opts, { dxWinograd: 4, winogradMinChannels: min })).dispose();
    assert.is(ran(since, 'conv2d_wino_in'), runs, `dx threshold ${min}`);
  }
  gy.dispose();
  const since = snapshot();
  conv2d(x, w, null, tuned(c.opts, { fwdWinograd: 0 })).dispose();
  assert.is(ran(since, 'conv2d_wino_in'), 0, 'fwdWinograd off');
  x.dispose();
  w.dispose();
});

test('constant weights take fwdWinogradConstantMinChannels: Winograd at or above it, else the direct GEMM, both matching float64', async () => {
  const c = CASES[2]; // 20 -> 24 channels: harmonic mean 21.8
  const X = randArray(numel(c.x)), Wt = randArray(numel(c.w)), B = randArray(c.w[0]);
  const x = tensor(X, c.x), w = tensor(Wt, c.w), b = tensor(B, [B.length]);
  const ref = conv2dRef(X, c.x, Wt, c.w, B, c.opts);
  constantWeights(w);
  for (const [min, wino] of [[22, 0], [21.8, 1]]) {
    // winogradMinChannels would say the opposite: the constant weights' threshold decides.
    const t = { fwdWinograd: 4, winogradMinChannels: wino ? 22 : 0, fwdWinogradConstantMinChannels: min };
    for (const call of ['first', 'second']) {
      const since = snapshot();
      const y = conv2d(x, w, b, tuned(c.opts, t));
      const what = `constant threshold ${min}, ${call} call`;
      assert.is(ran(since, 'conv2d_wino_in'), wino, `${what}: Winograd runs`);
      assert.is(ran(since, 'conv2d_gemm_sg') + ran(since, 'conv2d_gemm'), 1, `${what}: one GEMM`);
      assert.is(ran(since, 'conv2d_wino_w') + ran(since, 'conv2d_wtrans'), call === 'first' ? 1 : 0, `${what}: the weight layout made once`);
      assertClose(await y.data(), ref, 1e-4, atol(4, ref), what);
      y.dispose();
    }
  }
  releaseConstantWeights(w);
  for (const [min, wino] of [[22, 1], [21.8, 1]]) {
    const since = snapshot();
    conv2d(x, w, b, tuned(c.opts, { fwdWinograd: 4, winogradMinChannels: 0, fwdWinogradConstantMinChannels: min })).dispose();
    assert.is(ran(since, 'conv2d_wino_in'), wino, `weights no longer constant: winogradMinChannels decides (${min})`);
  }
  for (const t of [x, w, b]) t.dispose();
});

test.run();
