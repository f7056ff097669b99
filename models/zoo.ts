/**
 * The model zoo: named pre-trained checkpoints with their files (URL, sha256, size), licence,
 * architecture, input preprocessing and labels. Data only and browser-safe; fetching, caching and
 * verification live in the node-only `zoo-fetch.ts`.
 */
import { UnknownModelError } from '../engine/data/errors.ts';
import { IMAGENET_MEAN, IMAGENET_STD, type PreprocessSpec } from '../engine/data/preprocess.ts';
import { IMAGENET_CLASSES } from './zoo_imagenet.ts';
import type { Family } from './zoo_infer.ts';

/**
 * Backbone architectures the models/ folder builds; a torchvision family ('vit', 'convnext',
 * 'efficientnet', 'mobilenetv3') takes its configuration from the checkpoint's keys and shapes.
 */
export type Architecture = 'resnet20-cifar10' | 'darknet-tiny' | 'mobilenetv2-keras' | Family;

/**
 * Checkpoint container formats: PyTorch legacy (pre-1.6 tar-less pickle) and zip, safetensors,
 * TF.js layers (model.json + binary shards), and TF.js layers wrapped in UMD .js files (nsfwjs).
 */
export type CheckpointFormat = 'torch-legacy' | 'torch-zip' | 'safetensors' | 'tfjs-layers' | 'tfjs-layers-umd';

/** One file of a checkpoint. */
export interface ZooFile {
  /** Relative path inside the model's directory (also its name in the cache). */
  path: string;
  /** Public download URL, or null for a file that only exists as a local copy. */
  url: string | null;
  /**
   * Lower-case hex sha256 of the exact bytes: all 64 digits, or for torchvision's files the digits
   * their name carries (torch.hub's hash-prefix check: the digest must start with them).
   */
  sha256: string;
  /** Size in bytes, or null where only the hash prefix is published. */
  bytes: number | null;
}

/**
 * The hash prefix a file name carries as torch.hub reads it: the hex digits between the first '-'
 * followed by hex digits and the next '.' ('vit_b_16-c867db91.pth' → 'c867db91'), or null.
 */
export function hubHashPrefix(fileName: string): string | null {
  return /-([a-f0-9]*)\./.exec(fileName)?.[1] || null;
}

/** Whether a file's actual sha256 satisfies the zoo's: equal, or starting with a published prefix. */
export function sha256Matches(file: Pick<ZooFile, 'sha256'>, actual: string): boolean {
  return file.sha256.length >= 8 && actual.startsWith(file.sha256);
}

/** A zoo entry. */
export interface ZooEntry {
  name: string;
  description: string;
  format: CheckpointFormat;
  architecture: Architecture;
  files: readonly ZooFile[];
  licence: { spdx: string; holder: string };
  /** Where the files come from (repository/package and revision), for people. */
  source: string;
  preprocessing: PreprocessSpec;
  /** Class names in output order, inline, or the name of a JSON file (array of strings) among `files`. */
  labels: readonly string[] | { file: string };
  /**
   * Directories, relative to the repository root, that may hold local copies of the files
   * (zoo-fetch's default offline sources).
   */
  localDirs: readonly string[];
}

/** Freezes the registry all the way down, so no caller can alter an entry by accident. */
function deepFreeze<T>(x: T): T {
  if (x && typeof x === 'object' && !Object.isFrozen(x)) {
    Object.freeze(x);
    for (const v of Object.values(x)) deepFreeze(v);
  }
  return x;
}

/** CIFAR-10 class names in label order. */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
]);

const RESNET20_URL = 'https://raw.githubusercontent.com/akamaster/pytorch_resnet_cifar10/d5489e8/pretrained_models/resnet20-12fca82f.th';
const DARKNET_BASE = 'https://cdn.jsdelivr.net/gh/ml5js/ml5-data-and-models@master/models/darknetclassifier/darknettiny/';
const NSFWJS_BASE = 'https://cdn.jsdelivr.net/npm/nsfwjs@4.4.0/dist/models/mobilenet_v2/';

const CIFAR_SPEC: PreprocessSpec = {
  inputSize: [32, 32], channels: 3, mean: IMAGENET_MEAN, std: IMAGENET_STD, scale: 1 / 255,
  resize: 'bilinear', alignCorners: false,
};

/** RGB / 255 at 224x224, resized with align-corners as ml5 and nsfwjs do. */
const TFJS_224_SPEC: PreprocessSpec = {
  inputSize: [224, 224], channels: 3, mean: [0, 0, 0], std: [1, 1, 1], scale: 1 / 255,
  resize: 'bilinear', alignCorners: true,
};

