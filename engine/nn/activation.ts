/** Parameter-free layers: activations, Identity, Flatten, Dropout (torch.nn names and defaults). */
import { Module } from './module.ts';
import type { Tensor } from '../core/tensor.ts';
import { ShapeError } from '../core/errors.ts';
import { reshape } from '../core/shape.ts';
import { relu, relu6, leakyRelu, silu, hardswish, hardsigmoid, gelu, dropout, permute } from '../../kernels/index.ts';
import { STOCHASTIC, type Stochastic, drawSeed } from './roles.ts';

/** max(x, 0). */
export class ReLU extends Module {
  forward(x: Tensor): Tensor { return relu(x); }
}

/** min(max(x, 0), 6). */
export class ReLU6 extends Module {
  forward(x: Tensor): Tensor { return relu6(x); }
}

/** x * sigmoid(x) (torch.nn.SiLU, "swish"). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor { return silu(x); }
}

/** x * relu6(x + 3) / 6 (torch.nn.Hardswish). */
export class Hardswish extends Module {
  forward(x: Tensor): Tensor { return hardswish(x); }
}

/** relu6(x + 3) / 6 (torch.nn.Hardsigmoid). */
export class Hardsigmoid extends Module {
  forward(x: Tensor): Tensor { return hardsigmoid(x); }
}

/** torch.nn.GELU: exact (erf) by default, or the tanh approximation. */
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') { super(); }
  forward(x: Tensor): Tensor { return gelu(x, this.approximate); }
}

/** x for x >= 0, negativeSlope * x below. */
export class LeakyReLU extends Module {
  /** PyTorch's default slope is 0.01 (Keras' LeakyReLU uses 0.3). */
  constructor(readonly negativeSlope = 0.01) { super(); }
  forward(x: Tensor): Tensor { return leakyRelu(x, this.negativeSlope); }
}

/** Returns its input (a placeholder, e.g. for a removed classifier head). */
export class Identity extends Module {
  forward(x: Tensor): Tensor { return x; }
}

/** Flattens dims startDim..endDim into one (default: all but the batch dim), as a view. */
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) { super(); }
  forward(x: Tensor): Tensor {
    const r = x.rank;
    const s = this.startDim < 0 ? this.startDim + r : this.startDim, e = this.endDim < 0 ? this.endDim + r : this.endDim;
    if (s < 0 || e >= r || s > e) throw new ShapeError(`Flatten: dims ${this.startDim}..${this.endDim} are out of range for shape [${x.shape}]`);
    const mid = x.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
    return reshape(x, [...x.shape.slice(0, s), mid, ...x.shape.slice(e + 1)]);
  }
}

/** torchvision.ops.Permute: the input with its dimensions reordered (a copy). */
export class Permute extends Module {
  constructor(readonly dims: readonly number[]) { super(); }
  forward(x: Tensor): Tensor { return permute(x, this.dims); }
}

/**
 * Inverted dropout, active only in training mode. Each call draws its mask from `seed` and then
 * advances it, so a run with a fixed starting seed is reproducible.
 */
export class Dropout extends Module implements Stochastic {
  readonly [STOCHASTIC] = true as const;
  /** The seed of the next call's mask. */
  seed: number;
  constructor(public p = 0.5, seed?: number) {
    super();
    this.seed = (seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
  }
  /** Whether a training-mode call drops anything (p > 0). */
  get randomInTraining(): boolean { return this.p > 0; }
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return dropout(x, this.p, drawSeed(this));
  }
}
