/**
 * BERT benchmark: one fine-tuning step (forward, cross-entropy, backward; no optimizer) of a
 * BERT-tiny-sized encoder (2 layers, hidden 128, 2 heads, intermediate 512, vocab 30522) on a batch
 * of 8 sequences of 128 tokens with random padding, with composed vs fused attention; plus the
 * attention op alone (forward + backward). Both implementations are checked against each other first.
 * `bash -c 'source scripts/env.sh; node bench/bert.ts'`; BENCH_RUNS (default 3 here), BENCH_BATCH,
 * BENCH_SEQ, BENCH_VOCAB change the defaults. The CLI calls `run()`.
 */
import { pathToFileURL } from 'node:url';
import { initThaw, adapterLabel, type Timing, thawStep, printTable, writeResults, randomData } from './common.ts';
import { tensor } from '../engine/core/factory.ts';
import { tidy, type Tensor } from '../engine/core/tensor.ts';
import { backward } from '../engine/autograd/backward.ts';
import { BertForSequenceClassification, BERT_TINY } from '../models/bert.ts';
import { variable } from '../engine/core/tape.ts';
import { crossEntropy, sum, mul, attention, type AttentionImpl } from '../kernels/index.ts';

/** Options of `run` (defaults from the BENCH_* variables). */
export interface BertBenchOptions { batch?: number; seq?: number; vocab?: number; runs?: number }

interface Row { case: string; impl: AttentionImpl; ms: Timing }

/** Times several steps round-robin: one warm-up each (compilation), then `runs` rounds of one run each. */
async function timeAlternating(steps: (() => Promise<void>)[], runs: number): Promise<Timing[]> {
  for (const s of steps) await s();
  const ts: number[][] = steps.map(() => []);
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < steps.length; i++) {
      const t0 = performance.now();
      await steps[i]();
      ts[i].push(performance.now() - t0);
    }
  }
  return ts.map((t) => {
    const sorted = [...t].sort((a, b) => a - b);
    return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], runs: t };
  });
}

const IMPLS: AttentionImpl[] = ['composed', 'fused'];

/** A random batch of `B` sequences of `T` tokens (vocabulary `V`), the first full, the others padded to 50-100 %; labels 0/1. */
export function bertBatch(B: number, T: number, V: number): { ids: Tensor; mask: Tensor; types: Tensor; labels: Tensor } {
  const ids = new Int32Array(B * T), mask = new Float32Array(B * T), labels = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const L = b === 0 ? T : Math.max(2, Math.floor(T * (0.5 + 0.5 * Math.random())));
    for (let t = 0; t < L; t++) { ids[b * T + t] = 1 + Math.floor(Math.random() * (V - 1)); mask[b * T + t] = 1; }
    labels[b] = b % 2;
  }
  return { ids: tensor(ids, [B, T], 'i32'), mask: tensor(mask, [B, T]), types: tensor(new Int32Array(B * T), [B, T], 'i32'), labels: tensor(labels, [B], 'i32') };
}

/** Runs the benchmark, prints the table, writes bench/results/bert-<adapter>.json and returns the rows. */
export async function run(opts: BertBenchOptions = {}): Promise<Row[]> {
  const rt = await initThaw();
  const env = (k: string, d: number) => Number(process.env[k] ?? d);
  const B = opts.batch ?? env('BENCH_BATCH', 8), T = opts.seq ?? env('BENCH_SEQ', 128), V = opts.vocab ?? env('BENCH_VOCAB', 30522);
  const runs = opts.runs ?? env('BENCH_RUNS', 3);
  console.log(`adapter: ${adapterLabel(rt)}; batch ${B}, seq ${T}, vocab ${V}, ${runs} timed runs after 1 warm-up`);
  const cfg = { ...BERT_TINY, vocabSize: V, maxPositions: Math.max(512, T), seed: 1 };
  const model = new BertForSequenceClassification(cfg, 2).train();
  const x = bertBatch(B, T, V);
  const H = cfg.numHeads, D = cfg.hiddenSize / H;
  const q = variable(tensor(randomData(B * T * H * D), [B, T, H * D])), k = variable(tensor(randomData(B * T * H * D), [B, T, H * D]));
  const v = variable(tensor(randomData(B * T * H * D), [B, T, H * D])), g = tensor(randomData(B * T * H * D), [B, T, H * D]);
  const clearGrads = () => { for (const p of [...model.parameters(), q, k, v]) { p.grad?.dispose(); p.grad = null; } };
  const setImpl = (impl: AttentionImpl) => { model.bert.config.attention = impl; };

  // Agreement check (dropout off so both runs compute the same function).
  model.eval();
  const losses: number[] = [];
  for (const impl of IMPLS) {
    setImpl(impl);
    const l = tidy(() => crossEntropy(model.forward(x.ids, x.mask, x.types), x.labels));
    losses.push(await l.item());
    l.dispose();
  }
  if (!(Math.abs(losses[0] - losses[1]) < 1e-4 * Math.max(1, Math.abs(losses[0])))) throw new Error(`composed and fused losses differ: ${losses}`);
  model.train();

  // Timed runs alternate between the implementations, so load from other processes hits both alike.
  const rows: Row[] = [];
  const encoderStep = (impl: AttentionImpl) => () => {
    setImpl(impl);
    tidy(() => { backward(crossEntropy(model.forward(x.ids, x.mask, x.types), x.labels)); });
    clearGrads();
  };
  const attentionStep = (impl: AttentionImpl) => () => {
    tidy(() => { backward(sum(mul(attention(q, k, v, { heads: H, mask: x.mask, impl }), g))); });
    clearGrads();
  };
  for (const [name, make] of [[`encoder step B${B} T${T}`, encoderStep], [`attention fwd+bwd B${B} H${H} T${T} D${D}`, attentionStep]] as const) {
    const times = await timeAlternating(IMPLS.map((impl) => thawStep(rt, make(impl))), runs);
    IMPLS.forEach((impl, i) => rows.push({ case: name, impl, ms: times[i] }));
  }
  const byCase = (c: string, impl: AttentionImpl) => rows.find((r) => r.case === c && r.impl === impl)!.ms.median;
  printTable(`BERT-tiny fine-tuning step, ${adapterLabel(rt)} (ms; median and best of ${runs})`,
    ['case', 'attention', 'median ms', 'best ms', 'vs composed'],
    rows.map((r) => [r.case, r.impl, r.ms.median, r.ms.min, `${(byCase(r.case, 'composed') / r.ms.median).toFixed(2)}x`]));
  console.log(`\nwrote ${writeResults(rt, 'bert', { batch: B, seq: T, vocab: V, config: { ...cfg, rng: undefined }, rows })}`);
  for (const t of [...Object.values(x), q, k, v, g] as Tensor[]) t.dispose();
  model.dispose();
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await run();
  process.exit(0);
}
