import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WordPiece, basicTokenize } from '../../engine/text/index.ts';
import { ThawError } from '../../engine/core/errors.ts';
import { FIXTURES } from './bert_helpers.ts';

const vocabText = readFileSync(join(FIXTURES, 'vocab.txt'), 'utf8');
const uncased = WordPiece.fromVocabText(vocabText);
const cased = WordPiece.fromVocabText(vocabText, { lowercase: false });

interface Case {
  text: string; pair?: string; lower?: boolean; max_length?: number; pad?: boolean;
  tokens: string[]; input_ids: number[]; attention_mask: number[]; token_type_ids: number[];
}
const cases: Case[] = JSON.parse(readFileSync(join(FIXTURES, 'tokenizer.json'), 'utf8'));

// Expected encodings from the Python re-statement of BERT's tokenizer in make_bert_fixtures.py.
cases.forEach((c, n) => {
  test(`WordPiece case ${n} ${JSON.stringify(c.text).slice(0, 40)}${c.pair ? ` + ${JSON.stringify(c.pair)}` : ''} matches the Python reference`, () => {
    const tok = c.lower === false ? cased : uncased;
    const e = tok.encode(c.text, c.pair, { maxLength: c.max_length, padding: c.pad ? 'max_length' : 'none' });
    assert.equal(e.tokens, c.tokens);
    assert.equal(e.inputIds, c.input_ids);
    assert.equal(e.attentionMask, c.attention_mask);
    assert.equal(e.tokenTypeIds, c.token_type_ids);
  });
});

test('WordPiece: expectations written by hand (greedy longest match, ##, [UNK], accents, CJK, punctuation)', () => {
  assert.equal(uncased.tokenize('Unbelievably GOOD'), ['un', '##believ', '##ably', 'good']);
  // 'unbelievable': un + ##believ + ##able ('##ably' does not match 'able').
  assert.equal(uncased.tokenize('unbelievable'), ['un', '##believ', '##able']);
  // 'running': run + (##ning? ##nin? ... ##n? none) -> the whole word is [UNK], not 'run' + [UNK].
  assert.equal(uncased.tokenize('running runner'), ['[UNK]', 'run', '##ner']);
  assert.equal(uncased.tokenize('Naïve CAFÉ'), ['naive', 'cafe']);
  assert.equal(uncased.tokenize('好世'), ['好', '世']);
  assert.equal(uncased.tokenize("don't!"), ['don', "'", 't', '!']);
  // Cased: no lower-casing, no accent stripping.
  assert.equal(cased.tokenize('Hello hello HELLO é'), ['Hello', 'hello', '[UNK]', 'é']);
  const e = uncased.encode('i love it', 'bad');
  assert.equal(e.tokens, ['[CLS]', 'i', 'love', 'it', '[SEP]', 'bad', '[SEP]']);
  assert.equal(e.tokenTypeIds, [0, 0, 0, 0, 0, 1, 1]);
  assert.equal(e.inputIds, [2, 24, 25, 27, 3, 21, 3]);
});

test('basicTokenize: control characters dropped, whitespace normalised, CJK spaced', () => {
  assert.equal(basicTokenize('a\u0000b\u200bc\tD\u3000e\ufffd'), ['abc', 'd', 'e']);
  assert.equal(basicTokenize('x世y', { tokenizeChinese: false }), ['x世y']);
  assert.equal(basicTokenize('$5.00~', {}), ['$', '5', '.', '00', '~']);
});

test('WordPiece.encodeBatch pads to the longest row (or maxLength) with masks and token types', () => {
  const b = uncased.encodeBatch(['great movie', ['it was bad', 'i hate it']]);
  assert.equal(b.shape, [2, 9]);
  assert.equal(Array.from(b.inputIds.subarray(0, 9)), [2, 19, 15, 3, 0, 0, 0, 0, 0]);
  assert.equal(Array.from(b.attentionMask.subarray(0, 9)), [1, 1, 1, 1, 0, 0, 0, 0, 0]);
  assert.equal(Array.from(b.tokenTypeIds.subarray(9)), [0, 0, 0, 0, 0, 1, 1, 1, 1]);
  const m = uncased.encodeBatch(['the the the the the', 'a'], { maxLength: 5, padding: 'max_length' });
  assert.equal(m.shape, [2, 5]);
  assert.equal(Array.from(m.inputIds), [2, 13, 13, 13, 3, 2, 14, 3, 0, 0]);
  assert.is(uncased.decode(uncased.encode('unbelievably good film.').inputIds), 'unbelievably good film .');
  assert.is(uncased.decode([2, 31, 3], true), '[CLS] un [SEP]');
});

test('WordPiece errors: missing special tokens, no room for specials', () => {
  assert.throws(() => new WordPiece(['[PAD]', 'a']), (e: unknown) => e instanceof ThawError && /unk token '\[UNK\]'/.test((e as Error).message));
  assert.throws(() => uncased.encode('a', 'b', { maxLength: 2 }), (e: unknown) => e instanceof ThawError && /maxLength/.test((e as Error).message));
});

test.run();
