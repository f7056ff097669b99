/**
 * 2-D pooling over NCHW tensors: max (argmax saved for backward) and average (PyTorch's
 * count_include_pad, TF 'same' which excludes pads), with asymmetric padding and ceil_mode; and
 * global average pooling composed from `mean`. Backward kernels are gathers, so no atomics.
 */
import paramsSrc from './params.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import plane from '../common/plane.wgsl';
import maxSrc from './maxpool.wgsl';
import maxBackSrc from './maxpool_backward.wgsl';
import avgSrc from './avgpool.wgsl';
import avgWindowSrc from './avgpool_window.wgsl';
import avgBackSrc from './avgpool_backward.wgsl';
import { Tensor, shapeStr } from '../../engine/core/tensor.ts';
import { wgsl, storageDefines } from '../../engine/core/wgsl.ts';
import { runtime, launch1d } from '../../engine/core/runtime.ts';
import { ShapeError, checkFloat } from '../../engine/core/errors.ts';
import { mean } from '../reduce/reduce.ts';
import { resolvePadding, type Padding2d, type Pad4 } from '../pad/pad.ts';
import { record } from '../../engine/core/tape.ts';
import { reshape } from '../../engine/core/shape.ts';

type Pair = number | readonly [number, number];

/** Pooling options (PyTorch names; `padding` also takes [t, b, l, r] and TF 'same' / 'valid'). */
export interface Pool2dOptions {
  /** Defaults to the kernel size, as in PyTorch. */
  stride?: Pair;
  padding?: Padding2d;
  /** Max pooling only. */
  dilation?: Pair;
  /** Round the output size up (PyTorch ceil_mode); windows starting in the bottom/right pad are dropped. */
  ceilMode?: boolean;
  /** Average pooling only: count pads in the divisor. Default true, except with padding 'same' (TF semantics). */
  countIncludePad?: boolean;
}

/** Resolved geometry of one pooling call. */
export interface PoolGeometry {
  N: number; C: number; H: number; W: number; OH: number; OW: number;
  k: [number, number]; s: [number, number]; d: [number, number]; pad: Pad4;
}

const pair = (op: string, name: string, v: Pair): [number, number] => {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((x) => Number.isInteger(x) && x > 0)) throw new ShapeError(`${op}: ${name} ${JSON.stringify(v)} must be a positive integer or a pair of them`);
  return p;
};

/** Output size of one axis: PyTorch's formula, generalised to different pads before and after. */
function outSize(n: number, k: number, s: number, d: number, before: number, after: number, ceil: boolean): number {
  const span = n + before + after - d * (k - 1) - 1;
  let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (o - 1) * s >= n + before) o--;
  return o;
}

/** Checks the arguments and computes output size and padding. */
export function poolGeometry(op: string, shape: readonly number[], kernel: Pair, o: Pool2dOptions = {}): PoolGeometry {
  if (shape.length !== 4) throw new ShapeError(`${op}: argument 'x' has shape ${shapeStr(shape)}, expected rank 4 (N, C, H, W)`);
  const [N, C, H, W] = shape;
  const k = pair(op, 'kernel', kernel);
  const s = pair(op, 'stride', o.stride ?? k);
  const d = pair(op, 'dilation', o.dilation ?? 1);
  const pad = resolvePadding(op, o.padding ?? 0, H, W, k, s, d);
  const eff = [d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1];
  const pads = [pad.top, pad.bottom, pad.left, pad.right];
  if (pads.some((p, i) => p < 0 || p >= eff[i >> 1])) {
    throw new ShapeError(`${op}: padding [${pads}] must be non-negative and smaller than the window ${eff[0]}x${eff[1]}, so every window sees the input`);
  }
  const ceil = o.padding !== 'same' && !!o.ceilMode;
  const OH = outSize(H, k[0], s[0], d[0], pad.top, pad.bottom, ceil);
  const OW = outSize(W, k[1], s[1], d[1], pad.left, pad.right, ceil);
  if (OH < 1 || OW < 1) throw new ShapeError(`${op}: window ${eff[0]}x${eff[1]} does not fit the padded input ${shapeStr(shape)} (output ${OH}x${OW})`);
  return { N, C, H, W, OH, OW, k, s, d, pad };
}

function uniforms(g: PoolGeometry, n: number, stride: number, countIncludePad: boolean) {
  return {
    n, stride, H: g.H, W: g.W, OH: g.OH, OW: g.OW, kH: g.k[0], kW: g.k[1], sH: g.s[0], sW: g.s[1], dH: g.d[0], dW: g.d[1],
    padT: g.pad.top, padL: g.pad.left, padB: g.pad.bottom, padR: g.pad.right, countIncludePad: countIncludePad ? 1 : 0,
  };
}



