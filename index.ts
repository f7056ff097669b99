/**
 * thaw — a tensor engine with hand-written WebGPU kernels, built for transfer learning.
 * This entry is browser-safe; `node.ts` adds the Node-only file-system helpers.
 */
// Kept in the emitted dist/types/index.d.ts, so a project using thaw's types sees WebGPU's global
// types (GPUDevice, GPUBuffer) without listing @webgpu/types itself.
/// <reference types="@webgpu/types" preserve="true" />
export { init, runtime, type Runtime, profile, withTuning } from './engine/core/runtime.ts';
export {
  TUNINGS, type Tuning, type TuningPatch, type TuningName,
  type ConvTuning, type DepthwiseTuning, type MatmulTuning, type ReduceTuning, type AttentionTuning,
} from './engine/core/tuning.ts';
export { formatProfile, type ProfileReport, type ProfileRow } from './engine/core/profiler.ts';
export { record, Recording, type Recorded } from './engine/core/recording.ts';
export { live, Live } from './engine/core/live.ts';
export { getGpu, resetGpu, type Gpu, type AdapterSummary } from './engine/core/device.ts';
export { Tensor, tidy, keep, dispose, type DType, type Shape, noGrad, gradEnabled } from './engine/core/tensor.ts';
export { tensor, tensorFromHalfBits, assign, clone } from './engine/core/factory.ts';
export { backward } from './engine/autograd/backward.ts';
export { variable } from './engine/core/tape.ts';
export { ThawError, ShapeError, DeviceError, LimitError } from './engine/core/errors.ts';
export { zeros, ones, full, zerosLike, onesLike } from './engine/core/factory.ts';
export { reshape } from './engine/core/shape.ts';
export {
  add, sub, mul, div, neg, exp, log, sqrt, square, affine, mulScalar, addScalar, powScalar,
  relu, relu6, leakyRelu, sigmoid, tanh, gelu, silu, hardswish, hardsigmoid, broadcastTo,
  cast, sum, mean, max, sumTo, matmul, linear, conv2d, softmax, logSoftmax, crossEntropy, permute, transpose,
  slice, concat, gather, maxPool2d, avgPool2d, globalAvgPool2d, batchNorm2d, pad2d, dropout, resize2d,
  layerNorm, attention, autocast, autocasting, HalfWeights, AUTOCAST_POLICY, checkFinite, findNonFinite, encodeFiniteCheck, describeNonFinite, NonFiniteError,
  type NonFiniteReport, type PendingFiniteCheck,
  type Conv2dOptions, type Padding, type Pool2dOptions, type BatchNormOptions, type ResizeOptions, type AttentionOptions,
  type AttentionImpl, type BnActivation, type ConvActivation, type ConvVariant, type CrossEntropyOptions, type GatherOptions,
  type MatmulOptions, type MatmulVariant, type FiniteWhat, type ReduceOptions,
} from './kernels/index.ts';
export { Module, type Init } from './engine/nn/module.ts';
export { type Normalization, type Stochastic, isNormalization, isStochastic } from './engine/nn/roles.ts';
export * as nn from './engine/nn/index.ts';
export {
  SGD, Adam, AdamW, Scheduler, clipGradNorm, LossScaler, type LossScalerOptions, constant, stepDecay, cosine, linear as linearSchedule, warmup, oneCycle,
  type Optimizer, type ParamGroup, type OptimizerStateDict, type Schedule, type SchedulerState, type OneCycleOptions,
} from './engine/optim/index.ts';
export { freeze, unfreeze, freezeTo, parseFreezeSpec, trainableSummary, type FreezeSpec, type FreezeOptions, type Grouped } from './engine/train/freeze.ts';
export {
  lora, mergeLora, unmergeLora, isLoraMerged, loraConfig, hasLora, loadLoraBytes, loraStateDict, parseLoraTarget, peftConfigJson, LORA_PRESETS,
  type LoraOptions, type LoraConfig, type LoraTarget, type LoraPreset, type SaveLoraOptions, type LoadLoraOptions,
} from './engine/train/lora.ts';
export { loadStateDict, describeLoad, loadGap, nonFiniteSummary, stateToHost, type LoadReport, type LoadOptions, type RemapRule } from './engine/train/load.ts';
export { warmupPipelines, type WarmupOptions, type WarmupResult } from './engine/train/warmup.ts';
export { finetune, warmupFinetune, evaluate, computeFeatures, computeCache, planCache, cacheBlocker, type FinetuneOptions, type FinetuneResult, type FeatureCache, type CachePlan,
  type EpochStats, type Progress,
} from './engine/train/finetune.ts';
export { parseCheckpoint, writeSafetensors, parseSafetensors, writePytorchZip, type Checkpoint, type HostTensor, type CheckpointFormat, type ParseOptions } from './engine/io/index.ts';
export {
  DataFormatError, DataMissingError, DataArgError, UnknownModelError, ChecksumError, ModelUnavailableError,
  Rng, shuffle, permutation, randn, randu, type RngState,
  parseIdx, parseIdxImageSet, encodeIdxU8, FASHION_MNIST_CLASSES, type IdxData, type IdxTensor, type IdxImageSet,
  fromRgba, fromGray, resizeBilinear, resizeBicubic, toChw, replicateChannels, normalize, flipHorizontal, randomHorizontalFlip,
  pad, crop, randomCrop, centerCrop, type Image, type ResizeMode,
  preprocess, checkPreprocessSpec, resizeModeOf, withInputSize, resizeForSpec, IMAGENET_MEAN, IMAGENET_STD, type PreprocessSpec, type Augment,
  arrayDataset, mapDataset, subset, subsetPerClass, stratifiedSample, countPerClass, labelsOf, idxDataset,
  batches, type ImageSetDataset, type Example, type Dataset, type Batch, type BatchOptions,
} from './engine/data/index.ts';
export { ZOO, getZooEntry, modelNames, hubHashPrefix, sha256Matches, type ZooEntry, type Architecture } from './models/zoo.ts';
export { inferConfig, buildFromConfig, detectFamily, describeConfig, FAMILIES, type Family, type TorchvisionConfig } from './models/zoo_infer.ts';
export { resnet20, ResNetCifar } from './models/resnet_cifar.ts';
export type { Classifier, Stage } from './engine/train/types.ts';
export { BertModel, BertForSequenceClassification, bertInputs, bertConfig, bertConfigFromHf, BERT_BASE, BERT_TINY, loadBertWeights, type BertConfig, type BertActivation, type BertEncoderOutput } from './models/bert.ts';
export { basicTokenize, WordPiece, type BasicOptions, type WordPieceOptions, type EncodeOptions, type Encoding, type EncodedBatch } from './engine/text/index.ts';
