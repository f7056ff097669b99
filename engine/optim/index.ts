/** Optimizers, gradient clipping and learning-rate schedules. */
export { Optimizer, type ParamList, type GroupSpec, type ParamGroup, type ParamState, type OptimizerStateDict } from './optimizer.ts';
export { SGD, type SgdHyper } from './sgd.ts';
export { Adam, AdamW, type AdamHyper } from './adam.ts';
export { clipGradNorm } from './clip.ts';
export { Scheduler, type Schedule, type SchedulerState, type OneCycleOptions, constant, stepDecay, cosine, linear, chain, warmup, oneCycle } from './schedule.ts';
export { LossScaler, type LossScalerOptions } from './loss_scale.ts';
