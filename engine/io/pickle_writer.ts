/**
 * Emits protocol-2 pickle opcodes, just enough to write a state_dict the way torch.save does
 * (and, in tests, to hand-craft hostile pickles opcode by opcode).
 */

/** Appends pickle opcodes to a growing buffer; `bytes()` returns the result. */
export class PickleWriter {
  private buf = new Uint8Array(256);
  private n = 0;
  private enc = new TextEncoder();

  /** Raw bytes (an opcode and its arguments written by hand). */
  raw(...bytes: number[]): this { for (const b of bytes) this.put(b); return this; }
  /** PROTO n. */
  proto(p = 2): this { return this.raw(0x80, p); }
  mark(): this { return this.raw(0x28); }
  stop(): this { return this.raw(0x2e); }
  none(): this { return this.raw(0x4e); }
  bool(v: boolean): this { return this.raw(v ? 0x88 : 0x89); }
  emptyDict(): this { return this.raw(0x7d); }
  emptyList(): this { return this.raw(0x5d); }
  emptyTuple(): this { return this.raw(0x29); }
  tuple(): this { return this.raw(0x74); }
  reduce(): this { return this.raw(0x52); }
  build(): this { return this.raw(0x62); }
  setitems(): this { return this.raw(0x75); }
  appends(): this { return this.raw(0x65); }
  binpersid(): this { return this.raw(0x51); }

  /** An int with the shortest torch-compatible opcode (BININT1/2, BININT, else LONG1). */
  int(v: number | bigint): this {
    if (typeof v === 'number' && Number.isInteger(v)) {
      if (v >= 0 && v < 256) return this.raw(0x4b, v);
      if (v >= 0 && v < 65536) return this.raw(0x4d, v & 0xff, v >> 8);
      if (v >= -(2 ** 31) && v < 2 ** 31) return this.raw(0x4a, ...le(BigInt(v), 4));
    }
    let b = BigInt(v), len = 1;
    while (b >= 1n << BigInt(8 * len - 1) || b < -(1n << BigInt(8 * len - 1))) len++;
    return this.raw(0x8a, len, ...le(b, len));
  }
  /** BINFLOAT (big-endian double). */
  float(v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    return this.raw(0x47, ...b);
  }
  /** BINUNICODE. */
  str(s: string): this {
    const b = this.enc.encode(s);
    this.raw(0x58, ...le(BigInt(b.length), 4));
    return this.bytesRaw(b);
  }
  /** GLOBAL 'module\nname\n' (protocol 2 form). */
  global(module: string, name: string): this {
    this.raw(0x63);
    return this.bytesRaw(this.enc.encode(`${module}\n${name}\n`));
  }
  /** The pickle so far. */
  bytes(): Uint8Array { return this.buf.slice(0, this.n); }

  private bytesRaw(b: Uint8Array): this {
    this.grow(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
    return this;
  }
  private put(b: number): void { this.grow(1); this.buf[this.n++] = b; }
  private grow(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }
}

function le(v: bigint, len: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < len; i++) out.push(Number(BigInt.asUintN(8, v >> BigInt(8 * i))));
  return out;
}
