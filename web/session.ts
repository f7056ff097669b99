/**
 * The demo's training state, without any DOM: a backbone loaded from a real checkpoint, a labelled
 * dataset, a freeze depth, and a step-at-a-time fine-tuning loop on the page's WebGPU device.
 *
 * Each step is the same as `finetune()`'s (engine/train/finetune.ts): forward, cross-entropy, backward,
 * optimizer step, with the same feature cache (`planCache`/`computeCache`): the longest frozen,
 * deterministic prefix of trunk stages runs once per image, and steps start from its output. It is a
 * loop of single steps here so the page can draw every loss as it comes and stop between any two.
 */
import {
  resnet20, parseCheckpoint, loadStateDict, loadGap, freezeTo, trainableSummary,
  tensor, tidy, keep, backward, noGrad, crossEntropy, softmax, SGD, batches, Rng, lora,
  type ResNetCifar, type HostTensor, type LoraConfig, type Dataset, type Batch, type LoadReport, type Tensor,
} from '../index.ts';
import { planCache, computeCache, evaluate, type FeatureCache } from '../engine/train/finetune.ts';
import type { Stage } from '../engine/train/types.ts';

/** What one training step reports. */
export interface StepResult { step: number; epoch: number; loss: number; acc: number; n: number; ms: number; lr: number }

/** The live state the page draws. */
export interface TrainState {
  step: number; epoch: number; stepInEpoch: number; stepsPerEpoch: number;
  losses: number[]; accs: number[];
  /** Running loss and accuracy over the current epoch. */
  epochLoss: number; epochAcc: number; epochSeen: number;
  /** Held-out accuracy after each evaluation: [step, accuracy]. */
  testAccs: [number, number][];
  /** Steps at which each epoch started (0 first). */
  epochStarts: number[];
  /** Changes made between steps (a new freeze depth, batch size): [step, label]. */
  marks: [number, string][];
  imagesPerSec: number;
  /** The feature cache: on, after which stage (shape per image), why (not) further, and its cost. */
  cache: { on: boolean; after: string; shape: number[]; reason: string; seconds: number } | null;
}

/** What LoRA adapts in ResNet-20: the 3x3 convs of every residual block (it has no pointwise convs). */
export const LORA_TARGET = /^layer\d\.\d+\.conv[12]$/;
export const LORA_TARGET_TEXT = 'the 3×3 convs of the 9 residual blocks (layerN.B.conv1/conv2)';

/** Progress of a long phase (reading the checkpoint, computing cached features). */
export type PhaseProgress = (what: string, done: number, total: number) => void;

export class Session {
  model: ResNetCifar | null = null;
  backbone = '';
  report: LoadReport | null = null;
  classes: string[] = [];
  train: Dataset | null = null;
  test: Dataset | null = null;
  /** Layer groups frozen, input side first; -1 until a backbone is loaded (then: all but the head). */
  freezeDepth = -1;
  lr = 0.05;
  batchSize = 16;
  seed = 0;
  /** LoRA rank (0: off, the freeze depth decides what trains); the adapters in the model when on. */
  loraRank = 0;
  lora: LoraConfig | null = null;
  state: TrainState = emptyState();
  private opt: SGD | null = null;
  private trainCache: FeatureCache | null = null;
  private testCache: FeatureCache | null = null;
  /** Logits from a cached representation (the stages after the cache point, then the head). */
  private rest: ((h: Tensor) => Tensor) | null = null;
  private iter: Generator<Batch> | null = null;
  private rng = new Rng(0);
  /** The loaded checkpoint's tensors: the model is rebuilt from them when LoRA is turned on, off or changed. */
  private weights: Map<string, HostTensor> | null = null;

  /** Layer groups of the backbone, input side first (what the freeze slider counts). */
  groups(): string[][] { return this.model?.layerGroups() ?? []; }

  /** Parses a checkpoint's bytes and loads it into a fresh ResNet-20 (its CIFAR-10 head included). */
  async loadBackbone(bytes: Uint8Array, name: string): Promise<LoadReport> {
    const ckpt = await parseCheckpoint(bytes, { name });
    const report = this.build(ckpt.tensors, name);
    this.weights = ckpt.tensors;
    this.backbone = name;
    this.report = report;
    this.reset();
    return report;
  }

