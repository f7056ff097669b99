/** BERT configuration: sizes and dropout, with Hugging Face `config.json` names mapped in. */
import { ThawError } from '../../engine/core/errors.ts';
import { type AttentionImpl } from '../../kernels/index.ts';

/** Activation of the intermediate (feed-forward) layer. */
export type BertActivation = 'gelu' | 'gelu_tanh' | 'relu';

/** BERT's sizes, dropout, activation and attention implementation (`bertConfig` fills defaults). */
export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  /** LayerNorm eps (BERT: 1e-12). */
  layerNormEps: number;
  /** Dropout after embeddings and each dense sub-layer, in training mode (BERT: 0.1). */
  hiddenDropout: number;
  /** Dropout on the attention weights, in training mode (BERT: 0.1). */
  attentionDropout: number;
  /** BERT's "gelu" is the erf form; "gelu_new" / "gelu_pytorch_tanh" are the tanh form. */
  activation: BertActivation;
  /** 'fused' (one kernel per pass), 'composed' (matmul + softmax + matmul) or 'auto' (default): fused
   * on hardware GPUs, composed on CPU-emulated adapters, where the fused kernels compile slowly. */
  attention: AttentionImpl | 'auto';
  /** Std of the normal init of Linear and Embedding weights (BERT: 0.02). */
  initializerRange: number;
  /** The padding token's id: its word-embedding row starts at zero and gets no gradient (Hugging Face's pad_token_id, 0; null: none). */
  padTokenId: number | null;
  /** Uniform [0, 1) source for the init (default Math.random; pass a seeded one to reproduce). */
  rng?: () => number;
  /** First dropout seed (u32); each dropout site advances its own seed per call. */
  seed?: number;
}

/** BERT-base-uncased's sizes. */
export const BERT_BASE: Omit<BertConfig, 'rng' | 'seed'> = {
  vocabSize: 30522, hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072, maxPositions: 512,
  typeVocabSize: 2, layerNormEps: 1e-12, hiddenDropout: 0.1, attentionDropout: 0.1, activation: 'gelu',
  attention: 'auto', initializerRange: 0.02, padTokenId: 0,
};

/** google/bert_uncased_L-2_H-128_A-2 ("BERT-tiny"). */
export const BERT_TINY: Omit<BertConfig, 'rng' | 'seed'> = { ...BERT_BASE, hiddenSize: 128, numLayers: 2, numHeads: 2, intermediateSize: 512 };

/** Fills a partial config from BERT-base's defaults and checks it. */
export function bertConfig(c: Partial<BertConfig> = {}): BertConfig {
  const cfg = { ...BERT_BASE, ...c };
  for (const k of ['vocabSize', 'hiddenSize', 'numLayers', 'numHeads', 'intermediateSize', 'maxPositions', 'typeVocabSize'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] < (k === 'numLayers' ? 0 : 1)) throw new ThawError('config', `BERT config: ${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (cfg.padTokenId !== null && !(Number.isInteger(cfg.padTokenId) && cfg.padTokenId >= 0 && cfg.padTokenId < cfg.vocabSize)) {
    throw new ThawError('config', `BERT config: padTokenId must be a token id below vocabSize ${cfg.vocabSize} (or null), got ${cfg.padTokenId}`);
  }
  if (cfg.hiddenSize % cfg.numHeads) throw new ThawError('config', `BERT config: hiddenSize ${cfg.hiddenSize} is not divisible by numHeads ${cfg.numHeads}`);
  for (const k of ['hiddenDropout', 'attentionDropout'] as const) {
    if (!(cfg[k] >= 0 && cfg[k] < 1)) throw new ThawError('config', `BERT config: ${k} must be in [0, 1), got ${cfg[k]}`);
  }
  return cfg;
}

const ACT: Record<string, BertActivation> = { gelu: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', relu: 'relu' };

/** Maps a Hugging Face BERT `config.json` object to a config (unknown fields are ignored). */
export function bertConfigFromHf(hf: Record<string, unknown>, overrides: Partial<BertConfig> = {}): BertConfig {
  const num = (k: string, d: number) => (typeof hf[k] === 'number' ? (hf[k] as number) : d);
  const act = String(hf.hidden_act ?? 'gelu');
  if (!(act in ACT)) throw new ThawError('config', `BERT config: hidden_act '${act}' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)`);
  return bertConfig({
    vocabSize: num('vocab_size', BERT_BASE.vocabSize), hiddenSize: num('hidden_size', BERT_BASE.hiddenSize),
    numLayers: num('num_hidden_layers', BERT_BASE.numLayers), numHeads: num('num_attention_heads', BERT_BASE.numHeads),
    intermediateSize: num('intermediate_size', BERT_BASE.intermediateSize), maxPositions: num('max_position_embeddings', BERT_BASE.maxPositions),
    typeVocabSize: num('type_vocab_size', BERT_BASE.typeVocabSize), layerNormEps: num('layer_norm_eps', BERT_BASE.layerNormEps),
    hiddenDropout: num('hidden_dropout_prob', 0.1), attentionDropout: num('attention_probs_dropout_prob', 0.1),
    initializerRange: num('initializer_range', 0.02), activation: ACT[act],
    padTokenId: hf.pad_token_id === null ? null : num('pad_token_id', 0),
    ...overrides,
  });
}
