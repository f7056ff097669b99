/**
 * Batch normalisation over the channel axis of (N, C, ...) tensors, PyTorch semantics:
 * training mode normalises with the batch mean and biased variance and updates the running stats in
 * place on the GPU (unbiased variance, `momentum`); inference mode uses the running stats. Backward
 * covers x, weight and bias in both modes (in inference mode it is a per-channel affine).
 * x (and y, dx) may be f16: read and written as halves, every statistic and sum computed in f32;
 * weight, bias, the running statistics and their gradients stay f32.
 */
import partialSrc from './bn_partial.wgsl';
import mergeSrc from './bn_merge.wgsl';
import runningSrc from './bn_running.wgsl';
import updateSrc from './bn_update.wgsl';
import applySrc from './bn_apply.wgsl';
import backPartialSrc from './bn_backward_partial.wgsl';
import backMergeSrc from './bn_backward_merge.wgsl';
import backDxSrc from './bn_backward_dx.wgsl';
import countSrc from './bn_count.wgsl';
import chunkSrc from './bn_chunk.wgsl';
import statsSrc from './bn_stats.wgsl';
import channelSrc from './bn_channel.wgsl';
import trainSrc from './bn_train.wgsl';
import trainBackSrc from './bn_train_backward.wgsl';
import teamSrc from '../common/team.wgsl';
import teamSumSrc from '../common/team_sum.wgsl';
import { teamFor, teamGroups } from '../common/team.ts';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import { Tensor, shapeStr, sameShape } from '../../engine/core/tensor.ts';
import { runtime, type Kernel, launch1d } from '../../engine/core/runtime.ts';
import { wgsl, applyDefine } from '../../engine/core/wgsl.ts';
import { ShapeError, ThawError } from '../../engine/core/errors.ts';
import { activationBackward } from '../elementwise/elementwise.ts';
import { record } from '../../engine/core/tape.ts';
import { full } from '../../engine/core/factory.ts';

/** Options of `batchNorm2d`. */
export interface BatchNormOptions {
  /** Batch statistics and running-stat update (true), or running statistics (false, the default). */
  training?: boolean;
  /** Weight of the new batch in the running average (PyTorch 0.1; Keras momentum 0.99 is 0.01 here). */
  momentum?: number;
  /** Added to the variance (PyTorch 1e-5, Keras 1e-3). */
  eps?: number;
  /**
   * A one-element i32 counter (num_batches_tracked) to add one to in training mode: with running
   * statistics, in the same dispatch as their update.
   */
  counter?: Tensor | null;
  /**
   * ReLU or ReLU6 applied to the output in the same kernel; backward masks the gradient inside the
   * batch-norm backward sums (no separate activation kernels either way). Bit-identical to the ops in turn.
   */
  activation?: BnActivation | null;
  /**
   * Added to the normalised output before the activation, act(bn(x) + residual) (a residual block's
   * tail), in the same kernel; like x. Its gradient is the (masked) output gradient, which the
   * backward sums write as they mask it.
   */
  residual?: Tensor | null;
}


/** f32 or, when each channel's run of HW values splits into vec4s, vec4<f32> (4x fewer loads). */
function vecWidth(HW: number): 1 | 4 { return HW % 4 === 0 ? 4 : 1; }

/** The defines of an x of `dtype`: HALF for f16 (stored as halves, computed and summed in f32). */
const halfDefine = (dtype: string): { HALF?: boolean } => (dtype === 'f16' ? { HALF: true } : {});

/**
 * The compute type T of load width W, the stored type XT (T, or halves with HALF) and, with HALF,
 * LD (widen a stored value to T) and STO (round a T to XT) for `{{LD(..)}}` / `{{STO(..)}}`.
 */
function storage(d: { W: 1 | 4; HALF?: boolean }): { T: string; XT: string; LD?: string; STO?: string } {
  const T = d.W === 4 ? 'vec4<f32>' : 'f32';
  if (!d.HALF) return { T, XT: T };
  const XT = d.W === 4 ? 'vec4<f16>' : 'f16';
  return { T, XT, LD: T, STO: XT };
}

