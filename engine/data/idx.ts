/**
 * IDX files (the MNIST / Fashion-MNIST container): parsing from bytes, browser-safe. Reading files
 * and gunzip live in the node-only `fashion_mnist.ts`.
 *
 * Layout: 2 zero bytes, a type byte, a rank byte, then `rank` big-endian uint32 dims, then the data
 * (big-endian for multi-byte types), row-major.
 */
import { DataFormatError } from './errors.ts';

/** Element types an IDX file can hold, by their type byte. */
const IDX_TYPES = {
  0x08: { name: 'uint8', size: 1 },
  0x09: { name: 'int8', size: 1 },
  0x0b: { name: 'int16', size: 2 },
  0x0c: { name: 'int32', size: 4 },
  0x0d: { name: 'float32', size: 4 },
  0x0e: { name: 'float64', size: 8 },
} as const;

/** The data of a parsed IDX file, in its element type (native endianness). */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A parsed IDX tensor. */
export interface IdxTensor {
  /** Element type name: 'uint8' for MNIST-like images and labels. */
  dtype: (typeof IDX_TYPES)[keyof typeof IDX_TYPES]['name'];
  dims: number[];
  data: IdxData;
}

/** Images and labels of an IDX image set, e.g. one split of Fashion-MNIST. */
export interface IdxImageSet {
  /** (n, height, width) grey levels 0..255, row-major. */
  images: Uint8Array;
  /** (n) class indices. */
  labels: Uint8Array;
  n: number;
  height: number;
  width: number;
}

/** Fashion-MNIST class names, in label order. */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
  'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]);

/**
 * Parses an uncompressed IDX file. Checks the magic, the element type and that the dims account
 * for every byte (no truncation, no trailing bytes). `name` only labels error messages.
 */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxTensor {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw new DataFormatError(`${name} is gzip-compressed; gunzip it first (readIdxFile in engine/data/fashion_mnist.ts does this)`);
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataFormatError(`${name} is not an IDX file: it must start with two zero bytes, a type byte and a rank byte ` +
      `(got ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ') || 'an empty file'})`);
  }
  const type = IDX_TYPES[bytes[2] as keyof typeof IDX_TYPES];
  if (!type) throw new DataFormatError(`${name}: unknown IDX element type 0x${bytes[2].toString(16)}; known: 0x08 0x09 0x0b 0x0c 0x0d 0x0e`);
  const rank = bytes[3];
  if (rank === 0) throw new DataFormatError(`${name}: IDX rank is 0; expected at least one dimension`);
  const header = 4 + 4 * rank;
  if (bytes.length < header) throw new DataFormatError(`${name}: truncated header: rank ${rank} needs ${header} bytes, the file has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const expected = header + count * type.size;
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'has trailing bytes';
    throw new DataFormatError(`${name} ${what}: dims [${dims.join(', ')}] of ${type.name} need ${expected} bytes, the file has ${bytes.length}. ` +
      'Download the file again (or check it is not still compressed).');
  }
  return { dtype: type.name, dims, data: readBigEndian(view, header, count, type.name, type.size) };
}

function readBigEndian(view: DataView, off: number, count: number, dtype: IdxTensor['dtype'], size: number): IdxData {
  const u8 = new Uint8Array(view.buffer, view.byteOffset + off, count * size);
  switch (dtype) {
    case 'uint8': return u8.slice();
    case 'int8': return new Int8Array(u8.slice().buffer);
    case 'int16': { const a = new Int16Array(count); for (let i = 0; i < count; i++) a[i] = view.getInt16(off + 2 * i, false); return a; }
    case 'int32': { const a = new Int32Array(count); for (let i = 0; i < count; i++) a[i] = view.getInt32(off + 4 * i, false); return a; }
    case 'float32': { const a = new Float32Array(count); for (let i = 0; i < count; i++) a[i] = view.getFloat32(off + 4 * i, false); return a; }
    case 'float64': { const a = new Float64Array(count); for (let i = 0; i < count; i++) a[i] = view.getFloat64(off + 8 * i, false); return a; }
  }
}

/**
 * Pairs an images file (uint8, rank 3: n x h x w) with a labels file (uint8, rank 1: n) and checks
 * they agree. Both arguments are uncompressed IDX bytes.
 */
export function parseIdxImageSet(imagesBytes: Uint8Array, labelsBytes: Uint8Array, names = { images: 'images', labels: 'labels' }): IdxImageSet {
  const img = parseIdx(imagesBytes, names.images);
  const lab = parseIdx(labelsBytes, names.labels);
  if (img.dtype !== 'uint8' || img.dims.length !== 3) {
    throw new DataFormatError(`${names.images}: expected uint8 images of rank 3 (n, height, width), got ${img.dtype} of dims [${img.dims.join(', ')}]; is this the labels file?`);
  }
  if (lab.dtype !== 'uint8' || lab.dims.length !== 1) {
    throw new DataFormatError(`${names.labels}: expected uint8 labels of rank 1 (n), got ${lab.dtype} of dims [${lab.dims.join(', ')}]; is this the images file?`);
  }
  const [n, height, width] = img.dims;
  if (lab.dims[0] !== n) {
    throw new DataFormatError(`${names.images} has ${n} images but ${names.labels} has ${lab.dims[0]} labels; the two files are from different splits`);
  }
  return { images: img.data as Uint8Array, labels: lab.data as Uint8Array, n, height, width };
}

/** Encodes a uint8 tensor as IDX bytes (for tests and for writing small subsets). */
export function encodeIdxU8(dims: readonly number[], data: Uint8Array): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new DataFormatError(`encodeIdxU8: dims [${dims.join(', ')}] hold ${count} values, data has ${data.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + count);
  const view = new DataView(out.buffer);
  out[2] = 0x08; out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
