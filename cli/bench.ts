/**
 * `thaw bench`: runs the bench scripts (bench/<name>.ts) in this process, on the current adapter,
 * and prints one table: thaw's time, the peer's time (TF.js WebGPU on the same adapter) and the
 * ratio. The scripts are imported lazily, from the source checkout (they need the dev dependencies),
 * so a build without them still starts; a missing script is a clear error, not a crash.
 *
 * Contract with a bench script: `export async function run(opts: BenchRunOptions)` returning rows
 * (or `{ adapter?, rows | results }`); each row names its case and gives thaw's and the peer's time.
 * The field names below are read leniently, so the scripts can keep their own JSON shapes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { register } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ThawError } from '../engine/core/errors.ts';
import { packageRoot } from '../models/zoo_fetch.ts';
import { table } from './fetch.ts';

/** Benchmarks `thaw bench` knows, in the order `all` runs them. */
export const BENCHES = ['matmul', 'conv', 'finetune'] as const;
export type BenchName = (typeof BENCHES)[number];

/** What a bench script's `run()` receives (the flags bench/conv.ts and bench/finetune.ts read, and `vs`). */
export interface BenchRunOptions {
  /** Small sizes and few runs: a smoke test. */
  quick: boolean;
  /** Time TF.js too (false: thaw alone). */
  tfjs: boolean;
  /** The same (bench/finetune.ts's name for it). */
  vsTf: boolean;
  /** The same, by name. */
  vs: 'tfjs' | 'none';
  /** The script prints nothing and writes no bench/results file: the CLI reports. */
  print: false;
}

export interface BenchArgs { which: BenchName | 'all'; vs: 'tfjs' | 'none'; json: boolean; quick: boolean }

/** One line of the summary table. */
export interface BenchRow { bench: string; case: string; thaw: number; peer: number | null; unit: string; ratio: number | null; thawGflops?: number }

const num = (v: unknown): number | null => {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (v && typeof v === 'object' && typeof (v as any).median === 'number') return (v as any).median;
  return null;
};

/** Reads one result row of a bench script, whatever its field names. */
export function normalizeRow(bench: string, r: Record<string, any>): BenchRow | null {
  const thawMs = num(r.thawMs ?? r.oursMs ?? r.thaw_ms);
  const peerMs = num(r.tfjsMs ?? r.peerMs ?? r.tfjs_ms);
  const size = typeof r.size === 'number' ? `${r.size}x${r.size}x${r.size}` : r.size;
  const caseName = [r.case ?? r.name ?? r.label ?? r.layer ?? r.shape ?? size ?? '?', r.op, r.variant && r.variant !== 'auto' ? `(${r.variant})` : undefined]
    .filter((x) => x !== undefined && x !== null).join(' ');
  if (thawMs !== null) {
    const gf = num(r.thawGflops);
    return { bench, case: caseName, thaw: thawMs, peer: peerMs, unit: 'ms', ratio: peerMs !== null ? peerMs / thawMs : num(r.ratio ?? r.speedup), ...(gf !== null ? { thawGflops: gf } : {}) };
  }
  const thaw = num(r.thaw ?? r.ours);
  if (thaw === null) return null;
  const peer = num(r.tfjs ?? r.peer);
  const unit = String(r.unit ?? 'ms');
  // A rate (GFLOP/s, img/s) is better when higher, a time when lower; the ratio is always "thaw's speedup".
  const speedup = peer === null ? null : /\/s$/.test(unit) ? thaw / peer : peer / thaw;
  return { bench, case: caseName, thaw, peer, unit, ratio: speedup ?? num(r.speedup ?? r.ratio) };
}

/**
 * Reads a script's rows. Two shapes: one row per case with both engines' times (conv, matmul), or
 * one row per engine (`engine: 'thaw …' | 'tfjs …'`, `ms`), as an end-to-end bench gives: each thaw
 * row is then paired with the first peer row.
 */
export function normalizeRows(bench: string, rowsIn: Record<string, any>[]): BenchRow[] {
  if (rowsIn.some((r) => typeof r?.engine === 'string')) {
    const isThaw = (r: Record<string, any>) => /^thaw\b/i.test(r.engine);
    const peerRow = rowsIn.find((r) => !isThaw(r));
    const peer = peerRow ? num(peerRow.ms ?? peerRow.median ?? peerRow.timeMs) : null;
    return rowsIn.filter(isThaw).flatMap((r) => {
      const thaw = num(r.ms ?? r.median ?? r.timeMs);
      if (thaw === null) return [];
      const label = String(r.engine).replace(/^thaw\s*/i, '').replace(/^\((.*)\)$/, '$1') || 'step';
      return [{ bench, case: r.case ?? label, thaw, peer, unit: 'ms', ratio: peer !== null ? peer / thaw : null }];
    });
  }
  return rowsIn.map((r) => normalizeRow(bench, r ?? {})).filter((r): r is BenchRow => r !== null);
}

let tsReady = false;
/** When running from the bundle, teach Node to import the TypeScript bench sources (tsx + the WGSL loader). */
async function ensureTypeScript(root: string): Promise<void> {
  if (tsReady || import.meta.url.endsWith('.ts')) return;
  try {
    const { register: registerTsx } = await import('tsx/esm/api' as string);
    registerTsx();
    register(pathToFileURL(join(root, 'scripts', 'wgsl-loader.mjs')).href);
    tsReady = true;
  } catch (e) {
    throw new ThawError('bench-missing', `thaw bench runs the TypeScript bench scripts and needs the dev dependencies (tsx, @tensorflow/tfjs): ` +
      `run it from a thaw checkout after 'npm ci' (${(e as Error).message})`);
  }
}