/** The residual's binding (at `binding`) and its term in the output expression, with RES. */
function resBlocks(d: { W: 1 | 4; HALF?: boolean; RES?: number }, binding: number): Record<string, string> {
  const s = storage(d);
  return d.RES
    ? { RES_DECL: `@group(0) @binding(${binding}) var<storage, read> res: array<${s.XT}>;`, ADD_RES: ` + ${applyDefine(s.LD, 'res[i]')}` }
    : { RES_DECL: '', ADD_RES: '' };
}

/** What a per-channel kernel of load width W (vecWidth), storage (HALF), fused ACTIVATION (and bn_apply's RES) is built from. */
function vecBlocks(d: { W: 1 | 4; ACTIVATION: BnActivation | 'none'; HALF?: boolean; RES?: number }): Record<string, string> {
  const s = storage(d), T = s.T, act = d.ACTIVATION;
  return {
    ...s,
    ...resBlocks(d, 6),
    HSUM: d.W === 4 ? 'dot(v, vec4<f32>(1.0))' : 'v',
    SQ: d.W === 4 ? 'dot(d, d)' : 'd * d',
    // bn_apply: the activation of the output.
    ACT: act === 'relu' ? `select(v, ${T}(0.0), v < ${T}(0.0))` : act === 'relu6' ? `clamp(v, ${T}(0.0), ${T}(6.0))` : 'v',
    // bn_backward_partial: g masked by the activation's derivative, read from the output y.
    MASK_DECL: act !== 'none' ? `@group(0) @binding(5) var<storage, read> y: array<${s.XT}>;\n@group(0) @binding(6) var<storage, read_write> gm: array<${s.XT}>;` : '',
    LOAD_G: act !== 'none'
      ? `      let yv = ${applyDefine(s.LD, 'y[base + j]')};\n      let gv = select(${T}(0.0), ${applyDefine(s.LD, 'g[base + j]')}, ${act === 'relu' ? `yv > ${T}(0.0)` : `(yv > ${T}(0.0)) & (yv < ${T}(6.0))`});\n      gm[base + j] = ${applyDefine(s.STO, 'gv')};`
      : `      let gv = ${applyDefine(s.LD, 'g[base + j]')};`,
  };
}

const VEC_INCLUDE: Record<string, string[]> = {
  bn_partial: [flatIndex, chunkSrc], bn_backward_partial: [flatIndex, chunkSrc], bn_apply: [flatIndex, each], bn_backward_dx: [flatIndex, each],
};

function vecKernel(name: string, src: string, w: 1 | 4, act: BnActivation | null = null, dtype = 'f32', res = false): Kernel {
  return wgsl(name, src, {
    include: VEC_INCLUDE[name], defines: { W: w, ACTIVATION: (act ?? 'none') as BnActivation | 'none', ...halfDefine(dtype), ...(res ? { RES: 1 } : {}) }, blocks: vecBlocks,
  });
}

/**
 * Most values per channel (N * H * W) for which training mode runs as one dispatch forward
 * (bn_train) and one backward (bn_train_backward), a team of invocations per channel, instead of
 * the chunked partial sums, their merge, the running-stat update and the apply (4 forward, 3 backward):
 * small maps are where the dispatches cost more than the sums. Past it, the chunks spread a
 * channel's sums over more invocations.
 */
export const BN_ONE_PASS_MAX = 1 << 16;
let onePassMax = BN_ONE_PASS_MAX;
/** Sets the one-dispatch limit (0: always the chunked kernels; tests compare the two); returns the previous one. */
export function setBnOnePassMax(n: number): number {
  const old = onePassMax;
  onePassMax = Math.max(0, Math.floor(n));
  return old;
}

/** bn_train's running-statistics and counter bindings and code. */
function trainBlocks(d: { W: 1 | 4; ACTIVATION: BnActivation | 'none'; RUNNING: number; COUNTER: number; HALF?: boolean; RES?: number }): Record<string, string> {
  return {
    ...vecBlocks(d),
    ...resBlocks(d, 9),
    RUNNING_DECL: [
      ...(d.RUNNING ? ['@group(0) @binding(5) var<storage, read_write> runningMean: array<f32>;', '@group(0) @binding(6) var<storage, read_write> runningVar: array<f32>;'] : []),
      ...(d.COUNTER ? ['@group(0) @binding(7) var<storage, read_write> count: array<i32>;'] : []),
    ].join('\n'),
    RUNNING_UPDATE: [
      ...(d.RUNNING ? [
        '    let mo = params.momentum;',
        '    runningMean[c] = (1.0 - mo) * runningMean[c] + mo * m;',
        '    runningVar[c] = (1.0 - mo) * runningVar[c] + mo * v * params.unbias;',
      ] : []),
      ...(d.COUNTER ? ['    if (c == 0u) { count[0] = count[0] + 1; }'] : []),
    ].join('\n'),
  };
}

