/**
 * BERT's building blocks with the Hugging Face module names, so a parameter's dotted path is its
 * checkpoint key (`encoder.layer.3.attention.self.query.weight`). Shapes: B batch, T tokens,
 * H hidden size, I intermediate size.
 */
import { Module, onesInit, zerosInit, type Init } from '../../engine/nn/module.ts';
import { type Tensor, shapeStr } from '../../engine/core/tensor.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { ShapeError, ThawError } from '../../engine/core/errors.ts';
import { reshape } from '../../engine/core/shape.ts';
import { Linear, Dropout, STOCHASTIC, type Stochastic } from '../../engine/nn/index.ts';
import type { BertConfig } from './config.ts';
import { gelu, relu, tanh, gather, gatherSum, slice, dropout, linearAct, layerNorm, residualLayerNorm, attention, type AttentionImpl, type EpilogueAct, type FusedDropout } from '../../kernels/index.ts';
import { drawSeed } from '../../engine/nn/roles.ts';
import { LayerNorm } from '../../engine/nn/layer_norm.ts';

/** N(0, std) init (Box-Muller over `rng`), BERT's init of Linear and Embedding weights. */
export function normalInit(std: number, rng: () => number = Math.random): Init {
  return (n) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - rng())), t = 2 * Math.PI * rng();
      a[i] = r * Math.cos(t) * std;
      if (i + 1 < n) a[i + 1] = r * Math.sin(t) * std;
    }
    return a;
  };
}

/** torch.nn.Embedding: weight (num, dim); the `paddingIdx` row starts at zero and gets no gradient. */
export class Embedding extends Module {
  constructor(readonly num: number, readonly dim: number, init: Init, readonly paddingIdx: number | null = null) {
    super();
    this.param('weight', [num, dim], paddingIdx === null ? init : (n, shape) => {
      const w = init(n, shape);
      w.fill(0, paddingIdx * dim, (paddingIdx + 1) * dim);
      return w;
    });
  }
  get weight(): Tensor { return this._params.get('weight')!; }
  /** ids: i32 (...) → (..., dim). */
  forward(ids: Tensor): Tensor { return gather(this.weight, ids, { paddingIdx: this.paddingIdx ?? undefined }); }
}

/**
 * act(dense(x)), then `drop`'s dropout, in the matmul's store; as dense's forward, the activation and
 * the dropout where an adapter (LoRA) has replaced that forward.
 */
function denseAct(dense: Linear, x: Tensor, act: EpilogueAct, drop: FusedDropout | null = null): Tensor {
  if (!Object.hasOwn(dense, 'forward')) return linearAct(x, dense.weight, dense.bias, act, drop);
  const h = dense.forward(x);
  const y = act === 'relu' ? relu(h) : act === 'tanh' ? tanh(h) : gelu(h, act === 'geluTanh' ? 'tanh' : 'none');
  return drop ? dropout(y, drop.p, drop.seed) : y;
}

/** A Linear with BERT's init: N(0, initializerRange) weight, zero bias. */
export function bertLinear(inF: number, outF: number, c: BertConfig): Linear {
  const l = new Linear(inF, outF);
  const w = normalInit(c.initializerRange, c.rng)(inF * outF, [outF, inF]);
  runtime().write(l.weight.buffer, w);
  runtime().write(l.bias!.buffer, new Float32Array(outF));
  return l;
}

/** Word + position + token-type embeddings, LayerNorm, dropout. */
export class BertEmbeddings extends Module {
  readonly word_embeddings: Embedding;
  readonly position_embeddings: Embedding;
  readonly token_type_embeddings: Embedding;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;
  constructor(readonly config: BertConfig) {
    super();
    const c = config, init = normalInit(c.initializerRange, c.rng);
    this.word_embeddings = this.child('word_embeddings', new Embedding(c.vocabSize, c.hiddenSize, init, c.padTokenId));
    this.position_embeddings = this.child('position_embeddings', new Embedding(c.maxPositions, c.hiddenSize, init));
    this.token_type_embeddings = this.child('token_type_embeddings', new Embedding(c.typeVocabSize, c.hiddenSize, init));
    this.LayerNorm = this.child('LayerNorm', new LayerNorm(c.hiddenSize, c.layerNormEps));
    this.dropout = this.child('dropout', new Dropout(c.hiddenDropout, c.seed));
  }

