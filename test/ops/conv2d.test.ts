// conv2d: bias gradient, finite differences, which kernels run when inputs are frozen, output shapes, errors.
import { test as anyTest } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { setup, randArray, assertClose, numericGrad, laneTests } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import {
  conv2d, conv2dInputGrad, conv2dWeightGrad, conv2dBiasGrad, conv2dOutputShape, convGeometry, pickVariant,
  conv2dRef, conv2dDxRef, conv2dDwRef, conv2dDbiasRef, type Conv2dOptions, type ConvVariant,
} from '../../kernels/conv2d/conv2d.ts';
import { subgroupLanes } from '../../kernels/conv2d/launch.ts';
import { variable } from '../../engine/core/tape.ts';
import type { TuningPatch } from '../../engine/core/tuning.ts';
import { numel, snapshot, ran, fwdKernel, runWithGrads } from './conv_helpers.ts';

await setup();
const { test, subgroupTest } = laneTests(anyTest);

test('bias gradient is the sum of dy over N, H, W', async () => {
  const s = [3, 5, 4, 7], DY = randArray(numel(s));
  const dy = tensor(DY, s);
  const db = conv2dBiasGrad(dy);
  assert.equal(db.shape, [5]);
  assertClose(await db.data(), conv2dDbiasRef(DY, s), 1e-5, 1e-5, 'db');
  dy.dispose(); db.dispose();
});

// ---- Finite differences through autograd on a tiny case ---------------------------------------
for (const variant of ['auto', 'naive'] as const) {
  (variant === 'auto' ? subgroupTest : test)(`finite differences: x, w, bias gradients of sum(conv2d * G) (${variant})`, async () => {
    const xs = [2, 2, 5, 4], ws = [3, 2, 3, 2];
    const opts: Conv2dOptions = { stride: [2, 1], dilation: [1, 2], padding: [1, 2, 0, 1], variant };
    const X = randArray(numel(xs)), Wt = randArray(numel(ws)), B = randArray(3);
    const ys = conv2dOutputShape(xs, ws, opts);
    const G = randArray(numel(ys));
    const loss = (x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>) => conv2dRef(x, xs, w, ws, b, opts).reduce((s, v, i) => s + v * G[i], 0);
    const r = await runWithGrads(X, xs, Wt, ws, B, G, opts);
    assertClose(r.dx, numericGrad((v) => loss(v, Wt, B), X, 1e-2), 1e-3, 1e-4, 'dx');
    assertClose(r.dw, numericGrad((v) => loss(X, v, B), Wt, 1e-2), 1e-3, 1e-4, 'dw');
    assertClose(r.db!, numericGrad((v) => loss(X, Wt, v), B, 1e-2), 1e-3, 1e-4, 'db');
  });
}

// ---- Autograd runs only the gradients asked for ------------------------------------------------
const NEEDS: { name: string; xs: number[]; ws: number[]; opts: Conv2dOptions; fwd: string; dx: string; dw: string }[] = [
  { name: 'gemm', xs: [1, 3, 6, 5], ws: [4, 3, 3, 3], opts: { padding: 1 }, fwd: fwdKernel('gemm'), dx: fwdKernel('gemm'), dw: subgroupLanes() ? 'conv2d_weight_grad_sg' : 'conv2d_weight_grad' },
  { name: 'depthwise', xs: [1, 4, 6, 5], ws: [4, 1, 3, 3], opts: { padding: 1, groups: 4 }, fwd: 'conv2d_depthwise_rows', dx: 'conv2d_depthwise_dx_rows', dw: 'conv2d_depthwise_dw_rows' },
];
for (const c of NEEDS) {
  (c.name === 'gemm' ? subgroupTest : test)(`${c.name}: frozen weights run no dw kernel; an input without grad runs no dx kernel`, async () => {
    const x = tensor(randArray(numel(c.xs)), c.xs), w = tensor(randArray(numel(c.ws)), c.ws);
    const ys = conv2dOutputShape(c.xs, c.ws, c.opts);
    const step = () => tidy(() => { backward(conv2d(x, w, null, c.opts), tensor(new Float32Array(numel(ys)).fill(1), ys)); });
    // Only w trainable: forward + dw, no dx.
    w.requiresGrad = true;
    let since = snapshot();
    step();
    assert.is(ran(since, c.fwd), 1, 'forward only (no dx)');
    assert.is(ran(since, c.dw), 1, 'dw ran');
    assert.ok(w.grad !== null, 'w.grad');
    assert.is(x.grad, null, 'no x.grad');
    w.grad!.dispose(); w.grad = null;
    // Only x trainable: forward + dx, no dw.
    w.requiresGrad = false; x.requiresGrad = true;
    since = snapshot();
    step();
    assert.is(ran(since, c.fwd), c.dx === c.fwd ? 2 : 1, 'forward + dx');
    assert.is(ran(since, c.dw), 0, 'no dw');
    assert.ok(x.grad !== null, 'x.grad');
    assert.is(w.grad, null, 'no w.grad');
    x.grad!.dispose(); x.dispose(); w.dispose();
  });
}

