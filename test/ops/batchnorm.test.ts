import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { setup, randArray, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, type Tensor } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { mul, unary } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { batchNorm2d, bnChunks, incrementCounter, setBnOnePassMax, type BatchNormOptions } from '../../kernels/batchnorm/batchnorm.ts';
import { batchNormRef, bnBackwardRef } from '../../kernels/batchnorm/reference.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

const fixtures = JSON.parse(readFileSync(new URL('../fixtures/cnn/batchnorm.json', import.meta.url), 'utf8'));

interface Step { out: Float32Array; dx: Float32Array; dweight: Float32Array | null; dbias: Float32Array | null }

/** Forward and backward of sum(bn(x) * gout), with weight/bias as trainable leaves. */
async function step(xs: ArrayLike<number>, shape: number[], w: Tensor | null, b: Tensor | null, rm: Tensor | null, rv: Tensor | null,
  gs: ArrayLike<number>, opts: BatchNormOptions): Promise<Step> {
  const x = variable(tensor(xs, shape));
  const out = tidy(() => {
    const y = batchNorm2d(x, w, b, rm, rv, opts);
    backward(sum(mul(y, tensor(gs, shape))));
    return y;
  });
  const r = { out: await out.data() as Float32Array, dx: await x.grad!.data() as Float32Array,
    dweight: w ? await w.grad!.data() as Float32Array : null, dbias: b ? await b.grad!.data() as Float32Array : null };
  for (const t of [out, x.grad!, x, w?.grad, b?.grad]) t?.dispose();
  if (w) w.grad = null;
  if (b) b.grad = null;
  return r;
}

for (const [i, c] of (fixtures as any[]).entries()) {
  test(`batchNorm2d vs torch #${i} [${c.shape}] eps=${c.eps} momentum=${c.momentum} affine=${c.affine}: 3 training steps, then inference`, async () => {
    const w = c.affine ? variable(tensor(c.weight)) : null;
    const b = c.affine ? variable(tensor(c.bias)) : null;
    const rm = tensor(c.runningMean0), rv = tensor(c.runningVar0);
    const opts = { momentum: c.momentum, eps: c.eps };
    for (const [k, s] of (c.train as any[]).entries()) {
      const r = await step(s.x, c.shape, w, b, rm, rv, s.gout, { ...opts, training: true });
      assertClose(r.out, s.out, 1e-4, 1e-5, `step ${k} forward`);
      assertClose(r.dx, s.dx, 1e-3, 1e-4, `step ${k} dx`);
      if (w) assertClose(r.dweight!, s.dweight, 1e-4, 1e-4, `step ${k} dweight`);
      if (b) assertClose(r.dbias!, s.dbias, 1e-4, 1e-4, `step ${k} dbias`);
      assertClose(await rm.data(), s.runningMean, 1e-5, 1e-6, `step ${k} running_mean`);
      assertClose(await rv.data(), s.runningVar, 1e-5, 1e-6, `step ${k} running_var`);
    }
    const e = c.eval;
    const before = await rm.data();
    const r = await step(e.x, c.shape, w, b, rm, rv, e.gout, { ...opts, training: false });
    assertClose(r.out, e.out, 1e-4, 1e-5, 'inference forward');
    assertClose(r.dx, e.dx, 1e-4, 1e-5, 'inference dx');
    if (w) assertClose(r.dweight!, e.dweight, 1e-4, 1e-4, 'inference dweight');
    if (b) assertClose(r.dbias!, e.dbias, 1e-4, 1e-4, 'inference dbias');
    assert.equal(Array.from(await rm.data()), Array.from(before), 'inference leaves running stats untouched');
    for (const t of [w, b, rm, rv]) t?.dispose();
  });
}

