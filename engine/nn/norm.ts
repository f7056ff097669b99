/**
 * torch.nn.BatchNorm2d: weight (C), bias (C), buffers running_mean (C), running_var (C) and
 * num_batches_tracked, an i32 tensor of shape [] (PyTorch stores int64; the loader converts).
 */
import { Module, onesInit, zerosInit } from './module.ts';
import { type Tensor, keep, shapeStr } from '../core/tensor.ts';
import { tensor } from '../core/factory.ts';
import { ShapeError, ThawError } from '../core/errors.ts';
import { batchNorm2d, type BnActivation } from '../../kernels/index.ts';
import { NORMALIZATION, type Normalization } from './roles.ts';

/** Options of `BatchNorm2d`. */
export interface BatchNorm2dConfig {
  /** PyTorch 1e-5 (default); Keras uses 1e-3. */
  eps?: number;
  /** Weight of each new batch in the running stats, PyTorch's convention (Keras momentum m is 1 - m here). Default 0.1. */
  momentum?: number;
  /** Learnable weight and bias (default true). */
  affine?: boolean;
  /** Keep running stats (default true); without them every call uses batch statistics. */
  trackRunningStats?: boolean;
}

/**
 * torch.nn.BatchNorm2d over (N, C, H, W): batch statistics in training mode (updating the running
 * ones), running statistics in inference mode or when frozen. A {@link Normalization} layer.
 */
export class BatchNorm2d extends Module implements Normalization {
  readonly [NORMALIZATION] = true as const;
  /** Inference mode even under `train()` (set by freezing): running statistics used and left untouched. */
  frozenNorm = false;
  readonly eps: number;
  private _momentum = 0.1;
  constructor(readonly numFeatures: number, config: BatchNorm2dConfig = {}) {
    super();
    this.eps = config.eps ?? 1e-5;
    this.momentum = config.momentum ?? 0.1;
    if (config.affine ?? true) {
      this.param('weight', [numFeatures], onesInit);
      this.param('bias', [numFeatures], zerosInit);
    }
    if (config.trackRunningStats ?? true) {
      this.buffer('running_mean', [numFeatures], zerosInit);
      this.buffer('running_var', [numFeatures], onesInit);
      const n = keep(tensor(new Int32Array(1), [], 'i32'));
      n.name = 'num_batches_tracked';
      this._buffers.set('num_batches_tracked', n);
    }
  }

  /** Weight of each new batch in the running statistics (settable, e.g. for fine-tuning a Keras model whose 0.001 adapts slowly). */
  get momentum(): number { return this._momentum; }
  set momentum(m: number) {
    if (!(m >= 0 && m <= 1)) {
      throw new ThawError('argument', `BatchNorm2d: momentum must be a number in [0, 1] (a cumulative average, PyTorch's momentum=None, is not supported), got ${m}`);
    }
    this._momentum = m;
  }

  /** Scale (C), or null when not affine. */
  get weight(): Tensor | null { return this._params.get('weight') ?? null; }
  /** Shift (C), or null when not affine. */
  get bias(): Tensor | null { return this._params.get('bias') ?? null; }
  /** Running mean (C), or null without running statistics. */
  get runningMean(): Tensor | null { return this._buffers.get('running_mean') ?? null; }
  /** Running variance (C), or null without running statistics. */
  get runningVar(): Tensor | null { return this._buffers.get('running_var') ?? null; }
  /** Batches seen in training mode (i32 scalar), or null without running statistics. */
  get numBatchesTracked(): Tensor | null { return this._buffers.get('num_batches_tracked') ?? null; }

  /** Whether this call uses (and updates) batch statistics: training mode and not frozen. */
  get usesBatchStats(): boolean { return this.training && !this.frozenNorm; }

  /**
   * x: (N, C, H, W) → same shape; `activation` (ReLU, ReLU6) is fused into the batch-norm kernels, and
   * so is `residual` (like x), added before the activation: act(bn(x) + residual).
   */
  forward(x: Tensor, activation?: BnActivation, residual: Tensor | null = null): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.numFeatures) {
      throw new ShapeError(`BatchNorm2d: input has shape ${shapeStr(x.shape)}, expected (N, ${this.numFeatures}, H, W)`);
    }
    const training = this.usesBatchStats;
    // num_batches_tracked is counted by the running-statistics update kernel (one dispatch fewer).
    return batchNorm2d(x, this.weight, this.bias, this.runningMean, this.runningVar,
      { training, momentum: this.momentum, eps: this.eps, counter: training ? this.numBatchesTracked : null, activation, residual });
  }
}
