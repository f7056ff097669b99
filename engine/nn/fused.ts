/**
 * Conv + BatchNorm (+ ReLU/ReLU6) fused for frozen layers: when a Conv2d's parameters are frozen and
 * the BatchNorm after it is frozen in inference mode (`frozenNorm`, see freeze.ts) with frozen affine
 * parameters, the pair is one affine map per output channel, so it runs as ONE conv with folded
 * weights and bias (as torch.nn.utils.fuse_conv_bn_eval):
 *
 *   s = gamma / sqrt(running_var + eps);  w' = w * s[co];  b' = (b - running_mean) * s + beta
 *
 * and the activation as the conv kernels' epilogue (conv2d's `activation`). The folded weight is
 * registered as constant, so the conv's weight layout transforms (wtrans, Winograd) run once too. The folded tensors are
 * computed on the GPU at the first forward after freezing and reused while the sources stay the same:
 * the fold is dropped when the pair stops being frozen, when freeze()/unfreeze() run, and when any
 * tensor is written by `assign` (checkpoint loads). The module's own parameters and buffers are
 * untouched, so state dicts and saving see the original, unfolded tensors. Anything else runs conv,
 * then batch norm with the residual and the activation fused into its kernels (forward and backward).
 *
 * Numerics: the folded affine is the same map up to float32 rounding of the products (a few ulps of
 * the output); the unfused path centres by the mean before scaling, which matters only when a
 * channel's mean is very large against its spread.
 */
import type { Tensor } from '../core/tensor.ts';
import { keep, noGrad } from '../core/tensor.ts';
import { writeEpoch } from '../core/factory.ts';
import type { Conv2d } from './conv.ts';
import type { BatchNorm2d } from './norm.ts';
import { conv2d, constantWeights, releaseConstantWeights, type ConvActivation, unary, binary } from '../../kernels/index.ts';

interface Fold { w: Tensor; b: Tensor; sources: (Tensor | null)[]; epoch: number; localEpoch: number }

const folds = new WeakMap<Conv2d, Fold>();
let localEpoch = 0;
/** Number of folds computed so far (tests check a fold is computed once and recomputed when stale). */
export let foldsComputed = 0;

/** Drops every fold at its next use (freeze()/unfreeze() call this: trainability changed). */
export function invalidateFolds(): void { localEpoch++; }

const frozen = (t: Tensor | null) => !t || !t.requiresGrad;

let enabled = true;
/**
 * Turns folding on (default) or off for every model; returns the previous setting. Off, frozen pairs
 * run op by op, bit-identical to unfrozen inference-mode layers (tests comparing the two use it).
 */
export function setConvBnFolding(on: boolean): boolean {
  const old = enabled;
  enabled = on;
  localEpoch++;
  return old;
}

/** Whether conv → bn runs as one folded conv: every parameter of both frozen, bn in frozen inference mode, the conv's forward its class's own. */
export function canFold(conv: Conv2d, bn: BatchNorm2d): boolean {
  // A conv whose forward was replaced on the instance (a LoRA adapter, engine/train/lora.ts) runs its own forward.
  return enabled && !Object.hasOwn(conv, 'forward') && bn.frozenNorm && !!bn.runningMean && !!bn.runningVar && frozen(conv.weight) && frozen(conv.bias) &&
    frozen(bn.weight) && frozen(bn.bias) && bn.numFeatures === conv.outChannels;
}

function sourcesOf(conv: Conv2d, bn: BatchNorm2d): (Tensor | null)[] {
  return [conv.weight, conv.bias, bn.weight, bn.bias, bn.runningMean, bn.runningVar];
}

function drop(conv: Conv2d): void {
  const f = folds.get(conv);
  if (!f) return;
  releaseConstantWeights(f.w);
  f.w.dispose();
  f.b.dispose();
  folds.delete(conv);
}

function computeFold(conv: Conv2d, bn: BatchNorm2d): Fold {
  return noGrad(() => {
    const C = conv.outChannels;
    const [wt, cb, gamma, beta, mean, variance] = sourcesOf(conv, bn);
    const ve = unary('affine', variance!, 1, bn.eps);
    const invstd = unary('rsqrt', ve);
    ve.dispose();
    const s = gamma ? binary('mul', gamma, invstd) : invstd;
    if (gamma) invstd.dispose();
    const s4 = s.alias([C, 1, 1, 1]);
    const w = keep(binary('mul', wt!, s4));
    s4.dispose();
    const centred = cb ? binary('sub', cb, mean!) : unary('neg', mean!);
    const scaled = binary('mul', centred, s);
    centred.dispose();
    s.dispose();
    const b = keep(beta ? binary('add', scaled, beta) : scaled);
    if (beta) scaled.dispose();
    constantWeights(w); // the conv kernels' weight layouts are computed once too
    foldsComputed++;
    return { w, b, sources: sourcesOf(conv, bn), epoch: writeEpoch(), localEpoch };
  });
}

/** The folded weight and bias of conv → bn, computed now or reused; null when the pair cannot fold. */
export function foldedConvBn(conv: Conv2d, bn: BatchNorm2d): { w: Tensor; b: Tensor } | null {
  if (!canFold(conv, bn)) { drop(conv); return null; }
  let f = folds.get(conv);
  const src = sourcesOf(conv, bn);
  if (f && (f.epoch !== writeEpoch() || f.localEpoch !== localEpoch || f.sources.some((t, i) => t !== src[i]))) { drop(conv); f = undefined; }
  if (!f) folds.set(conv, (f = computeFold(conv, bn)));
  return f;
}

/**
 * act(bn(conv(x)) + residual): one conv dispatch chain with folded weights, the residual and the
 * activation in its epilogue when the pair is frozen (see above), else conv, then batch norm (with the
 * residual and the activation fused into its kernels). x: (N, Cin, H, W) → (N, Cout, OH, OW); residual: like the output
 */
export function convBnAct(conv: Conv2d, bn: BatchNorm2d, x: Tensor, act?: ConvActivation, residual: Tensor | null = null): Tensor {
  const f = foldedConvBn(conv, bn);
  const { stride, padding, dilation, groups } = conv.config;
  if (f) return conv2d(x, f.w, f.b, { stride, padding, dilation, groups, activation: act }, residual);
  const y = conv.forward(x);
  // The residual and the activation fused into the batch-norm kernels; a residual of another dtype is added after (promoting).
  if (!residual || residual.dtype === y.dtype) return bn.forward(y, act, residual);
  const sum = binary('add', bn.forward(y), residual);
  return act ? unary(act, sum) : sum;
}

/** Frees a conv's fold now (tests; a dropped model's folds are otherwise collected with it). */
export function releaseFold(conv: Conv2d): void { drop(conv); }