// Finite differences of the float64 reference, both modes, odd shapes and channel counts past 64.
for (const [shape, training] of [[[3, 5, 3, 7], true], [[2, 3, 5, 1], true], [[5, 3], true], [[2, 4, 3, 3], false], [[2, 67, 2, 3], true]] as [number[], boolean][]) {
  test(`batchNorm2d [${shape}] training=${training}: forward vs float64, grads vs finite differences`, async () => {
    const n = shape.reduce((a, b) => a * b, 1), C = shape[1];
    const xs = randArray(n, -2, 3), ws = randArray(C, 0.5, 1.5), bs = randArray(C), gs = randArray(n);
    const rm0 = randArray(C, -0.3, 0.3), rv0 = randArray(C, 0.5, 1.5);
    const opts = { training, eps: 1e-3, momentum: 0.3 };
    const w = variable(tensor(ws)), b = variable(tensor(bs)), rm = tensor(rm0), rv = tensor(rv0);
    const r = await step(xs, shape, w, b, rm, rv, gs, opts);
    const ref = batchNormRef(xs, shape, ws, bs, rm0, rv0, opts);
    assertClose(r.out, ref.out, 1e-4, 1e-5, 'forward');
    assertClose(await rm.data(), ref.runningMean!, 1e-5, 1e-6, 'running_mean');
    assertClose(await rv.data(), ref.runningVar!, 1e-5, 1e-6, 'running_var');
    const loss = (xv: ArrayLike<number>, wv: ArrayLike<number>, bv: ArrayLike<number>) =>
      batchNormRef(xv, shape, wv, bv, rm0, rv0, opts).out.reduce((s, v, i) => s + v * gs[i], 0);
    assertClose(r.dx, numericGrad((v) => loss(v, ws, bs), xs), 2e-3, 2e-4, 'dx');
    assertClose(r.dweight!, numericGrad((v) => loss(xs, v, bs), ws), 2e-3, 2e-4, 'dweight');
    assertClose(r.dbias!, numericGrad((v) => loss(xs, ws, v), bs), 2e-3, 2e-4, 'dbias');
    for (const t of [w, b, rm, rv]) t.dispose();
  });
}

/**
 * Whether some channel's Σ dy (dbias) is under a fiftieth of sqrt(Σ dy²), the size of its random walk:
 * a float32 sum rounds by up to ~1e-6 of that size (160 at [3, 2, 160, 160]), which a tolerance
 * relative to the sum does not cover where the sum nearly cancels.
 */
function nearlyCancels(gs: ArrayLike<number>, N: number, C: number, HW: number): boolean {
  for (let c = 0; c < C; c++) {
    let s = 0, s2 = 0;
    for (let n = 0; n < N; n++) for (let i = (n * C + c) * HW, end = i + HW; i < end; i++) { s += gs[i]; s2 += gs[i] * gs[i]; }
    if (Math.abs(s) < Math.sqrt(s2) / 50) return true;
  }
  return false;
}

