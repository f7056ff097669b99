/**
 * Element types: sizes, decoding stored bytes into HostTensor arrays (with strided gathers) and
 * encoding HostTensors back into stored bytes. Every size here is checked before it allocates.
 */
import { ensure, fail } from './errors.ts';
import type { DType, HostTensor } from './types.ts';
import { f16ToF32, f32ToF16, bf16ToHalfBits } from '../core/half.ts';

export { f16ToF32, f32ToF16 };

/** Bytes per stored element. */
export const ITEMSIZE: Record<DType, number> = {
  f32: 4, f16: 2, bf16: 2, f64: 8, i64: 8, i32: 4, i16: 2, i8: 1, u8: 1, bool: 1,
};

/** The largest tensor we decode; typed arrays beyond 2^31 elements are not portable across engines. */
export const MAX_ELEMENTS = 2 ** 31 - 1;
/** The largest rank we accept; real checkpoints stay far below, and it bounds index arithmetic. */
export const MAX_RANK = 32;

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Whether `dtype` decodes to a Float32Array. */
export function isFloat(dtype: DType): boolean {
  return dtype === 'f32' || dtype === 'f16' || dtype === 'bf16' || dtype === 'f64';
}

/**
 * Validates an untrusted shape (non-negative safe integers, rank <= MAX_RANK) and returns its
 * element count, refusing counts beyond MAX_ELEMENTS so later allocations are bounded.
 */
export function checkShape(shape: unknown, what: string): number {
  ensure(Array.isArray(shape) && shape.length <= MAX_RANK, 'bad-shape', `${what}: shape must be a list of at most ${MAX_RANK} dims, got ${brief(shape)}`);
  let n = 1;
  for (const d of shape) {
    ensure(Number.isSafeInteger(d) && d >= 0, 'bad-shape', `${what}: shape ${brief(shape)} has a dim that is not a non-negative integer`);
    n *= d;
    // Once any product passes the limit it can only shrink by a zero dim; report it either way.
    if (n > MAX_ELEMENTS) fail('too-large', `${what}: shape ${brief(shape)} has more than ${MAX_ELEMENTS} elements`);
  }
  return n;
}

/**
 * A short printable form of an untrusted value for error messages. Bounded work on purpose: a
 * hostile value may be huge or nested thousands deep, where JSON.stringify or String() would
 * overflow the stack or take long.
 */
