/**
 * torchvision VisionTransformer (`torchvision.models.vision_transformer`) with its exact state-dict
 * keys: `conv_proj` (patchify conv), `class_token`, `encoder.pos_embedding`,
 * `encoder.layers.encoder_layer_N.{ln_1, self_attention.{in_proj_weight, in_proj_bias, out_proj},
 * ln_2, mlp.0, mlp.3}` (torchvision ≥ 0.13's MLPBlock keys; older `mlp.linear_1/2` checkpoints need
 * remapping), `encoder.ln`, `heads.head`. LayerNorms use eps 1e-6 as torchvision's.
 *
 * Self-attention is torch.nn.MultiheadAttention's: one (3D, D) input projection whose output is
 * split into q, k, v, the `attention` op over heads, then `out_proj`.
 */
import { Module, zerosInit, type Init } from '../engine/nn/module.ts';
import { type Tensor, shapeStr } from '../engine/core/tensor.ts';
import { runtime } from '../engine/core/runtime.ts';
import { reshape } from '../engine/core/shape.ts';
import { ShapeError, ThawError } from '../engine/core/errors.ts';
import { Conv2d, Linear, GELU, Dropout, Sequential, LayerNorm, STOCHASTIC, type Stochastic, drawSeed } from '../engine/nn/index.ts';
import { add, linear, slice, concat, broadcastTo, transpose, attention, type AttentionImpl } from '../kernels/index.ts';
import { type Classifier, type Stage, runStages } from '../engine/train/types.ts';
import { IMAGENET_PREPROCESS } from './resnet.ts';
import type { PreprocessSpec } from '../engine/data/preprocess.ts';
import { normalInit } from './bert/layers.ts';

/** Which attention implementation: 'auto' is the fused kernel on hardware adapters, the composed one on software ones. */
export type VitAttention = AttentionImpl | 'auto';

/** Children with given names run in order (torch.nn.Sequential over an OrderedDict). */
export class NamedSequential extends Module {
  readonly layers: Module[] = [];
  constructor(entries: [string, Module][]) {
    super();
    for (const [k, m] of entries) { this.child(k, m); this.layers.push(m); }
  }
  /** Replaces the child `name` (keeping its key and place). */
  replace(name: string, m: Module): Module {
    const old = this._children.get(name);
    if (!old) throw new ThawError('argument', `NamedSequential: no child '${name}'`);
    this._children.set(name, m);
    this.layers[this.layers.indexOf(old)] = m;
    return old;
  }
  forward(x: any): any {
    for (const m of this.layers) x = m.forward(x);
    return x;
  }
}

/** torch.nn.MultiheadAttention (batch_first, self-attention, no masks): in_proj_weight (3D, D), in_proj_bias (3D), out_proj. */
export class MultiheadAttention extends Module implements Stochastic {
  readonly [STOCHASTIC] = true as const;
  readonly out_proj: Linear;
  /** Seed of the next attention-dropout mask. */
  seed: number;
  constructor(readonly embedDim: number, readonly numHeads: number, public dropout = 0, public impl: VitAttention = 'auto', rng?: () => number, seed?: number) {
    super();
    if (embedDim % numHeads) throw new ThawError('argument', `MultiheadAttention: embed_dim ${embedDim} must be divisible by num_heads ${numHeads}`);
    // torch: xavier_uniform_ in_proj_weight, zero biases.
    const b = Math.sqrt(6 / (embedDim + 3 * embedDim)), r = rng ?? Math.random;
    const xavier: Init = (n) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * b);
    this.param('in_proj_weight', [3 * embedDim, embedDim], xavier);
    this.param('in_proj_bias', [3 * embedDim], zerosInit);
    this.out_proj = this.child('out_proj', new Linear(embedDim, embedDim, { rng }));
    runtime().write(this.out_proj.bias!.buffer, new Float32Array(embedDim));
    this.seed = (seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
  }

  /** Whether a training-mode call drops attention weights (dropout > 0). */
  get randomInTraining(): boolean { return this.dropout > 0; }
  get inProjWeight(): Tensor { return this._params.get('in_proj_weight')!; }
  get inProjBias(): Tensor { return this._params.get('in_proj_bias')!; }

  /** The implementation in use ('auto' resolved against the adapter). */
  get resolvedImpl(): AttentionImpl {
    return this.impl === 'auto' ? (runtime().gpu.info.kind === 'hardware' ? 'fused' : 'composed') : this.impl;
  }

