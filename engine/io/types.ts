/**
 * The common result of every checkpoint parser: named host tensors plus the non-tensor values the
 * file carried. Host tensors are CPU-side and already decoded to the three array types the engine
 * uploads (f32, i32, u8), while `dtype` keeps what the file stored so a writer can round-trip it.
 */

/** Element type as stored in the checkpoint. */
export type DType = 'f32' | 'f16' | 'bf16' | 'f64' | 'i64' | 'i32' | 'i16' | 'i8' | 'u8' | 'bool';

/**
 * A decoded tensor, row-major and contiguous. Float dtypes hold a Float32Array (f16/bf16/f64
 * decoded), integer dtypes an Int32Array (i64 range-checked), bool/u8 a Uint8Array (bool as 0/1).
 */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
  /**
   * f16 and bf16 tensors: the values as IEEE half bits (f16 verbatim, bf16 rounded to nearest even),
   * so an f16 tensor loads them with no f32 round trip.
   */
  half?: Uint16Array;
  /** bf16 tensors: how many finite values lie beyond f16's range (±65504) and became ±Infinity in `half`. */
  halfOverflow?: number;
}

/** Which parser produced a Checkpoint. */
export type CheckpointFormat = 'safetensors' | 'pytorch-zip' | 'pytorch-legacy' | 'tfjs-layers';

/**
 * A parsed checkpoint. Keys are exactly as in the file (no `module.` stripping: remapping is the
 * loader's adapter's job). `metadata` holds JSON-like non-tensor values (numbers, strings, arrays,
 * plain objects; Python ints beyond 2^53 become decimal strings).
 */
export interface Checkpoint {
  format: CheckpointFormat;
  tensors: Map<string, HostTensor>;
  metadata: Record<string, unknown>;
}