export function brief(v: unknown, depth = 0): string {
  let s: string;
  if (typeof v === 'string') s = JSON.stringify(v.length > 60 ? v.slice(0, 60) : v);
  else if (typeof v === 'bigint') s = `${v}n`;
  else if (v === null || typeof v !== 'object') s = String(v);
  else if (depth >= 3) s = Array.isArray(v) ? '[...]' : '{...}';
  else if (Array.isArray(v)) s = `[${v.slice(0, 8).map((x) => brief(x, depth + 1)).join(',')}${v.length > 8 ? ',...' : ''}]`;
  else {
    const keys = Object.keys(v);
    s = `{${keys.slice(0, 6).map((k) => `${JSON.stringify(k.slice(0, 40))}:${brief((v as Record<string, unknown>)[k], depth + 1)}`).join(',')}${keys.length > 6 ? ',...' : ''}}`;
  }
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

/** Sets an own property even for keys like `__proto__` (plain assignment would change the prototype). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Allocates the host array for `n` elements of `dtype` (n already validated). */
export function allocHost(dtype: DType, n: number): HostTensor['data'] {
  ensure(n <= MAX_ELEMENTS, 'too-large', `tensor of ${n} elements is beyond the ${MAX_ELEMENTS} limit`);
  if (isFloat(dtype)) return new Float32Array(n);
  if (dtype === 'u8' || dtype === 'bool') return new Uint8Array(n);
  return new Int32Array(n);
}

const f32Scratch = new Float32Array(1), u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Encodes a number as bfloat16 (round to nearest even; NaN stays NaN). */
export function f32ToBf16(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Decodes `n` stored elements starting at byte `at` of `src`, `step` elements apart, into
 * `out[o..o+n)`. The caller has checked that the bytes exist.
 */
export function decodeRun(src: Uint8Array, at: number, n: number, dtype: DType, le: boolean, out: HostTensor['data'], o: number, name: string, step = 1): void {
  if (n === 0) return;
  const isz = ITEMSIZE[dtype], sb = step * isz;
  // Fast path: contiguous, same byte order as the host, a 4-byte type: one memcpy into the output.
  if (step === 1 && le === HOST_LE && (dtype === 'f32' || dtype === 'i32')) {
    new Uint8Array(out.buffer, out.byteOffset + o * 4, n * 4).set(src.subarray(at, at + n * 4));
    return;
  }
  if (step === 1 && dtype === 'u8') { out.set(src.subarray(at, at + n), o); return; }
  const dv = new DataView(src.buffer, src.byteOffset + at, (n - 1) * sb + isz);
  switch (dtype) {
    case 'f32': for (let i = 0; i < n; i++) out[o + i] = dv.getFloat32(i * sb, le); break;
    case 'i32': for (let i = 0; i < n; i++) out[o + i] = dv.getInt32(i * sb, le); break;
    case 'f64': for (let i = 0; i < n; i++) out[o + i] = dv.getFloat64(i * sb, le); break;
    case 'f16': for (let i = 0; i < n; i++) out[o + i] = f16ToF32(dv.getUint16(i * sb, le)); break;
    case 'bf16': {
      // Writing the bits through a u32 view is exact and avoids a float conversion per element.
      const f = out as Float32Array, u = new Uint32Array(f.buffer, f.byteOffset + o * 4, n);
      for (let i = 0; i < n; i++) u[i] = dv.getUint16(i * sb, le) << 16;
      break;
    }
    case 'i16': for (let i = 0; i < n; i++) out[o + i] = dv.getInt16(i * sb, le); break;
    case 'i8': for (let i = 0; i < n; i++) out[o + i] = dv.getInt8(i * sb); break;
    case 'u8': for (let i = 0; i < n; i++) out[o + i] = dv.getUint8(i * sb); break;
    case 'bool': for (let i = 0; i < n; i++) out[o + i] = dv.getUint8(i * sb) ? 1 : 0; break;
    case 'i64':
      for (let i = 0; i < n; i++) {
        const lo = dv.getUint32(i * sb + (le ? 0 : 4), le), hi = dv.getInt32(i * sb + (le ? 4 : 0), le);
        // Only values in [-2^31, 2^31) survive the conversion to Int32Array unchanged.
        if (!((hi === 0 && lo < 0x80000000) || (hi === -1 && lo >= 0x80000000))) {
          fail('int-range', `${name}: i64 value ${hi * 2 ** 32 + lo} does not fit in i32`);
        }
        out[o + i] = lo | 0;
      }
      break;
  }
}

/**
 * Adds `half` (and for bf16 `halfOverflow`) to a decoded f16/bf16 tensor, from its stored 16-bit
 * patterns as decoded by the 'i16' path (`raw`); other dtypes are returned as they are.
 */
export function withHalf(h: HostTensor, raw: () => HostTensor['data']): HostTensor {
  if (h.dtype !== 'f16' && h.dtype !== 'bf16') return h;
  const bits = Uint16Array.from(raw(), (v) => v & 0xffff);
  if (h.dtype === 'f16') return { ...h, half: bits };
  const { bits: half, overflowed } = bf16ToHalfBits(bits);
  return { ...h, half, halfOverflow: overflowed };
}

/**
 * Reads a (possibly strided) tensor out of a storage of `storageNumel` elements held in `src`
 * starting at byte `base`. Checks offset, sizes and strides against the storage before allocating;
 * strides of 0 (expanded tensors) may produce more elements than the storage holds, which we allow
 * only up to 2^24 elements so a tiny file cannot ask for gigabytes.
 */
export function gather(src: Uint8Array, base: number, storageNumel: number, dtype: DType, le: boolean, offset: number, size: number[], stride: number[], name: string): HostTensor {
  return withHalf(gatherAs(src, base, storageNumel, dtype, le, offset, size, stride, name),
    () => gatherAs(src, base, storageNumel, 'i16', le, offset, size, stride, name).data);
}

function gatherAs(src: Uint8Array, base: number, storageNumel: number, dtype: DType, le: boolean, offset: number, size: number[], stride: number[], name: string): HostTensor {
  const n = checkShape(size, name);
  ensure(Array.isArray(stride) && stride.length === size.length && stride.every((s) => Number.isSafeInteger(s) && s >= 0), 'bad-shape', `${name}: stride ${brief(stride)} does not match size ${brief(size)}`);
  ensure(Number.isSafeInteger(offset) && offset >= 0, 'bad-shape', `${name}: storage offset ${brief(offset)} is not a non-negative integer`);
  ensure(Number.isSafeInteger(storageNumel) && storageNumel >= 0, 'bad-header', `${name}: bad storage size ${brief(storageNumel)}`);
  ensure(base + storageNumel * ITEMSIZE[dtype] <= src.length, 'truncated', `${name}: storage of ${storageNumel} ${dtype} needs ${storageNumel * ITEMSIZE[dtype]} bytes at ${base}, the file has ${src.length - base}`);
  if (n > 0) {
    let last = offset;
    for (let d = 0; d < size.length; d++) last += (size[d] - 1) * stride[d];
    ensure(last < storageNumel, 'out-of-bounds', `${name}: offset ${offset}, size ${brief(size)}, stride ${brief(stride)} reach element ${last} of a storage of ${storageNumel}`);
    ensure(n <= storageNumel || n <= 2 ** 24, 'too-large', `${name}: ${n} elements expanded from a storage of ${storageNumel}`);
  }
  const out = allocHost(dtype, n), isz = ITEMSIZE[dtype], rank = size.length;
  let contiguous = true;
  for (let d = rank - 1, expect = 1; d >= 0; expect *= size[d], d--) if (size[d] !== 1 && stride[d] !== expect) contiguous = false;
  if (contiguous || n === 0) {
    decodeRun(src, base + offset * isz, n, dtype, le, out, 0, name);
    return { dtype, shape: size.slice(), data: out };
  }
  // Walk the leading dims with an odometer; each innermost row is one strided run.
  const inner = rank ? size[rank - 1] : 1, innerStride = rank ? stride[rank - 1] : 1;
  const idx = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  for (let o = 0; o < n; o += inner) {
    let at = offset;
    for (let d = 0; d < rank - 1; d++) at += idx[d] * stride[d];
    decodeRun(src, base + at * isz, inner, dtype, le, out, o, name, innerStride);
    for (let d = rank - 2; d >= 0; d--) { if (++idx[d] < size[d]) break; idx[d] = 0; }
  }
  return { dtype, shape: size.slice(), data: out };
}

/** Encodes a HostTensor into little-endian stored bytes of its own dtype (the writers' inverse of decode). */
export function encodeHost(t: HostTensor, name: string): Uint8Array {
  const n = checkShape(t.shape, name);
  ensure(t.data.length === n, 'bad-shape', `${name}: data has ${t.data.length} elements, shape ${brief(t.shape)} needs ${n}`);
  const out = new Uint8Array(n * ITEMSIZE[t.dtype]), dv = new DataView(out.buffer), d = t.data;
  const intIn = (lo: number, hi: number) => { for (let i = 0; i < n; i++) if (!(d[i] >= lo && d[i] <= hi)) fail('int-range', `${name}: value ${d[i]} does not fit ${t.dtype}`); };
  switch (t.dtype) {
    case 'f32': for (let i = 0; i < n; i++) dv.setFloat32(i * 4, d[i], true); break;
    case 'f64': for (let i = 0; i < n; i++) dv.setFloat64(i * 8, d[i], true); break;
    case 'f16': for (let i = 0; i < n; i++) dv.setUint16(i * 2, f32ToF16(d[i]), true); break;
    case 'bf16': for (let i = 0; i < n; i++) dv.setUint16(i * 2, f32ToBf16(d[i]), true); break;
    case 'i64': for (let i = 0; i < n; i++) dv.setBigInt64(i * 8, BigInt(d[i] | 0), true); break;
    case 'i32': for (let i = 0; i < n; i++) dv.setInt32(i * 4, d[i], true); break;
    case 'i16': intIn(-32768, 32767); for (let i = 0; i < n; i++) dv.setInt16(i * 2, d[i], true); break;
    case 'i8': intIn(-128, 127); for (let i = 0; i < n; i++) dv.setInt8(i, d[i]); break;
    case 'u8': intIn(0, 255); out.set(d); break;
    case 'bool': for (let i = 0; i < n; i++) out[i] = d[i] ? 1 : 0; break;
    default: fail('unsupported-dtype', `${name}: cannot encode dtype ${brief((t as HostTensor).dtype)}`);
  }
  return out;
}
