/**
 * Node-only image decoding: PNG (pngjs) and JPEG (jpeg-js), chosen by magic bytes, never by file
 * name. In a browser, decode with createImageBitmap and a canvas instead, then use `fromRgba`.
 */
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { describeSystemError, isSystemError } from '../core/errors.ts';
import { DataArgError, DataFormatError } from './errors.ts';
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

/** The default cap on decoded pixels: 100 megapixels (what jpeg-js has always enforced for JPEGs). */
export const DEFAULT_MAX_PIXELS = 100_000_000;
/** The environment variable that raises (or lowers) the cap, e.g. THAW_MAX_PIXELS=250000000. */
export const MAX_PIXELS_ENV = 'THAW_MAX_PIXELS';
/** Bytes of memory a decode takes per pixel, about: the RGBA buffer, our float32 RGB copy, scratch. */
const BYTES_PER_PIXEL = 20;

let configuredMaxPixels: number | undefined;

/**
 * Sets the cap on decoded pixels (width × height) for every later `decodeImage`, overriding
 * $THAW_MAX_PIXELS; undefined goes back to the environment or the default. The CLI's --max-pixels.
 */
export function setMaxPixels(n: number | undefined): void {
  if (n !== undefined && !(Number.isSafeInteger(n) && n > 0)) throw new DataArgError(`max pixels must be a positive integer, got ${n}`);
  configuredMaxPixels = n;
}

/** The cap on decoded pixels now in force: setMaxPixels, else $THAW_MAX_PIXELS, else DEFAULT_MAX_PIXELS. */
export function maxPixels(): number {
  if (configuredMaxPixels !== undefined) return configuredMaxPixels;
  const env = typeof process !== 'undefined' ? process.env[MAX_PIXELS_ENV] : undefined;
  if (env === undefined || env === '') return DEFAULT_MAX_PIXELS;
  const n = Number(env);
  if (!(Number.isSafeInteger(n) && n > 0)) throw new DataArgError(`${MAX_PIXELS_ENV} must be a positive integer (a pixel count, e.g. 250000000), got '${env}'`);
  return n;
}

const be16 = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const be32 = (b: Uint8Array, o: number) => ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];

/**
 * Width and height of encoded PNG or JPEG bytes, read from the PNG's IHDR chunk or the JPEG's
 * start-of-frame marker without decoding anything; null when the header is not there.
 */
export function imageSize(bytes: Uint8Array): { width: number; height: number } | null {
  const format = sniffImageFormat(bytes);
  if (format === 'png') {
    // Signature (8), then the first chunk: length (4), 'IHDR' (4), width (4), height (4).
    if (bytes.length < 24 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return null;
    return { width: be32(bytes, 16), height: be32(bytes, 20) };
  }
  if (format === 'jpeg') {
    let i = 2;
    while (i + 4 <= bytes.length) {
      if (bytes[i] !== 0xff) return null;
      const m = bytes[i + 1];
      if (m === 0xff) { i++; continue; } // fill byte
      if (m === 0x01 || (m >= 0xd0 && m <= 0xd9)) { i += 2; continue; } // markers without a length
      if (m === 0xda) return null; // scan data before any frame header
      const len = be16(bytes, i + 2);
      // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC): length, precision (1), height (2), width (2).
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        return i + 9 <= bytes.length ? { width: be16(bytes, i + 7), height: be16(bytes, i + 5) } : null;
      }
      if (len < 2) return null;
      i += 2 + len;
    }
  }
  return null;
}

const mp = (n: number) => (n >= 1e6 ? `${Number((n / 1e6).toPrecision(n >= 1e7 ? 4 : 3))} megapixels` : `${n} pixels`);
const gb = (bytes: number) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.max(1, Math.round(bytes / 1e6))} MB`);

function tooLarge(name: string, width: number, height: number, cap: number): DataFormatError {
  const n = width * height;
  return new DataFormatError(`${name}: the image is ${width}×${height} pixels (${mp(n)}), above thaw's cap of ${mp(cap)} per image ` +
    `(decoding it would take about ${gb(n * BYTES_PER_PIXEL)}; the cap guards against decompression bombs). ` +
    `If the image is genuine, raise the cap with --max-pixels ${n} or ${MAX_PIXELS_ENV}=${n}, or downscale the image`);
}

