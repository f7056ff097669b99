/**
 * Fused optimizer update kernels: one dispatch per parameter per step reads the parameter, its
 * gradient and its state buffers and writes parameter and state in place. Every hyper-parameter
 * (learning rate, betas, bias corrections, flags) travels in the uniform, so a schedule that changes
 * the learning rate each step never compiles a new pipeline.
 *
 * The float64 host scalars are rounded to f32 once, in the uniform, as PyTorch hands Python floats to
 * its float32 kernels. reference.ts has a CPU reference of the same arithmetic (the test oracle).
 */
import sgdSrc from './sgd.wgsl';
import adamSrc from './adam.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import eachTensor from './each_tensor.wgsl';
import type { Tensor } from '../../engine/core/tensor.ts';
import { runtime, launch1d, type Kernel } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { argBlocks, PARAM, GRAD, type Arg } from './args.ts';
import { ShapeError } from '../../engine/core/errors.ts';

/** SGD hyper-parameters for one update (PyTorch names in camelCase). */
export interface SgdArgs { lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean }
/**
 * Adam/AdamW hyper-parameters for one update; `step` is this parameter's step count, from 1, and
 * `first` (default: step 1) says the moment buffers hold nothing yet.
 */
export interface AdamArgs { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean; step: number; first?: boolean }

const MOMENTUM_BUFFER: Arg = { name: 'b', single: 'momentumBuffer', access: 'read_write' };
// The momentum update of sgd.wgsl (MOMENTUM): d becomes the momentum buffer, or with Nesterov d + momentum * buffer.
const MOMENTUM_STEP = `  var b = d;
  if (params.first == 0u) { b = fma(d, params.oneMinusDampening, get_b(t, j) * params.momentum); }
  set_b(t, j, b);
  if (params.nesterov != 0u) { d = fma(b, params.momentum, d); } else { d = b; }`;

/**
 * The bindings of `args` and, with `skip`, the found-Inf flag after them and SKIP_STEP: return
 * without writing when it is set, after `reset` (which zeroes fresh state on a skipped first step).
 */
function skipBlocks(args: readonly Arg[], K: number, skip: boolean, reset: string) {
  const b = argBlocks(args, K);
  if (!skip) return { ...b, SKIP_STEP: '' };
  const n = Number(b.NEXT_BINDING);
  return {
    ...b, BINDINGS: b.BINDINGS + `@group(0) @binding(${n}) var<storage, read> found: array<u32>;\n`, NEXT_BINDING: String(n + 1),
    SKIP_STEP: `  if (found[0] != 0u) {${reset ? ` if (params.first != 0u) { ${reset} }` : ''} return; }`,
  };
}

/** The SGD kernel's generated code, from its defines (one function, not a closure per call). */
const sgdBlocks = (d: { K: number; MOMENTUM: boolean; SKIP: boolean }) => ({
  ...skipBlocks(d.MOMENTUM ? [PARAM, GRAD, MOMENTUM_BUFFER] : [PARAM, GRAD], d.K, d.SKIP, d.MOMENTUM ? 'set_b(t, j, 0.0);' : ''),
  MOMENTUM_STEP: d.MOMENTUM ? MOMENTUM_STEP : '',
});

/**
 * The SGD kernel for one tensor (K = 0, optim_sgd*) or K tensors per dispatch (optim_multi_sgd*);
 * `skip`: it reads a found-Inf flag and updates nothing when it is set (loss_scale.ts).
 */
export function sgdKernel(K: number, momentum: boolean, skip = false): Kernel {
  return wgsl(`optim${K ? '_multi' : ''}_sgd${momentum ? '_momentum' : ''}`, sgdSrc, {
    include: [flatIndex, each, eachTensor],
    defines: { K, MOMENTUM: momentum, SKIP: skip },
    blocks: sgdBlocks,
  });
}

const ADAM_ARGS: Arg[] = [PARAM, GRAD, { name: 'm', single: 'expAvg', access: 'read_write' }, { name: 'v', single: 'expAvgSq', access: 'read_write' }];
/** The Adam kernel's generated code, from its defines. */
const adamBlocks = (d: { K: number; SKIP: boolean }) => {
  const b = skipBlocks(ADAM_ARGS, d.K, d.SKIP, 'set_m(t, j, 0.0); set_v(t, j, 0.0);');
  if (!d.SKIP) return { ...b, STEP_SCALARS: '  let bc2Sqrt = params.bc2Sqrt;\n  let negStepSize = params.negStepSize;' };
  const n = Number(b.NEXT_BINDING);
  return {
    ...b, BINDINGS: b.BINDINGS + `@group(0) @binding(${n}) var<storage, read> steps: array<u32>;\n`, NEXT_BINDING: String(n + 1),
    STEP_SCALARS: '  let st = f32(steps[0] + 1u);\n  let bc2Sqrt = sqrt(1.0 - pow(params.beta2, st));\n  let negStepSize = params.negStepSize / (1.0 - pow(params.beta1, st));',
  };
};

