/**
 * Node-only image-folder datasets: `root/<class>/**.{png,jpg,jpeg}`, one subfolder per class,
 * class names sorted (so label indices match torchvision's ImageFolder).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Dataset } from './dataset.ts';
import { DataArgError, DataMissingError } from './errors.ts';
import { readImage } from './image.ts';
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

/** Image files under dir, recursively, skipping hidden entries; sorted by path. */
function listImages(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      if (ent.name.startsWith('.')) continue;
      const p = join(d, ent.name);
      const isDir = ent.isDirectory() || (ent.isSymbolicLink() && statSync(p, { throwIfNoEntry: false })?.isDirectory());
      if (isDir) walk(p);
      else if (hasImageExt(ent.name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * Lists an image folder without decoding anything. Errors (DataMissingError) for a missing root,
 * a root with no class subfolders, and a class subfolder with no images (naming the class).
 */
export function indexImageFolder(root: string): ImageFolderIndex {
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new DataMissingError(`image folder not found: ${root}. Expected a directory with one subfolder per class, e.g. ${join(root, 'cat', '001.jpg')}`);
  }
  const classes = readdirSync(root, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.') && (e.isDirectory() || statSync(join(root, e.name)).isDirectory()))
    .map((e) => e.name)
    .sort();
  if (classes.length === 0) {
    const loose = readdirSync(root).filter(hasImageExt).length;
    throw new DataMissingError(`image folder ${root} has no class subfolders` +
      (loose ? ` (it has ${loose} images directly inside; move them into one subfolder per class, e.g. ${join(root, 'cat')}/)` : '; put images in one subfolder per class'));
  }
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((cls, c) => {
    const imgs = listImages(join(root, cls));
    if (imgs.length === 0) {
      throw new DataMissingError(`image folder ${root}: class '${cls}' has no ${IMAGE_EXTENSIONS.join('/')} files; add images or remove the folder ${join(root, cls)}`);
    }
    for (const f of imgs) { files.push(f); labels.push(c); }
  });
  return { root, classes, files, labels: Int32Array.from(labels) };
}

/** A folder dataset: the listing plus get(i), which decodes and preprocesses file i. */
export interface ImageFolderDataset extends Dataset, ImageFolderIndex {}

/**
 * An image folder as a dataset for a backbone: get(i) reads, decodes and preprocesses one file
 * (nothing is cached). An undecodable image throws a DataFormatError naming the file.
 */
export function imageFolderDataset(root: string, spec: PreprocessSpec, augment?: Augment): ImageFolderDataset {
  const index = indexImageFolder(root);
  return {
    ...index,
    length: index.files.length,
    get(i) {
      const path = index.files[i];
      if (path === undefined) throw new DataArgError(`imageFolderDataset: index ${i} is out of range for ${index.files.length} images in ${relative(process.cwd(), root) || root}`);
      return { x: preprocess(readImage(path), spec, augment), y: index.labels[i] };
    },
  };
}
