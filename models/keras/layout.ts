/**
 * Keras is channels-last; thaw is NCHW. The builder keeps one convention: a tensor that Keras
 * holds as (N, H, W, C) is held here as (N, C, H, W); tensors of any other rank keep Keras' order.
 * This file holds the conversions that convention needs (shapes, axes, flatten order) and the
 * activations Keras layers name.
 */
import type { Tensor } from '../../engine/core/tensor.ts';
import { reshape } from '../../engine/core/shape.ts';
import { KerasTopologyError } from './topology.ts';
import { relu, relu6, sigmoid, tanh, leakyRelu, unary, softmax, permute } from '../../kernels/index.ts';

/** A per-example shape (no batch dim) in thaw's layout; null for a size the topology leaves free. */
export type Dims = (number | null)[];

/** Keras per-example shape → ours: [H, W, C] → [C, H, W]; other ranks unchanged. */
export function toOurDims(keras: Dims): Dims {
  return keras.length === 3 ? [keras[2], keras[0], keras[1]] : [...keras];
}

/** Our per-example shape → Keras': [C, H, W] → [H, W, C]. */
export function toKerasDims(ours: Dims): Dims {
  return ours.length === 3 ? [ours[1], ours[2], ours[0]] : [...ours];
}

/** A Keras axis (counting the batch dim, negative from the end) → the same axis in our layout. */
export function ourAxis(kerasAxis: number, rank: number, layer: string): number {
  const a = kerasAxis < 0 ? kerasAxis + rank : kerasAxis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new KerasTopologyError(`keras: layer '${layer}': axis ${kerasAxis} is out of range for rank ${rank}`);
  return rank === 4 ? [0, 2, 3, 1][a] : a;
}

/** (N, C, H, W) → (N, H, W, C), Keras' memory order; other ranks are already in it. */
export function toKerasOrder(x: Tensor): Tensor {
  return x.rank === 4 && x.shape[2] * x.shape[3] !== 1 ? permute(x, [0, 2, 3, 1]) : x;
}

/** Reshapes to Keras' (N, ...target) in Keras order, then back to our layout (rank 4 → NCHW). */
export function kerasReshape(x: Tensor, target: number[]): Tensor {
  const k = toKerasOrder(x);
  const y = reshape(k, [x.shape[0], ...target]);
  if (k !== x) k.dispose();
  if (y.rank !== 4 || y.shape[1] * y.shape[2] === 1) {
    if (y.rank !== 4) return y;
    const v = reshape(y, [y.shape[0], y.shape[3], y.shape[1], y.shape[2]]);
    y.dispose();
    return v;
  }
  const out = permute(y, [0, 3, 1, 2]);
  y.dispose();
  return out;
}

/** A named activation (Keras `activation` strings and the activation layers). */
export interface Activation { name: string; fn: ((x: Tensor) => Tensor) | null }

/** Softmax over Keras' axis (default -1: channels for images). */
export function softmaxAct(kerasAxis = -1, layer = ''): Activation {
  return { name: 'softmax', fn: (x) => softmax(x, ourAxis(kerasAxis, x.rank, layer)) };
}

/** The activation a Keras `activation` config names. */
export function namedActivation(name: unknown, layer: string): Activation {
  switch (name ?? 'linear') {
    case 'linear': return { name: 'linear', fn: null };
    case 'relu': return { name: 'relu', fn: relu };
    case 'relu6': return { name: 'relu6', fn: relu6 };
    case 'sigmoid': return { name: 'sigmoid', fn: sigmoid };
    case 'tanh': return { name: 'tanh', fn: tanh };
    case 'softmax': return softmaxAct(-1, layer);
    default: throw new KerasTopologyError(`keras: layer '${layer}': activation '${String(name)}' is not supported (linear, relu, relu6, sigmoid, tanh, softmax)`);
  }
}

/** Keras' ReLU layer: max_value, negative_slope, threshold (threshold must be 0). */
export function reluLayerAct(cfg: Record<string, any>, layer: string): Activation {
  const max = cfg.max_value ?? null, slope = cfg.negative_slope ?? 0, thr = cfg.threshold ?? 0;
  if (thr !== 0) throw new KerasTopologyError(`keras: ReLU '${layer}': threshold ${thr} is not supported (only 0)`);
  if (max === null) return slope === 0 ? { name: 'relu', fn: relu } : { name: 'leaky_relu', fn: (x) => leakyRelu(x, slope) };
  if (slope !== 0) throw new KerasTopologyError(`keras: ReLU '${layer}': max_value together with negative_slope is not supported`);
  return max === 6 ? { name: 'relu6', fn: relu6 } : { name: `relu_max${max}`, fn: (x) => unary('clamp', x, 0, max) };
}

/** Applies an activation (identity for 'linear'). */
export function applyAct(a: Activation, x: Tensor): Tensor {
  return a.fn ? a.fn(x) : x;
}
