// Shared by the conv2d test files: dispatch counting, the forward kernel of each variant, and a
// forward + backward run returning everything on the host.
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { conv2d, type Conv2dOptions, type ConvVariant } from '../../kernels/conv2d/conv2d.ts';
import { subgroupLanes } from '../../kernels/conv2d/launch.ts';
import { variable } from '../../engine/core/tape.ts';

export const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
/** Dispatch count of kernels whose key starts with `prefix` since `since` (a snapshot). */
export const snapshot = () => new Map(runtime().dispatchByName);
export const ran = (since: Map<string, number>, name: string) => (runtime().dispatchByName.get(name) ?? 0) - (since.get(name) ?? 0);
/** The kernel name (dispatch-count key) each variant's forward runs. */
export const fwdKernel = (v: Exclude<ConvVariant, 'auto'>): string => ({
  naive: 'conv2d_naive', gemm: subgroupLanes() ? 'conv2d_gemm_sg' : 'conv2d_gemm', pointwise: subgroupLanes() ? 'conv2d_gemm_sg' : 'conv2d_pointwise', depthwise: 'conv2d_depthwise_rows',
})[v];

/** Runs conv2d + backward(y, gy) and returns y, dx, dw, db on the host. */
export async function runWithGrads(X: Float32Array, xs: number[], Wt: Float32Array, ws: number[], B: Float32Array | null, GY: Float32Array | null, opts: Conv2dOptions) {
  const x = variable(tensor(X, xs)), w = variable(tensor(Wt, ws)), b = B ? variable(tensor(B, [B.length])) : null;
  const y = tidy(() => {
    const y = conv2d(x, w, b, opts);
    const gy = GY ?? new Float32Array(y.size).fill(1);
    backward(y, tensor(gy, y.shape));
    return y;
  });
  const out = { y: await y.data(), yShape: y.shape, dx: await x.grad!.data(), dw: await w.grad!.data(), db: b ? await b.grad!.data() : null };
  for (const t of [y, x.grad, w.grad, b?.grad, x, w, b]) t?.dispose();
  return out;
}
