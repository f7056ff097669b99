import { test as anyTest } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, assertClose, numericGrad, laneTests, subgroupOnly } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { matmul, matmulRaw, matmulStrided, linear, type MatmulVariant, type MatmulView } from '../../kernels/matmul/matmul.ts';
import { Tensor } from '../../engine/core/tensor.ts';
import { matmulRef } from '../../kernels/matmul/reference.ts';
import { subgroupSize } from '../../kernels/matmul/subgroup.ts';
import { variable } from '../../engine/core/tape.ts';

const { test, subgroupTest } = laneTests(anyTest);
/** The kernels a case runs: only the subgroup kernel in the 8-lane run (helpers.ts laneTests). */
const kernels = (vs: MatmulVariant[]) => (subgroupOnly ? vs.filter((v) => v === 'subgroup') : vs);

test.before(async () => { await setup(); });

const VARIANTS: MatmulVariant[] = ['naive', 'blocked', 'tiled', 'auto'];
const TRANS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];
const numelOf = (s: number[]) => s.reduce((p, q) => p * q, 1);
/** Stored shape of an operand given its batch dims, logical (rows, cols) and whether it is transposed. */
const stored = (batch: number[], r: number, c: number, t: boolean) => [...batch, ...(t ? [c, r] : [r, c])];
const tag = (tA: boolean, tB: boolean) => `${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`;

/**
 * Reference gradients of loss = sum(op(A)·op(B) * W) by direct accumulation over every (batch, m, n, k)
 * term into the operands' storage, so broadcast batches add up with no reduction logic to get wrong.
 */
function refGrads(A: Float32Array, aShape: number[], B: Float32Array, bShape: number[], W: ArrayLike<number>, tA: boolean, tB: boolean) {
  const M = tA ? aShape.at(-1)! : aShape.at(-2)!, K = tA ? aShape.at(-2)! : aShape.at(-1)!;
  const N = tB ? bShape.at(-2)! : bShape.at(-1)!;
  const aB = aShape.slice(0, -2), bB = bShape.slice(0, -2);
  const r = Math.max(aB.length, bB.length);
  const outB = Array.from({ length: r }, (_, i) => Math.max(aB[i - r + aB.length] ?? 1, bB[i - r + bB.length] ?? 1));
  const dA = new Float64Array(A.length), dB = new Float64Array(B.length);
  for (let t = 0; t < numelOf(outB); t++) {
    const idx: number[] = [];
    for (let d = r - 1, rem = t; d >= 0; d--) { idx[d] = rem % outB[d]; rem = Math.floor(rem / outB[d]); }
    const mat = (s: number[]) => s.reduce((acc, sz, d) => acc * sz + (sz === 1 ? 0 : idx[r - s.length + d]), 0);
    const ao = mat(aB) * M * K, bo = mat(bB) * K * N;
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      const w = W[(t * M + m) * N + n];
      for (let k = 0; k < K; k++) {
        const ia = ao + (tA ? k * M + m : m * K + k), ib = bo + (tB ? n * K + k : k * N + n);
        dA[ia] += w * B[ib];
        dB[ib] += w * A[ia];
      }
    }
  }
  return { dA, dB };
}

async function checkForward(variant: MatmulVariant, aShape: number[], bShape: number[], tA: boolean, tB: boolean, what: string) {
  const A = randArray(numelOf(aShape)), B = randArray(numelOf(bShape));
  const ref = matmulRef(A, aShape, B, bShape, { transA: tA, transB: tB });
  const y = tidy(() => matmul(tensor(A, aShape), tensor(B, bShape), { transA: tA, transB: tB, variant }));
  assert.equal(y.shape, ref.shape, `${what}: shape`);
  assertClose(await y.data(), ref.data, 1e-4, 1e-5, what);
  y.dispose();
}

