/**
 * Node-only model fetching: cache first, then local copies, then download; every file checked
 * against the zoo's sha256 and written atomically (temp file + rename), so the cache never holds
 * a partial or wrong file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { ChecksumError, ModelUnavailableError } from '../engine/data/errors.ts';
import { getZooEntry, sha256Matches, type ZooEntry, type ZooFile } from './zoo.ts';
import { ensureDir } from '../engine/io/fs.ts';

/** Where a file came from. */
export type FetchSource = 'cache' | 'local' | 'download';

/** Progress of one file; called at least once per file, with received === total when done. */
export interface FetchProgress {
  model: string;
  file: string;
  source: FetchSource;
  received: number;
  /** The file's size, or 0 when neither the zoo nor the server gives it. */
  total: number;
}

/** Options of `fetchModel`. */
export interface FetchOptions {
  /** Cache root; files go to `<cacheDir>/<model>/<path>`. Default `$THAW_CACHE`, else `~/.cache/thaw`. */
  cacheDir?: string;
  /**
   * Directories holding local copies, searched in order. Default: `$THAW_OFFLINE_DIRS` (see
   * `envOfflineDirs`), then the entry's `localDirs` under the package root and the working directory.
   */
  offlineDirs?: readonly string[];
  /** Called as each file's bytes arrive (or are found in a cache or local folder). */
  onProgress?: (p: FetchProgress) => void;
  /** Never download (default: true when `$THAW_OFFLINE` is 1). */
  offline?: boolean;
  /** The fetch to download with (default: the global one). */
  fetch?: typeof fetch;
}

/** A model's files, all in one local directory. */
export interface FetchedModel {
  entry: ZooEntry;
  /** The directory holding every file (relative paths inside model.json resolve against it). */
  dir: string;
  /** Absolute path of each file, by its zoo path. */
  files: Record<string, string>;
  /** Where each file came from this time. */
  sources: Record<string, FetchSource>;
}

/** `$THAW_CACHE`, else `~/.cache/thaw`. */
export function defaultCacheDir(): string {
  return process.env.THAW_CACHE || join(homedir(), '.cache', 'thaw');
}

/** The nearest directory at or above this module that holds a package.json (the thaw checkout or package). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/**
 * The local-copy directories `$THAW_OFFLINE_DIRS` names for an entry. The variable lists directories
 * separated by the platform's path delimiter (':' on Linux and macOS, ';' on Windows); each
 * directory D is searched as D/<model name>/ and as D itself, so it can be a folder of models laid
 * out like the cache (`<model>/<file>`) or the folder of one model's files. Relative entries resolve
 * against the working directory. Files found there are still checked against the zoo's sha256.
 */
export function envOfflineDirs(entry: ZooEntry, value: string | undefined = process.env.THAW_OFFLINE_DIRS): string[] {
  const dirs = (value ?? '').split(delimiter).filter((d) => d.trim() !== '').map((d) => resolve(d));
  return dirs.flatMap((d) => [join(d, entry.name), d]);
}

/** torch.hub's checkpoint folder: `$TORCH_HOME/hub/checkpoints`, else `~/.cache/torch/hub/checkpoints`. */
export function torchHubCheckpointDir(): string {
  return join(process.env.TORCH_HOME || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'torch'), 'hub', 'checkpoints');
}

/**
 * The default local-copy directories of an entry: those `$THAW_OFFLINE_DIRS` names first, then its
 * localDirs under the package root, then under the cwd; for PyTorch checkpoints also torch.hub's
 * cache, so a file torchvision has downloaded is found (and still checked).
 */
export function defaultOfflineDirs(entry: ZooEntry): string[] {
  const roots = [...new Set([packageRoot(), process.cwd()])];
  const hub = entry.format === 'torch-zip' || entry.format === 'torch-legacy' ? [torchHubCheckpointDir()] : [];
  return [...new Set([...envOfflineDirs(entry), ...roots.flatMap((r) => entry.localDirs.map((d) => resolve(r, d))), ...hub])];
}

