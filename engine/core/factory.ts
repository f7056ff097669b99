/** Creating tensors from host data. */
import { Tensor, type Shape, type DType, numel, shapeStr } from './tensor.ts';
import fillSrc from './fill.wgsl';
import { runtime, launch1d } from './runtime.ts';
import { wgsl } from './wgsl.ts';
import { ShapeError, ThawError } from './errors.ts';

const I32_MIN = -(2 ** 31), I32_MAX = 2 ** 31 - 1;

/**
 * `data` as the typed array of `dtype`. Conversions that would change a value are refused, naming
 * the first bad index and value: for i32, a non-integer, NaN, ±Infinity or a value outside the int32
 * range (Int32Array.from would truncate, zero or wrap them); for f32, a finite value beyond the f32
 * range (it would become ±Infinity). NaN and ±Infinity given for f32 are kept as they are.
 */
function hostArray(data: ArrayLike<number>, dtype: DType, op: string): Float32Array | Int32Array {
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

/**
 * Uploads `data` as a tensor of `shape` (default: 1-D). Integer arrays become i32 unless `dtype` says
 * otherwise. Values that the dtype cannot hold exactly are refused (see hostArray), never wrapped.
 */
export function tensor(data: ArrayLike<number>, shape?: Shape, dtype?: DType): Tensor {
  const s = shape ?? [data.length];
  if (numel(s) !== data.length) throw new ShapeError(`tensor: ${data.length} values do not fill shape ${shapeStr(s)} (${numel(s)} elements)`);
  const dt: DType = dtype ?? (data instanceof Int32Array ? 'i32' : 'f32');
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

/** Copies a tensor (no gradient link). */
export function clone(t: Tensor): Tensor {
  const out = Tensor.alloc(t.shape, t.dtype);
  if (t.size) runtime().copy(t.buffer, 0, out.buffer, 0, t.size * 4);
  return out;
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: Shape, value: number, dtype: 'f32' | 'i32' = 'f32'): Tensor {
  const out = Tensor.alloc(shape, dtype);
  const { groups, stride } = launch1d(out.size);
  runtime().run(wgsl('fill', fillSrc, { defines: { IS_INT: dtype === 'i32' } }),
    { out }, { n: out.size, stride, value, ivalue: dtype === 'i32' ? value : 0 }, groups);
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
