/**
 * Mutators for the checkpoint fuzzer: byte-level (bit flips, interesting values, huge u32/u64
 * sizes, truncation, splices) and structure-aware ones that edit a format's header or pickle and
 * re-wrap it validly (recomputed CRCs, header lengths), so the deeper parsers get exercised too.
 */
import { readZipDirectory, writeZip } from '../../engine/io/zip.ts';

/** A seeded PRNG (mulberry32): fuzz runs are reproducible from their seed. */
export class Rng {
  constructor(private s: number) {}
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]; }
  chance(p: number): boolean { return this.next() < p; }
}

const BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x28, 0x2e, 0x5d, 0x7b, 0x22];
const U32 = [0, 1, 0x7f, 0x80, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe];
const U64 = [2 ** 32, 2 ** 53 - 1, 2 ** 63, 2 ** 40, 1e15];

/** One to three byte-level mutations. */
export function mutateBytes(rng: Rng, input: Uint8Array): Uint8Array {
  let b: Uint8Array = input.slice();
  for (let n = 1 + rng.int(3); n > 0; n--) {
    if (b.length === 0) return new Uint8Array([rng.int(256)]);
    const at = rng.int(b.length);
    switch (rng.int(8)) {
      case 0: for (let k = 1 + rng.int(4); k > 0; k--) { const i = rng.int(b.length); b[i] ^= 1 << rng.int(8); } break;
      case 1: b[at] = rng.pick(BYTES); break;
      case 2: if (at + 4 <= b.length) new DataView(b.buffer).setUint32(at, rng.pick([...U32, b.length + rng.int(64)]), true); break;
      case 3: if (at + 8 <= b.length) new DataView(b.buffer).setBigUint64(at, BigInt(rng.pick(U64)), true); break;
      case 4: b = b.slice(0, at); break; // truncate
      case 5: { const len = rng.int(Math.min(64, b.length - at) + 1); b = concat(b.subarray(0, at), b.subarray(at + len)); break; }
      case 6: { const from = rng.int(b.length), len = rng.int(Math.min(64, b.length - from) + 1); b = concat(b.subarray(0, at), b.subarray(from, from + len), b.subarray(at)); break; }
      case 7: b = concat(b, Uint8Array.from({ length: 1 + rng.int(32) }, () => rng.int(256))); break;
    }
  }
  return b;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

const HUGE = [-1, 1.5, 2 ** 31, 2 ** 53, 1e300, '3', null, [], {}];

/** Replaces a random leaf or member of a JSON value with something hostile; returns the new value. */
export function mutateJson(rng: Rng, v: unknown, depth = 0): unknown {
  if (depth > 8 || v === null || typeof v !== 'object' || rng.chance(0.15)) {
    switch (rng.int(6)) {
      case 0: return rng.pick(HUGE);
      case 1: return deepNest(1000 + rng.int(20000));
      case 2: return typeof v === 'number' ? v + rng.pick([1, -1, 7, 2 ** 30]) : v;
      case 3: return rng.pick(['F32', 'BF16', 'F8_E4M3', 'C64', 'float32', 'uint8', 'float16', 'string', 'toString', '__proto__', '../x', '/etc/passwd']);
      case 4: return Array.isArray(v) ? [...v, ...v] : v;
      default: return undefined; // deleted
    }
  }
  if (Array.isArray(v)) {
    const out = v.slice();
    if (out.length && rng.chance(0.8)) { const i = rng.int(out.length); out[i] = mutateJson(rng, out[i], depth + 1); } else out.push(mutateJson(rng, 0, depth + 1));
    return out;
  }
  const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
  const keys = Object.keys(out);
  if (keys.length && rng.chance(0.9)) { const k = rng.pick(keys); out[k] = mutateJson(rng, out[k], depth + 1); } else out[rng.pick(['extra', 'data_offsets', 'quantization', '__metadata__'])] = mutateJson(rng, 0, depth + 1);
  return out;
}

/** Deep nesting is spliced in as text by `stringify`: building it as objects would overflow JSON.stringify. */
function deepNest(n: number): unknown {
  return `__DEEP_${n}__`;
}

/** JSON.stringify, with deepNest markers expanded to n nested arrays. */
export function stringify(v: unknown): string {
  return (JSON.stringify(v) ?? '').replace(/"__DEEP_(\d+)__"/g, (_, n) => '['.repeat(+n) + '0' + ']'.repeat(+n));
}

/** safetensors: edit the header JSON (or its text) and re-frame it with a matching length. */
export function mutateSafetensors(rng: Rng, file: Uint8Array): Uint8Array {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n)));
  const data = file.subarray(8 + n);
  let text: string;
  const keys = Object.keys(header).filter((k) => k !== '__metadata__');
  const k = rng.pick(keys);
  switch (rng.int(5)) {
    case 0: header[k] = { ...header[k], data_offsets: [rng.pick([0, 8, data.length, 2 ** 40]), rng.pick([4, data.length + 8, 2 ** 53])] }; text = JSON.stringify(header); break;
    case 1: { const o = header[rng.pick(keys)].data_offsets; header[k] = { ...header[k], data_offsets: o.slice() }; text = JSON.stringify(header); break; } // overlap
    case 2: text = stringify(mutateJson(rng, header)); break;
    case 3: text = JSON.stringify(header).slice(0, rng.int(n)); break; // bad JSON
    default: header[k] = { ...header[k], shape: rng.pick([[2 ** 31], [65536, 65536, 65536], [-1], [1e308], deepNest(5000)]) }; text = stringify(header); break;
  }
  const h = new TextEncoder().encode(text ?? '');
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8); out.set(data, 8 + h.length);
  return out;
}

