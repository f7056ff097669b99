/**
 * What pre-training buys: `thaw finetune` on a pre-trained backbone against the same network from
 * scratch, on the same labelled images (same seed: same subset, order and head initialisation),
 * for several seeds and training recipes. Each run is its own `thaw finetune --json` process; the
 * table gives test accuracy and training time per run, and the mean margin per recipe.
 *
 * Run: bash -c 'source scripts/env.sh; node bench/transfer.ts [--model mobilenetv2-nsfwjs] [--size 64]
 *        [--freeze 8] [--seeds 0,1,2] [--recipes plain,augment] [--epochs 10] [--labels-per-class 100]'
 * A recipe is 'plain' (no augmentation) or 'augment' (random flips and crops, `--augment`); both
 * runs of a pair use it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable, writeResults, initThaw, arg, mean, sd } from './common.ts';

interface Run { recipe: string; seed: number; pretrained: boolean; accuracy: number; seconds: number; wallSeconds: number; cache: boolean }


const THAW = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'thaw.mjs');


export async function run(): Promise<Run[]> {
  const model = arg('model', 'mobilenetv2-nsfwjs'), size = arg('size', '64'), freeze = arg('freeze', '8');
  const epochs = arg('epochs', '10'), lpc = arg('labels-per-class', '100');
  const seeds = arg('seeds', '0,1,2').split(',').map(Number);
  const recipes = arg('recipes', 'plain,augment').split(',');
  for (const r of recipes) if (r !== 'plain' && r !== 'augment') throw new Error(`bench/transfer: unknown recipe '${r}' (plain, augment)`);
  const out = mkdtempSync(join(tmpdir(), 'thaw-transfer-'));
  const runs: Run[] = [];
  try {
    for (const recipe of recipes) for (const seed of seeds) for (const pretrained of [true, false]) {
      const args = [THAW, 'finetune', '--model', model, '--size', size, '--epochs', epochs, '--labels-per-class', lpc, '--seed', String(seed), '--json',
        '--out', join(out, `${recipe}-${seed}-${pretrained ? 'ft' : 'scratch'}`),
        ...(pretrained ? ['--freeze', freeze] : ['--from-scratch']), ...(recipe === 'augment' ? ['--augment'] : [])];
      const t0 = performance.now();
      const p = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
      const wallSeconds = (performance.now() - t0) / 1000;
      if (p.status !== 0) throw new Error(`bench/transfer: thaw ${args.slice(1).join(' ')} failed (exit ${p.status}):\n${p.stderr}`);
      const rep = JSON.parse(p.stdout);
      const r: Run = { recipe, seed, pretrained, accuracy: rep.accuracyAfter, seconds: rep.seconds, wallSeconds, cache: rep.featureCache.used };
      runs.push(r);
      console.log(`${recipe} seed ${seed} ${pretrained ? `pre-trained (freeze ${freeze})` : 'from scratch'}: ${(r.accuracy * 100).toFixed(1)}% in ${r.seconds.toFixed(1)} s (command ${wallSeconds.toFixed(0)} s)`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const rows: (string | number)[][] = [];
  const summary: Record<string, unknown>[] = [];
  for (const recipe of recipes) {
    const ft = runs.filter((r) => r.recipe === recipe && r.pretrained), sc = runs.filter((r) => r.recipe === recipe && !r.pretrained);
    const margins = ft.map((f) => (f.accuracy - sc.find((s) => s.seed === f.seed)!.accuracy) * 100);
    const acc = (v: Run[]) => `${mean(v.map((r) => r.accuracy * 100)).toFixed(1)} ± ${sd(v.map((r) => r.accuracy * 100)).toFixed(1)}`;
    rows.push([recipe, acc(ft), `${mean(ft.map((r) => r.seconds)).toFixed(0)} s`, acc(sc), `${mean(sc.map((r) => r.seconds)).toFixed(0)} s`,
      `${mean(margins).toFixed(1)} (${margins.map((m) => m.toFixed(1)).join(', ')})`]);
    summary.push({ recipe, seeds, fineTuned: ft, scratch: sc, margins, meanMargin: mean(margins) });
  }
  const rt = await initThaw();
  printTable(`${model} at ${size}px, freeze ${freeze}, ${lpc} labels per class, ${epochs} epochs: pre-trained vs from scratch (mean ± sd over seeds ${seeds.join(', ')})`,
    ['recipe', 'fine-tuned %', 'time', 'from scratch %', 'time', 'margin, points (per seed)'], rows);
  console.log(`wrote ${writeResults(rt, 'transfer', { model, size, freeze, epochs, labelsPerClass: lpc, summary })}`);
  return runs;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run();
  process.exit(0);
}
