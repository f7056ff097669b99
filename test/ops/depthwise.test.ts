// Depthwise conv2d kernels (kernels/conv2d/depthwise*.ts) against the float64 references, at several
// tuning.depthwise settings (passed per call): the row-streaming forward, stride-1 input gradient (the forward kernel over dy
// with the flipped kernel and mirrored padding, summing over the multiplier) and weight gradient
// (ring of x row windows, split over rows, own partial-sum kernel), the tile kernels (forward and dx;
// vec4 or scalar stores, scalar halo loads, padded or unpadded sources) and the fallback weight
// gradient. Shapes cover channel multipliers > 1, strides, dilations, asymmetric and TF-same padding,
// padding beyond the kernel's reach (negative mirrored padding for dx), rows a multiple of 4 long or
// not, and sizes that are not multiples of the tiles.
import { test } from 'uvu';
import { setup, randArray, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { runtime } from '../../engine/core/runtime.ts';
import type { DepthwiseTuning } from '../../engine/core/tuning.ts';
import {
  conv2d, conv2dInputGrad, conv2dWeightGrad, conv2dOutputShape, conv2dRef, conv2dDxRef, conv2dDwRef, type Conv2dOptions,
} from '../../kernels/conv2d/conv2d.ts';

await setup();

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
interface Case { x: number[]; w: number[]; opts: Conv2dOptions; bias?: boolean }
const CASES: Case[] = [
  { x: [2, 5, 13, 20], w: [5, 1, 3, 3], opts: { groups: 5, padding: 1 }, bias: true },
  { x: [1, 3, 11, 16], w: [6, 1, 3, 3], opts: { groups: 3, padding: 1 } },
  { x: [2, 4, 12, 9], w: [8, 1, 3, 3], opts: { groups: 4, stride: 2, padding: 'same' }, bias: true },
  { x: [1, 3, 10, 12], w: [3, 1, 3, 3], opts: { groups: 3, dilation: 2, padding: [2, 1, 0, 3] } },
  { x: [2, 2, 9, 24], w: [4, 1, 5, 3], opts: { groups: 2, stride: [1, 2], dilation: [2, 1], padding: [3, 2, 1, 1] } },
  { x: [1, 3, 7, 8], w: [3, 1, 3, 5], opts: { groups: 3, stride: [2, 1], padding: 'same' } },
  { x: [1, 2, 6, 7], w: [2, 1, 1, 1], opts: { groups: 2 } },
  // 7-: padding beyond the kernel's reach (dx's mirrored top/left padding is negative), multiplier 3
  // with dilation 2 and TF-same padding, rows longer than a 16-column segment and not a multiple of 4.
  { x: [1, 2, 9, 10], w: [4, 1, 3, 3], opts: { groups: 2, padding: [3, 0, 4, 1] } },
  { x: [2, 2, 11, 21], w: [6, 1, 3, 3], opts: { groups: 2, dilation: 2, padding: 'same' }, bias: true },
  { x: [1, 3, 8, 37], w: [6, 1, 3, 5], opts: { groups: 3, dilation: 2, padding: [1, 3, 4, 2] } },
  { x: [2, 4, 10, 33], w: [4, 1, 3, 3], opts: { groups: 4, padding: 'same' } },
  { x: [1, 2, 13, 18], w: [4, 1, 3, 3], opts: { groups: 2, stride: 2, dilation: 2, padding: [2, 1, 2, 3] } },
];

async function check(c: Case, what: string, depthwise: Partial<DepthwiseTuning>): Promise<void> {
  const X = randArray(numel(c.x)), Wt = randArray(numel(c.w)), B = c.bias ? randArray(c.w[0]) : null;
  const opts = { ...c.opts, variant: 'depthwise' as const, tuning: { depthwise } };
  const ys = conv2dOutputShape(c.x, c.w, opts);
  const GY = randArray(numel(ys));
  const x = tensor(X, c.x), w = tensor(Wt, c.w), b = B ? tensor(B, [B.length]) : null, gy = tensor(GY, ys);
  const y = conv2d(x, w, b, opts), dx = conv2dInputGrad(gy, w, c.x, opts), dw = conv2dWeightGrad(x, gy, c.w, opts);
  assertClose(await y.data(), conv2dRef(X, c.x, Wt, c.w, B, opts), 1e-4, 1e-5, `${what} y`);
  assertClose(await dx.data(), conv2dDxRef(GY, c.x, Wt, c.w, opts), 1e-4, 1e-5, `${what} dx`);
  assertClose(await dw.data(), conv2dDwRef(X, c.x, GY, c.w, opts), 1e-4, 5e-5, `${what} dw`);
  for (const t of [x, w, b, gy, y, dx, dw]) t?.dispose();
}

// Each setting with the cases it runs (pipelines compile per shape and setting, so not every pair).
const TUNINGS: [Partial<DepthwiseTuning>, number[]][] = [
  [{}, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]],
  [{ rowsTW: 4, rowsMinLanes: 1, TH: 3, TW: 4, vecStore: false }, [1, 4, 5, 7, 9]],
  [{ rowsTW: 12, rowsMinLanes: 100000, TH: 2, TW: 8 }, [0, 2, 3, 8, 10]],
  [{ rowsTW: 16, rowsMinLanes: 37 }, [0, 1, 8]],
  [{ rowsTW: 8, rowsMinLanes: 200, vecStore: false }, [3, 7, 8, 10]],
  // The tile kernels (forward / dx; case 4's 5-tap-tall kernel at tallTH rows) and the fallback weight gradient.
  [{ rowsFwd: false, rowsDx: false, rowsDw: false, gradMinLanes: 7, tallKH: 5 }, [0, 2, 4, 5, 7, 8]],
  [{ rowsFwd: false, rowsDx: false, rowsDw: false, TH: 1, TW: 12, unpadded: false, gradTW: 4 }, [1, 3, 9]],
];