// (M, K, N): edges of the 4x8 register blocks and the 64/128 tiles, K=1, vectors, a single element.
const SIZES: [number, number, number][] = [[1, 1, 1], [7, 33, 130], [130, 7, 33], [33, 130, 1], [1, 130, 7], [130, 1, 33], [33, 33, 33], [5, 3, 9]];
for (const variant of VARIANTS) {
  for (const [tA, tB] of TRANS) {
    test(`matmul ${variant} ${tag(tA, tB)}: sizes 1..130 vs float64`, async () => {
      for (const [M, K, N] of SIZES) {
        await checkForward(variant, stored([], M, K, tA), stored([], K, N, tB), tA, tB, `${variant} ${tag(tA, tB)} ${M}x${K}x${N}`);
      }
    });
  }
}

// Batch dims: equal, a shared b (folded into rows unless a is transposed), a shared a, broadcast on both sides.
const BATCHES: [number[], number[]][] = [[[3], [3]], [[2, 3], []], [[], [4]], [[2, 1, 3], [4, 1]], [[1], [2]], [[2, 3], [1, 1]]];
for (const variant of VARIANTS) {
  test(`matmul ${variant}: batched and broadcast batch dims, every transpose`, async () => {
    for (const [ba, bb] of BATCHES) for (const [tA, tB] of TRANS) {
      const [M, K, N] = [7, 9, 33];
      await checkForward(variant, stored(ba, M, K, tA), stored(bb, K, N, tB), tA, tB, `${variant} ${tag(tA, tB)} batch [${ba}] x [${bb}]`);
    }
  });
}

test('matmul tiled: 128x128 tiles with ragged edges (520 x 37 x 260)', async () => {
  for (const [tA, tB] of TRANS) await checkForward('tiled', stored([], 520, 37, tA), stored([], 37, 530, tB), tA, tB, `tiled big ${tag(tA, tB)}`);
});

test('matmul: more row and batch workgroups than one dispatch allows', async () => {
  // naive: 8 rows per workgroup, so 524,300 rows need two dispatches along y.
  await checkForward('naive', [524300, 1], [1, 2], false, false, 'naive rows > 65535 workgroups');
  // 65,537 batches need two dispatches along z.
  for (const v of ['naive', 'blocked'] as const) await checkForward(v, [65537, 1, 2], [65537, 2, 1], false, false, `${v} batches > 65535`);
});

test('matmul: K = 0 gives zeros, empty M gives an empty result', async () => {
  for (const v of VARIANTS) {
    const y = matmul(tensor([], [3, 0]), tensor([], [0, 5]), { variant: v });
    assertClose(await y.data(), new Array(15).fill(0), 0, 0, `${v} K=0`);
    const e = matmul(tensor([], [0, 4]), tensor(randArray(8), [4, 2]), { variant: v });
    assert.equal(e.shape, [0, 2]);
    y.dispose(); e.dispose();
  }
});

test('matmul: 1-D operands act as vectors (torch.matmul rules)', async () => {
  const K = 9, N = 5, M = 4;
  const v = randArray(K), B = randArray(K * N), A = randArray(M * K);
  const vb = tidy(() => matmul(tensor(v), tensor(B, [K, N])));
  assert.equal(vb.shape, [N]);
  assertClose(await vb.data(), matmulRef(v, [1, K], B, [K, N]).data, 1e-4, 1e-5, 'vector x matrix');
  const av = tidy(() => matmul(tensor(A, [M, K]), tensor(v)));
  assert.equal(av.shape, [M]);
  assertClose(await av.data(), matmulRef(A, [M, K], v, [K, 1]).data, 1e-4, 1e-5, 'matrix x vector');
  const dot = tidy(() => matmul(tensor(v), tensor(v)));
  assert.equal(dot.shape, []);
  assertClose(await dot.data(), matmulRef(v, [1, K], v, [K, 1]).data, 1e-4, 1e-5, 'dot');
  vb.dispose(); av.dispose(); dot.dispose();
  // Gradients flow through the inserted and dropped dims: (K)·(K, N) with weights W on the output.
  const W = randArray(N);
  const x = variable(tensor(v)), w = variable(tensor(B, [K, N]));
  tidy(() => { backward(sum(mul(matmul(x, w), tensor(W)))); });
  const { dA, dB } = refGrads(v, [1, K], B, [K, N], W, false, false);
  assertClose(await x.grad!.data(), dA, 1e-4, 1e-5, 'vector dx');
  assertClose(await w.grad!.data(), dB, 1e-4, 1e-5, 'vector dW');
  for (const t of [x.grad!, w.grad!, x, w]) t.dispose();
});