const RESNET20_COMMON = {
  architecture: 'resnet20-cifar10',
  licence: { spdx: 'BSD-2-Clause', holder: 'Yerlan Idelbayev' },
  preprocessing: CIFAR_SPEC,
  labels: CIFAR10_CLASSES,
  localDirs: ['../shared/checkpoints/resnet20-cifar10'],
} as const;

/** [sha256, bytes] of darknet-tiny's groupN-shard1of1, N = 1..31. */
const DARKNET_SHARDS: ReadonlyArray<readonly [string, number]> = [
  ['1a95595a3f6c497f27747d40276649a10988d0808a121ddfb3f6b368133f44c5', 256],
  ['8226135041fbafc7c3a838d0673badb8d3e4211a4d550781951d15a09445ea47', 4096],
  ['3a465f4bbcbcd7721caa77b704829cfe20eadab670a8d91a352e76e4cfca1a02', 1024],
  ['3e661974c4740795f3ca9b882ae80dc3521951dac2b262ac054329f17aaefb10', 8192],
  ['5f1fa7779fe01d2b06ea3804f84e5cf6a25688dc458617a9f35a1018356abcbf', 1024],
  ['e054b14e9e866da448ab351f04d3920ae216032b3df680396163a77b8925a009', 8192],
  ['2aed907302664d64b85669a293c8f5a492521b4d025b9b3a19943f951a7e32df', 2048],
  ['99e0418ac61cd6093df0bb4a5a67750ec0b0fbb8edb2125c0cfda67e3cb3f1a4', 512],
  ['4fb47f3aa4f19f7fabd7d4271cf81e8af7735fcfc89bf4b9174f379bb60b129d', 256],
  ['2afc82f4d423cb8272e4089b69c5dba2755eea8499935b4f0020e27b5d559557', 2048],
  ['8957dc1caa88193522d8071f6ac3171634818bb50223b1e98ace21f010b414cc', 256],
  ['bced27a16699c0eca4ee4d15c4e5fac46532a6f2850b53445818c0e2e69af7b1', 2048],
  ['5e6172c6d71505fce1a9388e733aaddf21f6ab14f9ccaf10d2986a94b8f19b42', 512],
  ['adfb4ad19dea5c1ba0c9b7e7d90f6265aac136a7d98e0f0eed4362d62e5e51f8', 4096],
  ['79131184270263a2c585240efbfdd3ed13fc005c67b761ced984c70265209511', 512],
  ['d70b0b9f3db3d51bd5613246885f4723998aef2e56845c7dec75743221f1ef5e', 1728],
  ['3dad37a465ab881c2d2006072cd60d83144d04a5c5448f49e15308472bbb145a', 294912],
  ['c7a7f19a7a9e3a780bd1aedfe30a7e594821ea8d57d6e72d148c033b0f24f5fa', 65536],
  ['4f16fe423091d9b32d59bff14cd19f1a6a233bc98adade4a1e0ef0d2972752b5', 1179648],
  ['1efd0b489da0d04808a02175c2803528313f7e9abadb18a5dc3ae0b5bd5c0331', 131072],
  ['9d024d14a803a3b078df0e9829bcc13a8901c3a6043456632ce5697be5734155', 1179648],
  ['0c18a3238859e649bac990e90dc4738861ffd07e9bee725139bec9ef3b8545ef', 262144],
  ['2116862cb9cd43b21a3bfa3ea41e43dbe33284a97a8a22c5afe8d768f5a767af', 516000],
  ['35c4204cee6796300f50addf2a2202a137eaa8a42999a79168f9226f60c8a62b', 18432],
  ['9a37816bda07b3be24b88103a11dcc5d3eea15749a15594492b03ba3177a6a5e', 2048],
  ['697677a6c94bd84fb0b558421629b5424101c4ea16601be53096275f43891f6c', 73728],
  ['ef48b33bcf06fed0a9cc8b41017bccbf4f32fceeae946c00e0fd130fc467f9e4', 8192],
  ['2831d9d4368b4cad678f9a3df4c9575bc35e1c2a7ef6ebed887c02c06a4f6dab', 73728],
  ['720e58d7e54901e8db21d698fc094ffcb65a5991397895fef827ce53094b2a15', 16384],
  ['a68c7913477828b28c2fe1924b191139877f7825e5f1a2e1c1b0e0e92accc669', 294912],
  ['7985bd42bc5c0333e563998ad6d4616b0afaf1765f2b8c4c6df3944cf8f13992', 32768],
];

