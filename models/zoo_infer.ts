/**
 * torchvision backbones from a checkpoint alone: which family a state_dict belongs to (ViT,
 * ConvNeXt, EfficientNet, MobileNetV3) and the builder arguments its keys and shapes determine, with
 * torchvision's names for them. What shapes cannot tell is taken from torchvision's named configs
 * (ViT's head count by hidden width; EfficientNet's and MobileNetV3's strides and activations by
 * matching the published variants) or must be given. Browser-safe.
 */
import { ThawError } from '../engine/core/errors.ts';
import type { Classifier } from '../engine/train/types.ts';
import type { RemapRule } from '../engine/train/load.ts';
import { VisionTransformer } from './vit.ts';
import { ConvNeXt, type CNBlockSetting } from './convnext.ts';
import { EfficientNet, EFFICIENTNET_B0_SETTING, EFFICIENTNET_VARIANTS, scaleSetting, type EfficientNetName } from './efficientnet.ts';
import { MobileNetV3, mobilenetV3Setting, type MobileNetV3Name } from './mobilenetv3.ts';
import { makeDivisible } from './mobilenetv2.ts';

/** The torchvision families whose configuration can be read off a checkpoint. */
export const FAMILIES = ['vit', 'convnext', 'efficientnet', 'mobilenetv3'] as const;
export type Family = typeof FAMILIES[number];

/** torchvision's VisionTransformer arguments (camelCase), all of them shape-determined but numHeads. */
export interface VitConfig { imageSize: number; patchSize: number; numLayers: number; numHeads: number; hiddenDim: number; mlpDim: number; numClasses: number }

/** A family, the builder arguments, and the torchvision builder name when they equal a published one. */
export type TorchvisionConfig =
  | { family: 'vit'; name: string | null; options: VitConfig; /** Where numHeads came from. */ heads: 'given' | 'named width' }
  | { family: 'convnext'; name: string | null; blockSetting: CNBlockSetting[]; options: { numClasses: number } }
  | { family: 'efficientnet'; name: EfficientNetName; options: { numClasses: number } }
  | { family: 'mobilenetv3'; name: MobileNetV3Name; options: { numClasses: number; widthMult: number; reducedTail: boolean } };

/** Anything with named shapes: a parsed checkpoint's tensors, or [key, shape] pairs. */
export type Shapes = ReadonlyMap<string, { readonly shape: readonly number[] }>;

/** torchvision's ViT configs: hidden width → heads (vit_b: 768/12, vit_l: 1024/16, vit_h: 1280/16). */
export const VIT_HEADS_BY_WIDTH: Readonly<Record<number, number>> = { 768: 12, 1024: 16, 1280: 16 };

const VIT_NAMES: Record<string, Partial<VitConfig>> = {
  vit_b_16: { patchSize: 16, numLayers: 12, numHeads: 12, hiddenDim: 768, mlpDim: 3072 },
  vit_b_32: { patchSize: 32, numLayers: 12, numHeads: 12, hiddenDim: 768, mlpDim: 3072 },
  vit_l_16: { patchSize: 16, numLayers: 24, numHeads: 16, hiddenDim: 1024, mlpDim: 4096 },
  vit_l_32: { patchSize: 32, numLayers: 24, numHeads: 16, hiddenDim: 1024, mlpDim: 4096 },
  vit_h_14: { patchSize: 14, numLayers: 32, numHeads: 16, hiddenDim: 1280, mlpDim: 5120 },
};

const CONVNEXT_NAMES: Record<string, CNBlockSetting[]> = {
  convnext_tiny: [[96, 192, 3], [192, 384, 3], [384, 768, 9], [768, null, 3]],
  convnext_small: [[96, 192, 3], [192, 384, 3], [384, 768, 27], [768, null, 3]],
  convnext_base: [[128, 256, 3], [256, 512, 3], [512, 1024, 27], [1024, null, 3]],
  convnext_large: [[192, 384, 3], [384, 768, 3], [768, 1536, 27], [1536, null, 3]],
};

/**
 * Key renames a family's published checkpoints need: torchvision's ViT files were saved before its
 * MLP block's keys became mlp.0 / mlp.3 (torchvision renames mlp.linear_1 / linear_2 on load too).
 */