test('matmul: shape errors name the problem', () => {
  tidy(() => {
    assert.throws(() => matmul(tensor(randArray(6), [2, 3]), tensor(randArray(8), [4, 2])), (e: unknown) => e instanceof ShapeError && /inner dimension K=4, expected K=3/.test((e as Error).message));
    assert.throws(() => matmul(tensor(randArray(12), [2, 2, 3]), tensor(randArray(18), [3, 3, 2])), (e: unknown) => e instanceof ShapeError && /cannot be broadcast/.test((e as Error).message));
    assert.throws(() => matmul(tensor([1], []), tensor([1], [1, 1])), (e: unknown) => e instanceof ShapeError);
    assert.throws(() => linear(tensor(randArray(6), [2, 3]), tensor(randArray(8), [2, 4])), (e: unknown) => e instanceof ShapeError && /linear/.test((e as Error).message));
  });
});

async function checkBackward(variant: MatmulVariant, aShape: number[], bShape: number[], tA: boolean, tB: boolean, what: string) {
  const A = randArray(numelOf(aShape)), B = randArray(numelOf(bShape));
  const ref = matmulRef(A, aShape, B, bShape, { transA: tA, transB: tB });
  const W = randArray(ref.data.length);
  const a = variable(tensor(A, aShape)), b = variable(tensor(B, bShape));
  tidy(() => { backward(sum(mul(matmul(a, b, { transA: tA, transB: tB, variant }), tensor(W, ref.shape)))); });
  const { dA, dB } = refGrads(A, aShape, B, bShape, W, tA, tB);
  assertClose(await a.grad!.data(), dA, 1e-4, 1e-5, `${what} da`);
  assertClose(await b.grad!.data(), dB, 1e-4, 1e-5, `${what} db`);
  for (const t of [a.grad!, b.grad!, a, b]) t.dispose();
}

for (const variant of ['naive', 'auto'] as MatmulVariant[]) {
  test(`matmul ${variant} backward: every transpose, batched and broadcast, vs reference gradients`, async () => {
    const cases: [number[], number[]][] = [[[], []], [[3], [3]], [[2, 3], []], [[], [4]], [[2, 1], [3]]];
    for (const [ba, bb] of cases) for (const [tA, tB] of TRANS) {
      const [M, K, N] = [7, 5, 33];
      await checkBackward(variant, stored(ba, M, K, tA), stored(bb, K, N, tB), tA, tB, `${variant} ${tag(tA, tB)} [${ba}] x [${bb}]`);
    }
  });
}

test('matmul backward vs finite differences (3x4 · 4x5, every transpose)', async () => {
  for (const [tA, tB] of TRANS) {
    const aShape = stored([2], 3, 4, tA), bShape = stored([], 4, 5, tB);
    const A = randArray(numelOf(aShape)), B = randArray(numelOf(bShape)), W = randArray(2 * 3 * 5);
    const a = variable(tensor(A, aShape)), b = variable(tensor(B, bShape));
    tidy(() => { backward(sum(mul(matmul(a, b, { transA: tA, transB: tB }), tensor(W, [2, 3, 5])))); });
    const loss = (x: ArrayLike<number>, y: ArrayLike<number>) =>
      matmulRef(x, aShape, y, bShape, { transA: tA, transB: tB }).data.reduce((s, v, i) => s + v * W[i], 0);
    assertClose(await a.grad!.data(), numericGrad((x) => loss(x, B), A), 1e-3, 1e-4, `fd da ${tag(tA, tB)}`);
    assertClose(await b.grad!.data(), numericGrad((x) => loss(A, x), B), 1e-3, 1e-4, `fd db ${tag(tA, tB)}`);
    for (const t of [a.grad!, b.grad!, a, b]) t.dispose();
  }
});

