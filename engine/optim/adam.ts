/** Adam (L2 weight decay added to the gradient) and AdamW (decoupled decay), as torch.optim. */
import { Tensor, keep } from '../core/tensor.ts';
import { tensor } from '../core/factory.ts';
import { ThawError } from '../core/errors.ts';
import { live } from '../core/live.ts';
import { Optimizer, type ParamList, type GroupSpec, type ParamGroup, type ParamState, type UpdateItem } from './optimizer.ts';
import { adamUpdate, adamMulti, type AdamItem } from '../../kernels/index.ts';

/** Adam/AdamW hyper-parameters (per group). */
export interface AdamHyper {
  lr: number;
  betas: [number, number];
  /** Added to the bias-corrected sqrt of the second moment (outside the square root, as PyTorch). */
  eps: number;
  weightDecay: number;
}

class AdamBase extends Optimizer<AdamHyper> {
  constructor(kind: string, private decoupled: boolean, params: ParamList | GroupSpec<AdamHyper>[], defaults: AdamHyper) {
    super(kind, params, defaults);
  }

  protected override validate(g: ParamGroup<AdamHyper>, gi: number): void {
    super.validate(g, gi);
    const [b1, b2] = g.betas;
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) throw new ThawError('optim', `${this.kind}: group ${gi} has betas [${g.betas}]; each must be in [0, 1)`);
    if (!(g.eps >= 0)) throw new ThawError('optim', `${this.kind}: group ${gi} has eps ${g.eps}; it must be >= 0`);
    if (!(g.weightDecay >= 0)) throw new ThawError('optim', `${this.kind}: group ${gi} has weightDecay ${g.weightDecay}; it must be >= 0`);
  }

  /**
   * All parameters of the group in multi-tensor dispatches, one set per (step count, fresh moments,
   * and under `skipIf` the GPU step counter). Under `skipIf` the step count is the GPU counter of
   * good steps (ParamState's `steps`), started from the host count where a state has none yet.
   */
  protected override updateMany(items: UpdateItem[], g: ParamGroup<AdamHyper>): void {
    const sets = new Map<string, { s: ParamState; first: boolean; items: AdamItem[] }>();
    const counters = new Map<number, Tensor>(), ids = new Map<Tensor, number>();
    for (const it of items) {
      const m = this.buffer(it.s, 'expAvg', it.param), v = this.buffer(it.s, 'expAvgSq', it.param);
      // it.s.step already counts this step: the steps before it were all taken (none could be skipped without a counter).
      if (this.skipIf && !it.s.steps) {
        let c = counters.get(it.s.step);
        if (!c) counters.set(it.s.step, (c = keep(tensor(new Int32Array([it.s.step - 1]), [1], 'i32'))));
        it.s.steps = c;
      }
      if (it.s.steps && !ids.has(it.s.steps)) ids.set(it.s.steps, ids.size);
      const first = m.fresh || v.fresh, key = `${it.s.step}:${first}:${this.skipIf ? ids.get(it.s.steps!) : ''}`;
      let set = sets.get(key);
      if (!set) sets.set(key, (set = { s: it.s, first, items: [] }));
      set.items.push({ param: it.param, grad: it.grad, expAvg: m.t, expAvgSq: v.t });
    }
    for (const { s, first, items } of sets.values()) {
      adamMulti(items, live(() => ({
        lr: g.lr, beta1: g.betas[0], beta2: g.betas[1], eps: g.eps, weightDecay: g.weightDecay,
        decoupled: this.decoupled, step: s.step, first,
      })), this.skipIf ? { found: this.skipIf, steps: s.steps! } : null);
    }
  }

  protected update(param: Tensor, grad: Tensor, s: ParamState, g: ParamGroup<AdamHyper>): void {
    const m = this.buffer(s, 'expAvg', param), v = this.buffer(s, 'expAvgSq', param);
    adamUpdate(param, grad, m.t, v.t, {
      lr: g.lr, beta1: g.betas[0], beta2: g.betas[1], eps: g.eps, weightDecay: g.weightDecay,
      decoupled: this.decoupled, step: s.step, first: m.fresh || v.fresh,
    });
  }
}

/** Adam with bias correction; `weightDecay` is an L2 term added to the gradient. State: `expAvg`, `expAvgSq`. */
export class Adam extends AdamBase {
  constructor(params: ParamList | GroupSpec<AdamHyper>[], opts: Partial<AdamHyper> = {}) {
    super('Adam', false, params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, ...opts });
  }
}

/** AdamW: Adam with decoupled weight decay (param *= 1 - lr * weightDecay each step; default 0.01). */
export class AdamW extends AdamBase {
  constructor(params: ParamList | GroupSpec<AdamHyper>[], opts: Partial<AdamHyper> = {}) {
    super('AdamW', true, params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, ...opts });
  }
}
