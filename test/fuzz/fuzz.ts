/**
 * The checkpoint fuzzer. Every mutated input must either parse or end in a ThawError: any other
 * exception is a crash, any case over 1 s a hang. Quick mode runs from fuzz.test.ts; long mode:
 *
 *   source scripts/env.sh && node test/fuzz/fuzz.ts --long [--seconds 60] [--format pytorch-zip] [--seed 1]
 *
 * runs each format in its own process (so max RSS is per format) and prints, per format: cases
 * run, outcomes, distinct error kinds, crashes, hangs, slowest case and max RSS.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ThawError } from '../../engine/core/errors.ts';
import { parseCheckpoint, parsePytorchLegacy, parsePytorchZip, parseSafetensors, writeSafetensors } from '../../engine/io/index.ts';
import { parseTfjsLayers } from '../../engine/io/tfjs.ts';
import { unpickle } from '../../engine/io/pickle.ts';
import { resolveTorchGlobal, torchPersistentLoad } from '../../engine/io/torch_pickle.ts';
import type { HostTensor } from '../../engine/io/types.ts';
import { Rng, mutateBytes, mutateJson, mutateLegacy, mutatePytorchZip, mutateSafetensors, stringify } from './mutate.ts';

const FIX = fileURLToPath(new URL('../fixtures/io/', import.meta.url));
const fix = (p: string) => new Uint8Array(readFileSync(join(FIX, p)));

/** The formats the fuzzer knows. */
export const FORMATS = ['safetensors', 'pytorch-zip', 'pytorch-legacy', 'tfjs', 'tfjs-umd'] as const;
export type Format = (typeof FORMATS)[number];

/** Per-format results. */
export interface Stats {
  format: Format; cases: number; ok: number; errors: number; kinds: Record<string, number>;
  crashes: { message: string; seed: number; i: number }[]; hangs: number; slowestMs: number; maxRssMb: number;
}

/** A generator of one case: returns a thunk that parses a fresh mutation. */
type Gen = (rng: Rng) => () => unknown;

function generators(): Record<Format, Gen> {
  const st = [fix('small.safetensors'), writeSafetensors(new Map<string, HostTensor>([['a', { dtype: 'f16', shape: [2, 2], data: new Float32Array(4) }], ['b', { dtype: 'i64', shape: [3], data: new Int32Array(3) }]]))];
  const zips = [fix('nested_zip.pt'), fix('bare_zip.pt'), fix('int_range.pt')];
  const legacy = fix('nested_legacy.th');
  // Offsets of the object pickle: after the three header pickles, up to its STOP.
  let at = 0;
  for (let i = 0; i < 3; i++) at = unpickle(legacy, at, { resolveGlobal: () => undefined }).end;
  const objStart = at;
  const objEnd = unpickle(legacy, at, { resolveGlobal: resolveTorchGlobal, persistentLoad: torchPersistentLoad(new Map()) }).end;
  const model = JSON.parse(new TextDecoder().decode(fix('tfjs/model.json')));
  const shards = new Map(['group1-shard1of2.bin', 'group1-shard2of2.bin', 'group2-shard1of1.bin'].map((p) => [p, fix(`tfjs/${p}`)]));
  const umdModel = fix('umd/model.min.js'), umdShard = fix('umd/group1-shard1of1.min.js');
  return {
    'safetensors': (rng) => { const s = rng.pick(st), b = rng.chance(0.5) ? mutateSafetensors(rng, s) : mutateBytes(rng, s); return () => parseSafetensors(b); },
    'pytorch-zip': (rng) => { const b = mutatePytorchZip(rng, rng.pick(zips)); return () => parsePytorchZip(b); },
    'pytorch-legacy': (rng) => { const b = mutateLegacy(rng, legacy, objStart, objEnd); return () => parsePytorchLegacy(b); },
    'tfjs': (rng) => {
      const which = rng.int(3);
      const text = which === 0 ? stringify(mutateJson(rng, model)) : which === 1 ? new TextDecoder().decode(mutateBytes(rng, new TextEncoder().encode(JSON.stringify(model)))) : JSON.stringify(model);
      const victim = rng.pick([...shards.keys()]);
      const bad = which === 2 ? mutateBytes(rng, shards.get(victim)!) : undefined;
      return () => parseTfjsLayers(text, async (p) => (p === victim && bad) || shards.get(p) || Promise.reject(new Error(`ENOENT ${p}`)));
    },
    'tfjs-umd': (rng) => {
      const m = rng.chance(0.6) ? mutateBytes(rng, umdModel) : umdModel, s = m === umdModel ? mutateBytes(rng, umdShard) : umdShard;
      return () => parseCheckpoint(m, { readFile: async (p) => (p.endsWith('.min.js') ? s : Promise.reject(new Error('ENOENT'))) });
    },
  };
}