test('matmul backward: only the operand that requires grad gets one', async () => {
  const A = randArray(6 * 4), B = randArray(4 * 3), W = randArray(6 * 3);
  const a = tensor(A, [6, 4]), b = variable(tensor(B, [4, 3]));
  tidy(() => { backward(sum(mul(matmul(a, b), tensor(W, [6, 3])))); });
  assert.is(a.grad, null);
  assertClose(await b.grad!.data(), refGrads(A, [6, 4], B, [4, 3], W, false, false).dB, 1e-4, 1e-5, 'db');
  b.grad!.dispose(); a.dispose(); b.dispose();
});

test('linear: y = x·Wᵀ + b forward and backward (x, weight, bias) vs reference', async () => {
  for (const [xShape, withBias] of [[[2, 3, 7], true], [[5, 7], false], [[7], true]] as [number[], boolean][]) {
    const [outF, inF] = [6, 7];
    const rows = numelOf(xShape) / inF;
    const X = randArray(numelOf(xShape)), Wt = randArray(outF * inF), Bi = randArray(outF), G = randArray(rows * outF);
    const x = variable(tensor(X, xShape)), w = variable(tensor(Wt, [outF, inF])), bias = variable(tensor(Bi, [outF]));
    const y = tidy(() => {
      const y = linear(x, w, withBias ? bias : null);
      backward(sum(mul(y, tensor(G, y.shape))));
      return y;
    });
    assert.equal(y.shape, [...xShape.slice(0, -1), outF]);
    const ref = matmulRef(X, [rows, inF], Wt, [outF, inF], { transB: true }).data.map((v, i) => v + (withBias ? Bi[i % outF] : 0));
    assertClose(await y.data(), ref, 1e-4, 1e-5, `linear [${xShape}] forward`);
    const { dA, dB } = refGrads(X, [rows, inF], Wt, [outF, inF], G, false, true);
    assertClose(await x.grad!.data(), dA, 1e-4, 1e-5, 'linear dx');
    assertClose(await w.grad!.data(), dB, 1e-4, 1e-5, 'linear dW');
    if (withBias) {
      const dBias = new Float64Array(outF);
      for (let i = 0; i < G.length; i++) dBias[i % outF] += G[i];
      assertClose(await bias.grad!.data(), dBias, 1e-4, 1e-5, 'linear dbias');
    } else assert.is(bias.grad, null);
    for (const t of [y, x.grad, w.grad, bias.grad, x, w, bias]) t?.dispose();
  }
});

// The subgroup kernel needs the device's 'subgroups' feature and vec4-aligned operands; elsewhere
// forcing it must refuse rather than quietly run another kernel.
subgroupTest('matmul subgroup: every transpose, ragged tiles, batched and broadcast, forward and backward vs float64', async () => {
  if (!subgroupSize()) {
    assert.throws(() => matmul(tensor(randArray(16), [4, 4]), tensor(randArray(16), [4, 4]), { variant: 'subgroup' }), (e: unknown) => e instanceof ShapeError);
    return;
  }
  assert.throws(() => matmul(tensor(randArray(21), [3, 7]), tensor(randArray(28), [7, 4]), { variant: 'subgroup' }), (e: unknown) => e instanceof ShapeError);
  for (const [tA, tB] of TRANS) {
    for (const [M, K, N] of [[36, 8, 132], [4, 4, 4], [68, 12, 40], [132, 20, 4], [8, 0, 12]] as const) {
      await checkForward('subgroup', stored([], M, K, tA), stored([], K, N, tB), tA, tB, `subgroup ${tag(tA, tB)} ${M}x${K}x${N}`);
    }
    for (const [ba, bb] of [[[2, 3], [3]], [[3], []], [[], [2]]] as [number[], number[]][]) {
      await checkForward('subgroup', stored(ba, 12, 16, tA), stored(bb, 16, 8, tB), tA, tB, `subgroup ${tag(tA, tB)} batch [${ba}] x [${bb}]`);
    }
    await checkBackward('subgroup', stored([2], 8, 12, tA), stored([], 12, 16, tB), tA, tB, `subgroup backward ${tag(tA, tB)}`);
  }
});

