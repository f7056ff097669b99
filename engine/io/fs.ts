/**
 * Node-only file helpers for checkpoints: loading a file (TF.js shards from beside model.json,
 * deflated zip entries through node:zlib), writing a file atomically, and creating and checking
 * output folders before any work is done.
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { closeSync, mkdirSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { FileError, describeSystemError, isSystemError, type SystemError } from '../core/errors.ts';
import { CheckpointError } from './errors.ts';
import { parseCheckpoint } from './index.ts';
import { checkShardPath } from './tfjs.ts';
import type { Checkpoint } from './types.ts';

/**
 * Loads a checkpoint file of any supported format. For `model.json` and UMD `model.min.js`, shards
 * are read from the same folder (manifest paths must stay inside it).
 */
export async function loadCheckpointFile(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if (!isSystemError(e)) throw e;
    e.path ??= path; // reading a folder fails in read(2), whose error names no path
    throw new CheckpointError('missing-entry', `checkpoint: ${describeSystemError(e, 'give a checkpoint file')}`, { cause: e });
  }
  const dir = dirname(path);
  return parseCheckpoint(bytes, {
    name: basename(path),
    readFile: (rel) => readFile(join(dir, checkShardPath(rel))),
    // maxOutputLength stops a deflate bomb at the size the directory declared.
    inflate: (data, size) => inflateRawSync(data, { maxOutputLength: Math.max(size, 1) }),
  });
}

/**
 * Creates folder `dir` and its missing parents one level at a time, never with `mkdir -p`'s
 * recursion (Node's recursive mkdir spins forever under /proc, where mkdir fails with ENOENT below
 * an existing folder). Returns the folders it created, outermost first. A failure is a FileError
 * naming the folder and the reason; an existing file in the way is ENOTDIR/EEXIST as Node says.
 */
export function ensureDir(dir: string, fix?: string): string[] {
  const missing: string[] = [];
  let p = resolve(dir);
  for (;;) {
    const st = statOrNull(p, fix);
    if (st?.isDirectory()) break;
    if (st) throw new FileError(sysErr('EEXIST', 'mkdir', p), fix);
    missing.push(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  const created: string[] = [];
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
      created.push(m);
    } catch (e) {
      if (isSystemError(e) && e.code === 'EEXIST' && statOrNull(m, fix)?.isDirectory()) continue; // made meanwhile
      throw isSystemError(e) ? new FileError(e, fix) : e;
    }
  }
  return created;
}

/**
 * Checks, before any work, that files can be written into folder `dir`: creates it (see
 * `ensureDir`), then creates, writes and removes a small temp file there. Returns the folders it
 * created. Throws a FileError (EACCES, EPERM, EROFS, ENOSPC, ENOTDIR...) naming the path.
 */
export function checkWritableDir(dir: string, fix?: string): string[] {
  const created = ensureDir(dir, fix);
  const probe = join(resolve(dir), `.thaw-write-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fd = openSync(probe, 'wx', 0o600);
    try { writeSync(fd, 'thaw'); } finally { closeSync(fd); }
    unlinkSync(probe);
  } catch (e) {
    try { unlinkSync(probe); } catch { /* it was never created */ }
    throw isSystemError(e) ? new FileError(e, fix) : e;
  }
  return created;
}

function statOrNull(p: string, fix?: string): ReturnType<typeof statSync> | null {
  try {
    return statSync(p);
  } catch (e) {
    if (isSystemError(e) && e.code === 'ENOENT') return null;
    throw isSystemError(e) ? new FileError(e, fix) : e;
  }
}

function sysErr(code: string, syscall: string, path: string): SystemError {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
}

/**
 * Writes `bytes` to `path` (creating its folder) so that readers see the old file or the new one, never a torn one:
 * a temp file in the same folder, fsync, rename over the target, then fsync the folder so the
 * rename itself survives a crash.
 */
export async function saveAtomic(path: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeAtomic(path, bytes);
  } catch (e) {
    throw isSystemError(e) ? new FileError(e) : e;
  }
}

async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  ensureDir(dir);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  // Some platforms (Windows) cannot open or fsync a directory; the rename is still done there.
  try {
    const d = await open(dir, 'r');
    try { await d.sync(); } finally { await d.close(); }
  } catch { /* best effort */ }
}
