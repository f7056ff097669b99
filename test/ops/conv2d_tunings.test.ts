// conv2d on fresh random data against the float64 reference, every applicable kernel and tuning.
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
import { numel, snapshot, ran, fwdKernel, runWithGrads } from './conv_helpers.ts';

await setup();

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
/** GEMM and dw with rows a multiple of 4 long, read unpadded (tuning.conv.unpadded): x and dy; x only; strided dx phases. */
const GEMM_ALIGNED: Case[] = [
  { x: [2, 5, 7, 8], w: [7, 5, 3, 3], opts: { padding: 1 }, bias: true },
  { x: [1, 6, 9, 12], w: [5, 6, 3, 2], opts: { stride: 2, padding: [1, 2, 3, 0], dilation: [2, 1] } },
  { x: [2, 4, 8, 16], w: [6, 4, 3, 3], opts: { stride: 2, padding: 1 }, bias: true },
];
CASES.push(...GEMM_ALIGNED);

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
  // PB 1 (single blocks), 2 (powers of two, strided pointwise, unpadded depthwise sources) and 3 (odd
  // blocks); the default table's blocks run in the random cases above. A larger PB only lengthens the
  // same unrolled blocks, and PB 4's kernels were the slowest of the suite to compile (up to 12 s each
  // on an empty shader cache).
  for (const [PB, strided] of [[1, false], [2, true], [3, false]] as const) {
    const t = {
      conv: {
        gemmPX: 4 * Math.ceil(PB / 3), maxCV: PB, pwPV: Math.min(PB, 4), pwStrided: strided, dwMinGroups: PB * 7, dwRB: PB, dwAcc: 8 * PB,
        unpadded: PB % 2 === 0, sgPX: 4 * Math.ceil(PB / 3), sgTM: { 4: 4 * PB, 8: 8 * PB }, sgDwTM: { 4: 4 * PB, 8: 8 * PB }, sgDwAcc: { 4: 24 * PB, 8: 24 * PB },
      },
      depthwise: { TH: PB, TW: 4 * (1 + (PB % 2)), gradTW: PB === 2 ? 8 : 4, gradMinLanes: PB * 5, unpadded: PB % 2 === 0 },
    };
    const { conv: c, depthwise: d } = t;
    // The gemm and pointwise kernels with and without subgroups (the kernels a GPU runs: this file
    // is left out of scripts/test.sh's THAW_TUNING=hardware pass).
    for (const [sg, tuning] of subgroupLanes() ? [['', t], [' no subgroups', noSubgroups(t)]] as const : [['', t]] as const) {
      await checkAgainstRef(CASES[1], 'gemm', `gemm PX ${c.gemmPX} CV ${PB}${sg}`, tuning);
      await checkAgainstRef(CASES[2], 'gemm', `gemm PX ${c.gemmPX} CV ${PB} dilation${sg}`, tuning);
      await checkAgainstRef(CASES[13], 'gemm', `gemm PX ${c.gemmPX} CV ${PB} 17 channels${sg}`, tuning);
      await checkAgainstRef(CASES[9], 'pointwise', `pointwise PV ${c.pwPV}${sg}`, tuning);
      await checkAgainstRef(CASES[11], 'gemm', `gemm PX ${c.gemmPX} 1x1 stride 2${sg}`, tuning);
      for (const a of GEMM_ALIGNED) await checkAgainstRef(a, 'gemm', `gemm PX ${c.gemmPX} CV ${PB} rows of ${a.x[3]}${c.unpadded ? ' unpadded' : ''}${sg}`, tuning);
    }
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
      const tuning = { conv: { dxWinograd: m, winogradMinChannels: 0, subgroups: sg } };
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
      conv2dInputGrad(gy, w, c.x, { ...c.opts, tuning: { conv: { dxWinograd: m, winogradMinChannels: 0 } } }).dispose();
      assert.is(ran(since, 'conv2d_wino_in'), 0, `no Winograd for ${JSON.stringify(c)}`);
      gy.dispose();
      w.dispose();
    }
  }
});

test.run();