/** Opcodes worth splicing into pickles: containers, memo, globals, reduce/build, long lengths. */
const PICKLE_SNIPPETS: number[][] = [
  [0x28], [0x29], [0x5d], [0x7d], [0x74], [0x75], [0x65], [0x61], [0x73], [0x52], [0x62], [0x51], [0x30], [0x31], [0x32],
  [0x68, 0], [0x68, 0xff], [0x6a, 0xff, 0xff, 0xff, 0x7f], [0x71, 0], [0x72, 0xff, 0xff, 0xff, 0xff], [0x94],
  [0x4a, 0xff, 0xff, 0xff, 0x7f], [0x4b, 0xff], [0x8a, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x80], [0x8b, 0xff, 0xff, 0, 0],
  [0x58, 0xff, 0xff, 0xff, 0x7f], [0x8d, 0, 0, 0, 0, 0, 0, 0, 0x10], [0x95, 0xff, 0, 0, 0, 0, 0, 0, 0],
  [...'c', ...'os\nsystem\n'].map((c) => (typeof c === 'string' ? c.charCodeAt(0) : c)),
  [...'ctorch\nFloatStorage\n'].map((c) => c.charCodeAt(0)),
  [...'ctorch._utils\n_rebuild_tensor_v2\n'].map((c) => c.charCodeAt(0)),
  [...'ccollections\nOrderedDict\n'].map((c) => c.charCodeAt(0)),
  [0x8c, 2, 0x6f, 0x73, 0x8c, 6, 0x73, 0x79, 0x73, 0x74, 0x65, 0x6d, 0x93],
  new Array(3000).fill(0x28), new Array(3000).fill(0x5d),
];

/** A pickle with byte mutations or spliced opcodes (then re-wrapped by the caller). */
export function mutatePickle(rng: Rng, pkl: Uint8Array): Uint8Array {
  if (rng.chance(0.4)) return mutateBytes(rng, pkl);
  let b = pkl;
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const at = rng.int(b.length + 1), snip = Uint8Array.from(rng.pick(PICKLE_SNIPPETS));
    b = rng.chance(0.5) ? concat(b.subarray(0, at), snip, b.subarray(at)) : concat(b.subarray(0, at), snip, b.subarray(Math.min(b.length, at + snip.length)));
  }
  return b;
}

/** torch zip: mutate data.pkl or a storage entry and re-zip (valid CRCs), or mutate the raw zip. */
export function mutatePytorchZip(rng: Rng, file: Uint8Array): Uint8Array {
  if (rng.chance(0.3)) return mutateBytes(rng, file);
  const dir = readZipDirectory(file);
  const files = [...dir.values()].map((e) => ({ name: e.name, data: file.subarray(e.dataOffset, e.dataOffset + e.size) }));
  const pkl = files.find((f) => f.name.endsWith('/data.pkl'))!;
  if (rng.chance(0.75)) pkl.data = mutatePickle(rng, pkl.data);
  else {
    const f = rng.pick(files);
    if (rng.chance(0.5)) f.data = f.data.subarray(0, rng.int(f.data.length + 1)); else f.name = rng.pick([f.name + 'x', 'a/data.pkl', f.name.replace(/^[^/]+/, 'other')]);
  }
  return writeZip(files);
}

/** legacy torch: mutate the object pickle in place (found by its offsets) or the raw file. */
export function mutateLegacy(rng: Rng, file: Uint8Array, objStart: number, objEnd: number): Uint8Array {
  if (rng.chance(0.4)) return mutateBytes(rng, file);
  return concat(file.subarray(0, objStart), mutatePickle(rng, file.subarray(objStart, objEnd)), file.subarray(objEnd));
}
