import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { setup, randArray, assertClose, numericGrad } from '../helpers.ts';
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

await setup();

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
/** Dispatch count of kernels whose key starts with `prefix` since `since` (a snapshot). */
const snapshot = () => new Map(runtime().dispatchByName);
const ran = (since: Map<string, number>, name: string) => (runtime().dispatchByName.get(name) ?? 0) - (since.get(name) ?? 0);
/** The kernel name (dispatch-count key) each variant's forward runs. */
const FWD_KERNEL: Record<Exclude<ConvVariant, 'auto'>, string> = {
  naive: 'conv2d_naive', gemm: subgroupLanes() ? 'conv2d_gemm_sg' : 'conv2d_gemm', pointwise: subgroupLanes() ? 'conv2d_gemm_sg' : 'conv2d_pointwise', depthwise: 'conv2d_depthwise_rows',
};

/** Runs conv2d + backward(y, gy) and returns y, dx, dw, db on the host. */
async function runWithGrads(X: Float32Array, xs: number[], Wt: Float32Array, ws: number[], B: Float32Array | null, GY: Float32Array | null, opts: Conv2dOptions) {
  const x = variable(tensor(X, xs)), w = variable(tensor(Wt, ws)), b = B ? variable(tensor(B, [B.length])) : null;
  const y = tidy(() => {
    const y = conv2d(x, w, b, opts);
    const gy = GY ?? new Float32Array(y.size).fill(1);
    backward(y, tensor(gy, y.shape));
    return y;
  });
  const out = { y: await y.data(), yShape: y.shape, dx: await x.grad!.data(), dw: await w.grad!.data(), db: b ? await b.grad!.data() : null };
  for (const t of [y, x.grad, w.grad, b?.grad, x, w, b]) t?.dispose();
  return out;
}

// ---- PyTorch fixtures (test/fixtures/make_conv_fixtures.py) ----------------------------------
const dir = new URL('../fixtures/conv/', import.meta.url);
const index = JSON.parse(readFileSync(new URL('index.json', dir), 'utf8'));
const bin = readFileSync(new URL('conv.bin', dir));
const blob = new Float32Array(bin.buffer, bin.byteOffset, bin.byteLength / 4);
const arr = (ref: [number, number]) => blob.slice(ref[0], ref[0] + ref[1]);

for (const c of index.cases) {
  for (const variant of ['auto', 'naive'] as const) {
    test(`torch fixture ${c.name} (${variant}): y, dx, dw, db`, async () => {
      const d = c.data;
      const opts: Conv2dOptions = { ...c.options, variant };
      assert.equal(conv2dOutputShape(c.x, c.w, opts), c.y, 'output shape');
      const kind = pickVariant(convGeometry(c.x, c.w, opts), variant);
      const since = snapshot();
      const r = await runWithGrads(arr(d.x), c.x, arr(d.w), c.w, d.bias ? arr(d.bias) : null, arr(d.gy), opts);
      // Depthwise forward streams rows unless the ring exceeds its budget, then runs the tile kernel.
      const fwd = kind === 'depthwise' ? [FWD_KERNEL.depthwise, 'conv2d_depthwise'] : [FWD_KERNEL[kind]];
      assert.ok(fwd.some((k) => ran(since, k) >= 1), `${fwd.join(' or ')} ran`);
      assert.equal(r.yShape, c.y);
      assertClose(r.y, arr(d.y), 1e-4, 1e-5, `${c.name} y`);
      assertClose(r.dx, arr(d.dx), 1e-4, 1e-5, `${c.name} dx`);
      assertClose(r.dw, arr(d.dw), 1e-4, 5e-5, `${c.name} dw`);
      if (d.db) assertClose(r.db!, arr(d.db), 1e-4, 5e-5, `${c.name} db`);
    });
  }
}

test('fixtures pick the fast kernel families they are meant to cover', () => {
  const kinds = new Set(index.cases.map((c: any) => pickVariant(convGeometry(c.x, c.w, c.options))));
  assert.equal([...kinds].sort(), ['depthwise', 'gemm', 'pointwise']);
});