/** bn_train_backward's dx, activation-mask and masked-gradient (GM) bindings and code. */
function trainBackBlocks(d: { W: 1 | 4; ACTIVATION: BnActivation | 'none'; DX: number; HALF?: boolean; GM?: number }): Record<string, string> {
  const s = storage(d), T = s.T, act = d.ACTIVATION, ld = (e: string) => applyDefine(s.LD, e);
  return {
    ...s,
    GM_DECL: d.GM ? `@group(0) @binding(9) var<storage, read_write> gm: array<${s.XT}>;` : '',
    GM_STORE: d.GM ? `      gm[i] = ${applyDefine(s.STO, 'gv')};` : '',
    HSUM: vecBlocks(d).HSUM,
    DX_DECL: d.DX ? `@group(0) @binding(6) var<storage, read_write> dx: array<${s.XT}>;` : '',
    MASK_DECL: act !== 'none' ? `@group(0) @binding(7) var<storage, read> y: array<${s.XT}>;` : '',
    LOAD: act === 'none' ? `return ${ld('g[i]')};`
      : `return select(${T}(0.0), ${ld('g[i]')}, ${act === 'relu' ? `${ld('y[i]')} > ${T}(0.0)` : `(${ld('y[i]')} > ${T}(0.0)) & (${ld('y[i]')} < ${T}(6.0))`});`,
    DX_PASS: d.DX ? [
      '  for (var e = t; e < total; e += TEAM) {',
      '    let i = elem(c, e);',
      `    let xhat = (${ld('x[i]')} - st.x) * st.y;`,
      `    dx[i] = ${applyDefine(s.STO, 'weight[c] * st.y * (grad_at(i) - sg / params.M - xhat * (sgx / params.M))')};`,
      '  }',
    ].join('\n') : '',
  };
}

/**
 * Training-mode batch norm in one dispatch (bn_train; backward bn_train_backward), for x (N, C, HW)
 * with M = N * HW values per channel: the same expressions as the chunked kernels, the sums in a
 * team's tree order instead of chunk by chunk.
 */
function batchNormOnePass(x: Tensor, weight: Tensor | null, bias: Tensor | null, runningMean: Tensor | null, runningVar: Tensor | null,
  counter: Tensor | null, act: BnActivation | null, momentum: number, eps: number, N: number, C: number, HW: number, res: Tensor | null): Tensor {
  const rt = runtime(), M = N * HW, W = vecWidth(HW), HWv = HW / W, ACTIVATION = (act ?? 'none') as BnActivation | 'none';
  const team = teamFor(N * HWv), groups = teamGroups(C, team);
  const w = weight ?? full([C], 1), b = bias ?? full([C], 0);
  const stats = Tensor.alloc([C, 2]), out = Tensor.alloc(x.shape, x.dtype);
  const RUNNING = runningMean ? 1 : 0, COUNTER = counter ? 1 : 0, HALF = halfDefine(x.dtype), RES: { RES?: number } = res ? { RES: 1 } : {};
  rt.run(wgsl('bn_train', trainSrc, { include: [teamSrc, teamSumSrc], defines: { TEAM: team, SUM_T: 'f32', W, ACTIVATION, RUNNING, COUNTER, ...HALF, ...RES }, blocks: trainBlocks }),
    { x, out, stats, weight: w, shift: b, ...(RUNNING ? { runningMean: runningMean!, runningVar: runningVar! } : {}), ...(COUNTER ? { count: counter! } : {}), ...(res ? { res } : {}) },
    { rows: C, N, C, HWv, eps, momentum, unbias: M / (M - 1) }, groups);
  if (!bias) b.dispose();
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : []), ...(res ? [res] : [])];
  record(opName(act, res), inputs, out, (gOut, needs, [sx, sStats, sW, sY]) => {
    const needW = !!weight && needs[1], needB = !!bias && needs[weight ? 2 : 1], needR = !!res && needs[inputs.length - 1];
    checkGrad(gOut, x);
    // Without an activation the residual's gradient is the output gradient itself.
    const gRes = needR && !act ? gOut : null;
    if (!needs[0] && !needW && !needB && !(needR && act)) return residualGrads(inputs.length, gRes);
    const sumG = Tensor.alloc([C]), sumGXhat = Tensor.alloc([C]);
    const dx = needs[0] ? Tensor.alloc(x.shape, x.dtype) : null;
    const gm = needR && act ? Tensor.alloc(x.shape, x.dtype) : null;
    rt.run(wgsl('bn_train_backward', trainBackSrc, {
      include: [teamSrc, teamSumSrc], defines: { TEAM: team, SUM_T: 'vec2<f32>', W, ACTIVATION, DX: dx ? 1 : 0, ...HALF, ...(gm ? { GM: 1 } : {}) }, blocks: trainBackBlocks,
    }), { g: gOut, x: sx, stats: sStats, weight: sW, sumG, sumGXhat, ...(dx ? { dx } : {}), ...(act ? { y: sY } : {}), ...(gm ? { gm } : {}) }, { rows: C, N, C, HWv, M }, groups);
    const grads: (Tensor | null)[] = [dx];
    if (weight) grads.push(needW ? sumGXhat : null);
    if (bias) grads.push(needB ? sumG : null);
    if (res) grads.push(gm ?? gRes);
    if (!needW) sumGXhat.dispose();
    if (!needB) sumG.dispose();
    return grads;
  }, [x, stats, w, ...(act ? [out] : [])]);
  stats.dispose();
  if (!weight) w.dispose();
  return out;
}