// ROWSUM: the same dispatch sums each row of op(a) over k (a linear layer's bias gradient beside its
// weight gradient), on every kernel, every transpose, odd and vec4-aligned sizes, batched.
subgroupTest('matmulRaw rowSum: row sums of op(a) beside the product, every kernel and transpose, vs float64', async () => {
  const variants = kernels(['naive', 'blocked', 'tiled', ...(subgroupSize() ? ['subgroup' as const] : [])]);
  for (const variant of variants) {
    for (const [tA, tB] of TRANS) {
      const sizes = variant === 'subgroup' ? [[36, 8, 132], [132, 20, 4], [8, 512, 16]] : [[37, 11, 13], [5, 300, 3], [70, 9, 130]];
      for (const [M, K, N] of sizes) {
        for (const batch of [[], [3]]) {
          const aShape = stored(batch, M, K, tA), bShape = stored([], K, N, tB);
          const A = randArray(numelOf(aShape)), B = randArray(numelOf(bShape));
          const nb = numelOf(batch), rs = new Float64Array(nb * M);
          let absSum = 0;  // the largest row's sum of |a|: the scale of the f32 sum's rounding error
          for (let t = 0; t < nb; t++) for (let m = 0; m < M; m++) {
            let s = 0;
            for (let k = 0; k < K; k++) { const a = A[t * M * K + (tA ? k * M + m : m * K + k)]; rs[t * M + m] += a; s += Math.abs(a); }
            absSum = Math.max(absSum, s);
          }
          const what = `${variant} ${tag(tA, tB)} ${M}x${K}x${N} batch [${batch}]`;
          const sums = Tensor.alloc([nb * M]);
          const y = matmulRaw(tensor(A, aShape), tensor(B, bShape), tA, tB, variant, 'matmul', null, { rowSum: sums });
          assertClose(await y.data(), matmulRef(A, aShape, B, bShape, { transA: tA, transB: tB }).data, 1e-4, 1e-5, `${what}: product`);
          // An f32 sum of K terms is off by about sqrt(K) roundings of its partial sums (1.2e-5 was seen for K = 300, sum 0.18).
          assertClose(await sums.data(), rs, 1e-5, 2 * Math.sqrt(K) * 2 ** -24 * absSum, `${what}: row sums`);
          y.dispose(); sums.dispose();
        }
      }
    }
  }
  assert.throws(() => matmulRaw(tensor(randArray(6), [2, 3]), tensor(randArray(12), [3, 4]), false, false, 'auto', 'matmul', null, { rowSum: Tensor.alloc([3]) }),
    (e: unknown) => e instanceof ShapeError && /rowSum/.test((e as Error).message));
});

// ADD: out = prev + the product, added in the store (a gradient accumulated without an add dispatch).
subgroupTest('matmulRaw addTo: prev + op(a)·op(b) in the store, every kernel and transpose, vs float64', async () => {
  const variants = kernels(['naive', 'blocked', 'tiled', ...(subgroupSize() ? ['subgroup' as const] : [])]);
  for (const variant of variants) {
    for (const [tA, tB] of TRANS) {
      const [M, K, N] = variant === 'subgroup' ? [36, 8, 132] : [37, 11, 13];
      const aShape = stored([3], M, K, tA), bShape = stored([], K, N, tB);
      const A = randArray(numelOf(aShape)), B = randArray(numelOf(bShape)), P = randArray(3 * M * N);
      const ref = matmulRef(A, aShape, B, bShape, { transA: tA, transB: tB }).data.map((v, i) => v + P[i]);
      const y = matmulRaw(tensor(A, aShape), tensor(B, bShape), tA, tB, variant, 'matmul', null, { addTo: tensor(P, [3, M, N]) });
      assertClose(await y.data(), ref, 1e-4, 1e-5, `${variant} ${tag(tA, tB)} + prev`);
      y.dispose();
    }
  }
  assert.throws(() => matmulRaw(tensor(randArray(6), [2, 3]), tensor(randArray(12), [3, 4]), false, false, 'auto', 'matmul', null, { addTo: tensor(randArray(6), [2, 3]) }),
    (e: unknown) => e instanceof ShapeError && /addTo/.test((e as Error).message));
});

