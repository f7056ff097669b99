/** The CLI's command table: each command's summary, help (with examples) and runner. */
import { parseArgs, optionHelp, suggest, UsageError, type OptionSpec } from './args.ts';

export interface Command {
  summary: string;
  help(): string;
  run(argv: string[]): Promise<void>;
}

function command(name: string, summary: string, usage: string, spec: Record<string, OptionSpec>, examples: string[],
  run: (p: ReturnType<typeof parseArgs>) => Promise<void>): Command {
  return {
    summary,
    help: () => `${summary}\n\nUsage: thaw ${name} ${usage}\n\nOptions:\n${optionHelp(spec)}\n\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}`,
    run: (argv) => run(parseArgs(argv, spec, name)),
  };
}

/** An optional --max-pixels: a positive integer, set as the cap on decoded image pixels. */
/** --heads: a positive integer, or undefined when not given. */
function headsOption(command: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (!(Number.isInteger(v) && (v as number) >= 1)) throw new UsageError(`thaw ${command}: --heads must be a positive integer (a ViT's attention heads), got ${v}`);
  return v as number;
}

async function maxPixelsOption(command: string, v: unknown): Promise<void> {
  const image = await import('../engine/data/image.ts');
  if (v === undefined) {
    try { image.maxPixels(); } catch (e) { throw new UsageError(`thaw ${command}: ${(e as Error).message}`); } // a bad $THAW_MAX_PIXELS
    return;
  }
  if (!(Number.isSafeInteger(v) && (v as number) > 0)) throw new UsageError(`thaw ${command}: --max-pixels must be a positive integer (a pixel count, e.g. 250000000), got ${v}`);
  image.setMaxPixels(v as number);
}

const HEADS: OptionSpec = { type: 'number', help: "a ViT's attention heads, which its checkpoint does not store (default: torchvision's for its width: 768 → 12, 1024 and 1280 → 16)" };
const MAX_PIXELS: OptionSpec = { type: 'number', help: 'refuse images larger than this many pixels, read from their headers before decoding (default: $THAW_MAX_PIXELS or 100000000)' };