/** The op's tape name: batchNorm2d[+residual][+act]. */
const opName = (act: BnActivation | null, res: Tensor | null) => `batchNorm2d${res ? '+residual' : ''}${act ? '+' + act : ''}`;

/** bn_update's count binding and increment, where it keeps a step counter. */
function updateBlocks(d: { COUNTER: number }): Record<string, string> {
  return d.COUNTER
    ? { COUNT_DECL: '@group(0) @binding(5) var<storage, read_write> count: array<i32>;', COUNT: '  if (c == 0u) { count[0] = count[0] + 1; }' }
    : { COUNT_DECL: '', COUNT: '' };
}

/** Gradients of a backward that needs none of x, weight, bias: null for each, `gRes` for the residual (last). */
function residualGrads(n: number, gRes: Tensor | null): (Tensor | null)[] {
  const grads: (Tensor | null)[] = new Array(n).fill(null);
  grads[n - 1] = gRes;
  return grads;
}

/** An activation batchNorm2d can fuse (forward in bn_apply, its mask in the backward sums). */
export type BnActivation = 'relu' | 'relu6';

/**
 * How the per-channel reductions split the batch: K chunks of nPer batch items per channel, enough
 * invocations to fill the device without making chunks tiny, and no empty chunk.
 */
export function bnChunks(N: number, C: number, HW: number): { K: number; nPer: number } {
  const want = Math.max(1, Math.min(N, Math.ceil(4096 / C), Math.floor(N * HW / 256)));
  const nPer = Math.ceil(N / want);
  return { K: Math.ceil(N / nPer), nPer };
}

/** Refuses an output gradient whose dtype is not x's. */
function checkGrad(g: Tensor, x: Tensor): void {
  if (g.dtype !== x.dtype) throw new ShapeError(`batchNorm2d backward: the output gradient has dtype ${g.dtype} and argument 'x' ${x.dtype}; cast() it to ${x.dtype}`);
}

function checkVec(name: string, t: Tensor | null, C: number): void {
  if (t && (t.size !== C || t.dtype !== 'f32')) {
    throw new ShapeError(`batchNorm2d: argument '${name}' has shape ${shapeStr(t.shape)} ${t.dtype}, expected [${C}] f32 (one per channel)`);
  }
}

/**
 * out = (x - center[c]) * scale[c] + shift[c] over (N, C, HW). Centring first keeps precision when
 * the mean is large against the spread (folding it into the shift would cancel in f32).
 */
