import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, randArray, randInt, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { withTuning, runtime } from '../../engine/core/runtime.ts';
import { TUNINGS } from '../../engine/core/tuning.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum, mean, max, sumTo, reducePlan, type ReducePlan } from '../../kernels/reduce/reduce.ts';
import { reduceRef } from '../../kernels/reduce/reference.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
type Op = 'sum' | 'mean' | 'max';
const FNS = { sum, mean, max };

function normAxes(rank: number, axes?: number | number[]): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const l = (Array.isArray(axes) ? axes : [axes]).map((a) => (a < 0 ? a + rank : a));
  return [...new Set(l)].sort((a, b) => a - b);
}

/** Output index of every input element when reducing `axes` of `shape`. */
function outIndex(shape: number[], axes: number[]): Int32Array {
  const n = numel(shape);
  const map = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i, o = 0, place = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      const c = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      if (!axes.includes(d)) { o += c * place; place *= shape[d]; }
    }
    map[i] = o;
  }
  return map;
}

/** float64 forward and the gradient of sum(w * reduce(x)) (max: split evenly among ties). */
function reference(op: Op, X: ArrayLike<number>, shape: number[], axes: number[], W: ArrayLike<number>) {
  const n = axes.reduce((a, i) => a * shape[i], 1);
  const fwd = reduceRef(op === 'max' ? 'max' : 'sum', X, shape, axes, op === 'mean' ? 1 / n : 1);
  const map = outIndex(shape, axes);
  const grad = new Float64Array(X.length);
  const ties = new Float64Array(fwd.length);
  if (op === 'max') for (let i = 0; i < X.length; i++) if (X[i] === fwd[map[i]]) ties[map[i]]++;
  for (let i = 0; i < X.length; i++) {
    const o = map[i];
    grad[i] = op === 'sum' ? W[o] : op === 'mean' ? W[o] / n : (X[i] === fwd[o] ? W[o] / ties[o] : 0);
  }
  return { fwd, grad };
}

// [shape, axes, keepdims]
const CASES: [number[], number | number[] | undefined, boolean][] = [
  [[7], undefined, false], [[1], 0, true], [[3, 5], 1, false], [[3, 5], 0, true], [[4, 33], -1, true],
  [[2, 3, 4], [0, 2], false], [[2, 3, 4], [-1, -3], true], [[2, 3, 4, 5], [1, 3], true], [[2, 3, 4, 5], [0, 1, 2], false],
  [[2, 1, 3], 1, false], [[5, 130], 1, false], [[130, 5], 0, true], [[3, 5000], -1, false], [[4100, 3], 0, false],
  [[5000, 40], 1, false], [[6000, 7], -1, true], [[3, 70, 2], [0, 2], false], [[2, 3], [-1, -2], false],
];

for (const op of ['sum', 'mean', 'max'] as Op[]) {
  for (const [shape, axes, keepdims] of CASES) {
    test(`${op} [${shape}] axes ${JSON.stringify(axes)} keepdims=${keepdims}: forward and backward vs float64`, async () => {
      const n = numel(shape);
      // Integers in a small range for max so ties occur; random floats otherwise.
      const X = op === 'max' ? Float32Array.from(randInt(n, 9), (v) => v - 4) : randArray(n, -2, 2);
      const ax = normAxes(shape.length, axes);
      const outShape = shape.map((d, i) => (ax.includes(i) ? 1 : d)).filter((_, i) => keepdims || !ax.includes(i));
      const W = randArray(numel(outShape));
      const x = variable(tensor(X, shape));
      const y = tidy(() => {
        const y = FNS[op](x, axes, keepdims);
        backward(sum(mul(y, tensor(W, outShape))));
        return y;
      });
      assert.equal(y.shape, outShape);
      const ref = reference(op, X, shape, ax, W);
      const big = n / Math.max(1, numel(outShape)) > 1000;
      assertClose(await y.data(), ref.fwd, big ? 1e-4 : 1e-5, big ? 1e-4 : 1e-5, `${op} forward`);
      assertClose(await x.grad!.data(), ref.grad, 1e-5, 1e-6, `${op} backward`);
      y.dispose(); x.grad!.dispose(); x.dispose();
    });
  }
}

