/**
 * conv2d benchmark: thaw vs tfjs-backend-webgpu on the same Dawn adapter in one process, for
 * ResNet/MobileNet-like layers, forward, input gradient (dx) and weight gradient (dw).
 *
 *   bash -c 'source scripts/env.sh; node bench/conv.ts [--quick] [--batch N] [--layers a,b] [--ops fwd,dx,dw] [--no-tfjs]'
 *
 * THAW_ADAPTER=lavapipe|swiftshader picks a software driver. thaw runs NCHW/OIHW, tfjs NHWC/HWIO
 * (its native layout) with the same sizes and padding; dx and dw call tfjs's backprop kernels
 * directly (Conv2DBackpropInput/Filter, DepthwiseConv2dNativeBackpropInput/Filter), the ones its
 * gradients use, so neither side pays for a forward pass inside a gradient. Both sides are checked
 * against each other once per layer and op before timing. `--quick` times fewer runs (median of 3,
 * one warm-up) for slow adapters. Prints a table (median and best ms, GFLOP/s of the medians, the
 * speedup of the medians and of the best runs, the latter less hurt by a shared machine) and writes JSON to
 * bench/results/conv-<adapter>.json. BENCH_DTYPES=f32,f16 times thaw's f16 kernels too (f16 x, w and dy,
 * f32 accumulation; depthwise on the grouped GEMM) against the same tfjs f32 run.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initThaw, initTf, adapterLabel, time, thawStep, tfStep, printTable, writeResults, randomData, benchRuns, type Tf, type Timing } from './common.ts';
import { tensor } from '../engine/core/factory.ts';
import type { Tensor } from '../engine/core/tensor.ts';
import { conv2dInputGrad, conv2dWeightGrad, conv2dOutputShape, convGeometry, convMacs, pickVariant } from '../kernels/conv2d/conv2d.ts';
import { conv2d, type Conv2dOptions } from '../kernels/index.ts';

/** A benchmarked layer: input (N is set by --batch), weight shape, and options (symmetric padding). */
interface Layer { name: string; x: [number, number, number]; w: [number, number, number, number]; opts: Conv2dOptions & { padding: number; stride: number } }

export const LAYERS: Layer[] = [
  { name: 'conv3x3 64->64', x: [64, 56, 56], w: [64, 64, 3, 3], opts: { padding: 1, stride: 1 } },
  { name: 'pointwise 64->256', x: [64, 56, 56], w: [256, 64, 1, 1], opts: { padding: 0, stride: 1 } },
  { name: 'depthwise3x3 144', x: [144, 56, 56], w: [144, 1, 3, 3], opts: { padding: 1, stride: 1, groups: 144 } },
  { name: 'conv3x3 s2 64->128', x: [64, 56, 56], w: [128, 64, 3, 3], opts: { padding: 1, stride: 2 } },
];

export type Op = 'fwd' | 'dx' | 'dw';

export interface RunOptions { quick?: boolean; batch?: number; layers?: string[]; ops?: Op[]; tfjs?: boolean; print?: boolean }

export interface Result { layer: string; op: Op; batch: number; dtype: 'f32' | 'f16'; kernel: string; gflop: number; thawMs: Timing; tfjsMs: Timing | null; thawGflops: number; tfjsGflops: number | null; speedup: number | null }

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** NCHW (or OIHW) host data to NHWC (or HWIO; depthwise HWC1 with multiplier 1). */
function toChannelsLast(d: Float32Array, [A, B, C, D]: number[]): Float32Array {
  const out = new Float32Array(d.length);
  for (let a = 0; a < A; a++) for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let e = 0; e < D; e++) {
    out[((a * C + c) * D + e) * B + b] = d[((a * B + b) * C + c) * D + e];
  }
  return out;
}
function oihwToHwio(d: Float32Array, [O, I, H, W]: number[]): Float32Array {
  const out = new Float32Array(d.length);
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
    out[((h * W + w) * I + i) * O + o] = d[((o * I + i) * H + h) * W + w];
  }
  return out;
}

