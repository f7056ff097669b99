// f16 kernels against the float64 references: the reference takes the inputs as rounded to f16 (what the
// kernel sees), so the tolerance is what the kernel adds: the f16 rounding of its result (half an ulp,
// 2^-11 relative, 2^-25 absolute among the subnormals) plus the f32 arithmetic inside (for a
// length-K dot product, about K f32 roundings of the terms' magnitudes).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, assertClose, runSeed } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, type Tensor } from '../../engine/core/tensor.ts';
import { variable } from '../../engine/core/tape.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { UNARY, BINARY, unary, binary, mul, type UnaryOp, type BinaryOp } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { permute } from '../../kernels/permute/permute.ts';
import { slice, concat } from '../../kernels/slice/slice.ts';
import { gather } from '../../kernels/gather/gather.ts';
import { cast } from '../../kernels/cast/cast.ts';
import { roundToHalf } from '../../kernels/cast/reference.ts';
import { matmul, type MatmulVariant } from '../../kernels/matmul/matmul.ts';
import { matmulRef } from '../../kernels/matmul/reference.ts';
import { subgroupSize } from '../../kernels/matmul/subgroup.ts';

test.before(async () => { await setup(); });

const U16 = 2 ** -11, SUB = 2 ** -25, U32 = 2 ** -24;
const half = (xs: ArrayLike<number>) => Float64Array.from(xs, roundToHalf);
const numelOf = (s: number[]) => s.reduce((p, q) => p * q, 1);

/** Asserts |got - want| <= U16 |want| + SUB + extra[i] elementwise. */
function assertHalfClose(got: ArrayLike<number>, want: ArrayLike<number>, extra: (i: number) => number, what: string): void {
  assert.is(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    const tol = U16 * Math.abs(want[i]) + SUB + extra(i);
    if (!(Math.abs(got[i] - want[i]) <= tol)) assert.unreachable(`${what}[${i}] = ${got[i]}, expected ${want[i]} ± ${tol} (seed ${runSeed})`);
  }
}

const PARAMS: Partial<Record<UnaryOp, [number, number]>> = { leakyRelu: [0.1, 0], powScalar: [2.5, 0], affine: [1.7, -0.3], clamp: [-0.4, 0.5] };
const DOMAIN: Partial<Record<UnaryOp, [number, number]>> = { log: [0.1, 3], sqrt: [0.1, 3], rsqrt: [0.2, 3], powScalar: [0.1, 2] };

for (const op of Object.keys(UNARY) as UnaryOp[]) {
  test(`f16 unary ${op}: forward and backward computed in f32, stored in f16`, async () => {
    const n = 131, [lo, hi] = DOMAIN[op] ?? [-4, 4], [a, b] = PARAMS[op] ?? [0, 0];
    const xs = randArray(n, lo, hi), gs = randArray(n);
    const x = variable(tensor(xs, [n], 'f16'));
    const y = tidy(() => {
      const y = unary(op, x, a, b);
      backward(sum(mul(cast(y, 'f32'), tensor(gs))));
      return y;
    });
    assert.is(y.dtype, 'f16');
    const xh = half(xs), gh = half(gs), rule = UNARY[op];
    // The f32 test's tolerances (2e-5, 1e-4 relative) cover the f32 arithmetic inside.
    const want = Array.from(xh, (v) => rule.ref(v, a, b));
    assertHalfClose(await y.data(), want, (i) => 2e-5 * Math.abs(want[i]) + 2e-6, `${op} forward`);
    assert.is(x.grad!.dtype, 'f16');
    const dwant = Array.from(xh, (v, i) => gh[i] * rule.dref(v, a, b));
    // Backward expressions in y read the stored f16 output, off by up to half an ulp (U16 |y|): as
    // if x were off by U16 |y| / |f'(x)|, which moves f' by that times |f''(x)| (f'' by central differences).
    const yRounding = (v: number) => {
      const d1 = rule.dref(v, a, b), h = 1e-4 * Math.max(1, Math.abs(v));
      const d2 = (rule.dref(v + h, a, b) - rule.dref(v - h, a, b)) / (2 * h);
      return d1 === 0 || d2 === 0 ? 0 : Math.abs(d2 / d1) * U16 * Math.abs(rule.ref(v, a, b)) * 1.01;
    };
    assertHalfClose(await x.grad!.data(), dwant, (i) => 1e-4 * Math.abs(dwant[i]) + 1e-5 + Math.abs(gh[i]) * yRounding(xh[i]), `${op} backward`);
    for (const t of [y, x.grad!, x]) t.dispose();
  });
}

const SHAPES: [number[], number[]][] = [[[7], [7]], [[3, 5], [5]], [[2, 1, 4], [3, 1]], [[6, 1, 5, 1], [1, 7, 1, 3]]];
for (const op of Object.keys(BINARY) as BinaryOp[]) {
  test(`f16 binary ${op}: broadcast forward computed in f32, stored in f16`, async () => {
    for (const [sa, sb] of SHAPES) {
      const pos = op === 'pow' || op === 'div';
      const A = randArray(numelOf(sa), pos ? 0.5 : -2, 2), B = randArray(numelOf(sb), pos ? 0.5 : -2, 2);
      const out = tidy(() => binary(op, tensor(A, sa, 'f16'), tensor(B, sb, 'f16')));
      assert.is(out.dtype, 'f16');
      const Ah = half(A), Bh = half(B), r = out.rank, shape = out.shape;
      const want = Array.from({ length: out.size }, (_, i) => {
        let rem = i, ia = 0, ib = 0, mA = 1, mB = 1;
        for (let d = r - 1; d >= 0; d--) {
          const c = rem % shape[d]; rem = Math.floor(rem / shape[d]);
          const da = sa[d - (r - sa.length)] ?? 1, db = sb[d - (r - sb.length)] ?? 1;
          ia += (da === 1 ? 0 : c) * mA; mA *= da; ib += (db === 1 ? 0 : c) * mB; mB *= db;
        }
        return BINARY[op].ref(Ah[ia], Bh[ib]);
      });
      assertHalfClose(await out.data(), want, (i) => 1e-5 * Math.abs(want[i]), `${op} [${sa}] x [${sb}]`);
      out.dispose();
    }
  });
}

