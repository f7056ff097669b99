/**
 * Node-only image decoding: PNG (pngjs) and JPEG (jpeg-js), chosen by magic bytes, never by file
 * name. In a browser, decode with createImageBitmap and a canvas instead, then use `fromRgba`.
 */
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { DataFormatError } from './errors.ts';
import { fromRgba, type Image } from './transforms.ts';

/** Image container formats `decodeImage` reads. */
export type ImageFormat = 'png' | 'jpeg';

/** The format of encoded image bytes by their magic number, or null when unknown. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47 &&
    bytes[4] === 0x0d && bytes[5] === 0x0a && bytes[6] === 0x1a && bytes[7] === 0x0a) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/**
 * Decodes PNG or JPEG bytes to an RGB image: `data` is float32 HWC (height*width*3), values
 * 0..255 (not scaled to 0..1: preprocessing divides by 255, as PyTorch's ToTensor does).
 * Grey images are expanded to 3 equal channels; alpha is dropped without compositing (as PIL's
 * `convert('RGB')`); 16-bit PNGs are rescaled to 8 bits. `name` only labels error messages.
 */
export function decodeImage(bytes: Uint8Array, name = 'image'): Image {
  const format = sniffImageFormat(bytes);
  if (format === null) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new DataFormatError(`${name}: not a PNG or JPEG file (starts with ${head || 'nothing: the file is empty'}); ` +
      'convert it to PNG or JPEG, or remove it from the folder');
  }
  try {
    if (format === 'png') {
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const png = PNG.sync.read(buf); // always RGBA 8-bit after pngjs's normalisation
      return fromRgba(png.data, png.width, png.height);
    }
    const jpg = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: true });
    return fromRgba(jpg.data, jpg.width, jpg.height);
  } catch (e) {
    throw new DataFormatError(`${name}: cannot decode ${format.toUpperCase()} (${(e as Error).message}); the file is corrupt or truncated`, { cause: e });
  }
}

/** Reads and decodes a PNG or JPEG file (see `decodeImage`). */
export function readImage(path: string): Image {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new DataFormatError(`${path}: cannot read (${(e as Error).message})`, { cause: e });
  }
  return decodeImage(bytes, path);
}
