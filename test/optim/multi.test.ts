// Multi-tensor optimizer and clipping kernels: several parameters of odd sizes per dispatch give the
// same bits as the single-tensor kernels (one dispatch each), in fewer dispatches; chunking by the
// device's binding limit, by a lowered cap, and around a buffer bound twice (tied weights).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { Tensor, keep } from '../../engine/core/tensor.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { SGD, Adam, AdamW, clipGradNorm } from '../../engine/optim/index.ts';
import { sgdUpdate, adamUpdate } from '../../kernels/optim/optim.ts';
import { sgdRef } from '../../kernels/optim/reference.ts';
import { setMultiTensorCap, perDispatch, chunk } from '../../kernels/optim/multi.ts';
import { clipRef } from '../../kernels/optim/reference.ts';

test.before(async () => { await setup(); });

const SIZES = [1, 3, 65, 64, 4097, 7, 2, 9000, 5];
const STEPS = 3;

function params(seed: number): { ps: Tensor[]; init: Float32Array[]; grads: Float32Array[][] } {
  const init = SIZES.map((n) => randArray(n, -1, 1));
  const grads = Array.from({ length: STEPS }, () => SIZES.map((n) => randArray(n, -1 - seed, 1 + seed)));
  const ps = init.map((a) => { const p = keep(tensor(a, [a.length])); p.requiresGrad = true; return p; });
  return { ps, init, grads };
}
const bits = async (t: Tensor) => Array.from(new Uint32Array(((await t.data()) as Float32Array).slice().buffer));

type Make = (ps: Tensor[]) => SGD | Adam | AdamW;
const cases: [string, Make, string][] = [
  ['SGD', (ps) => new SGD(ps, { lr: 0.1 }), 'optim_multi_sgd'],
  ['SGD momentum + weight decay', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-2 }), 'optim_multi_sgd_momentum'],
  ['SGD Nesterov', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.8, nesterov: true }), 'optim_multi_sgd_momentum'],
  ['Adam + L2', (ps) => new Adam(ps, { lr: 1e-2, weightDecay: 1e-2 }), 'optim_multi_adam'],
  ['AdamW', (ps) => new AdamW(ps, { lr: 1e-2 }), 'optim_multi_adam'],
];

/** The single-tensor kernels (one dispatch per parameter), applied as the optimizer used to. */
function singleStep(name: string, ps: Tensor[], grads: Tensor[], state: Map<number, Tensor[]>, step: number): void {
  ps.forEach((p, i) => {
    const g = grads[i];
    let s = state.get(i);
    const first = !s;
    if (name.startsWith('SGD')) {
      const h = name === 'SGD' ? { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false }
        : name === 'SGD Nesterov' ? { lr: 0.05, momentum: 0.8, dampening: 0, weightDecay: 0, nesterov: true }
          : { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-2, nesterov: false };
      if (!s && h.momentum) state.set(i, (s = [keep(Tensor.alloc(p.shape))]));
      sgdUpdate(p, g, s ? s[0] : null, h, first);
    } else {
      if (!s) state.set(i, (s = [keep(Tensor.alloc(p.shape)), keep(Tensor.alloc(p.shape))]));
      const decoupled = name === 'AdamW';
      adamUpdate(p, g, s[0], s[1], { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled, step, first });
    }
  });
}

for (const cap of [16, 3]) {
  for (const [name, make, kernel] of cases) {
    test(`${name}, cap ${cap}: multi-tensor steps on ${SIZES.length} odd-sized parameters equal the single-tensor kernels bit for bit, in fewer dispatches`, async () => {
      const old = setMultiTensorCap(cap);
      try {
        const a = params(1), b = { ps: a.init.map((x) => keep(tensor(x, [x.length]))) };
        const opt = make(a.ps);
        const rt = runtime();
        const state = new Map<number, Tensor[]>();
        const per = perDispatch(kernel === 'optim_multi_adam' ? 4 : kernel === 'optim_multi_sgd' ? 2 : 3);
        assert.ok(per >= 2, `at least 2 parameters per dispatch (got ${per})`);
        for (let s = 0; s < STEPS; s++) {
          const gs = a.grads[s].map((g) => keep(tensor(g, [g.length])));
          a.ps.forEach((p, i) => { p.grad = gs[i]; });
          const d0 = rt.dispatches, k0 = rt.dispatchByName.get(kernel) ?? 0;
          opt.step();
          // Step 1 also allocates state (which the tests' poison fill dispatches to); later steps are only the update.
          if (s > 0) assert.is(rt.dispatches - d0, Math.ceil(SIZES.length / per), `dispatches at step ${s + 1}`);
          assert.is((rt.dispatchByName.get(kernel) ?? 0) - k0, Math.ceil(SIZES.length / per), `${kernel} dispatches`);
          singleStep(name, b.ps, gs, state, s + 1);
          opt.zeroGrad();
        }
        for (let i = 0; i < SIZES.length; i++) assert.equal(await bits(a.ps[i]), await bits(b.ps[i]), `parameter ${i} (size ${SIZES[i]})`);
        if (name === 'SGD momentum + weight decay') {
          // And the float32 CPU oracle (one rounding per operation).
          const h = { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-2, nesterov: false };
          for (let i = 0; i < SIZES.length; i++) {
            const p = a.init[i].slice(), buf = new Float32Array(SIZES[i]);
            for (let s = 0; s < STEPS; s++) sgdRef(p, a.grads[s][i], buf, h, s === 0);
            assertClose(await a.ps[i].data(), p, 1e-6, 1e-7, `parameter ${i} vs sgdRef`);
          }
        }
        opt.dispose();
        for (const t of [...a.ps, ...b.ps, ...[...state.values()].flat()]) t.dispose();
      } finally {
        setMultiTensorCap(old);
      }
    });
  }
}

