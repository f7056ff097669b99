/**
 * What freezing saves: one training step of CIFAR ResNet-20 (batch 32, no feature cache) at each
 * freeze depth — kernel dispatches, peak GPU memory held by tensors, and step time.
 * Run: bash -c 'source scripts/env.sh; node bench/freeze.ts'
 */
import { initThaw, time, thawStep, printTable, writeResults, adapterLabel, randomData } from './common.ts';
import { tensor } from '../engine/core/factory.ts';
import { tidy } from '../engine/core/tensor.ts';
import { backward } from '../engine/autograd/backward.ts';
import { freezeTo } from '../engine/train/freeze.ts';
import { SGD } from '../engine/optim/index.ts';
import { resnet20 } from '../models/resnet_cifar.ts';
import { crossEntropy } from '../kernels/index.ts';

export interface FreezeRow { depth: number; frozenGroups: string; trainable: number; dispatches: number; peakMiB: number; ms: number }

export async function run(o: { quick?: boolean; batch?: number } = {}): Promise<FreezeRow[]> {
  const rt = await initThaw();
  const B = o.batch ?? 32;
  const x = tensor(randomData(B * 3 * 32 * 32), [B, 3, 32, 32]);
  const y = tensor(Int32Array.from({ length: B }, (_, i) => i % 10), [B], 'i32');
  const model = resnet20(10).train();
  const groups = model.layerGroups();
  const rows: FreezeRow[] = [];
  for (const depth of [0, 1, 4, 7, 9, groups.length - 1]) {
    freezeTo(model, depth);
    const opt = new SGD(model.trainableParameters(), { lr: 0.01, momentum: 0.9 });
    const step = () => {
      tidy(() => { backward(crossEntropy(model.forward(x), y)); return undefined; });
      opt.step();
      opt.zeroGrad();
    };
    step(); // optimizer state allocated
    await rt.sync();
    rt.pool.resetPeak();
    const base = rt.pool.getStats().liveBytes;
    const d0 = rt.dispatches;
    step();
    const dispatches = rt.dispatches - d0;
    await rt.sync();
    const peak = rt.pool.getStats().peakBytes - base;
    const t = await time(thawStep(rt, step), o.quick ? 5 : undefined, 1);
    rows.push({ depth, frozenGroups: depth ? `${groups[0][0]} … ${groups[depth - 1].join(',')}` : 'none', trainable: model.trainableParameters().length, dispatches, peakMiB: peak / 2 ** 20, ms: t.median });
    opt.dispose?.();
  }
  printTable(`ResNet-20 training step by freeze depth (batch ${B}, 32x32, no feature cache) on ${adapterLabel(rt)}`,
    ['depth', 'frozen groups', 'trainable tensors', 'dispatches/step', 'peak activation MiB', 'ms/step'],
    rows.map((r) => [r.depth, r.frozenGroups, r.trainable, r.dispatches, r.peakMiB, r.ms]));
  console.log(`wrote ${writeResults(rt, 'freeze', { batch: B, rows })}`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run({ quick: process.argv.includes('--quick') });
  process.exit(0);
}
