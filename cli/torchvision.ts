/**
 * torchvision backbones (ViT, ConvNeXt, EfficientNet, MobileNetV3) for `predict` and `finetune`: the
 * configuration read off the checkpoint's keys and shapes, the model built and loaded strictly, and
 * the preprocessing its zoo entry (or torchvision's ImageNet preset at its size) gives.
 */
import { ThawError } from '../engine/core/errors.ts';
import type { PreprocessSpec } from '../engine/data/preprocess.ts';
import { withInputSize } from '../engine/data/preprocess.ts';
import type { Checkpoint } from '../engine/io/types.ts';
import { describeLoad, loadStateDict, type LoadOptions, type LoadReport } from '../engine/train/load.ts';
import type { Classifier } from '../engine/train/types.ts';
import { IMAGENET_PREPROCESS } from '../models/resnet.ts';
import { ZOO, type ZooEntry } from '../models/zoo.ts';
import { buildFromConfig, describeConfig, FAMILY_REMAP, inferConfig, type Family, type TorchvisionConfig } from '../models/zoo_infer.ts';

/**
 * Builds the torchvision model `ck` holds and loads it: strictly, or (`skip`) all but the keys it
 * matches (a head to be replaced), every other key required.
 */
export function loadTorchvision(ck: Checkpoint, path: string, opts: { family?: Family; numHeads?: number; skip?: RegExp; rng?: () => number; seed?: number } = {}):
  { model: Classifier; config: TorchvisionConfig; report: LoadReport } {
  let config: TorchvisionConfig;
  try {
    config = inferConfig(ck.tensors, { family: opts.family, numHeads: opts.numHeads });
  } catch (e) {
    if (e instanceof ThawError) throw new ThawError(e.kind, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
  const model = buildFromConfig(config, { rng: opts.rng, seed: opts.seed });
  const load: LoadOptions = { remap: ['strip-module', ...FAMILY_REMAP[config.family]], source: path, skip: opts.skip };
  let report: LoadReport;
  try {
    report = loadStateDict(model, ck.tensors, load);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const skipped = new Set(report.skipped);
  if (report.missing.some((k) => !skipped.has(k)) || report.mismatched.length || report.unexpected.length) {
    model.dispose();
    throw new ThawError('state-dict', `${path} does not fit ${describeConfig(config)}:\n${describeLoad(report, true)}`);
  }
  model.preprocessing = torchvisionPreprocessing(config, undefined);
  return { model, config, report };
}

/**
 * The input a torchvision model expects: its zoo entry's preprocessing (that of the entry of the
 * same architecture when the checkpoint is not the zoo's own file), else torchvision's ImageNet
 * preset (shorter side to 256/224 of the crop, bilinear) at the model's input size (a ViT's image size, else 224).
 */
export function torchvisionPreprocessing(config: TorchvisionConfig, zoo: ZooEntry | undefined): PreprocessSpec {
  const size = config.family === 'vit' ? config.options.imageSize : 224;
  const entry = zoo?.architecture === config.family ? zoo
    : Object.values(ZOO).find((e) => e.architecture === config.family && e.name.replace(/-/g, '_') === config.name);
  const spec = entry?.preprocessing ?? { ...IMAGENET_PREPROCESS, resizeShorter: 256 };
  return spec.inputSize[0] === size && spec.inputSize[1] === size ? spec : withInputSize(spec, size);
}
