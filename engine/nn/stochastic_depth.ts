/**
 * torchvision.ops.StochasticDepth: in training, drops a residual branch per sample ('row') or for the
 * whole batch ('batch') with probability p and scales what survives by 1 / (1 - p); identity in eval
 * mode and at p = 0. The keep/drop draws come from a seeded hash on the host (one value per sample),
 * and the seed advances per call as Dropout's does, so a run with a fixed starting seed is reproducible.
 */
import { Module } from './module.ts';
import type { Tensor } from '../core/tensor.ts';
import { tensor } from '../core/factory.ts';
import { ThawError } from '../core/errors.ts';
import { mul } from '../../kernels/index.ts';

export type StochasticDepthMode = 'row' | 'batch';

/** A uniform [0, 1) draw that depends only on (seed, i): murmur3's fmix32 of a mixed counter. */
export function stochasticDepthUniform(seed: number, i: number): number {
  let x = (Math.imul(i, 0x9e3779b1) + Math.imul(seed >>> 0, 0x85ebca77) + 0x165667b1) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x = (x ^ (x >>> 13)) >>> 0;
  x = Math.imul(x, 0xc2b2ae35) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return x / 4294967296;
}

/**
 * The multipliers of one call: for each of `n` draws, 0 (dropped, probability p) or 1 / (1 - p);
 * all 0 at p = 1 (torchvision: nothing is divided by a zero survival rate).
 */
export function stochasticDepthMask(p: number, n: number, seed: number): Float32Array {
  const survival = 1 - p;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = stochasticDepthUniform(seed, i) < survival ? 1 / survival : 0;
  return out;
}

export class StochasticDepth extends Module {
  /** The seed of the next call's draws. */
  seed: number;
  constructor(public p: number, readonly mode: StochasticDepthMode = 'row', seed?: number) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ThawError('argument', `StochasticDepth: drop probability has to be between 0 and 1, but got ${p}`);
    if (mode !== 'row' && mode !== 'batch') throw new ThawError('argument', `StochasticDepth: mode has to be 'row' or 'batch', got '${mode as string}'`);
    this.seed = (seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
  }

  /** x: (N, ...) → x with each sample (row) or the whole batch multiplied by 0 or 1 / (1 - p). */
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const s = this.seed;
    this.seed = (this.seed + 1) >>> 0;
    const n = this.mode === 'row' ? x.shape[0] : 1;
    const shape = [n, ...x.shape.slice(1).map(() => 1)];
    return mul(x, tensor(stochasticDepthMask(this.p, n, s), shape));
  }
}
