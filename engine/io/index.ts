/**
 * Checkpoint import: one entry point that sniffs the format from the bytes and dispatches to the
 * parser. Everything here is pure TypeScript over Uint8Array and runs in browsers; fs.ts adds the
 * Node file helpers.
 */
import { CheckpointError, fail } from './errors.ts';
import { LEGACY_PREFIX, parsePytorchLegacy } from './pytorch_legacy.ts';
import { parsePytorchZip } from './pytorch_zip.ts';
import { MAX_HEADER_BYTES, parseSafetensors } from './safetensors.ts';
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
    // safetensors: a u64 header length within the format's bound, then '{'. A length past the end
    // of the file still sniffs as safetensors, so a truncated file is reported as truncated; text
    // (JSON) never has the four zero bytes of the length's high word.
    const dv = new DataView(b.buffer, b.byteOffset, 8);
    const n = dv.getUint32(0, true), hi = dv.getUint32(4, true);
    if (hi === 0 && n >= 2 && n <= MAX_HEADER_BYTES) return 'safetensors';
  }
  let i = 0;
  while (i < b.length && i < 1024 && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09 || b[i] === 0xef || b[i] === 0xbb || b[i] === 0xbf)) i++;
  if (b[i] === 0x7b) return 'tfjs-json';
  const head = new TextDecoder().decode(b.subarray(0, 4096));
  if (/^[\s;]*(!function|\(function|var |"use strict"|'use strict')/.test(head) || /\.exports\s*=/.test(head)) return 'tfjs-umd';
  return undefined;
}

/** The format a file name claims, from its extension (content decides; this only explains failures). */
type NamedFormat = 'safetensors' | 'torch' | 'tfjs-json' | 'tfjs-umd';

function formatByName(name: string | undefined): NamedFormat | undefined {
  const n = (name ?? '').toLowerCase();
  if (n.endsWith('.safetensors')) return 'safetensors';
  if (/\.(pt|pth|th|ckpt|tar)$/.test(n)) return 'torch';
  if (n.endsWith('.json')) return 'tfjs-json';
  if (n.endsWith('.js')) return 'tfjs-umd';
  return undefined;
}

const NAMED: Record<NamedFormat, string> = {
  safetensors: 'a safetensors file', torch: 'a torch checkpoint', 'tfjs-json': 'a TF.js model.json', 'tfjs-umd': 'a UMD TF.js model',
};
const CONTENT: Record<SniffedFormat, string> = {
  safetensors: 'safetensors', 'pytorch-zip': "a zip archive (torch.save's format)", 'pytorch-legacy': 'a pickle (the legacy torch.save format)',
  'tfjs-json': 'JSON text', 'tfjs-umd': 'JavaScript',
};
const READ_AS: Record<SniffedFormat, string> = {
  safetensors: 'safetensors', 'pytorch-zip': 'a torch zip checkpoint', 'pytorch-legacy': 'a legacy torch checkpoint',
  'tfjs-json': 'a TF.js model.json', 'tfjs-umd': 'a UMD TF.js model',
};
const MATCHES: Record<NamedFormat, SniffedFormat[]> = {
  safetensors: ['safetensors'], torch: ['pytorch-zip', 'pytorch-legacy'], 'tfjs-json': ['tfjs-json'], 'tfjs-umd': ['tfjs-umd'],
};

const startsWith = (b: Uint8Array, prefix: readonly number[]) => b.length < prefix.length && b.every((x, i) => x === prefix[i]);

/** The format whose first bytes `b` is a strict prefix of (a file cut inside its magic or header), given the name's claim. */
function truncatedMagic(b: Uint8Array, named: NamedFormat | undefined): string | undefined {
  if (startsWith(b, [0x50, 0x4b, 0x03, 0x04])) return NAMED.torch;
  if (startsWith(b, LEGACY_PREFIX)) return NAMED.torch;
  // safetensors: the 8-byte header length and the header's '{' are not all there.
  if (named === 'safetensors' && b.length < 9) return NAMED.safetensors;
  return undefined;
}

/**
 * Parses any supported checkpoint from its bytes: safetensors, torch.save zip (`.pt`/`.pth`), legacy
 * torch pickle (`.th`), TF.js layers `model.json` (shards through `readFile`) or a UMD-wrapped TF.js
 * model (`model.min.js`; shards read as `<path>.min.js`, falling back to the raw `<path>`).
 *
 * The content decides the format, never the name; refusals name the file and say what it is: empty,
 * truncated (with its size), or a different format than its extension claims.
 */
export async function parseCheckpoint(bytes: Uint8Array, opts: ParseOptions = {}): Promise<Checkpoint> {
  const fmt = sniffFormat(bytes);
  const what = opts.name ? `'${opts.name}'` : 'input';
  const named = formatByName(opts.name);
  const size = `${bytes.length} byte${bytes.length === 1 ? '' : 's'}`;
  if (bytes.length === 0) fail('truncated', `${what} is empty (0 bytes): it was not saved or downloaded completely; save or download it again`);
  if (fmt === undefined) {
    const cut = truncatedMagic(bytes, named);
    if (cut) fail('truncated', `${what} is truncated (${size}): it starts like ${cut} but ends inside its header; save or download it again`);
    const head = Array.from(bytes.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
    return fail('bad-magic', `${what} (${size}, starting ${head}) is not a checkpoint thaw reads (safetensors, torch .pt/.pth/.th, TF.js model.json or UMD model.min.js)`);
  }
  try {
    return await parseAs(fmt, bytes, opts, what);
  } catch (e) {
    if (e instanceof CheckpointError) {
      if (named && !MATCHES[named].includes(fmt)) {
        e.message = `${what} is ${CONTENT[fmt]}, not ${NAMED[named]} as its name says (judged by its content). Read as ${READ_AS[fmt]}, it fails too: ${e.message}`;
      } else if (e.kind === 'truncated') {
        e.message = `${what} is truncated (${size}): ${e.message}; save or download it again`;
      } else if (!e.message.startsWith(what)) {
        e.message = `${what}: ${e.message}`;
      }
    }
    throw e;
  }
}

function parseAs(fmt: SniffedFormat, bytes: Uint8Array, opts: ParseOptions, what: string): Checkpoint | Promise<Checkpoint> {
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
  }
}