for (const op of ['sum', 'mean', 'max'] as Op[]) {
  test(`${op}: backward vs central finite differences`, async () => {
    const shape = [3, 4, 5], axes = [0, 2];
    // Central differences of step 1e-4 straddle a max whose runner-up is closer than that: max draws
    // again until no two values are within 1e-3 of each other.
    let X = randArray(60, -2, 2);
    while (op === 'max' && Float32Array.from(X).sort().some((v, i, s) => i > 0 && v - s[i - 1] < 1e-3)) X = randArray(60, -2, 2);
    const W = randArray(4);
    const x = variable(tensor(X, shape));
    tidy(() => { backward(sum(mul(FNS[op](x, axes), tensor(W, [4])))); });
    const f = (v: Float64Array) => {
      const r = reduceRef(op === 'max' ? 'max' : 'sum', v, shape, axes, op === 'mean' ? 1 / 15 : 1);
      return r.reduce((s, y, i) => s + y * W[i], 0);
    };
    assertClose(await x.grad!.data(), numericGrad(f, X, 1e-4), 1e-3, 1e-4, `${op} fd`);
    x.grad!.dispose(); x.dispose();
  });
}

test('sumTo reduces broadcast dims and leading dims', async () => {
  const X = randArray(2 * 3 * 4);
  const x = tensor(X, [2, 3, 4]);
  const cases: [number[], number[]][] = [[[3, 4], [0]], [[1, 4], [0, 1]], [[3, 1], [0, 2]], [[2, 1, 4], [1]], [[2, 3, 4], []]];
  for (const [target, axes] of cases) {
    const y = tidy(() => sumTo(x, target));
    assert.equal(y.shape, target);
    assertClose(await y.data(), reduceRef('sum', X, [2, 3, 4], axes), 1e-5, 1e-6, `sumTo [${target}]`);
    if (y !== x) y.dispose();
  }
  assert.throws(() => sumTo(x, [5, 4]), (e: unknown) => e instanceof ShapeError);
  x.dispose();
});

test('sumTo records its reshape: a leading-dim reduction still passes the gradient back (it used to drop requiresGrad)', async () => {
  const X = randArray(2 * 3), W = randArray(3);
  const x = variable(tensor(X, [2, 3]));
  tidy(() => {
    const y = sumTo(x, [1, 3]); // sum over axis 0, then a reshape to keep the leading 1
    assert.ok(y.requiresGrad);
    backward(sum(mul(y, tensor(W, [1, 3]))));
  });
  // loss = sum_j W_j (x_0j + x_1j): dloss/dx_ij = W_j
  assertClose(await x.grad!.data(), [...W, ...W], 1e-6, 1e-7, 'grad');
  x.grad!.dispose(); x.dispose();
});

test('reductions reject out-of-range axes', () => {
  const x = tensor(randArray(6), [2, 3]);
  for (const f of [sum, mean, max]) {
    assert.throws(() => f(x, 2), (e: unknown) => e instanceof ShapeError);
    assert.throws(() => f(x, -3), (e: unknown) => e instanceof ShapeError);
  }
  x.dispose();
});

// ---------------------------------------------------------------------------------------------
// Kernel paths: vec4 along the reduced axis (rows4), vec4 of neighbouring outputs (cols4), scalar,
// each single-pass or chunked (with the merge pass), and the size-1 copy. Shapes sit on both sides of
// each threshold; forward only, against float64, for every op, on fresh random data. The thresholds
// are the software table's, passed per call (so the paths are the same under either table).
const REDUCE = TUNINGS.software.reduce;
const { targetInvocations: TI, minChunk: MC, maxChunks: MX } = REDUCE;

