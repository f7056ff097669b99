/**
 * Zero (constant) padding of NCHW tensors, asymmetric, with negative pads cropping; the shared
 * resolution of padding specs (number, [ph, pw], [t, b, l, r], TF 'same', 'valid') used by pooling;
 * and subsamplePad, a strided subsample with zero channels around it (the CIFAR ResNets' shortcut).
 */
import padSrc from './pad.wgsl';
import subsamplePadSrc from './subsample_pad.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import plane from '../common/plane.wgsl';
import { Tensor, shapeStr, sameShape } from '../../engine/core/tensor.ts';
import { runtime, launch1d } from '../../engine/core/runtime.ts';
import { wgsl, storageDefines } from '../../engine/core/wgsl.ts';
import { ShapeError, checkFloat } from '../../engine/core/errors.ts';
import { record } from '../../engine/core/tape.ts';

/** A padding spec: symmetric, per axis [ph, pw], explicit [top, bottom, left, right], or TF's 'same' / 'valid'. */
export type Padding2d = number | readonly [number, number] | readonly [number, number, number, number] | 'same' | 'valid';

/** Resolved padding of the two spatial dims. */
export interface Pad4 { top: number; bottom: number; left: number; right: number }

/** Normalises a pad spec without 'same' (which needs the input size) to [top, bottom, left, right]. */
export function padOf(op: string, p: Exclude<Padding2d, 'same'>): Pad4 {
  const arr = p === 'valid' ? [0, 0, 0, 0] : typeof p === 'number' ? [p, p, p, p]
    : p.length === 2 ? [p[0], p[0], p[1], p[1]] : p.length === 4 ? [...p] : null;
  if (!arr || arr.some((v) => !Number.isInteger(v))) {
    throw new ShapeError(`${op}: padding ${JSON.stringify(p)} must be an integer, [ph, pw], [top, bottom, left, right], 'same' or 'valid'`);
  }
  return { top: arr[0], bottom: arr[1], left: arr[2], right: arr[3] };
}

/**
 * Resolves padding for a sliding window of size `k` (dilation `d`) and stride `s` over an input of
 * `inH` x `inW`. 'same' is TensorFlow's: output = ceil(in / stride), the total pad split with the
 * odd pixel at the bottom/right.
 */
export function resolvePadding(op: string, p: Padding2d, inH: number, inW: number, k: [number, number], s: [number, number], d: [number, number] = [1, 1]): Pad4 {
  if (p !== 'same') return padOf(op, p);
  const tot = (n: number, i: 0 | 1) => Math.max((Math.ceil(n / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - n, 0);
  const th = tot(inH, 0), tw = tot(inW, 1);
  return { top: th >> 1, bottom: th - (th >> 1), left: tw >> 1, right: tw - (tw >> 1) };
}


function padRaw(x: Tensor, p: Pad4, value: number): Tensor {
  const [N, C, H, W] = x.shape;
  const OH = H + p.top + p.bottom, OW = W + p.left + p.right;
  if (OH < 0 || OW < 0) throw new ShapeError(`pad2d: pads [${p.top}, ${p.bottom}, ${p.left}, ${p.right}] crop more than the input ${shapeStr(x.shape)} holds`);
  const out = Tensor.alloc([N, C, OH, OW]);
  const { groups, stride } = launch1d(out.size);
  runtime().run(wgsl('pad2d', padSrc, { include: [flatIndex, each, plane] }), { x, out },
    { n: out.size, stride, H, W, OH, OW, top: p.top, left: p.left, value }, groups);
  return out;
}

/**
 * Pads the last two dims of an NCHW tensor with `value` (default 0): `padding` is a number, [ph, pw]
 * or [top, bottom, left, right]; negative pads crop (as torch.nn.functional.pad). Differentiable in x.
 */
export function pad2d(x: Tensor, padding: Exclude<Padding2d, 'same'>, value = 0): Tensor {
  if (x.rank !== 4) throw new ShapeError(`pad2d: argument 'x' has shape ${shapeStr(x.shape)}, expected rank 4 (N, C, H, W)`);
  if (x.dtype !== 'f32') throw new ShapeError(`pad2d: argument 'x' has dtype ${x.dtype}, expected f32`);
  const p = padOf('pad2d', padding);
  const out = padRaw(x, p, value);
  const back: Pad4 = { top: -p.top, bottom: -p.bottom, left: -p.left, right: -p.right };
  return record('pad2d', [x], out, (g) => [padRaw(g, back, 0)]);
}

/**
 * One subsample_pad.wgsl dispatch: into a new tensor of `dstShape`, forward or (`backward`) its gradient,
 * plus `acc` (like the gradient) when given.
 */
function subsamplePadRun(src: Tensor, dstShape: number[], big: readonly number[], small: readonly number[], step: number, before: number, backward: boolean, acc: Tensor | null = null): Tensor {
  const [, C, H, W] = big, [, CO, OH, OW] = small;
  const dst = Tensor.alloc(dstShape, src.dtype);
  const { groups, stride } = launch1d(dst.size);
  runtime().run(wgsl('subsample_pad', subsamplePadSrc, { include: [flatIndex, each], defines: { BACKWARD: backward, ...storageDefines(src.dtype) } }),
    { src, dst, acc: acc ?? src }, { n: dst.size, stride, C, H, W, CO, OH, OW, step, before, hasAcc: acc ? 1 : 0 }, groups);
  return dst;
}

/**
 * `x[:, :, ::step, ::step]` with `before` zero channels ahead of it and `after` behind, in one
 * dispatch (its gradient in one too, which adds a gradient x already has, e.g. from the block's
 * other branch): the option-A shortcut of the CIFAR ResNets.
 * x: (N, C, H, W), f32 or f16 → (N, before + C + after, ceil(H / step), ceil(W / step)).
 */
export function subsamplePad(x: Tensor, step: number, before: number, after: number): Tensor {
  if (x.rank !== 4) throw new ShapeError(`subsamplePad: argument 'x' has shape ${shapeStr(x.shape)}, expected rank 4 (N, C, H, W)`);
  checkFloat('subsamplePad', 'x', x);
  if (!Number.isInteger(step) || step < 1) throw new ShapeError(`subsamplePad: step ${step} must be a positive integer`);
  if (!Number.isInteger(before) || !Number.isInteger(after) || before < 0 || after < 0) {
    throw new ShapeError(`subsamplePad: channel pads ${before}, ${after} must be non-negative integers`);
  }
  const [N, C, H, W] = x.shape;
  const big = x.shape, small = [N, before + C + after, Math.ceil(H / step), Math.ceil(W / step)];
  const out = subsamplePadRun(x, small, big, small, step, before, false);
  return record('subsamplePad', [x], out, (g, _needs, _saved, into) => {
    const prev = into?.grads[0];
    const acc = prev && sameShape(prev.shape, big) && prev.dtype === g.dtype ? prev : null;
    if (acc) into!.used[0] = true;
    return [subsamplePadRun(g, [...big], big, small, step, before, true, acc)];
  });
}
