/**
 * A WordPiece tokenizer for BERT vocabularies (`vocab.txt`: one token per line, the line number is
 * the id): basic tokenisation (basic.ts), then greedy longest-match-first sub-words with the `##`
 * continuation prefix; a word with no full segmentation (or over 100 characters) becomes `[UNK]`.
 * Special tokens written in the text (`[MASK]`) stay whole. `encode` adds `[CLS]`/`[SEP]`, builds
 * token type ids for sentence pairs, truncates longest-first to `maxLength` and pads with `[PAD]`,
 * as transformers' BertTokenizer does with `truncation=True, padding='max_length'`.
 */
import { ThawError } from '../core/errors.ts';
import { basicTokenize, type BasicOptions } from './basic.ts';

/** Options of the tokenizer. */
export interface WordPieceOptions extends BasicOptions {
  unkToken?: string;
  clsToken?: string;
  sepToken?: string;
  padToken?: string;
  maskToken?: string;
  /** Longer words become the unknown token (BERT: 100). */
  maxCharsPerWord?: number;
}

/** Options of `encode` / `encodeBatch`. */
export interface EncodeOptions {
  /** Truncate (longest first across a pair) so the result, specials included, fits. */
  maxLength?: number;
  /** 'max_length' pads to maxLength; 'longest' (batches) to the longest row; 'none' (default for `encode`). */
  padding?: 'none' | 'max_length' | 'longest';
}

/** One encoded sequence (or pair). */
export interface Encoding {
  tokens: string[];
  inputIds: number[];
  /** 1 for tokens, 0 for padding. */
  attentionMask: number[];
  /** 0 for the first segment (with [CLS] and its [SEP]), 1 for the second. */
  tokenTypeIds: number[];
}

/** A padded batch, row-major (B, T): what `bertInputs` uploads. */
export interface EncodedBatch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds: Int32Array;
  shape: [number, number];
}

/** BERT's WordPiece tokenizer over a vocabulary (vocab.txt): text → token ids, padded batches. */
export class WordPiece {
  readonly vocab = new Map<string, number>();
  readonly tokens: string[];
  readonly special: { unk: string; cls: string; sep: string; pad: string; mask: string };
  private readonly opts: WordPieceOptions;

  /** `tokens[i]` is the token of id i (duplicates keep their first id). */
  constructor(tokens: string[], opts: WordPieceOptions = {}) {
    this.tokens = tokens;
    tokens.forEach((t, i) => { if (!this.vocab.has(t)) this.vocab.set(t, i); });
    this.opts = opts;
    this.special = {
      unk: opts.unkToken ?? '[UNK]', cls: opts.clsToken ?? '[CLS]', sep: opts.sepToken ?? '[SEP]',
      pad: opts.padToken ?? '[PAD]', mask: opts.maskToken ?? '[MASK]',
    };
    for (const [k, t] of Object.entries(this.special)) {
      if (!this.vocab.has(t)) throw new ThawError('vocab', `WordPiece: the vocabulary has no ${k} token '${t}'`);
    }
  }

  /** Parses a vocab.txt (one token per line; a trailing newline is fine). */
  static fromVocabText(text: string, opts: WordPieceOptions = {}): WordPiece {
    const lines = text.split(/\r?\n/);
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    return new WordPiece(lines, opts);
  }

  /** The id of a token ([UNK]'s for unknown tokens). */
  id(token: string): number { return this.vocab.get(token) ?? this.vocab.get(this.special.unk)!; }

  /** Greedy longest-match-first split of one basic token into vocabulary pieces. */
  wordPieces(word: string): string[] {
    const chars = Array.from(word); // code points, not UTF-16 units
    if (chars.length > (this.opts.maxCharsPerWord ?? 100)) return [this.special.unk];
    const out: string[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length, found: string | null = null;
      while (start < end) {
        const piece = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
        if (this.vocab.has(piece)) { found = piece; break; }
        end--;
      }
      if (found === null) return [this.special.unk];
      out.push(found);
      start = end;
    }
    return out;
  }

