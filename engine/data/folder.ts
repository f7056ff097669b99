/**
 * Node-only image-folder datasets: `root/<class>/**.{png,jpg,jpeg}`, one subfolder per class,
 * class names sorted (so label indices match torchvision's ImageFolder).
 */
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import { join, relative } from 'node:path';
import { describeSystemError, isSystemError } from '../core/errors.ts';
import type { Dataset } from './dataset.ts';
import { DataArgError, DataFormatError, DataMissingError } from './errors.ts';
import { readImage, sniffImageFormat } from './image.ts';
import { preprocess, type Augment, type PreprocessSpec } from './preprocess.ts';

/** File extensions listed as images (compared case-insensitively). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg'];

/** The listing of an image folder. */
export interface ImageFolderIndex {
  root: string;
  /** Class names: the subfolder names, sorted by UTF-16 code units (Python sorted() order for ordinary names). */
  classes: string[];
  /** Absolute image paths, grouped by class, sorted within a class. */
  files: string[];
  /** (files.length) class index of each file. */
  labels: Int32Array;
}

function hasImageExt(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

/** stat() following links, with every failure (a broken link, a link loop, no permission) a DataFormatError naming the path. */
function statFollow(root: string, p: string): Stats {
  try {
    return statSync(p);
  } catch (e) {
    if (!isSystemError(e)) throw e;
    const broken = e.code === 'ENOENT' && lstatSync(p, { throwIfNoEntry: false })?.isSymbolicLink();
    throw new DataFormatError(`image folder ${root}: ` + (broken
      ? `'${p}' is a broken symbolic link (its target ${readlinkOrNull(p) ?? ''} is missing); fix or remove the link`
      : describeSystemError(e)), { cause: e });
  }
}

function readlinkOrNull(p: string): string | null {
  try { return `'${readlinkSync(p)}'`; } catch { return null; }
}

/** readdir() with failures (no permission, a link loop) as DataFormatErrors naming the folder. */
function list(root: string, d: string): Dirent[] {
  try {
    return readdirSync(d, { withFileTypes: true });
  } catch (e) {
    if (!isSystemError(e)) throw e;
    throw new DataFormatError(`image folder ${root}: ${describeSystemError(e)}`, { cause: e });
  }
}

/**
 * Image files under dir, recursively, skipping hidden entries; sorted by path. Links are followed;
 * a link back to a folder being walked (a cycle) is an error naming it, as are broken links and
 * link loops, rather than an endless walk or a failure at training time.
 */
function listImages(root: string, dir: string): string[] {
  const out: string[] = [];
  const walking: string[] = [];
  const walk = (d: string): void => {
    const real = realpathOrThrow(root, d);
    const cycle = walking.indexOf(real);
    if (cycle >= 0) {
      throw new DataFormatError(`image folder ${root}: '${d}' leads back to '${walking[cycle]}' through a symbolic link, so listing it would never end; remove the link`);
    }
    walking.push(real);
    for (const ent of list(root, d)) {
      if (ent.name.startsWith('.')) continue;
      const p = join(d, ent.name);
      const isDir = ent.isDirectory() || (ent.isSymbolicLink() && statFollow(root, p).isDirectory());
      if (isDir) walk(p);
      else if (hasImageExt(ent.name)) out.push(p);
    }
    walking.pop();
  };
  walk(dir);
  return out.sort();
}

function realpathOrThrow(root: string, p: string): string {
  try {
    return realpathSync(p);
  } catch (e) {
    if (!isSystemError(e)) throw e;
    throw new DataFormatError(`image folder ${root}: ${describeSystemError(e)}`, { cause: e });
  }
}

/**
 * Lists an image folder without decoding anything. Errors (DataMissingError) for a missing root,
 * a root with no class subfolders, and a class subfolder with no images (naming the class);
 * (DataFormatError) for broken links, link loops and unreadable folders, naming the path.
 */
export function indexImageFolder(root: string): ImageFolderIndex {
  let st: Stats | undefined;
  try {
    st = statSync(root, { throwIfNoEntry: false });
  } catch (e) {
    if (!isSystemError(e)) throw e;
    throw new DataFormatError(`image folder ${root}: ${describeSystemError(e)}`, { cause: e });
  }
  if (!st || !st.isDirectory()) {
    throw new DataMissingError(`image folder not found: ${root}. Expected a directory with one subfolder per class, e.g. ${join(root, 'cat', '001.jpg')}`);
  }
  const entries = list(root, root).filter((e) => !e.name.startsWith('.'));
  const classes = entries
    .filter((e) => e.isDirectory() || (e.isSymbolicLink() && statFollow(root, join(root, e.name)).isDirectory()))
    .map((e) => e.name)
    .sort();
  if (classes.length === 0) {
    const loose = entries.map((e) => e.name).filter(hasImageExt).length;
    throw new DataMissingError(`image folder ${root} has no class subfolders` +
      (loose ? ` (it has ${loose} images directly inside; move them into one subfolder per class, e.g. ${join(root, 'cat')}/)` : '; put images in one subfolder per class'));
  }
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((cls, c) => {
    const imgs = listImages(root, join(root, cls));
    if (imgs.length === 0) {
      throw new DataMissingError(`image folder ${root}: class '${cls}' has no ${IMAGE_EXTENSIONS.join('/')} files; add images or remove the folder ${join(root, cls)}`);
    }
    for (const f of imgs) { files.push(f); labels.push(c); }
  });
  return { root, classes, files, labels: Int32Array.from(labels) };
}

/**
 * Reads the first bytes of every file and throws one DataFormatError listing those that are not PNG or
 * JPEG (by magic number, as decoding would tell), so a stray file fails before any work, not when a
 * run happens to sample it. Only headers are read: a truncated image still fails when decoded.
 */
export function checkImageHeaders(files: readonly string[], root = ''): void {
  const bad: string[] = [];
  const head = new Uint8Array(8);
  for (const f of files) {
    let n = 0;
    try {
      const fd = openSync(f, 'r');
      try { n = readSync(fd, head, 0, 8, 0); } finally { closeSync(fd); }
    } catch (e) {
      bad.push(`${root ? relative(root, f) : f} (cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      continue;
    }
    if (sniffImageFormat(head.subarray(0, n)) === null) {
      const hex = Array.from(head.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join(' ');
      bad.push(`${root ? relative(root, f) : f} (${n ? `starts with ${hex}` : 'empty'})`);
    }
  }
  if (bad.length) {
    throw new DataFormatError(`${bad.length} of ${files.length} files${root ? ` in ${root}` : ''} ${bad.length === 1 ? 'is' : 'are'} not PNG or JPEG: ` +
      `${bad.slice(0, 5).join(', ')}${bad.length > 5 ? `, … (${bad.length} in all)` : ''}; convert ${bad.length === 1 ? 'it' : 'them'} to PNG or JPEG, or remove ${bad.length === 1 ? 'it' : 'them'}`);
  }
}

/** A folder dataset: the listing plus get(i), which decodes and preprocesses file i. */
export interface ImageFolderDataset extends Dataset, ImageFolderIndex {}

/**
 * An image folder (a root folder, or its listing from `indexImageFolder`) as a dataset for a
 * backbone: get(i) reads, decodes and preprocesses one file (nothing is cached). Every file's header
 * is checked first (`checkImageHeaders`, unless `checkHeaders` is false), so a file that is not PNG or
 * JPEG fails here, by name; an image that still cannot be decoded throws a DataFormatError naming it
 * when read.
 */
export function imageFolderDataset(root: string | ImageFolderIndex, spec: PreprocessSpec, augment?: Augment,
  opts: { checkHeaders?: boolean } = {}): ImageFolderDataset {
  const index = typeof root === 'string' ? indexImageFolder(root) : root;
  if (opts.checkHeaders ?? true) checkImageHeaders(index.files, index.root);
  return {
    ...index,
    length: index.files.length,
    get(i) {
      const path = index.files[i];
      if (path === undefined) throw new DataArgError(`imageFolderDataset: index ${i} is out of range for ${index.files.length} images in ${relative(process.cwd(), index.root) || index.root}`);
      return { x: preprocess(readImage(path), spec, augment), y: index.labels[i] };
    },
  };
}
