/**
 * A subset of the op suite, run inside a browser page on its WebGPU adapter: elementwise, reductions,
 * matmul, conv2d, softmax / cross-entropy and batch norm, forward and backward, on fresh random
 * inputs, each compared with the kernels' float64 CPU references (computed in the page), with
 * per-op tolerances. test/browser/run.ts bundles this file and reads `window.__ops`.
 */
import { init, getGpu, tensor, tidy, variable, backward, sum, mean, max, mul, matmul, conv2d, softmax, logSoftmax, crossEntropy, batchNorm2d } from '../../index.ts';
import type { Tensor } from '../../index.ts';
import { UNARY, BINARY, unary, binary, type UnaryOp, type BinaryOp } from '../../kernels/elementwise/elementwise.ts';
import { reduceRef } from '../../kernels/reduce/reference.ts';
import { matmulRef } from '../../kernels/matmul/reference.ts';
import { conv2dRef, conv2dDxRef, conv2dDwRef, conv2dDbiasRef } from '../../kernels/conv2d/conv2d.ts';
import { conv2dOutputShape, type Conv2dOptions } from '../../kernels/conv2d/geometry.ts';
import { softmaxRef, crossEntropyRef } from '../../kernels/softmax/reference.ts';
import { batchNormRef } from '../../kernels/batchnorm/reference.ts';

export interface OpResult { name: string; ok: boolean; ms: number; detail?: string }

const seed0 = Number(new URLSearchParams(location.search).get('seed') ?? Date.now() % 1e9);
let seed = seed0 >>> 0;
function rand(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randArray = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** |a - e| <= atol + rtol |e| everywhere, else an error naming the worst element. */
function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`);
  let worst = -1, excess = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(err <= 0) && (worst < 0 || !(err <= excess))) { worst = i; excess = err; }
  }
  if (worst >= 0) throw new Error(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol}, seed ${seed0})`);
}

/** Runs f(x...) with each input a leaf, then backward of sum(f * W); returns output and input grads. */
async function fwdBwd(inputs: { data: Float32Array; shape: number[] }[], f: (...xs: Tensor[]) => Tensor, W: Float32Array | null) {
  const xs = inputs.map((i) => variable(tensor(i.data, i.shape)));
  const y = tidy(() => {
    const y = f(...xs);
    if (W) backward(sum(mul(y, tensor(W, y.shape))));
    return y;
  });
  const out = { y: await y.data() as Float32Array, shape: [...y.shape], grads: [] as Float32Array[] };
  for (const x of xs) out.grads.push(x.grad ? await x.grad.data() as Float32Array : new Float32Array(0));
  for (const x of xs) { x.grad?.dispose(); x.dispose(); }
  y.dispose();
  return out;
}

type Case = [string, () => Promise<void>];
const cases: Case[] = [];

// Elementwise: unary ops (forward and the hand-written backward) and broadcast binary ops.
const UN: [UnaryOp, number, number][] = [['relu', -3, 3], ['exp', -4, 4], ['log', 0.1, 3], ['sigmoid', -6, 6], ['tanh', -4, 4], ['gelu', -4, 4]];
for (const [op, lo, hi] of UN) cases.push([`elementwise ${op} n=1000: forward and backward vs float64`, async () => {
  const x = randArray(1000, lo, hi), W = randArray(1000);
  const r = await fwdBwd([{ data: x, shape: [1000] }], (t) => unary(op, t), W);
  close(r.y, Array.from(x, (v) => UNARY[op].ref(v, 0, 0)), 2e-5, 2e-6, 'forward');
  close(r.grads[0], Array.from(x, (v, i) => W[i] * UNARY[op].dref(v, 0, 0)), 1e-4, 1e-5, 'backward');
}]);
const BIN: BinaryOp[] = ['add', 'mul', 'div', 'maximum'];
for (const op of BIN) cases.push([`elementwise ${op} [4,1,5] x [3,1] broadcast: forward and backward vs float64`, async () => {
  const sa = [4, 1, 5], sb = [3, 1], so = [4, 3, 5];
  const A = randArray(20, -2, 2), B = randArray(3, 0.5, 2), W = randArray(60);
  const r = await fwdBwd([{ data: A, shape: sa }, { data: B, shape: sb }], (a, b) => binary(op, a, b), W);
  const y = new Float64Array(60), dA = new Float64Array(20), dB = new Float64Array(3);
  const h = 1e-6;
  for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 5; k++) {
    const o = (i * 3 + j) * 5 + k, ia = i * 5 + k, ib = j, f = BINARY[op].ref;
    y[o] = f(A[ia], B[ib]);
    // float64 central differences of the scalar rule (exact enough in float64 for these smooth ops)
    dA[ia] += W[o] * (f(A[ia] + h, B[ib]) - f(A[ia] - h, B[ib])) / (2 * h);
    dB[ib] += W[o] * (f(A[ia], B[ib] + h) - f(A[ia], B[ib] - h)) / (2 * h);
  }
  if (r.shape.join() !== so.join()) throw new Error(`shape [${r.shape}], expected [${so}]`);
  close(r.y, y, 1e-6, 1e-6, 'forward');
  close(r.grads[0], dA, 1e-4, 1e-5, 'd/da');
  close(r.grads[1], dB, 1e-4, 1e-4, 'd/db');
}]);