  /**
   * A fresh ResNet-20 from a checkpoint's tensors replaces the model: the head for the current classes,
   * then the LoRA adapters or the freeze depth. The old model stays if the tensors do not fit.
   */
  private build(tensors: Map<string, HostTensor>, name: string): LoadReport {
    const model = resnet20(10);
    let report: LoadReport;
    let cfg: LoraConfig | null = null;
    try {
      report = loadStateDict(model, tensors, { remap: ['strip-module'], source: name });
      // A trunk tensor the file lacks would stay random under a frozen trunk; only the head may be missing (a new one replaces it).
      const gap = loadGap(report, (k) => k.startsWith(`${model.headPrefix}.`));
      if (gap) throw new Error(`${name} does not fit ResNet-20: ${gap}`);
      if (this.classes.length) {
        const r = new Rng(this.seed + 1);
        model.replaceHead(this.classes.length, () => r.next());
      }
      const g = model.layerGroups().length;
      if (this.freezeDepth < 0 || this.freezeDepth >= g) this.freezeDepth = g - 1;
      if (this.loraRank) {
        const r = new Rng(this.seed + 2);
        cfg = lora(model, { target: LORA_TARGET, rank: this.loraRank, rng: () => r.next() });
      } else freezeTo(model, this.freezeDepth);
    } catch (e) {
      model.dispose();
      throw e;
    }
    this.model?.dispose();
    this.model = model;
    this.lora = cfg;
    return report;
  }

  /**
   * LoRA with this rank (0: off). Adapters cannot be taken out of a model, so the model is rebuilt
   * from the loaded checkpoint: training so far is discarded and the curves start over.
   */
  setLora(rank: number): void {
    if (!(Number.isInteger(rank) && rank >= 0)) throw new Error(`LoRA rank must be 0 (off) or a positive integer, got ${rank}`);
    if (rank === this.loraRank) return;
    const was = this.loraRank;
    this.loraRank = rank;
    if (!this.weights) return;
    try {
      this.build(this.weights, this.backbone);
    } catch (e) {
      this.loraRank = was;
      throw e;
    }
    this.reset();
  }

  /** Sets the labelled data; a new head with one output per class replaces the old one. */
  setData(train: Dataset, test: Dataset | null, classes: string[]): void {
    if (classes.length < 2) throw new Error(`fine-tuning needs at least 2 classes, got ${classes.length}`);
    this.train = train; this.test = test; this.classes = classes;
    if (this.model && this.lora) this.build(this.weights!, this.backbone); // a new head, then new adapters (lora() freezes the rest)
    else if (this.model) this.newHead();
    this.reset();
  }

  /** Freezes the first n layer groups (0: train everything; groups-1: the head only). */
  setFreeze(n: number): void {
    const g = this.groups().length;
    if (!(Number.isInteger(n) && n >= 0 && n < g)) throw new Error(`freeze depth must be 0..${g - 1}, got ${n}`);
    if (this.lora) throw new Error('LoRA decides what trains; turn LoRA off to choose a freeze depth');
    if (n === this.freezeDepth) return;
    this.freezeDepth = n;
    freezeTo(this.model!, n);
    this.restart(this.trainsLabel());
  }

  setLr(lr: number): void {
    if (!(lr > 0)) throw new Error(`learning rate must be > 0, got ${lr}`);
    this.lr = lr;
    if (this.opt) this.opt.groups[0].lr = lr;
  }

  /** Trainable parameter counts for the current freeze depth. */
  summary() {
    return this.model ? trainableSummary(this.model) : null;
  }

  /** What trains at the current depth, in a few words (the chart marks changes with it). */
  trainsLabel(): string {
    const g = this.groups();
    const n = this.freezeDepth;
    if (this.lora) return `LoRA rank ${this.lora.rank}`;
    return n >= g.length - 1 ? 'train the head' : n <= 0 ? 'train everything' : `train from ${g[n][0]}`;
  }

