// linearAct: act(x·Wᵀ + b) with the activation in the matmul's store and its backward applied as the
// gradient matmuls load the output gradient: forward and the gradients of x, weight and bias against
// float64 on every matmul kernel, in 1 forward and 2 backward dispatches (linear then the activation: 2 and 3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, type Tensor } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { runtime, withTuning } from '../../engine/core/runtime.ts';
import { variable } from '../../engine/core/tape.ts';
import { linear, linearAct, type EpilogueAct } from '../../kernels/matmul/matmul.ts';
import { unary, UNARY } from '../../kernels/elementwise/elementwise.ts';
import { ShapeError, ThawError } from '../../engine/core/errors.ts';
import { dropout } from '../../kernels/dropout/dropout.ts';
import { dropoutMaskRef } from '../../kernels/dropout/reference.ts';

await setup();

const ACTS: EpilogueAct[] = ['gelu', 'geluTanh', 'tanh', 'relu'];
const ops = () => runtime().dispatches - (runtime().dispatchByName.get('test_poison') ?? 0); // the helpers' buffer poisoning left out

/** float64 x·Wᵀ + b: (rows, outF). */
function linearRef(X: Float32Array, W: Float32Array, B: Float32Array, rows: number, inF: number, outF: number): Float64Array {
  const pre = new Float64Array(rows * outF);
  for (let i = 0; i < rows; i++) for (let o = 0; o < outF; o++) {
    let s = B[o];
    for (let k = 0; k < inF; k++) s += X[i * inF + k] * W[o * inF + k];
    pre[i * outF + o] = s;
  }
  return pre;
}

/** float64 gradients of x, W and b of x·Wᵀ + b, from the gradient gp of its output. */
function linearGradRef(gp: Float64Array, X: Float32Array, W: Float32Array, rows: number, inF: number, outF: number) {
  const dx = new Float64Array(rows * inF), dw = new Float64Array(outF * inF), db = new Float64Array(outF);
  for (let i = 0; i < rows; i++) for (let o = 0; o < outF; o++) {
    const v = gp[i * outF + o];
    db[o] += v;
    for (let k = 0; k < inF; k++) { dx[i * inF + k] += v * W[o * inF + k]; dw[o * inF + k] += v * X[i * inF + k]; }
  }
  return { dx, dw, db };
}

/** y = f(x, w, b) and its gradients for output gradient G, with the dispatches of forward and backward. */
async function runLinear(X: Float32Array, W: Float32Array, B: Float32Array, G: Float32Array, xs: number[], outF: number, f: (x: Tensor, w: Tensor, b: Tensor) => Tensor) {
  const inF = xs[xs.length - 1];
  const x = variable(tensor(X, xs)), w = variable(tensor(W, [outF, inF])), b = variable(tensor(B, [outF]));
  let fwd = 0, bwd = 0;
  const y = tidy(() => {
    const d0 = ops();
    const y = f(x, w, b);
    const d1 = ops();
    backward(y, tensor(G, y.shape));
    fwd = d1 - d0; bwd = ops() - d1;
    return y;
  });
  const out = { y: await y.data(), dx: await x.grad!.data(), dw: await w.grad!.data(), db: await b.grad!.data(), fwd, bwd };
  for (const t of [y, x, w, b, x.grad, w.grad, b.grad] as (Tensor | null)[]) t?.dispose();
  return out;
}

// Each activation on two of the three kernels, each kernel with two or more activations: an
// activation's code is one WGSL function every kernel calls (scalar loads in blocked and tiled, vec4
// in subgroup), and each kernel-activation pair is two or three pipelines that take 1-7 s each to
// compile on an empty shader cache.
const KERNELS = ['blocked', 'tiled', 'subgroup'] as const;
for (const [i, act] of ACTS.entries()) {
  for (const kernel of [KERNELS[i % 3], KERNELS[(i + 1) % 3]]) {
    // [x shape, out features]: odd (edge blocks) and vec4-aligned (the subgroup kernel) sizes.
    const [xs, outF] = kernel === 'subgroup' ? [[2, 12, 16], 20] : [[3, 7, 13], 9];
    test(`linearAct ${act} on the ${kernel} kernel, x [${xs}] -> ${outF}: forward and gradients vs float64, 1 + 2 dispatches`, async () => {
      const inF = xs[xs.length - 1], rows = xs.reduce((a, b) => a * b, 1) / inF;
      const X = randArray(rows * inF), W = randArray(outF * inF), B = randArray(outF), G = randArray(rows * outF);
      // float64: pre = x·Wᵀ + b, y = act(pre), gp = g * act'(pre)
      const r = UNARY[act], pre = linearRef(X, W, B, rows, inF, outF);
      const { dx, dw, db } = linearGradRef(pre.map((v, i) => G[i] * r.dref(v, 0, 0)), X, W, rows, inF, outF);
      await withTuning({ matmul: { kernel } }, async () => {
        const f = await runLinear(X, W, B, G, xs, outF, (x, w, b) => linearAct(x, w, b, act));
        const c = await runLinear(X, W, B, G, xs, outF, (x, w, b) => unary(act, linear(x, w, b)));
        assertClose(f.y, pre.map((v) => r.ref(v, 0, 0)), 1e-4, 1e-5, 'forward');
        assertClose(f.dx, dx, 1e-4, 1e-5, 'dx');
        assertClose(f.dw, dw, 1e-4, 1e-5, 'dweight');
        assertClose(f.db, db, 1e-4, 1e-5, 'dbias');
        assert.is(f.fwd, 1, 'the activation runs in the matmul');
        assert.is(f.bwd, 2, "dx and dW (with db); act' applied as they load g");
        assert.is(c.fwd, 2);
        assert.is(c.bwd, 3);
      });
    });
  }
}

