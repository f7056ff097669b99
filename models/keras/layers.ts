/**
 * One Keras layer → thaw: the module holding its parameters (registered under the Keras layer name,
 * so keys are `<layer>.weight`, `<layer>.running_mean`, ...), the op, the activation applied after
 * it, and the output shape (shape inference is what gives Conv2D its input channels and Dense its
 * input width, which Keras configs leave out).
 */
import type { Module } from '../../engine/nn/module.ts';
import type { Tensor } from '../../engine/core/tensor.ts';
import { reshape } from '../../engine/core/shape.ts';
import { Conv2d, BatchNorm2d, Linear, Dropout } from '../../engine/nn/index.ts';
import { addN, concatChannels } from '../../engine/nn/functional.ts';
import { KerasTopologyError, type LayerSpec } from './topology.ts';
import { maxPool2d, avgPool2d, globalAvgPool2d, pad2d, concat, max, leakyRelu } from '../../kernels/index.ts';
import {
  type Activation, type Dims, namedActivation, reluLayerAct, softmaxAct, toOurDims, toKerasDims, ourAxis,
  toKerasOrder, kerasReshape,
} from './layout.ts';

/** A built layer. `op` then `act` is the Keras layer's call. */
export interface KerasLayer {
  spec: LayerSpec;
  /** Registered under `spec.name` (parameters, or training-mode behaviour such as Dropout). */
  module: Module | null;
  /** Per-example output shape in our layout. */
  out: Dims;
  /** The layer's op; `m` is its current module (replaceHead can swap it). */
  op: (xs: Tensor[], m: Module | null) => Tensor;
  act: Activation;
}

const LINEAR: Activation = { name: 'linear', fn: null };
const err = (l: LayerSpec, msg: string) => new KerasTopologyError(`keras: ${l.className} '${l.name}': ${msg}`);
export const pair = (v: unknown, dflt: number): [number, number] =>
  v == null ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [Number((v as number[])[0]), Number((v as number[])[1])];

/** Output size of a window op on one axis (null stays null). */
export function windowOut(n: number | null, k: number, s: number, d: number, padding: string): number | null {
  if (n === null) return null;
  return padding === 'same' ? Math.ceil(n / s) : Math.floor((n - d * (k - 1) - 1) / s) + 1;
}

function image(l: LayerSpec, x: Dims): [number, number | null, number | null] {
  if (x.length !== 3 || x[0] === null) throw err(l, `expects an image input (H, W, C) with known channels, got Keras shape [${toKerasDims(x)}]`);
  if (l.config.data_format && l.config.data_format !== 'channels_last') throw err(l, `data_format '${l.config.data_format}' is not supported (channels_last only)`);
  return [x[0], x[1], x[2]];
}

function padding(l: LayerSpec): 'same' | 'valid' {
  const p = l.config.padding ?? 'valid';
  if (p !== 'same' && p !== 'valid') throw err(l, `padding '${p}' is not supported (same, valid)`);
  return p;
}

/** A ZeroPadding2D config's padding as [top, bottom, left, right] (Keras: n, [h, w] or [[t, b], [l, r]]). */
export function zeroPadding(config: Record<string, any>): [number, number, number, number] {
  const p = config.padding ?? 1;
  const [[t, b], [le, r]]: number[][] = typeof p === 'number' ? [[p, p], [p, p]] : typeof p[0] === 'number' ? [[p[0], p[0]], [p[1], p[1]]] : [p[0], p[1]];
  return [t, b, le, r];
}

type Builder = (l: LayerSpec, ins: Dims[], rng?: () => number) => Omit<KerasLayer, 'spec'>;

function conv(depthwise: boolean): Builder {
  return (l, [x], rng) => {
    const c = l.config, [C, H, W] = image(l, x);
    const k = pair(c.kernel_size, 1), s = pair(c.strides, 1), d = pair(c.dilation_rate, 1), p = padding(l);
    const groups = depthwise ? C : c.groups ?? 1;
    const outC = depthwise ? C * (c.depth_multiplier ?? 1) : c.filters;
    if (!Number.isInteger(outC) || outC < 1) throw err(l, `bad filter count ${outC}`);
    const m = new Conv2d(C, outC, k, { stride: s, padding: p, dilation: d, groups, bias: c.use_bias ?? true, rng });
    return {
      module: m, out: [outC, windowOut(H, k[0], s[0], d[0], p), windowOut(W, k[1], s[1], d[1], p)],
      op: ([t], mod) => mod!.forward(t), act: namedActivation(c.activation, l.name),
    };
  };
}