  /** What the feature cache will cover at the current freeze depth, for people. */
  cachePlan(): string {
    if (!this.model) return '';
    const plan = planCache(this.model, false);
    const stages = stagesOf(this.model);
    const k = plan.all ? stages.length : plan.stages;
    return k ? `Frozen stages ${stages.slice(0, k).map((st) => st.name).join(' → ')} run once per image and are cached.`
      : `No feature cache: ${plan.reason}.`;
  }

  get ready(): boolean { return !!(this.model && this.train && this.classes.length); }
  get prepared(): boolean { return !!this.opt; }

  /** Forgets optimizer state, cached features and the curves (weights stay as they are). */
  reset(): void {
    this.restart(null);
    this.rng = new Rng(this.seed);
    this.state = emptyState();
  }

  /** Sets the batch size; training continues from the next step with new epochs. */
  setBatchSize(n: number): void {
    if (!(Number.isInteger(n) && n >= 1)) throw new Error(`batch size must be a positive integer, got ${n}`);
    if (n === this.batchSize) return;
    this.batchSize = n;
    this.restart(`batch ${n}`);
  }

  /**
   * Starts over from the current weights: a new optimizer and cache at the next step, a new epoch.
   * The curves go on, with the change marked (progressive unfreezing reads as one story).
   */
  private restart(mark: string | null): void {
    this.opt?.dispose();
    this.opt = null;
    this.trainCache = this.testCache = null;
    this.rest = null;
    this.iter = null;
    this.state.imagesPerSec = 0;
    if (mark && this.state.step > 0) this.state.marks.push([this.state.step, mark]);
  }

  /** Applies the freeze depth, builds the optimizer and the feature cache of the frozen stages. */
  async prepare(progress?: PhaseProgress): Promise<void> {
    const model = this.need();
    if (!this.lora) freezeTo(model, this.freezeDepth);
    const plan = planCache(model, false);
    const stages = stagesOf(model);
    const k = plan.all ? stages.length : plan.stages;
    const t0 = performance.now();
    this.state.cache = { on: false, after: '', shape: [], reason: plan.reason, seconds: 0 };
    if (k > 0) {
      const prefix = (x: Tensor) => stages.slice(0, k).reduce((y, st) => st.forward(y), x);
      this.rest = (h: Tensor) => model.head.forward(stages.slice(k).reduce((y, st) => st.forward(y), h));
      const total = this.train!.length + (this.test?.length ?? 0);
      const what = `running the frozen stages once (${stages.slice(0, k).map((st) => st.name).join(', ')})`;
      this.trainCache = await computeCache(model, this.train!, 32, prefix, (d) => progress?.(what, d, total));
      if (this.test) this.testCache = await computeCache(model, this.test, 32, prefix, (d) => progress?.(what, this.train!.length + d, total));
      this.state.cache = { on: true, after: stages[k - 1].name, shape: this.trainCache.shape, reason: plan.reason, seconds: (performance.now() - t0) / 1000 };
    }
    this.opt = new SGD(model.trainableParameters(), { lr: this.lr, momentum: 0.9, nesterov: true });
    this.state.stepsPerEpoch = Math.ceil(this.train!.length / this.batchSize);
    if (this.state.step === 0 && !this.state.marks.length) this.state.marks.push([0, this.trainsLabel()]);
  }