export const FAMILY_REMAP: Readonly<Record<Family, RemapRule[]>> = {
  vit: [{ from: /\.mlp\.linear_1\./, to: '.mlp.0.' }, { from: /\.mlp\.linear_2\./, to: '.mlp.3.' }],
  convnext: [], efficientnet: [], mobilenetv3: [],
};

function fail(message: string): never { throw new ThawError('state-dict', message); }

/** Keys without DataParallel's `module.` prefix (when every key has it). */
function normalise(sd: Shapes): Map<string, readonly number[]> {
  const keys = [...sd.keys()];
  const strip = keys.length > 0 && keys.every((k) => k.startsWith('module.'));
  return new Map(keys.map((k) => [strip ? k.slice(7) : k, sd.get(k)!.shape]));
}

/** The family a state_dict's keys belong to, or null. */
export function detectFamily(sd: Shapes): Family | null {
  const m = normalise(sd);
  if (m.has('conv_proj.weight') && m.has('encoder.pos_embedding')) return 'vit';
  const keys = [...m.keys()];
  if (keys.some((k) => /^features\.\d+\.\d+\.layer_scale$/.test(k))) return 'convnext';
  if (keys.some((k) => /^features\.\d+\.\d+\.block\.\d+\.fc1\.weight$/.test(k)) && m.has('classifier.1.weight')) return 'efficientnet';
  if (keys.some((k) => /^features\.\d+\.block\.\d+\.0\.weight$/.test(k)) && m.has('classifier.3.weight')) return 'mobilenetv3';
  return null;
}

function shapeOf(m: Map<string, readonly number[]>, key: string, rank: number, family: string): readonly number[] {
  const s = m.get(key);
  if (!s) fail(`not a torchvision ${family} state_dict: it has no '${key}'`);
  if (s.length !== rank) fail(`not a torchvision ${family} state_dict: '${key}' has shape [${s.join(', ')}], expected ${rank} dimensions`);
  return s;
}

/** Distinct values of the first capture group over the keys matching `re`, sorted. */
function indices(m: Map<string, readonly number[]>, re: RegExp): number[] {
  const out = new Set<number>();
  for (const k of m.keys()) { const r = re.exec(k); if (r) out.add(Number(r[1])); }
  return [...out].sort((a, b) => a - b);
}

function inferVit(m: Map<string, readonly number[]>, numHeads?: number): TorchvisionConfig {
  const [hiddenDim, , patchSize] = shapeOf(m, 'conv_proj.weight', 4, 'ViT');
  const seq = shapeOf(m, 'encoder.pos_embedding', 3, 'ViT')[1];
  const side = Math.round(Math.sqrt(seq - 1));
  if (side * side !== seq - 1) fail(`not a torchvision ViT state_dict: encoder.pos_embedding holds ${seq} positions, not a square grid of patches plus the class token`);
  const layers = indices(m, /^encoder\.layers\.encoder_layer_(\d+)\./);
  if (!layers.length || layers.at(-1) !== layers.length - 1) fail(`not a torchvision ViT state_dict: encoder layers ${layers.join(', ') || '(none)'} are not numbered 0..N-1`);
  const mlp = m.get('encoder.layers.encoder_layer_0.mlp.0.weight') ?? m.get('encoder.layers.encoder_layer_0.mlp.linear_1.weight');
  if (!mlp) fail("not a torchvision ViT state_dict: it has no 'encoder.layers.encoder_layer_0.mlp.0.weight' (or mlp.linear_1)");
  if (m.has('heads.pre_logits.weight')) fail('this ViT has a representation layer (heads.pre_logits, representation_size), which thaw does not build');
  const numClasses = shapeOf(m, 'heads.head.weight', 2, 'ViT')[0];
  let heads: 'given' | 'named width' = 'given';
  if (numHeads === undefined) {
    numHeads = VIT_HEADS_BY_WIDTH[hiddenDim];
    heads = 'named width';
    if (numHeads === undefined) {
      fail(`a ViT checkpoint does not store its number of attention heads, and hidden width ${hiddenDim} is none of torchvision's ` +
        `(768: 12 heads, 1024: 16, 1280: 16); give the head count (--heads N)`);
    }
  }
  if (hiddenDim % numHeads) fail(`ViT: hidden width ${hiddenDim} is not divisible by ${numHeads} heads; give a head count that divides it (--heads N)`);
  const options: VitConfig = { imageSize: side * patchSize, patchSize, numLayers: layers.length, numHeads, hiddenDim, mlpDim: mlp[0], numClasses };
  const name = Object.entries(VIT_NAMES).find(([, c]) => Object.entries(c).every(([k, v]) => options[k as keyof VitConfig] === v))?.[0] ?? null;
  return { family: 'vit', name, options, heads };
}