test('f16 ops refuse mixed dtypes, and ops without an f16 build refuse f16, naming the fix', () => {
  tidy(() => {
    const h = tensor([1, 2, 3, 4, 5, 6], [2, 3], 'f16');
    const refuses = (f: () => unknown, op: string) => assert.throws(f, (e: Error) => e instanceof ShapeError && e.message.startsWith(`${op}: argument`) && /is f16, which .* does not support; cast\(\w+, 'f32'\) first/.test(e.message), op);
    refuses(() => sum(h), 'sum');
    refuses(() => permute(h, [1, 0]), 'permute');
    refuses(() => slice(h, [0, 0], [1, 2]), 'slice');
    refuses(() => concat([h, h]), 'concat');
    refuses(() => gather(h, tensor(Int32Array.from([0]))), 'gather');
    assert.throws(() => binary('add', tensor([1], [1], 'f16'), tensor([1])), (e: Error) => e instanceof ShapeError && /dtype f32 and argument 'a' f16; cast\(\) one/.test(e.message));
    assert.throws(() => matmul(tensor([1], [1, 1], 'f16'), tensor([1], [1, 1])), (e: Error) => e instanceof ShapeError && /cast\(\) one so both match/.test(e.message));
  });
});

/** Per output, the sum over k of |op(a)[m,k] op(b)[k,n]|: the scale of the f32 accumulation error. */
function absProducts(A: Float64Array, aShape: number[], B: Float64Array, bShape: number[], tA: boolean, tB: boolean): Float64Array {
  return matmulRef(A.map(Math.abs), aShape, B.map(Math.abs), bShape, { transA: tA, transB: tB }).data;
}

const CASES: [number[], number[]][] = [[[37, 29], [29, 43]], [[3, 5, 33], [33, 17]], [[64, 36], [36, 20]], [[1, 2], [2, 1]]];
const variants: MatmulVariant[] = ['naive', 'blocked', 'tiled', 'subgroup', 'auto'];
for (const variant of variants) {
  test(`f16 matmul (${variant}): f16 operands, f32 accumulation, f16 result, every transpose`, async () => {
    if (variant === 'subgroup' && !subgroupSize()) return;
    for (const [as, bs] of CASES) for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const K = as.at(-1)!;
      const aShape = tA ? [...as.slice(0, -2), as.at(-1)!, as.at(-2)!] : as;
      const bShape = tB ? [...bs.slice(0, -2), bs.at(-1)!, bs.at(-2)!] : bs;
      // The subgroup kernel needs 16-byte rows along its vec4 axis; it refuses the rest (the f32 tests check the refusal).
      if (variant === 'subgroup' && !((tA ? as.at(-2)! % 4 === 0 : K % 4 === 0) && (tB ? K % 4 === 0 : bs.at(-1)! % 4 === 0))) continue;
      const A = randArray(numelOf(aShape), -2, 2), B = randArray(numelOf(bShape), -2, 2);
      const y = tidy(() => matmul(tensor(A, aShape, 'f16'), tensor(B, bShape, 'f16'), { transA: tA, transB: tB, variant }));
      const Ah = half(A), Bh = half(B);
      const ref = matmulRef(Ah, aShape, Bh, bShape, { transA: tA, transB: tB }), absP = absProducts(Ah, aShape, Bh, bShape, tA, tB);
      assert.is(y.dtype, 'f16');
      assert.equal(y.shape, ref.shape);
      assertHalfClose(await y.data(), ref.data, (i) => 2 * K * U32 * absP[i], `${variant} [${aShape}]${tA ? 'ᵀ' : ''} x [${bShape}]${tB ? 'ᵀ' : ''}`);
      y.dispose();
    }
  });
}

test('f16 matmul backward: f16 gradients of both operands', async () => {
  const [M, K, N] = [19, 23, 13];
  const A = randArray(M * K), B = randArray(K * N), W = randArray(M * N);
  const a = variable(tensor(A, [M, K], 'f16')), b = variable(tensor(B, [K, N], 'f16'));
  tidy(() => backward(sum(mul(cast(matmul(a, b), 'f32'), tensor(W, [M, N])))));
  const Ah = half(A), Bh = half(B), Wh = half(W);
  // dA = W·Bᵀ, dB = Aᵀ·W, with W rounded to f16 by the cast's backward.
  const dA = matmulRef(Wh, [M, N], Bh, [K, N], { transB: true }).data, dB = matmulRef(Ah, [M, K], Wh, [M, N], { transA: true }).data;
  const pA = absProducts(Wh, [M, N], Bh, [K, N], false, true), pB = absProducts(Ah, [M, K], Wh, [M, N], true, false);
  assert.is(a.grad!.dtype, 'f16');
  assertHalfClose(await a.grad!.data(), dA, (i) => 2 * N * U32 * pA[i], 'dA');
  assertHalfClose(await b.grad!.data(), dB, (i) => 2 * M * U32 * pB[i], 'dB');
  for (const t of [a, b, a.grad!, b.grad!] as Tensor[]) t.dispose();
});

test.run();