const TORCHVISION_BASE = 'https://download.pytorch.org/models/';

/** torchvision's ImageClassification preset: resize the shorter side, centre crop, ImageNet mean and std. */
function torchvisionSpec(crop: number, resize: number, resizeMode: 'bilinear' | 'bicubic' = 'bilinear'): PreprocessSpec {
  return { inputSize: [crop, crop], channels: 3, mean: IMAGENET_MEAN, std: IMAGENET_STD, scale: 1 / 255, resize: resizeMode, alignCorners: false, resizeShorter: resize };
}

/** A torchvision ImageNet-1k checkpoint, verified as torch.hub does: by the hash prefix in its file name. */
function torchvision(name: string, architecture: Family, file: string, spec: PreprocessSpec, description: string, licence = { spdx: 'BSD-3-Clause', holder: 'Soumith Chintala (torchvision)' }): ZooEntry {
  return {
    name, description, format: 'torch-zip', architecture, licence, preprocessing: spec, labels: IMAGENET_CLASSES,
    source: `torchvision 0.14 (${file}); trained on ImageNet-1k, whose terms of access apply`,
    files: [{ path: file, url: `${TORCHVISION_BASE}${file}`, sha256: hubHashPrefix(file)!, bytes: null }],
    localDirs: [`../shared/checkpoints/${name}`],
  };
}

