/**
 * Bilinear resize of NCHW tensors on the GPU (input preprocessing, feature-map upsampling), matching
 * torch.nn.functional.interpolate(mode='bilinear', antialias=False); differentiable in x.
 */
import tapsSrc from './taps.wgsl';
import resizeSrc from './resize.wgsl';
import resizeBackSrc from './resize_backward.wgsl';
import flatIndex from '../common/flat_index.wgsl';
import each from '../common/each.wgsl';
import plane from '../common/plane.wgsl';
import { Tensor, shapeStr } from '../../engine/core/tensor.ts';
import { runtime, grid } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { record } from '../../engine/core/tape.ts';

/**
 * How output pixels map to input coordinates: 'align-corners' (corner pixels coincide), 'half-pixel'
 * (pixel centres; PyTorch align_corners=False, TF2 half_pixel_centers), 'asymmetric' (TF1 legacy).
 */
export type ResizeMode = 'align-corners' | 'half-pixel' | 'asymmetric';

/** Options of `resize2d`: how output pixels map to input coordinates. */
export interface ResizeOptions {
  /** PyTorch's flag: true is 'align-corners', false (default) 'half-pixel'. */
  alignCorners?: boolean;
  /** Overrides `alignCorners` when given. */
  mode?: ResizeMode;
}

const MODE_ID: { [K in ResizeMode]: number } = { 'align-corners': 0, 'half-pixel': 1, asymmetric: 2 };

/** Input-per-output scale of one axis, as PyTorch computes it when given an output size. */
function ratio(mode: ResizeMode, inSize: number, outSize: number): number {
  if (mode === 'align-corners') return outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
  return inSize / outSize;
}

/** Bilinearly resizes x (N, C, H, W) to (N, C, size[0], size[1]). */
export function resize2d(x: Tensor, size: readonly [number, number], opts: ResizeOptions = {}): Tensor {
  if (x.rank !== 4 || x.dtype !== 'f32') throw new ShapeError(`resize2d: argument 'x' has shape ${shapeStr(x.shape)} ${x.dtype}, expected (N, C, H, W) f32`);
  const [OH, OW] = size;
  if (!(Number.isInteger(OH) && Number.isInteger(OW) && OH > 0 && OW > 0)) throw new ShapeError(`resize2d: size must be two positive integers, got [${size}]`);
  const mode: ResizeMode = opts.mode ?? (opts.alignCorners ? 'align-corners' : 'half-pixel');
  const [N, C, H, W] = x.shape;
  const params = { H, W, OH, OW, rh: ratio(mode, H, OH), rw: ratio(mode, W, OW), mode: MODE_ID[mode] };
  const out = Tensor.alloc([N, C, OH, OW]);
  const [gx, gy] = grid(Math.ceil(out.size / 64));
  runtime().run(wgsl('resize2d', resizeSrc, { include: [flatIndex, each, plane, tapsSrc] }), { x, out }, { ...params, n: out.size, stride: gx * 64 }, [gx, gy]);
  return record('resize2d', [x], out, (g) => {
    const dx = Tensor.alloc(x.shape);
    const [bx, by] = grid(Math.ceil(dx.size / 64));
    runtime().run(wgsl('resize2d_backward', resizeBackSrc, { include: [flatIndex, each, plane, tapsSrc] }), { g, dx }, { ...params, n: dx.size, stride: bx * 64 }, [bx, by]);
    return [dx];
  });
}
