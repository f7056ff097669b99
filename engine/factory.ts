/** Creating tensors from host data. */
import { Tensor, type Shape, type DType, numel, shapeStr } from './tensor.ts';
import { runtime } from './runtime.ts';
import { ShapeError } from './errors.ts';

/** Uploads `data` as a tensor of `shape` (default: 1-D). Integer arrays become i32 unless `dtype` says otherwise. */
export function tensor(data: ArrayLike<number>, shape?: Shape, dtype?: DType): Tensor {
  const s = shape ?? [data.length];
  if (numel(s) !== data.length) throw new ShapeError(`tensor: ${data.length} values do not fill shape ${shapeStr(s)} (${numel(s)} elements)`);
  const dt: DType = dtype ?? (data instanceof Int32Array ? 'i32' : 'f32');
  const t = Tensor.alloc(s, dt);
  const arr = dt === 'f32'
    ? (data instanceof Float32Array ? data : Float32Array.from(data))
    : (data instanceof Int32Array ? data : Int32Array.from(data));
  if (arr.length) runtime().write(t.buffer, arr);
  return t;
}

/** Writes host data into an existing tensor (same element count). */
export function assign(t: Tensor, data: ArrayLike<number>): void {
  if (data.length !== t.size) throw new ShapeError(`assign: ${data.length} values for a tensor of shape ${shapeStr(t.shape)}`);
  const arr = t.dtype === 'f32'
    ? (data instanceof Float32Array ? data : Float32Array.from(data))
    : (data instanceof Int32Array ? data : Int32Array.from(data));
  runtime().write(t.buffer, arr);
}

/** Copies a tensor (no gradient link). */
export function clone(t: Tensor): Tensor {
  const out = Tensor.alloc(t.shape, t.dtype);
  if (t.size) runtime().copy(t.buffer, 0, out.buffer, 0, t.size * 4);
  return out;
}
