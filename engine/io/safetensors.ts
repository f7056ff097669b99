/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then the data
 * buffer that the offsets index (relative to its start). Everything the header declares is checked
 * against the file before any tensor is allocated.
 */
import { CheckpointError, ensure, fail } from './errors.ts';
import { ITEMSIZE, brief, checkShape, decodeRun, allocHost, encodeHost, setOwn, withHalf } from './dtype.ts';
import type { Checkpoint, DType, HostTensor } from './types.ts';

/** safetensors dtype names ↔ ours. */
const FROM_ST: Record<string, DType> = {
  F32: 'f32', F16: 'f16', BF16: 'bf16', F64: 'f64', I64: 'i64', I32: 'i32', I16: 'i16', I8: 'i8', U8: 'u8', BOOL: 'bool',
};
const TO_ST = Object.fromEntries(Object.entries(FROM_ST).map(([k, v]) => [v, k])) as Record<DType, string>;

/** Headers larger than this are refused; the reference implementation uses the same 100 MB bound. */
export const MAX_HEADER_BYTES = 100_000_000;

interface Entry { name: string; dtype: DType; shape: number[]; numel: number; begin: number; end: number }

/** Parses a safetensors file. Keys are as in the file; `__metadata__` becomes `metadata`. */
export function parseSafetensors(bytes: Uint8Array): Checkpoint {
  ensure(bytes.length >= 8, 'truncated', `safetensors: ${bytes.length} bytes, the header length alone needs 8`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
  ensure(n <= MAX_HEADER_BYTES, 'too-large', `safetensors: header length ${n} is beyond ${MAX_HEADER_BYTES} bytes`);
  ensure(8 + n <= bytes.length, 'truncated', `safetensors: header length ${n} runs past the end of the ${bytes.length}-byte file`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new CheckpointError('bad-json', `safetensors: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  ensure(header !== null && typeof header === 'object' && !Array.isArray(header), 'bad-header', 'safetensors: header must be a JSON object');
  const dataStart = 8 + n, dataLen = bytes.length - dataStart;
  const metadata: Record<string, unknown> = {};
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      ensure(v !== null && typeof v === 'object' && !Array.isArray(v), 'bad-header', 'safetensors: __metadata__ must be an object of strings');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        ensure(typeof s === 'string', 'bad-header', `safetensors: __metadata__.${k} must be a string, got ${brief(s)}`);
        setOwn(metadata, k, s);
      }
      continue;
    }
    entries.push(checkEntry(name, v, dataLen));
  }
  // Sorting by begin makes the overlap check linear; zero-length tensors may sit anywhere.
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1], b = sorted[i];
    if (b.begin < a.end) fail('overlap', `safetensors: '${a.name}' [${a.begin}, ${a.end}) and '${b.name}' [${b.begin}, ${b.end}) overlap`);
  }
  const tensors = new Map<string, HostTensor>();
  for (const e of entries) {
    const data = allocHost(e.dtype, e.numel);
    decodeRun(bytes, dataStart + e.begin, e.numel, e.dtype, true, data, 0, e.name);
    tensors.set(e.name, withHalf({ dtype: e.dtype, shape: e.shape, data }, () => {
      const raw = allocHost('i16', e.numel);
      decodeRun(bytes, dataStart + e.begin, e.numel, 'i16', true, raw, 0, e.name);
      return raw;
    }));
  }
  return { format: 'safetensors', tensors, metadata };
}

function checkEntry(name: string, v: unknown, dataLen: number): Entry {
  ensure(v !== null && typeof v === 'object' && !Array.isArray(v), 'bad-header', `safetensors: entry '${name}' must be an object`);
  const { dtype, shape, data_offsets: off } = v as Record<string, unknown>;
  ensure(typeof dtype === 'string', 'bad-header', `safetensors: '${name}' has no dtype string`);
  const dt = Object.hasOwn(FROM_ST, dtype) ? FROM_ST[dtype] : fail('unsupported-dtype', `safetensors: '${name}' has dtype ${brief(dtype)}; thaw reads ${Object.keys(FROM_ST).join(', ')}`);
  const numel = checkShape(shape, `safetensors '${name}'`);
  ensure(Array.isArray(off) && off.length === 2 && off.every((x) => Number.isSafeInteger(x) && x >= 0), 'bad-header', `safetensors: '${name}' data_offsets must be two non-negative integers, got ${brief(off)}`);
  const [begin, end] = off as number[];
  ensure(begin <= end && end <= dataLen, 'out-of-bounds', `safetensors: '${name}' data_offsets [${begin}, ${end}] outside the ${dataLen}-byte data buffer`);
  ensure(end - begin === numel * ITEMSIZE[dt], 'bad-header', `safetensors: '${name}' is ${dtype} ${brief(shape)} = ${numel * ITEMSIZE[dt]} bytes, but data_offsets span ${end - begin}`);
  return { name, dtype: dt, shape: (shape as number[]).slice(), numel, begin, end };
}

/**
 * Writes tensors (in map order, each in its own dtype) as safetensors. The header is padded with
 * spaces to a multiple of 8 bytes so every tensor starts 8-byte aligned, as the reference writer does.
 */
export function writeSafetensors(tensors: Map<string, HostTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let at = 0;
  for (const [name, t] of tensors) {
    ensure(name !== '__metadata__', 'bad-header', 'safetensors: a tensor cannot be named __metadata__');
    const b = encodeHost(t, name);
    setOwn(header, name, { dtype: TO_ST[t.dtype], shape: t.shape, data_offsets: [at, at + b.length] });
    blobs.push(b);
    at += b.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + at);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  let o = 8 + json.length;
  for (const b of blobs) { out.set(b, o); o += b.length; }
  return out;
}