// ---- Fresh random data vs the float64 CPU reference, every applicable kernel ------------------
interface Case { x: number[]; w: number[]; opts: Conv2dOptions; bias?: boolean }
const CASES: Case[] = [
  { x: [2, 3, 7, 6], w: [5, 3, 3, 3], opts: { padding: 1 }, bias: true },
  { x: [1, 4, 9, 11], w: [9, 4, 3, 2], opts: { stride: 2, padding: [1, 0, 2, 1] }, bias: true },
  { x: [3, 2, 8, 7], w: [4, 2, 3, 3], opts: { stride: [1, 2], dilation: [2, 1], padding: 2 } },
  { x: [2, 6, 6, 9], w: [10, 3, 3, 3], opts: { groups: 2, padding: 'same', stride: 2 }, bias: true },
  { x: [1, 12, 5, 5], w: [12, 4, 2, 2], opts: { groups: 3, padding: 'same' } },
  { x: [2, 7, 8, 9], w: [7, 1, 3, 3], opts: { groups: 7, padding: 1 }, bias: true },
  { x: [1, 5, 11, 10], w: [10, 1, 3, 3], opts: { groups: 5, stride: 2, padding: 1 } },
  { x: [2, 3, 9, 12], w: [6, 1, 4, 3], opts: { groups: 3, stride: [3, 2], dilation: [1, 2], padding: [2, 1, 0, 3] }, bias: true },
  { x: [1, 4, 10, 9], w: [4, 1, 5, 5], opts: { groups: 4, padding: 'same', stride: 2 } },
  { x: [2, 9, 4, 6], w: [13, 9, 1, 1], opts: {}, bias: true },
  { x: [3, 6, 5, 4], w: [10, 3, 1, 1], opts: { groups: 2 } },
  { x: [2, 5, 7, 9], w: [6, 5, 1, 1], opts: { stride: 2 }, bias: true },
  { x: [1, 3, 13, 12], w: [8, 3, 7, 7], opts: { stride: 2, padding: 3 } },
  { x: [2, 17, 5, 4], w: [19, 17, 3, 3], opts: { padding: [0, 1, 1, 0] }, bias: true },
];

/** Depthwise with rows a multiple of 4 long (input and output), read unpadded. */
const DW_ALIGNED: Case = { x: [2, 3, 7, 12], w: [6, 1, 3, 3], opts: { groups: 3, padding: [2, 0, 1, 1], dilation: [2, 1] }, bias: true };
CASES.push(DW_ALIGNED, { x: [1, 4, 9, 16], w: [4, 1, 3, 3], opts: { groups: 4, padding: 1, stride: 2 } });

function variantsFor(c: Case): Exclude<ConvVariant, 'auto'>[] {
  const g = convGeometry(c.x, c.w, c.opts);
  const out: Exclude<ConvVariant, 'auto'>[] = ['naive', 'gemm'];
  for (const v of ['pointwise', 'depthwise'] as const) { try { pickVariant(g, v); out.push(v); } catch { /* not applicable */ } }
  return out;
}

async function checkAgainstRef(c: Case, variant: Exclude<ConvVariant, 'auto'>, what: string, tuning: TuningPatch = {}): Promise<void> {
  const X = randArray(numel(c.x)), Wt = randArray(numel(c.w)), B = c.bias ? randArray(c.w[0]) : null;
  // The direct dx kernels at the given tuning (the Winograd dx has its own test and tolerance).
  const opts = { ...c.opts, variant, tuning: { ...tuning, conv: { ...tuning.conv, dxWinograd: 0 } } };
  const ys = conv2dOutputShape(c.x, c.w, opts);
  const GY = randArray(numel(ys));
  const x = tensor(X, c.x), w = tensor(Wt, c.w), b = B ? tensor(B, [B.length]) : null, gy = tensor(GY, ys);
  const y = conv2d(x, w, b, opts), dx = conv2dInputGrad(gy, w, c.x, opts), dw = conv2dWeightGrad(x, gy, c.w, opts);
  assertClose(await y.data(), conv2dRef(X, c.x, Wt, c.w, B, opts), 1e-4, 1e-5, `${what} y`);
  assertClose(await dx.data(), conv2dDxRef(GY, c.x, Wt, c.w, opts), 1e-4, 1e-5, `${what} dx`);
  assertClose(await dw.data(), conv2dDwRef(X, c.x, GY, c.w, opts), 1e-4, 5e-5, `${what} dw`);
  for (const t of [x, w, b, gy, y, dx, dw]) t?.dispose();
}

/** `t` with the subgroup kernels switched off (so the plain register-blocked ones run). */
const noSubgroups = (t: TuningPatch = {}): TuningPatch => ({ ...t, conv: { ...t.conv, subgroups: false } });

for (const c of CASES) {
  for (const variant of variantsFor(c)) {
    const what = `x [${c.x}] w [${c.w}] ${JSON.stringify(c.opts)} ${variant}`;
    test(`random ${what}: y, dx, dw vs float64`, () => checkAgainstRef(c, variant, what));
    if ((variant === 'gemm' || variant === 'pointwise') && subgroupLanes()) {
      test(`random ${what} without subgroups: y, dx, dw vs float64`, () => checkAgainstRef(c, variant, what, noSubgroups()));
    }
  }
}

