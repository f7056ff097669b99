/**
 * float64 reference of cast: the value of x in the destination dtype, written from IEEE 754's
 * definition of binary16 (round to nearest, ties to even) by enumeration, independent of the
 * bit-level encoders in engine/core/half.ts and half.wgsl.
 */

/** Every finite non-negative half value, ascending (index = the half's bits). */
const HALVES: number[] = Array.from({ length: 0x7c00 }, (_, h) => (h >> 10 ? (1 + (h & 0x3ff) / 1024) * 2 ** ((h >> 10) - 15) : h * 2 ** -24));

/** v rounded to the nearest half value (ties to the even significand), ±Infinity past 65520, NaN kept. */
export function roundToHalf(v: number): number {
  if (Number.isNaN(v)) return NaN;
  const a = Math.abs(v), s = v < 0 || Object.is(v, -0) ? -1 : 1;
  if (a >= 65520) return s * Infinity; // halfway between 65504 and the next (2^16) rounds to even: up
  let lo = 0, hi = HALVES.length - 1;
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (HALVES[mid] <= a) lo = mid; else hi = mid; }
  if (a >= HALVES[hi]) lo = hi;
  const below = HALVES[lo], above = lo + 1 < HALVES.length ? HALVES[lo + 1] : 65536;
  const d1 = a - below, d2 = above - a;
  const r = d1 < d2 ? below : d2 < d1 ? above : (lo % 2 === 0 ? below : above);
  return s * (r === 65536 ? Infinity : r);
}

/** Truncation toward zero, as a float to i32 cast does. */
export const truncToInt = (v: number): number => Math.trunc(v) + 0; // + 0: an integer has no -0