for (const [tuning, cases] of TUNINGS) {
  test(`depthwise y, dx, dw vs float64 at ${JSON.stringify(tuning)}`, async () => {
    for (const c of cases.map((i) => CASES[i])) await check(c, `x [${c.x}] w [${c.w}] ${JSON.stringify(c.opts)} ${JSON.stringify(tuning)}`, tuning);
  });
}

test('forward and dw stream rows unless the ring exceeds its budget', async () => {
  const c = CASES[0];
  const x = tensor(randArray(numel(c.x)), c.x), gy = tensor(randArray(numel(c.x)), c.x);
  const runs = (name: string) => runtime().dispatchByName.get(name) ?? 0;
  const w = tensor(randArray(numel(c.w)), c.w);
  const names = ['conv2d_depthwise_dw_rows', 'conv2d_depthwise_dw', 'conv2d_depthwise_rows', 'conv2d_depthwise'];
  const before = names.map(runs);
  const both = (opts: Conv2dOptions) => { conv2dWeightGrad(x, gy, c.w, opts).dispose(); conv2d(x, w, null, opts).dispose(); };
  both(c.opts);
  both({ ...c.opts, tuning: { depthwise: { ringBudget: 8 } } });
  w.dispose();
  x.dispose(); gy.dispose();
  const got = names.map((n, i) => runs(n) - before[i]);
  if (got.join() !== '1,1,1,1') throw new Error(`expected one rows and one fallback dispatch of each, got ${got}`);
});

test('dx streams rows for stride 1 (any multiplier) unless the ring exceeds its budget; stride 2 runs the tiles', async () => {
  const runs = (name: string) => runtime().dispatchByName.get(name) ?? 0;
  const names = ['conv2d_depthwise_dx_rows', 'conv2d_depthwise'];
  // [case, ringBudget, expected dx rows dispatches, expected tile dispatches (one per stride phase)]
  const plan: [number, number, number, number][] = [[0, 96, 1, 0], [1, 96, 1, 0], [7, 96, 1, 0], [8, 96, 0, 1], [0, 8, 0, 1], [2, 96, 0, 4], [5, 96, 0, 2]];
  for (const [i, budget, wantRows, wantTiles] of plan) {
    const c = CASES[i];
    const ys = conv2dOutputShape(c.x, c.w, c.opts);
    const w = tensor(randArray(numel(c.w)), c.w), gy = tensor(randArray(numel(ys)), ys);
    const before = names.map(runs);
    conv2dInputGrad(gy, w, c.x, { ...c.opts, variant: 'depthwise', tuning: { depthwise: { ringBudget: budget } } }).dispose();
    const got = names.map((n, k) => runs(n) - before[k]);
    w.dispose(); gy.dispose();
    if (got.join() !== `${wantRows},${wantTiles}`) throw new Error(`case ${i} budget ${budget}: expected ${wantRows} dx rows and ${wantTiles} tile dispatches, got ${got}`);
  }
});

test.run();