  /** Text to tokens: special tokens kept whole, the rest basic-tokenised and split into word pieces. */
  tokenize(text: string): string[] {
    const specials = Object.values(this.special);
    const out: string[] = [];
    let rest = text;
    while (rest) {
      let at = -1, hit = '';
      for (const s of specials) {
        const i = rest.indexOf(s);
        if (i >= 0 && (at < 0 || i < at || (i === at && s < hit))) { at = i; hit = s; }
      }
      const chunk = at < 0 ? rest : rest.slice(0, at);
      for (const w of basicTokenize(chunk, this.opts)) out.push(...this.wordPieces(w));
      if (at < 0) break;
      out.push(hit);
      rest = rest.slice(at + hit.length);
    }
    return out;
  }

  /** `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, truncated and padded per `opts`. */
  encode(text: string, pair?: string | null, opts: EncodeOptions = {}): Encoding {
    let a = this.tokenize(text);
    let b = pair == null ? null : this.tokenize(pair);
    const { maxLength } = opts;
    if (maxLength !== undefined) {
      const budget = maxLength - (b ? 3 : 2);
      if (!Number.isInteger(maxLength) || budget < 0) throw new ThawError('argument', `encode: maxLength ${maxLength} leaves no room for the special tokens`);
      // Longest first: drop the last token of the longer segment (the second on ties) until it fits.
      while (a.length + (b?.length ?? 0) > budget) {
        if (!b || a.length > b.length) a = a.slice(0, -1);
        else b = b.slice(0, -1);
      }
    }
    const { cls, sep, pad } = this.special;
    const tokens = [cls, ...a, sep, ...(b ? [...b, sep] : [])];
    const tokenTypeIds = tokens.map((_, i) => (i < a.length + 2 ? 0 : 1));
    const e: Encoding = { tokens, inputIds: tokens.map((t) => this.id(t)), attentionMask: tokens.map(() => 1), tokenTypeIds };
    if (opts.padding === 'max_length') {
      if (maxLength === undefined) throw new ThawError('argument', "encode: padding 'max_length' needs maxLength");
      this.padTo(e, maxLength);
    }
    return e;
  }

  private padTo(e: Encoding, n: number): void {
    const padId = this.id(this.special.pad);
    while (e.inputIds.length < n) {
      e.tokens.push(this.special.pad);
      e.inputIds.push(padId);
      e.attentionMask.push(0);
      e.tokenTypeIds.push(0);
    }
  }

  /** Encodes texts (or [text, pair] tuples) into one padded batch ('longest' padding unless told). */
  encodeBatch(items: readonly (string | readonly [string, string])[], opts: EncodeOptions = {}): EncodedBatch {
    const encs = items.map((it) => (typeof it === 'string' ? this.encode(it, null, { maxLength: opts.maxLength }) : this.encode(it[0], it[1], { maxLength: opts.maxLength })));
    const padding = opts.padding ?? 'longest';
    const T = padding === 'max_length' && opts.maxLength !== undefined ? opts.maxLength : Math.max(0, ...encs.map((e) => e.inputIds.length));
    const B = encs.length;
    const out: EncodedBatch = { inputIds: new Int32Array(B * T), attentionMask: new Int32Array(B * T), tokenTypeIds: new Int32Array(B * T), shape: [B, T] };
    encs.forEach((e, r) => {
      this.padTo(e, T);
      out.inputIds.set(e.inputIds, r * T);
      out.attentionMask.set(e.attentionMask, r * T);
      out.tokenTypeIds.set(e.tokenTypeIds, r * T);
    });
    return out;
  }

  /** Ids back to text: `##` pieces joined to the previous token; special tokens dropped unless `keepSpecial`. */
  decode(ids: ArrayLike<number>, keepSpecial = false): string {
    const specials = new Set(Object.values(this.special));
    let s = '';
    for (const id of Array.from(ids)) {
      const t = this.tokens[id] ?? this.special.unk;
      if (!keepSpecial && specials.has(t) && t !== this.special.unk) continue;
      s += t.startsWith('##') ? t.slice(2) : (s ? ' ' : '') + t;
    }
    return s;
  }
}