  /** inputIds: i32 (B, T), tokenTypeIds: i32 (B, T) or null (all 0) → (B, T, H). Positions are 0..T-1. */
  forward(inputIds: Tensor, tokenTypeIds: Tensor | null = null): Tensor {
    const [, T] = inputIds.shape;
    if (T > this.config.maxPositions) throw new ShapeError(`BertEmbeddings: ${T} tokens exceed maxPositions ${this.config.maxPositions}`);
    // words + (types + positions) in one lookup kernel (position t reads row t: period T; no token
    // types read row 0: period 1), then LayerNorm and the dropout after it in one kernel.
    const w = this.word_embeddings, ty = this.token_type_embeddings, pos = this.position_embeddings;
    const sum = gatherSum([w.weight, ty.weight, pos.weight], [inputIds, tokenTypeIds ?? { period: 1 }, { period: T }], inputIds.shape,
      [w.paddingIdx ?? undefined, ty.paddingIdx ?? undefined, pos.paddingIdx ?? undefined]); // (B, T, H)
    const d = this.dropout, ln = this.LayerNorm;
    const drop = d.training && d.p > 0 ? { p: d.p, seed: drawSeed(d) } : null;
    return layerNorm(sum, ln.weight, ln.bias, ln.eps, drop);
  }
}

/**
 * Query/key/value projections and scaled dot-product attention over heads. Stochastic: in training
 * mode, dropout on the attention weights (config `attentionDropout`).
 */
export class BertSelfAttention extends Module implements Stochastic {
  readonly [STOCHASTIC] = true as const;
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  /** Seed of the next attention-dropout mask. */
  seed: number;
  constructor(readonly config: BertConfig) {
    super();
    const H = config.hiddenSize;
    this.query = this.child('query', bertLinear(H, H, config));
    this.key = this.child('key', bertLinear(H, H, config));
    this.value = this.child('value', bertLinear(H, H, config));
    this.seed = ((config.seed ?? Math.floor(Math.random() * 2 ** 32)) + 0x9e3779b9) >>> 0;
  }

  /** Whether a training-mode call drops attention weights (attentionDropout > 0). */
  get randomInTraining(): boolean { return this.config.attentionDropout > 0; }

  /** The attention implementation in use ('auto': runtime().tuning.attention.impl). */
  get impl(): AttentionImpl {
    const a = this.config.attention;
    return a === 'auto' ? runtime().tuning.attention.impl : a;
  }

  /** x: (B, T, H), mask: f32 (B, T) or null → (B, T, H), heads concatenated. */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const p = this.training ? this.config.attentionDropout : 0;
    const seed = this.seed;
    if (p > 0) this.seed = (this.seed + 1) >>> 0;
    return attention(this.query.forward(x), this.key.forward(x), this.value.forward(x),
      { mask, heads: this.config.numHeads, impl: this.impl, dropout: p, seed });
  }
}

/** dense → dropout → residual add → LayerNorm (BertSelfOutput and BertOutput). */
export class BertResidualOutput extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;
  constructor(inF: number, config: BertConfig) {
    super();
    this.dense = this.child('dense', bertLinear(inF, config.hiddenSize, config));
    this.LayerNorm = this.child('LayerNorm', new LayerNorm(config.hiddenSize, config.layerNormEps));
    this.dropout = this.child('dropout', new Dropout(config.hiddenDropout, config.seed === undefined ? undefined : config.seed + 7));
  }
  /** h: (B, T, inF), input: (B, T, H) → (B, T, H). Dropout, add and LayerNorm run as one kernel. */
  forward(h: Tensor, input: Tensor): Tensor {
    const d = this.dropout, ln = this.LayerNorm;
    const drop = d.training && d.p > 0 ? { p: d.p, seed: drawSeed(d) } : null;
    return residualLayerNorm(this.dense.forward(h), input, ln.weight, ln.bias, ln.eps, drop);
  }
}

