import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, randArray, randInt, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { gather, gatherSum, scatterRows } from '../../kernels/gather/gather.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { gatherRef, gatherGradRef } from '../../kernels/gather/reference.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

// [V, D, indices shape]. V <= M takes the per-row scatter kernel, V > M the per-index one.
const CASES: [number, number, number[]][] = [
  [1, 1, [1]], [7, 3, [5]], [10, 33, [4, 7]], [130, 5, [200]], [3, 70, [2, 3, 4]], [9, 4, []], [6, 2, [0]], [33, 1, [130]], [5, 3, [1100]], [700, 2, [3, 333]],
  [3000, 70, [37]], [200, 130, [3, 5]],
];

for (const [V, D, ishape] of CASES) {
  test(`gather (${V}, ${D}) at [${ishape}]: forward and scatter-add backward vs float64`, async () => {
    const M = numel(ishape);
    const T = randArray(V * D), I = randInt(M, V), W = randArray(M * D);
    const table = variable(tensor(T, [V, D]));
    const indices = tensor(I, ishape, 'i32');
    const y = tidy(() => {
      const y = gather(table, indices);
      backward(sum(mul(y, tensor(W, [...ishape, D]))));
      return y;
    });
    assert.equal(y.shape, [...ishape, D]);
    assertClose(await y.data(), gatherRef(T, V, D, I), 0, 0, 'forward');
    // A row's gradient sums every term that gathered it, in any order: float32 rounding grows with
    // the sum of their magnitudes (about 110 for 1100 indices into 5 rows), while a term lost or
    // added twice is off by one term's size.
    const magnitude = gatherGradRef(W.map(Math.abs), V, D, I).reduce((a, b) => Math.max(a, b), 1);
    assertClose(await table.grad!.data(), gatherGradRef(W, V, D, I), 1e-5, 1e-6 * magnitude, 'backward');
    y.dispose(); table.grad!.dispose(); table.dispose(); indices.dispose();
  });
}

test('gather: backward vs central finite differences with repeated indices', async () => {
  const V = 5, D = 3;
  const T = randArray(V * D), I = new Int32Array([4, 1, 4, 4, 0, 1, 2]), W = randArray(I.length * D);
  const table = variable(tensor(T, [V, D]));
  const indices = tensor(I, [7], 'i32');
  tidy(() => { backward(sum(mul(gather(table, indices), tensor(W, [7, D])))); });
  const f = (v: Float64Array) => gatherRef(v, V, D, I).reduce((s, y, i) => s + y * W[i], 0);
  assertClose(await table.grad!.data(), numericGrad(f, T), 1e-5, 1e-5, 'fd');
  const g = await table.grad!.data();
  for (let d = 0; d < D; d++) assert.is(g[3 * D + d], 0, 'unused row 3 has zero gradient');
  table.grad!.dispose(); table.dispose(); indices.dispose();
});

test('gather clamps out-of-range indices in forward and backward', async () => {
  const V = 4, D = 5;
  const T = randArray(V * D), I = new Int32Array([-1, 4, 100, 2, -7, 3]), W = randArray(I.length * D);
  const table = variable(tensor(T, [V, D]));
  const indices = tensor(I, [6], 'i32');
  const y = tidy(() => { const y = gather(table, indices); backward(sum(mul(y, tensor(W, [6, D])))); return y; });
  const yd = await y.data();
  assertClose(yd.subarray(0, D), T.subarray(0, D), 0, 0, 'index -1 reads row 0');
  assertClose(yd.subarray(D, 2 * D), T.subarray(3 * D, 4 * D), 0, 0, 'index V reads row V-1');
  assertClose(await table.grad!.data(), gatherGradRef(W, V, D, I), 1e-6, 1e-6, 'clamped grad');
  y.dispose(); table.grad!.dispose(); table.dispose(); indices.dispose();
});

