/**
 * BERT encoders with Hugging Face parameter names (`embeddings.word_embeddings.weight`,
 * `encoder.layer.N.attention.self.query.weight`, `pooler.dense.weight`, ...), so transformers'
 * checkpoints load by key (see bert/load.ts for the `bert.` prefix and legacy names), and
 * `BertForSequenceClassification` (`bert.*` + `classifier.*`) for fine-tuning. Tokenisation:
 * engine/text/wordpiece.ts. Attention runs fused or composed (config `attention`).
 */
import { Module } from '../engine/nn/module.ts';
import type { Tensor } from '../engine/core/tensor.ts';
import { shapeStr, sameShape } from '../engine/core/tensor.ts';
import { tensor } from '../engine/core/factory.ts';
import { ShapeError } from '../engine/core/errors.ts';
import type { Grouped } from '../engine/train/freeze.ts';
import { Dropout, type Linear } from '../engine/nn/index.ts';
import { drawSeed } from '../engine/nn/roles.ts';
import type { FusedDropout } from '../kernels/index.ts';
import { bertConfig, type BertConfig } from './bert/config.ts';
import { BertEmbeddings, BertEncoder, BertPooler, bertLinear } from './bert/layers.ts';

export { bertConfig, bertConfigFromHf, BERT_BASE, BERT_TINY, type BertConfig, type BertActivation } from './bert/config.ts';
export { loadBertWeights, STRIP_BERT_PREFIX, ADD_BERT_PREFIX, LEGACY_NORM_RULES } from './bert/load.ts';
export * from './bert/layers.ts';

/** The encoder's outputs. */
export interface BertEncoderOutput {
  /** (B, T, H). */
  lastHiddenState: Tensor;
  /** tanh(dense(first token)): (B, H). */
  pooledOutput: Tensor;
}

function checkInputs(ids: Tensor, mask: Tensor | null, types: Tensor | null): void {
  if (ids.dtype !== 'i32' || ids.rank !== 2) throw new ShapeError(`BERT: 'inputIds' has ${ids.dtype} shape ${shapeStr(ids.shape)}, expected i32 (B, T)`);
  if (mask && (mask.dtype !== 'f32' || !sameShape(mask.shape, ids.shape))) {
    throw new ShapeError(`BERT: 'attentionMask' has ${mask.dtype} shape ${shapeStr(mask.shape)}, expected f32 ${shapeStr(ids.shape)} (1 = token, 0 = padding)`);
  }
  if (types && (types.dtype !== 'i32' || !sameShape(types.shape, ids.shape))) {
    throw new ShapeError(`BERT: 'tokenTypeIds' has ${types.dtype} shape ${shapeStr(types.shape)}, expected i32 ${shapeStr(ids.shape)}`);
  }
}

/** The BERT encoder (transformers' BertModel): embeddings, N layers, pooler. */
export class BertModel extends Module implements Grouped {
  readonly config: BertConfig;
  readonly embeddings: BertEmbeddings;
  readonly encoder: BertEncoder;
  readonly pooler: BertPooler;
  constructor(config: Partial<BertConfig> = {}) {
    super();
    this.config = bertConfig(config);
    this.embeddings = this.child('embeddings', new BertEmbeddings(this.config));
    this.encoder = this.child('encoder', new BertEncoder(this.config));
    this.pooler = this.child('pooler', new BertPooler(this.config));
  }

  /**
   * inputIds: i32 (B, T); attentionMask: f32 (B, T), 1 = token, 0 = padding (default: all tokens);
   * tokenTypeIds: i32 (B, T) (default: all segment 0). `pooledDropout`: a dropout on the pooled
   * output, run in the pooler's kernel (BertForSequenceClassification's).
   */
  forward(inputIds: Tensor, attentionMask: Tensor | null = null, tokenTypeIds: Tensor | null = null, pooledDropout: FusedDropout | null = null): BertEncoderOutput {
    checkInputs(inputIds, attentionMask, tokenTypeIds);
    const h = this.encoder.forward(this.embeddings.forward(inputIds, tokenTypeIds), attentionMask);
    return { lastHiddenState: h, pooledOutput: this.pooler.forward(h, pooledDropout) };
  }

  /** [embeddings], [layer 0], ..., [layer N-1], [pooler]: depth-based freezing goes input side first. */
  layerGroups(): string[][] {
    return [['embeddings'], ...this.encoder.layer.layers.map((_, i) => [`encoder.layer.${i}`]), ['pooler']];
  }
}

/** transformers' BertForSequenceClassification: `bert` encoder, dropout, `classifier` Linear on the pooled output. */
export class BertForSequenceClassification extends Module implements Grouped {
  readonly bert: BertModel;
  readonly dropout: Dropout;
  readonly classifier: Linear;
  constructor(config: Partial<BertConfig> = {}, readonly numLabels = 2) {
    super();
    this.bert = this.child('bert', new BertModel(config));
    const c = this.bert.config;
    this.dropout = this.child('dropout', new Dropout(c.hiddenDropout, c.seed === undefined ? undefined : c.seed + 13));
    this.classifier = this.child('classifier', bertLinear(c.hiddenSize, numLabels, c));
  }

  /** Logits (B, numLabels) for inputs as BertModel.forward. The dropout runs in the pooler's kernel. */
  forward(inputIds: Tensor, attentionMask: Tensor | null = null, tokenTypeIds: Tensor | null = null): Tensor {
    const d = this.dropout;
    const drop = d.training && d.p > 0 ? { p: d.p, seed: drawSeed(d) } : null;
    return this.classifier.forward(this.bert.forward(inputIds, attentionMask, tokenTypeIds, drop).pooledOutput);
  }

  /** [embeddings], [layer 0], ..., [layer N-1], [pooler + classifier]: `freezeTo(model, k)` freezes the embeddings and the first k-1 layers. */
  layerGroups(): string[][] {
    const g = this.bert.layerGroups().map((x) => x.map((p) => `bert.${p}`));
    g[g.length - 1].push('classifier');
    return g;
  }
}

/** Host-side encoded inputs (e.g. from WordPiece.encodeBatch): row-major (B, T) arrays. */
export interface EncodedBatch {
  inputIds: ArrayLike<number>;
  attentionMask: ArrayLike<number>;
  tokenTypeIds: ArrayLike<number>;
  shape: [number, number];
}

/** Uploads an encoded batch as the tensors BERT takes: ids i32, mask f32, token types i32, all (B, T). */
export function bertInputs(e: EncodedBatch): { inputIds: Tensor; attentionMask: Tensor; tokenTypeIds: Tensor } {
  return {
    inputIds: tensor(Int32Array.from(e.inputIds), e.shape, 'i32'),
    attentionMask: tensor(Float32Array.from(e.attentionMask), e.shape, 'f32'),
    tokenTypeIds: tensor(Int32Array.from(e.tokenTypeIds), e.shape, 'i32'),
  };
}
