/**
 * Dtype conversion on the GPU: `cast(x, 'f16')` and back, and i32 <-> floats. To f16 it rounds to
 * nearest even on the bits (half.wgsl), the same result as engine/core/half.ts on the host; f16 to
 * f32 is exact. The gradient of a float-to-float cast is the cast back of the output gradient.
 */
import castSrc from './cast.wgsl';
import halfSrc from './half.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import { Tensor, type DType } from '../../engine/core/tensor.ts';
import { runtime, launch1d } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ThawError } from '../../engine/core/errors.ts';
import { record } from '../../engine/core/tape.ts';

const LOAD: Record<DType, string> = {
  f32: 'return x[i];',
  i32: 'return bitcast<u32>(f32(bitcast<i32>(x[i])));',
  f16: 'return bitcast<u32>(half_to_f32((x[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu));',
};
const STORE: Record<DType, string> = {
  f32: 'out[j] = load(j);',
  // i32(f32) truncates toward zero and saturates at the i32 range.
  i32: 'out[j] = bitcast<u32>(i32(bitcast<f32>(load(j))));',
  f16: 'let i = 2u * j; var hi = 0u; if (i + 1u < params.len) { hi = f32_to_half(load(i + 1u)); } out[j] = f32_to_half(load(i)) | (hi << 16u);',
};
const DTYPES: readonly DType[] = ['f32', 'i32', 'f16'];

/** x converted to `dtype` into a new tensor, with no autograd; x itself is copied when it has that dtype. */
export function castRaw(x: Tensor, dtype: DType): Tensor {
  if (!DTYPES.includes(dtype)) throw new ThawError('argument', `cast: dtype ${JSON.stringify(dtype)} is not one of ${DTYPES.join(', ')}`);
  void x.buffer; // throws for a disposed input before anything is allocated
  const out = Tensor.alloc(x.shape, dtype);
  const n = dtype === 'f16' ? Math.ceil(x.size / 2) : x.size;
  const { groups, stride } = launch1d(n);
  runtime().run(wgsl('cast', castSrc, { include: [halfSrc, flatIndex, each], defines: { LOAD: LOAD[x.dtype], STORE: STORE[dtype] } }),
    { x, out }, { n, stride, len: x.size }, groups);
  return out;
}

/**
 * x converted to `dtype` ('f32', 'f16' or 'i32'): floats to f16 round to nearest even (beyond ±65504
 * to ±Infinity), f16 to f32 is exact, floats to i32 truncate toward zero. Returns x itself when it
 * already has `dtype`. Gradients flow through float-to-float casts (cast back to x's dtype).
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const out = castRaw(x, dtype);
  if (x.dtype === 'i32' || dtype === 'i32') return out;
  return record('cast', [x], out, (g) => [castRaw(g, x.dtype)]);
}
