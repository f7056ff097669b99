/**
 * The optimizer base: parameter groups with their own hyper-parameters (discriminative learning
 * rates), lazily allocated GPU state, and a host-side state dict for checkpoint resume.
 *
 * Frozen parameters (requiresGrad false) and parameters without a gradient are skipped: they get no
 * state and are never bound to a kernel, so a frozen backbone costs the optimizer nothing. Passing all
 * of a model's parameters is therefore fine, and unfreezing a layer later starts its state then.
 */
import { Tensor, keep } from '../core/tensor.ts';
import { tensor } from '../core/factory.ts';
import { ShapeError, ThawError } from '../core/errors.ts';
import { live } from '../core/live.ts';

/** Parameters as bare tensors (keyed by their index over all groups, as PyTorch's optimizer state_dict) or `[name, tensor]` pairs (`module.namedParameters()`). */
export type ParamList = Tensor[] | [string, Tensor][];
/** A parameter group as given to a constructor: its parameters and any hyper-parameters that override the optimizer's. */
export type GroupSpec<H> = { params: ParamList } & Partial<H>;
/** A parameter group: named parameters and hyper-parameters, which may be changed between steps (`opt.groups[1].lr = 1e-4`). */
export type ParamGroup<H> = H & {
  readonly params: [string, Tensor][];
  /** The learning rate a Scheduler scales (set by the first Scheduler attached, as PyTorch's `initial_lr`). */
  initialLr?: number;
};

/**
 * Per-parameter state: its step count and GPU buffers (each of the parameter's size). `steps`: the
 * step count on the GPU (1 i32, shared by the parameters whose state started together), which
 * optimizers whose update depends on the count (Adam) keep under `skipIf`: a skipped step does not
 * count there, while the host's `step` counts every step taken.
 */
export interface ParamState { step: number; buffers: Record<string, Tensor>; steps?: Tensor }

/** One parameter to update in a step: the parameter, its gradient and its state (step already counted). */
export interface UpdateItem { param: Tensor; grad: Tensor; s: ParamState }

/** Host copy of an optimizer's state, for checkpoints. Buffers are keyed by parameter name. */
export interface OptimizerStateDict {
  kind: string;
  groups: { params: string[]; hyper: Record<string, unknown> }[];
  state: Record<string, { step: number; buffers: Record<string, Float32Array> }>;
}

/** Base hyper-parameters every optimizer has. */
export interface BaseHyper { lr: number }

/**
 * Base of SGD, Adam and AdamW: parameter groups with their own hyper-parameters, per-parameter state,
 * `step()` over the gradients and `zeroGrad()`, and a host state dict for checkpoints.
 */
export abstract class Optimizer<H extends BaseHyper> {
  /** The parameter groups, in construction order. */
  readonly groups: ParamGroup<H>[];
  protected readonly state = new Map<Tensor, ParamState>();
  /**
   * A found-Inf flag (1 i32, on the GPU) that the update kernels read: where it is non-zero they
   * leave parameters and state unchanged (a step that dynamic loss scaling skips, LossScaler).
   * The host's step counts still advance; Adam counts steps on the GPU then (ParamState's `steps`),
   * so that a skipped step does not count, as torch's GradScaler skips optimizer.step().
   */
  skipIf: Tensor | null = null;

  constructor(readonly kind: string, params: ParamList | GroupSpec<H>[], defaults: H) {
    const specs: GroupSpec<H>[] = isGroupList(params) ? params : [{ params } as GroupSpec<H>];
    if (specs.length === 0) throw new ThawError('optim', `${kind}: no parameter groups were given`);
    const seenNames = new Set<string>(), seenTensors = new Set<Tensor>();
    let index = 0;
    this.groups = specs.map((spec, gi) => {
      const { params: list, ...over } = spec;
      const named: [string, Tensor][] = (list as (Tensor | [string, Tensor])[]).map((e) => {
        const pair: [string, Tensor] = e instanceof Tensor ? [String(index), e] : e;
        index++;
        if (!(pair[1] instanceof Tensor)) throw new ThawError('optim', `${kind}: group ${gi} holds something that is not a tensor`);
        if (seenNames.has(pair[0])) throw new ThawError('optim', `${kind}: parameter name '${pair[0]}' appears twice`);
        if (seenTensors.has(pair[1])) throw new ThawError('optim', `${kind}: parameter '${pair[0]}' appears in more than one place`);
        seenNames.add(pair[0]);
        seenTensors.add(pair[1]);
        return pair;
      });
      // Cloned per group, so changing one group's betas array cannot change another's.
      const hyper = structuredClone(defaults);
      for (const [k, v] of Object.entries(over)) if (v !== undefined) (hyper as any)[k] = structuredClone(v);
      const group = { ...hyper, params: named } as ParamGroup<H>;
      this.validate(group, gi);
      return group;
    });
    if (index === 0) throw new ThawError('optim', `${kind}: the parameter list is empty`);
  }

  /** Checks a group's hyper-parameters, throwing a ThawError naming the group and value. */
  protected validate(g: ParamGroup<H>, gi: number): void {
    if (!(g.lr >= 0)) throw new ThawError('optim', `${this.kind}: group ${gi} has learning rate ${g.lr}; it must be >= 0`);
  }