/** Lower-case hex sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Streams chunks to `dest` via a temp file; keeps it only if the sha256 matches (else ChecksumError). */
async function writeVerified(chunks: AsyncIterable<Uint8Array>, dest: string, file: ZooFile, source: string,
  progress: (received: number) => void): Promise<void> {
  ensureDir(dirname(dest), 'choose another cache folder with --cache DIR or $THAW_CACHE');
  const tmp = `${dest}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const h = createHash('sha256');
  let received = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, done) {
      h.update(chunk);
      received += chunk.length;
      progress(received);
      done(null, chunk);
    },
  });
  try {
    await pipeline(chunks, hasher, createWriteStream(tmp));
    const actual = h.digest('hex');
    if (!sha256Matches(file, actual)) throw new ChecksumError(file.path, file.sha256, actual, source);
    renameSync(tmp, dest);
  } finally {
    if (existsSync(tmp)) unlinkSync(tmp);
  }
}

/** What the file must be: its full sha256 and size, or the hash prefix torch.hub checks. */
function identity(file: ZooFile): string {
  return file.sha256.length === 64 ? `sha256 ${file.sha256}, ${file.bytes} bytes` : `sha256 starting ${file.sha256}`;
}

function manualHint(entry: ZooEntry, file: ZooFile, dest: string): string {
  return `To install it by hand, put the file (${identity(file)}) at ${dest}, ` +
    `or in a directory named by $THAW_OFFLINE_DIRS or passed as offlineDirs (default: ${entry.localDirs.join(', ')} under the thaw checkout).`;
}

/** An Error's message with its causes' (fetch's 'fetch failed' hides the reason, e.g. getaddrinfo ENOTFOUND). */
function reason(e: unknown): string {
  const parts: string[] = [];
  for (let c: any = e; c && parts.length < 3; c = c.cause) if (c.message) parts.push(String(c.message));
  return parts.join(': ') || String(e);
}

async function fetchFile(entry: ZooEntry, file: ZooFile, dest: string, opts: FetchOptions, offlineDirs: readonly string[]): Promise<FetchSource> {
  let total = file.bytes ?? 0;
  const report = (source: FetchSource, received: number) =>
    opts.onProgress?.({ model: entry.name, file: file.path, source, received, total });
  if (existsSync(dest)) {
    const size = statSync(dest).size;
    if ((file.bytes === null || size === file.bytes) && sha256Matches(file, await sha256File(dest))) {
      total = size;
      report('cache', size);
      return 'cache';
    }
    unlinkSync(dest); // a stale or damaged cache entry: fetch it again
  }
  for (const dir of offlineDirs) {
    const local = join(dir, file.path);
    if (!existsSync(local) || !statSync(local).isFile()) continue;
    total = file.bytes ?? statSync(local).size;
    await writeVerified(createReadStream(local), dest, file, local, (n) => report('local', n));
    return 'local';
  }
  if (file.url === null) {
    throw new ModelUnavailableError(`${entry.name}: ${file.path} has no public download URL and no local copy was found in ` +
      `[${offlineDirs.join(', ') || 'no directories'}]. ${manualHint(entry, file, dest)}`);
  }
  const offline = opts.offline ?? process.env.THAW_OFFLINE === '1';
  if (offline) {
    throw new ModelUnavailableError(`${entry.name}: ${file.path} is not cached and no local copy was found, and downloads are off ` +
      `(offline). Download ${file.url} on a machine with internet. ${manualHint(entry, file, dest)}`);
  }
  const doFetch = opts.fetch ?? globalThis.fetch;
  let res: Response;
  try {
    res = await doFetch(file.url);
  } catch (e) {
    throw new ModelUnavailableError(`${entry.name}: cannot download ${file.url} (${reason(e)}). ${manualHint(entry, file, dest)}`, { cause: e });
  }
  if (!res.ok || !res.body) {
    throw new ModelUnavailableError(`${entry.name}: downloading ${file.url} failed with HTTP ${res.status} ${res.statusText}. ${manualHint(entry, file, dest)}`);
  }
  total = file.bytes ?? (Number(res.headers.get('content-length')) || 0);
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  try {
    await writeVerified(body, dest, file, file.url, (n) => report('download', n));
  } catch (e) {
    if (e instanceof ChecksumError) throw e;
    throw new ModelUnavailableError(`${entry.name}: the download of ${file.url} broke off (${reason(e)}). ${manualHint(entry, file, dest)}`, { cause: e });
  }
  return 'download';
}

/**
 * Makes every file of zoo model `name` available locally and verified, and returns their paths.
 * Order per file: the cache (kept only if its sha256 still matches), then local copies (copied
 * into the cache after verification), then a download. A sha256 mismatch throws ChecksumError
 * naming the file, expected and actual hash, and leaves nothing in the cache; an unknown name
 * throws UnknownModelError with the nearest names; a file that cannot be had throws
 * ModelUnavailableError with its URL and where to put it by hand.
 */
export async function fetchModel(name: string, options: FetchOptions = {}): Promise<FetchedModel> {
  const entry = getZooEntry(name);
  const dir = resolve(options.cacheDir ?? defaultCacheDir(), entry.name);
  const offlineDirs = options.offlineDirs ? options.offlineDirs.map((d) => resolve(d)) : defaultOfflineDirs(entry);
  const files: Record<string, string> = {};
  const sources: Record<string, FetchSource> = {};
  for (const file of entry.files) {
    const dest = join(dir, file.path);
    sources[file.path] = await fetchFile(entry, file, dest, options, offlineDirs);
    files[file.path] = dest;
  }
  return { entry, dir, files, sources };
}
