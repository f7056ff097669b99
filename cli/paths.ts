/**
 * Early checks of the CLI's path arguments, run before any work (no GPU, no download, no training):
 * inputs must exist and be readable, output folders must be creatable and writable. Each failure
 * is one line naming the option, the path, what is wrong and what to do.
 */
import { closeSync, openSync, readdirSync, statSync, type Stats } from 'node:fs';
import { ThawError, describeSystemError, isSystemError } from '../engine/core/errors.ts';
import { checkWritableDir } from '../engine/io/fs.ts';

/** A path argument that cannot be used (kind 'file'): `label` (the option), then what is wrong. */
function problem(label: string, message: string, cause?: unknown): ThawError {
  return new ThawError('file', `${label}: ${message}`, { cause });
}

/** stat() that turns failures into one-line errors; null when the path does not exist. */
function statOf(label: string, path: string, fix?: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    if (!isSystemError(e)) throw e;
    if (e.code === 'ENOENT') return null;
    throw problem(label, describeSystemError(e, fix), e);
  }
}

/** Opens and closes a file (or lists a folder) to prove it is readable now, not only that it exists. */
function probeRead(label: string, path: string, folder: boolean, fix?: string): void {
  try {
    if (folder) readdirSync(path);
    else closeSync(openSync(path, 'r'));
  } catch (e) {
    if (!isSystemError(e)) throw e;
    throw problem(label, describeSystemError(e, fix), e);
  }
}

/**
 * Whether `path` exists, following links; a broken path (a link loop, a file used as a folder, no
 * permission to look) is an error rather than "no", unlike `existsSync`.
 */
export function pathExists(label: string, path: string): boolean {
  return statOf(label, path) !== null;
}

/**
 * An existing, readable file (or folder, with `folders`). Messages start with `label` (an option
 * such as '--weights', or 'image'); `missing` replaces "no such file".
 */
export function inputFile(label: string, path: string, opts: { folders?: boolean; missing?: string } = {}): 'file' | 'folder' {
  const st = statOf(label, path);
  if (!st) throw new ThawError('no-file', `${label} '${path}': ${opts.missing ?? 'no such file'}`);
  if (st.isDirectory()) {
    if (!opts.folders) throw new ThawError('file', `${label} '${path}' is a folder; give a file`);
    probeRead(label, path, true);
    return 'folder';
  }
  probeRead(label, path, false);
  return 'file';
}

/** An existing, readable folder; `hint` (what the folder should hold) is added to the messages. */
export function inputFolder(label: string, path: string, hint?: string): void {
  const st = statOf(label, path);
  const h = hint ? ` (${hint})` : '';
  if (!st) throw new ThawError('no-file', `${label} '${path}': no such folder${h}`);
  if (!st.isDirectory()) throw new ThawError('file', `${label} '${path}' is a file, not a folder${h}`);
  probeRead(label, path, true);
}

/**
 * A folder that files will be written into: created now if missing (one level at a time, so /proc
 * cannot make it spin) and proven writable with a temp file, which is removed again.
 */
export function outputFolder(label: string, path: string, fix: string): void {
  try {
    checkWritableDir(path, fix);
  } catch (e) {
    if (e instanceof ThawError) throw problem(label, e.message, e);
    throw e;
  }
}
