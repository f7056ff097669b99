/**
 * Node-only IDX file reading (gzipped or not) and the Fashion-MNIST loader.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataArgError, DataFormatError, DataMissingError } from './errors.ts';
import { parseIdx, parseIdxImageSet, type IdxImageSet, type IdxTensor } from './idx.ts';

export { FASHION_MNIST_CLASSES } from './idx.ts';

/** Where the Debian package `dataset-fashion-mnist` puts the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Reads a file, gunzipping it when it starts with the gzip magic (whatever its name). */
export function readMaybeGzip(path: string): Uint8Array {
  const raw = readFileSync(path);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return new Uint8Array(gunzipSync(raw));
    } catch (e) {
      throw new DataFormatError(`${path}: gzip data is corrupt or truncated (${(e as Error).message}); download the file again`, { cause: e });
    }
  }
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** Reads and parses an IDX file, gzipped or not. */
export function readIdxFile(path: string): IdxTensor {
  if (!existsSync(path)) throw new DataMissingError(`IDX file not found: ${path}`);
  return parseIdx(readMaybeGzip(path), path);
}

/** Finds `base` or `base.gz` in dir. */
function findIdx(dir: string, base: string): string {
  for (const name of [base, `${base}.gz`]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new DataMissingError(`${dir} has no ${base} (nor ${base}.gz). The directory should hold the four Fashion-MNIST files ` +
    `(train-/t10k- images-idx3-ubyte and labels-idx1-ubyte, gzipped or not); reinstall with 'apt-get install dataset-fashion-mnist' ` +
    `or point ${FASHION_MNIST_ENV} (the CLI) at a folder that holds them`);
}

/** The environment variable through which the CLI reads Fashion-MNIST from another folder. */
export const FASHION_MNIST_ENV = 'THAW_FASHION_MNIST';

/**
 * The image and label files of one Fashion-MNIST split in `dir` (gzipped or not), found without
 * reading them, so a missing dataset is reported before any work. Throws DataMissingError.
 */
export function fashionMnistFiles(dir: string = FASHION_MNIST_DIR, split: 'train' | 'test' = 'train'): { images: string; labels: string } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new DataMissingError(`Fashion-MNIST not found: ${dir} does not exist. ` +
      `Install it with 'apt-get install dataset-fashion-mnist' (files go to ${FASHION_MNIST_DIR}), ` +
      `or download the four IDX files from the Fashion-MNIST project and point ${FASHION_MNIST_ENV} (the CLI) at their folder`);
  }
  if (split !== 'train' && split !== 'test') throw new DataArgError(`Fashion-MNIST split must be 'train' or 'test', got '${String(split)}'`);
  const prefix = split === 'train' ? 'train' : 't10k';
  return { images: findIdx(dir, `${prefix}-images-idx3-ubyte`), labels: findIdx(dir, `${prefix}-labels-idx1-ubyte`) };
}

/** Reads an images/labels pair of IDX files (gzipped or not) from explicit paths. */
export function readIdxImageSet(imagesPath: string, labelsPath: string): IdxImageSet {
  return parseIdxImageSet(readMaybeGzip(imagesPath), readMaybeGzip(labelsPath), { images: imagesPath, labels: labelsPath });
}

/**
 * Loads one split of Fashion-MNIST (train: 60000, test: 10000 images of 28x28 grey levels) from
 * `dir`, which holds the original IDX files gzipped or not.
 */
export function loadFashionMnist(dir: string = FASHION_MNIST_DIR, split: 'train' | 'test' = 'train'): IdxImageSet {
  const f = fashionMnistFiles(dir, split);
  return readIdxImageSet(f.images, f.labels);
}