function pool(kind: 'max' | 'avg'): Builder {
  return (l, [x]) => {
    const [C, H, W] = image(l, x);
    const k = pair(l.config.pool_size, 2), s = pair(l.config.strides ?? k, 1), p = padding(l);
    const opts = { stride: s, padding: p === 'same' ? 'same' as const : 0 };
    return {
      module: null, out: [C, windowOut(H, k[0], s[0], 1, p), windowOut(W, k[1], s[1], 1, p)], act: LINEAR,
      op: ([t]) => (kind === 'max' ? maxPool2d(t, k, opts) : avgPool2d(t, k, opts)),
    };
  };
}

function globalPool(kind: 'max' | 'avg'): Builder {
  return (l, [x]) => {
    const [C] = image(l, x);
    const keep = !!l.config.keepdims;
    return {
      module: null, out: keep ? [C, 1, 1] : [C], act: LINEAR,
      op: ([t]) => (kind === 'avg' ? globalAvgPool2d(t, keep) : max(t, [2, 3], keep)),
    };
  };
}

function batchNorm(l: LayerSpec, [x]: Dims[]): Omit<KerasLayer, 'spec'> {
  const c = l.config, axes = Array.isArray(c.axis) ? c.axis : [c.axis ?? -1];
  const rank = x.length + 1;
  if (axes.length !== 1 || ourAxis(axes[0], rank, l.name) !== 1 || (rank !== 4 && rank !== 2)) {
    throw err(l, `only the channel axis of an image or a (N, F) input is supported, got axis ${JSON.stringify(c.axis)} for Keras shape [${toKerasDims(x)}]`);
  }
  if (x[0] === null) throw err(l, 'the channel count is unknown');
  // Keras' moving average keeps `momentum` of the old value; PyTorch's momentum weighs the new batch.
  const m = new BatchNorm2d(x[0], { eps: c.epsilon ?? 1e-3, momentum: 1 - (c.momentum ?? 0.99) });
  return {
    module: m, out: [...x], act: LINEAR,
    op: ([t], mod) => {
      if (t.rank === 4) return mod!.forward(t);
      const v = reshape(t, [t.shape[0], t.shape[1], 1, 1]);
      const y = mod!.forward(v);
      v.dispose();
      const out = reshape(y, t.shape);
      y.dispose();
      return out;
    },
  };
}