/** Refuses an output gradient whose dtype is not the input's. */
function checkGrad(op: string, g: Tensor, x: Tensor): void {
  if (g.dtype !== x.dtype) throw new ShapeError(`${op} backward: the output gradient has dtype ${g.dtype} and argument 'x' ${x.dtype}; cast() it to ${x.dtype}`);
}

/** Max pooling that also returns the argmax (i32, flat index ih*W + iw within each input plane, as PyTorch). */
export function maxPool2dWithIndices(x: Tensor, kernel: Pair, opts: Pool2dOptions = {}): { out: Tensor; indices: Tensor } {
  checkFloat('maxPool2d', 'x', x);
  const g = poolGeometry('maxPool2d', x.shape, kernel, opts);
  const T = storageDefines(x.dtype);
  const out = Tensor.alloc([g.N, g.C, g.OH, g.OW], x.dtype);
  const indices = Tensor.alloc(out.shape, 'i32');
  const { groups, stride } = launch1d(out.size);
  runtime().run(wgsl('maxpool2d', maxSrc, { include: [flatIndex, each, plane, paramsSrc], defines: T }), { x, out, indices }, uniforms(g, out.size, stride, false), groups);
  record('maxPool2d', [x], out, (gr, _needs, [idx]) => {
    checkGrad('maxPool2d', gr, x);
    const dx = Tensor.alloc(x.shape, x.dtype);
    const l = launch1d(dx.size);
    runtime().run(wgsl('maxpool2d_backward', maxBackSrc, { include: [flatIndex, each, plane, paramsSrc], defines: T }), { g: gr, indices: idx, dx },
      uniforms(g, dx.size, l.stride, false), l.groups);
    return [dx];
  }, [indices]);
  return { out, indices };
}

/** Max pooling over NCHW: `kernel` size, options as PyTorch's max_pool2d plus asymmetric / 'same' padding. */
export function maxPool2d(x: Tensor, kernel: Pair, opts: Pool2dOptions = {}): Tensor {
  const { out, indices } = maxPool2dWithIndices(x, kernel, opts);
  indices.dispose();
  return out;
}

/** Average pooling over NCHW; see Pool2dOptions for the divisor rules. Dilation is not supported (as PyTorch). */
export function avgPool2d(x: Tensor, kernel: Pair, opts: Pool2dOptions = {}): Tensor {
  checkFloat('avgPool2d', 'x', x);
  if (opts.dilation !== undefined && pair('avgPool2d', 'dilation', opts.dilation).some((v) => v !== 1)) {
    throw new ShapeError('avgPool2d: dilation is not supported');
  }
  const g = poolGeometry('avgPool2d', x.shape, kernel, { ...opts, dilation: 1 });
  const cip = opts.countIncludePad ?? opts.padding !== 'same';
  const T = storageDefines(x.dtype);
  const out = Tensor.alloc([g.N, g.C, g.OH, g.OW], x.dtype);
  const { groups, stride } = launch1d(out.size);
  runtime().run(wgsl('avgpool2d', avgSrc, { include: [flatIndex, each, plane, paramsSrc, avgWindowSrc], defines: T }), { x, out }, uniforms(g, out.size, stride, cip), groups);
  return record('avgPool2d', [x], out, (gr) => {
    checkGrad('avgPool2d', gr, x);
    const dx = Tensor.alloc(x.shape, x.dtype);
    const l = launch1d(dx.size);
    runtime().run(wgsl('avgpool2d_backward', avgBackSrc, { include: [flatIndex, each, plane, paramsSrc, avgWindowSrc], defines: T }), { g: gr, dx },
      uniforms(g, dx.size, l.stride, cip), l.groups);
    return [dx];
  });
}

/**
 * Mean over H and W: (N, C, H, W) → (N, C), or (N, C, 1, 1) with `keepdims` (AdaptiveAvgPool2d(1)).
 * f16 runs as one H x W average pool (summed in f32), the reduction kernels being f32 only.
 */
export function globalAvgPool2d(x: Tensor, keepdims = false): Tensor {
  if (x.rank !== 4) throw new ShapeError(`globalAvgPool2d: argument 'x' has shape ${shapeStr(x.shape)}, expected rank 4 (N, C, H, W)`);
  if (x.dtype !== 'f16') return mean(x, [2, 3], keepdims);
  const y = avgPool2d(x, [x.shape[2], x.shape[3]]);
  if (keepdims) return y;
  const out = reshape(y, [x.shape[0], x.shape[1]]);
  y.dispose();
  return out;
}
