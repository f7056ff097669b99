/**
 * Deterministic "random" weights, bit-identical to `det_uniform` / `det_range` in
 * test/fixtures/make_model_fixtures.py: a counter-based hash (murmur3's fmix32 of
 * i * 0x9E3779B1 + fnv1a(key)) scaled in float64 and rounded to float32. Lets a test fill a
 * full-size model exactly as the fixture script filled torchvision's, with no weights on disk.
 */
import type { HostTensor } from '../../engine/io/types.ts';
import type { Module } from '../../engine/nn/module.ts';

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** n float32 values in [lo, hi), a function of `key` and the index only. */
export function detUniform(key: string, n: number, lo: number, hi: number): Float32Array {
  const seed = fnv1a(key), out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i, 0x9e3779b1) + seed) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x = (x ^ (x >>> 13)) >>> 0;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    out[i] = lo + (hi - lo) * (x / 4294967296);
  }
  return out;
}

/** The range a state-dict entry is drawn from (the fixture script's `det_range`). */
export function detRange(key: string, shape: readonly number[]): [number, number] {
  const last = key.slice(key.lastIndexOf('.') + 1);
  if (last === 'running_mean' || (last === 'bias' && shape.length === 1)) return [-0.1, 0.1];
  if (last === 'running_var') return [0.5, 1.5];
  if (last === 'weight' && shape.length === 1) return [0.5, 1.0];
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  const b = shape.length === 4 ? Math.sqrt(6 / fanIn) : 1 / Math.sqrt(fanIn);
  return [-b, b];
}

/** Host tensors for every f32 entry of the model's state dict (counters are left out). */
export function detStateDict(model: Module): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [key, t] of model.stateDict()) {
    if (t.dtype !== 'f32') continue;
    const [lo, hi] = detRange(key, t.shape);
    out.set(key, { dtype: 'f32', shape: [...t.shape], data: detUniform(key, t.size, lo, hi) });
  }
  return out;
}
