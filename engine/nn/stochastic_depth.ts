/**
 * torchvision.ops.StochasticDepth: in training, drops the input with probability `p` per sample
 * ('row': one draw per batch item) or for the whole batch ('batch': one draw), scaling what survives
 * by 1 / (1 - p); in eval mode, or with p = 0, it returns its input. The draw is dropout's seeded
 * counter-based mask over a (N, 1, ..., 1) tensor of ones (kernels/dropout), so row i survives exactly
 * when dropoutMaskRef(N, p, seed)[i] is 1, and a run is reproducible from the starting seed. Each call
 * uses `seed` and then advances it, as Dropout does.
 */
import { Module } from './module.ts';
import type { Tensor } from '../core/tensor.ts';
import { ThawError } from '../core/errors.ts';
import { full } from '../core/factory.ts';
import { dropout, mul } from '../../kernels/index.ts';
import { STOCHASTIC, type Stochastic, drawSeed } from './roles.ts';

export type StochasticDepthMode = 'row' | 'batch';

export class StochasticDepth extends Module implements Stochastic {
  readonly [STOCHASTIC] = true as const;
  /** The seed of the next call's draw. */
  seed: number;
  constructor(readonly p: number, readonly mode: StochasticDepthMode = 'row', seed?: number) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ThawError('argument', `StochasticDepth: drop probability must be in [0, 1], got ${p}`);
    if (mode !== 'row' && mode !== 'batch') throw new ThawError('argument', `StochasticDepth: mode must be 'row' or 'batch', got '${mode}'`);
    this.seed = (seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
  }

  get randomInTraining(): boolean { return this.p > 0; }

  /** Whether forward() changes its input now (training mode and p > 0). */
  get active(): boolean { return this.training && this.p > 0; }

  /** x: (N, ...) → same shape; x itself when inactive. */
  forward(x: Tensor): Tensor {
    if (!this.active) return x;
    const s = drawSeed(this);
    const shape = x.shape.map((d, i) => (i === 0 && this.mode === 'row' ? d : 1));
    const ones = full(shape, 1);
    const mask = dropout(ones, this.p, s);
    ones.dispose();
    const y = mul(x, mask);
    mask.dispose();
    return y;
  }
}