const BUILDERS: Record<string, Builder> = {
  InputLayer: (l) => {
    const s = l.config.batch_input_shape ?? l.config.batch_shape;
    if (!Array.isArray(s)) throw err(l, 'has no batch_input_shape');
    return { module: null, out: toOurDims(s.slice(1)), op: ([t]) => t, act: LINEAR };
  },
  Conv2D: conv(false),
  DepthwiseConv2D: conv(true),
  BatchNormalization: batchNorm,
  Dense: (l, [x], rng) => {
    if (x.length !== 1 || x[0] === null) throw err(l, `expects a (N, features) input with a known width, got Keras shape [${toKerasDims(x)}] (Flatten or pool first)`);
    const m = new Linear(x[0], l.config.units, { bias: l.config.use_bias ?? true, rng });
    return { module: m, out: [l.config.units], op: ([t], mod) => mod!.forward(t), act: namedActivation(l.config.activation, l.name) };
  },
  Activation: (l, [x]) => ({ module: null, out: [...x], op: ([t]) => t, act: namedActivation(l.config.activation, l.name) }),
  ReLU: (l, [x]) => ({ module: null, out: [...x], op: ([t]) => t, act: reluLayerAct(l.config, l.name) }),
  LeakyReLU: (l, [x]) => {
    const a = l.config.alpha ?? l.config.negative_slope ?? 0.3;
    return { module: null, out: [...x], op: ([t]) => t, act: { name: 'leaky_relu', fn: (t) => leakyRelu(t, a) } };
  },
  Softmax: (l, [x]) => ({ module: null, out: [...x], op: ([t]) => t, act: softmaxAct(l.config.axis ?? -1, l.name) }),
  MaxPooling2D: pool('max'),
  AveragePooling2D: pool('avg'),
  GlobalAveragePooling2D: globalPool('avg'),
  GlobalMaxPooling2D: globalPool('max'),
  ZeroPadding2D: (l, [x]) => {
    const [C, H, W] = image(l, x), [t, b, le, r] = zeroPadding(l.config);
    const add = (n: number | null, a: number, z: number) => (n === null ? null : n + a + z);
    return { module: null, out: [C, add(H, t, b), add(W, le, r)], op: ([v]) => pad2d(v, [t, b, le, r]), act: LINEAR };
  },
  Add: (l, ins) => {
    if (ins.length < 2) throw err(l, 'needs at least two inputs');
    if (ins.some((s) => JSON.stringify(s) !== JSON.stringify(ins[0]))) throw err(l, `inputs have different shapes ${JSON.stringify(ins.map(toKerasDims))}`);
    return { module: null, out: [...ins[0]], op: (xs) => addN(xs), act: LINEAR };
  },
  Concatenate: (l, ins) => {
    const rank = ins[0].length + 1, ax = ourAxis(l.config.axis ?? -1, rank, l.name);
    const out = [...ins[0]];
    out[ax - 1] = ins.some((s) => s[ax - 1] === null) ? null : ins.reduce((a, s) => a + (s[ax - 1] as number), 0);
    return { module: null, out, op: (xs) => (rank === 4 && ax === 1 ? concatChannels(xs) : concat(xs, ax)), act: LINEAR };
  },
  Flatten: (l, [x]) => {
    const n = x.some((d) => d === null) ? null : x.reduce((a, b) => (a as number) * (b as number), 1);
    // Keras flattens (H, W, C) row-major: permute to NHWC first so Dense weights line up.
    return { module: null, out: [n], act: LINEAR, op: ([t]) => { const k = toKerasOrder(t); const y = reshape(k, [t.shape[0], -1]); if (k !== t) k.dispose(); return y; } };
  },
  Reshape: (l, [x]) => {
    const target: number[] = [...l.config.target_shape];
    if (x.some((d) => d === null)) throw err(l, 'needs a fixed input size');
    const total = x.reduce((a, b) => (a as number) * (b as number), 1) as number;
    const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const full = target.map((d) => (d === -1 ? total / known : d));
    if (full.reduce((a, b) => a * b, 1) !== total || !full.every(Number.isInteger)) throw err(l, `cannot reshape Keras shape [${toKerasDims(x)}] to [${target}]`);
    return { module: null, out: toOurDims(full), op: ([t]) => kerasReshape(t, full), act: LINEAR };
  },
  Dropout: (l, [x]) => {
    if (l.config.noise_shape != null) throw err(l, 'noise_shape is not supported');
    const m = new Dropout(l.config.rate ?? 0);
    return { module: m, out: [...x], op: ([t], mod) => mod!.forward(t), act: LINEAR };
  },
};

/** Layer classes the builder knows. */
export const SUPPORTED_LAYERS: readonly string[] = Object.keys(BUILDERS);

/** Builds one layer given its inputs' per-example shapes (our layout). */
export function buildLayer(l: LayerSpec, ins: Dims[], rng?: () => number): KerasLayer {
  const b = Object.hasOwn(BUILDERS, l.className) ? BUILDERS[l.className] : undefined;
  if (!b) throw new KerasTopologyError(`keras: layer '${l.name}' has type ${l.className}, which is not supported; supported: ${SUPPORTED_LAYERS.join(', ')}`);
  const multi = l.className === 'Add' || l.className === 'Concatenate';
  if (l.className !== 'InputLayer' && (multi ? ins.length < 1 : ins.length !== 1)) throw err(l, `takes ${ins.length} inputs`);
  return { spec: l, ...b(l, ins, rng) };
}