  /** One optimizer step on the next batch (a new shuffled epoch starts when one runs out). */
  async step(): Promise<StepResult> {
    const model = this.need();
    if (!this.opt) throw new Error('call prepare() first');
    const s = this.state;
    let next = this.iter?.next();
    if (!this.iter || next!.done) {
      this.iter = batches(this.train!, this.batchSize, { shuffle: true, rng: this.rng });
      next = this.iter.next();
      s.epoch++; s.stepInEpoch = 0; s.epochLoss = 0; s.epochAcc = 0; s.epochSeen = 0;
      s.epochStarts.push(s.step);
    }
    const b = next!.value as Batch;
    const t0 = performance.now();
    model.train();
    const C = this.classes.length;
    const { loss, logits } = tidy(() => {
      const labels = tensor(b.y, [b.n], 'i32');
      const c = this.trainCache;
      const logits = c && this.rest
        ? this.rest(tensor(gatherRows(c.data as Float32Array, b.indices, c.per), [b.n, ...c.shape])) // computeCache without half: f32
        : model.forward(tensor(b.x, [b.n, 3, 32, 32]));
      const loss = crossEntropy(logits, labels);
      backward(loss);
      return { loss: keep(loss), logits: keep(logits) };
    });
    this.opt.step();
    this.opt.zeroGrad();
    const lossV = await loss.item();
    const L = await logits.data();
    loss.dispose(); logits.dispose();
    let correct = 0;
    for (let i = 0; i < b.n; i++) if (argmax(L, i * C, C) === b.y[i]) correct++;
    const ms = performance.now() - t0;
    const seen = (s.epochSeen += b.n);
    s.epochLoss += (lossV - s.epochLoss) * b.n / seen;
    s.epochAcc += (correct / b.n - s.epochAcc) * b.n / seen;
    s.step++; s.stepInEpoch++;
    s.losses.push(lossV); s.accs.push(correct / b.n);
    // Smoothed over recent steps, counting step time only (not the pauses between runs).
    const ips = b.n / (ms / 1000);
    s.imagesPerSec = s.imagesPerSec ? s.imagesPerSec + 0.3 * (ips - s.imagesPerSec) : ips;
    return { step: s.step, epoch: s.epoch, loss: lossV, acc: correct / b.n, n: b.n, ms, lr: this.opt.groups[0].lr };
  }

  /** Accuracy on the held-out set (from cached features when the cache is on). */
  async evaluate(): Promise<number | null> {
    const model = this.need();
    if (!this.test) return null;
    const cached = this.testCache && this.rest ? { cache: this.testCache, rest: this.rest } : undefined;
    const r = await evaluate(model, this.test, 32, this.classes.length, cached);
    this.state.testAccs.push([this.state.step, r.accuracy]);
    return r.accuracy;
  }

  /** Class probabilities for one preprocessed (3, 32, 32) input, best first. */
  async predict(x: Float32Array, k = 3): Promise<{ label: string; index: number; p: number }[]> {
    const model = this.need();
    const was = model.training;
    model.eval();
    const probs: Tensor = noGrad(() => tidy(() => softmax(model.forward(tensor(x, [1, 3, 32, 32])), -1)));
    model.train(was);
    const p = await probs.data();
    probs.dispose();
    return Array.from(p, (v, i) => ({ label: this.classes[i] ?? `class ${i}`, index: i, p: v }))
      .sort((a, b) => b.p - a.p).slice(0, k);
  }

  private need(): ResNetCifar {
    if (!this.model) throw new Error('load a backbone first');
    if (!this.train || !this.classes.length) throw new Error('load labelled images first');
    return this.model;
  }

  private newHead(): void {
    const r = new Rng(this.seed + 1);
    this.model!.replaceHead(this.classes.length, () => r.next());
    freezeTo(this.model!, this.freezeDepth);
  }
}

/** The trunk's stages (the cache points); a model without them is one stage. */
function stagesOf(model: ResNetCifar): Stage[] {
  return model.stages?.() ?? [{ name: 'trunk', prefixes: [], forward: (x: Tensor) => model.features(x) }];
}

function emptyState(): TrainState {
  return { step: 0, epoch: 0, stepInEpoch: 0, stepsPerEpoch: 0, losses: [], accs: [], epochLoss: 0, epochAcc: 0, epochSeen: 0, testAccs: [], epochStarts: [], marks: [], imagesPerSec: 0, cache: null };
}

function argmax(a: ArrayLike<number>, off: number, n: number): number {
  let best = 0;
  for (let c = 1; c < n; c++) if (a[off + c] > a[off + best]) best = c;
  return best;
}

function gatherRows(src: Float32Array, idx: ArrayLike<number>, F: number): Float32Array {
  const out = new Float32Array(idx.length * F);
  for (let i = 0; i < idx.length; i++) out.set(src.subarray(idx[i] * F, (idx[i] + 1) * F), i * F);
  return out;
}
