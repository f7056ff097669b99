/**
 * IEEE binary16 (f16) on the host: decoding a half, encoding any number with round-to-nearest-even
 * (from the exact double, so there is no double rounding through f32), bfloat16 to half, and whole
 * arrays. Pure host code: engine/io uses it for checkpoints' f16/bf16 tensors.
 */

/** Decodes one IEEE half (as a u16) to a number (exact). */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** x rounded to an integer, ties to even (x >= 0; exact for x < 2^52). */
function roundEven(x: number): number {
  const f = Math.floor(x), d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/**
 * Encodes a number as an IEEE half: round to nearest even, ±Infinity beyond the largest half
 * (|v| >= 65520), subnormals below 2^-14, signed zeros kept, NaN as the quiet NaN 0x7e00.
 */
export function f32ToF16(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0, a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | roundEven(a * 2 ** 24); // 0x400 (the smallest normal) when it rounds up
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--; else if (2 ** (e + 1) <= a) e++;
  // m in [1024, 2048]; 2048 carries into the exponent, which the addition does.
  return sign | (((e + 15) << 10) + roundEven(a * 2 ** (10 - e)) - 1024);
}

/** The largest finite half. */
export const F16_MAX = 65504;

/** Halves (bits) of `data`, each rounded to nearest even; the length is `data.length`. */
export function toHalfBits(data: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = f32ToF16(data[i]);
  return out;
}

/** The values of halves (bits), widened exactly to f32. */
export function fromHalfBits(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16ToF32(bits[i]);
  return out;
}

/**
 * bfloat16 bits to half bits, rounding to nearest even. Returns the halves and how many finite
 * values overflowed to ±Infinity (bf16 reaches 3.4e38, f16 only 65504) so a loader can warn.
 */
export function bf16ToHalfBits(src: Uint16Array): { bits: Uint16Array; overflowed: number } {
  const out = new Uint16Array(src.length), f = new Float32Array(1), u = new Uint32Array(f.buffer);
  let overflowed = 0;
  for (let i = 0; i < src.length; i++) {
    u[0] = src[i] << 16;
    const h = f32ToF16(f[0]);
    if ((h & 0x7fff) === 0x7c00 && Number.isFinite(f[0])) overflowed++;
    out[i] = h;
  }
  return { bits: out, overflowed };
}
