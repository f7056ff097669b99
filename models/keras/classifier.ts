/**
 * A Keras model as a thaw Classifier: the trunk runs up to a feature layer whose output is
 * (N, F); the head is the chain of layers after it, ending in logits (a final softmax or sigmoid is
 * left to `predict`, as `outputActivation`).
 *
 * The feature layer is `featureLayer` when given, else the last GlobalAveragePooling2D /
 * GlobalMaxPooling2D / Flatten before the output. When that pooling *is* the output and it pools a
 * 1x1 stride-1 linear Conv2D (Darknet's and SqueezeNet-style heads), the conv becomes the head:
 * mean(Wx + b) = W·mean(x) + b, so pooling first and applying the conv to the (N, F) vector gives the
 * same logits for less work, and the conv keeps its key (`conv2d_16.weight`, OIHW [K, F, 1, 1]).
 */
import { Module } from '../../engine/nn/module.ts';
import type { Tensor } from '../../engine/core/tensor.ts';
import { reshape } from '../../engine/core/shape.ts';
import { Conv2d, Linear } from '../../engine/nn/index.ts';
import type { Classifier, Stage } from '../../engine/train/types.ts';
import type { PreprocessSpec } from '../../engine/data/preprocess.ts';
import { KerasTopologyError } from './topology.ts';
import type { KerasLayer } from './layers.ts';
import { KerasModel, runGraph, type KerasModelOptions, type Step } from './model.ts';
import { sigmoid, softmax } from '../../kernels/index.ts';

export interface KerasClassifierOptions extends KerasModelOptions {
  /** The layer whose (N, F) output is the feature vector (default: see the file comment). */
  featureLayer?: string;
  /** Layer-group key of a trunk layer; consecutive layers with one key form a group (default: a new group at each conv/dense). */
  groupOf?: (layer: string, className: string) => string;
  preprocessing?: PreprocessSpec;
}

