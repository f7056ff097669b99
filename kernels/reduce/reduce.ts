/**
 * Reductions (sum, mean, max) over any set of axes, with keepdims. Adjacent reduced (or kept) axes
 * that are contiguous in memory are merged first, so most reductions run as rank-1/rank-2 loops.
 */
import reduceSrc from './reduce.wgsl';
import reduceSmallSrc from './reduce_small.wgsl';
import reduceCommonSrc from './reduce_common.wgsl';
import { Tensor, type Shape, shapeStr } from '../../engine/tensor.ts';
import { runtime, grid, template } from '../../engine/runtime.ts';
import { record } from '../../engine/autograd.ts';
import { ShapeError } from '../../engine/errors.ts';
import { broadcastTo, mul, div, mulScalar, compare } from '../elementwise/elementwise.ts';

export type ReduceOp = 'sum' | 'max';

const COMBINE: { [K in ReduceOp]: { combine: string; init: string; ref: (a: number, b: number) => number; init0: number } } = {
  sum: { combine: 'a + b', init: '0.0', ref: (a, b) => a + b, init0: 0 },
  max: { combine: 'max(a, b)', init: '-3.402823e38', ref: Math.max, init0: -Infinity },
};

/** Normalises `axes` (negative allowed; undefined = all) to a sorted unique list. */
export function normAxes(op: string, rank: number, axes?: number | number[]): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = (Array.isArray(axes) ? axes : [axes]).map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) throw new ShapeError(`${op}: axis ${a} is out of range for rank ${rank}`);
    return a < 0 ? a + rank : a;
  });
  return [...new Set(list)].sort((x, y) => x - y);
}

interface Dims { shape: number[]; stride: number[] }

/** Splits dims into kept/reduced (with memory strides) and merges mergeable neighbours. */
function plan(shape: Shape, axes: number[]): { kept: Dims; red: Dims } {
  const strides: number[] = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { strides[i] = acc; acc *= shape[i]; }
  const kept: Dims = { shape: [], stride: [] }, red: Dims = { shape: [], stride: [] };
  const isRed = new Set(axes);
  let prevGroup: Dims | null = null;
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const g = isRed.has(i) ? red : kept;
    const n = g.shape.length;
    // Merge with the previous dim of the same group when it is directly outside this one in memory.
    if (prevGroup === g && n > 0 && g.stride[n - 1] === strides[i] * shape[i]) {
      g.shape[n - 1] *= shape[i];
      g.stride[n - 1] = strides[i];
    } else {
      g.shape.push(shape[i]);
      g.stride.push(strides[i]);
    }
    prevGroup = g;
  }
  return { kept, red };
}

function reduceRaw(op: ReduceOp, x: Tensor, axes: number[], scale: number): Tensor {
  const outShape = x.shape.filter((_, i) => !axes.includes(i));
  const { kept, red } = plan(x.shape, axes);
  if (kept.shape.length > 8 || red.shape.length > 8) throw new ShapeError(`${op}: rank > 8 is not supported`);
  void x.buffer;
  const out = Tensor.alloc(outShape);
  const nOut = out.size;
  const nRed = red.shape.reduce((a, b) => a * b, 1);
  const pad = (v: number[]) => [...v, ...new Array(8 - v.length).fill(1)];
  const v4 = (v: number[], k: number) => pad(v).slice(4 * k, 4 * k + 4);
  const params = {
    nOut, nRed, keptRank: kept.shape.length, redRank: red.shape.length, scale,
    keptShape0: v4(kept.shape, 0), keptShape1: v4(kept.shape, 1), keptStride0: v4(kept.stride, 0), keptStride1: v4(kept.stride, 1),
    redShape0: v4(red.shape, 0), redShape1: v4(red.shape, 1), redStride0: v4(red.stride, 0), redStride1: v4(red.stride, 1),
  };
  const c = COMBINE[op];
  // Short reductions over many outputs: one invocation each. Long ones: one workgroup each.
  if (nRed <= 32 || (nRed <= 256 && nOut >= 4096)) {
    const [gx, gy] = grid(Math.ceil(nOut / 64));
    runtime().run({ key: `reduce_small:${op}`, code: () => template(reduceCommonSrc + reduceSmallSrc, { COMBINE: c.combine, INIT: c.init }) },
      { x, out }, { ...params, stride: gx * 64 }, [gx, gy]);
  } else {
    const [gx, gy] = grid(nOut);
    runtime().run({ key: `reduce:${op}`, code: () => template(reduceCommonSrc + reduceSrc, { COMBINE: c.combine, INIT: c.init }) },
      { x, out }, { ...params, stride: gx }, [gx, gy]);
  }
  return out;
}

