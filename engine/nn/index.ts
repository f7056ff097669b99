/**
 * Neural-network layers with PyTorch's names, defaults and state_dict keys, and the module roles.
 * @module
 */
export { Conv2d, type Conv2dConfig } from './conv.ts';
export { BatchNorm2d, type BatchNorm2dConfig } from './norm.ts';
export { Linear, type LinearConfig } from './linear.ts';
export { ReLU, ReLU6, SiLU, Hardswish, Hardsigmoid, GELU, LeakyReLU, Identity, Flatten, Permute, Dropout } from './activation.ts';
export { LayerNorm, LayerNorm2d } from './layer_norm.ts';
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d } from './pooling.ts';
export { Sequential } from './container.ts';
export { type Normalization, type Stochastic, NORMALIZATION, STOCHASTIC, isNormalization, isStochastic, batchDependentInTraining, drawSeed } from './roles.ts';
export { torchDefaultInit } from './init.ts';
export * as F from './functional.ts';
export { addN, concatChannels } from './functional.ts';
export { convBnAct, canFold, foldedConvBn, invalidateFolds } from './fused.ts';
export { ConvNormAct, type ConvNormActConfig, type ConvNormActivation } from './conv_norm_act.ts';
export { SqueezeExcitation, type SqueezeActivation, type ScaleActivation } from './squeeze_excitation.ts';
export { StochasticDepth, type StochasticDepthMode } from './stochastic_depth.ts';