  /** x: (B, T, D) → (B, T, D). */
  forward(x: Tensor): Tensor {
    const [B, T, D] = x.shape;
    if (x.rank !== 3 || D !== this.embedDim) throw new ShapeError(`MultiheadAttention: input has shape ${shapeStr(x.shape)}, expected (B, T, ${this.embedDim})`);
    const qkv = linear(x, this.inProjWeight, this.inProjBias); // (B, T, 3D)
    const part = (i: number) => slice(qkv, [0, 0, i * D], [B, T, D]);
    const p = this.training ? this.dropout : 0;
    const seed = p > 0 ? drawSeed(this) : this.seed;
    const a = attention(part(0), part(1), part(2), { heads: this.numHeads, impl: this.resolvedImpl, dropout: p, seed });
    return this.out_proj.forward(a);
  }
}

/** torchvision's EncoderBlock: x + dropout(attention(ln_1(x))), then + mlp(ln_2(·)). */
export class EncoderBlock extends Module {
  readonly ln_1: LayerNorm;
  readonly self_attention: MultiheadAttention;
  readonly dropout: Dropout;
  readonly ln_2: LayerNorm;
  readonly mlp: Sequential;
  constructor(numHeads: number, hiddenDim: number, mlpDim: number, dropout: number, attentionDropout: number, impl: VitAttention, rng?: () => number, seed?: number) {
    super();
    const s = (k: number) => (seed === undefined ? undefined : (seed + k) >>> 0);
    this.ln_1 = this.child('ln_1', new LayerNorm(hiddenDim, 1e-6));
    this.self_attention = this.child('self_attention', new MultiheadAttention(hiddenDim, numHeads, attentionDropout, impl, rng, s(0)));
    this.dropout = this.child('dropout', new Dropout(dropout, s(1)));
    this.ln_2 = this.child('ln_2', new LayerNorm(hiddenDim, 1e-6));
    // torchvision's MLPBlock: Linear, GELU, Dropout, Linear, Dropout → keys mlp.0, mlp.3.
    this.mlp = this.child('mlp', new Sequential(
      new Linear(hiddenDim, mlpDim, { rng }), new GELU(), new Dropout(dropout, s(2)), new Linear(mlpDim, hiddenDim, { rng }), new Dropout(dropout, s(3)),
    ));
  }
  /** x: (B, T, D) → (B, T, D). */
  forward(input: Tensor): Tensor {
    const x = add(this.dropout.forward(this.self_attention.forward(this.ln_1.forward(input))), input);
    return add(x, this.mlp.forward(this.ln_2.forward(x)));
  }
}

/** torchvision's Encoder: pos_embedding, dropout, layers (encoder_layer_N), ln. */
export class Encoder extends Module {
  readonly dropout: Dropout;
  readonly layers: NamedSequential;
  readonly ln: LayerNorm;
  constructor(seqLength: number, numLayers: number, numHeads: number, hiddenDim: number, mlpDim: number, dropout: number, attentionDropout: number, impl: VitAttention, rng?: () => number, seed?: number) {
    super();
    this.param('pos_embedding', [1, seqLength, hiddenDim], normalInit(0.02, rng));
    this.dropout = this.child('dropout', new Dropout(dropout, seed));
    this.layers = this.child('layers', new NamedSequential(Array.from({ length: numLayers }, (_, i) =>
      [`encoder_layer_${i}`, new EncoderBlock(numHeads, hiddenDim, mlpDim, dropout, attentionDropout, impl, rng, seed === undefined ? undefined : (seed + 16 * (i + 1)) >>> 0)] as [string, Module])));
    this.ln = this.child('ln', new LayerNorm(hiddenDim, 1e-6));
  }
  /** (1, seqLength, hiddenDim). */
  get posEmbedding(): Tensor { return this._params.get('pos_embedding')!; }
  /** The embedded tokens plus positions, through dropout: (B, S, D) → (B, S, D). */
  embed(x: Tensor): Tensor { return this.dropout.forward(add(x, this.posEmbedding)); }
  forward(x: Tensor): Tensor { return this.ln.forward(this.layers.forward(this.embed(x))); }
}

export interface VisionTransformerOptions {
  imageSize: number;
  patchSize: number;
  numLayers: number;
  numHeads: number;
  hiddenDim: number;
  mlpDim: number;
  /** Dropout after the embedding, the attention and in the MLP (default 0). */
  dropout?: number;
  /** Dropout on the attention weights (default 0). */
  attentionDropout?: number;
  /** Output classes (default 1000). */
  numClasses?: number;
  /** Attention implementation (default 'auto'). */
  attention?: VitAttention;
  rng?: () => number;
  /** Seed of the dropout masks (random when absent). */
  seed?: number;
}

export class VisionTransformer extends Module implements Classifier {
  readonly conv_proj: Conv2d;
  readonly encoder: Encoder;
  readonly heads: NamedSequential;
  readonly headPrefix = 'heads';
  readonly featureDim: number;
  readonly seqLength: number;
  /** Input preprocessing (settable: the zoo and the CLI give torchvision's resize-and-crop preset, or another size). */
  preprocessing: PreprocessSpec = IMAGENET_PREPROCESS;
  readonly config: Required<Omit<VisionTransformerOptions, 'rng' | 'seed'>>;

