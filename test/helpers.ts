/** Shared test helpers: device setup with poisoned buffers, seeded random data, and tolerant comparisons. */
import { init, type Runtime } from '../engine/core/runtime.ts';
import poisonSrc from './poison.wgsl';
import { f16ToF32 } from '../engine/core/half.ts';

let rt: Runtime | null = null;

/** Initialises thaw and poisons every buffer the pool hands out with NaNs, so kernels that skip an element fail. */
export async function setup(): Promise<Runtime> {
  if (rt) return rt;
  rt = await init();
  const r = rt;
  r.pool.onAcquire = (buffer, bytes) => {
    const n = Math.ceil(bytes / 4);
    const groups = Math.ceil(n / 256);
    const gx = Math.min(groups, 65535);
    r.run({ key: 'test_poison', code: () => poisonSrc }, { buf: buffer }, { n, stride: gx * 256 }, [gx, Math.ceil(groups / gx)]);
  };
  return r;
}

let seed = (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
/** The seed of this run's random data (printed on failure so a case can be replayed with THAW_SEED). */
export const runSeed = Number(process.env.THAW_SEED ?? seed);
seed = runSeed;
// scripts/test_worker.mjs runs many files in one process and names the current one in
// globalThis.THAW_TEST_FILE: each file's draws start again from runSeed, so `THAW_SEED=<seed>` on
// that file alone draws the same data.
let file: unknown;
export function rand(): number {
  const f = (globalThis as { THAW_TEST_FILE?: string }).THAW_TEST_FILE;
  if (f !== file) { file = f; seed = runSeed; }
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
/** n uniform values in [lo, hi). */
export function randArray(n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rand();
  return a;
}
export function randInt(n: number, hi: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.floor(rand() * hi);
  return a;
}

/** Asserts |a - b| <= atol + rtol * |b| elementwise, reporting the worst element and the seed. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5, atol = 1e-6, what = ''): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} != expected ${expected.length}`);
  let worst = -1, worstErr = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const err = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(err <= 0) && (worst < 0 || !(err <= worstErr))) { worst = i; worstErr = err; }
  }
  if (worst >= 0) {
    throw new Error(`${what}: mismatch at ${worst}: got ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol}; seed ${runSeed})`);
  }
}

/** Central finite differences of a scalar function f at x (float64). */
export function numericGrad(f: (x: Float64Array) => number, x: ArrayLike<number>, h = 1e-3): Float64Array {
  const xx = Float64Array.from(x);
  const g = new Float64Array(xx.length);
  for (let i = 0; i < xx.length; i++) {
    const v = xx[i];
    xx[i] = v + h; const fp = f(xx);
    xx[i] = v - h; const fm = f(xx);
    xx[i] = v;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** Values that exercise the rounding: random magnitudes over the whole range, exact ties, specials. */
export function halfCases(n: number): number[] {
  const v: number[] = [0, -0, 1, -1, 65504, -65504, 65519.99, 65520, -65520, 1e6, Infinity, -Infinity, NaN,
    2 ** -14, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -26, 1e-9, -1e-9, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2048 + 1, 2048 + 3];
  for (let i = 0; v.length < n; i++) {
    const h = Math.floor(rand() * 0x7bff);
    const k = i % 3;
    if (k === 0) v.push((rand() < 0.5 ? -1 : 1) * 2 ** (rand() * 44 - 28)); // 2^-28 .. 2^16
    else if (k === 1) v.push((f16ToF32(h) + f16ToF32(h + 1)) / 2 * (rand() < 0.5 ? -1 : 1)); // an exact tie
    else v.push(f16ToF32(h) + (f16ToF32(h + 1) - f16ToF32(h)) * (0.5 + (rand() - 0.5) * 1e-3)); // next to a tie
  }
  return v;
}

/**
 * scripts/test.sh runs the files of the subgroup kernels once more at lavapipe's default 8 lanes,
 * whose code depends on the lane count, with THAW_TEST_SUBGROUP=only. Such a file registers the
 * cases that run a subgroup kernel with `subgroupTest` and the others with `test`, which registers
 * nothing in that run; `subgroupOnly` says which run it is.
 */
export const subgroupOnly = process.env.THAW_TEST_SUBGROUP === 'only';
export function laneTests<T extends (...args: any[]) => void>(test: T): { test: T; subgroupTest: T } {
  return { test: subgroupOnly ? Object.assign((() => {}) as unknown as T, test) : test, subgroupTest: test };
}
