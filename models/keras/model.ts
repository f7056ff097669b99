/**
 * A Keras (TF.js layers) model as a thaw Module: the topology's layers built in order, each
 * parametric layer registered under its Keras name, and a small graph executor that frees each
 * intermediate as soon as its last consumer has run.
 */
import { Module } from '../../engine/nn/module.ts';
import { Tensor } from '../../engine/core/tensor.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { parseTopology, type Topology } from './topology.ts';
import { buildLayer, pair, windowOut, zeroPadding, type KerasLayer } from './layers.ts';
import { applyAct, type Activation, type Dims } from './layout.ts';
import { Conv2d } from '../../engine/nn/index.ts';
import { conv2d } from '../../kernels/index.ts';

/** One step of an execution plan: a layer, the names of the values it takes, the activation it ends with. */
export interface Step { name: string; layer: KerasLayer; inputs: string[]; act: Activation }

export interface KerasModelOptions {
  /** Uniform [0, 1) source for the initial weights (before a checkpoint is loaded). */
  rng?: () => number;
  /**
   * Input (C, H, W): for a topology that leaves H and W free (needed when a Flatten feeds a Dense),
   * or another size than the stored one. Then an AveragePooling2D that covered its whole input at the
   * stored size and feeds a Flatten (Keras applications' `AveragePooling2D(7) → Flatten` head) pools
   * globally, so the head sees the same feature vector at any size.
   */
  inputShape?: [number, number, number];
}