// ---- The GEMM kernels read trainable weights in place ----------------------------------------
const IN_PLACE: { name: string; xs: number[]; ws: number[]; opts: Conv2dOptions }[] = [
  { name: '3x3 stride 2', xs: [2, 5, 9, 7], ws: [6, 5, 3, 3], opts: { stride: 2, padding: 1 } },
  { name: 'grouped 3x2 dilated', xs: [1, 6, 7, 9], ws: [9, 2, 3, 2], opts: { groups: 3, dilation: [2, 1], padding: [2, 1] } },
  { name: '1x1 over odd pixels', xs: [3, 7, 5, 3], ws: [5, 7, 1, 1], opts: {} },
  { name: '1x1 over vec4 rows', xs: [2, 6, 4, 4], ws: [7, 6, 1, 1], opts: {} },
];
for (const c of IN_PLACE) for (const sg of [true, false]) {
  (sg ? subgroupTest : test)(`${c.name}${sg ? '' : ' (no subgroups)'}: forward and dx read OIHW weights with no layout pass; y, dx, dw match the references`, async () => {
    const tuning: TuningPatch = { conv: { dxWinograd: 0, fwdWinograd: 0, ...(sg ? {} : { subgroups: false }) } };
    const opts = { ...c.opts, tuning };
    // Without subgroups a 1x1 conv over vec4 rows runs pointwise.wgsl, which reads the packed layout.
    const packed = !(sg && subgroupLanes()) && (numel(c.xs.slice(2)) % 4 === 0) && c.ws[2] * c.ws[3] === 1;
    const ys = conv2dOutputShape(c.xs, c.ws, opts);
    const X = randArray(numel(c.xs)), Wt = randArray(numel(c.ws)), GY = randArray(numel(ys));
    const since = snapshot();
    const r = await runWithGrads(X, c.xs, Wt, c.ws, null, GY, opts);
    assert.is(ran(since, 'conv2d_wtrans'), packed ? 2 : 0, 'weight layout passes');
    assertClose(r.y, conv2dRef(X, c.xs, Wt, c.ws, null, c.opts), 1e-4, 1e-5, 'y');
    assertClose(r.dx, conv2dDxRef(GY, c.xs, Wt, c.ws, c.opts), 1e-4, 1e-5, 'dx');
    assertClose(r.dw, conv2dDwRef(X, c.xs, GY, c.ws, c.opts), 1e-4, 5e-5, 'dw');
  });
}

// ---- Strided dx: two row phases per GEMM dispatch ---------------------------------------------
// Each column phase is its own kernel (its taps shape the code); one dispatch runs two row phases,
// including phases no tap reaches (zeros) and an odd count of them.
const STRIDED: { xs: number[]; ws: number[]; opts: Conv2dOptions }[] = [
  { xs: [2, 5, 9, 7], ws: [6, 5, 3, 3], opts: { stride: 2, padding: 1 } },
  { xs: [1, 4, 11, 8], ws: [5, 4, 1, 1], opts: { stride: 2 } },
  { xs: [2, 3, 10, 9], ws: [4, 3, 3, 2], opts: { stride: [3, 2], padding: [2, 0, 1, 1] } },
  { xs: [1, 6, 9, 12], ws: [5, 6, 3, 2], opts: { stride: 2, padding: [1, 2, 3, 0], dilation: [2, 1] } },
];
for (const c of STRIDED) for (const sg of [true, false]) {
  (sg ? subgroupTest : test)(`dx of stride ${JSON.stringify(c.opts.stride)} ${c.ws[2]}x${c.ws[3]}${sg ? '' : ' (no subgroups)'}: ceil(row phases / 2) GEMM dispatches per column phase, matching float64`, async () => {
    const g = convGeometry(c.xs, c.ws, c.opts);
    const ys = conv2dOutputShape(c.xs, c.ws, c.opts);
    const Wt = randArray(numel(c.ws)), GY = randArray(numel(ys));
    const w = tensor(Wt, c.ws), gy = tensor(GY, ys);
    const since = snapshot();
    const dx = conv2dInputGrad(gy, w, c.xs, { ...c.opts, tuning: { conv: { dxWinograd: 0, ...(sg ? {} : { subgroups: false }) } } });
    const kernel = sg && subgroupLanes() ? 'conv2d_gemm_sg' : 'conv2d_gemm';
    assert.is(ran(since, kernel), Math.ceil(Math.min(g.sh, g.H) / 2) * Math.min(g.sw, g.W), 'GEMM dispatches');
    assertClose(await dx.data(), conv2dDxRef(GY, c.xs, Wt, c.ws, c.opts), 1e-4, 1e-5, 'dx');
    for (const t of [w, gy, dx]) t.dispose();
  });
}