test('every tuning of the fast kernels is correct (block sizes, subgroup blocks, depthwise tiles, split-K)', async () => {
  for (const [PB, strided] of [[1, false], [4, true], [8, true], [3, false]] as const) {
    const t = {
      conv: {
        gemmPX: 4 * Math.ceil(PB / 3), maxCV: PB, pwPV: Math.min(PB, 4), pwStrided: strided, dwMinGroups: PB * 7, dwRB: PB, dwAcc: 8 * PB,
        sgPX: 4 * Math.ceil(PB / 3), sgTM: { 4: 4 * PB, 8: 8 * PB }, sgDwTM: { 4: 4 * PB, 8: 8 * PB }, sgDwAcc: { 4: 24 * PB, 8: 24 * PB },
      },
      depthwise: { TH: PB, TW: 4 * (1 + (PB % 2)), gradTW: PB > 3 ? 8 : 4, gradMinLanes: PB * 5, unpadded: PB % 2 === 0 },
    };
    const { conv: c, depthwise: d } = t;
    await checkAgainstRef(CASES[1], 'gemm', `gemm PX ${c.gemmPX} CV ${PB}`, t);
    await checkAgainstRef(CASES[2], 'gemm', `gemm PX ${c.gemmPX} CV ${PB} dilation`, t);
    await checkAgainstRef(CASES[13], 'gemm', `gemm PX ${c.gemmPX} CV ${PB} 17 channels`, t);
    await checkAgainstRef(CASES[9], 'pointwise', `pointwise PV ${c.pwPV}`, t);
    await checkAgainstRef(CASES[11], 'gemm', `gemm PX ${c.gemmPX} 1x1 stride 2`, t);
    if (subgroupLanes()) await checkAgainstRef(CASES[13], 'gemm', `gemm PX ${c.gemmPX} CV ${PB} no subgroups`, noSubgroups(t));
    await checkAgainstRef(CASES[7], 'depthwise', `depthwise ${d.TH}x${d.TW}`, t);
    await checkAgainstRef(CASES[6], 'depthwise', `depthwise ${d.TH}x${d.TW} multiplier 2`, t);
    await checkAgainstRef(DW_ALIGNED, 'depthwise', `depthwise ${d.TH}x${d.TW} rows of 12`, t);
  }
});

// ---- Winograd input gradient (3x3 stride 1; on by default where tuning.conv.dxWinograd says) ---
const WINO_CASES: Case[] = [
  CASES[0], CASES[13],
  { x: [1, 3, 6, 5], w: [4, 3, 3, 3], opts: { padding: 2 } },
  { x: [2, 20, 10, 9], w: [24, 20, 3, 3], opts: { padding: 'valid' } },
  { x: [1, 33, 11, 13], w: [36, 33, 3, 3], opts: { padding: [1, 2, 0, 1] } },
];

test('Winograd dx (F(2x2), F(4x4), with and without subgroups) matches float64 and runs only where it applies', async () => {
  for (const m of [2, 4]) {
    for (const sg of subgroupLanes() ? [true, false] : [false]) {
      const tuning = { conv: { dxWinograd: m, subgroups: sg } };
      for (const c of WINO_CASES) {
        const ys = conv2dOutputShape(c.x, c.w, c.opts);
        const Wt = randArray(numel(c.w)), GY = randArray(numel(ys));
        const w = tensor(Wt, c.w), gy = tensor(GY, ys);
        const since = snapshot();
        const dx = conv2dInputGrad(gy, w, c.x, { ...c.opts, tuning });
        assert.is(ran(since, 'conv2d_wino_in'), 1, `F(${m}) ran for ${JSON.stringify(c)}`);
        const ref = conv2dDxRef(GY, c.x, Wt, c.w, c.opts);
        // F(4x4)'s transforms (coefficients up to 8 and 1/24) round worse than the direct sum:
        // allow an error relative to the largest value.
        const big = ref.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
        assertClose(await dx.data(), ref, 1e-4, m === 2 ? 1e-5 : 1e-5 * Math.max(1, big), `F(${m}) subgroups ${sg} ${JSON.stringify(c)} dx`);
        for (const t of [w, gy, dx]) t.dispose();
      }
    }
    // Not 3x3 stride 1 undilated ungrouped: the direct kernels.
    for (const c of [CASES[1], CASES[2], CASES[3], CASES[9]]) {
      const ys = conv2dOutputShape(c.x, c.w, c.opts);
      const gy = tensor(randArray(numel(ys)), ys), w = tensor(randArray(numel(c.w)), c.w);
      const since = snapshot();
      conv2dInputGrad(gy, w, c.x, { ...c.opts, tuning: { conv: { dxWinograd: m } } }).dispose();
      assert.is(ran(since, 'conv2d_wino_in'), 0, `no Winograd for ${JSON.stringify(c)}`);
      gy.dispose();
      w.dispose();
    }
  }
});

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
  test(`finite differences: x, w, bias gradients of sum(conv2d * G) (${variant})`, async () => {
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
  { name: 'gemm', xs: [1, 3, 6, 5], ws: [4, 3, 3, 3], opts: { padding: 1 }, fwd: FWD_KERNEL.gemm, dx: FWD_KERNEL.gemm, dw: subgroupLanes() ? 'conv2d_weight_grad_sg' : 'conv2d_weight_grad' },
  { name: 'depthwise', xs: [1, 4, 6, 5], ws: [4, 1, 3, 3], opts: { padding: 1, groups: 4 }, fwd: 'conv2d_depthwise_rows', dx: 'conv2d_depthwise_dx_rows', dw: 'conv2d_depthwise_dw_rows' },
];
for (const c of NEEDS) {
  test(`${c.name}: frozen weights run no dw kernel; an input without grad runs no dx kernel`, async () => {
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
