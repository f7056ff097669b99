/**
 * Checkpoint import: one entry point that sniffs the format from the bytes and dispatches to the
 * parser. Everything here is pure TypeScript over Uint8Array and runs in browsers; fs.ts adds the
 * Node file helpers.
 */
import { fail } from './errors.ts';
import { parsePytorchLegacy } from './pytorch_legacy.ts';
import { parsePytorchZip } from './pytorch_zip.ts';
import { parseSafetensors } from './safetensors.ts';
import { type ReadShard, parseTfjsLayers } from './tfjs.ts';
import { extractUmdTfjsModel } from './umd.ts';
import type { Inflate } from './zip.ts';
import type { Checkpoint } from './types.ts';

export type { Checkpoint, CheckpointFormat, DType, HostTensor } from './types.ts';
export { CheckpointError, UnsafePickleError, type IoErrorKind } from './errors.ts';
export { parseSafetensors, writeSafetensors } from './safetensors.ts';
export { parsePytorchZip, writePytorchZip } from './pytorch_zip.ts';
export { parsePytorchLegacy } from './pytorch_legacy.ts';
export { parseTfjsLayers, type ReadShard } from './tfjs.ts';
export { extractUmdTfjsModel, type UmdExport } from './umd.ts';
export { kerasToTorch, kerasConvToTorch, kerasDepthwiseToTorch, kerasDenseToTorch, permute, KERAS_PARAM_NAMES } from './keras.ts';
export type { Inflate } from './zip.ts';

/** What sniffFormat can tell from the first bytes. */
export type SniffedFormat = 'safetensors' | 'pytorch-zip' | 'pytorch-legacy' | 'tfjs-json' | 'tfjs-umd';

/** Options for parseCheckpoint. */
export interface ParseOptions {
  /** A file name, used only in messages. */
  name?: string;
  /** Reads a TF.js shard by its manifest path (relative to model.json); needed for TF.js models. */
  readFile?: ReadShard;
  /** Inflates deflated zip entries (torch.save never deflates; other zip tools may). */
  inflate?: Inflate;
}

/** Identifies a checkpoint format from its leading bytes, or undefined. */
export function sniffFormat(bytes: Uint8Array): SniffedFormat | undefined {
  const b = bytes;
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5) && (b[3] === 4 || b[3] === 6)) return 'pytorch-zip';
  if (b.length >= 2 && b[0] === 0x80) return 'pytorch-legacy';
  if (b.length >= 9 && b[8] === 0x7b) {
    // safetensors: u64 header length that fits the file, then '{'.
    const n = new DataView(b.buffer, b.byteOffset, 8).getUint32(0, true) + new DataView(b.buffer, b.byteOffset, 8).getUint32(4, true) * 2 ** 32;
    if (n >= 2 && 8 + n <= b.length) return 'safetensors';
  }
  let i = 0;
  while (i < b.length && i < 1024 && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09 || b[i] === 0xef || b[i] === 0xbb || b[i] === 0xbf)) i++;
  if (b[i] === 0x7b) return 'tfjs-json';
  const head = new TextDecoder().decode(b.subarray(0, 4096));
  if (/^[\s;]*(!function|\(function|var |"use strict"|'use strict')/.test(head) || /\.exports\s*=/.test(head)) return 'tfjs-umd';
  return undefined;
}

/**
 * Parses any supported checkpoint from its bytes: safetensors, torch.save zip (`.pt`/`.pth`), legacy
 * torch pickle (`.th`), TF.js layers `model.json` (shards through `readFile`) or a UMD-wrapped TF.js
 * model (`model.min.js`; shards read as `<path>.min.js`, falling back to the raw `<path>`).
 */
export async function parseCheckpoint(bytes: Uint8Array, opts: ParseOptions = {}): Promise<Checkpoint> {
  const fmt = sniffFormat(bytes);
  const what = opts.name ? `'${opts.name}'` : 'input';
  switch (fmt) {
    case 'pytorch-zip': return parsePytorchZip(bytes, { inflate: opts.inflate });
    case 'pytorch-legacy': return parsePytorchLegacy(bytes);
    case 'safetensors': return parseSafetensors(bytes);
    case 'tfjs-json': {
      const read = opts.readFile ?? fail('missing-entry', `${what} is a TF.js model.json: pass readFile so its weight shards can be read`);
      return parseTfjsLayers(bytes, read);
    }
    case 'tfjs-umd': {
      const read = opts.readFile ?? fail('missing-entry', `${what} is a UMD TF.js model: pass readFile so its weight shards can be read`);
      const m = extractUmdTfjsModel(new TextDecoder().decode(bytes));
      if (m.kind !== 'model') return fail('bad-header', `${what} is a UMD weight shard, not a model; load its model.min.js`);
      return parseTfjsLayers(m.model, async (p) => {
        let js: Uint8Array;
        try { js = await read(`${p}.min.js`); } catch { return read(p); }
        const s = extractUmdTfjsModel(new TextDecoder().decode(js));
        return s.kind === 'shard' ? s.bytes : fail('bad-header', `UMD shard '${p}.min.js' does not export a base64 string`);
      });
    }
    default:
      return fail('bad-magic', `${what} is not a checkpoint thaw reads (safetensors, torch .pt/.pth/.th, TF.js model.json or UMD model.min.js)`);
  }
}
