// LR schedules against torch.optim.lr_scheduler over 50 steps (fixtures), for two parameter groups
// with different base rates; OneCycle's momentum on SGD and Adam; Scheduler resume and errors.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { keep } from '../../engine/core/tensor.ts';
import { ThawError } from '../../engine/core/errors.ts';
import { SGD, Adam, Scheduler, stepDecay, cosine, linear, oneCycle, warmup, constant, type Schedule, type Optimizer } from '../../engine/optim/index.ts';

const fx = JSON.parse(readFileSync(new URL('../fixtures/optim/schedules.json', import.meta.url), 'utf8'));
test.before(async () => { await setup(); });

/** The fixture script's optimizers: two groups with base rates 0.1 and 0.02 (SGD with momentum 0.9). */
function optimizer(kind: 'SGD' | 'Adam' = 'SGD'): Optimizer<any> {
  const ps = [keep(tensor([0])), keep(tensor([0]))];
  for (const p of ps) p.requiresGrad = true;
  const groups = [{ params: [ps[0]], lr: 0.1 }, { params: [ps[1]], lr: 0.02 }];
  return kind === 'SGD' ? new SGD(groups, { momentum: 0.9 }) : new Adam(groups);
}
function release(opt: Optimizer<any>): void { for (const g of opt.groups) for (const [, p] of g.params) p.dispose(); }

const CASES: [string, () => Schedule, 'SGD' | 'Adam'][] = [
  ['step', () => stepDecay(fx.step.stepSize, fx.step.gamma), 'SGD'],
  ['cosine', () => cosine(fx.cosine.tMax, fx.cosine.etaMin), 'SGD'],
  ['linear', () => linear(fx.linear.startFactor, fx.linear.endFactor, fx.linear.totalIters), 'SGD'],
  ['linearDefault', () => linear(), 'SGD'],
  ['oneCycleSgd', () => oneCycle(fx.oneCycleSgd.totalSteps), 'SGD'],
  ['oneCycleAdam', () => oneCycle(fx.oneCycleAdam.totalSteps), 'Adam'],
  ['warmupCosine', () => warmup(fx.warmupCosine.warmup, cosine(fx.warmupCosine.tMax), fx.warmupCosine.startFactor), 'SGD'],
  ['warmupStep', () => warmup(fx.warmupStep.warmup, stepDecay(fx.warmupStep.stepSize, fx.warmupStep.gamma), fx.warmupStep.startFactor), 'SGD'],
];
let worst = 0;

for (const [name, make, kind] of CASES) {
  test(`${name}: group rates${fx[name].momentum ? ' and momentum' : ''} match torch.optim.lr_scheduler over ${fx[name].lrs.length} steps`, () => {
    const opt = optimizer(kind);
    const sched = new Scheduler(opt, make());
    const want = fx[name];
    for (let s = 0; s < want.lrs.length; s++) {
      assert.is(sched.lastStep, s);
      const lrs = sched.lrs();
      for (let g = 0; g < 2; g++) worst = Math.max(worst, Math.abs(lrs[g] - want.lrs[s][g]) / want.lrs[s][g]);
      assertClose(lrs, want.lrs[s], 1e-12, 0, `${name} lr at step ${s}`);
      if (want.momentum) {
        const m = opt.groups.map((g: any) => (kind === 'Adam' ? g.betas[0] : g.momentum));
        assertClose(m, want.momentum[s], 1e-12, 0, `${name} momentum at step ${s}`);
        if (kind === 'Adam') assert.is(opt.groups[0].betas[1], 0.999, 'beta2 untouched');
      }
      sched.step();
    }
    release(opt);
  });
}

test('schedule functions at their end points; per-group schedules keep each group\'s base rate', () => {
  const f = cosine(10, 0.001);
  assert.is(f(0, 0.5), 0.5);
  assert.ok(Math.abs(f(10, 0.5) - 0.001) < 1e-15);
  assert.is(constant()(7, 0.3), 0.3);
  const opt = optimizer();
  opt.groups[1].lr = 0.001; // changed before the scheduler is made: it becomes that group's base
  const sched = new Scheduler(opt, [stepDecay(2, 0.5), constant()]);
  sched.step(); sched.step();
  assert.equal(sched.lrs(), [0.05, 0.001]);
  release(opt);
});

test('Scheduler state dict resumes at the same step and base rates', () => {
  const a = optimizer(), b = optimizer();
  const sa = new Scheduler(a, oneCycle(30));
  for (let i = 0; i < 12; i++) sa.step();
  const sd = sa.stateDict();
  b.groups[0].lr = 123; // a fresh run with other settings; the state dict wins
  const sb = new Scheduler(b, oneCycle(30));
  sb.loadStateDict(sd);
  assert.is(sb.lastStep, 12);
  for (let i = 0; i < 10; i++) {
    assert.equal(sb.lrs(), sa.lrs());
    assert.equal(b.groups.map((g: any) => g.momentum), a.groups.map((g: any) => g.momentum));
    sa.step(); sb.step();
  }
  release(a); release(b);
});

test('errors: OneCycle past its total steps, schedule count, momentum without momentum', () => {
  const opt = optimizer();
  const s = new Scheduler(opt, oneCycle(3));
  s.step(); s.step(); s.step();
  assert.throws(() => s.step(), (e: Error) => e instanceof ThawError && /past totalSteps 3/.test(e.message));
  assert.throws(() => new Scheduler(opt, [constant()]), /1 schedules for 2 parameter groups/);
  const p = keep(tensor([1]));
  const bare = new (class extends SGD {})([p], { lr: 0.1 });
  delete (bare.groups[0] as any).momentum;
  assert.throws(() => new Scheduler(bare, oneCycle(10)), /neither momentum nor betas/);
  p.dispose();
  release(opt);
});

test.after(() => console.log(`\n  schedules vs torch: max relative error ${worst.toExponential(2)}`));

test.run();