// Shapes whose per-channel reductions split into several chunks (the last one short), with and
// without vec4 loads, on values far from zero (a one-pass E[x^2] - E[x]^2 would lose the variance).
// The same shapes through the one-dispatch kernels (a team per channel, bn_train), which run maps of
// up to BN_ONE_PASS_MAX values per channel, and [3, 2, 160, 160] past that limit through the chunks.
for (const [shape, onePass] of [[7, 3, 12, 12], [9, 2, 9, 11], [33, 5, 4, 4], [5, 70, 7, 8], [3, 2, 160, 160]].flatMap((s) => [[s, false], [s, true]] as [number[], boolean][])) {
  const [N, C] = shape, HW = shape.slice(2).reduce((a, b) => a * b, 1);
  const { K, nPer } = bnChunks(N, C, HW);
  if (onePass && N * HW > 1 << 16) continue;
  test(`batchNorm2d [${shape}] (${onePass ? 'one dispatch' : `${K} chunks of ${nPer}`}, ${HW % 4 ? 'scalar' : 'vec4'}) training on offset data vs float64`, async () => {
    const old = setBnOnePassMax(onePass ? 1 << 16 : 0);
    try {
    const n = N * C * HW;
    // The values the GPU sees (f32), so the reference does not also measure the input rounding (~3e-5 at 1000).
    const xs = Float32Array.from(randArray(n, 999, 1001)), ws = randArray(C, 0.5, 1.5), bs = randArray(C);
    let gs = randArray(n);
    while (nearlyCancels(gs, N, C, HW)) gs = randArray(n);
    const rm0 = randArray(C, -0.3, 0.3), rv0 = randArray(C, 0.5, 1.5);
    const opts = { training: true, eps: 1e-5, momentum: 0.1 };
    const w = variable(tensor(ws)), b = variable(tensor(bs)), rm = tensor(rm0), rv = tensor(rv0);
    const r = await step(xs, shape, w, b, rm, rv, gs, opts);
    const ref = batchNormRef(xs, shape, ws, bs, rm0, rv0, opts);
    assertClose(r.out, ref.out, 2e-3, 2e-4, 'forward');
    assertClose(await rm.data(), ref.runningMean!, 1e-5, 1e-6, 'running_mean');
    assertClose(await rv.data(), ref.runningVar!, 2e-3, 1e-4, 'running_var');
    const back = bnBackwardRef(xs, shape, ws, gs, opts.eps);
    assertClose(r.dx, back.dx, 5e-3, 1e-3, 'dx');
    // dweight_c = Σ dy·x̂: a float32 mean of values near 1000 is off by up to a few float32 steps there
    // (2^-13), which moves every x̂ of channel c by that times 1/σ_c, and dweight_c by that times Σ dy = dbias_c.
    const shift = back.db.reduce((a, d, c) => Math.max(a, 4 * 2 ** -13 * back.invStd[c] * Math.abs(d)), 0);
    assertClose(r.dweight!, back.dw, 5e-3, 1e-3 + shift, 'dweight');
    assertClose(r.dbias!, back.db, 1e-4, 1e-5, 'dbias');
    for (const t of [w, b, rm, rv]) t.dispose();
    } finally { setBnOnePassMax(old); }
  });
}

test('batchNorm2d [3, 2, 160, 160] in chunks: the variance of ±0.1 and dbias of a constant dy within 1e-6 of float64 (one running f32 sum per chunk: 1.4e-5 off)', async () => {
  const shape = [3, 2, 160, 160], n = 3 * 2 * 160 * 160;
  const old = setBnOnePassMax(0);
  try {
    const xs = Float32Array.from({ length: n }, (_, i) => (i % 2 ? -0.1 : 0.1)), gs = new Float32Array(n).fill(0.1);
    const opts = { training: true, eps: 1e-5, momentum: 1 };
    const w = variable(tensor(randArray(2, 0.5, 1.5))), b = variable(tensor(randArray(2))), rm = tensor([0, 0]), rv = tensor([0, 0]);
    const r = await step(xs, shape, w, b, rm, rv, gs, opts);
    assertClose(await rv.data(), batchNormRef(xs, shape, null, null, [0, 0], [0, 0], opts).runningVar!, 1e-6, 0, 'running_var');
    const want = (n / 2) * Math.fround(0.1);
    assertClose(r.dbias!, [want, want], 1e-6, 0, 'dbias');
    for (const t of [w, b, rm, rv]) t.dispose();
  } finally { setBnOnePassMax(old); }
});

test('bnChunks covers every batch item with no empty chunk', () => {
  for (let N = 1; N <= 70; N++) for (const C of [1, 3, 64, 1000]) for (const HW of [1, 4, 49, 1024]) {
    const { K, nPer } = bnChunks(N, C, HW);
    assert.ok(K >= 1 && nPer >= 1 && (K - 1) * nPer < N && K * nPer >= N, `N=${N} C=${C} HW=${HW}: K=${K} nPer=${nPer}`);
  }
});

test('batchNorm2d without running stats always normalises with batch statistics', async () => {
  const shape = [4, 2, 3, 3], n = 72;
  const xs = randArray(n, 1, 4);
  const y = tidy(() => batchNorm2d(tensor(xs, shape), null, null, null, null, { training: false }));
  assertClose(await y.data(), batchNormRef(xs, shape, null, null, null, null).out, 1e-4, 1e-5, 'forward');
  y.dispose();
});