function inferConvnext(m: Map<string, readonly number[]>): TorchvisionConfig {
  const stem = shapeOf(m, 'features.0.0.weight', 4, 'ConvNeXt')[0];
  const setting: [number, number | null, number][] = [];
  for (let i = 1; [...m.keys()].some((k) => k.startsWith(`features.${i}.`)); i++) {
    const blocks = indices(m, new RegExp(`^features\\.${i}\\.(\\d+)\\.layer_scale$`));
    if (blocks.length) {
      setting.push([m.get(`features.${i}.0.layer_scale`)?.[0] ?? fail(`ConvNeXt: features.${i}.0.layer_scale is missing`), null, blocks.length]);
    } else {
      const down = shapeOf(m, `features.${i}.1.weight`, 4, 'ConvNeXt');
      if (!setting.length) fail(`not a torchvision ConvNeXt state_dict: features.${i} downsamples before any stage`);
      setting.at(-1)![1] = down[0];
    }
  }
  if (!setting.length) fail('not a torchvision ConvNeXt state_dict: no CNBlock stages (features.N.M.layer_scale)');
  if (setting[0][0] !== stem) fail(`ConvNeXt: the stem has ${stem} channels but the first stage ${setting[0][0]}`);
  const numClasses = shapeOf(m, 'classifier.2.weight', 2, 'ConvNeXt')[0];
  const same = (a: readonly CNBlockSetting[], b: readonly CNBlockSetting[]) => a.length === b.length && a.every((s, i) => s.every((v, j) => v === b[i][j]));
  const name = Object.entries(CONVNEXT_NAMES).find(([, s]) => same(s, setting))?.[0] ?? null;
  return { family: 'convnext', name, blockSetting: setting, options: { numClasses } };
}

/** A describable summary of an MBConv-style trunk: stem width, blocks and output width per stage, last conv width. */
function signature(stem: number, stages: [number, number][], last: number): string {
  return `stem ${stem}, stages (blocks x width) ${stages.map(([n, c]) => `${n}x${c}`).join(' ')}, last conv ${last}`;
}

function inferEfficientnet(m: Map<string, readonly number[]>): TorchvisionConfig {
  const stem = shapeOf(m, 'features.0.0.weight', 4, 'EfficientNet')[0];
  const top = indices(m, /^features\.(\d+)\./).at(-1)!;
  const stages: [number, number][] = [];
  for (let i = 1; i < top; i++) {
    const blocks = indices(m, new RegExp(`^features\\.${i}\\.(\\d+)\\.block\\.`));
    const parts = indices(m, new RegExp(`^features\\.${i}\\.0\\.block\\.(\\d+)\\.0\\.weight$`));
    stages.push([blocks.length, m.get(`features.${i}.0.block.${parts.at(-1)}.0.weight`)?.[0] ?? 0]);
  }
  const last = shapeOf(m, `features.${top}.0.weight`, 4, 'EfficientNet')[0];
  const numClasses = shapeOf(m, 'classifier.1.weight', 2, 'EfficientNet')[0];
  const got = signature(stem, stages, last);
  for (const [name, v] of Object.entries(EFFICIENTNET_VARIANTS)) {
    const s = scaleSetting(EFFICIENTNET_B0_SETTING, v.widthMult, v.depthMult);
    if (signature(s[0].inC, s.map((x) => [x.layers, x.outC]), 4 * s.at(-1)!.outC) === got) return { family: 'efficientnet', name: name as EfficientNetName, options: { numClasses } };
  }
  return fail(`an EfficientNet state_dict that is none of torchvision's efficientnet_b0..b7 (${got}); its strides and expansions are not stored, so build it in code with efficientnet({ setting })`);
}