function channelAffine(x: Tensor, center: Tensor, scale: Tensor, shift: Tensor, C: number, HW: number, act: BnActivation | null = null, res: Tensor | null = null): Tensor {
  const out = Tensor.alloc(x.shape, x.dtype);
  const w = vecWidth(HW);
  const { groups, stride } = launch1d(x.size / w);
  runtime().run(vecKernel('bn_apply', applySrc, w, act, x.dtype, !!res), { x, center, scale, shift, out, ...(res ? { res } : {}) }, { n: x.size / w, stride, C, HWv: HW / w }, groups);
  return out;
}

/**
 * Batch norm of x (N, C, ...) with per-channel `weight`/`bias` (null: affine off) and running stats
 * (null: batch statistics always, as track_running_stats=False). In training mode the running stats
 * are updated in place; the caller (the BatchNorm2d module) counts `num_batches_tracked`.
 */
export function batchNorm2d(x: Tensor, weight: Tensor | null, bias: Tensor | null, runningMean: Tensor | null, runningVar: Tensor | null,
  opts: BatchNormOptions = {}): Tensor {
  if (x.rank < 2 || (x.dtype !== 'f32' && x.dtype !== 'f16')) throw new ShapeError(`batchNorm2d: argument 'x' has shape ${shapeStr(x.shape)} ${x.dtype}, expected (N, C, ...) f32 or f16`);
  const training = opts.training ?? false, momentum = opts.momentum ?? 0.1, eps = opts.eps ?? 1e-5;
  if (!(eps > 0)) throw new ThawError('argument', `batchNorm2d: eps must be positive, got ${eps}`);
  if (!(momentum >= 0 && momentum <= 1)) throw new ThawError('argument', `batchNorm2d: momentum must be in [0, 1], got ${momentum}`);
  if (!runningMean !== !runningVar) throw new ThawError('argument', 'batchNorm2d: give both runningMean and runningVar, or neither');
  const [N, C] = x.shape;
  const HW = x.shape.slice(2).reduce((a, b) => a * b, 1);
  for (const [n, t] of [['weight', weight], ['bias', bias], ['runningMean', runningMean], ['runningVar', runningVar]] as const) checkVec(n, t, C);
  const M = N * HW;
  const useBatch = training || !runningMean;
  if (useBatch && M < 2) throw new ShapeError(`batchNorm2d: batch statistics need more than 1 value per channel, got input ${shapeStr(x.shape)}`);
  const act = opts.activation ?? null;
  if (act && act !== 'relu' && act !== 'relu6') throw new ThawError('argument', `batchNorm2d: activation must be 'relu' or 'relu6', got ${act}`);
  const counter = training ? opts.counter ?? null : null;
  if (counter && (counter.dtype !== 'i32' || counter.size !== 1)) throw new ShapeError(`batchNorm2d: counter must be a one-element i32 tensor, got ${shapeStr(counter.shape)} ${counter.dtype}`);
  const res = opts.residual ?? null;
  if (res && (!sameShape(res.shape, x.shape) || res.dtype !== x.dtype)) {
    throw new ShapeError(`batchNorm2d: argument 'residual' has shape ${shapeStr(res.shape)} ${res.dtype}, expected ${shapeStr(x.shape)} ${x.dtype} (like x)`);
  }
  if (useBatch && M <= onePassMax) return batchNormOnePass(x, weight, bias, training ? runningMean : null, training ? runningVar : null, counter, act, momentum, eps, N, C, HW, res);
  const rt = runtime();
  const cg: [number] = [Math.ceil(C / 64)];
  const mean = Tensor.alloc([C]), invstd = Tensor.alloc([C]);
  // The affine scale weight * invstd is written by the statistics kernels themselves.
  const w = weight ?? full([C], 1), b = bias ?? full([C], 0);
  const scale = Tensor.alloc([C]);
  if (useBatch) {
    const variance = Tensor.alloc([C]);
    const { K, nPer } = bnChunks(N, C, HW), vw = vecWidth(HW);
    const part = Tensor.alloc([C, K, 2]);
    const l = launch1d(C * K);
    rt.run(vecKernel('bn_partial', partialSrc, vw, null, x.dtype), { x, part }, { N, C, HWv: HW / vw, K, nPer, stride: l.stride }, l.groups);
    rt.run(wgsl('bn_merge', mergeSrc, { include: [channelSrc, statsSrc] }), { part, mean, invstd, variance, weight: w, scale }, { N, C, HW, K, nPer, eps }, cg);
    part.dispose();
    if (training && runningMean && runningVar) {
      const withCount = counter ? 1 : 0;
      rt.run(wgsl('bn_update', updateSrc, {
        include: [channelSrc],
        defines: { COUNTER: withCount },
        blocks: updateBlocks,
      }), counter ? { runningMean, runningVar, mean, variance, count: counter } : { runningMean, runningVar, mean, variance },
      { C, momentum, unbias: M / (M - 1) }, cg);
    } else if (counter) incrementCounter(counter);
    variance.dispose();
  } else {
    rt.run(wgsl('bn_running', runningSrc, { include: [channelSrc, statsSrc] }), { runningMean: runningMean!, runningVar: runningVar!, mean, invstd, weight: w, scale }, { C, eps }, cg);
    if (counter) incrementCounter(counter);
  }
  const out = channelAffine(x, mean, scale, b, C, HW, act, res);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : []), ...(res ? [res] : [])];
  record(opName(act, res), inputs, out, (gOut, needs, [sx, sMean, sInv, sW, sScale, sY]) => {
    const needW = !!weight && needs[1], needB = !!bias && needs[weight ? 2 : 1], needR = !!res && needs[inputs.length - 1];
    let sumG: Tensor | null = null, sumGXhat: Tensor | null = null;
    // With an activation, g is the masked gradient: written by the backward sums when they run.
    checkGrad(gOut, x);
    let g = gOut, masked: Tensor | null = null;
    if (needW || needB || (needs[0] && useBatch)) {
      sumG = Tensor.alloc([C]); sumGXhat = Tensor.alloc([C]);
      const { K, nPer } = bnChunks(N, C, HW), vw = vecWidth(HW);
      const part = Tensor.alloc([C, K, 2]);
      const l = launch1d(C * K);
      if (act) masked = g = Tensor.alloc(x.shape, x.dtype);
      rt.run(vecKernel('bn_backward_partial', backPartialSrc, vw, act, x.dtype), act ? { g: gOut, x: sx, mean: sMean, part, y: sY, gm: masked! } : { g, x: sx, mean: sMean, part },
        { N, C, HWv: HW / vw, K, nPer, stride: l.stride }, l.groups);
      rt.run(wgsl('bn_backward_merge', backMergeSrc, { include: [channelSrc] }), { part, invstd: sInv, sumG, sumGXhat }, { C, K }, cg);
      part.dispose();
    } else if (act && (needs[0] || needR)) {
      masked = g = activationBackward(act, sY, gOut);
    }
    let dx: Tensor | null = null;
    if (needs[0] && useBatch) {
      dx = Tensor.alloc(x.shape, x.dtype);
      const vw = vecWidth(HW);
      const { groups, stride } = launch1d(x.size / vw);
      rt.run(vecKernel('bn_backward_dx', backDxSrc, vw, null, x.dtype),
        { g, x: sx, mean: sMean, invstd: sInv, weight: sW, sumG: sumG!, sumGXhat: sumGXhat!, dx }, { n: x.size / vw, stride, C, HWv: HW / vw, M }, groups);
    } else if (needs[0]) {
      const zero = full([C], 0);
      dx = channelAffine(g, zero, sScale, zero, C, HW);
      zero.dispose();
    }
    const grads: (Tensor | null)[] = [dx];
    if (weight) grads.push(needW ? sumGXhat : null);
    if (bias) grads.push(needB ? sumG : null);
    // The residual's gradient: the masked gradient (kept), or the output gradient without an activation.
    if (res) grads.push(needR ? g : null);
    if (!needW) sumGXhat?.dispose();
    if (!needB) sumG?.dispose();
    if (!needR) masked?.dispose();
    return grads;
  }, [x, mean, invstd, w, scale, ...(act ? [out] : [])]);
  for (const t of [mean, invstd, scale]) t.dispose();
  if (!weight) w.dispose();
  if (!bias) b.dispose();
  return out;
}

/** Adds one to an i32 counter tensor in place on the GPU (num_batches_tracked). */
export function incrementCounter(count: Tensor): void {
  if (count.dtype !== 'i32' || count.size !== 1) throw new ShapeError(`incrementCounter: expected a one-element i32 tensor, got ${shapeStr(count.shape)} ${count.dtype}`);
  runtime().run(wgsl('bn_count', countSrc), { count }, {}, [1]);
}