/** Runs `steps` on `x` (the value of `input`) and returns the value of `output`. */
export function runGraph(x: Tensor, input: string, steps: readonly Step[], output: string): Tensor {
  const uses = new Map<string, number>([[output, 1]]);
  for (const s of steps) for (const i of s.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  // References per tensor object: an op may hand back its input (identity layers), so a tensor is
  // freed only when no pending consumer of any name still holds it.
  const refs = new Map<Tensor, number>();
  const values = new Map<string, Tensor>();
  const bind = (name: string, t: Tensor) => {
    values.set(name, t);
    const r = (refs.get(t) ?? 0) + (uses.get(name) ?? 0);
    refs.set(t, r);
    if (r === 0 && t !== x) t.dispose(); // a dead branch
  };
  bind(input, x);
  for (const s of steps) {
    const xs = s.inputs.map((i) => {
      const v = values.get(i);
      if (!v) throw new ShapeError(`keras: layer '${s.name}' runs before its input '${i}' was computed`);
      return v;
    });
    const u = s.layer.op(xs, s.layer.module);
    const y = applyAct(s.act, u);
    if (y !== u && !xs.includes(u)) u.dispose();
    bind(s.name, y);
    for (const t of xs) {
      const r = refs.get(t)! - 1;
      refs.set(t, r);
      if (r === 0 && t !== x) t.dispose();
    }
  }
  const out = values.get(output);
  if (!out) throw new ShapeError(`keras: output '${output}' was not computed`);
  return out;
}

/** The whole Keras model; `forward` returns what Keras' `predict` returns (output activation included). */
export class KerasModel extends Module {
  readonly topology: Topology;
  /** Built layers in topological order (InputLayer first). */
  readonly layers: KerasLayer[] = [];
  /** Parametric layers Keras marks `trainable: false` (freeze them to fine-tune as Keras would). */
  readonly kerasFrozen: string[] = [];
  protected readonly byName = new Map<string, KerasLayer>();

  constructor(modelTopology: unknown, opts: KerasModelOptions = {}) {
    super();
    this.topology = isTopology(modelTopology) ? modelTopology : parseTopology(modelTopology);
    const shapes = new Map<string, Dims>();
    const globalPools = opts.inputShape ? wholeMapPools(this.topology) : new Set<string>();
    for (const stored of this.topology.layers) {
      const spec = globalPools.has(stored.name) ? { ...stored, className: 'GlobalAveragePooling2D', config: { ...stored.config, keepdims: false } } : stored;
      const layer = buildLayer(spec, spec.inputs.map((i) => shapes.get(i)!), opts.rng);
      if (spec.className === 'InputLayer' && opts.inputShape) layer.out = [...opts.inputShape];
      shapes.set(spec.name, layer.out);
      this.layers.push(layer);
      this.byName.set(spec.name, layer);
      if (layer.module) {
        this.child(spec.name, layer.module);
        if (spec.config.trainable === false && layer.module.namedParameters().length) this.kerasFrozen.push(spec.name);
      }
    }
    foldZeroPadding(this.layers);
  }

  /** The built layer named `name`. */
  layer(name: string): KerasLayer {
    const l = this.byName.get(name);
    if (!l) throw new ShapeError(`keras: the model has no layer '${name}'`);
    return l;
  }

  /** The plan that runs every layer as Keras does. */
  protected fullPlan(): Step[] {
    return this.layers.filter((l) => l.spec.name !== this.topology.input)
      .map((l) => ({ name: l.spec.name, layer: l, inputs: l.spec.inputs, act: l.act }));
  }

  /** x: (N, C, H, W) → the model's output in our layout (images NCHW, vectors (N, F)). */
  forward(x: Tensor): Tensor {
    this.checkInput(x);
    return runGraph(x, this.topology.input, this.fullPlan(), this.topology.output);
  }

  protected checkInput(x: Tensor): void {
    const want = this.layer(this.topology.input).out;
    const ok = x.rank === want.length + 1 && want.every((d, i) => d === null || d === x.shape[i + 1]);
    if (!ok) throw new ShapeError(`keras: input has shape [${x.shape}], the model takes (N, ${want.map((d) => d ?? '?').join(', ')}) in NCHW`);
  }
}

/** Spatial size of each layer's output at the topology's stored input size (null: not an image or unknown). */
function storedSpatial(t: Topology): Map<string, [number, number] | null> {
  const hw = new Map<string, [number, number] | null>();
  const s = t.inputShape;
  for (const l of t.layers) {
    const x = l.inputs.length ? hw.get(l.inputs[0]) ?? null : null, c = l.config;
    let out: [number, number] | null = x;
    if (l.className === 'InputLayer') out = s && s.length === 3 && s[0] !== null && s[1] !== null ? [s[0], s[1]] : null;
    else if (!x) out = null;
    else if (/^(Conv2D|DepthwiseConv2D|MaxPooling2D|AveragePooling2D)$/.test(l.className)) {
      const pool = l.className.endsWith('Pooling2D');
      const k = pair(pool ? c.pool_size : c.kernel_size, pool ? 2 : 1), st = pair(pool ? c.strides ?? k : c.strides, 1);
      const d = pool ? [1, 1] : pair(c.dilation_rate, 1), p = c.padding ?? 'valid';
      out = [windowOut(x[0], k[0], st[0], d[0], p)!, windowOut(x[1], k[1], st[1], d[1], p)!];
    } else if (l.className === 'ZeroPadding2D') {
      const [t, b, le, r] = zeroPadding(c);
      out = [x[0] + t + b, x[1] + le + r];
    } else if (/^(Global|Flatten|Dense|Reshape)/.test(l.className)) out = null;
    hw.set(l.name, out);
  }
  return hw;
}

/** AveragePooling2D layers that pool their whole input at the stored size and feed only a Flatten. */
function wholeMapPools(t: Topology): Set<string> {
  const hw = storedSpatial(t), out = new Set<string>();
  for (const l of t.layers) {
    if (l.className !== 'AveragePooling2D' || (l.config.padding ?? 'valid') !== 'valid') continue;
    const x = hw.get(l.inputs[0]), k = pair(l.config.pool_size, 2);
    const users = t.layers.filter((u) => u.inputs.includes(l.name));
    if (x && x[0] === k[0] && x[1] === k[1] && users.length === 1 && users[0].className === 'Flatten') out.add(l.name);
  }
  return out;
}

/**
 * Keras writes a strided conv with asymmetric padding as ZeroPadding2D → Conv2D('valid') (MobileNet,
 * ResNet stems). When the padded tensor feeds only that conv, the conv pads as it reads instead:
 * no padded copy is written in forward, and none cropped in backward. The pad layer passes its input
 * through; the conv's output is unchanged.
 */
function foldZeroPadding(layers: KerasLayer[]): void {
  const consumers = new Map<string, KerasLayer[]>();
  for (const l of layers) for (const i of l.spec.inputs) consumers.set(i, [...(consumers.get(i) ?? []), l]);
  for (const padL of layers) {
    if (padL.spec.className !== 'ZeroPadding2D') continue;
    const users = consumers.get(padL.spec.name) ?? [];
    const conv = users[0];
    if (users.length !== 1 || !(conv.module instanceof Conv2d) || (conv.spec.config.padding ?? 'valid') !== 'valid') continue;
    if (conv.spec.className !== 'Conv2D' && conv.spec.className !== 'DepthwiseConv2D') continue;
    const padding = zeroPadding(padL.spec.config);
    padL.op = ([v]) => v;
    conv.op = ([v], m) => {
      const c = m as Conv2d;
      return conv2d(v, c.weight, c.bias, { stride: c.config.stride, dilation: c.config.dilation, groups: c.config.groups, padding });
    };
  }
}

function isTopology(t: unknown): t is Topology {
  return !!t && typeof t === 'object' && Array.isArray((t as Topology).layers) && typeof (t as Topology).output === 'string'
    && typeof (t as Topology).input === 'string';
}
