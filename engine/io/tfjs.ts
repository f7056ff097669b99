/**
 * TF.js layers models: `model.json` holds the Keras topology and a `weightsManifest` of groups; a
 * group's shard files, concatenated in order, hold its weights back to back. Weights keep their
 * manifest names (`conv2d_1/kernel`) and Keras shapes; keras.ts adapts layouts. Quantized weights
 * (uint8/uint16 affine: value = min + q * scale; float16) are dequantized to f32 as tfjs does.
 */
import { CheckpointError, ensure } from './errors.ts';
import { brief, checkShape, decodeRun, f16ToF32, setOwn } from './dtype.ts';
import type { Checkpoint, HostTensor } from './types.ts';

/** Reads a shard by its manifest path, relative to model.json. */
export type ReadShard = (relPath: string) => Promise<Uint8Array>;

const DTYPES = { float32: 'f32', int32: 'i32', bool: 'bool' } as const;
const QBYTES = { uint8: 1, uint16: 2, float16: 2 } as const;
type QDtype = keyof typeof QBYTES;

interface Spec { name: string; dtype: keyof typeof DTYPES; shape: number[]; numel: number; bytes: number; q?: { dtype: QDtype; min: number; scale: number } }

/** Parses a model.json (text, bytes or parsed object) and its shards into a Checkpoint. */
export async function parseTfjsLayers(modelJson: unknown, readFile: ReadShard): Promise<Checkpoint> {
  const model = asObject(modelJson);
  const manifest = model.weightsManifest;
  ensure(Array.isArray(manifest), 'bad-header', 'tfjs: model.json has no weightsManifest list');
  // Validate the whole manifest before reading any shard, so a bad file costs no I/O.
  const groups = manifest.map((g, i) => checkGroup(g, i));
  const tensors = new Map<string, HostTensor>();
  for (const { paths, specs } of groups) {
    const shards: Uint8Array[] = [];
    for (const p of paths) {
      try {
        shards.push(await readFile(p));
      } catch (e) {
        if (e instanceof CheckpointError) throw e;
        throw new CheckpointError('missing-entry', `tfjs: cannot read shard '${p}' (${(e as Error).message})`);
      }
      ensure(shards[shards.length - 1] instanceof Uint8Array, 'bad-header', `tfjs: shard '${p}' did not read as bytes`);
    }
    const total = shards.reduce((s, b) => s + b.length, 0);
    const need = specs.reduce((s, w) => s + w.bytes, 0);
    ensure(need <= total, 'truncated', `tfjs: group [${paths.join(', ')}] holds ${total} bytes, its weights need ${need}`);
    const data = shards.length === 1 ? shards[0] : concat(shards, total);
    let at = 0;
    for (const w of specs) {
      ensure(!tensors.has(w.name), 'bad-header', `tfjs: weight '${w.name}' appears twice in the manifest`);
      tensors.set(w.name, decodeWeight(w, data, at));
      at += w.bytes;
    }
  }
  const metadata: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(model)) if (k !== 'weightsManifest') setOwn(metadata, k, v);
  return { format: 'tfjs-layers', tensors, metadata };
}

function asObject(m: unknown): Record<string, unknown> {
  if (typeof m === 'string' || m instanceof Uint8Array) {
    try {
      m = JSON.parse(typeof m === 'string' ? m : new TextDecoder('utf-8', { fatal: true }).decode(m));
    } catch (e) {
      throw new CheckpointError('bad-json', `tfjs: model.json is not valid JSON (${(e as Error).message})`);
    }
  }
  ensure(m !== null && typeof m === 'object' && !Array.isArray(m), 'bad-header', 'tfjs: model.json must be a JSON object');
  return m as Record<string, unknown>;
}

/** A shard path must stay beside model.json: relative, no '..', no scheme, no backslashes. */
export function checkShardPath(p: unknown): string {
  ensure(typeof p === 'string' && p.length > 0 && p.length <= 1024, 'bad-path', `tfjs: shard path ${brief(p)} is not a non-empty string`);
  const s = p as string;
  const bad = s.startsWith('/') || s.includes('\\') || s.includes(':') || s.includes('\0') || s.split('/').some((seg) => seg === '..' || seg === '');
  ensure(!bad, 'bad-path', `tfjs: shard path ${brief(s)} must be a plain relative path beside model.json`);
  return s;
}

