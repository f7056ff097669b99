/** Loading the BERT fixtures (test/fixtures/make_bert_fixtures.py) and comparing against them. */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpointFile } from '../../engine/io/fs.ts';
import type { HostTensor } from '../../engine/io/types.ts';
import type { BertConfig } from '../../models/bert.ts';
import { assertClose } from '../helpers.ts';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'bert');

export interface BertFixture {
  weights: Map<string, HostTensor>;
  expected: Map<string, HostTensor>;
  config: Partial<BertConfig>;
  numLabels: number;
}

export async function loadBertFixture(): Promise<BertFixture> {
  const weights = (await loadCheckpointFile(join(FIXTURES, 'tiny.safetensors'))).tensors;
  const exp = await loadCheckpointFile(join(FIXTURES, 'expected.safetensors'));
  const c = JSON.parse(String(exp.metadata.config));
  return {
    weights, expected: exp.tensors, numLabels: c.labels,
    config: {
      vocabSize: c.vocab, hiddenSize: c.hidden, numLayers: c.layers, numHeads: c.heads, intermediateSize: c.intermediate,
      maxPositions: c.positions, typeVocabSize: c.types, layerNormEps: c.eps, seed: 5,
    },
  };
}

/** max |a - e| / max |e| over the tensor, the figure the report quotes. */
export function relErr(a: ArrayLike<number>, e: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < e.length; i++) { num = Math.max(num, Math.abs(a[i] - e[i])); den = Math.max(den, Math.abs(e[i])); }
  return num / den;
}

/**
 * Asserts |a - e| <= 1e-4 |e| + 1e-5 max|e| elementwise and returns relErr. A reference that is zero
 * up to float64 rounding (the key bias's gradient: softmax ignores a per-row constant) is checked
 * as |a| <= 1e-6 instead and returns 0.
 */
export function checkAgainst(a: ArrayLike<number>, e: ArrayLike<number>, what: string): number {
  let scale = 0;
  for (let i = 0; i < e.length; i++) scale = Math.max(scale, Math.abs(e[i]));
  if (scale < 1e-12) {
    assertClose(a, new Float64Array(e.length), 0, 1e-6, `${what} (zero in exact arithmetic)`);
    return 0;
  }
  assertClose(a, e, 1e-4, 1e-5 * scale, what);
  return relErr(a, e);
}