function inferMobilenetV3(m: Map<string, readonly number[]>): TorchvisionConfig {
  const stem = shapeOf(m, 'features.0.0.weight', 4, 'MobileNetV3')[0];
  const top = indices(m, /^features\.(\d+)\./).at(-1)!;
  const stages: [number, number][] = [];
  for (let i = 1; i < top; i++) {
    const parts = indices(m, new RegExp(`^features\\.${i}\\.block\\.(\\d+)\\.0\\.weight$`));
    stages.push([1, m.get(`features.${i}.block.${parts.at(-1)}.0.weight`)?.[0] ?? 0]);
  }
  const last = shapeOf(m, `features.${top}.0.weight`, 4, 'MobileNetV3')[0];
  const hidden = shapeOf(m, 'classifier.0.weight', 2, 'MobileNetV3')[0];
  const numClasses = shapeOf(m, 'classifier.3.weight', 2, 'MobileNetV3')[0];
  const got = `${signature(stem, stages, last)}, classifier ${hidden}`;
  for (const name of ['mobilenet_v3_large', 'mobilenet_v3_small'] as const) {
    for (const reducedTail of [false, true]) {
      for (const widthMult of [1, 0.75, 0.5, 1.25, 1.5, 2]) {
        const ch = (c: number) => makeDivisible(c * widthMult);
        const { setting, lastChannel } = mobilenetV3Setting(name, reducedTail);
        const want = `${signature(ch(setting[0][0]), setting.map((s) => [1, ch(s[3])]), 6 * ch(setting.at(-1)![3]))}, classifier ${ch(lastChannel)}`;
        if (want === got) return { family: 'mobilenetv3', name, options: { numClasses, widthMult, reducedTail } };
      }
    }
  }
  return fail(`a MobileNetV3 state_dict that is none of torchvision's mobilenet_v3_small/large (${got}); its strides and activations are not stored, so build it in code with new MobileNetV3(name, { setting })`);
}

/**
 * The family and torchvision builder arguments a state_dict's keys and shapes determine. `family`
 * forces one (else it is detected); `numHeads` gives a ViT's head count (else taken from
 * torchvision's config of that hidden width). Throws a ThawError ('state-dict') saying what does not fit.
 */
export function inferConfig(sd: Shapes, opts: { family?: Family; numHeads?: number } = {}): TorchvisionConfig {
  const m = normalise(sd);
  const family = opts.family ?? detectFamily(sd);
  if (!family) {
    const keys = [...m.keys()];
    fail(`the checkpoint is none of torchvision's ${FAMILIES.join(', ')} (its keys: ${keys.slice(0, 4).join(', ')}${keys.length > 4 ? `, … ${keys.length} in all` : ''})`);
  }
  switch (family) {
    case 'vit': return inferVit(m, opts.numHeads);
    case 'convnext': return inferConvnext(m);
    case 'efficientnet': return inferEfficientnet(m);
    case 'mobilenetv3': return inferMobilenetV3(m);
  }
}

/** Builds the backbone a config describes, with random weights (load the checkpoint into it next). */
export function buildFromConfig(cfg: TorchvisionConfig, opts: { rng?: () => number; seed?: number } = {}): Classifier {
  switch (cfg.family) {
    case 'vit': return new VisionTransformer({ ...cfg.options, ...opts });
    case 'convnext': return new ConvNeXt(cfg.blockSetting, { ...cfg.options, ...opts });
    case 'efficientnet': return new EfficientNet({ variant: cfg.name, ...cfg.options, ...opts });
    case 'mobilenetv3': return new MobileNetV3(cfg.name, { ...cfg.options, rng: opts.rng });
  }
}

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const py = (v: unknown): string => (v === null ? 'None' : v === true ? 'True' : v === false ? 'False' : Array.isArray(v) ? `[${v.map(py).join(', ')}]` : String(v));

/** The config as torchvision's constructor call, e.g. `vit_b_16: VisionTransformer(image_size=224, ..., num_classes=1000)`. */
export function describeConfig(cfg: TorchvisionConfig): string {
  const args = (o: object) => Object.entries(o).map(([k, v]) => `${snake(k)}=${py(v)}`).join(', ');
  switch (cfg.family) {
    case 'vit': return `${cfg.name ?? 'ViT'}: VisionTransformer(${args(cfg.options)})${cfg.heads === 'named width' ? ` (num_heads from torchvision's ${cfg.options.hiddenDim}-wide configs; not stored in the checkpoint)` : ''}`;
    case 'convnext': return `${cfg.name ?? 'ConvNeXt'}: ConvNeXt(block_setting=${py(cfg.blockSetting)}, ${args(cfg.options)})`;
    case 'efficientnet': return `${cfg.name}(${args(cfg.options)})`;
    case 'mobilenetv3': return `${cfg.name}(${args(cfg.options)})`;
  }
}