  /**
   * Encodes the updates of every trainable parameter that has a gradient: per group, `updateMany`
   * over all of them (SGD and Adam run multi-tensor kernels, a few parameters per dispatch). Step
   * counts advance in a live function and kernels read the hyper-parameters through live values
   * (engine/core/live.ts), so a recorded training step replays with the rates and counts of its own step.
   */
  step(): void {
    this.groups.forEach((g, gi) => {
      this.validate(g, gi);
      const items: UpdateItem[] = [];
      for (const [name, p] of g.params) {
        const grad = p.grad;
        if (!p.requiresGrad || !grad) continue;
        if (grad.size !== p.size) throw new ShapeError(`${this.kind}: gradient of '${name}' has shape [${grad.shape}], parameter has [${p.shape}]`);
        let s = this.state.get(p);
        if (!s) this.state.set(p, (s = { step: 0, buffers: {} }));
        items.push({ param: p, grad, s });
      }
      if (!items.length) return;
      live(() => { for (const it of items) it.s.step++; });
      this.updateMany(items, g);
    });
  }

  /** Applies one update to each item of one group; the default runs `update` on each. */
  protected updateMany(items: UpdateItem[], group: ParamGroup<H>): void {
    for (const it of items) this.update(it.param, it.grad, it.s, group);
  }

  /** Applies one update to `param` from `grad`; `s.step` already counts this step. */
  protected abstract update(param: Tensor, grad: Tensor, s: ParamState, group: ParamGroup<H>): void;

  /**
   * The state buffer `key` of a parameter, allocated (uninitialised, outliving any tidy scope) when
   * missing; `fresh` tells the kernel not to read it.
   */
  protected buffer(s: ParamState, key: string, param: Tensor): { t: Tensor; fresh: boolean } {
    const t = s.buffers[key];
    if (t) return { t, fresh: false };
    const n = keep(Tensor.alloc(param.shape, 'f32', `optimizer state '${key}' of ${param.name ?? 'a parameter'}`));
    s.buffers[key] = n;
    return { t: n, fresh: true };
  }

  /** Disposes every parameter's gradient (the next backward starts from none). */
  zeroGrad(): void {
    for (const g of this.groups) for (const [, p] of g.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** The state of a parameter, if it has any (tests and reports). */
  stateOf(param: Tensor): Readonly<ParamState> | undefined { return this.state.get(param); }

  /** Bytes of GPU memory held by optimizer state (4 per element of every state buffer). */
  stateBytes(): number {
    let n = 0;
    for (const s of this.state.values()) for (const t of Object.values(s.buffers)) n += t.size * 4;
    return n;
  }

  private names(): Map<Tensor, string> {
    return new Map(this.groups.flatMap((g) => g.params.map(([n, p]) => [p, n] as [Tensor, string])));
  }

  /** Copies step counts, state buffers (by parameter name) and group hyper-parameters to the host. */
  async stateDict(): Promise<OptimizerStateDict> {
    const names = this.names();
    const state: OptimizerStateDict['state'] = {};
    for (const [p, s] of this.state) {
      const buffers: Record<string, Float32Array> = {};
      for (const [k, t] of Object.entries(s.buffers)) buffers[k] = (await t.data()) as Float32Array;
      state[names.get(p)!] = { step: s.steps ? (await s.steps.data())[0] : s.step, buffers };
    }
    const groups = this.groups.map((g) => {
      const { params, ...hyper } = g;
      return { params: params.map(([n]) => n), hyper: structuredClone(hyper) as Record<string, unknown> };
    });
    return { kind: this.kind, groups, state };
  }

  /**
   * Restores a state dict made by `stateDict()` of an optimizer of the same kind over the same
   * parameter names and groups; replaces all current state. Mismatches are reported by name.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    if (sd.kind !== this.kind) throw new ThawError('optim-state', `loadStateDict: state is from ${sd.kind}, this optimizer is ${this.kind}`);
    if (sd.groups.length !== this.groups.length) throw new ThawError('optim-state', `loadStateDict: state has ${sd.groups.length} parameter groups, this optimizer has ${this.groups.length}`);
    const byName = new Map<string, Tensor>();
    this.groups.forEach((g, gi) => {
      const mine = g.params.map(([n]) => n), theirs = sd.groups[gi].params;
      const missing = mine.filter((n) => !theirs.includes(n)), extra = theirs.filter((n) => !mine.includes(n));
      if (missing.length || extra.length) {
        throw new ThawError('optim-state', `loadStateDict: group ${gi} differs: missing [${missing.join(', ')}], unexpected [${extra.join(', ')}]`);
      }
      for (const [n, p] of g.params) byName.set(n, p);
    });
    for (const [name, e] of Object.entries(sd.state)) {
      const p = byName.get(name);
      if (!p) throw new ThawError('optim-state', `loadStateDict: state for unknown parameter '${name}'`);
      for (const [k, b] of Object.entries(e.buffers)) {
        if (b.length !== p.size) throw new ShapeError(`loadStateDict: '${name}' buffer '${k}' has ${b.length} elements, parameter has ${p.size}`);
      }
    }
    this.disposeState();
    for (const [name, e] of Object.entries(sd.state)) {
      const p = byName.get(name)!;
      const buffers: Record<string, Tensor> = {};
      for (const [k, b] of Object.entries(e.buffers)) buffers[k] = keep(tensor(b, p.shape));
      this.state.set(p, { step: e.step, buffers });
    }
    this.groups.forEach((g, gi) => Object.assign(g, structuredClone(sd.groups[gi].hyper)));
  }

  private disposeState(): void {
    const steps = new Set<Tensor>();
    for (const s of this.state.values()) {
      for (const t of Object.values(s.buffers)) t.dispose();
      if (s.steps) steps.add(s.steps);
    }
    for (const t of steps) t.dispose();
    this.state.clear();
  }

  /** Frees all optimizer state (parameters and gradients are left alone). */
  dispose(): void { this.disposeState(); }
}

function isGroupList<H>(p: ParamList | GroupSpec<H>[]): p is GroupSpec<H>[] {
  return p.length > 0 && !(p[0] instanceof Tensor) && !Array.isArray(p[0]);
}