/** Runs `cases` cases of one format (or until `seconds` pass). */
export async function fuzzFormat(format: Format, opts: { cases?: number; seconds?: number; seed?: number }): Promise<Stats> {
  const gen = generators()[format];
  const seed = opts.seed ?? 1, rng = new Rng(seed * 1000003 + FORMATS.indexOf(format));
  const stats: Stats = { format, cases: 0, ok: 0, errors: 0, kinds: {}, crashes: [], hangs: 0, slowestMs: 0, maxRssMb: 0 };
  const until = opts.seconds ? Date.now() + opts.seconds * 1000 : Infinity;
  for (let i = 0; i < (opts.cases ?? Infinity) && Date.now() < until; i++) {
    const run = gen(rng);
    const t = performance.now();
    try {
      await run();
      stats.ok++;
    } catch (e) {
      if (e instanceof ThawError) { stats.errors++; stats.kinds[e.kind] = (stats.kinds[e.kind] ?? 0) + 1; }
      else stats.crashes.push({ message: String((e as Error)?.stack ?? e).split('\n').slice(0, 4).join(' | '), seed, i });
    }
    const ms = performance.now() - t;
    stats.slowestMs = Math.max(stats.slowestMs, ms);
    if (ms > 1000) stats.hangs++;
    stats.cases++;
  }
  stats.maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  return stats;
}

function table(all: Stats[]): string {
  const rows = all.map((s) => [s.format, s.cases, s.ok, s.errors, Object.keys(s.kinds).length, s.crashes.length, s.hangs, s.slowestMs.toFixed(0), s.maxRssMb]);
  const head = ['format', 'cases', 'parsed', 'refused', 'kinds', 'crashes', 'hangs', 'slowest ms', 'max RSS MB'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r: unknown[]) => r.map((c, i) => String(c).padStart(w[i])).join('  ');
  return [line(head), ...rows.map(line), '', ...all.map((s) => `${s.format}: ${Object.entries(s.kinds).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`),
    ...all.flatMap((s) => s.crashes.slice(0, 5).map((c) => `CRASH ${s.format} seed ${c.seed} case ${c.i}: ${c.message}`))].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const arg = (k: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
  const seconds = Number(arg('--seconds') ?? (argv.includes('--long') ? 60 : 5)), seed = Number(arg('--seed') ?? 1);
  const only = arg('--format') as Format | undefined;
  if (only) {
    const s = await fuzzFormat(only, { seconds, seed });
    if (argv.includes('--json')) console.log(JSON.stringify(s)); else console.log(table([s]));
    process.exitCode = s.crashes.length || s.hangs ? 1 : 0;
    return;
  }
  // One child per format: max RSS is then the format's own, and a runaway case cannot hide the others.
  const all: Stats[] = [];
  for (const f of FORMATS) {
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--format', f, '--seconds', String(seconds), '--seed', String(seed), '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const last = r.stdout.trim().split('\n').pop() ?? '';
    try { all.push(JSON.parse(last)); } catch { all.push({ format: f, cases: 0, ok: 0, errors: 0, kinds: {}, crashes: [{ message: `child exited ${r.status} ${r.signal ?? ''}: ${r.stderr.slice(-500)}`, seed, i: -1 }], hangs: 0, slowestMs: 0, maxRssMb: 0 }); }
    console.error(`${f}: done`);
  }
  console.log(table(all));
  process.exitCode = all.some((s) => s.crashes.length || s.hangs) ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
