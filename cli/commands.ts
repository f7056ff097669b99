/** The CLI's command table: each command's summary, help (with examples) and runner. */
import { parseArgs, optionHelp, UsageError, type OptionSpec } from './args.ts';

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

export const COMMANDS: Record<string, Command> = {
  info: command('info', 'Show the WebGPU adapter, driver, backend, features and limits', '[--json]',
    { json: { type: 'boolean', help: 'print JSON' } },
    ['thaw info', 'THAW_ADAPTER=swiftshader thaw info --json'],
    async (p) => (await import('./info.ts')).info(!!p.options.json)),
  finetune: command('finetune', 'Fine-tune a pre-trained backbone on a dataset (default: ResNet-20 CIFAR-10 → Fashion-MNIST, 100 labels per class)', '[options]', {
    model: { type: 'string', help: 'backbone from the zoo', default: 'resnet20-cifar10' },
    weights: { type: 'string', help: 'checkpoint file instead of the zoo download' },
    data: { type: 'string', help: "'fashion-mnist' or a folder with one subfolder per class", default: 'fashion-mnist' },
    'labels-per-class': { type: 'number', help: 'labelled training images per class', default: 100 },
    'test-size': { type: 'number', help: 'test images to evaluate on', default: 2000 },
    freeze: { type: 'string', help: "what to freeze: a depth (layer groups), /regex/, or name prefixes", default: '/^(?!linear\\.)/' },
    epochs: { type: 'number', help: 'training epochs', default: 30 },
    lr: { type: 'number', help: 'peak learning rate', default: 0.05 },
    batch: { type: 'number', help: 'batch size', default: 64 },
    optimizer: { type: 'string', help: 'sgd | adam | adamw', default: 'sgd' },
    schedule: { type: 'string', help: 'constant | cosine | onecycle | warmup-cosine', default: 'cosine' },
    seed: { type: 'number', help: 'random seed (data subset, shuffling, head init)', default: 0 },
    out: { type: 'string', help: 'output folder for weights, report and plot', default: 'out/finetune' },
    json: { type: 'boolean', help: 'print the JSON report instead of text' },
    'from-scratch': { type: 'boolean', help: 'baseline: random weights, everything trainable' },
    augment: { type: 'boolean', help: 'random flips and crops (disables the feature cache)' },
    'no-cache': { type: 'boolean', help: 'never use the frozen-trunk feature cache' },
  }, ['thaw finetune', 'thaw finetune --freeze 7 --epochs 10', 'thaw finetune --from-scratch --epochs 30 --out out/scratch', 'thaw finetune --data ./my-images --labels-per-class 20'],
  async (p) => {
    const o = p.options;
    if (p.positionals.length) throw new UsageError(`thaw finetune: unexpected argument '${p.positionals[0]}'`);
    for (const k of ['labels-per-class', 'epochs', 'batch', 'test-size'] as const) {
      if (!Number.isInteger(o[k]) || (o[k] as number) < 1) throw new UsageError(`thaw finetune: --${k} must be a positive integer, got ${o[k]}`);
    }
    if (!((o.lr as number) > 0)) throw new UsageError(`thaw finetune: --lr must be > 0, got ${o.lr}`);
    const { runFinetune } = await import('./finetune.ts');
    await runFinetune({
      model: o.model as string, weights: o.weights as string | undefined, data: o.data as string, labelsPerClass: o['labels-per-class'] as number,
      testSize: o['test-size'] as number, freeze: o.freeze as string, epochs: o.epochs as number, lr: o.lr as number, batch: o.batch as number,
      optimizer: o.optimizer as string, schedule: o.schedule as string, seed: o.seed as number, out: o.out as string, json: !!o.json,
      fromScratch: !!o['from-scratch'], augment: !!o.augment, cache: !o['no-cache'],
    });
  }),
};
