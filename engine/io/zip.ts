/**
 * A minimal zip reader and writer, enough for PyTorch archives: central directory (with ZIP64),
 * stored entries, deflated entries through a caller-supplied inflate, CRC-32 checks. Every offset
 * and size from the file is checked against the file before use.
 */
import { CheckpointError, ensure, fail } from './errors.ts';

/** One entry of the central directory, with the data offset resolved through its local header. */
export interface ZipEntry {
  name: string;
  method: number; // 0 stored, 8 deflated
  crc: number;
  compressedSize: number;
  size: number;
  dataOffset: number;
}

/** Decompresses raw deflate data to exactly `size` bytes (e.g. node:zlib's inflateRawSync). */
export type Inflate = (data: Uint8Array, size: number) => Uint8Array;

/** Options for reading entries. */
export interface ZipReadOptions {
  /** Needed only for deflated entries; torch.save stores everything uncompressed. */
  inflate?: Inflate;
  /** Verify CRC-32 (default true): cheap next to parsing, and it catches truncated downloads. */
  checkCrc?: boolean;
}

const SIG_EOCD = 0x06054b50, SIG_Z64_LOC = 0x07064b50, SIG_Z64_EOCD = 0x06064b50, SIG_CEN = 0x02014b50, SIG_LOC = 0x04034b50;

/** Reads and validates the central directory; entry names are unique. */
export function readZipDirectory(bytes: Uint8Array): Map<string, ZipEntry> {
  const len = bytes.length, dv = new DataView(bytes.buffer, bytes.byteOffset, len);
  const u16 = (o: number) => dv.getUint16(o, true), u32 = (o: number) => dv.getUint32(o, true);
  const u64 = (o: number) => u32(o) + u32(o + 4) * 2 ** 32;
  ensure(len >= 22, 'truncated', `zip: ${len} bytes is too short for an end-of-central-directory record`);
  let eocd = -1;
  for (let o = len - 22; o >= Math.max(0, len - 22 - 0xffff); o--) if (u32(o) === SIG_EOCD) { eocd = o; break; }
  ensure(eocd >= 0, 'truncated', 'zip: no end-of-central-directory record (truncated file?)');
  let count = u16(eocd + 10), cdSize = u32(eocd + 12), cdOffset = u32(eocd + 16);
  ensure(u16(eocd + 4) === 0 && u16(eocd + 6) === 0, 'unsupported-format', 'zip: multi-disk archives are not supported');
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    ensure(loc >= 0 && u32(loc) === SIG_Z64_LOC, 'bad-header', 'zip: ZIP64 sizes without a ZIP64 locator');
    const z = u64(loc + 8);
    ensure(z + 56 <= loc && u32(z) === SIG_Z64_EOCD, 'bad-header', `zip: ZIP64 end record offset ${z} is invalid`);
    count = u64(z + 32); cdSize = u64(z + 40); cdOffset = u64(z + 48);
  }
  ensure(cdOffset + cdSize <= len, 'out-of-bounds', `zip: central directory [${cdOffset}, +${cdSize}) outside the ${len}-byte file`);
  ensure(count * 46 <= cdSize, 'bad-header', `zip: ${count} entries cannot fit a ${cdSize}-byte central directory`);
  const entries = new Map<string, ZipEntry>();
  const dec = new TextDecoder('utf-8');
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    ensure(p + 46 <= cdOffset + cdSize && u32(p) === SIG_CEN, 'bad-header', `zip: central directory entry ${i} at ${p} is malformed`);
    const flags = u16(p + 8), method = u16(p + 10), crc = u32(p + 16);
    let csize = u32(p + 20), size = u32(p + 24), local = u32(p + 42);
    const nl = u16(p + 28), el = u16(p + 30), cl = u16(p + 32);
    const end = p + 46 + nl + el + cl;
    ensure(end <= cdOffset + cdSize, 'out-of-bounds', `zip: central directory entry ${i} runs past the directory`);
    const name = dec.decode(bytes.subarray(p + 46, p + 46 + nl));
    // ZIP64 extra: the 8-byte fields appear only for the values that overflowed, in this order.
    for (let e = p + 46 + nl; e + 4 <= p + 46 + nl + el;) {
      const id = u16(e), sz = u16(e + 2);
      ensure(e + 4 + sz <= p + 46 + nl + el, 'bad-header', `zip: '${name}' has a malformed extra field`);
      if (id === 1) {
        let q = e + 4;
        const next = () => { ensure(q + 8 <= e + 4 + sz, 'bad-header', `zip: '${name}' ZIP64 extra is too short`); const v = u64(q); q += 8; return v; };
        if (size === 0xffffffff) size = next();
        if (csize === 0xffffffff) csize = next();
        if (local === 0xffffffff) local = next();
      }
      e += 4 + sz;
    }
    ensure(!(flags & 1), 'unsupported-format', `zip: '${name}' is encrypted`);
    ensure(!entries.has(name), 'bad-header', `zip: two entries are named '${name}'`);
    ensure(local + 30 <= len && u32(local) === SIG_LOC, 'bad-header', `zip: '${name}' local header at ${local} is missing`);
    const dataOffset = local + 30 + u16(local + 26) + u16(local + 28);
    ensure(dataOffset + csize <= len, 'truncated', `zip: '${name}' data [${dataOffset}, +${csize}) runs past the ${len}-byte file`);
    entries.set(name, { name, method, crc, compressedSize: csize, size, dataOffset });
    p = end;
  }
  return entries;
}