test('Adam: parameters at different step counts (one joined later) are updated in separate sets, each correct', async () => {
  const a = params(0), b = { ps: a.init.map((x) => keep(tensor(x, [x.length]))) };
  const opt = new Adam(a.ps, { lr: 1e-2, weightDecay: 1e-2 });
  const state = new Map<number, Tensor[]>();
  for (let s = 0; s < STEPS; s++) {
    const gs = a.grads[s].map((g) => keep(tensor(g, [g.length])));
    // Parameter 4 gets no gradient at step 1, so its own step count lags by one.
    a.ps.forEach((p, i) => { p.grad = s === 0 && i === 4 ? null : gs[i]; });
    opt.step();
    b.ps.forEach((p, i) => {
      if (s === 0 && i === 4) return;
      const step = i === 4 ? s : s + 1;
      let st = state.get(i);
      const first = !st;
      if (!st) state.set(i, (st = [keep(Tensor.alloc(p.shape)), keep(Tensor.alloc(p.shape))]));
      adamUpdate(p, gs[i], st[0], st[1], { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled: false, step, first });
    });
    opt.zeroGrad();
    if (s === 0) gs[4].dispose();
  }
  assert.is(opt.stateOf(a.ps[4])!.step, STEPS - 1);
  for (let i = 0; i < SIZES.length; i++) assert.equal(await bits(a.ps[i]), await bits(b.ps[i]), `parameter ${i}`);
  opt.dispose();
  for (const t of [...a.ps, ...b.ps, ...[...state.values()].flat()]) t.dispose();
});

test('chunks cut where a buffer would be bound twice (tied weights) and at the cap', () => {
  const x = keep(tensor([1, 2])), y = keep(tensor([3])), tied = x.alias([2]);
  const items = [x, y, tied, y];
  const sizes = chunk(items, 8, (t) => [t]).map((c) => c.length);
  assert.equal(sizes, [2, 2], 'a new chunk where x is bound again');
  assert.equal(chunk([x, y, keep(tensor([5]))], 2, (t) => [t]).map((c) => c.length), [2, 1]);
  for (const t of [x, y, tied]) t.dispose();
});

test('clipGradNorm over many odd-sized gradients: a few dispatches per chunk of gradients, same norm and scaling (cap 2 and 16)', async () => {
  for (const cap of [2, 16]) {
    const old = setMultiTensorCap(cap);
    try {
      const ps = SIZES.map((n) => {
        const p = keep(tensor(new Float32Array(n), [n]));
        p.requiresGrad = true;
        p.grad = keep(tensor(randArray(n, -3, 3), [n]));
        return p;
      });
      const ref = await Promise.all(ps.map(async (p) => ((await p.grad!.data()) as Float32Array).slice()));
      const rt = runtime();
      const names = ['optim_multi_sumsq', 'optim_norm_scale', 'optim_multi_scale'];
      const counts = () => names.map((n) => rt.dispatchByName.get(n) ?? 0);
      const d0 = counts();
      const norm = clipGradNorm(ps, 1.5);
      const k = Math.ceil(SIZES.length / perDispatch(1, 1));
      assert.ok(k < SIZES.length);
      assert.equal(counts().map((c, i) => c - d0[i]), [k, 1, k], `cap ${cap}: sum-of-squares and scale dispatches, ${k} each, + 1`);
      const want = clipRef(ref, 1.5);
      assertClose([await norm.item()], [want], 1e-6, 0, 'norm vs float64');
      for (let i = 0; i < ps.length; i++) assertClose(await ps[i].grad!.data(), ref[i], 1e-6, 1e-7, `grad ${i} (size ${SIZES[i]})`);
      norm.dispose();
      for (const p of ps) { p.grad!.dispose(); p.dispose(); }
    } finally {
      setMultiTensorCap(old);
    }
  }
});

test.run();