test('batchNorm2d: only the requested gradients, x frozen', async () => {
  const shape = [2, 3, 4, 5], n = 120;
  const xs = randArray(n), gs = randArray(n), ws = randArray(3, 0.5, 1.5);
  const w = variable(tensor(ws)), b = tensor(randArray(3)), x = tensor(xs, shape);
  tidy(() => { backward(sum(mul(batchNorm2d(x, w, b, null, null, { training: true }), tensor(gs, shape)))); });
  const loss = (wv: ArrayLike<number>) => batchNormRef(xs, shape, wv, [0, 0, 0], null, null, { training: true }).out.reduce((s, v, i) => s + v * gs[i], 0);
  assertClose(await w.grad!.data(), numericGrad(loss, ws), 2e-3, 2e-4, 'dweight');
  assert.is(b.grad, null);
  for (const t of [w.grad!, w, b, x]) t.dispose();
});

test('incrementCounter counts on the GPU', async () => {
  const c = tensor(new Int32Array([5]), []);
  incrementCounter(c); incrementCounter(c); incrementCounter(c);
  assert.equal(Array.from(await c.data()), [8]);
  c.dispose();
});

test('batchNorm2d counter: counted in the running-stats update (training), separately without running stats, not in inference; kernels per call', async () => {
  const x = tensor(randArray(2 * 3 * 4 * 4), [2, 3, 4, 4]);
  const rm = tensor(new Float32Array(3)), rv = tensor(new Float32Array(3).fill(1)), w = tensor(randArray(3, 0.5, 1.5)), b = tensor(randArray(3));
  const c = tensor(new Int32Array([5]), [], 'i32');
  const rt = runtime();
  const kernels = (f: () => Tensor) => {
    const before = new Map(rt.dispatchByName);
    f().dispose();
    return [...rt.dispatchByName].filter(([k, v]) => v !== (before.get(k) ?? 0) && k.startsWith('bn_')).map(([k, v]) => `${k}=${v - (before.get(k) ?? 0)}`).sort();
  };
  // Training with running stats, few values per channel: one kernel (statistics, running update, counter, apply).
  assert.equal(kernels(() => batchNorm2d(x, w, b, rm, rv, { training: true, counter: c })), ['bn_train=1']);
  // More values per channel than the one-pass limit: partial sums, merge (with the scale), update (with the counter), apply.
  const old = setBnOnePassMax(2 * 4 * 4 - 1);
  assert.equal(kernels(() => batchNorm2d(x, w, b, rm, rv, { training: true, counter: c })), ['bn_apply=1', 'bn_merge=1', 'bn_partial=1', 'bn_update=1']);
  setBnOnePassMax(old);
  // Inference: running stats (with the scale) and apply; the counter is left alone, as in PyTorch.
  assert.equal(kernels(() => batchNorm2d(x, w, b, rm, rv, { training: false, counter: c })), ['bn_apply=1', 'bn_running=1']);
  batchNorm2d(x, w, b, null, null, { training: true, counter: c }).dispose();
  batchNorm2d(x, null, null, rm, rv, { training: true }).dispose();
  assert.equal(Array.from(await c.data()), [8]);
  assert.throws(() => batchNorm2d(x, w, b, rm, rv, { training: true, counter: rm }), /counter/);
  for (const t of [x, rm, rv, w, b, c]) t.dispose();
});

