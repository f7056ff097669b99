/**
 * torchvision ConvNeXt (`torchvision.models.convnext`) with its exact state-dict keys:
 * features.0.{0,1} (4x4/4 patchify conv, LayerNorm2d), then per stage `features.N.M` CNBlocks
 * (`block.0` depthwise 7x7, `block.2` LayerNorm over channels-last, `block.3` / `block.5` the
 * Linear expansion and projection, `layer_scale`), a downsampling `features.N.{0,1}` (LayerNorm2d,
 * 2x2/2 conv) after each stage with an output width, and `classifier.{0,2}` (LayerNorm2d, Linear).
 *
 * LayerNorm2d permutes to NHWC, layer-norms and permutes back (as torchvision does): the block's own
 * LayerNorm sits between two permutes that its Linear layers need anyway, so only the downsampling
 * layers (three in ConvNeXt-T) and the stem pay for a round trip; the classifier's runs on a 1x1 map.
 */
import { Module } from '../engine/nn/module.ts';
import type { Tensor } from '../engine/core/tensor.ts';
import { Conv2d, Linear, GELU, Flatten, Permute, Sequential, LayerNorm, LayerNorm2d, StochasticDepth } from '../engine/nn/index.ts';
import { add, mul } from '../kernels/index.ts';
import { TorchvisionClassifier } from './torchvision_classifier.ts';
import { ThawError } from '../engine/core/errors.ts';

/** torchvision's CNBlock: x + StochasticDepth(layer_scale · block(x)). */
export class CNBlock extends Module {
  readonly block: Sequential;
  readonly stochastic_depth: StochasticDepth;
  constructor(readonly dim: number, layerScale: number, stochasticDepthProb: number, rng?: () => number, seed?: number) {
    super();
    this.block = this.child('block', new Sequential(
      new Conv2d(dim, dim, 7, { padding: 3, groups: dim, bias: true, rng }),
      new Permute([0, 2, 3, 1]),
      new LayerNorm(dim, 1e-6),
      new Linear(dim, 4 * dim, { rng }),
      new GELU(),
      new Linear(4 * dim, dim, { rng }),
      new Permute([0, 3, 1, 2]),
    ));
    this.param('layer_scale', [dim, 1, 1], (n) => new Float32Array(n).fill(layerScale));
    this.stochastic_depth = this.child('stochastic_depth', new StochasticDepth(stochasticDepthProb, 'row', seed));
  }
  /** (dim, 1, 1). */
  get layerScale(): Tensor { return this._params.get('layer_scale')!; }
  /** x: (N, dim, H, W) → same shape. */
  forward(x: Tensor): Tensor {
    return add(this.stochastic_depth.forward(mul(this.layerScale, this.block.forward(x))), x);
  }
}

/** torchvision's CNBlockConfig as a triple: input channels, output channels (null: no downsampling after the stage), blocks. */
export type CNBlockSetting = readonly [inputChannels: number, outChannels: number | null, numLayers: number];

export interface ConvNeXtOptions {
  /** Output classes (default 1000). */
  numClasses?: number;
  /** Largest stochastic-depth drop probability, reached linearly at the last block (default 0). */
  stochasticDepthProb?: number;
  /** Initial layer_scale (default 1e-6). */
  layerScale?: number;
  rng?: () => number;
  /** Seed of the first block's stochastic-depth draws (block i uses seed + 1000 i); random when absent. */
  seed?: number;
}

/** torchvision's ConvNeXt: classifier = Sequential(LayerNorm2d, Flatten, Linear) on the pooled features. */
export class ConvNeXt extends TorchvisionClassifier {
  constructor(readonly blockSetting: readonly CNBlockSetting[], opts: ConvNeXtOptions = {}) {
    if (!blockSetting.length) throw new ThawError('argument', 'ConvNeXt: the block_setting should not be empty');
    const rng = opts.rng;
    const sdProb = opts.stochasticDepthProb ?? 0;
    const layerScale = opts.layerScale ?? 1e-6;
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 32);
    const f = new Sequential(new Sequential(
      new Conv2d(3, blockSetting[0][0], 4, { stride: 4, padding: 0, bias: true, rng }),
      new LayerNorm2d(blockSetting[0][0], 1e-6),
    ));
    const total = blockSetting.reduce((a, s) => a + s[2], 0);
    let id = 0;
    for (const [inC, outC, n] of blockSetting) {
      const stage = new Sequential();
      for (let i = 0; i < n; i++, id++) {
        // torchvision: sd_prob = stochastic_depth_prob * stage_block_id / (total_stage_blocks - 1.0)
        stage.append(new CNBlock(inC, layerScale, total > 1 ? (sdProb * id) / (total - 1) : 0, rng, (seed + 1000 * id) >>> 0));
      }
      f.append(stage);
      if (outC !== null) f.append(new Sequential(new LayerNorm2d(inC, 1e-6), new Conv2d(inC, outC, 2, { stride: 2, bias: true, rng })));
    }
    const last = blockSetting.at(-1)!;
    const dim = last[1] ?? last[0];
    super(f, new Sequential(new LayerNorm2d(dim, 1e-6), new Flatten(1), new Linear(dim, opts.numClasses ?? 1000, { rng })), dim);
  }
}

/** torchvision's ConvNeXt from its block_setting, e.g. [[96, 192, 3], [192, 384, 3], [384, 768, 9], [768, null, 3]]. */
export function convnext(blockSetting: readonly CNBlockSetting[], opts: ConvNeXtOptions = {}): ConvNeXt { return new ConvNeXt(blockSetting, opts); }

/** ConvNeXt-T's block_setting. */
export const CONVNEXT_TINY: readonly CNBlockSetting[] = [[96, 192, 3], [192, 384, 3], [384, 768, 9], [768, null, 3]];

/** torchvision's convnext_tiny (28.6 M parameters; stochastic depth 0.1 as torchvision's builder sets it). */
export function convnextTiny(opts: ConvNeXtOptions = {}): ConvNeXt {
  return new ConvNeXt(CONVNEXT_TINY, { stochasticDepthProb: 0.1, ...opts });
}
