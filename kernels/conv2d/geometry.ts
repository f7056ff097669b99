/**
 * Convolution geometry: option parsing (stride, dilation, padding in every accepted form, groups)
 * and output sizes. Layout is PyTorch's: activations NCHW, weights OIHW `(Cout, Cin/groups, kh, kw)`.
 */
import { type Shape, shapeStr } from '../../engine/core/tensor.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import type { TuningPatch } from '../../engine/core/tuning.ts';

/**
 * Padding: a number (all sides), `[ph, pw]` (top = bottom = ph, left = right = pw), explicit
 * `[top, bottom, left, right]`, `'valid'` (none) or `'same'` (TensorFlow: total pad per axis
 * `max((ceil(H/s) - 1) * s + (k - 1) * d + 1 - H, 0)`, the odd pixel going bottom/right).
 */
export type Padding = number | [number, number] | [number, number, number, number] | 'same' | 'valid';

/** Which kernels to run: 'auto' picks the fast one; the others force one (tests, benchmarks). */
export type ConvVariant = 'auto' | 'naive' | 'gemm' | 'pointwise' | 'depthwise';

/** Options of `conv2d`: PyTorch's conv2d arguments, the kernel variant and a fused activation. */
export interface Conv2dOptions {
  /** Stride per axis (default 1). */
  stride?: number | [number, number];
  /** Default 0. */
  padding?: Padding;
  /** Dilation per axis (default 1). */
  dilation?: number | [number, number];
  /** Channel groups (default 1); `groups = Cin` is a depthwise convolution. */
  groups?: number;
  /** Kernel choice (default 'auto'); 'naive' forces the one-output-per-invocation oracle. */
  variant?: ConvVariant;
  /**
   * Activation applied to conv + bias (conv2d only): in the GEMM and Winograd kernels' epilogue (no
   * extra dispatch), as a separate unary kernel for the naive, pointwise and depthwise variants.
   */
  activation?: ConvActivation;
  /** Merged over runtime().tuning for this op, forward and backward (engine/core/tuning.ts). */
  tuning?: TuningPatch;
}

/** An activation a convolution can apply as its epilogue. */
export type ConvActivation = 'relu' | 'relu6';

/** Every size a convolution kernel needs, resolved from the shapes and options. */
export interface ConvGeom {
  N: number; Cin: number; H: number; W: number;
  Cout: number; kh: number; kw: number; groups: number;
  /** Input / output channels per group. */
  cinG: number; coutG: number;
  sh: number; sw: number; dh: number; dw: number;
  /** Padding: top, bottom, left, right. */
  pt: number; pb: number; pl: number; pr: number;
  OH: number; OW: number;
}

function pair(op: string, arg: string, v: number | [number, number] | undefined, dflt: number, min: number): [number, number] {
  const p: [number, number] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!Array.isArray(v) && typeof v !== 'number' && v !== undefined) throw new ShapeError(`${op}: ${arg} must be a number or [h, w]`);
  if (Array.isArray(v) && v.length !== 2) throw new ShapeError(`${op}: ${arg} must be a number or [h, w], got [${v}]`);
  for (const x of p) if (!Number.isInteger(x) || x < min) throw new ShapeError(`${op}: ${arg} must be integers >= ${min}, got ${JSON.stringify(v)}`);
  return p;
}

/** TensorFlow 'same' padding for one axis: [before, after]. */
export function samePad(size: number, k: number, s: number, d: number): [number, number] {
  const total = Math.max((Math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Resolves shapes and options into a ConvGeom, or throws a ShapeError naming the problem. */
export function convGeometry(xShape: Shape, wShape: Shape, opts: Conv2dOptions = {}, op = 'conv2d'): ConvGeom {
  if (xShape.length !== 4) throw new ShapeError(`${op}: argument 'x' has shape ${shapeStr(xShape)}, expected rank 4 (N, Cin, H, W)`);
  if (wShape.length !== 4) throw new ShapeError(`${op}: argument 'w' has shape ${shapeStr(wShape)}, expected rank 4 (Cout, Cin/groups, kh, kw)`);
  const [N, Cin, H, W] = xShape;
  const [Cout, cinG, kh, kw] = wShape;
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new ShapeError(`${op}: groups must be a positive integer, got ${groups}`);
  if (Cin % groups || Cout % groups) throw new ShapeError(`${op}: groups ${groups} must divide Cin ${Cin} and Cout ${Cout}`);
  if (cinG !== Cin / groups) throw new ShapeError(`${op}: argument 'w' has shape ${shapeStr(wShape)}, expected dimension 1 = Cin/groups = ${Cin / groups} for x ${shapeStr(xShape)} and groups ${groups}`);
  if (kh < 1 || kw < 1) throw new ShapeError(`${op}: argument 'w' has an empty kernel ${shapeStr(wShape)}`);
  const [sh, sw] = pair(op, 'stride', opts.stride, 1, 1);
  const [dh, dw] = pair(op, 'dilation', opts.dilation, 1, 1);
  const p = opts.padding ?? 0;
  let pt: number, pb: number, pl: number, pr: number;
  if (p === 'valid') [pt, pb, pl, pr] = [0, 0, 0, 0];
  else if (p === 'same') [[pt, pb], [pl, pr]] = [samePad(H, kh, sh, dh), samePad(W, kw, sw, dw)];
  else if (typeof p === 'number') [pt, pb, pl, pr] = [p, p, p, p];
  else if (Array.isArray(p) && p.length === 2) [pt, pb, pl, pr] = [p[0], p[0], p[1], p[1]];
  else if (Array.isArray(p) && p.length === 4) [pt, pb, pl, pr] = p;
  else throw new ShapeError(`${op}: padding must be a number, [ph, pw], [top, bottom, left, right], 'same' or 'valid', got ${JSON.stringify(p)}`);
  for (const v of [pt, pb, pl, pr]) if (!Number.isInteger(v) || v < 0) throw new ShapeError(`${op}: padding must be non-negative integers, got ${JSON.stringify(p)}`);
  const OH = Math.floor((H + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  if (OH < 1 || OW < 1) {
    throw new ShapeError(`${op}: kernel ${kh}x${kw} (dilation ${dh}x${dw}) is larger than the padded input ${H + pt + pb}x${W + pl + pr}; output would be ${OH}x${OW}`);
  }
  return { N, Cin, H, W, Cout, kh, kw, groups, cinG, coutG: Cout / groups, sh, sw, dh, dw, pt, pb, pl, pr, OH, OW };
}

/** Output shape `(N, Cout, OH, OW)` of `conv2d(x, w, opts)`. */
export function conv2dOutputShape(xShape: Shape, wShape: Shape, opts: Conv2dOptions = {}): [number, number, number, number] {
  const g = convGeometry(xShape, wShape, opts);
  return [g.N, g.Cout, g.OH, g.OW];
}

/** Multiply-adds of the forward pass (each of dx and dw costs the same); FLOPs are twice this. */
export function convMacs(g: ConvGeom): number {
  return g.N * g.Cout * g.OH * g.OW * g.cinG * g.kh * g.kw;
}
