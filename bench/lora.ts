/**
 * LoRA against full fine-tuning and head-only training: accuracy and cost (trainable parameters,
 * optimizer state, peak GPU memory held by tensors, time per step), mean ± sd over seeds.
 *
 * BERT (in this process): the negation-sentiment task (bench/negation.ts) on the small BERT of its
 * test (hidden 32, 2 layers, 4 heads). The encoder is first pre-trained on the same sentences
 * without negation (the adjective alone decides), so "not" is a word it learned to ignore; then each
 * method adapts it to the negation task with a fresh classifier: full (everything), LoRA (rank-r
 * adapters on query, key, value and the attention output, plus the classifier), head (the
 * classifier alone). AdamW, cosine schedule, batch 32 of fresh sentences per step, the same steps
 * for every method; accuracy on 1,000 held-out sentences. A second table gives the cost alone at
 * BERT-tiny's size (hidden 128, 2 layers, vocabulary 30,522; batch 8 × 128 tokens).
 *
 * MobileNetV2 (one `thaw finetune --json` process per run): the pre-trained Keras MobileNetV2 of
 * nsfwjs at 64 px on Fashion-MNIST with 100 labels per class (1,000 training images) and a
 * stratified test subset (--test-size, default 1,000) of the Fashion-MNIST test split, drawn by the
 * seed. The model's head is nsfwjs' Dense 1280→256→128 with a new last layer (128→10). full: every
 * layer (--freeze 0); LoRA: rank-r adapters on the 34 pointwise convs plus the head (--lora); head:
 * the head alone (--freeze -1, from the feature cache). Adam, cosine
 * schedule, batch 64, the same epochs for every method, no augmentation. ms/step is the median
 * epoch's training time over its steps; time is the whole run (cached features, training, the
 * evaluation at the end), peak MiB the process's peak of GPU tensor memory.
 *
 * Learning rates: LoRA and a head alone take higher rates than full fine-tuning (full 2e-3 BERT /
 * 5e-4 MobileNetV2; LoRA 5e-3 / 3e-3, head 5e-3 / 5e-3); --lr-full, --lr-lora, --lr-head override them.
 *
 * Run: bash -c 'source scripts/env.sh; node bench/lora.ts [--quick] [--seeds 0,1,2] [--epochs 6]
 *        [--steps 400] [--rank 8] [--test-size 1000] [--parts bert,mobilenet] [--methods full,lora,head]'
 * --quick: one seed, 1 epoch, 40 BERT steps, 200 test images (checks the script, measures little).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initThaw, adapterLabel, printTable, writeResults, time, thawStep, arg, mean, sd, median } from './common.ts';
import { bertBatch } from './bert.ts';
import { negationSentence } from './negation.ts';
import type { Runtime } from '../engine/core/runtime.ts';
import { tensor, assign } from '../engine/core/factory.ts';
import { tidy, noGrad, type Tensor } from '../engine/core/tensor.ts';
import { backward } from '../engine/autograd/backward.ts';
import { AdamW, Scheduler, cosine } from '../engine/optim/index.ts';
import { Rng } from '../engine/data/rng.ts';
import { freeze, trainableSummary } from '../engine/train/freeze.ts';
import { lora } from '../engine/train/lora.ts';
import { WordPiece } from '../engine/text/index.ts';
import { BertForSequenceClassification, bertInputs, BERT_TINY, type BertConfig } from '../models/bert.ts';
import { crossEntropy } from '../kernels/index.ts';

const METHODS = ['full', 'lora', 'head'] as const;
type Method = typeof METHODS[number];

/** One run of one method: what it trained, what it cost, how well it did. */
export interface LoraRun {
  part: string; method: Method; seed: number; trainableParams: number; optimizerStateBytes: number;
  peakMiB: number; msPerStep: number; seconds: number; accuracy: number;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const THAW = join(HERE, '..', 'bin', 'thaw.mjs');
const VOCAB = join(HERE, '..', 'test', 'fixtures', 'bert', 'vocab.txt');
const MiB = 2 ** 20;



/** Makes `model` train as `method`: everything, LoRA adapters (+ classifier), or the classifier alone. */
function applyMethod(model: BertForSequenceClassification, method: Method, rank: number, rand: () => number, seed: number): void {
  if (method === 'lora') lora(model, { target: 'bert', rank, alpha: 2 * rank, modulesToSave: ['classifier'], rng: rand, seed });
  else if (method === 'head') freeze(model, /^bert\./);
}

// ---------------------------------------------------------------------------------------------
// BERT on the negation task.

const NEGATION_BERT: Partial<BertConfig> = {
  hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64, maxPositions: 16,
  hiddenDropout: 0.1, attentionDropout: 0.1, attention: 'fused', initializerRange: 0.1,
};

function sentences(tok: WordPiece, rand: () => number, n: number, negation: boolean) {
  const s = Array.from({ length: n }, () => negationSentence(rand, { negation }));
  const enc = tok.encodeBatch(s.map((x) => x.text), { maxLength: 16 });
  return { ...bertInputs(enc), labels: tensor(Int32Array.from(s.map((x) => x.label)), [n], 'i32') };
}

const disposeAll = (o: Record<string, Tensor>) => Object.values(o).forEach((t) => t.dispose());

/** Trains the model's trainable parameters for `steps` batches of 32; returns the optimizer state size, time and losses. */
async function trainSentences(rt: Runtime, model: BertForSequenceClassification, tok: WordPiece, rand: () => number, steps: number, lr: number, negation: boolean) {
  const opt = new AdamW(model.trainableParameters(), { lr, weightDecay: 0.01 });
  const sched = new Scheduler(opt, cosine(steps));
  model.train();
  const losses: number[] = [];
  await rt.sync();
  const t0 = performance.now();
  for (let step = 0; step < steps; step++) {
    const b = sentences(tok, rand, 32, negation);
    const loss = tidy(() => {
      const l = crossEntropy(model.forward(b.inputIds, b.attentionMask, b.tokenTypeIds), b.labels);
      backward(l);
      return l;
    });
    opt.step();
    opt.zeroGrad();
    sched.step();
    if (step % 10 === 9 || step === steps - 1) losses.push(await loss.item());
    loss.dispose();
    disposeAll(b);
  }
  await rt.sync();
  const seconds = (performance.now() - t0) / 1000;
  const optimizerStateBytes = opt.stateBytes();
  opt.dispose();
  return { seconds, optimizerStateBytes, losses };
}

async function sentenceAccuracy(model: BertForSequenceClassification, tok: WordPiece, rand: () => number, n: number, negation: boolean): Promise<number> {
  model.eval();
  let correct = 0;
  for (let i = 0; i < n; i += 250) {
    const m = Math.min(250, n - i);
    const b = sentences(tok, rand, m, negation);
    const logits = noGrad(() => tidy(() => model.forward(b.inputIds, b.attentionMask, b.tokenTypeIds)));
    const l = await logits.data(), y = await b.labels.data<Int32Array>();
    for (let j = 0; j < m; j++) if ((l[2 * j + 1] > l[2 * j] ? 1 : 0) === y[j]) correct++;
    logits.dispose();
    disposeAll(b);
  }
  model.train();
  return correct / n;
}

async function bertNegation(rt: Runtime, o: { seeds: number[]; methods: Method[]; steps: number; preSteps: number; rank: number; lr: Record<Method, number> }): Promise<LoraRun[]> {
  const tok = WordPiece.fromVocabText(readFileSync(VOCAB, 'utf8'));
  const cfg = { ...NEGATION_BERT, vocabSize: tok.tokens.length };
  // The source task: the same sentences without negation.
  const pr = new Rng(1000);
  const pre = new BertForSequenceClassification({ ...cfg, rng: () => pr.next(), seed: 1000 }, 2);
  const p = await trainSentences(rt, pre, tok, () => pr.next(), o.preSteps, 3e-3, false);
  const srcAcc = await sentenceAccuracy(pre, tok, () => pr.next(), 1000, false);
  const tgtAcc = await sentenceAccuracy(pre, tok, () => pr.next(), 1000, true);
  console.log(`BERT pre-trained on the source task (no negation): ${o.preSteps} steps in ${p.seconds.toFixed(1)} s, loss ${p.losses.at(-1)!.toFixed(3)}; ` +
    `accuracy ${(srcAcc * 100).toFixed(1)}% on the source task, ${(tgtAcc * 100).toFixed(1)}% on the negation task`);
  const weights = new Map<string, Float32Array | Int32Array>();
  for (const [k, t] of pre.stateDict()) if (k.startsWith('bert.')) weights.set(k, await t.data());
  pre.dispose();

  const runs: LoraRun[] = [];
  for (const seed of o.seeds) for (const method of o.methods) {
    await rt.sync();
    rt.pool.resetPeak();
    const base = rt.pool.getStats().liveBytes;
    const rng = new Rng(seed);
    const rand = () => rng.next();
    const model = new BertForSequenceClassification({ ...cfg, rng: rand, seed: seed * 101 + 7 }, 2);
    for (const [k, t] of model.stateDict()) if (weights.has(k)) assign(t, weights.get(k)!);
    applyMethod(model, method, o.rank, rand, seed);
    const r = await trainSentences(rt, model, tok, rand, o.steps, o.lr[method], true);
    const peakMiB = (rt.pool.getStats().peakBytes - base) / MiB;
    const heldOut = new Rng(10_000 + seed);
    const accuracy = await sentenceAccuracy(model, tok, () => heldOut.next(), 1000, true);
    const run: LoraRun = {
      part: 'bert-negation', method, seed, trainableParams: trainableSummary(model).trainableElements, optimizerStateBytes: r.optimizerStateBytes,
      peakMiB, msPerStep: (r.seconds * 1000) / o.steps, seconds: r.seconds, accuracy,
    };
    runs.push(run);
    console.log(`bert ${method} seed ${seed}: ${(accuracy * 100).toFixed(1)}% after ${o.steps} steps (loss ${r.losses.map((l) => l.toFixed(2)).join(' ')}), ${run.msPerStep.toFixed(1)} ms/step`);
    model.dispose();
  }
  return runs;
}

/** The cost of one training step per method at BERT-tiny's size (no accuracy: random tokens). */
async function bertTinyCost(rt: Runtime, o: { methods: Method[]; rank: number; runs: number }): Promise<LoraRun[]> {
  const B = 8, T = 128, V = 30522;
  const x = bertBatch(B, T, V);
  const runs: LoraRun[] = [];
  for (const method of o.methods) {
    await rt.sync();
    rt.pool.resetPeak();
    const base = rt.pool.getStats().liveBytes;
    const rng = new Rng(1);
    const model = new BertForSequenceClassification({ ...BERT_TINY, vocabSize: V, maxPositions: 512, rng: () => rng.next(), seed: 1 }, 2).train();
    applyMethod(model, method, o.rank, () => rng.next(), 1);
    const opt = new AdamW(model.trainableParameters(), { lr: 1e-4 });
    const step = () => {
      tidy(() => { backward(crossEntropy(model.forward(x.ids, x.mask, x.types), x.labels)); return undefined; });
      opt.step();
      opt.zeroGrad();
    };
    const t = await time(thawStep(rt, step), o.runs, 1);
    runs.push({
      part: 'bert-tiny-cost', method, seed: 1, trainableParams: trainableSummary(model).trainableElements, optimizerStateBytes: opt.stateBytes(),
      peakMiB: (rt.pool.getStats().peakBytes - base) / MiB, msPerStep: t.median, seconds: t.runs.reduce((a, b) => a + b, 0) / 1000, accuracy: NaN,
    });
    console.log(`bert-tiny ${method}: ${t.median.toFixed(0)} ms/step`);
    opt.dispose();
    model.dispose();
  }
  for (const t of Object.values(x)) t.dispose();
  return runs;
}

// ---------------------------------------------------------------------------------------------
// MobileNetV2 on Fashion-MNIST, through `thaw finetune`.

function mobilenet(o: { seeds: number[]; methods: Method[]; epochs: number; rank: number; testSize: number; lr: Record<Method, number> }): LoraRun[] {
  const out = mkdtempSync(join(tmpdir(), 'thaw-lora-bench-'));
  const runs: LoraRun[] = [];
  try {
    for (const seed of o.seeds) for (const method of o.methods) {
      const how = method === 'full' ? ['--freeze', '0'] : method === 'head' ? ['--freeze', '-1'] : ['--lora', String(o.rank), '--lora-alpha', String(2 * o.rank)];
      const args = [THAW, 'finetune', '--model', 'mobilenetv2-nsfwjs', '--size', '64', '--labels-per-class', '100', '--test-size', String(o.testSize),
        '--epochs', String(o.epochs), '--eval-every', String(o.epochs), '--optimizer', 'adam', '--lr', String(o.lr[method]), '--batch', '64',
        '--seed', String(seed), '--json', '--out', join(out, `${method}-${seed}`), ...how];
      const p = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (p.status !== 0) throw new Error(`bench/lora: thaw ${args.slice(1).join(' ')} failed (exit ${p.status}):\n${p.stderr}`);
      const rep = JSON.parse(p.stdout);
      const steps = Math.ceil(rep.trainImages / 64);
      const run: LoraRun = {
        part: 'mobilenetv2-fashion-mnist', method, seed, trainableParams: rep.trainable.trainableElements, optimizerStateBytes: rep.optimizerStateBytes,
        peakMiB: rep.peakGpuBytes / MiB, msPerStep: (median(rep.epochs.map((e: { seconds: number }) => e.seconds)) * 1000) / steps,
        seconds: rep.seconds, accuracy: rep.accuracyAfter,
      };
      runs.push(run);
      console.log(`mobilenetv2 ${method} seed ${seed}: ${(run.accuracy * 100).toFixed(1)}% on ${rep.testImages} test images, ${run.msPerStep.toFixed(0)} ms/step, ` +
        `${run.seconds.toFixed(0)} s (feature cache: ${rep.featureCache.used ? `${rep.featureCache.cachedStages} stage(s), ${rep.featureCache.seconds.toFixed(1)} s` : 'off'})`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------

function table(title: string, runs: LoraRun[], withAccuracy: boolean): void {
  const rows = METHODS.filter((m) => runs.some((x) => x.method === m)).map((m) => {
    const r = runs.filter((x) => x.method === m);
    const acc = r.map((x) => x.accuracy * 100);
    return [m, String(r[0].trainableParams), (r[0].optimizerStateBytes / MiB).toFixed(2), mean(r.map((x) => x.peakMiB)), mean(r.map((x) => x.msPerStep)),
      ...(withAccuracy ? [`${mean(r.map((x) => x.seconds)).toFixed(0)} s`, `${mean(acc).toFixed(1)} ± ${sd(acc).toFixed(1)}`] : [])];
  });
  printTable(title, ['method', 'trainable params', 'optimizer MiB', 'peak MiB', 'ms/step', ...(withAccuracy ? ['time', 'accuracy %'] : [])], rows);
}

export async function run(): Promise<LoraRun[]> {
  const quick = process.argv.includes('--quick');
  const seeds = arg('seeds', quick ? '0' : '0,1,2').split(',').map(Number);
  const epochs = Number(arg('epochs', quick ? '1' : '6')), steps = Number(arg('steps', quick ? '40' : '400'));
  const rank = Number(arg('rank', '8')), testSize = Number(arg('test-size', quick ? '200' : '1000'));
  const parts = arg('parts', 'bert,mobilenet').split(',');
  for (const p of parts) if (p !== 'bert' && p !== 'mobilenet') throw new Error(`bench/lora: unknown part '${p}' (bert, mobilenet)`);
  const methods = arg('methods', METHODS.join(',')).split(',') as Method[];
  for (const m of methods) if (!METHODS.includes(m)) throw new Error(`bench/lora: unknown method '${m}' (${METHODS.join(', ')})`);
  const lrs = (d: Record<Method, number>) => Object.fromEntries(METHODS.map((m) => [m, Number(arg(`lr-${m}`, String(d[m])))])) as Record<Method, number>;
  const bertLr = lrs({ full: 2e-3, lora: 5e-3, head: 5e-3 }), mobileLr = lrs({ full: 5e-4, lora: 3e-3, head: 5e-3 });
  const rt = await initThaw();
  console.log(`adapter: ${adapterLabel(rt)}; seeds ${seeds.join(', ')}; LoRA rank ${rank}, alpha ${2 * rank}`);
  const runs: LoraRun[] = [];
  const seedList = seeds.join(', ');
  if (parts.includes('bert')) {
    const neg = await bertNegation(rt, { seeds, methods, steps, preSteps: quick ? 40 : 300, rank, lr: bertLr });
    const cost = await bertTinyCost(rt, { methods, rank, runs: quick ? 2 : 5 });
    runs.push(...neg, ...cost);
    table(`BERT (hidden 32, 2 layers) on the negation task, ${steps} steps of 32 sentences, AdamW lr full ${bertLr.full} / LoRA ${bertLr.lora} / head ${bertLr.head}; ` +
      `accuracy on 1000 held-out sentences, mean ± sd over seeds ${seedList}; ${adapterLabel(rt)}`, neg, true);
    table(`BERT-tiny (hidden 128, 2 layers, vocabulary 30522) training step, batch 8 x 128 tokens, AdamW (median of ${quick ? 2 : 5}); ${adapterLabel(rt)}`, cost, false);
  }
  if (parts.includes('mobilenet')) {
    const mob = mobilenet({ seeds, methods, epochs, rank, testSize, lr: mobileLr });
    runs.push(...mob);
    table(`MobileNetV2 (nsfwjs, 64 px) on Fashion-MNIST, 100 labels per class, ${epochs} epochs, Adam lr full ${mobileLr.full} / LoRA ${mobileLr.lora} / head ${mobileLr.head}; ` +
      `accuracy on ${testSize} test images, mean ± sd over seeds ${seedList}; ${adapterLabel(rt)}`, mob, true);
  }
  console.log(`wrote ${writeResults(rt, ['lora', ...(parts.length === 2 ? [] : parts), ...(methods.length === METHODS.length ? [] : methods)].join('-'), { seeds, methods, epochs, steps, rank, alpha: 2 * rank, testSize, quick, lr: { bert: bertLr, mobilenet: mobileLr }, runs })}`);
  return runs;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run();
  process.exit(0);
}