/**
 * Imports bench/<name>.ts and calls its run(). While it runs, its console output goes to stderr
 * (stdout is the summary), and process.exit is refused, so a script that still ends itself with
 * process.exit() fails with a message instead of killing the CLI silently.
 */
async function runOne(root: string, dir: string, name: BenchName, opts: BenchRunOptions): Promise<{ rows: BenchRow[]; adapter?: string }> {
  const file = join(dir, `${name}.ts`);
  const why = unusable(dir, name);
  if (why) throw new ThawError('bench-missing', why);
  await ensureTypeScript(root);
  const log = console.log, exit = process.exit;
  console.log = (...args: unknown[]) => console.error(...args);
  process.exit = ((code?: number) => {
    throw new ThawError('bench-exit', `bench/${name}.ts called process.exit(${code ?? ''}) while running under 'thaw bench': ` +
      `it must export run() and only exit when run directly`);
  }) as typeof process.exit;
  try {
    const mod: any = await import(pathToFileURL(file).href);
    if (typeof mod.run !== 'function') throw new ThawError('bench-missing', `bench/${name}.ts does not export run(); 'thaw bench' needs it`);
    const out = await mod.run(opts);
    const rowsIn: unknown[] = Array.isArray(out) ? out : (out?.rows ?? out?.results ?? []);
    const rows = normalizeRows(name, rowsIn as Record<string, any>[]);
    if (!rows.length) throw new ThawError('bench-result', `bench/${name}.ts run() returned no rows with a thaw time (got ${JSON.stringify(out)?.slice(0, 200)})`);
    return { rows, adapter: typeof out?.adapter === 'string' ? out.adapter : undefined };
  } finally {
    console.log = log;
    process.exit = exit;
  }
}

/**
 * Why bench/<name>.ts cannot run under the CLI, or null. The source is read, not imported: an
 * old-style script runs (and writes bench/results) as soon as it is imported.
 */
function unusable(dir: string, name: BenchName): string | null {
  const file = join(dir, `${name}.ts`);
  if (!existsSync(file)) return `the ${name} benchmark is not there (${file} is missing); available: ${available(dir).join(', ') || 'none'}`;
  if (!/export\s+(async\s+)?function\s+run\b|export\s+(const|let)\s+run\b|export\s*\{[^}]*\brun\b/.test(readFileSync(file, 'utf8'))) {
    return `bench/${name}.ts does not export run() yet, so 'thaw bench' cannot drive it; run it directly: bash -c 'source scripts/env.sh; node bench/${name}.ts'`;
  }
  return null;
}

function available(dir: string): BenchName[] {
  return BENCHES.filter((b) => existsSync(join(dir, `${b}.ts`)));
}

/** The adapter's name as the bench helpers print it. */
async function adapterName(root: string): Promise<string> {
  const common: any = await import(pathToFileURL(join(root, 'bench', 'common.ts')).href);
  return common.adapterLabel(await common.initThaw());
}

const fmt = (x: number | null, digits = 2): string => {
  if (x === null) return '-';
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(digits);
};

/** Runs `thaw bench`; returns the rows. */
export async function runBench(a: BenchArgs): Promise<BenchRow[]> {
  const root = packageRoot();
  // THAW_BENCH_DIR points at another folder of bench scripts (the CLI tests use it).
  const dir = process.env.THAW_BENCH_DIR ? resolve(process.env.THAW_BENCH_DIR) : join(root, 'bench');
  const names: BenchName[] = a.which === 'all' ? [...BENCHES] : [a.which];
  // `all` skips what cannot run (and says so); a benchmark named on its own fails instead.
  const skipped = a.which === 'all' ? names.map((n) => [n, unusable(dir, n)] as const).filter(([, why]) => why !== null) : [];
  const missing = skipped.map(([n]) => n);
  const todo = names.filter((n) => !missing.includes(n));
  if (!todo.length) throw new ThawError('bench-missing', `no benchmark can run: ${skipped.map(([n, why]) => `${n}: ${why}`).join('; ')}`);
  const opts: BenchRunOptions = { quick: a.quick, tfjs: a.vs === 'tfjs', vsTf: a.vs === 'tfjs', vs: a.vs, print: false };
  const rows: BenchRow[] = [];
  let adapter: string | undefined;
  for (const n of todo) {
    if (!a.json) console.error(`running ${n}${a.quick ? ' (quick)' : ''}…`);
    const r = await runOne(root, dir, n, opts);
    rows.push(...r.rows);
    adapter ??= r.adapter;
  }
  adapter ??= await adapterName(root);
  if (a.json) {
    console.log(JSON.stringify({ adapter, vs: a.vs, quick: a.quick, rows, ...(skipped.length ? { skipped: Object.fromEntries(skipped) } : {}) }, null, 2));
    return rows;
  }
  const withPeer = rows.some((r) => r.peer !== null);
  const withGf = rows.some((r) => r.thawGflops !== undefined);
  const header = ['bench', 'case', 'unit', 'thaw', ...(withGf ? ['thaw GFLOP/s'] : []), ...(withPeer ? ['tfjs', 'speedup'] : [])];
  const body = rows.map((r) => [r.bench, r.case, r.unit, fmt(r.thaw), ...(withGf ? [fmt(r.thawGflops ?? null)] : []),
    ...(withPeer ? [fmt(r.peer), r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`] : [])]);
  console.log(`thaw bench on ${adapter}${a.quick ? ' (quick: small sizes, few runs)' : ''}`);
  console.log(table(header, body, header.map((_, j) => j).filter((j) => j >= 3)));
  if (withPeer) console.log('\nspeedup = tfjs time / thaw time (medians): above 1, thaw is faster.');
  for (const [n, why] of skipped) console.log(`skipped ${n}: ${why}`);
  return rows;
}