/** Forward check of every op on `shape`/`axes`; returns the plan (so callers can assert the path). */
async function checkForward(shape: number[], axes: number[] | undefined, what: string): Promise<ReducePlan> {
  const ax = normAxes(shape.length, axes);
  const n = numel(shape);
  const nRed = ax.reduce((a, i) => a * shape[i], 1);
  for (const op of ['sum', 'mean', 'max'] as Op[]) {
    // max: all-negative data half the time, so a wrong identity (0) would show.
    const X = op === 'max' && rand() < 0.5 ? randArray(n, -5, -1) : randArray(n, -1, 1);
    const x = tensor(X, shape);
    const y = FNS[op](x, axes, false, { tuning: { reduce: REDUCE } });
    const want = reduceRef(op === 'max' ? 'max' : 'sum', X, shape, ax, op === 'mean' ? 1 / Math.max(nRed, 1) : 1);
    const atol = op === 'max' ? 0 : (op === 'mean' ? 1 / Math.max(nRed, 1) : 1) * 2e-6 * Math.sqrt(nRed + 1);
    assertClose(await y.data(), want, 2e-6, atol, `${op} [${shape}] axes ${JSON.stringify(axes)} (${what})`);
    y.dispose(); x.dispose();
  }
  return withTuning({ reduce: REDUCE }, () => reducePlan(shape, ax));
}

// [shape, axes, expected mode, expected chunked?]
const PATHS: [number[], number[] | undefined, ReducePlan['mode'], boolean][] = [
  // rows4 vs scalar: reduced innermost length % 4.
  [[3, 508], [1], 'rows4', false], [[3, 509], [1], 'scalar', true], [[3, 510], [1], 'scalar', true], [[3, 511], [1], 'scalar', true],
  [[3, 4], [1], 'rows4', false], [[5, 1], [1], 'scalar', false],
  // MIN_CHUNK: chunking starts at 2 * MIN_CHUNK units of reduced length (few outputs).
  [[5, 4 * (2 * MC - 1)], [1], 'rows4', false], [[5, 4 * 2 * MC], [1], 'rows4', true],
  [[5, 2 * MC - 1], [1], 'scalar', false], [[5, 2 * MC + 2], [1], 'scalar', true], [[5, 2 * MC + 1], [1], 'scalar', true],
  // cols4 vs scalar: kept innermost length % 4, reduced outer.
  [[2 * MC - 1, 8], [0], 'cols4', false], [[2 * MC, 8], [0], 'cols4', true], [[2 * MC + 1, 12], [0], 'cols4', true],
  [[2 * MC - 1, 7], [0], 'scalar', false], [[2 * MC + 1, 7], [0], 'scalar', true], [[2 * MC, 9], [0], 'scalar', true],
  // TARGET_INVOCATIONS: enough outputs means one pass however long the reduction.
  [[2 * MC + 1, TI - 1], [0], 'scalar', true], [[2 * MC + 1, TI], [0], 'cols4', true], [[2 * MC + 1, TI + 1], [0], 'scalar', false],
  [[2 * MC + 1, 4 * TI], [0], 'cols4', false], [[TI - 1, 4 * 2 * MC], [1], 'rows4', true], [[TI, 4 * 2 * MC], [1], 'rows4', false],
  // MAX_CHUNKS: one output of a very long reduction.
  [[MX * MC * 2 + 3], undefined, 'scalar', true], [[MX * MC + 4], undefined, 'rows4', true],
  // Inner rows with outer reduced dims and kept dims between (bias gradients, per-channel statistics).
  [[8, 6, 5, 12], [0, 2, 3], 'rows4', false], [[8, 6, 5, 16], [0, 2, 3], 'rows4', true], [[3, 6, 7, 9], [0, 2, 3], 'scalar', true], [[4, 3, 56, 56], [0, 2, 3], 'rows4', true],
  [[3, 5, 7, 2], [0, 2], 'scalar', false], [[9, 4, 3, 8], [1, 2], 'cols4', false], [[130, 3, 5], [0, 1], 'scalar', true],
  [[56, 1296], [0], 'cols4', false], [[32, 1296], [1], 'rows4', true], [[1296, 56], [1], 'rows4', false], [[1000, 10], [0], 'scalar', true],
];