// ---- Shapes and errors ----------------------------------------------------------------------
test("output shapes: 'same' follows TensorFlow, 'valid', explicit and asymmetric padding", () => {
  assert.equal(conv2dOutputShape([1, 3, 9, 10], [4, 3, 4, 4], { padding: 'same', stride: 2 }), [1, 4, 5, 5]);
  assert.equal(conv2dOutputShape([1, 3, 9, 10], [4, 3, 4, 2], { padding: 'same' }), [1, 4, 9, 10]);
  const g = convGeometry([1, 3, 10, 9], [4, 3, 4, 3], { padding: 'same', stride: 2 });
  // H: (5-1)*2 + 4 - 10 = 2 → 1/1; W: (5-1)*2 + 3 - 9 = 2 → 1/1.
  assert.equal([g.pt, g.pb, g.pl, g.pr], [1, 1, 1, 1]);
  const g2 = convGeometry([1, 3, 9, 10], [4, 3, 4, 4], { padding: 'same' });
  assert.equal([g2.pt, g2.pb, g2.pl, g2.pr], [1, 2, 1, 2], 'odd pixel bottom/right');
  assert.equal(conv2dOutputShape([2, 3, 9, 8], [4, 3, 5, 5], { padding: 'valid' }), [2, 4, 5, 4]);
  assert.equal(conv2dOutputShape([2, 3, 9, 8], [4, 3, 3, 3], { padding: [0, 2, 1, 0] }), [2, 4, 9, 7]);
  assert.equal(conv2dOutputShape([2, 3, 9, 8], [4, 3, 3, 3], { padding: [1, 0], dilation: 2 }), [2, 4, 7, 4]);
});

test('shape errors name the argument', () => {
  const x = tensor(randArray(2 * 4 * 5 * 5), [2, 4, 5, 5]);
  const bad: [number[], Conv2dOptions, RegExp][] = [
    [[6, 4, 3, 3], { groups: 3 }, /groups 3 must divide/],
    [[6, 3, 3, 3], {}, /argument 'w'.*expected dimension 1/],
    [[6, 4, 7, 3], {}, /larger than the padded input/],
    [[6, 4, 3, 3], { stride: 0 }, /stride/],
    [[6, 4, 3, 3], { padding: [1, 2, 3] as any }, /padding must be/],
    [[6, 2, 3, 3], { groups: 2, variant: 'depthwise' }, /variant 'depthwise'/],
    [[6, 4, 3, 3], { variant: 'pointwise' }, /variant 'pointwise'/],
  ];
  for (const [ws, opts, re] of bad) {
    const w = tensor(new Float32Array(numel(ws)), ws);
    assert.throws(() => conv2d(x, w, null, opts), (e: unknown) => e instanceof ShapeError && re.test((e as Error).message), `${ws} ${JSON.stringify(opts)}`);
    w.dispose();
  }
  const w = tensor(new Float32Array(6 * 4 * 9), [6, 4, 3, 3]);
  const b = tensor(new Float32Array(5), [5]);
  assert.throws(() => conv2d(x, w, b), /argument 'bias'/);
  const dy = tensor(new Float32Array(10), [2, 5]);
  assert.throws(() => conv2dInputGrad(dy, w, x.shape), /argument 'dy'/);
  for (const t of [x, w, b, dy]) t.dispose();
});

test.run();
