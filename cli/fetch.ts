/**
 * `thaw fetch`: puts zoo models into the cache (from the cache itself, local copies, or a download),
 * every file sha256-checked by `fetchModel`; `--list` prints the zoo with licences and where each
 * model would come from. `fetchWithProgress` is shared with `predict` and `inspect`.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fetchModel, defaultCacheDir, defaultOfflineDirs, type FetchedModel } from '../models/zoo_fetch.ts';
import { ZOO, getZooEntry, modelNames, type ZooEntry } from '../models/zoo.ts';
import { ModelUnavailableError, UnknownModelError } from '../engine/data/errors.ts';
import { UsageError } from './args.ts';
import { outputFolder } from './paths.ts';
import { ProgressBar } from './progress.ts';

export interface FetchArgs { names: string[]; cache?: string; offline: boolean; list: boolean; json: boolean }

/** Human-readable byte count (1 decimal, powers of 1000 as file managers show). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n, i = -1;
  do { v /= 1000; i++; } while (v >= 1000 && i < units.length - 1);
  return `${v.toFixed(1)} ${units[i]}`;
}

/** A zoo entry, with an unknown name turned into a usage error (exit 2) that suggests the nearest names. */
export function zooEntryOrUsage(name: string, command: string): ZooEntry {
  try {
    return getZooEntry(name);
  } catch (e) {
    if (e instanceof UnknownModelError) throw new UsageError(`thaw ${command}: ${e.message}. See 'thaw fetch --list'.`);
    throw e;
  }
}

/** Total size of an entry's files, or null when some size is not published (torchvision's files). */
export function entryBytes(e: ZooEntry): number | null {
  return e.files.every((f) => f.bytes !== null) ? e.files.reduce((s, f) => s + f.bytes!, 0) : null;
}

/** Is `name` a zoo model name? */
export function isZooName(name: string): boolean { return Object.prototype.hasOwnProperty.call(ZOO, name); }

/**
 * fetchModel with one progress bar per model on stderr (bytes over all its files). `quiet` hides
 * the bar (JSON output) but not errors.
 */
export async function fetchWithProgress(name: string, opts: { cacheDir?: string; offline?: boolean; quiet?: boolean } = {}): Promise<FetchedModel> {
  const entry = getZooEntry(name);
  checkCache(opts.cacheDir);
  const done = new Map<string, number>();
  let bar: ProgressBar | null = null;
  let res: FetchedModel;
  try {
    res = await fetchModel(name, {
      cacheDir: opts.cacheDir,
      offline: opts.offline || undefined,
      onProgress: opts.quiet ? undefined : (p) => {
        done.set(p.file, p.received);
        // Only show a bar when bytes actually move (copy or download); a cache hit is instant.
        if (p.source === 'cache' && !bar) return;
        // The bar counts kB: its "done/total" then reads like a size (a size the zoo does not know comes from the copy or the server).
        const total = entryBytes(entry) ?? entry.files.reduce((s, f) => s + (f.path === p.file ? p.total : f.bytes ?? 0), 0);
        bar ??= new ProgressBar(`${name} (kB)`, Math.max(1, Math.ceil(total / 1000)));
        let sum = 0;
        for (const v of done.values()) sum += v;
        bar.update(Math.round(sum / 1000), `${p.source === 'download' ? 'downloading' : 'copying local'} ${p.file}`);
      },
    });
  } catch (e) {
    (bar as ProgressBar | null)?.done();
    // The CLI can also read a copy kept anywhere: say so.
    if (e instanceof ModelUnavailableError) throw new ModelUnavailableError(`${e.message} Or pass --weights FILE to use a copy kept elsewhere.`, { cause: e.cause });
    throw e;
  }
  (bar as ProgressBar | null)?.done();
  return res;
}

/**
 * The cache folder must be creatable and writable before anything is copied or downloaded into it
 * (checked once per folder). An unusable one names its source: --cache, $THAW_CACHE or the default.
 */
export function checkCache(cacheDir: string | undefined): void {
  const dir = cacheDir ?? defaultCacheDir();
  if (checkedCaches.has(dir)) return;
  const label = cacheDir !== undefined ? '--cache' : process.env.THAW_CACHE ? '$THAW_CACHE' : 'the zoo cache';
  outputFolder(label, dir, 'choose a writable cache folder with --cache DIR or $THAW_CACHE');
  checkedCaches.add(dir);
}
const checkedCaches = new Set<string>();

