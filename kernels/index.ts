/**
 * The op facade: every kernel's entry point that code above the kernels (autograd, nn, optim, train,
 * models, the CLI) may call. Op folders import each other directly; nothing else reaches into them.
 * The ops in autocast.ts's policy table are exported through `autocastOp`, which applies the policy
 * inside an `autocast` region and is a plain call outside one.
 */
import * as ew from './elementwise/elementwise.ts';
import * as red from './reduce/reduce.ts';
import * as mm from './matmul/matmul.ts';
import * as conv from './conv2d/conv2d.ts';
import * as sm from './softmax/softmax.ts';
import * as perm from './permute/permute.ts';
import * as sl from './slice/slice.ts';
import * as ga from './gather/gather.ts';
import * as pool from './pool/pool.ts';
import * as bn from './batchnorm/batchnorm.ts';
import * as pd from './pad/pad.ts';
import * as dr from './dropout/dropout.ts';
import * as rs from './resize/resize.ts';
import * as ln from './layernorm/layernorm.ts';
import * as at from './attention/attention.ts';
import { autocastOp } from './autocast.ts';

export {
  neg, exp, log, sqrt, square, affine, mulScalar, addScalar, powScalar,
  relu, relu6, leakyRelu, sigmoid, tanh, gelu, silu, hardswish, hardsigmoid, unary, broadcastTo,
  type UnaryOp, type BinaryOp,
} from './elementwise/elementwise.ts';
export const add = autocastOp('add', ew.add);
export const sub = autocastOp('sub', ew.sub);
export const mul = autocastOp('mul', ew.mul);
export const div = autocastOp('div', ew.div);
export const addRelu = autocastOp('addRelu', ew.addRelu);
export const binary = autocastOp('binary', ew.binary);
export const compare = autocastOp('compare', ew.compare);
export { cast } from './cast/cast.ts';
export { autocast, autocasting, HalfWeights, AUTOCAST_POLICY } from './autocast.ts';
export type { ReduceOptions } from './reduce/reduce.ts';
export const sum = autocastOp('sum', red.sum);
export const mean = autocastOp('mean', red.mean);
export const max = autocastOp('max', red.max);
export const sumTo = autocastOp('sumTo', red.sumTo);
export type { MatmulVariant, MatmulOptions } from './matmul/matmul.ts';
export const matmul = autocastOp('matmul', mm.matmul);
export const linear = autocastOp('linear', mm.linear);
export type { EpilogueAct } from './matmul/matmul.ts';
export const linearAct = autocastOp('linearAct', mm.linearAct);
export { constantWeights, releaseConstantWeights, type Conv2dOptions, type ConvActivation, type ConvVariant, type Padding } from './conv2d/conv2d.ts';
export const conv2d = autocastOp('conv2d', conv.conv2d);
export type { CrossEntropyOptions } from './softmax/softmax.ts';
export const softmax = autocastOp('softmax', sm.softmax);
export const logSoftmax = autocastOp('logSoftmax', sm.logSoftmax);
export const crossEntropy = autocastOp('crossEntropy', sm.crossEntropy);
export const permute = autocastOp('permute', perm.permute);
export const transpose = autocastOp('transpose', perm.transpose);
export const slice = autocastOp('slice', sl.slice);
export const concat = autocastOp('concat', sl.concat);
export type { GatherOptions, GatherRows } from './gather/gather.ts';
export const gather = autocastOp('gather', ga.gather);
export const gatherSum = autocastOp('gatherSum', ga.gatherSum);
export type { Pool2dOptions } from './pool/pool.ts';
export const maxPool2d = pool.maxPool2d;
export const maxPool2dWithIndices = pool.maxPool2dWithIndices;
export const avgPool2d = pool.avgPool2d;
export const globalAvgPool2d = pool.globalAvgPool2d;
export type { BatchNormOptions, BnActivation } from './batchnorm/batchnorm.ts';
export const batchNorm2d = bn.batchNorm2d;
export type { Padding2d } from './pad/pad.ts';
export const pad2d = autocastOp('pad2d', pd.pad2d);
export const subsamplePad = pd.subsamplePad;
export const dropout = autocastOp('dropout', dr.dropout);
export type { ResizeOptions, ResizeMode } from './resize/resize.ts';
export const resize2d = autocastOp('resize2d', rs.resize2d);
export const layerNorm = autocastOp('layerNorm', ln.layerNorm);
export type { ResidualDropout } from './layernorm/layernorm.ts';
export type { FusedDropout } from './dropout/dropout.ts';
export const residualLayerNorm = autocastOp('residualLayerNorm', ln.residualLayerNorm);
export type { AttentionImpl, AttentionOptions } from './attention/attention.ts';
export const attention = autocastOp('attention', at.attention);
export { sgdUpdate, adamUpdate } from './optim/optim.ts';
export { sgdMulti, adamMulti, scaleMulti, type SgdItem, type AdamItem } from './optim/multi.ts';
export { globalNorm } from './optim/clip.ts';
export { unscaleMulti, lossScaleUpdate, type LossScaleArgs } from './optim/loss_scale.ts';
export {
  checkFinite, findNonFinite, encodeFiniteCheck, describeNonFinite, NonFiniteError,
  type NonFiniteReport, type PendingFiniteCheck, type FiniteWhat,
} from './finite/finite.ts';
