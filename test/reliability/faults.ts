/**
 * Fault injection around the file-system calls of an atomic save (saveAtomic: open the temp file,
 * write, fsync, close, rename, open and fsync the folder). A fault either throws (an I/O error the save must
 * survive) or SIGKILLs this process on the spot (a crash: no cleanup code runs).
 *
 * The fs functions are patched on node:fs/promises' CommonJS exports and pushed to the ESM named
 * exports with syncBuiltinESMExports; FileHandle methods are patched on its prototype.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const fsp = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises');

/** Where a save is interrupted, in the order saveAtomic reaches them. */
export const POINTS = ['open', 'write-partial', 'fsync', 'close', 'rename', 'dir-fsync'] as const;
export type Point = typeof POINTS[number];
export type Action = 'throw' | 'kill';

function act(point: Point, action: Action): never {
  if (action === 'kill') {
    process.kill(process.pid, 'SIGKILL');
    // SIGKILL to oneself is delivered before this line runs; never fall through if it were not.
    for (;;) { /* unreachable */ }
  }
  throw new Error(`injected I/O fault at '${point}'`);
}

/** Installs a one-shot fault at `point`; returns a function that removes it. */
export async function injectFault(point: Point, action: Action): Promise<() => void> {
  const probe = await fsp.open(join(tmpdir(), '.thaw-fault-probe'), 'w');
  const proto = Object.getPrototypeOf(probe);
  await probe.close();
  await fsp.rm(join(tmpdir(), '.thaw-fault-probe'), { force: true });
  const saved = { open: fsp.open, rename: fsp.rename, writeFile: proto.writeFile, sync: proto.sync };
  let fired = false;
  const once = () => !fired && (fired = true);
  const mut = fsp as any;
  if (point === 'open') mut.open = (p: any, flags: any, ...rest: any[]) => (flags === 'wx' && once() ? act(point, action) : saved.open(p, flags, ...rest));
  // FileHandle's close is an own arrow-function property, not a prototype method: patch the temp file's handle.
  if (point === 'close') {
    mut.open = async (p: any, flags: any, ...rest: any[]) => {
      const fh = await saved.open(p, flags, ...rest);
      if (flags !== 'wx' || fired) return fh;
      const close = fh.close;
      // A close that fails still releases the descriptor (as on NFS, where close reports a deferred write error).
      (fh as any).close = async () => { if (!once()) return close(); if (action === 'throw') await close(); act(point, action); };
      return fh;
    };
  }
  if (point === 'rename') mut.rename = (a: any, b: any) => (once() ? act(point, action) : saved.rename(a, b));
  // After the rename, saveAtomic opens the folder to fsync it (so the rename survives a power loss).
  if (point === 'dir-fsync') mut.open = (p: any, flags: any, ...rest: any[]) => (flags === 'r' && once() ? act(point, action) : saved.open(p, flags, ...rest));
  if (point === 'write-partial') {
    proto.writeFile = async function (this: any, data: Uint8Array, ...rest: any[]) {
      if (!once()) return saved.writeFile.call(this, data, ...rest);
      await this.write(data.subarray(0, data.length >> 1));
      act(point, action);
    };
  }
  if (point === 'fsync') proto.sync = function (this: any) { return once() ? act(point, action) : saved.sync.call(this); };
  syncBuiltinESMExports();
  return () => {
    mut.open = saved.open; mut.rename = saved.rename;
    proto.writeFile = saved.writeFile; proto.sync = saved.sync;
    syncBuiltinESMExports();
  };
}