/** Channels per pixel of each PNG colour type (grey, RGB, palette, grey+alpha, RGBA). */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * pngjs inflates interlaced images without an output bound, so a small interlaced PNG could
 * inflate to gigabytes: inflate its IDAT data here first, bounded by what its header allows.
 */
function checkInterlacedPng(bytes: Uint8Array, name: string, width: number, height: number): void {
  if (bytes.length < 29 || bytes[28] !== 1) return; // IHDR's interlace byte
  const bits = (PNG_CHANNELS[bytes[25]] ?? 4) * bytes[24];
  // The seven Adam7 passes hold the same pixels as one image, plus a filter byte and padding per row.
  const bound = height * (Math.ceil((width * bits) / 8) + 1) + 7 * (height + 8) * 2 + 1024;
  const idat: Uint8Array[] = [];
  for (let o = 8; o + 12 <= bytes.length;) {
    const len = be32(bytes, o);
    const type = String.fromCharCode(...bytes.subarray(o + 4, o + 8));
    if (type === 'IDAT') idat.push(bytes.subarray(o + 8, Math.min(bytes.length, o + 8 + len)));
    if (type === 'IEND') break;
    o += 12 + len;
  }
  try {
    inflateSync(Buffer.concat(idat), { maxOutputLength: bound });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DataFormatError(`${name}: the PNG's data inflates to more than its ${width}×${height} header allows; the file is corrupt or a decompression bomb`, { cause: e });
    }
    // Other inflate errors: let pngjs report them as usual.
  }
}

/**
 * Decodes PNG or JPEG bytes to an RGB image: `data` is float32 HWC (height*width*3), values
 * 0..255 (not scaled to 0..1: preprocessing divides by 255, as PyTorch's ToTensor does).
 * Grey images are expanded to 3 equal channels; alpha is dropped without compositing (as PIL's
 * `convert('RGB')`); 16-bit PNGs are rescaled to 8 bits. `name` only labels error messages.
 * Images of more than `maxPixels` pixels (default: `maxPixels()`) are refused from their header,
 * before anything is decoded or allocated.
 */
export function decodeImage(bytes: Uint8Array, name = 'image', opts: { maxPixels?: number } = {}): Image {
  const format = sniffImageFormat(bytes);
  if (format === null) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new DataFormatError(`${name}: not a PNG or JPEG file (starts with ${head || 'nothing: the file is empty'}); ` +
      'convert it to PNG or JPEG, or remove it from the folder');
  }
  const cap = opts.maxPixels ?? maxPixels();
  const size = imageSize(bytes);
  if (size && size.width * size.height > cap) throw tooLarge(name, size.width, size.height, cap);
  try {
    if (format === 'png') {
      if (size) checkInterlacedPng(bytes, name, size.width, size.height);
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const png = PNG.sync.read(buf); // always RGBA 8-bit after pngjs's normalisation
      return fromRgba(png.data, png.width, png.height);
    }
    const jpg = jpeg.decode(bytes, {
      useTArray: true, formatAsRGBA: true, tolerantDecoding: true,
      // The same cap as above (in case the frame header was not found), and the memory it takes.
      maxResolutionInMP: cap / 1e6, maxMemoryUsageInMB: Math.max(512, Math.ceil((cap * BYTES_PER_PIXEL) / 2 ** 20)),
    });
    return fromRgba(jpg.data, jpg.width, jpg.height);
  } catch (e) {
    if (e instanceof DataFormatError) throw e;
    const msg = (e as Error).message;
    if (/maxResolutionInMP limit exceeded|maxMemoryUsageInMB limit exceeded/.test(msg)) {
      throw new DataFormatError(`${name}: the JPEG is larger than thaw's cap of ${mp(cap)} per image (${msg}); ` +
        `if it is genuine, raise the cap with --max-pixels or ${MAX_PIXELS_ENV}, or downscale it`, { cause: e });
    }
    throw new DataFormatError(`${name}: cannot decode ${format.toUpperCase()} (${msg}); the file is corrupt or truncated`, { cause: e });
  }
}

/** Reads and decodes a PNG or JPEG file (see `decodeImage`). */
export function readImage(path: string, opts: { maxPixels?: number } = {}): Image {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new DataFormatError(isSystemError(e) ? describeSystemError(e) : `${path}: cannot read (${(e as Error).message})`, { cause: e });
  }
  return decodeImage(bytes, path, opts);
}
