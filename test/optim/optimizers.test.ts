// SGD / Adam / AdamW parameter values over 10 steps against torch.optim (float32 CPU), from
// test/fixtures/make_optim_fixtures.py: plain SGD, momentum, Nesterov + weight decay, dampening,
// Adam, Adam with L2 decay, AdamW, and two parameter groups whose rates change every step.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { Tensor, keep } from '../../engine/core/tensor.ts';
import { SGD, Adam, AdamW, type Optimizer } from '../../engine/optim/index.ts';

const fx = JSON.parse(readFileSync(new URL('../fixtures/optim/optimizers.json', import.meta.url), 'utf8'));
const NAMES = Object.keys(fx.params);
const STEPS: number = fx.cases[0].steps.length;
/** Relative tolerance against torch's float32 values; atol covers elements that cancel towards zero. */
const RTOL = 1e-6;

test.before(async () => { await setup(); });

/** Error of `got` vs `want` in units of float32 spacing at the larger magnitude, and relative. */
function errors(got: ArrayLike<number>, want: ArrayLike<number>): { rel: number; ulps: number; relOfMax: number } {
  let rel = 0, ulps = 0, relOfMax = 0, scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= Infinity)) return { rel: NaN, ulps: NaN, relOfMax: NaN };
    if (d > 0) rel = Math.max(rel, d / Math.abs(want[i]));
    const m = Math.max(Math.abs(got[i]), Math.abs(want[i]));
    ulps = Math.max(ulps, d / (m === 0 ? 1.4e-45 : 2 ** (Math.floor(Math.log2(m)) - 23)));
    relOfMax = Math.max(relOfMax, d / scale);
  }
  return { rel, ulps, relOfMax };
}

const worst = { rel: 0, ulps: 0, relOfMax: 0, where: '', exact: 0, total: 0 };

function make(kind: string, groups: any[]): { opt: Optimizer<any>; params: Map<string, Tensor>; frozen: Tensor } {
  const params = new Map<string, Tensor>();
  for (const n of NAMES) {
    const t = keep(tensor(fx.params[n].init, fx.params[n].shape));
    t.requiresGrad = true;
    params.set(n, t);
  }
  const frozen = keep(tensor([0.5, -1.25, 3, 1e-3], [4])); // requiresGrad false, but given a gradient below
  const specs = groups.map(({ params: names, ...h }: any, gi: number) => ({
    ...h, params: [...names.map((n: string) => [n, params.get(n)!]), ...(gi === 0 ? [['frozen', frozen]] : [])],
  }));
  const Cls = kind === 'SGD' ? SGD : kind === 'Adam' ? Adam : AdamW;
  return { opt: new Cls(specs, {}), params, frozen };
}

for (const c of fx.cases) {
  test(`${c.name}: parameters match torch.optim.${c.kind} for ${STEPS} steps (rtol ${RTOL})`, async () => {
    const { opt, params, frozen } = make(c.kind, c.groups);
    const frozenBits = new Uint32Array((await frozen.data()).buffer.slice(0));
    for (let s = 0; s < STEPS; s++) {
      if (c.lrs.length) opt.groups.forEach((g, gi) => { g.lr = c.lrs[s][gi]; });
      opt.zeroGrad();
      for (const n of NAMES) {
        const g = fx.grads[n][s];
        params.get(n)!.grad = g ? keep(tensor(g, fx.params[n].shape)) : null;
      }
      frozen.grad = keep(tensor([1, 1, 1, 1]));
      opt.step();
      for (const n of NAMES) {
        const got = await params.get(n)!.data(), want: number[] = c.steps[s][n];
        const e = errors(got, want);
        if (e.rel > worst.rel || Number.isNaN(e.rel)) Object.assign(worst, { rel: e.rel, where: `${c.name} step ${s + 1} '${n}'` });
        worst.ulps = Math.max(worst.ulps, e.ulps);
        worst.relOfMax = Math.max(worst.relOfMax, e.relOfMax);
        for (let i = 0; i < want.length; i++) { worst.total++; if (got[i] === Math.fround(want[i])) worst.exact++; }
        for (let i = 0; i < want.length; i++) {
          const tol = RTOL * Math.abs(want[i]) + 1e-7 * 2 ** Math.ceil(Math.log2(Math.max(...want.map(Math.abs))));
          if (!(Math.abs(got[i] - want[i]) <= tol)) {
            assert.unreachable(`${c.name} step ${s + 1} '${n}'[${i}]: got ${got[i]}, torch ${want[i]} (|diff| ${Math.abs(got[i] - want[i])} > ${tol})`);
          }
        }
      }
    }
    // Frozen: bytewise unchanged and no state, though it had a gradient.
    assert.equal(new Uint32Array((await frozen.data()).buffer), frozenBits, 'frozen parameter changed');
    assert.is(opt.stateOf(frozen), undefined, 'frozen parameter got state');
    // Final state against torch's optimizer state (moments, momentum buffers, per-parameter steps).
    const sd = await opt.stateDict();
    for (const n of NAMES) {
      const want = c.state[n];
      const got = sd.state[n];
      const keys = Object.keys(want).filter((k) => k !== 'step');
      assert.equal(Object.keys(got.buffers).sort(), keys.sort(), `${c.name} '${n}' state buffers`);
      if (want.step !== undefined) assert.is(got.step, want.step, `${c.name} '${n}' step count`);
      for (const k of keys) {
        const scale = Math.max(...want[k].map(Math.abs));
        for (let i = 0; i < want[k].length; i++) {
          const tol = 1e-5 * Math.abs(want[k][i]) + 1e-6 * scale;
          if (!(Math.abs(got.buffers[k][i] - want[k][i]) <= tol)) assert.unreachable(`${c.name} '${n}' ${k}[${i}]: got ${got.buffers[k][i]}, torch ${want[k][i]}`);
        }
      }
    }
    assert.not.ok('frozen' in sd.state);
    opt.dispose();
    for (const t of [...params.values(), frozen]) { t.grad?.dispose(); t.dispose(); }
  });
}

test.after(() => {
  console.log(`\n  optimizers vs torch: max relative error ${worst.rel.toExponential(2)} (${worst.where}, an element cancelling towards 0); ` +
    `max |diff| / max|param| ${worst.relOfMax.toExponential(2)}; max ${worst.ulps.toFixed(0)} float32 ulps of the element; ` +
    `${worst.exact}/${worst.total} values bit-identical`);
});

test.run();
