/**
 * TF.js models shipped as UMD JavaScript (nsfwjs's `model.min.js`, `group1-shard1of1.min.js`): a
 * browserify bundle whose module sets `<m>.exports = <literal>`, the model as an object literal and
 * a shard as one base64 string. We never evaluate the JavaScript: a small parser reads just that
 * literal (objects, arrays, strings, numbers, !0/!1, null, void 0).
 */
import { CheckpointError, ensure, fail } from './errors.ts';

/** What a UMD file exports: the model.json object, or a shard's bytes. */
export type UmdExport = { kind: 'model'; model: Record<string, unknown> } | { kind: 'shard'; bytes: Uint8Array };

const MAX_DEPTH = 256;

/** Finds the literal a UMD/browserify bundle exports and returns it as a model object or shard bytes. */
export function extractUmdTfjsModel(jsText: string): UmdExport {
  ensure(typeof jsText === 'string', 'bad-header', 'umd: expected the JavaScript text');
  const re = /[A-Za-z_$][\w$]*\.exports\s*=\s*(?=[{["'])/g;
  let lastError: unknown;
  for (let m = re.exec(jsText); m; m = re.exec(jsText)) {
    let value: unknown;
    try {
      value = new LiteralParser(jsText, re.lastIndex).value();
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      lastError = e;
      continue;
    }
    if (typeof value === 'string') return { kind: 'shard', bytes: base64Decode(value) };
    if (value && typeof value === 'object' && !Array.isArray(value) && ('weightsManifest' in value || 'modelTopology' in value)) {
      return { kind: 'model', model: value as Record<string, unknown> };
    }
  }
  if (lastError) throw lastError;
  return fail('bad-header', 'umd: no `exports = <model object or base64 string>` found in the JavaScript');
}

/** A recursive-descent parser for JSON-like JavaScript literals (never evaluates anything). */
class LiteralParser {
  constructor(private s: string, private i: number) {}

  value(depth = 0): unknown {
    if (depth > MAX_DEPTH) fail('too-deep', `umd: literal nests deeper than ${MAX_DEPTH}`);
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"' || c === "'") return this.string();
    if (this.s.startsWith('!0', this.i)) { this.i += 2; return true; }
    if (this.s.startsWith('!1', this.i)) { this.i += 2; return false; }
    if (this.s.startsWith('void 0', this.i)) { this.i += 6; return null; }
    const num = /[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
    num.lastIndex = this.i;
    const m = num.exec(this.s);
    if (m) { this.i += m[0].length; return Number(m[0]); }
    const word = /(?:-?Infinity|NaN|null|true|false)\b/y;
    word.lastIndex = this.i;
    const w = word.exec(this.s);
    if (w) { this.i += w[0].length; return ({ Infinity, '-Infinity': -Infinity, NaN, null: null, true: true, false: false } as Record<string, unknown>)[w[0]]; }
    return this.bad('a value');
  }

  private object(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.i++;
    for (;;) {
      this.ws();
      if (this.eat('}')) return out;
      let key: string;
      const c = this.s[this.i];
      if (c === '"' || c === "'") key = this.string();
      else {
        const id = /[A-Za-z_$][\w$]*|\d+/y;
        id.lastIndex = this.i;
        const m = id.exec(this.s) ?? this.bad('a key');
        key = m[0];
        this.i += key.length;
      }
      this.ws();
      if (!this.eat(':')) this.bad("':'");
      // defineProperty, not assignment: a key named __proto__ must stay an ordinary property.
      Object.defineProperty(out, key, { value: this.value(depth + 1), enumerable: true, writable: true, configurable: true });
      this.ws();
      if (!this.eat(',') && this.s[this.i] !== '}') this.bad("',' or '}'");
    }
  }

  private array(depth: number): unknown[] {
    const out: unknown[] = [];
    this.i++;
    for (;;) {
      this.ws();
      if (this.eat(']')) return out;
      out.push(this.value(depth + 1));
      this.ws();
      if (!this.eat(',') && this.s[this.i] !== ']') this.bad("',' or ']'");
    }
  }

  private string(): string {
    const q = this.s[this.i++];
    let out = '', start = this.i;
    for (;;) {
      if (this.i >= this.s.length) this.bad('the end of a string');
      const c = this.s[this.i];
      if (c === q) { out += this.s.slice(start, this.i++); return out; }
      if (c === '\n') this.bad('the end of a string');
      if (c !== '\\') { this.i++; continue; }
      out += this.s.slice(start, this.i);
      const e = this.s[this.i + 1];
      this.i += 2;
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', '0': '\0' };
      if (e === 'u' || e === 'x') {
        const len = e === 'u' ? 4 : 2, hex = this.s.slice(this.i, this.i + len);
        if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) this.bad('a hex escape');
        out += String.fromCharCode(parseInt(hex, 16));
        this.i += len;
      } else if (e !== undefined && Object.hasOwn(simple, e)) out += simple[e];
      else if (e !== undefined && e !== '\n') out += e;
      start = this.i;
    }
  }

  private ws(): void { while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++; }
  private eat(c: string): boolean { if (this.s[this.i] === c) { this.i++; return true; } return false; }
  private bad(what: string): never {
    throw new CheckpointError('bad-json', `umd: expected ${what} at character ${this.i} (${JSON.stringify(this.s.slice(this.i, this.i + 20))})`);
  }
}

const B64 = new Int16Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => { B64[c.charCodeAt(0)] = i; });

/** Strict base64 (standard alphabet, optional '=' padding); anything else is refused. */
export function base64Decode(s: string): Uint8Array {
  const t = s.replace(/=+$/, '');
  ensure(t.length % 4 !== 1 && s.length - t.length <= 2, 'bad-json', 'umd: shard string is not valid base64 (length)');
  const out = new Uint8Array(Math.floor((t.length * 3) / 4));
  let acc = 0, bits = 0, o = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i), v = c < 128 ? B64[c] : -1;
    if (v < 0) fail('bad-json', `umd: shard string has a non-base64 character at ${i}`);
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) { bits -= 8; out[o++] = (acc >> bits) & 0xff; }
  }
  return out;
}
