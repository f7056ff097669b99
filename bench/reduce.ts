/**
 * Reduction benchmark: thaw's sum over axis 0, axis -1 and all axes for shapes met in training
 * (bias gradients, loss means, broadcast-gradient reductions, per-channel statistics).
 *
 *   bash -c 'source scripts/env.sh; node bench/reduce.ts [--quick]'
 *
 * THAW_ADAPTER=lavapipe|swiftshader picks a software driver; BENCH_RUNS sets the timed runs. Every
 * case is checked against a float64 host reference first. A timed step runs enough sums back to back
 * to last 20 ms; the table is per sum: wall ms (median and best), host CPU ms of this process per sum
 * (process.cpuUsage, which on software adapters includes the driver's worker threads), the GPU ms
 * from the profiler's timestamps, and the kernels it ran. Writes bench/results/reduce-<adapter>.json.
 */
import { initThaw, adapterLabel, time, repsFor, thawStep, printTable, writeResults, randomData } from './common.ts';
import { tensor } from '../engine/core/factory.ts';
import { reduceRef } from '../kernels/reduce/reference.ts';
import { profile } from '../engine/core/runtime.ts';
import { sum } from '../kernels/index.ts';

export interface ReduceRow { shape: number[]; axes: string; wallMs: number; bestMs: number; cpuMs: number; gpuMs: number; kernels: string }

/** The benchmarked cases: [shape, axes (undefined = all)]. */
export const CASES: [number[], number | number[] | undefined][] = [
  [[56, 1296], 0], [[56, 1296], -1], [[56, 1296], undefined],
  [[32, 1296], 0], [[32, 1296], -1], [[32, 1296], undefined],
  [[8, 64, 56, 56], [0, 2, 3]], [[8, 64, 56, 56], -1], [[8, 64, 56, 56], undefined],
  [[1296, 56], -1], [[1296, 56], 0], [[1296, 56], undefined],
  [[1, 1e6], 0], [[1, 1e6], -1], [[1, 1e6], undefined],
  [[1000, 10], 0], [[1000, 10], -1], [[1000, 10], undefined],
];

function normAxes(rank: number, axes?: number | number[]): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  return [...new Set((Array.isArray(axes) ? axes : [axes]).map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/** Runs the benchmark and returns one row per case (`quick`: fewer timed runs). */
export async function run(o: { quick?: boolean; print?: boolean } = {}): Promise<ReduceRow[]> {
  const rt = await initThaw();
  console.log(`adapter: ${adapterLabel(rt)}`);
  const runs = o.quick ? 5 : undefined;
  const rows: (string | number)[][] = [];
  const out: ReduceRow[] = [];
  for (const [shape, axes] of CASES) {
    const n = shape.reduce((a, b) => a * b, 1);
    const X = randomData(n);
    const x = tensor(X, shape);
    const ax = normAxes(shape.length, axes);
    const want = reduceRef('sum', X, shape, ax);
    const got = sum(x, axes);
    const d = await got.data();
    got.dispose();
    for (let i = 0; i < want.length; i++) {
      if (!(Math.abs(d[i] - want[i]) <= 1e-3 + 1e-4 * Math.abs(want[i]))) {
        throw new Error(`sum [${shape}] axes ${JSON.stringify(axes)}: element ${i} is ${d[i]}, expected ${want[i]}`);
      }
    }
    const once = thawStep(rt, () => sum(x, axes).dispose());
    const reps = await repsFor(once);
    const c0 = process.cpuUsage();
    const t = await time(thawStep(rt, () => { for (let i = 0; i < reps; i++) sum(x, axes).dispose(); }), runs, 1);
    const c = process.cpuUsage(c0);
    const steps = t.runs.length + 1;
    const cpuMs = (c.user + c.system) / 1000 / (steps * reps);
    let gpuMs = NaN, kernels = '';
    try {
      const p = await profile(() => { for (let i = 0; i < 4; i++) sum(x, axes).dispose(); });
      gpuMs = p.totalMs / 4;
      kernels = p.rows.map((r) => `${r.kernel}x${r.calls / 4}`).join(' ');
    } catch { /* no timestamp queries on this adapter */ }
    const label = axes === undefined ? 'all' : JSON.stringify(axes);
    rows.push([`[${shape}]`, label, t.median / reps, t.min / reps, cpuMs, gpuMs, kernels]);
    out.push({ shape, axes: label, wallMs: t.median / reps, bestMs: t.min / reps, cpuMs, gpuMs, kernels });
    x.dispose();
  }
  if (o.print !== false) {
    printTable(`sum, ${adapterLabel(rt)} (ms per sum; median and best of the timed steps)`,
      ['shape', 'axes', 'wall', 'best', 'cpu', 'gpu', 'kernels'], rows);
    console.log(`\nwrote ${writeResults(rt, 'reduce', out)}`);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run({ quick: process.argv.includes('--quick') });
  process.exit(0);
}
