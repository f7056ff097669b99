/**
 * Learning-rate schedules as pure functions of the step, and a Scheduler that applies them to an
 * optimizer's parameter groups. Step 0 is the first optimizer step: a Scheduler sets step 0's rate
 * when it is made and the next one on every `step()`, as torch.optim.lr_scheduler does when
 * `scheduler.step()` follows `optimizer.step()`. The closed forms equal PyTorch's values.
 */
import { ThawError } from '../core/errors.ts';
import type { Optimizer } from './optimizer.ts';

/**
 * The learning rate at `step` for a group whose base rate is `base` (the group's rate when the
 * scheduler was made, PyTorch's `initial_lr`). A schedule may also give a momentum (OneCycle), which
 * the Scheduler writes to SGD's `momentum` or Adam's `betas[0]`.
 */
export type Schedule = ((step: number, base: number) => number) & {
  /** The momentum at `step`, for schedules that cycle it (OneCycle). */
  momentum?: (step: number) => number;
};

/** The base rate throughout. */
export function constant(): Schedule { return (_s, base) => base; }

/** StepLR: base * gamma^floor(step / stepSize). */
export function stepDecay(stepSize: number, gamma = 0.1): Schedule {
  if (!(stepSize >= 1)) throw new ThawError('schedule', `stepDecay: stepSize is ${stepSize}; it must be >= 1`);
  return (s, base) => base * gamma ** Math.floor(s / stepSize);
}

/** CosineAnnealingLR: etaMin + (base - etaMin) * (1 + cos(pi * step / tMax)) / 2 (periodic past tMax, as PyTorch's). */
export function cosine(tMax: number, etaMin = 0): Schedule {
  if (!(tMax > 0)) throw new ThawError('schedule', `cosine: tMax is ${tMax}; it must be > 0`);
  return (s, base) => etaMin + (base - etaMin) * (1 + Math.cos(Math.PI * s / tMax)) / 2;
}

/** LinearLR: the factor goes linearly from startFactor to endFactor over totalIters steps, then stays. */
export function linear(startFactor = 1 / 3, endFactor = 1, totalIters = 5): Schedule {
  if (!(startFactor > 0 && startFactor <= 1 && endFactor >= 0 && endFactor <= 1)) {
    throw new ThawError('schedule', `linear: factors ${startFactor} -> ${endFactor} must lie in (0, 1] and [0, 1]`);
  }
  return (s, base) => base * (startFactor + (endFactor - startFactor) * Math.min(s, totalIters) / totalIters);
}

/**
 * Multiplies schedules' factors (each schedule evaluated with base 1), as torch's ChainedScheduler
 * does for multiplicative schedulers (StepLR, LinearLR, cosine with etaMin 0). Momentum comes from the
 * last schedule that has one.
 */
export function chain(...schedules: Schedule[]): Schedule {
  const out: Schedule = (s, base) => schedules.reduce((lr, f) => lr * f(s, 1), base);
  const m = [...schedules].reverse().find((f) => f.momentum)?.momentum;
  if (m) out.momentum = m;
  return out;
}

/** Linear warm-up over `steps` steps from `startFactor` * base, multiplied into `then` (chain(linear(...), then)). */
export function warmup(steps: number, then: Schedule = constant(), startFactor = 1 / 3): Schedule {
  return chain(linear(startFactor, 1, steps), then);
}

/** OneCycleLR options; the defaults are PyTorch's. */
export interface OneCycleOptions {
  pctStart?: number;
  anneal?: 'cos' | 'linear';
  divFactor?: number;
  finalDivFactor?: number;
  threePhase?: boolean;
  /** Cycle momentum inversely to the rate, between baseMomentum and maxMomentum (default true). */
  cycleMomentum?: boolean;
  baseMomentum?: number;
  maxMomentum?: number;
}

/**
 * OneCycleLR over `totalSteps` steps; the group's base rate is its max_lr. The rate rises from
 * max/divFactor to max over pctStart of the steps, then anneals to max/(divFactor*finalDivFactor).
 * Stepping past totalSteps throws, as PyTorch does.
 */
