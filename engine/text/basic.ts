/**
 * BERT's basic tokenisation (BasicTokenizer in the original tokenization.py and in transformers):
 * drop control characters and U+FFFD, turn whitespace into spaces, put spaces around CJK ideographs,
 * NFC-normalise, split on whitespace, then per word optionally lower-case and strip accents (NFD,
 * drop combining marks), and split off every punctuation character as its own token.
 */

/** Options of `basicTokenize`. */
export interface BasicOptions {
  /** Lower-case words (uncased models). Default true. */
  lowercase?: boolean;
  /** Strip accents; default: the same as `lowercase` (transformers' behaviour). */
  stripAccents?: boolean;
  /** Put spaces around CJK ideographs so each is a word. Default true. */
  tokenizeChinese?: boolean;
}

const CONTROL = /\p{C}/u, ZS = /\p{Zs}/u, PUNCT = /\p{P}/u, MARK = /\p{Mn}/gu;

/** Space, tab, newline, carriage return, or a Unicode space separator. */
export function isWhitespace(c: string): boolean { return c === ' ' || c === '\t' || c === '\n' || c === '\r' || ZS.test(c); }

/** A control/format/unassigned character other than tab, newline, carriage return. */
export function isControl(c: string): boolean { return c !== '\t' && c !== '\n' && c !== '\r' && CONTROL.test(c); }

/** ASCII non-alphanumeric printable characters (so `$`, `^`, `~` count) or Unicode category P*. */
export function isPunctuation(c: string): boolean {
  const cp = c.codePointAt(0)!;
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) || PUNCT.test(c);
}

/** CJK Unified Ideographs and their extensions/compatibility blocks (not Hangul or kana, which use spaces). */
export function isCjk(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/** Splits text into words and punctuation, BERT style. */
export function basicTokenize(text: string, opts: BasicOptions = {}): string[] {
  const lower = opts.lowercase ?? true;
  const strip = opts.stripAccents ?? lower;
  const cjk = opts.tokenizeChinese ?? true;
  let clean = '';
  for (const c of text) {
    const cp = c.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || isControl(c)) continue;
    if (isWhitespace(c)) clean += ' ';
    else if (cjk && isCjk(cp)) clean += ` ${c} `;
    else clean += c;
  }
  const out: string[] = [];
  for (let word of clean.normalize('NFC').split(/\s+/u)) {
    if (!word) continue;
    if (lower) word = word.toLowerCase();
    if (strip) word = word.normalize('NFD').replace(MARK, '');
    let cur = '';
    for (const c of word) {
      if (isPunctuation(c)) {
        if (cur) out.push(cur);
        out.push(c);
        cur = '';
      } else cur += c;
    }
    if (cur) out.push(cur);
  }
  return out;
}