/** Returns an entry's bytes: a view for stored entries (no copy), inflated bytes for deflated ones. */
export function readZipEntry(bytes: Uint8Array, e: ZipEntry, opts: ZipReadOptions = {}): Uint8Array {
  let out: Uint8Array;
  if (e.method === 0) {
    ensure(e.size === e.compressedSize, 'bad-header', `zip: stored entry '${e.name}' has size ${e.size} but ${e.compressedSize} stored bytes`);
    out = bytes.subarray(e.dataOffset, e.dataOffset + e.size);
  } else if (e.method === 8 && e.size === 0) {
    out = new Uint8Array(0); // nothing to inflate (and zlib refuses a zero output limit)
  } else if (e.method === 8) {
    if (!opts.inflate) fail('unsupported-compression', `zip: '${e.name}' is deflated; pass an inflate function (loadCheckpointFile does in Node)`);
    ensure(e.size <= 2 ** 31, 'too-large', `zip: '${e.name}' inflates to ${e.size} bytes`);
    try {
      out = opts.inflate(bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize), e.size);
    } catch (err) {
      if (err instanceof CheckpointError) throw err;
      throw new CheckpointError('bad-header', `zip: '${e.name}' does not inflate (${(err as Error).message})`);
    }
    ensure(out.length === e.size, 'bad-header', `zip: '${e.name}' inflated to ${out.length} bytes, expected ${e.size}`);
  } else {
    return fail('unsupported-compression', `zip: '${e.name}' uses compression method ${e.method}; only stored and deflate are supported`);
  }
  if (opts.checkCrc !== false) ensure(crc32(out) === e.crc, 'crc', `zip: '${e.name}' fails its CRC-32 check (corrupt or truncated file)`);
  return out;
}

let crcTable: Uint32Array | undefined;
/** CRC-32 (IEEE, as zip uses). */
export function crc32(b: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; crcTable[n] = c >>> 0; }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = t[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Writes a zip of stored entries. Each entry's data starts at a multiple of `align` bytes (padding
 * goes in the local header's extra field, as PyTorch's writer does, so readers can map tensors in place).
 */
export function writeZip(files: { name: string; data: Uint8Array }[], align = 64): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [], central: Uint8Array[] = [];
  let at = 0;
  for (const f of files) {
    const name = enc.encode(f.name), crc = crc32(f.data);
    const pad = (align - ((at + 30 + name.length + 4) % align)) % align;
    const extra = 4 + pad;
    const local = new Uint8Array(30 + name.length + extra), l = new DataView(local.buffer);
    l.setUint32(0, SIG_LOC, true); l.setUint16(4, 20, true); l.setUint32(14, crc, true);
    l.setUint32(18, f.data.length, true); l.setUint32(22, f.data.length, true);
    l.setUint16(26, name.length, true); l.setUint16(28, extra, true);
    local.set(name, 30);
    l.setUint16(30 + name.length, 0x4246, true); l.setUint16(32 + name.length, pad, true); // 'FB' padding field
    const cen = new Uint8Array(46 + name.length), c = new DataView(cen.buffer);
    c.setUint32(0, SIG_CEN, true); c.setUint16(4, 20, true); c.setUint16(6, 20, true); c.setUint32(16, crc, true);
    c.setUint32(20, f.data.length, true); c.setUint32(24, f.data.length, true); c.setUint16(28, name.length, true);
    c.setUint32(42, at, true);
    cen.set(name, 46);
    parts.push(local, f.data);
    central.push(cen);
    at += local.length + f.data.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  ensure(at + cdSize < 2 ** 32 && files.length < 0xffff, 'too-large', 'zip: archives beyond 4 GB or 65535 entries need ZIP64, which the writer does not emit');
  const eocd = new Uint8Array(22), e = new DataView(eocd.buffer);
  e.setUint32(0, SIG_EOCD, true); e.setUint16(8, files.length, true); e.setUint16(10, files.length, true);
  e.setUint32(12, cdSize, true); e.setUint32(16, at, true);
  const out = new Uint8Array(at + cdSize + 22);
  let o = 0;
  for (const b of [...parts, ...central, eocd]) { out.set(b, o); o += b.length; }
  return out;
}
