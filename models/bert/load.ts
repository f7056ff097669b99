/**
 * The checkpoint adapter for BERT: key renames between the layouts BERT weights come in and thaw's
 * (which is transformers' own). Linear weights are (out, in) on both sides, so no transposes.
 * - `bert.`-prefixed keys (BertForSequenceClassification, BertForPreTraining) vs bare ones (BertModel);
 * - `LayerNorm.gamma` / `LayerNorm.beta` of checkpoints converted from the original TensorFlow code.
 * `embeddings.position_ids` (a buffer of 0..P-1 in older checkpoints) is dropped: positions are implicit.
 */
import type { Module } from '../../engine/nn/module.ts';
import type { HostTensor } from '../../engine/io/types.ts';
import { loadStateDict, type LoadOptions, type LoadReport, type RemapRule } from '../../engine/train/load.ts';

/** Renames of TF-converted LayerNorm parameters. */
export const LEGACY_NORM_RULES: RemapRule[] = [{ from: /\.gamma$/, to: '.weight' }, { from: /\.beta$/, to: '.bias' }];

/** Rules loading `bert.*` keys into a bare BertModel (the prefix is stripped; heads stay unexpected). */
export const STRIP_BERT_PREFIX: RemapRule[] = [...LEGACY_NORM_RULES, { from: /^bert\./, to: '' }];

/** Rules loading bare BertModel keys into a model that holds the encoder under `bert.`. */
export const ADD_BERT_PREFIX: RemapRule[] = [...LEGACY_NORM_RULES, { from: /^(embeddings|encoder|pooler)\./, to: 'bert.$1.' }];

/**
 * Loads BERT weights with or without the `bert.` prefix into `model` (a BertModel, whose keys are
 * bare, or a model with `bert.*` keys such as BertForSequenceClassification), picking the rename
 * rules from the model's own keys. `opts.remap` rules run after these. Returns the load report:
 * a classification head missing from a pre-training checkpoint is listed under `missing`.
 */
export function loadBertWeights(model: Module, tensors: Map<string, HostTensor>, opts: LoadOptions = {}): LoadReport {
  const prefixed = [...model.stateDict().keys()].some((k) => k.startsWith('bert.'));
  const rules = prefixed ? ADD_BERT_PREFIX : STRIP_BERT_PREFIX;
  const kept = new Map([...tensors].filter(([k]) => !k.endsWith('embeddings.position_ids')));
  return loadStateDict(model, kept, { ...opts, remap: [...rules, ...(opts.remap ?? [])] });
}
