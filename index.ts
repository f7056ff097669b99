/**
 * thaw — a tensor engine with hand-written WebGPU kernels, built for transfer learning.
 * This entry is browser-safe; `node.ts` adds the Node-only file-system helpers.
 */
// Kept in the emitted dist/types/index.d.ts, so a project using thaw's types sees WebGPU's global
// types (GPUDevice, GPUBuffer) without listing @webgpu/types itself.
/// <reference types="@webgpu/types" preserve="true" />
export { init, runtime, type Runtime } from './engine/runtime.ts';
export { profile, formatProfile, type ProfileReport, type ProfileRow } from './engine/profile.ts';
export { getGpu, resetGpu, type Gpu, type AdapterSummary } from './engine/device.ts';
export { Tensor, tidy, keep, dispose, type DType, type Shape } from './engine/tensor.ts';
export { tensor, assign, clone } from './engine/factory.ts';
export { backward, noGrad, variable, gradEnabled } from './engine/autograd.ts';
export { ThawError, ShapeError, DeviceError, LimitError } from './engine/errors.ts';
export * from './engine/ops.ts';
export { Module } from './engine/module.ts';
export * as nn from './engine/nn/index.ts';
export { SGD, Adam, AdamW, Scheduler, clipGradNorm, constant, stepDecay, cosine, linear as linearSchedule, warmup, oneCycle } from './engine/optim/index.ts';
export { freeze, unfreeze, freezeTo, parseFreezeSpec, trainableSummary } from './engine/freeze.ts';
export { loadStateDict, describeLoad, loadGap, nonFiniteSummary, stateToHost, type LoadReport, type LoadOptions } from './engine/load.ts';
export { finetune, evaluate, computeFeatures, computeCache, planCache, cacheBlocker, type FinetuneOptions, type FinetuneResult, type FeatureCache, type CachePlan } from './engine/finetune.ts';
export { parseCheckpoint, writeSafetensors, parseSafetensors, writePytorchZip, type Checkpoint, type HostTensor } from './engine/io/index.ts';
export * from './engine/data/index.ts';
export { ZOO, getZooEntry, modelNames } from './engine/zoo.ts';
export { resnet20, ResNetCifar } from './models/resnet_cifar.ts';
export type { Classifier } from './models/types.ts';
export { BertModel, BertForSequenceClassification, bertInputs, bertConfig, bertConfigFromHf, BERT_BASE, BERT_TINY, loadBertWeights, type BertConfig } from './models/bert.ts';
export * from './engine/text/index.ts';