const ENTRIES: readonly ZooEntry[] = deepFreeze([
  {
    ...RESNET20_COMMON,
    name: 'resnet20-cifar10',
    description: 'ResNet-20 for CIFAR-10 (0.27M params, 91.78% top-1), the original PyTorch legacy-format checkpoint: {best_prec1, state_dict} with module.-prefixed keys',
    format: 'torch-legacy',
    source: 'github akamaster/pytorch_resnet_cifar10@d5489e8 pretrained_models/resnet20-12fca82f.th',
    files: [{ path: 'resnet20-12fca82f.th', url: RESNET20_URL, sha256: '12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8', bytes: 1099231 }],
  },
  {
    ...RESNET20_COMMON,
    name: 'resnet20-cifar10-pt',
    description: 'The same ResNet-20 weights re-saved by PyTorch 1.13 in the zip format (local copy only)',
    format: 'torch-zip',
    source: 'resnet20-12fca82f.th re-saved with torch.save (no public URL)',
    files: [{ path: 'resnet20-cifar10.pt', url: null, sha256: '7d5349bb6818c9cc17381a9fb54efb078645f20a480b6ef3c7958ad42dd69ff9', bytes: 1114237 }],
  },
  {
    ...RESNET20_COMMON,
    name: 'resnet20-cifar10-safetensors',
    description: 'The same ResNet-20 state_dict as safetensors, without the module. prefix (local copy only)',
    format: 'safetensors',
    source: 'resnet20-12fca82f.th converted with safetensors (no public URL)',
    files: [{ path: 'resnet20-cifar10.safetensors', url: null, sha256: 'd6d2634b5bdacb995f5241afc98034e16dade172979462d13946d2164c959fa7', bytes: 1093392 }],
  },
  {
    name: 'darknet-tiny',
    description: 'Darknet tiny reference net, ImageNet-1k (1.05M params), as the TF.js layers model ml5 serves; labels in Darknet order',
    format: 'tfjs-layers',
    architecture: 'darknet-tiny',
    licence: { spdx: 'MIT', holder: 'ml5' },
    source: 'github ml5js/ml5-data-and-models (commit 0612a3e) models/darknetclassifier/darknettiny/; labels.json from ml5 (no public URL as JSON)',
    preprocessing: TFJS_224_SPEC,
    labels: { file: 'labels.json' },
    localDirs: ['../shared/checkpoints/darknet-tiny'],
    files: [
      { path: 'model.json', url: `${DARKNET_BASE}model.json`, sha256: '5a5ee1ddb33ac7948b303197f4c63f72a80fc00a7d2870d30843004ddd5b4b51', bytes: 33236 },
      ...DARKNET_SHARDS.map(([sha256, bytes], i) => ({ path: `group${i + 1}-shard1of1`, url: `${DARKNET_BASE}group${i + 1}-shard1of1`, sha256, bytes })),
      { path: 'labels.json', url: null, sha256: '8a5eebacc0595e5d8fbe28e90b6f3a0a1fd9a32433823569126ae9370d3f0655', bytes: 13473 },
    ],
  },
  {
    name: 'mobilenetv2-nsfwjs',
    description: 'Keras MobileNetV2 (alpha 1.0, 224) with a 256-128-5 head, uint8-quantized TF.js layers model wrapped in UMD .js files, from nsfwjs',
    format: 'tfjs-layers-umd',
    architecture: 'mobilenetv2-keras',
    licence: { spdx: 'MIT', holder: 'Infinite Red, Inc.' },
    source: 'npm nsfwjs@4.4.0 dist/models/mobilenet_v2/',
    preprocessing: TFJS_224_SPEC,
    labels: Object.freeze(['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy']),
    localDirs: ['node_modules/nsfwjs/dist/models/mobilenet_v2'],
    files: [
      { path: 'model.min.js', url: `${NSFWJS_BASE}model.min.js`, sha256: 'c32f104fd562b08cdff5ed69dfe1209643afa47e792fb12751d2949aa61a397a', bytes: 106679 },
      { path: 'group1-shard1of1.min.js', url: `${NSFWJS_BASE}group1-shard1of1.min.js`, sha256: 'ef2e0a63f7d2c4960b37b024b669313f65d3c45cd59e9042636c55b39de53517', bytes: 3493394 },
    ],
  },
  torchvision('vit-b-16', 'vit', 'vit_b_16-c867db91.pth', torchvisionSpec(224, 256),
    "torchvision's vit_b_16 IMAGENET1K_V1 (86.6M params, 81.07% top-1): patch 16, 12 layers, 12 heads, width 768"),
  torchvision('convnext-tiny', 'convnext', 'convnext_tiny-983f1562.pth', torchvisionSpec(224, 236),
    "torchvision's convnext_tiny IMAGENET1K_V1 (28.6M params, 82.52% top-1)"),
  // torchvision 0.14 names efficientnet_b0_rwightman-3dd342df.pth, but that URL now serves a file whose
  // sha256 starts 7f5810bc (it fails torch.hub's own check); torchvision >= 0.16 names this file.
  torchvision('efficientnet-b0', 'efficientnet', 'efficientnet_b0_rwightman-7f5810bc.pth', torchvisionSpec(224, 256, 'bicubic'),
    "torchvision's efficientnet_b0 IMAGENET1K_V1 (5.3M params, 77.69% top-1), ported from timm",
    { spdx: 'Apache-2.0', holder: 'Ross Wightman (timm), via torchvision' }),
  torchvision('mobilenet-v3-small', 'mobilenetv3', 'mobilenet_v3_small-047dcff4.pth', torchvisionSpec(224, 256),
    "torchvision's mobilenet_v3_small IMAGENET1K_V1 (2.5M params, 67.67% top-1)"),
  torchvision('mobilenet-v3-large', 'mobilenetv3', 'mobilenet_v3_large-8738ca79.pth', torchvisionSpec(224, 256),
    "torchvision's mobilenet_v3_large IMAGENET1K_V1 (5.5M params, 74.04% top-1)"),
]);

/** The registry, by name. */
export const ZOO: Readonly<Record<string, ZooEntry>> = Object.freeze(Object.fromEntries(ENTRIES.map((e) => [e.name, e])));

/** Registered model names, in registry order. */
export function modelNames(): string[] {
  return ENTRIES.map((e) => e.name);
}

/** Levenshtein distance (insert, delete, substitute each cost 1). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** Up to `max` candidates nearest to `name` (case-insensitive edit distance; ties keep candidate order). */
export function nearestNames(name: string, candidates: readonly string[], max = 3): string[] {
  const q = name.toLowerCase();
  return candidates
    .map((c, i) => ({ c, i, d: editDistance(q, c.toLowerCase()) - (c.toLowerCase().includes(q) && q.length >= 3 ? c.length : 0) }))
    .sort((x, y) => x.d - y.d || x.i - y.i)
    .slice(0, max)
    .map((x) => x.c);
}

/** The entry for `name`; an unknown name throws UnknownModelError listing the nearest names. */
export function getZooEntry(name: string): ZooEntry {
  const entry = Object.prototype.hasOwnProperty.call(ZOO, name) ? ZOO[name] : undefined;
  if (entry) return entry;
  const near = nearestNames(name, modelNames());
  throw new UnknownModelError(`unknown model '${name}'. Did you mean ${near.map((n) => `'${n}'`).join(' or ')}? ` +
    `Known models: ${modelNames().join(', ')}`, near);
}