test('gather with paddingIdx: that row gets no gradient (torch padding_idx), the others their sums', async () => {
  const V = 37, D = 19, M = 150;
  for (const padIdx of [0, 5, -1]) {
    const pad = padIdx < 0 ? V + padIdx : padIdx;
    // Every row appears, the padding row several times.
    const I = Int32Array.from({ length: M }, (_, m) => (m % 4 === 0 ? pad : Math.floor(rand() * V)));
    const T = randArray(V * D), W = randArray(M * D);
    const table = variable(tensor(T, [V, D]));
    const indices = tensor(I, [M], 'i32');
    const y = tidy(() => { const y = gather(table, indices, { paddingIdx: padIdx }); backward(sum(mul(y, tensor(W, [M, D])))); return y; });
    assertClose(await y.data(), gatherRef(T, V, D, I), 0, 0, 'forward reads the padding row as any other');
    const grad = await table.grad!.data();
    assert.ok(grad.subarray(pad * D, pad * D + D).every((v) => v === 0), `row ${pad} has no gradient`);
    assertClose(grad, gatherGradRef(W, V, D, I, pad), 1e-5, 1e-6, `backward, paddingIdx ${padIdx}`);
    y.dispose(); table.grad!.dispose(); table.dispose(); indices.dispose();
  }
  const t = tensor(new Float32Array(6), [3, 2]), i = tensor([0], [1], 'i32');
  assert.throws(() => gather(t, i, { paddingIdx: 3 }), /paddingIdx 3 is not a row of a table with 3 rows/);
  t.dispose(); i.dispose();
});

test('gather backward is deterministic (bitwise equal across runs) and i32 tables gather', async () => {
  const V = 3, D = 40, M = 300;
  const table = variable(tensor(randArray(V * D), [V, D]));
  const indices = tensor(randInt(M, V), [M], 'i32');
  const W = tensor(randArray(M * D, -100, 100), [M, D]);
  const run = async () => {
    tidy(() => { backward(sum(mul(gather(table, indices), W))); });
    const g = await table.grad!.data();
    table.grad!.dispose(); table.grad = null;
    return g;
  };
  const a = await run(), b = await run();
  assert.equal(Array.from(new Uint32Array(a.buffer)), Array.from(new Uint32Array(b.buffer)));
  table.dispose(); indices.dispose(); W.dispose();
  const TI = randInt(12, 1 << 30);
  const ti = tensor(TI, [4, 3], 'i32'), ii = tensor([3, 0, 0], [3], 'i32');
  const yi = gather(ti, ii);
  assert.is(yi.dtype, 'i32');
  assert.equal(Array.from(await yi.data()), Array.from(gatherRef(TI, 4, 3, [3, 0, 0])));
  ti.dispose(); ii.dispose(); yi.dispose();
});

// Indices into a few rows of a large table (V > M: the per-index kernel by default), many repeated,
// some clamped, some the padding row: both scatter kernels against float64, and against each other
// bit for bit (both add a row's terms in increasing index order; large terms of both signs make
// any other order round differently).
test('gather backward: the per-row and per-index scatter kernels give bit-identical gradients', async () => {
  const V = 3000, D = 67, M = 257, pad = 17;
  const hot = Int32Array.from({ length: 29 }, () => Math.floor(rand() * V));
  const I = Int32Array.from({ length: M }, () => hot[Math.floor(rand() * hot.length)]);
  I[5] = pad; I[100] = pad; I[7] = -3; I[8] = V + 4; I[9] = V - 1; I[200] = 0;
  const W = randArray(M * D, -100, 100);
  const g = tensor(W, [M, D]), indices = tensor(I, [M], 'i32');
  const ref = gatherGradRef(W, V, D, I, pad);
  const magnitude = gatherGradRef(W.map(Math.abs), V, D, I).reduce((a, b) => Math.max(a, b), 1);
  const bits: number[][] = [];
  for (const by of ['row', 'index'] as const) {
    const dt = scatterRows(indices, g, V, D, pad, by);
    const a = await dt.data();
    assertClose(a, ref, 1e-5, 1e-6 * magnitude, `${by} kernel vs float64`);
    assert.ok(a.subarray(pad * D, pad * D + D).every((x) => x === 0), `${by} kernel: the padding row is zero`);
    bits.push(Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length)));
    dt.dispose();
  }
  assert.equal(bits[1], bits[0], 'bit-identical');
  g.dispose(); indices.dispose();
});