/** `attention.self` + `attention.output`. */
export class BertAttention extends Module {
  readonly self: BertSelfAttention;
  readonly output: BertResidualOutput;
  constructor(config: BertConfig) {
    super();
    this.self = this.child('self', new BertSelfAttention(config));
    this.output = this.child('output', new BertResidualOutput(config.hiddenSize, config));
  }
  forward(x: Tensor, mask: Tensor | null): Tensor { return this.output.forward(this.self.forward(x, mask), x); }
}

/** The feed-forward expansion: dense (H → I) and the activation. */
export class BertIntermediate extends Module {
  readonly dense: Linear;
  constructor(readonly config: BertConfig) {
    super();
    this.dense = this.child('dense', bertLinear(config.hiddenSize, config.intermediateSize, config));
  }
  /** x: (B, T, H) → (B, T, I); the activation runs in the matmul's store. */
  forward(x: Tensor): Tensor {
    const a = this.config.activation;
    return denseAct(this.dense, x, a === 'relu' ? 'relu' : a === 'gelu_tanh' ? 'geluTanh' : 'gelu');
  }
}

/** One encoder layer: attention, then the feed-forward block, each with residual + LayerNorm. */
export class BertLayer extends Module {
  readonly attention: BertAttention;
  readonly intermediate: BertIntermediate;
  readonly output: BertResidualOutput;
  constructor(config: BertConfig) {
    super();
    this.attention = this.child('attention', new BertAttention(config));
    this.intermediate = this.child('intermediate', new BertIntermediate(config));
    this.output = this.child('output', new BertResidualOutput(config.intermediateSize, config));
  }
  /** x: (B, T, H), mask: f32 (B, T) or null → (B, T, H). */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const a = this.attention.forward(x, mask);
    return this.output.forward(this.intermediate.forward(a), a);
  }
}

/** `encoder.layer.N`: the stack of layers (children named by index, as torch.nn.ModuleList). */
export class BertEncoder extends Module {
  readonly layer: LayerList;
  constructor(config: BertConfig) {
    super();
    this.layer = this.child('layer', new LayerList(Array.from({ length: config.numLayers }, () => new BertLayer(config))));
  }
  forward(x: Tensor, mask: Tensor | null): Tensor {
    for (const l of this.layer.layers) x = l.forward(x, mask);
    return x;
  }
}

/** torch.nn.ModuleList of BertLayers. */
export class LayerList extends Module {
  constructor(readonly layers: BertLayer[]) {
    super();
    layers.forEach((l, i) => this.child(String(i), l));
  }
  forward(): never { throw new ThawError('usage', 'LayerList has no forward; iterate over .layers'); }
}

/** tanh(dense(first token's hidden state)). */
export class BertPooler extends Module {
  readonly dense: Linear;
  constructor(readonly config: BertConfig) {
    super();
    this.dense = this.child('dense', bertLinear(config.hiddenSize, config.hiddenSize, config));
  }
  /** x: (B, T, H) → (B, H); `drop`: a dropout on the result, in the same kernel. */
  forward(x: Tensor, drop: FusedDropout | null = null): Tensor {
    const [B, , H] = x.shape;
    if (x.rank !== 3) throw new ShapeError(`BertPooler: input has shape ${shapeStr(x.shape)}, expected (B, T, H)`);
    return denseAct(this.dense, reshape(slice(x, [0, 0, 0], [B, 1, H]), [B, H]), 'tanh', drop);
  }
}