function keepShape(shape: Shape, axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  const ax = normAxes('sum', x.rank, axes);
  const r = reduceRaw('sum', x, ax, 1);
  const out = keepdims ? reshapeOwned(r, keepShape(x.shape, ax)) : r;
  return record('sum', [x], out, (g) => [broadcastTo(g.alias(keepShape(x.shape, ax)), x.shape)]);
}

/** Mean over `axes` (all when omitted). */
export function mean(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  const ax = normAxes('mean', x.rank, axes);
  const n = ax.reduce((a, i) => a * x.shape[i], 1);
  const r = reduceRaw('sum', x, ax, 1 / Math.max(n, 1));
  const out = keepdims ? reshapeOwned(r, keepShape(x.shape, ax)) : r;
  return record('mean', [x], out, (g) => {
    const b = broadcastTo(g.alias(keepShape(x.shape, ax)), x.shape);
    return [binaryScalarMul(b, 1 / Math.max(n, 1))];
  });
}

/** Max over `axes`; the gradient is split evenly among tied maxima (like torch.amax). */
export function max(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  const ax = normAxes('max', x.rank, axes);
  const r = reduceRaw('max', x, ax, 1);
  const out = keepdims ? reshapeOwned(r, keepShape(x.shape, ax)) : r;
  return record('max', [x], out, (g, _n, [sx, sm]) => {
    const ks = keepShape(x.shape, ax);
    const mask = eqMask(sx, sm.alias(ks));
    const count = reduceRaw('sum', mask, ax, 1).alias(ks);
    return [mul(mask, div(g.alias(ks), count))];
  }, [x, out]);
}

/** Sums `x` down to `shape` (the reverse of broadcasting); used by broadcasting ops' backward. */
export function sumTo(x: Tensor, shape: Shape): Tensor {
  if (shapeStr(x.shape) === shapeStr(shape)) return x;
  const lead = x.rank - shape.length;
  if (lead < 0) throw new ShapeError(`sumTo: cannot reduce ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < x.rank; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && x.shape[i] !== 1) axes.push(i);
    else if (shape[i - lead] !== x.shape[i]) throw new ShapeError(`sumTo: cannot reduce ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  }
  const r = sum(x, axes);
  return r.size === 0 || r.rank === shape.length ? r : reshapeOwned(r, shape);
}

function reshapeOwned(t: Tensor, shape: Shape): Tensor {
  const a = t.alias(shape);
  a.node = t.node;
  t.dispose();
  return a;
}

function binaryScalarMul(t: Tensor, s: number): Tensor { return mulScalar(t, s); }
function eqMask(a: Tensor, b: Tensor): Tensor { return compare('eq', a, b); }

/** float64 CPU reference for sum/max over axes (test oracle). */
export function reduceRef(op: ReduceOp, x: ArrayLike<number>, shape: Shape, axes: number[], scale = 1): Float64Array {
  const outShape = shape.filter((_, i) => !axes.includes(i));
  const out = new Float64Array(outShape.reduce((a, b) => a * b, 1)).fill(COMBINE[op].init0);
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < x.length; i++) {
    let rem = i;
    for (let d = shape.length - 1; d >= 0; d--) { idx[d] = rem % shape[d]; rem = Math.floor(rem / shape[d]); }
    let o = 0;
    for (let d = 0, k = 0; d < shape.length; d++) if (!axes.includes(d)) { o = o * outShape[k] + idx[d]; k++; }
    out[o] = COMBINE[op].ref(out[o], x[i]);
  }
  return out.map((v) => v * scale);
}
