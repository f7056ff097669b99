/**
 * The op facade: every kernel's entry point that code above the kernels (autograd, nn, optim, train,
 * models, the CLI) may call. Op folders import each other directly; nothing else reaches into them.
 */
export {
  add, sub, mul, div, neg, exp, log, sqrt, square, affine, mulScalar, addScalar, powScalar,
  relu, relu6, leakyRelu, sigmoid, tanh, gelu, silu, hardswish, hardsigmoid, addRelu, unary, binary, compare, broadcastTo,
  type UnaryOp, type BinaryOp,
} from './elementwise/elementwise.ts';
export { cast } from './cast/cast.ts';
export { sum, mean, max, sumTo, type ReduceOptions } from './reduce/reduce.ts';
export { matmul, linear, type MatmulVariant, type MatmulOptions } from './matmul/matmul.ts';
export {
  conv2d, constantWeights, releaseConstantWeights,
  type Conv2dOptions, type ConvActivation, type ConvVariant, type Padding,
} from './conv2d/conv2d.ts';
export { softmax, logSoftmax, crossEntropy, type CrossEntropyOptions } from './softmax/softmax.ts';
export { permute, transpose } from './permute/permute.ts';
export { slice, concat } from './slice/slice.ts';
export { gather, type GatherOptions } from './gather/gather.ts';
export { maxPool2d, maxPool2dWithIndices, avgPool2d, globalAvgPool2d, type Pool2dOptions } from './pool/pool.ts';
export { batchNorm2d, type BatchNormOptions, type BnActivation } from './batchnorm/batchnorm.ts';
export { pad2d, type Padding2d } from './pad/pad.ts';
export { dropout } from './dropout/dropout.ts';
export { resize2d, type ResizeOptions, type ResizeMode } from './resize/resize.ts';
export { layerNorm } from './layernorm/layernorm.ts';
export { attention, type AttentionImpl, type AttentionOptions } from './attention/attention.ts';
export { sgdUpdate, adamUpdate } from './optim/optim.ts';
export { sgdMulti, adamMulti, scaleMulti, type SgdItem, type AdamItem } from './optim/multi.ts';
export { globalNorm } from './optim/clip.ts';
export {
  checkFinite, findNonFinite, encodeFiniteCheck, describeNonFinite, NonFiniteError,
  type NonFiniteReport, type PendingFiniteCheck, type FiniteWhat,
} from './finite/finite.ts';