/** The Adam/AdamW kernel for one tensor (K = 0, optim_adam) or K tensors per dispatch (optim_multi_adam); `skip` as sgdKernel's. */
export function adamKernel(K: number, skip = false): Kernel {
  return wgsl(K ? 'optim_multi_adam' : 'optim_adam', adamSrc, { include: [flatIndex, each, eachTensor], defines: { K, SKIP: skip }, blocks: adamBlocks });
}

/** @internal Refuses a parameter that is not f32 or a gradient/state tensor of another size (multi.ts uses it too). */
export function checkSame(op: string, param: Tensor, others: Record<string, Tensor | null>): void {
  if (param.dtype !== 'f32') throw new ShapeError(`${op}: parameter has dtype ${param.dtype}, expected f32`);
  for (const [k, t] of Object.entries(others)) {
    if (t && (t.size !== param.size || t.dtype !== 'f32')) {
      throw new ShapeError(`${op}: ${k} has ${t.size} ${t.dtype} elements, parameter${param.name ? ` '${param.name}'` : ''} has ${param.size} f32`);
    }
  }
}

/**
 * One SGD step on `param` (n) from `grad` (n). With momentum, `momentumBuffer` (n) is updated in place;
 * `first` says it holds no value yet (PyTorch then starts it at the gradient).
 */
export function sgdUpdate(param: Tensor, grad: Tensor, momentumBuffer: Tensor | null, a: SgdArgs, first: boolean): void {
  checkSame('sgd', param, { grad, momentumBuffer });
  const { groups, stride } = launch1d(param.size);
  if (a.momentum === 0) {
    runtime().run(sgdKernel(0, false), { param, grad },
      { n: param.size, stride, first: 0, nesterov: 0, negLr: -a.lr, momentum: 0, oneMinusDampening: 1, weightDecay: a.weightDecay }, groups);
    return;
  }
  if (!momentumBuffer) throw new ShapeError('sgd: momentum needs a momentum buffer');
  runtime().run(sgdKernel(0, true), { param, grad, momentumBuffer }, {
    n: param.size, stride, first: first ? 1 : 0, nesterov: a.nesterov ? 1 : 0,
    negLr: -a.lr, momentum: a.momentum, oneMinusDampening: 1 - a.dampening, weightDecay: a.weightDecay,
  }, groups);
}

/**
 * One Adam (or, with `decoupled`, AdamW) step on `param` (n) from `grad` (n); `expAvg` and `expAvgSq`
 * (n) are updated in place and are not read on the first step.
 */
export function adamUpdate(param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, a: AdamArgs): void {
  checkSame('adam', param, { grad, expAvg, expAvgSq });
  const { groups, stride } = launch1d(param.size);
  runtime().run(adamKernel(0), { param, grad, expAvg, expAvgSq }, {
    n: param.size, stride, ...adamScalars(a),
  }, groups);
}

/**
 * The uniform values of an Adam step, computed in float64 as torch.optim does; with `gpuStep` the
 * kernel applies the bias corrections from its GPU step count (adam.wgsl's SKIP), so they are left out.
 */
export function adamScalars(a: AdamArgs, gpuStep = false): Record<string, number> {
  const bc1 = gpuStep ? 1 : 1 - a.beta1 ** a.step;
  const bc2 = gpuStep ? 1 : 1 - a.beta2 ** a.step;
  return {
    first: (a.first ?? a.step === 1) ? 1 : 0, decoupled: a.decoupled ? 1 : 0,
    weightDecay: a.decoupled ? 0 : a.weightDecay, decay: a.decoupled ? 1 - a.lr * a.weightDecay : 1,
    beta1: a.beta1, oneMinusBeta1: 1 - a.beta1, beta2: a.beta2, oneMinusBeta2: 1 - a.beta2,
    bc2Sqrt: Math.sqrt(bc2), eps: a.eps, negStepSize: -(a.lr / bc1),
  };
}