/** Runs the benchmark and returns one result per layer and op. */
export async function run(o: RunOptions = {}): Promise<Result[]> {
  const rt = await initThaw();
  const tfx: Tf | null = o.tfjs === false ? null : await initTf();
  const N = o.batch ?? 8;
  const runs = o.quick ? 3 : benchRuns();
  const warmup = o.quick ? 1 : 2;
  const ops: Op[] = o.ops ?? ['fwd', 'dx', 'dw'];
  const dtypes = (process.env.BENCH_DTYPES ?? 'f32').split(',') as ('f32' | 'f16')[];
  const layers = LAYERS.filter((l) => !o.layers || o.layers.some((s) => l.name.includes(s)));
  if (o.print !== false) console.log(`adapter: ${adapterLabel(rt)}; batch ${N}; ${runs} timed runs`);
  const results: Result[] = [];
  for (const L of layers) {
    const xs = [N, ...L.x], ws = L.w as number[];
    const g = convGeometry(xs, ws, L.opts);
    const ys = conv2dOutputShape(xs, ws, L.opts);
    const X = randomData(xs.reduce((a, b) => a * b)), W = randomData(ws.reduce((a, b) => a * b)), DY = randomData(ys.reduce((a, b) => a * b));
    const operands = dtypes.map((dtype) => ({ dtype, x: tensor(X, xs, dtype), w: tensor(W, ws, dtype), dy: tensor(DY, ys, dtype) }));
    const thawOp = ({ x, w, dy }: { x: Tensor; w: Tensor; dy: Tensor }): Record<Op, () => Tensor> => ({
      fwd: () => conv2d(x, w, null, L.opts),
      dx: () => conv2dInputGrad(dy, w, xs, L.opts),
      dw: () => conv2dWeightGrad(x, dy, ws, L.opts),
    });
    let tfOp: Record<Op, () => any> | null = null, tfT: any[] = [];
    if (tfx) {
      const tf = tfx.tf;
      const depthwise = (L.opts.groups ?? 1) > 1;
      const { stride: s, padding: p } = L.opts;
      const tx = tf.tensor4d(toChannelsLast(X, xs), [N, L.x[1], L.x[2], L.x[0]]);
      const tdy = tf.tensor4d(toChannelsLast(DY, ys), [N, ys[2], ys[3], ys[1]]);
      // tfjs filters: HWIO for conv2d, (h, w, C, multiplier) for depthwise.
      const fShape = depthwise ? [ws[2], ws[3], ws[0], 1] : [ws[2], ws[3], ws[1], ws[0]];
      const tw = tf.tensor4d(depthwise ? oihwToHwio(W, [1, ws[0], ws[2], ws[3]]) : oihwToHwio(W, ws), fShape);
      const xShape = [N, L.x[1], L.x[2], L.x[0]];
      tfT = [tx, tdy, tw];
      const eng = tf.engine();
      tfOp = depthwise ? {
        fwd: () => tf.depthwiseConv2d(tx, tw, s, p),
        dx: () => eng.runKernel('DepthwiseConv2dNativeBackpropInput', { dy: tdy, filter: tw }, { strides: s, dilations: 1, pad: p, inputShape: xShape }),
        dw: () => eng.runKernel('DepthwiseConv2dNativeBackpropFilter', { x: tx, dy: tdy }, { strides: s, dilations: 1, pad: p, filterShape: fShape }),
      } : {
        fwd: () => tf.conv2d(tx, tw, s, p),
        dx: () => eng.runKernel('Conv2DBackpropInput', { dy: tdy, filter: tw }, { strides: s, pad: p, dataFormat: 'NHWC', inputShape: xShape }),
        dw: () => eng.runKernel('Conv2DBackpropFilter', { x: tx, dy: tdy }, { strides: s, pad: p, dataFormat: 'NHWC', filterShape: fShape }),
      };
    }
    for (const op of ops) {
      const gflop = (2 * convMacs(g)) / 1e9;
      let tfjsMs: Timing | null = null;
      for (const [k, operand] of operands.entries()) {
        const f = thawOp(operand)[op];
        // Agreement check (also compiles both sides' pipelines).
        const ours = f();
        const got = await ours.data();
        const shape = ours.shape;
        ours.dispose();
        if (tfx && tfOp) {
          const theirs = tfOp[op]();
          const raw = await theirs.data();
          theirs.dispose();
          const want = op === 'dw' ? oihwToHwio(got as Float32Array, depthwise(L) ? [1, shape[0], shape[2], shape[3]] : shape) : toChannelsLast(got as Float32Array, shape);
          const err = maxDiff(want, raw);
          // f16: the operands' and the result's rounding, a few units of 2^-11 of the largest value.
          const tol = operand.dtype === 'f16' ? 2 ** -7 * raw.reduce((m: number, v: number) => Math.max(m, Math.abs(v)), 0) : 1e-2 * Math.max(1, Math.sqrt(g.cinG * g.kh * g.kw));
          if (!(err < tol)) throw new Error(`${L.name} ${op} ${operand.dtype}: thaw and tfjs disagree, max |diff| ${err}`);
        }
        const thawMs = await time(thawStep(rt, () => f().dispose()), runs, warmup);
        if (k === 0) tfjsMs = tfx && tfOp ? await time(tfStep(tfx, tfOp[op]), runs, warmup) : null;
        const kernel = pickVariant(g, 'auto', operand.dtype);
        results.push({
          layer: L.name, op, batch: N, dtype: operand.dtype, kernel, gflop, thawMs, tfjsMs, thawGflops: gflop / (thawMs.median / 1e3),
          tfjsGflops: tfjsMs ? gflop / (tfjsMs.median / 1e3) : null, speedup: tfjsMs ? tfjsMs.median / thawMs.median : null,
        });
      }
    }
    for (const { x, w, dy } of operands) for (const t of [x, w, dy]) t.dispose();
    for (const t of tfT) t.dispose();
  }
  if (o.print !== false) {
    printTable(`conv2d (tfjs f32), ${adapterLabel(rt)}, batch ${N} (median of ${runs} runs; ms and GFLOP/s)`,
      ['layer', 'op', 'dtype', 'kernel', 'thaw ms', 'tfjs ms', 'thaw best', 'tfjs best', 'thaw GFLOP/s', 'tfjs GFLOP/s', 'speedup', 'best/best'],
      results.map((r) => [r.layer, r.op, r.dtype, r.kernel, r.thawMs.median, r.tfjsMs?.median ?? '-', r.thawMs.min, r.tfjsMs?.min ?? '-', r.thawGflops, r.tfjsGflops ?? '-',
        r.speedup === null ? '-' : `${r.speedup.toFixed(1)}x`, r.tfjsMs ? `${(r.tfjsMs.min / r.thawMs.min).toFixed(1)}x` : '-']));
    console.log(`\nwrote ${writeResults(rt, `conv${N === 8 ? '' : `-b${N}`}`, results)}`);
  }
  return results;
}

function depthwise(L: Layer): boolean { return (L.opts.groups ?? 1) > 1; }

function parseArgs(argv: string[]): RunOptions {
  const o: RunOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--no-tfjs') o.tfjs = false;
    else if (a === '--batch') o.batch = Number(argv[++i]);
    else if (a === '--layers') o.layers = argv[++i].split(',');
    else if (a === '--ops') o.ops = argv[++i].split(',') as Op[];
    else throw new Error(`bench/conv.ts: unknown argument ${a} (expected --quick, --batch N, --layers a,b, --ops fwd,dx,dw, --no-tfjs)`);
  }
  return o;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await run(parseArgs(process.argv.slice(2)));
  process.exit(0);
}