for (const act of ['relu', 'relu6'] as const) {
  for (const [shape, training, trainAffine, onePass] of [[[3, 5, 4, 4], true, true, true], [[3, 5, 4, 4], true, true, false], [[2, 6, 3, 5], true, true, true], [[2, 6, 3, 5], true, true, false],
    [[2, 6, 4, 2], false, false, false], [[2, 3, 3, 3], false, true, false]] as const) {
    test(`batchNorm2d activation '${act}' (${shape}, ${training ? `training, ${onePass ? 'one dispatch' : 'chunks'}` : 'inference'}, affine ${trainAffine ? 'trainable' : 'frozen'}): bit for bit bn then ${act}, no activation kernels`, async () => {
      const oldMax = setBnOnePassMax(onePass ? 1 << 16 : 0);
      const n = shape.reduce((a, b) => a * b, 1), C = shape[1];
      const X = randArray(n, -4, 4), G = randArray(n), W = randArray(C, 0.5, 3), B = randArray(C, -1, 1), RM = randArray(C, -1, 1), RV = randArray(C, 0.3, 2);
      const go = async (fused: boolean) => {
        const x = variable(tensor(X, [...shape])), w = tensor(W), b = tensor(B), rm = tensor(RM), rv = tensor(RV);
        if (trainAffine) { w.requiresGrad = true; b.requiresGrad = true; }
        const rt = runtime(), u0 = (rt.dispatchByName.get('unary') ?? 0) + (rt.dispatchByName.get('unary_backward') ?? 0);
        const y = tidy(() => {
          const y = fused ? batchNorm2d(x, w, b, rm, rv, { training, activation: act }) : unary(act, batchNorm2d(x, w, b, rm, rv, { training }));
          backward(y, tensor(G, [...shape]));
          return y;
        });
        const acts = (rt.dispatchByName.get('unary') ?? 0) + (rt.dispatchByName.get('unary_backward') ?? 0) - u0;
        const out = { y: await y.data(), dx: await x.grad!.data(), dw: trainAffine ? await w.grad!.data() : null, db: trainAffine ? await b.grad!.data() : null, acts, rm: await rm.data() };
        for (const t of [y, x.grad, w.grad, b.grad, x, w, b, rm, rv]) t?.dispose();
        return out;
      };
      const f = await go(true), p = await go(false);
      const bits = (a: ArrayLike<number> | null) => a && Array.from(new Uint32Array(Float32Array.from(a).buffer));
      assert.ok(f.y.some((v) => v === 0) && f.y.some((v) => v > 0), 'some outputs clipped');
      assert.equal(bits(f.y), bits(p.y), 'y');
      assert.equal(bits(f.dx), bits(p.dx), 'dx');
      assert.equal(bits(f.dw), bits(p.dw), 'dweight');
      assert.equal(bits(f.db), bits(p.db), 'dbias');
      assert.equal(bits(f.rm), bits(p.rm), 'running mean');
      assert.is(p.acts, 2);
      // Inference mode with frozen affine parameters has no backward sums to mask in: one mask kernel.
      assert.is(f.acts, !training && !trainAffine ? 1 : 0, 'activation kernels run');
      setBnOnePassMax(oldMax);
    });
  }
}