function checkGroup(g: unknown, i: number): { paths: string[]; specs: Spec[] } {
  ensure(g !== null && typeof g === 'object', 'bad-header', `tfjs: weightsManifest[${i}] is not an object`);
  const { paths, weights } = g as Record<string, unknown>;
  ensure(Array.isArray(paths) && paths.length > 0 && Array.isArray(weights), 'bad-header', `tfjs: weightsManifest[${i}] needs 'paths' and 'weights' lists`);
  return { paths: paths.map(checkShardPath), specs: weights.map(checkSpec) };
}

function checkSpec(w: unknown): Spec {
  ensure(w !== null && typeof w === 'object', 'bad-header', `tfjs: weight spec ${brief(w)} is not an object`);
  const { name, shape, dtype, quantization: q } = w as Record<string, unknown>;
  ensure(typeof name === 'string', 'bad-header', `tfjs: weight spec without a name: ${brief(w)}`);
  ensure(typeof dtype === 'string' && Object.hasOwn(DTYPES, dtype), 'unsupported-dtype', `tfjs: '${name}' has dtype ${brief(dtype)}; thaw reads float32, int32, bool`);
  const numel = checkShape(shape, `tfjs '${name}'`);
  const dt = dtype as keyof typeof DTYPES;
  if (q === undefined) return { name, dtype: dt, shape: (shape as number[]).slice(), numel, bytes: numel * (dt === 'bool' ? 1 : 4) };
  ensure(q !== null && typeof q === 'object', 'bad-header', `tfjs: '${name}' quantization is not an object`);
  const { dtype: qd, min, scale, original_dtype: od } = q as Record<string, unknown>;
  ensure(typeof qd === 'string' && Object.hasOwn(QBYTES, qd), 'unsupported-dtype', `tfjs: '${name}' quantization dtype ${brief(qd)}; tfjs defines uint8, uint16, float16`);
  ensure(od === undefined || od === 'float32' || od === 'int32', 'unsupported-dtype', `tfjs: '${name}' quantization original_dtype ${brief(od)}`);
  const qdt = qd as QDtype;
  if (qdt === 'float16') {
    ensure(dt === 'float32', 'unsupported-dtype', `tfjs: '${name}' is float16-quantized but has dtype ${dt}`);
    return { name, dtype: dt, shape: (shape as number[]).slice(), numel, bytes: numel * 2, q: { dtype: qdt, min: 0, scale: 1 } };
  }
  ensure(dt !== 'bool', 'unsupported-dtype', `tfjs: '${name}' is a quantized bool`);
  ensure(Number.isFinite(min) && Number.isFinite(scale), 'bad-header', `tfjs: '${name}' ${qdt} quantization needs finite 'min' and 'scale', got ${brief(q)}`);
  return { name, dtype: dt, shape: (shape as number[]).slice(), numel, bytes: numel * QBYTES[qdt], q: { dtype: qdt, min: min as number, scale: scale as number } };
}

function decodeWeight(w: Spec, src: Uint8Array, at: number): HostTensor {
  const dtype = DTYPES[w.dtype], n = w.numel;
  if (!w.q) {
    const data = dtype === 'bool' ? new Uint8Array(n) : dtype === 'f32' ? new Float32Array(n) : new Int32Array(n);
    decodeRun(src, at, n, dtype, true, data, 0, w.name);
    return { dtype, shape: w.shape, data };
  }
  const dv = new DataView(src.buffer, src.byteOffset + at, w.bytes), { min, scale } = w.q;
  const data = dtype === 'f32' ? new Float32Array(n) : new Int32Array(n);
  // Same arithmetic as tfjs-core's io_utils (q * scale + min, rounded for int32), so values match tfjs bit for bit.
  const round = dtype === 'i32' ? Math.round : (x: number) => x;
  if (w.q.dtype === 'uint8') for (let i = 0; i < n; i++) data[i] = round(dv.getUint8(i) * scale + min);
  else if (w.q.dtype === 'uint16') for (let i = 0; i < n; i++) data[i] = round(dv.getUint16(i * 2, true) * scale + min);
  else for (let i = 0; i < n; i++) data[i] = f16ToF32(dv.getUint16(i * 2, true));
  return { dtype, shape: w.shape, data };
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