test('gather rejects bad arguments', () => {
  const t = tensor(randArray(6), [2, 3]);
  const bad = (f: () => unknown) => assert.throws(f, (e: unknown) => e instanceof ShapeError);
  bad(() => gather(t, tensor([0, 1], [2], 'f32')));
  bad(() => gather(tensor(randArray(6), [6]), tensor([0], [1], 'i32')));
  bad(() => gather(tensor([], [0, 3]), tensor([0], [1], 'i32')));
  t.dispose();
});

// gatherSum: words + (types + positions) as BERT's embeddings look them up, in one kernel; the
// reference sums float64 gathers at the indices (a position lookup at m % period).
test('gatherSum: lookups at indices and by position summed in one kernel, and each table\'s gradient, vs float64', async () => {
  const ops = () => runtime().dispatches - (runtime().dispatchByName.get('test_poison') ?? 0);
  const [Bn, T, D] = [3, 7, 5], shape = [Bn, T], M = Bn * T;
  const V = [11, 2, 9], pad = [0, undefined, undefined];
  const tabs = V.map((v) => randArray(v * D));
  const ids = new Int32Array(randInt(M, V[0])), types = new Int32Array(randInt(M, V[1]));
  ids[3] = 0; ids[4] = -2; ids[5] = 40; // the padding row, and clamped indices
  for (const period of [T, 1]) {
    const rowsOf = [ids, types, Int32Array.from({ length: M }, (_, m) => m % period)];
    const W = randArray(M * D);
    const tables = tabs.map((a, j) => variable(tensor(a, [V[j], D])));
    const idT = tensor(ids, shape, 'i32'), tyT = tensor(types, shape, 'i32');
    let fwd = 0;
    const y = tidy(() => {
      const d0 = ops();
      const y = gatherSum(tables, [idT, tyT, { period }], shape, pad);
      fwd = ops() - d0;
      backward(sum(mul(y, tensor(W, [...shape, D]))));
      return y;
    });
    const refs = rowsOf.map((r, j) => gatherRef(tabs[j], V[j], D, r));
    assert.equal(y.shape, [Bn, T, D]);
    assertClose(await y.data(), refs[0].map((v, i) => v + (refs[1][i] + refs[2][i])), 1e-6, 1e-6, `period ${period}: forward`);
    assert.is(fwd, 1, 'one kernel');
    for (let j = 0; j < 3; j++) {
      assertClose(await tables[j].grad!.data(), gatherGradRef(W, V[j], D, rowsOf[j], pad[j] ?? -1), 1e-5, 1e-6, `period ${period}: table ${j} gradient`);
    }
    for (const t of [y, idT, tyT, ...tables, ...tables.map((x) => x.grad)]) t?.dispose();
  }
  const tb = tensor(randArray(8), [4, 2]), id = tensor(new Int32Array(6), [2, 3], 'i32');
  assert.throws(() => gatherSum([tb], [{ period: 5 }], [2, 3]), (e: unknown) => e instanceof ShapeError && /period 5/.test((e as Error).message));
  assert.throws(() => gatherSum([tb], [id], [3, 2]), (e: unknown) => e instanceof ShapeError && /indices of table 0/.test((e as Error).message));
  assert.throws(() => gatherSum([tb, tensor(randArray(9), [3, 3])], [id, id], [2, 3]), (e: unknown) => e instanceof ShapeError && /table 1/.test((e as Error).message));
  assert.throws(() => gatherSum([tb], [], [2, 3]), (e: unknown) => e instanceof ShapeError && /row sources/.test((e as Error).message));
  tb.dispose(); id.dispose();
});

test.run();