export const COMMANDS: Record<string, Command> = {
  info: command('info', 'Show the WebGPU adapter, driver, backend, features and limits', '[--json]',
    { json: { type: 'boolean', help: 'print JSON' } },
    ['thaw info', 'THAW_ADAPTER=swiftshader thaw info --json'],
    async (p) => (await import('./info.ts')).info(!!p.options.json)),
  fetch: command('fetch', 'Download zoo models into the cache (sha256-verified) and print their paths; --list shows the zoo', 'NAME... [--cache DIR] [--offline] | --list', {
    list: { type: 'boolean', help: 'list the zoo: formats, sizes, licences and where each would come from' },
    cache: { type: 'string', help: 'cache folder (default: $THAW_CACHE or ~/.cache/thaw)' },
    offline: { type: 'boolean', help: 'never download: the cache and local copies only (also $THAW_OFFLINE=1; $THAW_OFFLINE_DIRS lists folders of local copies)' },
    json: { type: 'boolean', help: 'print JSON' },
  }, ['thaw fetch --list', 'thaw fetch resnet20-cifar10', 'thaw fetch darknet-tiny --cache ./models', 'THAW_CACHE=/data/thaw thaw fetch mobilenetv2-nsfwjs --offline', 'THAW_OFFLINE_DIRS=/mnt/models thaw fetch resnet20-cifar10 --offline'],
  async (p) => {
    if (p.options.list && p.positionals.length) throw new UsageError('thaw fetch: --list takes no model names');
    const { runFetch } = await import('./fetch.ts');
    await runFetch({ names: p.positionals, cache: p.options.cache as string | undefined, offline: !!p.options.offline, list: !!p.options.list, json: !!p.options.json });
  }),
  inspect: command('inspect', 'Show what a checkpoint holds: format, tensors (name, dtype, shape), parameters, metadata, TF.js layers', 'FILE|FOLDER|ZOO-NAME [--json] [--filter REGEX]', {
    json: { type: 'boolean', help: 'print JSON' },
    filter: { type: 'string', help: 'only tensors (and layers) whose name matches this regular expression' },
    cache: { type: 'string', help: 'zoo cache folder, when inspecting a zoo name' },
    offline: { type: 'boolean', help: 'never download, when inspecting a zoo name' },
    heads: { type: 'number', help: "a ViT's attention heads for the configuration shown (not stored in its checkpoint)" },
  }, ['thaw inspect resnet20-12fca82f.th', 'thaw inspect convnext_tiny-983f1562.pth', 'thaw inspect out/finetune/weights.safetensors --json',
    'thaw inspect node_modules/nsfwjs/dist/models/mobilenet_v2/', "thaw inspect darknet-tiny --filter '^conv2d_1[0-9]'"],
  async (p) => {
    if (p.positionals.length !== 1) throw new UsageError(`thaw inspect: give exactly one checkpoint file, folder or zoo name (got ${p.positionals.length})`);
    const { runInspect } = await import('./inspect.ts');
    await runInspect({ target: p.positionals[0], json: !!p.options.json, filter: p.options.filter as string | undefined, cache: p.options.cache as string | undefined, offline: !!p.options.offline, heads: headsOption('inspect', p.options.heads) });
  }),
  finetune: command('finetune', 'Fine-tune a pre-trained backbone on a dataset (default: ResNet-20 CIFAR-10 → Fashion-MNIST, 100 labels per class)', '[options]', {
    model: { type: 'string', help: 'backbone from the zoo: resnet20-cifar10, mobilenetv2-nsfwjs, darknet-tiny, and torchvision\'s ImageNet vit-b-16, convnext-tiny, efficientnet-b0, mobilenet-v3-small, mobilenet-v3-large (configured from the checkpoint, so --weights may hold another size of the family)', default: 'resnet20-cifar10' },
    size: { type: 'number', help: "input size in pixels (default: the checkpoint's own, e.g. 32 for ResNet-20, 224 for the Keras models)" },
    weights: { type: 'string', help: 'checkpoint file instead of the zoo download' },
    data: { type: 'string', help: "'fashion-mnist' or a folder with one subfolder per class", default: 'fashion-mnist' },
    'labels-per-class': { type: 'number', help: 'labelled training images per class', default: 100 },
    'test-size': { type: 'number', help: 'test images to evaluate on, drawn per class with the seed (default: 2000, or every image left when fewer)' },
    'val-split': { type: 'number', help: "fraction of each class's labelled images held out to evaluate on after each epoch (0: each epoch is evaluated on the test images)", default: 0 },
    freeze: { type: 'string', help: "what to freeze: a depth in layer groups (ResNet-20: 7 = stem, layer1, layer2; -1 = all but the head), /regex/, or name prefixes (default: ResNet-20 7, MobileNetV2 12, darknet-tiny 13, the torchvision backbones -1)" },
    epochs: { type: 'number', help: 'training epochs', default: 10 },
    lr: { type: 'number', help: 'peak learning rate', default: 0.05 },
    batch: { type: 'number', help: 'batch size', default: 64 },
    optimizer: { type: 'string', help: 'sgd | adam | adamw', default: 'sgd' },
    schedule: { type: 'string', help: 'constant | cosine | onecycle | warmup-cosine', default: 'cosine' },
    seed: { type: 'number', help: 'random seed (data subset, shuffling, augmentation, head init, dropout): the same seed gives the same run', default: 0 },
    out: { type: 'string', help: 'output folder for weights, report and plot', default: 'out/finetune' },
    json: { type: 'boolean', help: 'print the JSON report instead of text' },
    'from-scratch': { type: 'boolean', help: 'baseline: random weights, everything trainable' },
    augment: { type: 'boolean', help: 'random flips and crops (disables the feature cache)' },
    'no-cache': { type: 'boolean', help: 'never use the frozen-trunk feature cache' },
    precision: { type: 'string', help: "f32, or mixed (needs an adapter with shader-f16): the feature cache in f16, matmuls and convs in f16 from f32 master weights, loss in f32, dynamic loss scaling", default: 'f32' },
    'eval-every': { type: 'number', help: 'evaluate on the test images every N epochs (and after the last)', default: 1 },
    'head-epochs': { type: 'number', help: 'gradual unfreezing: train the head alone this many epochs first, then the groups after --freeze (a depth)', default: 0 },
    'lr-min': { type: 'number', help: 'discriminative rates: learning rate of the lowest trainable layer group, rising geometrically to --lr at the head (with --head-epochs: default --lr / 100)' },
    'label-smoothing': { type: 'number', help: 'cross-entropy label smoothing, PyTorch\'s label_smoothing (0 = none)', default: 0 },
    'bn-momentum': { type: 'string', help: "momentum of the trainable BatchNorm layers (PyTorch convention), or 'auto': 0.1 where the checkpoint's own (Keras: 0.001) would leave stale running statistics", default: 'auto' },
    lora: { type: 'number', help: "LoRA: train rank-N adapters on the --lora-target layers (and the new head) with the rest frozen, instead of --freeze; also writes the adapter as PEFT's folder (out/adapter)" },
    'lora-target': { type: 'string', help: "with --lora: the layers to adapt: module names (PEFT's target_modules, e.g. query,value), /regex/, or a preset: pointwise (1x1 convs), bert (default: resnet20-cifar10 the residual blocks' 3x3 convs; vit-b-16 out_proj,mlp.0,mlp.3; convnext-tiny block.3,block.5; else pointwise)" },
    'lora-alpha': { type: 'number', help: 'with --lora: the update is scaled by alpha / rank (default: the rank)' },
    heads: HEADS,
    'max-pixels': MAX_PIXELS,
  }, ['thaw finetune', 'thaw finetune --freeze 7 --epochs 10', "thaw finetune --lora 4 --lora-target '/^layer3\\./'", 'thaw finetune --model mobilenetv2-nsfwjs --size 64',
    'thaw finetune --model vit-b-16 --lora 8 --data ./my-images --labels-per-class 20', 'thaw finetune --model efficientnet-b0 --weights efficientnet_b0_rwightman-7f5810bc.pth --size 128', 'thaw finetune --from-scratch --epochs 30 --out out/scratch', 'thaw finetune --data ./my-images --labels-per-class 20'],
  async (p) => {
    const o = p.options;
    if (p.positionals.length) throw new UsageError(`thaw finetune: unexpected argument '${p.positionals[0]}'`);
    for (const k of ['labels-per-class', 'epochs', 'batch', 'test-size'] as const) {
      if (k === 'test-size' && o[k] === undefined) continue;
      if (!Number.isInteger(o[k]) || (o[k] as number) < 1) throw new UsageError(`thaw finetune: --${k} must be a positive integer, got ${o[k]}`);
    }
    // Fractions or negatives here were taken silently: --eval-every 0 evaluated only after the last epoch, --head-epochs -1 skipped the head phase.
    if (!Number.isInteger(o['eval-every']) || (o['eval-every'] as number) < 1) throw new UsageError(`thaw finetune: --eval-every must be a positive integer, got ${o['eval-every']}`);
    if (!Number.isInteger(o['head-epochs']) || (o['head-epochs'] as number) < 0) throw new UsageError(`thaw finetune: --head-epochs must be a non-negative integer, got ${o['head-epochs']}`);
    const vs = o['val-split'] as number;
    if (!(vs >= 0 && vs < 1)) throw new UsageError(`thaw finetune: --val-split must be in [0, 1), got ${vs}`);
    if (!Number.isSafeInteger(o.seed)) throw new UsageError(`thaw finetune: --seed must be an integer, got ${o.seed}`);
    if (o.freeze !== undefined) {
      const { parseFreezeSpec } = await import('../engine/train/freeze.ts');
      try { parseFreezeSpec(o.freeze as string); } catch (e) { throw new UsageError(`thaw finetune: --freeze: ${(e as Error).message}`); }
    }
    const loraRank = o.lora as number | undefined;
    if (loraRank !== undefined && !(Number.isInteger(loraRank) && loraRank >= 1)) throw new UsageError(`thaw finetune: --lora must be a positive integer (the adapters' rank), got ${loraRank}`);
    for (const k of ['lora-target', 'lora-alpha'] as const) if (o[k] !== undefined && loraRank === undefined) throw new UsageError(`thaw finetune: --${k} needs --lora RANK`);
    const loraAlpha = o['lora-alpha'] as number | undefined;
    if (loraAlpha !== undefined && !(loraAlpha > 0)) throw new UsageError(`thaw finetune: --lora-alpha must be > 0, got ${loraAlpha}`);
    if (o['lora-target'] !== undefined) {
      const { parseLoraTarget } = await import('../engine/train/lora.ts');
      try { parseLoraTarget(o['lora-target'] as string); } catch (e) { throw new UsageError(`thaw finetune: --lora-target: ${(e as Error).message}`); }
    }
    if (!((o.lr as number) > 0)) throw new UsageError(`thaw finetune: --lr must be > 0, got ${o.lr}`);
    const lrMin = o['lr-min'] as number | undefined;
    if (lrMin !== undefined && !(lrMin > 0 && lrMin <= (o.lr as number))) throw new UsageError(`thaw finetune: --lr-min must be > 0 and at most --lr (${o.lr}), got ${lrMin}`);
    const ls = o['label-smoothing'] as number;
    if (!(ls >= 0 && ls < 1)) throw new UsageError(`thaw finetune: --label-smoothing must be in [0, 1), got ${ls}`);
    const bnArg = o['bn-momentum'] as string;
    const bnm = bnArg === 'auto' ? 'auto' as const : Number(bnArg);
    if (bnm !== 'auto' && !(bnm >= 0 && bnm <= 1)) throw new UsageError(`thaw finetune: --bn-momentum must be 'auto' or a number in [0, 1], got ${bnArg}`);
    const size = o.size as number | undefined;
    if (size !== undefined && !(Number.isInteger(size) && size >= 8)) throw new UsageError(`thaw finetune: --size must be an integer of at least 8 pixels, got ${size}`);
    if (o.precision === 'f16') throw new UsageError('thaw finetune: --precision f16 (weights in f16 without f32 masters) is not offered: updates smaller than half an f16 step of a weight would be lost; use --precision mixed');
    if (o.precision !== 'f32' && o.precision !== 'mixed') throw new UsageError(`thaw finetune: --precision must be f32 or mixed, got ${o.precision}`);
    await maxPixelsOption('finetune', o['max-pixels']);
    const { runFinetune } = await import('./finetune.ts');
    await runFinetune({
      model: o.model as string, weights: o.weights as string | undefined, data: o.data as string, labelsPerClass: o['labels-per-class'] as number,
      testSize: o['test-size'] as number | undefined, valSplit: vs, freeze: o.freeze as string | undefined, size, epochs: o.epochs as number, lr: o.lr as number, batch: o.batch as number,
      optimizer: o.optimizer as string, schedule: o.schedule as string, seed: o.seed as number, out: o.out as string, json: !!o.json,
      fromScratch: !!o['from-scratch'], augment: !!o.augment, cache: !o['no-cache'], evalEvery: o['eval-every'] as number,
      headEpochs: o['head-epochs'] as number, lrMin, bnMomentum: bnm, labelSmoothing: ls,
      lora: loraRank, loraTarget: o['lora-target'] as string | undefined, loraAlpha, precision: o.precision as 'f32' | 'mixed',
      heads: headsOption('finetune', o.heads),
    });
  }),
  predict: command('predict', 'Classify PNG/JPEG images with a zoo or fine-tuned checkpoint (top-k labels with probabilities)', '[--weights FILE|NAME] [options] IMAGE...', {
    weights: { type: 'string', help: "checkpoint: a file (.th/.pt/.safetensors, a 'thaw finetune' weights.safetensors, model.json) or a zoo name; default: the --model's zoo checkpoint" },
    model: { type: 'string', help: "architecture or zoo name: resnet20-cifar10, darknet-tiny, mobilenetv2-nsfwjs, vit-b-16, convnext-tiny, efficientnet-b0, mobilenet-v3-small, mobilenet-v3-large, or a torchvision family configured from the checkpoint: vit, convnext, efficientnet, mobilenetv3 (default: from the checkpoint's metadata or keys, else resnet20-cifar10)" },
    heads: HEADS,
    labels: { type: 'string', help: 'class names in output order, comma-separated' },
    'labels-file': { type: 'string', help: 'class names: a JSON array, or one per line' },
    top: { type: 'number', help: 'how many labels to show per image', default: 5 },
    json: { type: 'boolean', help: 'print JSON' },
    cache: { type: 'string', help: 'zoo cache folder (default: $THAW_CACHE or ~/.cache/thaw)' },
    offline: { type: 'boolean', help: 'never download zoo files (cache and local copies only)' },
    'max-pixels': MAX_PIXELS,
  }, ['thaw predict --weights resnet20-cifar10 cat.png', 'thaw predict --weights out/finetune/weights.safetensors --top 3 shoe1.png shoe2.jpg',
    'thaw predict --weights my.pt --labels no,yes --json img.png', 'thaw predict --model darknet-tiny --top 3 photo.jpg',
    'thaw predict --model convnext-tiny photo.jpg', 'thaw predict --weights vit_b_16-c867db91.pth --model vit photo.jpg'],
  async (p) => {
    const o = p.options;
    if (!p.positionals.length) throw new UsageError("thaw predict: give one or more PNG/JPEG images, e.g. 'thaw predict --weights resnet20-cifar10 cat.png'");
    if (!Number.isInteger(o.top) || (o.top as number) < 1) throw new UsageError(`thaw predict: --top must be a positive integer, got ${o.top}`);
    if (o.labels !== undefined && o['labels-file'] !== undefined) throw new UsageError('thaw predict: give --labels or --labels-file, not both');
    await maxPixelsOption('predict', o['max-pixels']);
    const { runPredict } = await import('./predict.ts');
    await runPredict({
      images: p.positionals, weights: o.weights as string | undefined, model: o.model as string | undefined, labels: o.labels as string | undefined,
      labelsFile: o['labels-file'] as string | undefined, top: o.top as number, json: !!o.json, cache: o.cache as string | undefined, offline: !!o.offline,
      heads: headsOption('predict', o.heads),
    });
  }),
  bench: command('bench', "Benchmark thaw's kernels and fine-tuning against TF.js's WebGPU backend on this adapter", '[matmul|conv|finetune|all] [--vs tfjs] [--json] [--quick]', {
    vs: { type: 'string', help: "peer to compare with: 'tfjs' (TF.js WebGPU backend on the same adapter) or 'none'", default: 'tfjs' },
    json: { type: 'boolean', help: 'print JSON' },
    quick: { type: 'boolean', help: 'small sizes and few runs (a smoke test, not a measurement)' },
  }, ['thaw bench', 'thaw bench matmul --quick', 'thaw bench conv --json', 'THAW_ADAPTER=swiftshader thaw bench all --vs none'],
  async (p) => {
    const { runBench, BENCHES } = await import('./bench.ts');
    if (p.positionals.length > 1) throw new UsageError(`thaw bench: give one of ${[...BENCHES, 'all'].join(', ')} (got ${p.positionals.join(' ')})`);
    const which = p.positionals[0] ?? 'all';
    if (which !== 'all' && !(BENCHES as readonly string[]).includes(which)) {
      throw new UsageError(`thaw bench: unknown benchmark '${which}'.${suggest(which, [...BENCHES, 'all'])} Choose from ${[...BENCHES, 'all'].join(', ')}.`);
    }
    if (!['tfjs', 'none'].includes(p.options.vs as string)) throw new UsageError(`thaw bench: --vs must be 'tfjs' or 'none', got '${p.options.vs}'`);
    await runBench({ which: which as any, vs: p.options.vs as 'tfjs' | 'none', json: !!p.options.json, quick: !!p.options.quick });
  }),
  serve: command('serve', 'Serve the browser demo on 127.0.0.1 (builds it first when dist/web is missing)', '[--port N]', {
    port: { type: 'number', help: 'port on 127.0.0.1 (0 picks a free one)', default: 8080 },
  }, ['thaw serve', 'thaw serve --port 0'],
  async (p) => {
    if (p.positionals.length) throw new UsageError(`thaw serve: unexpected argument '${p.positionals[0]}'`);
    const port = p.options.port as number;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`thaw serve: --port must be an integer 0..65535, got ${port}`);
    const { runServe } = await import('./serve.ts');
    await runServe({ port });
  }),
};
