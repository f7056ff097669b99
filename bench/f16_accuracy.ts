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
import { cast, unary, binary, matmul, conv2d, maxPool2d, avgPool2d, globalAvgPool2d, softmax, logSoftmax, crossEntropy, batchNorm2d,
  type UnaryOp, type BinaryOp, type MatmulVariant, type Conv2dOptions } from '../kernels/index.ts';
import { UNARY, BINARY } from '../kernels/elementwise/elementwise.ts';
import { matmulRef } from '../kernels/matmul/reference.ts';
import { conv2dInputGrad, conv2dWeightGrad, convGeometry, pickVariant } from '../kernels/conv2d/conv2d.ts';
import { conv2dRef, conv2dDxRef, conv2dDwRef } from '../kernels/conv2d/reference.ts';
import { winogradForwardTile, winogradTile } from '../kernels/conv2d/winograd.ts';
import { poolGeometry } from '../kernels/pool/pool.ts';
import { pool2dRef } from '../kernels/pool/reference.ts';
import { softmaxRef, crossEntropyRef } from '../kernels/softmax/reference.ts';
import { batchNormRef } from '../kernels/batchnorm/reference.ts';

const rt = await initThaw();
console.log(`adapter: ${adapterLabel(rt)}`);

/** max |got - ref| over the RMS of ref. */
function maxRel(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let ss = 0, m = 0;
  for (let i = 0; i < ref.length; i++) { ss += ref[i] * ref[i]; m = Math.max(m, Math.abs(got[i] - ref[i])); }
  return m / Math.sqrt(ss / ref.length);
}

/**
 * The op run once on f32 tensors and once on their f16 casts (`fixed` inputs, e.g. a bias, stay as
 * given); each result's max relative error.
 */
async function both(inputs: [Float32Array, number[]][], op: (...xs: Tensor[]) => Tensor, ref: ArrayLike<number>, fixed: Tensor[] = []): Promise<[string, string]> {
  const errs: string[] = [];
  for (const dtype of ['f32', 'f16'] as const) {
    const y = tidy(() => {
      const r = op(...inputs.map(([d, s]) => cast(tensor(d, s), dtype)), ...fixed);
      return r.dtype === 'f32' ? r : cast(r, 'f32');
    });
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
const convs: [string, number[], number[], Conv2dOptions][] = [
  ['3x3 s2 32->48', [4, 32, 17, 17], [48, 32, 3, 3], { stride: 2, padding: 1 }],
  ['3x3 s1 48->48', [4, 48, 15, 15], [48, 48, 3, 3], { padding: 1 }],
  ['1x1 48->96', [4, 48, 16, 16], [96, 48, 1, 1], {}],
  ['dw3x3 48', [4, 48, 15, 15], [48, 1, 3, 3], { padding: 1, groups: 48 }],
];
for (const [name, xs, ws, opts] of convs) {
  const g = convGeometry(xs, ws, opts), ys = [g.N, g.Cout, g.OH, g.OW];
  const X = randomData(xs.reduce((a, b) => a * b)), W = randomData(ws.reduce((a, b) => a * b)), DY = randomData(ys.reduce((a, b) => a * b));
  const path = (m: number, k: string) => (m ? 'winograd' : k);
  const k32 = pickVariant(g), k16 = pickVariant(g, 'auto', 'f16');
  const kinds = (m: number) => `${path(m, k32)}${path(m, k32) === path(m, k16) ? '' : ` / ${path(m, k16)}`}`;
  const [f32, f16] = await both([[X, xs], [W, ws]], (x, w) => conv2d(x, w, null, opts), conv2dRef(X, xs, W, ws, null, opts));
  rows.push([`conv2d ${name} (${kinds(winogradForwardTile(g))})`, `${xs}`, f32, f16]);
  const [d32, d16] = await both([[DY, ys], [W, ws]], (dy, w) => conv2dInputGrad(dy, w, xs, opts), conv2dDxRef(DY, xs, W, ws, opts));
  rows.push([`conv2d dx ${name} (${kinds(winogradTile(g))})`, `${xs}`, d32, d16]);
  const [w32, w16] = await both([[X, xs], [DY, ys]], (x, dy) => conv2dWeightGrad(x, dy, ws, opts), conv2dDwRef(X, xs, DY, ws, opts));
  rows.push([`conv2d dw ${name} (${kinds(0)})`, `${xs}`, w32, w16]);
}
{
  const xs = [8, 32, 15, 15], X = randomData(xs.reduce((a, b) => a * b));
  const pool = { stride: 2, padding: 1 };
  const g = poolGeometry('maxPool2d', xs, 3, pool);
  rows.push(['maxPool2d 3x3 s2', `${xs}`, ...await both([[X, xs]], (x) => maxPool2d(x, 3, pool), pool2dRef('max', X, g).out)]);
  rows.push(['avgPool2d 3x3 s2', `${xs}`, ...await both([[X, xs]], (x) => avgPool2d(x, 3, pool), pool2dRef('avg', X, g).out)]);
  const gap = Array.from({ length: 8 * 32 }, (_, p) => X.slice(p * 225, (p + 1) * 225).reduce((a, b) => a + b, 0) / 225);
  rows.push(['globalAvgPool2d', `${xs}`, ...await both([[X, xs]], (x) => globalAvgPool2d(x), gap)]);
}
{
  const [N, C] = [64, 1000], L = randomData(N * C).map((v) => 4 * v);
  rows.push(['softmax', `${N}x${C}`, ...await both([[L, [N, C]]], (x) => softmax(x), softmaxRef(L, [N, C], 1))]);
  rows.push(['logSoftmax', `${N}x${C}`, ...await both([[L, [N, C]]], (x) => logSoftmax(x), softmaxRef(L, [N, C], 1, true))]);
  const labels = Int32Array.from({ length: N }, (_, i) => (i * 7919) % C);
  const lt = tensor(labels);
  rows.push(['crossEntropy (loss, f32)', `${N}x${C}`, ...await both([[L, [N, C]]], (x, y) => crossEntropy(x, y, { reduction: 'none' }), crossEntropyRef(L, labels, N, C, { reduction: 'none' }).rows, [lt])]);
  lt.dispose();
}
{
  const xs = [8, 32, 15, 15], C = 32, X = randomData(xs.reduce((a, b) => a * b)).map((v) => 2 * v + 0.5);
  const Ws = randomData(C).map((v) => 1 + 0.5 * v), Bs = randomData(C), rm = randomData(C).map((v) => 0.3 * v), rv = randomData(C).map((v) => 1.2 + v);
  const [w, b, m, v] = [Ws, Bs, rm, rv].map((d) => tensor(d));
  const train = { training: true, momentum: 0 };
  rows.push(['batchNorm2d training', `${xs}`, ...await both([[X, xs]], (x, ww, bb) => batchNorm2d(x, ww, bb, null, null, train), batchNormRef(X, xs, Ws, Bs, null, null, train).out, [w, b])]);
  rows.push(['batchNorm2d inference', `${xs}`, ...await both([[X, xs]], (x, ww, bb, mm, vv) => batchNorm2d(x, ww, bb, mm, vv), batchNormRef(X, xs, Ws, Bs, rm, rv).out, [w, b, m, v])]);
  for (const t of [w, b, m, v]) t.dispose();
}
printTable(`max |error| / RMS(output) vs float64, ${adapterLabel(rt)} (f16 unit roundoff 2^-11 = ${(2 ** -11).toExponential(2)})`, ['op', 'size', 'f32 path', 'f16 path'], rows);
process.exit(0);
