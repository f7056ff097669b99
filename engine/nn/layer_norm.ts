/**
 * torch.nn.LayerNorm over the last dim, and torchvision's LayerNorm2d (ConvNeXt): the same
 * parameters, normalising each position of an NCHW map over its C channels.
 */
import { Module, onesInit, zerosInit } from './module.ts';
import { type Tensor, shapeStr } from '../core/tensor.ts';
import { ShapeError } from '../core/errors.ts';
import { reshape } from '../core/shape.ts';
import { layerNorm, permute } from '../../kernels/index.ts';

/** torch.nn.LayerNorm with a 1-D normalized shape: weight (size) ones, bias (size) zeros. */
export class LayerNorm extends Module {
  constructor(readonly size: number, readonly eps = 1e-5) {
    super();
    this.param('weight', [size], onesInit);
    this.param('bias', [size], zerosInit);
  }
  get weight(): Tensor { return this._params.get('weight')!; }
  get bias(): Tensor { return this._params.get('bias')!; }
  /** x: (..., size) → same shape. */
  forward(x: Tensor): Tensor { return layerNorm(x, this.weight, this.bias, this.eps); }
}

/**
 * torchvision.models.convnext.LayerNorm2d: LayerNorm over C of (N, C, H, W), i.e. permute to NHWC,
 * layer-norm the last dim, permute back. A 1x1 map (the classifier's) and an (N, C) input (the
 * feature cache hands the head pooled features) are normalised in place without permutes.
 */
export class LayerNorm2d extends LayerNorm {
  /** x: (N, C, H, W) or (N, C) → same shape. */
  override forward(x: Tensor): Tensor {
    if (x.rank === 2) return super.forward(x);
    if (x.rank !== 4 || x.shape[1] !== this.size) throw new ShapeError(`LayerNorm2d: input has shape ${shapeStr(x.shape)}, expected (N, ${this.size}, H, W) or (N, ${this.size})`);
    const [N, C, H, W] = x.shape;
    if (H * W === 1) return reshape(super.forward(reshape(x, [N, C])), x.shape);
    return permute(super.forward(permute(x, [0, 2, 3, 1])), [0, 3, 1, 2]);
  }
}
