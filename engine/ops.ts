/** The functional op surface: every kernel's public entry point, re-exported in one place. */
export * from '../kernels/elementwise/elementwise.ts';
export { sum, mean, max, sumTo } from '../kernels/reduce/reduce.ts';
export { reshape } from './shape.ts';
export { matmul, linear } from '../kernels/matmul/matmul.ts';
export { conv2d } from '../kernels/conv2d/conv2d.ts';
export { softmax, logSoftmax, crossEntropy } from '../kernels/softmax/softmax.ts';
export { permute, transpose } from '../kernels/permute/permute.ts';
export { slice, concat } from '../kernels/slice/slice.ts';
export { gather } from '../kernels/gather/gather.ts';
export { maxPool2d, avgPool2d, globalAvgPool2d } from '../kernels/pool/pool.ts';
export { batchNorm2d } from '../kernels/batchnorm/batchnorm.ts';
export { pad2d } from '../kernels/pad/pad.ts';
export { dropout } from '../kernels/dropout/dropout.ts';
export { resize2d } from '../kernels/resize/resize.ts';
export { layerNorm } from '../kernels/layernorm/layernorm.ts';
export { attention } from '../kernels/attention/attention.ts';