// Reductions.
cases.push(['reduce sum/mean/max over axes of [6,37,5]: forward vs float64, sum backward', async () => {
  const shape = [6, 37, 5], x = randArray(numel(shape), -3, 3);
  const s1 = await fwdBwd([{ data: x, shape }], (t) => sum(t, 1), randArray(30));
  close(s1.y, reduceRef('sum', x, shape, [1]), 1e-5, 1e-5, 'sum axis 1');
  const m = await fwdBwd([{ data: x, shape }], (t) => mean(t, [0, 2]), null);
  close(m.y, reduceRef('sum', x, shape, [0, 2], 1 / 30), 1e-5, 1e-6, 'mean axes 0,2');
  const mx = await fwdBwd([{ data: x, shape }], (t) => max(t, -1), null);
  close(mx.y, reduceRef('max', x, shape, [2]), 0, 0, 'max axis -1');
  const all = await fwdBwd([{ data: x, shape }], (t) => sum(t), null);
  close(all.y, reduceRef('sum', x, shape, [0, 1, 2]), 1e-5, 1e-4, 'sum of all');
}]);

// Matmul: plain and batched/transposed, with both operand gradients (dA = G·Bᵀ, dB = Aᵀ·G).
for (const [aS, bS, transB] of [[[33, 70], [70, 45], false], [[2, 17, 40], [2, 23, 40], true]] as [number[], number[], boolean][]) {
  cases.push([`matmul [${aS}] x [${bS}]${transB ? 'ᵀ' : ''}: forward and backward vs float64`, async () => {
    const A = randArray(numel(aS)), B = randArray(numel(bS));
    const ref = matmulRef(A, aS, B, bS, { transB });
    const W = randArray(numel(ref.shape));
    const r = await fwdBwd([{ data: A, shape: aS }, { data: B, shape: bS }], (a, b) => matmul(a, b, { transB }), W);
    const K = aS.at(-1)!;
    close(r.y, ref.data, 1e-4, 1e-5 * K, 'forward');
    const dA = matmulRef(W, ref.shape, B, bS, { transB: !transB }).data;
    const dB = transB ? matmulRef(W, ref.shape, A, aS, { transA: true }).data : matmulRef(A, aS, W, ref.shape, { transA: true }).data;
    close(r.grads[0], dA, 1e-4, 1e-4, 'dA');
    close(r.grads[1], dB, 1e-4, 1e-4, 'dB');
  }]);
}

// conv2d: forward, dx, dw, dbias against the float64 definitions.
const CONVS: [number[], number[], Conv2dOptions][] = [
  [[2, 3, 9, 9], [4, 3, 3, 3], { stride: 1, padding: 1 }],
  [[2, 8, 10, 10], [16, 8, 3, 3], { stride: 2, padding: 1 }],
  [[1, 6, 7, 7], [6, 1, 3, 3], { stride: 1, padding: 1, groups: 6 }],
];
for (const [xs, ws, opts] of CONVS) cases.push([`conv2d x[${xs}] w[${ws}] ${JSON.stringify(opts)}: forward, dx, dw, dbias vs float64`, async () => {
  const X = randArray(numel(xs)), Wt = randArray(numel(ws)), bias = randArray(ws[0]);
  const ys = conv2dOutputShape(xs, ws, opts);
  const G = randArray(numel(ys));
  const r = await fwdBwd([{ data: X, shape: xs }, { data: Wt, shape: ws }, { data: bias, shape: [ws[0]] }], (x, w, b) => conv2d(x, w, b, opts), G);
  const taps = numel(ws.slice(1));
  close(r.y, conv2dRef(X, xs, Wt, ws, bias, opts), 1e-4, 2e-5 * taps, 'forward');
  close(r.grads[0], conv2dDxRef(G, xs, Wt, ws, opts), 1e-4, 2e-5 * taps, 'dx');
  close(r.grads[1], conv2dDwRef(X, xs, G, ws, opts), 1e-4, 2e-5 * numel(ys) / ws[0], 'dw');
  close(r.grads[2], conv2dDbiasRef(G, ys), 1e-4, 1e-5 * numel(ys) / ws[0], 'dbias');
}]);

