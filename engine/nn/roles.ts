/**
 * Module roles as types: what freezing, the feature cache, fine-tuning and checkpoints need to know
 * about a layer's training-mode behaviour, declared by the layer class instead of guessed from its
 * buffers or its class name (which a minifier renames).
 *
 * A class takes a role by implementing the interface, including its brand (`readonly [NORMALIZATION]
 * = true`); the guards test the brand, so subclasses and renamed classes keep the role. The brands are
 * `Symbol.for` keys, so two copies of the library agree on them.
 */
import type { Module } from './module.ts';
import type { Tensor } from '../core/tensor.ts';
import { live, type Live } from '../core/live.ts';

/** Brand of {@link Normalization} layers. */
export const NORMALIZATION: unique symbol = Symbol.for('thaw.role.normalization');
/** Brand of {@link Stochastic} layers. */
export const STOCHASTIC: unique symbol = Symbol.for('thaw.role.stochastic');

/**
 * A normalization layer with running statistics (BatchNorm2d, and so Keras BatchNormalization): in
 * training mode it normalises with the batch's statistics and updates its running ones, in inference
 * mode it uses the running ones. Freezing puts it in inference mode (`frozenNorm`). LayerNorm is not
 * one: it has no running statistics and behaves the same in both modes.
 */
export interface Normalization extends Module {
  readonly [NORMALIZATION]: true;
  /** Inference mode even under `train()`: running statistics used and left untouched (set by freezing). */
  frozenNorm: boolean;
  /** Weight of each new batch in the running statistics. */
  momentum: number;
  /** Running mean, or null when the layer keeps no running statistics (batch statistics in every mode). */
  readonly runningMean: Tensor | null;
  /** Running variance, or null with `runningMean`. */
  readonly runningVar: Tensor | null;
  /** Whether a forward pass now normalises with (and updates from) batch statistics. */
  readonly usesBatchStats: boolean;
}

/**
 * A layer whose training-mode output is random (Dropout, BERT's attention dropout). Each random
 * forward draws from `seed` and advances it, so a run from fixed seeds is reproducible: fine-tuning
 * sets the seeds from its own, and checkpoints save and restore them. Inference mode is deterministic.
 */
export interface Stochastic extends Module {
  readonly [STOCHASTIC]: true;
  /** Seed of the next random draw (u32). */
  seed: number;
  /** Whether a training-mode forward is random (e.g. a dropout rate above 0). */
  readonly randomInTraining: boolean;
}

/**
 * The seed of a stochastic layer's next draw, advancing it: a live value (engine/core/live.ts), so a
 * recorded step draws (and advances) a new seed at every replay, as an eager step does.
 */
export function drawSeed(m: Stochastic): Live<number> {
  return live(() => {
    const s = m.seed;
    m.seed = (s + 1) >>> 0;
    return s;
  });
}

/** Whether `m` is a normalization layer with running statistics ({@link Normalization}). */
export function isNormalization(m: Module): m is Normalization {
  return (m as { [NORMALIZATION]?: unknown })[NORMALIZATION] === true;
}

/** Whether `m` is a layer whose training-mode output is random ({@link Stochastic}). */
export function isStochastic(m: Module): m is Stochastic {
  return (m as { [STOCHASTIC]?: unknown })[STOCHASTIC] === true;
}

/**
 * Whether a training-mode forward of a normalization layer depends on the rest of the batch: true
 * unless it is frozen in inference mode with running statistics to use.
 */
export function batchDependentInTraining(m: Normalization): boolean {
  return !m.frozenNorm || !m.runningMean;
}
