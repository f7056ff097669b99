/** The functional op surface: every kernel's public entry point, re-exported in one place. */
export * from '../kernels/elementwise/elementwise.ts';
export { sum, mean, max, sumTo } from '../kernels/reduce/reduce.ts';
export { reshape } from './shape.ts';
