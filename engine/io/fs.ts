/**
 * Node-only file helpers for checkpoints: loading a file (TF.js shards from beside model.json,
 * deflated zip entries through node:zlib) and writing a file atomically.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
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
    throw new CheckpointError('missing-entry', `cannot read checkpoint '${path}' (${(e as Error).message})`);
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
 * Writes `bytes` to `path` (creating its folder) so that readers see the old file or the new one, never a torn one:
 * a temp file in the same folder, fsync, rename over the target, then fsync the folder so the
 * rename itself survives a crash.
 */
export async function saveAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
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
