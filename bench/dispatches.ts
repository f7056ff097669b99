/**
 * Dispatches per training step: forward, loss, backward and optimizer step of ResNet-20 (batch 8,
 * 32x32, SGD momentum 0.9) at freeze depths 0/4/7/10, MobileNetV2 (batch 8, 64x64, SGD momentum) and
 * BERT-tiny (batch 8, 64 tokens, AdamW with gradient clipping at 1.0); dispatches and ms per step.
 * `--kernels` adds the per-kernel counts of each step (runtime().dispatchByName), `--quick` fewer timed runs.
 * Run: bash -c 'source scripts/env.sh; node bench/dispatches.ts [--kernels] [--quick]'
 */
import { pathToFileURL } from 'node:url';
import type { Runtime } from '../engine/core/runtime.ts';
import { initThaw, time, thawStep, printTable, writeResults, adapterLabel, randomData } from './common.ts';
import { tensor } from '../engine/core/factory.ts';
import { tidy } from '../engine/core/tensor.ts';
import { backward } from '../engine/autograd/backward.ts';
import { freezeTo } from '../engine/train/freeze.ts';
import { SGD, AdamW, clipGradNorm } from '../engine/optim/index.ts';
import type { Module } from '../engine/nn/module.ts';
import { resnet20 } from '../models/resnet_cifar.ts';
import { mobilenetV2 } from '../models/mobilenetv2.ts';
import { BertForSequenceClassification, BERT_TINY } from '../models/bert.ts';
import { bertBatch } from './bert.ts';
import { crossEntropy } from '../kernels/index.ts';

export interface StepRow { model: string; dispatches: number; ms: number; kernels: Record<string, number> }

/** Counts the dispatches of one step (after one step that allocates optimizer state and compiles), then times it. */
async function measureStep(rt: Runtime, model: string, step: () => void, runs: number): Promise<StepRow> {
  step();
  await rt.sync();
  const before = new Map(rt.dispatchByName), d0 = rt.dispatches;
  step();
  const dispatches = rt.dispatches - d0;
  const kernels: Record<string, number> = {};
  for (const [k, n] of rt.dispatchByName) if (n - (before.get(k) ?? 0) > 0) kernels[k] = n - (before.get(k) ?? 0);
  await rt.sync();
  const t = await time(thawStep(rt, step), runs, 1);
  return { model, dispatches, ms: t.median, kernels };
}

export async function run(o: { quick?: boolean; kernels?: boolean } = {}): Promise<StepRow[]> {
  const rt = await initThaw();
  const runs = o.quick ? 3 : 5, B = 8;
  const rows: StepRow[] = [];
  const imageStep = (model: Module & { forward(x: any): any }, x: any, y: any) => {
    const opt = new SGD(model.parameters().filter((p) => p.requiresGrad), { lr: 0.01, momentum: 0.9 });
    return () => {
      tidy(() => { backward(crossEntropy(model.forward(x), y)); return undefined; });
      opt.step();
      opt.zeroGrad();
    };
  };

  const labels = tensor(Int32Array.from({ length: B }, (_, i) => i % 10), [B], 'i32');
  const x32 = tensor(randomData(B * 3 * 32 * 32), [B, 3, 32, 32]);
  const resnet = resnet20(10).train();
  for (const depth of [0, 4, 7, 10]) {
    freezeTo(resnet, depth);
    rows.push(await measureStep(rt, `ResNet-20 depth ${depth}`, imageStep(resnet, x32, labels), runs));
  }
  resnet.dispose();

  const x64 = tensor(randomData(B * 3 * 64 * 64), [B, 3, 64, 64]);
  const mnet = mobilenetV2({ numClasses: 10 }).train();
  rows.push(await measureStep(rt, 'MobileNetV2 64px', imageStep(mnet, x64, labels), runs));
  mnet.dispose();

  const T = 64, V = 30522;
  const bert = new BertForSequenceClassification({ ...BERT_TINY, vocabSize: V, maxPositions: 512, seed: 1 }, 2).train();
  const batch = bertBatch(B, T, V);
  const params = bert.parameters().filter((p) => p.requiresGrad);
  const adam = new AdamW(params, { lr: 1e-4, weightDecay: 0.01 });
  rows.push(await measureStep(rt, `BERT-tiny T${T} AdamW+clip`, () => {
    tidy(() => { backward(crossEntropy(bert.forward(batch.ids, batch.mask, batch.types), batch.labels)); return undefined; });
    clipGradNorm(params, 1).dispose();
    adam.step();
    adam.zeroGrad();
  }, runs));
  bert.dispose();

  printTable(`Training step, batch ${B}, on ${adapterLabel(rt)}`, ['model', 'dispatches/step', 'ms/step'],
    rows.map((r) => [r.model, r.dispatches, r.ms]));
  if (o.kernels) {
    for (const r of rows) {
      const ks = Object.entries(r.kernels).sort((a, b) => b[1] - a[1]);
      console.log(`\n${r.model}: ${r.dispatches} dispatches`);
      for (const [k, n] of ks) console.log(`  ${String(n).padStart(5)}  ${k}`);
    }
  }
  console.log(`wrote ${writeResults(rt, 'dispatches', { batch: B, rows })}`);
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await run({ quick: process.argv.includes('--quick'), kernels: process.argv.includes('--kernels') });
  process.exit(0);
}