for (const [shape, axes, mode, chunked] of PATHS) {
  test(`path ${mode}${chunked ? ' chunked' : ''}: [${shape}] axes ${JSON.stringify(axes)} vs float64`, async () => {
    const p = await checkForward(shape, axes, mode);
    assert.is(p.mode, mode, 'mode');
    assert.is(p.nChunks > 1, chunked, `chunked (nChunks ${p.nChunks})`);
    assert.ok(p.nChunks <= MX && p.nChunks * p.chunkLen >= p.nRed && (p.nChunks - 1) * p.chunkLen < p.nRed, 'chunks cover the range');
  });
}

test('rank 10, alternate axes reduced: kept dims and outer reduced dims that do not merge fill every lane of the kernel\'s shape and stride vectors', async () => {
  // Reducing the odd axes keeps 5 dims and leaves 4 outer reduced ones (the innermost is the row);
  // reducing the even ones, the other way round. Each dim differs from its neighbours.
  const shape = [2, 3, 4, 3, 2, 5, 3, 2, 4, 3];
  await checkForward(shape, [1, 3, 5, 7, 9], 'odd axes');
  await checkForward(shape, [0, 2, 4, 6, 8], 'even axes');
});

test('size-1 axes only: a copy', async () => {
  for (const [shape, axes] of [[[1, 1001], [0]], [[5, 1, 3], [1]], [[1, 1, 8], [0, 1]], [[1], [0]]] as [number[], number[]][]) {
    await checkForward(shape, axes, 'copy');
  }
});

test('random shapes and axes vs float64', async () => {
  for (let it = 0; it < 40; it++) {
    const rank = 1 + Math.floor(rand() * 5);
    const shape = Array.from({ length: rank }, () => (rand() < 0.15 ? 1 : 1 + Math.floor(rand() * (rank <= 2 ? 300 : 13))));
    const axes = [...Array(rank).keys()].filter(() => rand() < 0.5);
    await checkForward(shape, rand() < 0.1 ? undefined : axes, `random #${it}`);
  }
});

test('mean backward is one dispatch: the gradient broadcast and its 1/n scale together', async () => {
  const shape = [3, 5, 7], X = randArray(numel(shape)), G = randArray(5);
  const x = variable(tensor(X, shape));
  const y = mean(x, [0, 2]);
  const d0 = new Map(runtime().dispatchByName);
  tidy(() => backward(y, tensor(G, [5])));
  // (test_poison: the test runner's fill of freed buffers.)
  const ran = [...runtime().dispatchByName].filter(([k, v]) => v !== (d0.get(k) ?? 0) && k !== 'test_poison').map(([k, v]) => `${k}=${v - (d0.get(k) ?? 0)}`);
  assert.equal(ran, ['binary=1'], 'backward dispatches');
  assertClose(await x.grad!.data(), reference('mean', X, shape, [0, 2], G).grad, 1e-6, 1e-7, 'dx');
  for (const t of [x.grad, x, y]) t!.dispose();
});

test('empty inputs: sum and mean are 0, empty outputs stay empty', async () => {
  const x = tensor(new Float32Array(0), [0, 3]);
  const s = sum(x, 0), m = mean(x, 0), e = sum(x, 1);
  assert.equal(Array.from(await s.data()), [0, 0, 0]);
  assert.equal(Array.from(await m.data()), [0, 0, 0]);
  assert.equal(e.shape, [0]);
  s.dispose(); m.dispose(); e.dispose(); x.dispose();
});

test('chunked reductions are deterministic (bit-identical on repeat)', async () => {
  for (const [shape, axes] of [[[MX * MC * 2 + 3], undefined], [[4, 3, 56, 56], [0, 2, 3]], [[2 * MC + 1, 7], [0]]] as [number[], number[] | undefined][]) {
    const x = tensor(randArray(numel(shape), -1, 1), shape);
    const a = sum(x, axes), b = sum(x, axes);
    assert.equal(Array.from(await a.data()), Array.from(await b.data()), `[${shape}]`);
    a.dispose(); b.dispose(); x.dispose();
  }
});

test.run();