/** Where each model would come from now: the cache, a local copy, a download, or nowhere. */
function availability(e: ZooEntry, cacheDir: string): string {
  const dirs = defaultOfflineDirs(e);
  const kinds: string[] = e.files.map((f) => {
    if (existsSync(join(cacheDir, e.name, f.path))) return 'cached';
    if (dirs.some((d) => existsSync(join(d, f.path)))) return 'local copy';
    return f.url ? 'download' : 'unavailable';
  });
  for (const k of ['unavailable', 'download', 'local copy']) if (kinds.includes(k)) return k === 'unavailable' ? 'unavailable (no URL, no local copy)' : k;
  return 'cached';
}

/** Left-aligned text table with a rule under the header. */
export function table(header: string[], rows: string[][], right: number[] = []): string {
  const w = header.map((h, j) => Math.max(h.length, ...rows.map((r) => (r[j] ?? '').length)));
  const line = (r: string[]) => r.map((c, j) => (right.includes(j) ? c.padStart(w[j]) : c.padEnd(w[j]))).join('  ').trimEnd();
  return [line(header), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

function list(a: FetchArgs): void {
  const cacheDir = a.cache ?? defaultCacheDir();
  const entries = modelNames().map((n) => ZOO[n]);
  if (a.json) {
    console.log(JSON.stringify(entries.map((e) => ({
      name: e.name, description: e.description, format: e.format, architecture: e.architecture, licence: e.licence, source: e.source,
      files: e.files.length, bytes: entryBytes(e), availability: availability(e, cacheDir),
    })), null, 2));
    return;
  }
  console.log(table(['model', 'format', 'size', 'files', 'licence', 'from here'], entries.map((e) => [
    e.name, e.format, entryBytes(e) === null ? '?' : formatBytes(entryBytes(e)!), String(e.files.length),
    `${e.licence.spdx} (${e.licence.holder})`, availability(e, cacheDir),
  ]), [2, 3]));
  console.log(`\ncache: ${cacheDir}  (--cache DIR or $THAW_CACHE to change)`);
  for (const e of entries) console.log(`\n${e.name}: ${e.description}\n  source: ${e.source}`);
}

/** Runs `thaw fetch`. */
export async function runFetch(a: FetchArgs): Promise<void> {
  if (a.list) { list(a); return; }
  if (!a.names.length) throw new UsageError(`thaw fetch: name a model to fetch (${modelNames().join(', ')}), or run 'thaw fetch --list'`);
  for (const n of a.names) zooEntryOrUsage(n, 'fetch');
  checkCache(a.cache);
  const out: Record<string, unknown>[] = [];
  for (const name of a.names) {
    const m = await fetchWithProgress(name, { cacheDir: a.cache, offline: a.offline, quiet: a.json });
    const files = m.entry.files.map((f) => ({ path: m.files[f.path], bytes: statSync(m.files[f.path]).size, sha256: f.sha256, source: m.sources[f.path] }));
    out.push({ name, dir: m.dir, licence: m.entry.licence, files });
    if (a.json) continue;
    const bytes = m.entry.files.reduce((s, f) => s + statSync(m.files[f.path]).size, 0);
    const from = [...new Set(files.map((f) => f.source))].join(' + ');
    console.log(`${name}: ${files.length} file${files.length > 1 ? 's' : ''}, ${formatBytes(bytes)}, ${m.entry.files.every((f) => f.sha256.length === 64) ? 'sha256' : 'sha256 hash prefix'} verified (from ${from}), licence ${m.entry.licence.spdx} (${m.entry.licence.holder})`);
    // Many-shard models: the folder and the first files (all of them with --json).
    if (files.length > 6) console.log(`  ${m.dir}/ (all ${files.length} files)`);
    for (const f of files.slice(0, 6)) console.log(`  ${f.path}`);
    if (files.length > 6) console.log(`  … ${files.length - 6} more`);
  }
  if (a.json) console.log(JSON.stringify(out, null, 2));
}