// softmax / log-softmax (forward and backward) and cross-entropy (loss and dlogits).
cases.push(['softmax and logSoftmax [7,37] axis -1: forward and backward vs float64', async () => {
  const shape = [7, 37], X = randArray(numel(shape), -6, 6), W = randArray(numel(shape));
  for (const log of [false, true]) {
    const r = await fwdBwd([{ data: X, shape }], (t) => (log ? logSoftmax(t, -1) : softmax(t, -1)), W);
    const y = softmaxRef(X, shape, 1, log);
    close(r.y, y, 1e-5, log ? 2e-5 : 1e-6, `${log ? 'logSoftmax' : 'softmax'} forward`);
    const g = new Float64Array(X.length);
    for (let i = 0; i < 7; i++) {
      let dot = 0;
      for (let k = 0; k < 37; k++) dot += log ? W[i * 37 + k] : W[i * 37 + k] * y[i * 37 + k];
      for (let k = 0; k < 37; k++) {
        const o = i * 37 + k, p = log ? Math.exp(y[o]) : y[o];
        g[o] = log ? W[o] - p * dot : p * (W[o] - dot);
      }
    }
    close(r.grads[0], g, 1e-4, 1e-5, `${log ? 'logSoftmax' : 'softmax'} backward`);
  }
}]);
cases.push(['crossEntropy N=19 C=10 (mean): loss and dlogits vs float64', async () => {
  const N = 19, C = 10, L = randArray(N * C, -5, 5), y = Int32Array.from({ length: N }, () => Math.floor(rand() * C));
  const logits = variable(tensor(L, [N, C]));
  const loss = tidy(() => { const l = crossEntropy(logits, tensor(y, [N], 'i32')); backward(l); return l; });
  const ref = crossEntropyRef(L, y, N, C);
  close([await loss.item()], [ref.loss], 1e-5, 1e-6, 'loss');
  close(await logits.grad!.data(), ref.grad, 1e-4, 1e-6, 'dlogits');
  loss.dispose(); logits.grad!.dispose(); logits.dispose();
}]);

// Batch norm: training mode (batch statistics, running-stat update) and inference mode.
cases.push(['batchNorm2d [4,6,5,5]: training forward and running stats, then inference, vs float64', async () => {
  const shape = [4, 6, 5, 5], C = 6, X = randArray(numel(shape), -2, 3);
  const w = randArray(C, 0.5, 1.5), b = randArray(C), rm0 = randArray(C), rv0 = randArray(C, 0.5, 2);
  const [wt, bt, rm, rv] = [tensor(w), tensor(b), tensor(rm0), tensor(rv0)];
  const opts = { momentum: 0.1, eps: 1e-5 };
  const train = await fwdBwd([{ data: X, shape }], (x) => batchNorm2d(x, wt, bt, rm, rv, { ...opts, training: true }), null);
  const ref = batchNormRef(X, shape, w, b, rm0, rv0, { ...opts, training: true });
  close(train.y, ref.out, 1e-4, 1e-5, 'training forward');
  close(await rm.data(), ref.runningMean!, 1e-5, 1e-6, 'running_mean');
  close(await rv.data(), ref.runningVar!, 1e-5, 1e-6, 'running_var');
  const inf = await fwdBwd([{ data: X, shape }], (x) => batchNorm2d(x, wt, bt, rm, rv, { ...opts, training: false }), null);
  close(inf.y, batchNormRef(X, shape, w, b, ref.runningMean, ref.runningVar, opts).out, 1e-4, 1e-5, 'inference forward');
  for (const t of [wt, bt, rm, rv]) t.dispose();
}]);

async function main(): Promise<{ adapter: Record<string, unknown>; seed: number; results: OpResult[] }> {
  await init();
  const g = await getGpu();
  const raw = (g.adapter as any).info ?? {};
  const adapter: Record<string, unknown> = {};
  for (const k in raw) if (typeof raw[k] !== 'function') adapter[k] = raw[k];
  const results: OpResult[] = [];
  for (const [name, fn] of cases) {
    const t0 = performance.now();
    try {
      await fn();
      results.push({ name, ok: true, ms: performance.now() - t0 });
    } catch (e) {
      results.push({ name, ok: false, ms: performance.now() - t0, detail: (e as Error).message });
    }
  }
  return { adapter, seed: seed0, results };
}

(window as any).__ops = main().catch((e) => ({ adapter: {}, seed: seed0, results: [{ name: 'op suite setup', ok: false, ms: 0, detail: String((e as Error)?.stack ?? e) }] }));
