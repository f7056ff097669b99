/**
 * Accuracy of the f16 kernels against float64, beside the f32 kernels on the same inputs: per op, the
 * largest error of each path relative to the outputs' RMS (an elementwise relative error would be
 * dominated by outputs near a zero crossing), with f16's unit roundoff 2^-11 for scale. Both paths start from the same f32 inputs; the f16 path rounds them to f16 first, so its
 * error includes that rounding, as a model run in f16 would see.
 * `bash -c 'source scripts/env.sh; node bench/f16_accuracy.ts'` (THAW_ADAPTER=lavapipe).
 */
import { initThaw, adapterLabel, printTable, randomData } from './common.ts';
import { tensor } from '../engine/core/factory.ts';
import { tidy, type Tensor } from '../engine/core/tensor.ts';
import { cast, unary, binary, matmul, type UnaryOp, type BinaryOp, type MatmulVariant } from '../kernels/index.ts';
import { UNARY, BINARY } from '../kernels/elementwise/elementwise.ts';
import { matmulRef } from '../kernels/matmul/reference.ts';

const rt = await initThaw();
console.log(`adapter: ${adapterLabel(rt)}`);

/** max |got - ref| over the RMS of ref. */
function maxRel(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let ss = 0, m = 0;
  for (let i = 0; i < ref.length; i++) { ss += ref[i] * ref[i]; m = Math.max(m, Math.abs(got[i] - ref[i])); }
  return m / Math.sqrt(ss / ref.length);
}

/** The op run once on f32 tensors and once on their f16 casts; each result's max relative error. */
async function both(inputs: [Float32Array, number[]][], op: (...xs: Tensor[]) => Tensor, ref: ArrayLike<number>): Promise<[string, string]> {
  const errs: string[] = [];
  for (const dtype of ['f32', 'f16'] as const) {
    const y = tidy(() => cast(op(...inputs.map(([d, s]) => cast(tensor(d, s), dtype))), 'f32'));
    errs.push(maxRel(await y.data(), ref).toExponential(2));
    y.dispose();
  }
  return errs as [string, string];
}

const rows: (string | number)[][] = [];
const n = 4099;
const UNARIES: UnaryOp[] = ['exp', 'sigmoid', 'tanh', 'gelu', 'silu', 'relu', 'square'];
for (const op of UNARIES) {
  const x = randomData(n).map((v) => 3 * v);
  const [e32, e16] = await both([[x, [n]]], (t) => unary(op, t), Array.from(x, (v) => UNARY[op].ref(v, 0, 0)));
  rows.push([op, `${n}`, e32, e16]);
}
for (const op of ['add', 'mul', 'div'] as BinaryOp[]) {
  const a = randomData(n), b = randomData(n).map((v) => (op === 'div' ? v + Math.sign(v) : v));
  const [e32, e16] = await both([[a, [n]], [b, [n]]], (p, q) => binary(op, p, q), Array.from(a, (v, i) => BINARY[op].ref(v, b[i])));
  rows.push([op, `${n}`, e32, e16]);
}
for (const variant of ['naive', 'blocked', 'subgroup'] as MatmulVariant[]) {
  for (const [M, K, N] of [[64, 64, 64], [128, 512, 96], [32, 4096, 32]]) {
    const A = randomData(M * K), B = randomData(K * N);
    const ref = matmulRef(A, [M, K], B, [K, N]).data;
    const [e32, e16] = await both([[A, [M, K]], [B, [K, N]]], (a, b) => matmul(a, b, { variant }), ref);
    rows.push([`matmul ${variant}`, `${M}x${K}x${N}`, e32, e16]);
  }
}
printTable(`max |error| / RMS(output) vs float64, ${adapterLabel(rt)} (f16 unit roundoff 2^-11 = ${(2 ** -11).toExponential(2)})`, ['op', 'size', 'f32 path', 'f16 path'], rows);
process.exit(0);
