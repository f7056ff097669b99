/**
 * Mixed precision against f32 in `thaw finetune` (one `--json` process per run): accuracy after,
 * peak GPU memory held by tensors during training, feature-cache memory, time per epoch and the
 * steps dynamic loss scaling skipped, mean ± sd over seeds.
 *
 * Jobs:
 *  - main: the CLI's default job (pre-trained ResNet-20, Fashion-MNIST, 100 labels per class, the
 *    default freeze: stem, layer1 and layer2 from the feature cache) for --epochs epochs (default 1)
 *    with --test-size 200 test images;
 *  - mobilenet: the pre-trained Keras MobileNetV2 of nsfwjs at 64 px, Fashion-MNIST, 100 labels
 *    per class, every layer trainable (--freeze 0), Adam lr 5e-4, batch 64, --test-size images.
 *
 * time/epoch is the median epoch's training time (evaluation not included); peak MiB is the run's
 * peak of live GPU tensors (the buffer pool's counter, trainingPeakGpuBytes); cache MiB the host
 * memory of the cached features (f16 in mixed).
 *
 * Run: bash -c 'source scripts/env.sh; node bench/mixed.ts [--jobs main,mobilenet] [--seeds 0,1,2]
 *        [--epochs 1] [--test-size 200] [--precisions f32,mixed]'
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initThaw, adapterLabel, printTable, writeResults, arg, mean, sd, median } from './common.ts';

const THAW = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'thaw.mjs');
const MiB = 2 ** 20;
const JOBS = ['main', 'mobilenet'] as const;
type Job = typeof JOBS[number];

/** One run: a job at a precision and seed, and what it measured. */
export interface MixedRun {
  job: Job; precision: string; seed: number; accuracy: number; peakMiB: number; cacheMiB: number; secondsPerEpoch: number; skippedSteps: number; lossScale: number;
}

const pm = (v: number[], d = 1) => `${mean(v).toFixed(d)} ± ${sd(v).toFixed(d)}`;

function jobArgs(job: Job, epochs: number, testSize: number): string[] {
  const common = ['--epochs', String(epochs), '--test-size', String(testSize)];
  if (job === 'main') return common;
  return ['--model', 'mobilenetv2-nsfwjs', '--size', '64', '--freeze', '0', '--optimizer', 'adam', '--lr', '5e-4', '--batch', '64', ...common];
}

export async function run(): Promise<MixedRun[]> {
  const jobs = arg('jobs', JOBS.join(',')).split(',') as Job[];
  for (const j of jobs) if (!JOBS.includes(j)) throw new Error(`bench/mixed: unknown job '${j}' (${JOBS.join(', ')})`);
  const seeds = arg('seeds', '0,1,2').split(',').map(Number);
  const precisions = arg('precisions', 'f32,mixed').split(',');
  const epochs = Number(arg('epochs', '1')), testSize = Number(arg('test-size', '200'));
  const rt = await initThaw();
  console.log(`adapter: ${adapterLabel(rt)}; seeds ${seeds.join(', ')}; ${epochs} epoch(s), ${testSize} test images`);
  const out = mkdtempSync(join(tmpdir(), 'thaw-mixed-bench-'));
  const runs: MixedRun[] = [];
  try {
    for (const job of jobs) for (const seed of seeds) for (const precision of precisions) {
      const args = [THAW, 'finetune', ...jobArgs(job, epochs, testSize), '--precision', precision, '--seed', String(seed), '--json', '--out', join(out, `${job}-${precision}-${seed}`)];
      const p = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (p.status !== 0) throw new Error(`bench/mixed: thaw ${args.slice(1).join(' ')} failed (exit ${p.status}):\n${p.stderr}`);
      const rep = JSON.parse(p.stdout);
      const r: MixedRun = {
        job, precision, seed, accuracy: rep.accuracyAfter, peakMiB: rep.trainingPeakGpuBytes / MiB, cacheMiB: rep.featureCacheBytes / MiB,
        secondsPerEpoch: median(rep.epochs.map((e: { seconds: number }) => e.seconds)), skippedSteps: rep.skippedSteps ?? 0, lossScale: rep.lossScale ?? 1,
      };
      runs.push(r);
      console.log(`${job} ${precision} seed ${seed}: ${(r.accuracy * 100).toFixed(1)}%, peak ${r.peakMiB.toFixed(1)} MiB, cache ${r.cacheMiB.toFixed(2)} MiB, ${r.secondsPerEpoch.toFixed(1)} s/epoch, ${r.skippedSteps} skipped (scale ${r.lossScale})`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  for (const job of jobs) {
    const rows = precisions.map((pr) => {
      const r = runs.filter((x) => x.job === job && x.precision === pr);
      return [pr, pm(r.map((x) => x.accuracy * 100)), pm(r.map((x) => x.peakMiB)), pm(r.map((x) => x.cacheMiB), 2), pm(r.map((x) => x.secondsPerEpoch)), r.map((x) => x.skippedSteps).join('/')];
    });
    printTable(`${job === 'main' ? 'thaw finetune (ResNet-20, Fashion-MNIST)' : 'MobileNetV2 (nsfwjs) 64 px, Fashion-MNIST, every layer'}: ${epochs} epoch(s), ${testSize} test images, mean ± sd over seeds ${seeds.join(', ')}; ${adapterLabel(rt)}`,
      ['precision', 'accuracy %', 'peak MiB', 'cache MiB', 's/epoch', 'skipped steps (per seed)'], rows);
  }
  console.log(`wrote ${writeResults(rt, ['mixed', ...jobs].join('-'), { seeds, epochs, testSize, precisions, runs })}`);
  return runs;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run();
  process.exit(0);
}
