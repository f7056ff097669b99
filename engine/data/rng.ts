/**
 * A small seeded PRNG for data order, augmentation and initialisation: xoshiro128** seeded through
 * splitmix32. 128 bits of state (plus one cached normal), serialisable so a run can resume with the
 * exact same stream. Browser-safe.
 */
import { DataArgError } from './errors.ts';

/** The serialisable state of an Rng: `JSON.stringify`-able, restored with `Rng.fromState`. */
export interface RngState {
  /** xoshiro128** state, four uint32 words. */
  s: [number, number, number, number];
  /** A second normal sample from the last Box-Muller draw, or null. */
  spare: number | null;
}

function splitmix32(x: number): number {
  let z = x | 0;
  z ^= z >>> 16; z = Math.imul(z, 0x21f0aaad);
  z ^= z >>> 15; z = Math.imul(z, 0x735a2d97);
  z ^= z >>> 15;
  return z >>> 0;
}

const TWO32 = 4294967296;

/** Seeded generator of uint32, uniform floats, bounded integers and normals. */
export class Rng {
  private s0 = 0; private s1 = 0; private s2 = 0; private s3 = 0;
  private spare: number | null = null;

  /** Seeds from any finite integer (values beyond 32 bits mix in their high word). */
  constructor(seed: number = 0) {
    if (!Number.isFinite(seed)) throw new DataArgError(`Rng: seed must be a finite number, got ${seed}`);
    const lo = Math.trunc(seed) >>> 0;
    const hi = Math.floor(Math.trunc(seed) / TWO32) >>> 0;
    let x = (lo ^ splitmix32(hi + 0x632be5ab)) >>> 0;
    const next = () => splitmix32((x = (x + 0x9e3779b9) >>> 0));
    this.s0 = next(); this.s1 = next(); this.s2 = next(); this.s3 = next();
    // xoshiro must not start from the all-zero state
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Restores a generator saved with `state()`; it continues the exact same stream. */
  static fromState(state: RngState): Rng {
    const ok = Array.isArray(state?.s) && state.s.length === 4 &&
      state.s.every((v) => Number.isInteger(v) && v >= 0 && v < TWO32) && state.s.some((v) => v !== 0);
    if (!ok) throw new DataArgError('Rng.fromState: expected {s: [4 uint32, not all zero], spare}; pass what Rng.state() returned');
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = state.s;
    r.spare = typeof state.spare === 'number' ? state.spare : null;
    return r;
  }

  /** A copy of the current state (plain data). */
  state(): RngState {
    return { s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0], spare: this.spare };
  }

  /** Next uint32 in [0, 2^32). */
  nextU32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0; this.s3 ^= this.s1; this.s1 ^= this.s2; this.s0 ^= this.s3;
    this.s2 ^= t; this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextU32() / TWO32;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling). n must be an integer in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO32) throw new DataArgError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = TWO32 - (TWO32 % n);
    for (;;) {
      const u = this.nextU32();
      if (u < limit) return u % n;
    }
  }

  /** Standard normal sample (Box-Muller; the second value is cached and part of the state). */
  normal(): number {
    if (this.spare !== null) { const v = this.spare; this.spare = null; return v; }
    const u1 = 1 - this.next(); // (0, 1]: log stays finite
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** An independent generator seeded from this one's stream (e.g. one per epoch or per worker). */
  fork(): Rng {
    const r = new Rng(0);
    r.s0 = this.nextU32(); r.s1 = this.nextU32(); r.s2 = this.nextU32(); r.s3 = this.nextU32();
    if ((r.s0 | r.s1 | r.s2 | r.s3) === 0) r.s0 = 1;
    return r;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Shuffles `array` in place (Fisher-Yates) and returns it. */
export function shuffle<A extends { length: number; [i: number]: unknown }>(array: A, rng: Rng): A {
  for (let i = array.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = array[i]; array[i] = array[j]; array[j] = t;
  }
  return array;
}

/** A random permutation of 0..n-1. */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return shuffle(p, rng);
}

/** n samples from N(mean, std^2) as float32. */
export function randn(n: number, rng: Rng, mean = 0, std = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * rng.normal();
  return out;
}

/** n samples uniform in [lo, hi) as float32. */
export function randu(n: number, rng: Rng, lo = 0, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng.next();
  return out;
}
