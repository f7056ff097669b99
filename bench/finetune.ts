/**
 * The frozen-trunk fine-tuning step, thaw vs TF.js on the same adapter in one process.
 *
 * Backbone: the real darknet-tiny TF.js model (../shared/checkpoints/darknet-tiny, or the zoo cache),
 * trunk frozen, a new 10-class Dense head on the pooled features, batch 32 (BENCH_BATCH), input
 * 64x64 (BENCH_SIZE; the net is fully convolutional). One step = forward, loss, backward, SGD update.
 *  - TF.js: tfjs-layers with every backbone layer `trainable = false`, optimizer.minimize.
 *  - thaw without the cache: the trunk runs each step (recording nothing), head forward/backward, update.
 *  - thaw with the cache: the trunk's features were computed once; the step is the head alone.
 * Run: bash -c 'source scripts/env.sh; node bench/finetune.ts [--quick]'
 */
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initThaw, initTf, time, thawStep, tfStep, printTable, writeResults, adapterLabel, randomData } from './common.ts';
import { parseTfjsLayers } from '../engine/io/tfjs.ts';
import { kerasClassifierFromCheckpoint } from '../models/keras/index.ts';
import { freeze } from '../engine/train/freeze.ts';
import { tensor } from '../engine/core/factory.ts';
import { tidy, noGrad } from '../engine/core/tensor.ts';
import { backward } from '../engine/autograd/backward.ts';
import { SGD } from '../engine/optim/index.ts';
import { fetchModel } from '../models/zoo_fetch.ts';
import { crossEntropy } from '../kernels/index.ts';

export interface FinetuneBenchResult { engine: string; ms: number; minMs: number; imagesPerSec: number }

async function darknetDir(): Promise<string> {
  const here = dirname(fileURLToPath(import.meta.url));
  const shared = join(here, '..', '..', 'shared', 'checkpoints', 'darknet-tiny');
  if (existsSync(join(shared, 'model.json'))) return shared;
  return (await fetchModel('darknet-tiny')).dir;
}

/** Runs the benchmark; returns one row per engine/variant. */
export async function run(o: { quick?: boolean; batch?: number; size?: number; vsTf?: boolean } = {}): Promise<FinetuneBenchResult[]> {
  const rt = await initThaw();
  const B = o.batch ?? Number(process.env.BENCH_BATCH ?? 32);
  const S = o.size ?? Number(process.env.BENCH_SIZE ?? 64);
  const runs = o.quick ? 5 : undefined;
  const dir = await darknetDir();
  const x = randomData(B * 3 * S * S).map((v) => (v + 1) / 2);
  const labels = Int32Array.from({ length: B }, (_, i) => i % 10);

  // The model.json fixes a 224x224 input; the network is fully convolutional, so give both engines S x S.
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const cfg = json.modelTopology.model_config ?? json.modelTopology;
  for (const l of cfg.config.layers) if (l.config.batch_input_shape) l.config.batch_input_shape = [null, S, S, 3];

  // thaw
  const ck = await parseTfjsLayers(json, async (p) => new Uint8Array(readFileSync(join(dir, p))));
  const { model } = kerasClassifierFromCheckpoint(ck);
  model.replaceHead(10);
  freeze(model, new RegExp(`^(?!${model.headPrefix}\\.)`));
  model.train();
  const opt = new SGD(model.trainableParameters(), { lr: 0.01, momentum: 0.9 });
  const xs = tensor(x, [B, 3, S, S]);
  const ys = tensor(labels, [B], 'i32');
  const step = (features: () => ReturnType<typeof model.features>) => thawStep(rt, () => {
    tidy(() => { backward(crossEntropy(model.head.forward(features()), ys)); return undefined; });
    opt.step();
    opt.zeroGrad();
  });
  const noCache = await time(step(() => noGrad(() => model.features(xs))), runs);
  const cached = noGrad(() => tidy(() => model.features(xs)));
  const withCache = await time(step(() => cached), runs);
  const rows: FinetuneBenchResult[] = [
    { engine: 'thaw (trunk each step)', ms: noCache.median, minMs: noCache.min, imagesPerSec: (B * 1000) / noCache.median },
    { engine: 'thaw (feature cache)', ms: withCache.median, minMs: withCache.min, imagesPerSec: (B * 1000) / withCache.median },
  ];

  // TF.js
  if (o.vsTf !== false) {
    const t = await initTf();
    const tf = t.tf;
    const weightSpecs = json.weightsManifest.flatMap((g: any) => g.weights);
    const weightData = Buffer.concat(json.weightsManifest.flatMap((g: any) => g.paths.map((p: string) => readFileSync(join(dir, p)))));
    const full = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength) }));
    const trunkOut = full.getLayer('leaky_re_lu_15').output;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(trunkOut);
    const logits = tf.layers.dense({ units: 10 }).apply(pooled);
    const net = tf.model({ inputs: full.inputs, outputs: logits });
    for (const l of full.layers) l.trainable = false;
    const tOpt = tf.train.momentum(0.01, 0.9);
    // tfjs is NHWC.
    const xt = tf.tensor4d(x, [B, 3, S, S]).transpose([0, 2, 3, 1]);
    const yt = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
    const tfTime = await time(tfStep(t, () => tOpt.minimize(() => tf.losses.softmaxCrossEntropy(yt, net.apply(xt, { training: true })), true)), runs);
    rows.push({ engine: 'tfjs-webgpu (trainable=false)', ms: tfTime.median, minMs: tfTime.min, imagesPerSec: (B * 1000) / tfTime.median });
  }
  const tfRow = rows.find((r) => r.engine.startsWith('tfjs'));
  printTable(`fine-tune step, darknet-tiny trunk frozen, new 10-class head, batch ${B}, ${S}x${S}, on ${adapterLabel(rt)}`,
    ['engine', 'median ms', 'min ms', 'img/s', 'speed-up vs tfjs'],
    rows.map((r) => [r.engine, r.ms, r.minMs, r.imagesPerSec, tfRow ? `${(tfRow.ms / r.ms).toFixed(1)}x` : '-']));
  console.log(`feature cache speed-up per epoch (steps after the one-time feature pass): ${(rows[0].ms / rows[1].ms).toFixed(1)}x`);
  console.log(`wrote ${writeResults(rt, 'finetune', { batch: B, size: S, rows })}`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run({ quick: process.argv.includes('--quick'), vsTf: !process.argv.includes('--no-tfjs') });
  process.exit(0);
}