// Strided views: attention's heads read from and written to (B, T, H*D) in place. The reference
// permutes on the host to (B, H, T, D) and back, and takes gradients of sum(out * W) (refGrads).
subgroupTest('matmulStrided: (B, T, H*D) heads read and written through strides, every kernel and transpose, forward and backward vs float64', async () => {
  const variants = kernels(['naive', 'blocked', 'tiled', 'auto', ...(subgroupSize() ? ['subgroup' as const] : [])]);
  const Bn = 2, H = 3;
  // (B, R, H, C) <-> (B, H, R, C) on the host.
  const toHeads = (x: ArrayLike<number>, R: number, C: number, back = false) => {
    const y = new Float32Array(x.length);
    for (let b = 0; b < Bn; b++) for (let r = 0; r < R; r++) for (let h = 0; h < H; h++) for (let c = 0; c < C; c++) {
      const i = ((b * R + r) * H + h) * C + c, j = ((b * H + h) * R + r) * C + c;
      if (back) y[i] = x[j]; else y[j] = x[i];
    }
    return y;
  };
  // A (B, R, H*C) tensor read as (B, H, R, C).
  const heads = (R: number, C: number): MatmulView => ({ shape: [Bn, H, R, C], strides: [R * H * C, C, H * C, 1] });
  for (const variant of variants) {
    for (const [M, K, N] of variant === 'subgroup' ? [[4, 8, 12], [8, 4, 8]] : [[5, 7, 3], [9, 8, 8]]) {
      for (const [tA, tB] of TRANS) {
        const what = `${variant} ${tag(tA, tB)} ${M}x${K}x${N}`;
        // Stored (rows, cols) of a and b per head, each operand a (B, rows, H*cols) tensor.
        const [ar, ac] = tA ? [K, M] : [M, K], [br, bc] = tB ? [N, K] : [K, N];
        const X = randArray(Bn * ar * H * ac), Y = randArray(Bn * br * H * bc);
        const A = toHeads(X, ar, ac), aShape = [Bn, H, ar, ac], B = toHeads(Y, br, bc), bShape = [Bn, H, br, bc];
        const ref = matmulRef(A, aShape, B, bShape, { transA: tA, transB: tB }); // (B, H, M, N)
        const W = randArray(ref.data.length);
        const x = variable(tensor(X, [Bn, ar, H * ac])), y = variable(tensor(Y, [Bn, br, H * bc]));
        const out = matmulStrided(x, y, { a: heads(ar, ac), b: heads(br, bc) }, { transA: tA, transB: tB, variant });
        assert.equal(out.shape, [Bn, H, M, N], `${what}: shape`);
        assertClose(await out.data(), ref.data, 1e-4, 1e-5, `${what}: forward`);
        tidy(() => { backward(sum(mul(out, tensor(W, out.shape)))); return undefined; });
        const { dA, dB } = refGrads(A, aShape, B, bShape, W, tA, tB);
        assertClose(await x.grad!.data(), toHeads(dA, ar, ac, true), 1e-4, 1e-5, `${what}: d(a)`);
        assertClose(await y.grad!.data(), toHeads(dB, br, bc, true), 1e-4, 1e-5, `${what}: d(b)`);
        // The product written into a (B, M, H*N) tensor through a heads view.
        const o2 = matmulStrided(x, y, { a: heads(ar, ac), b: heads(br, bc), out: heads(M, N) }, { transA: tA, transB: tB, variant, outShape: [Bn, M, H * N] });
        assertClose(await o2.data(), toHeads(ref.data, M, N, true), 1e-4, 1e-5, `${what}: strided out`);
        for (const t of [x, y, out, o2, x.grad, y.grad]) t?.dispose();
      }
    }
  }
  const x = tensor(randArray(24), [2, 3, 4]);
  assert.throws(() => matmulStrided(x, x, { a: { shape: [2, 3, 4], strides: [12, 5, 1] } }, { transB: true }), (e: unknown) => e instanceof ShapeError && /outside/.test((e as Error).message));
  assert.throws(() => matmulStrided(x, x, { a: { shape: [2, 4, 3], strides: [12, 1, 4] } }), (e: unknown) => e instanceof ShapeError && /last dim/.test((e as Error).message));
  x.dispose();
});

test.run();