// act(bn(x) + residual) in the batch-norm kernels: against the float64 references, with the residual's
// gradient the masked output gradient, and no elementwise kernel forward or backward.
for (const act of ['relu', null] as const) {
  for (const [shape, training, trainAffine, onePass] of [[[3, 5, 3, 3], true, true, true], [[2, 3, 5, 4], true, true, false],
    [[2, 5, 3, 3], false, true, false], [[3, 3, 2, 5], false, false, false]] as const) {
    const mode = training ? `training, ${onePass ? 'one dispatch' : 'chunks'}` : `inference, affine ${trainAffine ? 'trainable' : 'frozen'}`;
    test(`batchNorm2d residual${act ? ` + ${act}` : ''} (${shape}, ${mode}): y and every gradient match the references, no elementwise kernels`, async () => {
      const oldMax = setBnOnePassMax(onePass ? 1 << 16 : 0);
      const n = shape.reduce((a, b) => a * b, 1), C = shape[1], HW = n / shape[0] / C, eps = 1e-5;
      const X = randArray(n, -3, 3), R = randArray(n, -2, 2), G = randArray(n), W = randArray(C, 0.5, 2), B = randArray(C, -1, 1);
      const RM = randArray(C, -1, 1), RV = randArray(C, 0.3, 2);
      const x = variable(tensor(X, [...shape])), res = variable(tensor(R, [...shape])), w = tensor(W), b = tensor(B), rm = tensor(RM), rv = tensor(RV);
      if (trainAffine) { w.requiresGrad = true; b.requiresGrad = true; }
      const rt = runtime(), elementwise = () => ['unary', 'unary_backward', 'binary'].reduce((t, k) => t + (rt.dispatchByName.get(k) ?? 0), 0);
      const e0 = elementwise();
      const y = tidy(() => {
        const y = batchNorm2d(x, w, b, rm, rv, { training, activation: act, residual: res });
        backward(y, tensor(G, [...shape]));
        return y;
      });
      // Inference mode with a frozen affine has no backward sums to mask in: one mask kernel.
      assert.is(elementwise() - e0, !training && !trainAffine && act ? 1 : 0, 'elementwise kernels run');
      const ref = batchNormRef(X, [...shape], W, B, RM, RV, { training, eps }).out;
      const Y = ref.map((v, i) => (act ? Math.max(0, v + R[i]) : v + R[i]));
      const Yg = await y.data();
      assertClose(Yg, Y, 1e-4, 1e-5, 'y');
      // The mask is read from the output (as the activation's backward defines it).
      const GM = Float64Array.from(G, (g, i) => (act && Yg[i] <= 0 ? 0 : g));
      assertClose(await res.grad!.data(), GM, 0, 0, 'residual gradient');
      let ref2: { dx: ArrayLike<number>; dw: ArrayLike<number>; db: ArrayLike<number> };
      if (training) ref2 = bnBackwardRef(X, [...shape], W, GM, eps);
      else {
        const dx = new Float64Array(n), dw = new Float64Array(C), db = new Float64Array(C);
        for (let i = 0; i < n; i++) {
          const c = Math.floor(i / HW) % C, inv = 1 / Math.sqrt(RV[c] + eps);
          dx[i] = GM[i] * W[c] * inv; dw[c] += GM[i] * (X[i] - RM[c]) * inv; db[c] += GM[i];
        }
        ref2 = { dx, dw, db };
      }
      assertClose(await x.grad!.data(), ref2.dx, 1e-3, 1e-4, 'dx');
      if (trainAffine) {
        assertClose(await w.grad!.data(), ref2.dw, 1e-3, 1e-4, 'dweight');
        assertClose(await b.grad!.data(), ref2.db, 1e-3, 1e-4, 'dbias');
      }
      for (const t of [y, x.grad, res.grad, w.grad, b.grad, x, res, w, b, rm, rv]) t?.dispose();
      setBnOnePassMax(oldMax);
    });
  }
}

test('batchNorm2d refuses a residual unlike x', () => {
  const x = tensor(new Float32Array(12), [1, 3, 2, 2]);
  assert.throws(() => batchNorm2d(x, null, null, null, null, { training: true, residual: tensor(new Float32Array(12), [1, 3, 4, 1]) }), /residual/);
  x.dispose();
});

test('batchNorm2d training on few values per channel: one kernel forward, one backward (dx and the affine gradients)', async () => {
  const rt = runtime();
  const x = variable(tensor(randArray(2 * 3 * 4 * 5), [2, 3, 4, 5])), w = variable(tensor(randArray(3, 0.5, 1.5))), b = variable(tensor(randArray(3)));
  const rm = tensor(new Float32Array(3)), rv = tensor(new Float32Array(3).fill(1));
  const before = new Map(rt.dispatchByName);
  tidy(() => { backward(sum(batchNorm2d(x, w, b, rm, rv, { training: true, activation: 'relu' }))); });
  const ran = [...rt.dispatchByName].filter(([k, v]) => v !== (before.get(k) ?? 0) && k.startsWith('bn_')).map(([k, v]) => `${k}=${v - (before.get(k) ?? 0)}`).sort();
  assert.equal(ran, ['bn_train=1', 'bn_train_backward=1']);
  assert.ok(x.grad && w.grad && b.grad, 'all three gradients');
  for (const t of [x, w, b, x.grad, w.grad, b.grad, rm, rv]) t?.dispose();
});

test('batchNorm2d refuses bad arguments', () => {
  const x = tensor(new Float32Array(12), [1, 3, 2, 2]);
  assert.throws(() => batchNorm2d(x, tensor(new Float32Array(2)), null, null, null), /weight/);
  assert.throws(() => batchNorm2d(tensor(new Float32Array(3), [1, 3]), null, null, null, null, { training: true }), /more than 1 value/);
  assert.throws(() => batchNorm2d(x, null, null, tensor(new Float32Array(3)), null), /both/);
  assert.throws(() => batchNorm2d(x, null, null, null, null, { eps: 0 }), /eps/);
  x.dispose();
});

test.run();
