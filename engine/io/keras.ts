/**
 * The layout adapter from Keras (TF.js layers) weights to PyTorch conventions. Parsers keep the
 * file's layout; this is the one place that knows Keras is channels-last:
 *   conv kernel        [kh, kw, in, out]  → [out, in, kh, kw]   (any rank: last two dims lead, reversed)
 *   depthwise kernel   [kh, kw, in, mult] → [in*mult, 1, kh, kw] (a grouped conv, output channel i*mult+m)
 *   Dense kernel       [in, out]          → [out, in]
 *   BatchNormalization gamma/beta/moving_mean/moving_variance → weight/bias/running_mean/running_var
 * Conv2DTranspose kernels are [kh, kw, out, in] and PyTorch's ConvTranspose2d wants [in, out, kh, kw]:
 * the same permutation as a conv, so one rule serves both.
 */
import { ensure } from './errors.ts';
import { allocHost, setOwn } from './dtype.ts';
import type { Checkpoint, HostTensor } from './types.ts';

/** Returns a new tensor with dims permuted: out.shape[i] = t.shape[perm[i]]. */
export function permute(t: HostTensor, perm: number[]): HostTensor {
  const r = t.shape.length;
  ensure(perm.length === r && [...perm].sort((a, b) => a - b).every((p, i) => p === i), 'bad-shape', `permute: ${JSON.stringify(perm)} is not a permutation of rank ${r}`);
  const shape = perm.map((p) => t.shape[p]);
  const inStride: number[] = [];
  for (let d = r - 1, s = 1; d >= 0; s *= t.shape[d], d--) inStride[d] = s;
  const stride = perm.map((p) => inStride[p]);
  const n = t.data.length, out = allocHost(t.dtype, n), idx = new Array<number>(r).fill(0);
  for (let o = 0; o < n; o++) {
    let at = 0;
    for (let d = 0; d < r; d++) at += idx[d] * stride[d];
    out[o] = t.data[at];
    for (let d = r - 1; d >= 0; d--) { if (++idx[d] < shape[d]) break; idx[d] = 0; }
  }
  return { dtype: t.dtype, shape, data: out };
}

/** Conv kernel (Conv1D/2D/3D, Conv2DTranspose, pointwise): [...k, in, out] → [out, in, ...k]. */
export function kerasConvToTorch(t: HostTensor): HostTensor {
  const r = t.shape.length;
  ensure(r >= 3, 'bad-shape', `conv kernel must have rank >= 3, got [${t.shape}]`);
  return permute(t, [r - 1, r - 2, ...Array.from({ length: r - 2 }, (_, i) => i)]);
}

/** Depthwise kernel [kh, kw, in, mult] → [in*mult, 1, kh, kw]. */
export function kerasDepthwiseToTorch(t: HostTensor): HostTensor {
  ensure(t.shape.length === 4, 'bad-shape', `depthwise kernel must be [kh, kw, in, mult], got [${t.shape}]`);
  const p = permute(t, [2, 3, 0, 1]); // [in, mult, kh, kw]: row-major, this already is [in*mult, 1, kh, kw]
  return { ...p, shape: [t.shape[2] * t.shape[3], 1, t.shape[0], t.shape[1]] };
}

/** Dense kernel [in, out] → Linear weight [out, in]. */
export function kerasDenseToTorch(t: HostTensor): HostTensor {
  ensure(t.shape.length === 2, 'bad-shape', `Dense kernel must be [in, out], got [${t.shape}]`);
  return permute(t, [1, 0]);
}

/** Keras parameter names → PyTorch names (layouts change only for kernels). */
export const KERAS_PARAM_NAMES: Record<string, string> = {
  kernel: 'weight', bias: 'bias', gamma: 'weight', beta: 'bias', moving_mean: 'running_mean',
  moving_variance: 'running_var', depthwise_kernel: 'weight', pointwise_kernel: 'pointwise.weight', embeddings: 'weight',
};

/**
 * Adapts a whole Keras checkpoint: `conv2d_1/kernel` → `conv2d_1.weight` in OIHW, and so on.
 * Names other than the known parameter names keep their layout, with '/' turned into '.'.
 * `metadata.kerasNames` maps each new name back to the original one for error messages.
 */
export function kerasToTorch(ckpt: Checkpoint): Checkpoint {
  const tensors = new Map<string, HostTensor>(), kerasNames: Record<string, string> = {};
  for (const [name, t] of ckpt.tensors) {
    const parts = name.replace(/:\d+$/, '').split('/');
    const param = parts.pop()!, layer = parts.join('.');
    let out = t, p = param;
    if (param === 'depthwise_kernel') out = kerasDepthwiseToTorch(t);
    else if ((param === 'kernel' || param === 'pointwise_kernel') && t.shape.length >= 3) out = kerasConvToTorch(t);
    else if (param === 'kernel' && t.shape.length === 2) out = kerasDenseToTorch(t);
    if (Object.hasOwn(KERAS_PARAM_NAMES, param)) p = KERAS_PARAM_NAMES[param];
    const torchName = layer ? `${layer}.${p}` : p;
    ensure(!tensors.has(torchName), 'bad-header', `keras: '${name}' and '${kerasNames[torchName]}' both map to '${torchName}'`);
    tensors.set(torchName, out);
    setOwn(kerasNames, torchName, name);
  }
  return { format: ckpt.format, tensors, metadata: { ...ckpt.metadata, kerasNames } };
}