  constructor(opts: VisionTransformerOptions) {
    super();
    const { rng, seed, ...rest } = opts;
    const c = this.config = { dropout: 0, attentionDropout: 0, numClasses: 1000, attention: 'auto', ...rest };
    if (c.imageSize % c.patchSize) throw new ThawError('argument', `VisionTransformer: image size ${c.imageSize} is not divisible by patch size ${c.patchSize}`);
    this.featureDim = c.hiddenDim;
    this.seqLength = (c.imageSize / c.patchSize) ** 2 + 1;
    this.conv_proj = this.child('conv_proj', new Conv2d(3, c.hiddenDim, c.patchSize, { stride: c.patchSize, rng }));
    this.param('class_token', [1, 1, c.hiddenDim], zerosInit);
    this.encoder = this.child('encoder', new Encoder(this.seqLength, c.numLayers, c.numHeads, c.hiddenDim, c.mlpDim, c.dropout, c.attentionDropout, c.attention, rng, seed));
    this.heads = this.child('heads', new NamedSequential([['head', new Linear(c.hiddenDim, c.numClasses, { rng })]]));
  }

  /** (1, 1, hiddenDim). */
  get classToken(): Tensor { return this._params.get('class_token')!; }
  get head(): Module { return this.heads; }

  /** Patchify, flatten, prepend the class token, add positions: (N, 3, H, W) → (N, S, D). */
  embed(x: Tensor): Tensor {
    const { imageSize: s, hiddenDim: D } = this.config;
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== s || x.shape[3] !== s) {
      throw new ShapeError(`VisionTransformer: input has shape ${shapeStr(x.shape)}, expected (N, 3, ${s}, ${s})`);
    }
    const N = x.shape[0];
    const p = this.conv_proj.forward(x); // (N, D, h, w)
    const tokens = transpose(reshape(p, [N, D, p.shape[2] * p.shape[3]]), 1, 2); // (N, hw, D)
    return this.encoder.embed(concat([broadcastTo(this.classToken, [N, 1, D]), tokens], 1));
  }

  /** The class token after the final LayerNorm: (N, S, D) → (N, D). */
  private pool(x: Tensor): Tensor {
    const [N, , D] = x.shape;
    return reshape(slice(this.encoder.ln.forward(x), [0, 0, 0], [N, 1, D]), [N, D]);
  }

  /** x: (N, 3, H, W) → (N, hiddenDim) */
  features(x: Tensor): Tensor { return runStages(this.stages(), x); }

  /** The embedding (conv_proj, class_token, pos_embedding), each encoder layer, then encoder.ln on the class token. */
  stages(): Stage[] {
    const layers = this.encoder.layers;
    return [
      { name: 'embed', prefixes: ['conv_proj', 'class_token', 'encoder.pos_embedding'], forward: (x) => this.embed(x) },
      ...layers.layers.map((m, i) => ({ name: `encoder_layer_${i}`, prefixes: [`encoder.layers.encoder_layer_${i}`], forward: (x: Tensor) => m.forward(x) })),
      { name: 'ln', prefixes: ['encoder.ln'], forward: (x) => this.pool(x) },
    ];
  }

  /** x: (N, 3, H, W) → logits (N, numClasses) */
  forward(x: Tensor): Tensor { return this.heads.forward(this.features(x)); }

  /** [embedding], [encoder_layer_0], ..., [encoder.ln], [heads]. */
  layerGroups(): string[][] {
    return [['conv_proj', 'class_token', 'encoder.pos_embedding'], ...this.encoder.layers.layers.map((_, i) => [`encoder.layers.encoder_layer_${i}`]), ['encoder.ln'], ['heads']];
  }

  /** A new `heads.head` (Linear) for `numClasses`. */
  replaceHead(numClasses: number, rng?: () => number): void {
    this.heads.replace('head', new Linear(this.featureDim, numClasses, { rng })).dispose();
  }
}

/** torchvision's VisionTransformer with its constructor's arguments. */
export function visionTransformer(opts: VisionTransformerOptions): VisionTransformer { return new VisionTransformer(opts); }

/** torchvision's vit_b_16: 224 px, patch 16, 12 layers, 12 heads, hidden 768, MLP 3072 (86.6 M parameters). */
export function vitB16(opts: Partial<VisionTransformerOptions> = {}): VisionTransformer {
  return new VisionTransformer({ imageSize: 224, patchSize: 16, numLayers: 12, numHeads: 12, hiddenDim: 768, mlpDim: 3072, ...opts });
}
