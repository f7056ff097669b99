/** Creating tensors from host data. */
import { Tensor, type Shape, type DType, numel, shapeStr, storageBytes } from './tensor.ts';
import { f32ToF16, toHalfBits } from './half.ts';
import fillSrc from './fill.wgsl';
import { runtime, launch1d, requireF16 } from './runtime.ts';
import { wgsl } from './wgsl.ts';
import { ShapeError, ThawError } from './errors.ts';

const I32_MIN = -(2 ** 31), I32_MAX = 2 ** 31 - 1;

/**
 * `data` as the typed array of `dtype`. Conversions that would change a value are refused, naming
 * the first bad index and value: for i32, a non-integer, NaN, ±Infinity or a value outside the int32
 * range (Int32Array.from would truncate, zero or wrap them); for f32, a finite value beyond the f32
 * range (it would become ±Infinity). NaN and ±Infinity given for f32 are kept as they are.
 */
function hostArray(data: ArrayLike<number>, dtype: DType, op: string): Float32Array | Int32Array | Uint16Array {
  if (dtype === 'f16') return halfWords(data);
  if (dtype === 'f32') {
    if (data instanceof Float32Array) return data;
    const arr = Float32Array.from(data);
    for (let i = 0; i < arr.length; i++) {
      if (!Number.isFinite(arr[i]) && Number.isFinite(data[i])) {
        throw new ThawError('dtype', `${op}: value ${data[i]} at index ${i} is outside the f32 range (±3.4e38) and would become ${arr[i]}; scale the data down`);
      }
    }
    return arr;
  }
  if (data instanceof Int32Array) return data;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isInteger(v) || v < I32_MIN || v > I32_MAX) {
      const why = Number.isNaN(v) || !Number.isFinite(v) ? 'is not a finite number' : !Number.isInteger(v) ? 'is not an integer' : 'is outside the int32 range [-2147483648, 2147483647]';
      throw new ThawError('dtype', `${op}: i32 value ${v} at index ${i} ${why}; round or clamp the data first, or use dtype 'f32'`);
    }
  }
  return Int32Array.from(data);
}

const Float16: { new(n: number): ArrayLike<number> } | undefined = (globalThis as any).Float16Array;

/**
 * `data` as halves, rounded to nearest even (finite values beyond ±65504 become ±Infinity, as a cast
 * to half does), padded with a zero half to whole 4-byte words, which writeBuffer needs. A
 * Float16Array (where the runtime has one) is taken as it is, without conversion.
 */
function halfWords(data: ArrayLike<number>): Uint16Array {
  const f16 = Float16 && data instanceof Float16;
  return evenLength(f16 ? new Uint16Array((data as any).buffer, (data as any).byteOffset, data.length) : toHalfBits(data));
}

/**
 * Uploads `data` as a tensor of `shape` (default: 1-D). Integer arrays become i32 and Float16Arrays
 * f16 unless `dtype` says otherwise; numbers given for f16 are rounded to nearest even on the host.
 * Values that f32 or i32 cannot hold exactly are refused (see hostArray), never wrapped.
 */
export function tensor(data: ArrayLike<number>, shape?: Shape, dtype?: DType): Tensor {
  const s = shape ?? [data.length];
  if (numel(s) !== data.length) throw new ShapeError(`tensor: ${data.length} values do not fill shape ${shapeStr(s)} (${numel(s)} elements)`);
  const dt: DType = dtype ?? (data instanceof Int32Array ? 'i32' : Float16 && data instanceof Float16 ? 'f16' : 'f32');
  if (dt === 'f16') requireF16(); // before any conversion
  const arr = hostArray(data, dt, 'tensor');
  const t = Tensor.alloc(s, dt);
  if (arr.length) runtime().write(t.buffer, arr);
  return t;
}

let assignEpoch = 0;
/** Counts `assign` calls (checkpoint loads write parameters with it), so caches derived from parameters can tell they may be stale. */
export function writeEpoch(): number { return assignEpoch; }

/** Writes host data into an existing tensor (same element count); values its dtype cannot hold are refused as in `tensor`. */
export function assign(t: Tensor, data: ArrayLike<number>): void {
  assignEpoch++;
  if (data.length !== t.size) throw new ShapeError(`assign: ${data.length} values for a tensor of shape ${shapeStr(t.shape)}`);
  runtime().write(t.buffer, hostArray(data, t.dtype, 'assign'));
}

/**
 * Uploads raw IEEE half bits as an f16 tensor (checkpoint loaders: f16 data goes to the GPU without an
 * f32 round trip).
 */
export function tensorFromHalfBits(bits: Uint16Array, shape: Shape): Tensor {
  if (numel(shape) !== bits.length) throw new ShapeError(`tensorFromHalfBits: ${bits.length} halves do not fill shape ${shapeStr(shape)} (${numel(shape)} elements)`);
  const t = Tensor.alloc(shape, 'f16');
  if (bits.length) runtime().write(t.buffer, evenLength(bits));
  return t;
}

/** Writes raw IEEE half bits into an existing f16 tensor (same element count), as `assign` does values. */
export function assignHalfBits(t: Tensor, bits: Uint16Array): void {
  assignEpoch++;
  if (t.dtype !== 'f16') throw new ShapeError(`assignHalfBits: the tensor ${shapeStr(t.shape)} has dtype ${t.dtype}, expected f16`);
  if (bits.length !== t.size) throw new ShapeError(`assignHalfBits: ${bits.length} halves for a tensor of shape ${shapeStr(t.shape)}`);
  if (bits.length) runtime().write(t.buffer, evenLength(bits));
}

/** `bits`, or a copy one zero half longer when its length is odd (writeBuffer writes whole 4-byte words). */
function evenLength(bits: Uint16Array): Uint16Array {
  if (!(bits.length & 1)) return bits;
  const out = new Uint16Array(bits.length + 1);
  out.set(bits);
  return out;
}

/** Copies a tensor (no gradient link). */
export function clone(t: Tensor): Tensor {
  const out = Tensor.alloc(t.shape, t.dtype);
  if (t.size) runtime().copy(t.buffer, 0, out.buffer, 0, storageBytes(t.size, t.dtype));
  return out;
}

/** A tensor of `shape` filled with `value` (for f16, `value` rounded to nearest even). */
export function full(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
  const out = Tensor.alloc(shape, dtype);
  // f16: every 32-bit word holds the half twice, written as raw bits.
  const h = dtype === 'f16' ? f32ToF16(value) : 0;
  const n = dtype === 'f16' ? Math.ceil(out.size / 2) : out.size;
  const { groups, stride } = launch1d(n);
  runtime().run(wgsl('fill', fillSrc, { defines: { IS_INT: dtype !== 'f32' } }),
    { out }, { n, stride, value, ivalue: dtype === 'i32' ? value : (h | (h << 16)) }, groups);
  return out;
}

/** A new f32 tensor of `shape` filled with 0. */
export const zeros = (shape: Shape) => full(shape, 0);
/** A new f32 tensor of `shape` filled with 1. */
export const ones = (shape: Shape) => full(shape, 1);
/** A new f32 tensor of `t`'s shape filled with 1. */
export const onesLike = (t: Tensor) => full(t.shape, 1);
/** A new f32 tensor of `t`'s shape filled with 0. */
export const zerosLike = (t: Tensor) => full(t.shape, 0);
