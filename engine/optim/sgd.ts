/** SGD with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD semantics). */
import type { Tensor } from '../core/tensor.ts';
import { ThawError } from '../core/errors.ts';
import { live } from '../core/live.ts';
import { Optimizer, type ParamList, type GroupSpec, type ParamGroup, type ParamState, type UpdateItem } from './optimizer.ts';
import { sgdUpdate, sgdMulti, type SgdItem } from '../../kernels/index.ts';

/** SGD hyper-parameters (per group). */
export interface SgdHyper {
  lr: number;
  /** Momentum factor; 0 keeps no state. */
  momentum: number;
  dampening: number;
  /** L2 penalty added to the gradient. */
  weightDecay: number;
  nesterov: boolean;
}

/**
 * Stochastic gradient descent. `lr` is required (in the options or in every group), as in PyTorch.
 * State: `momentumBuffer` per parameter when momentum is non-zero, started at the first gradient.
 */
export class SGD extends Optimizer<SgdHyper> {
  constructor(params: ParamList | GroupSpec<SgdHyper>[], opts: Partial<SgdHyper> = {}) {
    super('SGD', params, { lr: NaN, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...opts });
  }

  protected override validate(g: ParamGroup<SgdHyper>, gi: number): void {
    if (Number.isNaN(g.lr)) throw new ThawError('optim', `SGD: group ${gi} has no learning rate; pass { lr } in the options or the group`);
    super.validate(g, gi);
    if (!(g.momentum >= 0)) throw new ThawError('optim', `SGD: group ${gi} has momentum ${g.momentum}; it must be >= 0`);
    if (!(g.weightDecay >= 0)) throw new ThawError('optim', `SGD: group ${gi} has weightDecay ${g.weightDecay}; it must be >= 0`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new ThawError('optim', `SGD: group ${gi}: Nesterov momentum needs momentum > 0 and dampening 0`);
  }

  /** All parameters of the group in multi-tensor dispatches: one set for those whose momentum starts now, one for the rest. */
  protected override updateMany(items: UpdateItem[], g: ParamGroup<SgdHyper>): void {
    const a = live(() => ({ lr: g.lr, momentum: g.momentum, dampening: g.dampening, weightDecay: g.weightDecay, nesterov: g.nesterov }));
    if (g.momentum === 0) return sgdMulti(items.map((it) => ({ param: it.param, grad: it.grad, momentumBuffer: null })), a, false, this.skipIf);
    const fresh: SgdItem[] = [], old: SgdItem[] = [];
    for (const it of items) {
      const b = this.buffer(it.s, 'momentumBuffer', it.param);
      (b.fresh ? fresh : old).push({ param: it.param, grad: it.grad, momentumBuffer: b.t });
    }
    if (fresh.length) sgdMulti(fresh, a, true, this.skipIf);
    if (old.length) sgdMulti(old, a, false, this.skipIf);
  }

  protected update(param: Tensor, grad: Tensor, s: ParamState, g: ParamGroup<SgdHyper>): void {
    if (g.momentum === 0) return sgdUpdate(param, grad, null, g, false);
    const { t, fresh } = this.buffer(s, 'momentumBuffer', param);
    sgdUpdate(param, grad, t, g, fresh);
  }
}
