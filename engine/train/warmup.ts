/**
 * warmupPipelines(): compiles the pipelines a model's steps run before the first one, so that the first
 * step does not wait on the shader compiler (on a cold driver cache that is most of its time).
 */
import type { Module } from '../nn/module.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { runtime } from '../core/runtime.ts';
import { Tensor, tidy, noGrad } from '../core/tensor.ts';
import { backward } from '../autograd/backward.ts';
import { clipGradNorm } from '../optim/index.ts';
import { isStochastic } from '../nn/roles.ts';
import { invalidateFolds } from '../nn/fused.ts';
import { ShapeError } from '../core/errors.ts';
import { crossEntropy, encodeFiniteCheck } from '../../kernels/index.ts';

export interface WarmupOptions {
  /** The inference forward (eval mode, no gradients), as evaluation and prediction run it. Default true. */
  inference?: boolean;
  /** The training step: forward in training mode, cross-entropy on the logits, backward. Default false. */
  train?: boolean;
  /** Makes an optimizer like the one training uses: it is stepped once (dispatching nothing) and disposes it. */
  optimizer?: (model: Module) => Optimizer<any>;
  /** Gradient clipping as training does it (clipNorm > 0). */
  clipNorm?: number;
  labelSmoothing?: number;
  /** The check fine-tuning runs after each step that the loss and trainable parameters are finite. */
  finiteCheck?: boolean;
  /** dtype of the input (token ids are 'i32'). Default 'f32'. */
  dtype?: 'f32' | 'i32';
}

export interface WarmupResult {
  /** Pipelines compiled (kernels the steps use that were not compiled before). */
  pipelines: number;
  seconds: number;
}

/**
 * Compiles every pipeline that `model`'s forward on an input of `inputShape` (batch first) uses,
 * and with `train` its training step's, before any of them runs: the runtime goes through the
 * steps without dispatching (Runtime.compileOnly), so the model's parameters, buffers, gradients,
 * dropout seeds and mode are as they were, and a step afterwards gives the same results (the
 * folded weights of frozen conv+bn pairs are recomputed at their next use).
 */
export async function warmupPipelines(model: Module & { forward(x: Tensor): Tensor }, inputShape: readonly number[], opts: WarmupOptions = {}): Promise<WarmupResult> {
  if (!inputShape.length || inputShape.some((d) => !(Number.isInteger(d) && d > 0))) {
    throw new ShapeError(`warmupPipelines: inputShape must be positive integers, batch first (e.g. [32, 3, 32, 32]), got [${inputShape.join(', ')}]`);
  }
  const t0 = performance.now();
  const wasTraining = model.training;
  const stochastic = model.namedModules().map(([, m]) => m).filter(isStochastic);
  const seeds = stochastic.map((m) => m.seed);
  const params = model.parameters();
  const grads = params.map((p) => p.grad);
  for (const p of params) p.grad = null;
  let pipelines: number;
  try {
    pipelines = await runtime().compileOnly(() => {
      // Nothing is dispatched, so the input's contents do not matter.
      const x = Tensor.alloc([...inputShape], opts.dtype ?? 'f32');
      if (opts.inference !== false) {
        model.eval();
        noGrad(() => tidy(() => { model.forward(x); }));
      }
      if (opts.train) {
        model.train();
        const trainable = model.trainableParameters();
        tidy(() => {
          const logits = model.forward(x);
          const loss = crossEntropy(logits, Tensor.alloc([inputShape[0]], 'i32'), { labelSmoothing: opts.labelSmoothing ?? 0 });
          backward(loss);
          if (opts.clipNorm) clipGradNorm(trainable, opts.clipNorm).dispose();
          if (opts.optimizer) {
            const opt = opts.optimizer(model);
            opt.step();
            opt.zeroGrad();
            opt.dispose();
          }
          if (opts.finiteCheck) encodeFiniteCheck(trainable, 'value', loss).dispose();
        });
      }
      x.dispose();
    });
  } finally {
    // Folded conv+bn weights (and their cached layouts) made during the pass hold nothing: recompute them at next use.
    invalidateFolds();
    model.train(wasTraining);
    stochastic.forEach((m, i) => { m.seed = seeds[i]; });
    params.forEach((p, i) => {
      if (p.grad !== grads[i]) p.grad?.dispose();
      p.grad = grads[i];
    });
  }
  return { pipelines, seconds: (performance.now() - t0) / 1000 };
}