// drop: dropout(act(x·Wᵀ + b)) with the mask applied in the store and, backward, as the gradient
// matmuls load g: float64 with the CPU mask, and linearAct then the dropout op (the same mask; the
// compiler may contract the fused multiplies differently, so to rounding).
for (const kernel of KERNELS) {
  test(`linearAct tanh + dropout on the ${kernel} kernel: vs float64 and linearAct then dropout, 1 + 2 dispatches`, async () => {
    const [xs, outF] = kernel === 'subgroup' ? [[3, 8, 12], 16] : [[2, 9, 11], 7];
    const inF = xs[xs.length - 1], rows = xs.reduce((a, b) => a * b, 1) / inF, p = 0.3, seed = 1234567;
    const X = randArray(rows * inF), W = randArray(outF * inF), B = randArray(outF), G = randArray(rows * outF);
    const keep = dropoutMaskRef(rows * outF, p, seed), r = UNARY.tanh;
    const pre = linearRef(X, W, B, rows, inF, outF);
    const { dx, dw, db } = linearGradRef(pre.map((v, i) => (keep[i] ? G[i] / (1 - p) : 0) * r.dref(v, 0, 0)), X, W, rows, inF, outF);
    await withTuning({ matmul: { kernel } }, async () => {
      const f = await runLinear(X, W, B, G, xs, outF, (x, w, b) => linearAct(x, w, b, 'tanh', { p, seed }));
      const c = await runLinear(X, W, B, G, xs, outF, (x, w, b) => dropout(linearAct(x, w, b, 'tanh'), p, seed));
      assertClose(f.y, pre.map((v, i) => (keep[i] ? r.ref(v, 0, 0) / (1 - p) : 0)), 1e-4, 1e-5, 'forward');
      assertClose(f.dx, dx, 1e-4, 1e-5, 'dx');
      assertClose(f.dw, dw, 1e-4, 1e-5, 'dweight');
      assertClose(f.db, db, 1e-4, 1e-5, 'dbias');
      // Rounding of a float32 sum of n terms: n ulps of the largest value (a wrong mask is off by a whole term).
      const terms = { y: inF, dx: outF, dw: rows, db: rows };
      for (const k of ['y', 'dx', 'dw', 'db'] as const) {
        const big = c[k].reduce((a, v) => Math.max(a, Math.abs(v)), 0);
        assertClose(f[k], c[k], 1e-6, terms[k] * 2 ** -23 * big, `${k}: linearAct then dropout`);
      }
      assert.is(f.fwd, 1, 'the dropout runs in the matmul');
      assert.is(f.bwd, 2, 'the mask applied as the gradient matmuls load g');
      assert.is(c.fwd, 2);
      assert.is(c.bwd, 3);
    });
  });
}

test('linearAct with a frozen weight: the bias gradient still goes through the activation', async () => {
  const [rows, inF, outF] = [5, 7, 3];
  const X = randArray(rows * inF), W = randArray(outF * inF), B = randArray(outF), G = randArray(rows * outF);
  const x = tensor(X, [rows, inF]), w = tensor(W, [outF, inF]), b = variable(tensor(B, [outF]));
  tidy(() => { const y = linearAct(x, w, b, 'gelu'); backward(y, tensor(G, y.shape)); });
  const { db } = linearGradRef(linearRef(X, W, B, rows, inF, outF).map((v, i) => G[i] * UNARY.gelu.dref(v, 0, 0)), X, W, rows, inF, outF);
  assert.is(w.grad, null);
  assertClose(await b.grad!.data(), db, 1e-4, 1e-5, 'dbias');
  for (const t of [x, w, b, b.grad!]) t.dispose();
});

test('linearAct rejects a 1-D x, an unknown activation and a dropout p of 1', () => {
  const w = tensor(randArray(6), [2, 3]);
  assert.throws(() => linearAct(tensor(randArray(3), [3]), w, null, 'gelu'), (e: unknown) => e instanceof ShapeError && /rank >= 2/.test((e as Error).message));
  assert.throws(() => linearAct(tensor(randArray(3), [1, 3]), w, null, 'silu' as EpilogueAct), (e: unknown) => e instanceof ShapeError && /silu/.test((e as Error).message));
  assert.throws(() => linearAct(tensor(randArray(3), [1, 3]), w, null, 'tanh', { p: 1, seed: 0 }), (e: unknown) => e instanceof ThawError && /dropout p/.test((e as Error).message));
  w.dispose();
});

test.run();