const POOLS = new Set(['GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'Flatten']);
const LINEAR = { name: 'linear', fn: null };

/** The head: a chain of steps from the feature vector to the logits. Its children are the head layers. */
export class KerasHead extends Module {
  constructor(readonly steps: Step[]) {
    super();
    for (const s of steps) if (s.layer.module) this.child(s.name, s.layer.module);
  }
  /** Swaps the module of one step (replaceHead). */
  setModule(i: number, m: Module): void {
    this.steps[i] = { ...this.steps[i], layer: { ...this.steps[i].layer, module: m } };
    this.child(this.steps[i].name, m);
  }
  /** f: (N, F) → logits (N, K) */
  forward(f: Tensor): Tensor {
    if (!this.steps.length) return f;
    const x = f;
    return runGraph(x, '__features__', this.steps.map((s, i) => ({ ...s, inputs: [i ? this.steps[i - 1].name : '__features__'] })), this.steps[this.steps.length - 1].name);
  }
}

/** The 1x1 conv of a pooled-conv head, applied to the pooled vector: (N, F) → (N, K). */
function convOnVector(l: KerasLayer): KerasLayer {
  return {
    ...l, out: [l.out[0]], act: LINEAR,
    op: ([t], m) => {
      const v = reshape(t, [t.shape[0], t.shape[1], 1, 1]);
      const y = (m as Conv2d).forward(v);
      v.dispose();
      const out = reshape(y, [t.shape[0], y.shape[1]]);
      y.dispose();
      return out;
    },
  };
}

export class KerasClassifier extends KerasModel implements Classifier {
  head: KerasHead;
  /** Name of the head's last parametric layer, the one `replaceHead` swaps. */
  readonly headPrefix: string;
  /** Every parametric layer of the head (the last layer group). */
  readonly headLayers: string[];
  readonly featureDim: number;
  /** The layer whose output `features` returns (after the pooled-conv rewrite: the pooling). */
  readonly featureLayer: string;
  /** The final activation Keras applies and `forward` leaves out ('softmax', 'sigmoid' or 'linear'). */
  readonly outputActivation: string;
  readonly preprocessing?: PreprocessSpec;
  private readonly trunk: Step[];
  private readonly groupOf?: (layer: string, className: string) => string;

  constructor(modelTopology: unknown, opts: KerasClassifierOptions = {}) {
    super(modelTopology, opts);
    this.preprocessing = opts.preprocessing;
    this.groupOf = opts.groupOf;
    const plan = this.fullPlan();
    const consumers = (n: string) => plan.filter((s) => s.inputs.includes(n));
    const feat = opts.featureLayer ?? this.findFeatureLayer();
    this.layer(feat);
    const headNames: string[] = [];
    for (let cur = this.topology.output; cur !== feat; cur = this.layer(cur).spec.inputs[0]) {
      const l = this.layer(cur);
      if (l.spec.inputs.length !== 1 || cur === this.topology.input) throw new KerasTopologyError(`keras: the layers after '${feat}' do not form a chain to the output (at '${cur}'); pass featureLayer`);
      headNames.unshift(cur);
    }
    for (const n of headNames.length ? [feat, ...headNames.slice(0, -1)] : []) {
      if (consumers(n).length !== 1) throw new KerasTopologyError(`keras: '${n}' feeds ${consumers(n).length} layers; the head must be a chain`);
    }
    let headSteps: Step[] = headNames.map((n) => plan.find((s) => s.name === n)!);
    let trunk = plan.filter((s) => !headNames.includes(s.name));
    let fDims = this.layer(feat).out;
    if (!headSteps.length) {
      // The pooled-conv head (see the file comment).
      const pool = this.layer(feat), conv = this.layer(pool.spec.inputs[0] ?? '');
      const c = conv.spec.config;
      const oneByOne = conv.spec.className === 'Conv2D' && conv.act.name === 'linear' && [c.kernel_size, c.strides, c.dilation_rate ?? 1]
        .every((v) => (Array.isArray(v) ? v : [v, v]).every((d: number) => d === 1)) && (c.groups ?? 1) === 1;
      if (pool.spec.className !== 'GlobalAveragePooling2D' || pool.spec.config.keepdims || !oneByOne || consumers(conv.spec.name).length !== 1) {
        throw new KerasTopologyError(`keras: '${feat}' is the model's output, so there is no head to split off; pass featureLayer`);
      }
      trunk = trunk.filter((s) => s.name !== conv.spec.name)
        .map((s) => (s.name === feat ? { ...s, inputs: conv.spec.inputs } : s));
      headSteps = [{ name: conv.spec.name, layer: convOnVector(conv), inputs: [feat], act: LINEAR }];
      fDims = [this.layer(conv.spec.inputs[0]).out[0]];
    }
    if (fDims.length !== 1 || fDims[0] === null) throw new KerasTopologyError(`keras: feature layer '${feat}' gives per-example shape [${fDims}], expected a known (F)`);
    this.featureDim = fDims[0];
    const last = headSteps[headSteps.length - 1];
    this.outputActivation = last.act.name === 'softmax' || last.act.name === 'sigmoid' ? last.act.name : 'linear';
    if (this.outputActivation !== 'linear') headSteps[headSteps.length - 1] = { ...last, act: LINEAR };
    // Only what the features depend on (a functional graph may hold dead branches).
    const need = new Set([feat]);
    for (let i = trunk.length - 1; i >= 0; i--) if (need.has(trunk[i].name)) for (const inp of trunk[i].inputs) need.add(inp);
    this.trunk = trunk.filter((s) => need.has(s.name));
    this.featureLayer = feat;
    this.head = new KerasHead(headSteps);
    this.headLayers = headSteps.filter((s) => s.layer.module?.namedParameters().length).map((s) => s.name);
    if (!this.headLayers.length) throw new KerasTopologyError(`keras: the head after '${feat}' has no parametric layer`);
    this.headPrefix = this.headLayers[this.headLayers.length - 1];
  }

  /** The last global pooling or Flatten on the chain that ends at the output. */
  private findFeatureLayer(): string {
    for (let cur: string | undefined = this.topology.output; cur !== undefined;) {
      const l = this.layer(cur);
      if (POOLS.has(l.spec.className)) return cur;
      cur = l.spec.inputs.length === 1 ? l.spec.inputs[0] : undefined;
    }
    throw new KerasTopologyError('keras: no GlobalAveragePooling2D, GlobalMaxPooling2D or Flatten leads to the output; pass featureLayer');
  }

  /** x: (N, C, H, W) → (N, featureDim) */
  features(x: Tensor): Tensor {
    this.checkInput(x);
    return runGraph(x, this.topology.input, this.trunk, this.featureLayer);
  }

  /** x: (N, C, H, W) → logits (N, K), without the final softmax/sigmoid. */
  override forward(x: Tensor): Tensor {
    const f = this.features(x);
    const y = this.head.forward(f);
    if (y !== f) f.dispose();
    return y;
  }

  /** What the Keras model outputs: forward with `outputActivation` applied. */
  predict(x: Tensor): Tensor {
    const y = this.forward(x);
    if (this.outputActivation === 'linear') return y;
    const p = this.outputActivation === 'softmax' ? softmax(y, -1) : sigmoid(y);
    y.dispose();
    return p;
  }

  /** Layer-group key of each parametric trunk step (null for steps without parameters). */
  private groupKeys(): (string | null)[] {
    let key: string | null = null;
    return this.trunk.map((s) => {
      if (!s.layer.module?.namedParameters().length) return null;
      const cls = s.layer.spec.className;
      key = this.groupOf ? this.groupOf(s.name, cls) : cls === 'BatchNormalization' && key !== null ? key : s.name;
      return key;
    });
  }

  layerGroups(): string[][] {
    const groups: string[][] = [];
    let last: string | null = null;
    this.groupKeys().forEach((k, i) => {
      if (k === null) return;
      if (k !== last || !groups.length) groups.push([]);
      groups[groups.length - 1].push(this.trunk[i].name);
      last = k;
    });
    groups.push([...this.headLayers]);
    return groups;
  }

  /**
   * The trunk cut where a single tensor is live (no skip connection crosses) and the next
   * parametric layer starts a new layer group; the last stage ends at the feature layer.
   */
  stages(): Stage[] {
    const keys = this.groupKeys(), n = this.trunk.length;
    const lastUse = new Map<string, number>([[this.featureLayer, n]]);
    this.trunk.forEach((s, i) => { for (const inp of s.inputs) lastUse.set(inp, Math.max(lastUse.get(inp) ?? -1, i)); });
    // At most one cut between two groups: the latest point where a single tensor is alive.
    const cutBefore = new Map<number, number>(); // index of the next group's first layer → cut index
    let curKey: string | null = null;
    for (let i = 0; i < n - 1; i++) {
      curKey = keys[i] ?? curKey;
      const j = keys.findIndex((k, at) => at > i && k !== null);
      if (curKey === null || j < 0 || keys[j] === curKey) continue;
      // Values alive after step i: produced at or before i (or the input) and used after i.
      const alive = [this.topology.input, ...this.trunk.slice(0, i + 1).map((s) => s.name)].filter((v) => (lastUse.get(v) ?? -1) > i);
      if (alive.length === 1 && alive[0] === this.trunk[i].name) cutBefore.set(j, i);
    }
    const cuts = [...cutBefore.values()].sort((a, b) => a - b);
    const bounds = [-1, ...cuts, n - 1];
    return bounds.slice(1).map((end, j) => {
      const steps = this.trunk.slice(bounds[j] + 1, end + 1);
      const input = j ? this.trunk[bounds[j]].name : this.topology.input;
      const first = steps.find((s) => s.layer.module?.namedParameters().length);
      return {
        name: first ? keys[this.trunk.indexOf(first)]! : steps[steps.length - 1].name,
        prefixes: steps.filter((s) => s.layer.module).map((s) => s.name),
        forward: (x: Tensor) => runGraph(x, input, steps, steps[steps.length - 1].name),
      };
    });
  }

  /** Swaps the head's last parametric layer (Dense, or the pooled 1x1 conv) for a fresh one with `numClasses` outputs. */
  replaceHead(numClasses: number, rng?: () => number): void {
    const i = this.head.steps.findIndex((s) => s.name === this.headPrefix);
    const old = this.head.steps[i].layer.module!;
    const m = old instanceof Linear ? new Linear(old.inFeatures, numClasses, { rng })
      : new Conv2d((old as Conv2d).inChannels, numClasses, 1, { rng });
    this.head.setModule(i, m);
    this.child(this.headPrefix, m);
    old.dispose();
  }
}
