/**
 * The reduction kernels' launch: the plan (merged axes, chunks) and reduceRaw, which records nothing.
 * Elementwise ops' backward sums broadcast gradients with reduceTo from here (backward runs under
 * noGrad), so kernels/elementwise does not import the recording ops of reduce.ts.
 */
import reduceSrc from './reduce.wgsl';
import reduceMergeSrc from './reduce_merge.wgsl';
import reduceCommonSrc from './reduce_common.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import dims8 from '../common/dims8.wgsl';
import { Tensor, type Shape, shapeStr, sameShape, check32 } from '../../engine/core/tensor.ts';
import { runtime, launch1d } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError } from '../../engine/core/errors.ts';

export type ReduceOp = 'sum' | 'max';

export const COMBINE: { [K in ReduceOp]: { combine: string; init: string; ref: (a: number, b: number) => number; init0: number } } = {
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

// Kernel choice thresholds (chunking of the reduced range): runtime().tuning.reduce (engine/core/tuning.ts).

/** How a reduction is launched (exported for tests and benchmarks). */
export interface ReducePlan {
  /** 'rows4': vec4 loads along a contiguous reduced axis; 'cols4': vec4 of 4 neighbouring outputs; 'scalar'. */
  mode: 'scalar' | 'rows4' | 'cols4';
  nOut: number; nRed: number; nChunks: number; chunkLen: number;
}

interface Launch extends ReducePlan {
  kept: Dims; innerLen: number; innerStride: number; outer: Dims;
}

const last = (d: Dims) => d.shape.length - 1;
/** Strides in vec4 units: every stride but the unit one is a multiple of the innermost dim's length (a multiple of 4 here). */
const q = (v: number[]) => v.map((s) => (s === 1 ? 1 : s / 4));

function launchPlan(shape: Shape, axes: number[]): Launch {
  const { kept, red } = plan(shape, axes);
  let nOut = kept.shape.reduce((a, b) => a * b, 1);
  let nRed = red.shape.reduce((a, b) => a * b, 1);
  // The innermost reduced dim is walked by a loop; the others are decomposed once per row.
  const inner = red.shape.length ? { len: red.shape[last(red)], stride: red.stride[last(red)] } : { len: 1, stride: 0 };
  const outer: Dims = { shape: red.shape.slice(0, -1), stride: red.stride.slice(0, -1) };
  let mode: ReducePlan['mode'] = 'scalar';
  let innerLen = inner.len, innerStride = inner.stride;
  const keptInnerLen = kept.shape.length ? kept.shape[last(kept)] : 0;
  if (inner.stride === 1 && inner.len % 4 === 0) mode = 'rows4';
  else if (kept.shape.length && kept.stride[last(kept)] === 1 && keptInnerLen % 4 === 0) mode = 'cols4';
  const keptU: Dims = { shape: [...kept.shape], stride: mode === 'scalar' ? kept.stride : q(kept.stride) };
  const outerU: Dims = mode === 'scalar' ? outer : { shape: outer.shape, stride: q(outer.stride) };
  if (mode === 'rows4') { innerLen /= 4; nRed /= 4; }
  if (mode === 'cols4') { keptU.shape[last(kept)] /= 4; nOut /= 4; innerStride /= 4; }
  const { targetInvocations, minChunk, maxChunks } = runtime().tuning.reduce;
  let nChunks = Math.max(1, Math.min(maxChunks, Math.ceil(targetInvocations / Math.max(nOut, 1)), Math.floor(nRed / minChunk)));
  const chunkLen = Math.max(1, Math.ceil(nRed / nChunks));
  nChunks = Math.max(1, Math.ceil(nRed / chunkLen));
  return { mode, nOut, nRed, nChunks, chunkLen, kept: keptU, innerLen, innerStride, outer: outerU };
}

/** The launch plan of reducing `axes` of `shape` (for tests and benchmarks). */
export function reducePlan(shape: Shape, axes: number[]): ReducePlan {
  const { mode, nOut, nRed, nChunks, chunkLen } = launchPlan(shape, axes);
  return { mode, nOut, nRed, nChunks, chunkLen };
}

/** Lanes 4k..4k+3 of `v` (at most 8 long) padded to 8 with ones. */
const v4 = (v: number[], k: number) => { const i = 4 * k; return [v[i] ?? 1, v[i + 1] ?? 1, v[i + 2] ?? 1, v[i + 3] ?? 1]; };

export function reduceRaw(op: ReduceOp, x: Tensor, axes: number[], scale: number): Tensor {
  const outShape = x.shape.filter((_, i) => !axes.includes(i));
  const p = launchPlan(x.shape, axes);
  if (p.kept.shape.length > 8 || p.outer.shape.length > 8) throw new ShapeError(`${op}: rank > 8 is not supported`);
  check32(op, 'x', x);
  void x.buffer;
  const out = Tensor.alloc(outShape);
  if (out.size === 0) return out;
  if (p.outer.shape.length === 0 && p.innerStride === 0 && p.kept.shape.length <= 1) {
    // Only size-1 axes are reduced (so the scale is 1): a plain copy.
    runtime().copy(x.buffer, 0, out.buffer, 0, out.size * 4);
    return out;
  }
  const c = COMBINE[op];
  const vt = p.mode === 'scalar' ? 'f32' : 'vec4<f32>';
  const ot = p.mode === 'cols4' ? 'vec4<f32>' : 'f32';
  const finish = p.mode === 'rows4' ? 'combine1(combine1(acc.x, acc.y), combine1(acc.z, acc.w))' : 'acc';
  const include = [flatIndex, dims8, reduceCommonSrc];
  const chunked = p.nChunks > 1;
  const part = chunked ? Tensor.alloc([p.nChunks * out.size]) : out;
  const nInv = p.nOut * p.nChunks;
  const { groups, stride } = launch1d(nInv);
  runtime().run(wgsl('reduce', reduceSrc, { include, defines: { VT: vt, OT: ot, COMBINE: c.combine, INIT: c.init, FINISH: finish } }),
    { x, out: part }, {
      nOut: p.nOut, nRed: p.nRed, nChunks: p.nChunks, chunkLen: p.chunkLen, stride,
      keptRank: p.kept.shape.length, outerRank: p.outer.shape.length, innerLen: p.innerLen, innerStride: p.innerStride,
      scale: chunked ? 1 : scale,
      keptShape0: v4(p.kept.shape, 0), keptShape1: v4(p.kept.shape, 1), keptStride0: v4(p.kept.stride, 0), keptStride1: v4(p.kept.stride, 1),
      outerShape0: v4(p.outer.shape, 0), outerShape1: v4(p.outer.shape, 1), outerStride0: v4(p.outer.stride, 0), outerStride1: v4(p.outer.stride, 1),
    }, groups);
  if (chunked) {
    const merge = launch1d(out.size);
    const zero = [0, 0, 0, 0];
    runtime().run(wgsl('reduce_merge', reduceMergeSrc, { include, defines: { VT: 'f32', COMBINE: c.combine } }),
      { part, out }, {
        nOut: out.size, nRed: 0, nChunks: p.nChunks, chunkLen: 0, stride: merge.stride, keptRank: 0, outerRank: 0, innerLen: 1, innerStride: 0, scale,
        keptShape0: zero, keptShape1: zero, keptStride0: zero, keptStride1: zero, outerShape0: zero, outerShape1: zero, outerStride0: zero, outerStride1: zero,
      }, merge.groups);
    part.dispose();
  }
  return out;
}

export function keepShape(shape: Shape, axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** A raw reduction's result (not yet recorded) as `shape`, disposing the original handle. */
export function reshapeOwned(t: Tensor, shape: Shape): Tensor {
  const a = t.unrecordedView(shape);
  t.dispose();
  return a;
}

/** Sums `x` down to `shape` (the reverse of broadcasting) without recording; `x` itself when the shapes match. */
export function reduceTo(x: Tensor, shape: Shape): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const lead = x.rank - shape.length;
  if (lead < 0) throw new ShapeError(`sumTo: cannot reduce ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < x.rank; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && x.shape[i] !== 1) axes.push(i);
    else if (shape[i - lead] !== x.shape[i]) throw new ShapeError(`sumTo: cannot reduce ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  }
  return reshapeOwned(reduceRaw('sum', x, axes, 1), shape);
}