export function oneCycle(totalSteps: number, o: OneCycleOptions = {}): Schedule {
  const pct = o.pctStart ?? 0.3, div = o.divFactor ?? 25, finalDiv = o.finalDivFactor ?? 1e4;
  const lo = o.baseMomentum ?? 0.85, hi = o.maxMomentum ?? 0.95;
  if (!(totalSteps >= 1)) throw new ThawError('schedule', `oneCycle: totalSteps is ${totalSteps}; it must be >= 1`);
  if (!(pct >= 0 && pct <= 1)) throw new ThawError('schedule', `oneCycle: pctStart is ${pct}; it must be in [0, 1]`);
  const ann = o.anneal === 'linear'
    ? (a: number, b: number, p: number) => (b - a) * p + a
    : (a: number, b: number, p: number) => b + (a - b) / 2 * (Math.cos(Math.PI * p) + 1);
  // Each phase: [end step, start lr, end lr, start momentum, end momentum]; rates as 'init' (max/div),
  // 'max' and 'min' (init/finalDiv), computed from the base in PyTorch's order.
  type R = 'init' | 'max' | 'min';
  const phases: [number, R, R, number, number][] = o.threePhase
    ? [[pct * totalSteps - 1, 'init', 'max', hi, lo], [2 * pct * totalSteps - 2, 'max', 'init', lo, hi], [totalSteps - 1, 'init', 'min', hi, hi]]
    : [[pct * totalSteps - 1, 'init', 'max', hi, lo], [totalSteps - 1, 'max', 'min', lo, hi]];
  const rate = (r: R, base: number) => (r === 'max' ? base : r === 'init' ? base / div : base / div / finalDiv);
  const at = (s: number, base: number): [number, number] => {
    if (s > totalSteps) throw new ThawError('schedule', `oneCycle: step ${s} is past totalSteps ${totalSteps}`);
    let start = 0;
    for (let i = 0; i < phases.length; i++) {
      const [end, l0, l1, m0, m1] = phases[i];
      if (s <= end || i === phases.length - 1) {
        const p = (s - start) / (end - start);
        return [ann(rate(l0, base), rate(l1, base), p), ann(m0, m1, p)];
      }
      start = end;
    }
    throw new Error('unreachable');
  };
  const out: Schedule = (s, base) => at(s, base)[0];
  if (o.cycleMomentum ?? true) out.momentum = (s) => at(s, 1)[1];
  return out;
}

/** Scheduler state for checkpoints. */
export interface SchedulerState { step: number; baseLrs: number[] }

/**
 * Sets each parameter group's learning rate from a schedule (one for all groups, or one per group),
 * scaling each group's own base rate, so discriminative rates keep their ratios.
 */
export class Scheduler {
  private current = 0;
  private readonly schedules: Schedule[];

  constructor(readonly optimizer: Optimizer<any>, schedule: Schedule | Schedule[]) {
    const n = optimizer.groups.length;
    this.schedules = Array.isArray(schedule) ? schedule : new Array(n).fill(schedule);
    if (this.schedules.length !== n) throw new ThawError('schedule', `Scheduler: ${this.schedules.length} schedules for ${n} parameter groups`);
    for (const [i, s] of this.schedules.entries()) {
      const g = optimizer.groups[i] as any;
      if (s.momentum && !('betas' in g) && !('momentum' in g)) throw new ThawError('schedule', `Scheduler: the schedule cycles momentum but ${optimizer.kind} has neither momentum nor betas`);
    }
    for (const g of optimizer.groups) g.initialLr ??= g.lr;
    this.apply();
  }

  /** The step whose rates are set now (0 until the first `step()`). */
  get lastStep(): number { return this.current; }

  /** Advances to the next step's rates; call after `optimizer.step()`. */
  step(): void {
    this.current++;
    this.apply();
  }

  /** The groups' current learning rates. */
  lrs(): number[] { return this.optimizer.groups.map((g) => g.lr); }

  private apply(): void {
    this.optimizer.groups.forEach((g, i) => {
      const s = this.schedules[i];
      g.lr = s(this.current, g.initialLr!);
      if (!s.momentum) return;
      const m = s.momentum(this.current), h = g as any;
      if ('betas' in h) h.betas = [m, h.betas[1]];
      else h.momentum = m;
    });
  }

  /** The position and base rates, for training checkpoints (`loadStateDict` restores them). */
  stateDict(): SchedulerState {
    return { step: this.current, baseLrs: this.optimizer.groups.map((g) => g.initialLr!) };
  }

  /** Restores the step and base rates, and sets the groups' rates for that step. */
  loadStateDict(sd: SchedulerState): void {
    if (sd.baseLrs.length !== this.optimizer.groups.length) throw new ThawError('schedule', `loadStateDict: state has ${sd.baseLrs.length} groups, the optimizer has ${this.optimizer.groups.length}`);
    this.current = sd.step;
    this.optimizer.groups.forEach((g, i) => { g.initialLr = sd.baseLrs[i]; });
    this.apply();
  }
}
