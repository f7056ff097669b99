/**
 * Matmul benchmark: thaw vs tfjs-webgpu on the same adapter, square f32 sizes, GFLOP/s and the ratio.
 * `bash -c 'source scripts/env.sh; node bench/matmul.ts'` (THAW_ADAPTER=lavapipe|swiftshader to pick a
 * driver; BENCH_SIZES=256,512 to change sizes; BENCH_VARIANTS=auto,naive,blocked,tiled to time several
 * thaw kernels; BENCH_DTYPES=f32,f16 to time thaw's f16 kernels too: f16 operands, f32 accumulation,
 * against the same tfjs f32 product). Both engines' results are checked against each other before timing. A timed step
 * runs enough products back to back to last 20 ms (1 on CPU adapters), and the table is per product;
 * the two calibration runs plus one more are the warm-up (pipeline compilation).
 */
import { initThaw, initTf, adapterLabel, time, repsFor, thawStep, tfStep, printTable, writeResults, randomData } from './common.ts';
import { tensor } from '../engine/core/factory.ts';
import { matmul, type MatmulVariant } from '../kernels/index.ts';

export interface MatmulRow { size: number; variant: string; dtype: string; thawGflops: number; tfjsGflops: number; ratio: number; thawMs: number; tfjsMs: number }

/** Runs the benchmark and returns one row per size and kernel (`quick`: 256 and 512 only; `print: false`: no table, no results file). */
export async function run(o: { quick?: boolean; sizes?: number[]; print?: boolean } = {}): Promise<MatmulRow[]> {
const rt = await initThaw();
const tfx = await initTf();
const sizes = o.sizes ?? (process.env.BENCH_SIZES ?? (o.quick ? '256,512' : '256,512,1024')).split(',').map(Number);
const variants = (process.env.BENCH_VARIANTS ?? 'auto').split(',') as MatmulVariant[];
const dtypes = (process.env.BENCH_DTYPES ?? 'f32').split(',') as ('f32' | 'f16')[];
if (o.print !== false) console.log(`adapter: ${adapterLabel(rt)}`);

const rows: (string | number)[][] = [];
const results: Record<string, unknown>[] = [];
const out: MatmulRow[] = [];
for (const n of sizes) {
  const A = randomData(n * n), B = randomData(n * n);
  const flop = 2 * n * n * n;
  const ta = tfx.tf.tensor2d(A, [n, n]), tb = tfx.tf.tensor2d(B, [n, n]);
  const tfReps = await repsFor(tfStep(tfx, () => tfx.tf.matMul(ta, tb)));
  const tfT = await time(tfStep(tfx, () => { for (let i = 0; i < tfReps; i++) tfx.tf.matMul(ta, tb); }), undefined, 1);
  const want = await tfx.tf.tidy(() => tfx.tf.matMul(ta, tb)).data();
  let wantMax = 0;
  for (let i = 0; i < want.length; i++) wantMax = Math.max(wantMax, Math.abs(want[i]));
  for (const dtype of dtypes) {
  const a = tensor(A, [n, n], dtype), b = tensor(B, [n, n], dtype);
  for (const variant of variants) {
    const got = matmul(a, b, { variant });
    const d = await got.data();
    got.dispose();
    let err = 0;
    for (let i = 0; i < d.length; i++) err = Math.max(err, Math.abs(d[i] - want[i]));
    // f16: the operands' and the result's rounding, a few units of 2^-11 of the largest output.
    const tol = dtype === 'f16' ? 2 ** -8 * wantMax : 1e-2;
    if (!(err < tol)) throw new Error(`thaw ${variant} ${dtype} and tfjs disagree at ${n}x${n}: max |diff| ${err}`);
    const reps = await repsFor(thawStep(rt, () => matmul(a, b, { variant }).dispose()));
    const thT = await time(thawStep(rt, () => { for (let i = 0; i < reps; i++) matmul(a, b, { variant }).dispose(); }), undefined, 1);
    const gf = (ms: number, r: number) => flop * r / ms / 1e6;
    const ratio = (tfT.median / tfReps) / (thT.median / reps);
    rows.push([`${n}x${n}x${n}`, variant, dtype, gf(thT.median, reps), gf(thT.min, reps), gf(tfT.median, tfReps), gf(tfT.min, tfReps), ratio]);
    results.push({ size: n, variant, dtype, thawReps: reps, tfjsReps: tfReps, thawMs: thT, tfjsMs: tfT,
      thawGflops: gf(thT.median, reps), tfjsGflops: gf(tfT.median, tfReps), ratio });
    out.push({ size: n, variant, dtype, thawGflops: gf(thT.median, reps), tfjsGflops: gf(tfT.median, tfReps), ratio, thawMs: thT.median / reps, tfjsMs: tfT.median / tfReps });
  }
  a.dispose(); b.dispose();
  }
  ta.dispose(); tb.dispose();
}
if (o.print !== false) {
  printTable(`matmul (tfjs f32), ${adapterLabel(rt)} (GFLOP/s; median and best of ${(results[0] as any)?.thawMs.runs.length ?? 0} timed steps)`,
    ['size', 'thaw kernel', 'thaw dtype', 'thaw', 'thaw best', 'tfjs', 'tfjs best', 'speedup'], rows);
  console.log(`\nwrote ${writeResults(rt, 'matmul', results)}`);
}
return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run({ quick: process.argv.includes('--quick') });
  process.exit(0);
}
