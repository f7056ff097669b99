/** Shared helpers of the checkpoint-importer tests (not a test file itself). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { ThawError } from '../../engine/core/errors.ts';
import type { HostTensor } from '../../engine/io/types.ts';
import { PickleWriter } from '../../engine/io/pickle_writer.ts';
import { writeZip } from '../../engine/io/zip.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = join(ROOT, 'test/fixtures/io');
/** The real checkpoints live beside the repository (`../shared`), absent on some machines. */
export const SHARED = resolve(ROOT, '../shared/checkpoints');

export interface Expected { dtype: string; shape: number[]; values: number[] }
export const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
  state_dict: Record<string, Expected>; nested_metadata: Record<string, unknown>; malicious: string[];
  tfjs: Record<string, Expected>; canary: string;
};

/** A fixture file's bytes. */
export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, name)));
}

/** Whether the shared checkpoints are present; logs why a test is skipped when not. */
export function haveShared(sub: string): boolean {
  if (existsSync(join(SHARED, sub))) return true;
  console.log(`  skip: ${join(SHARED, sub)} is absent (the real checkpoints live in ../shared beside the repo)`);
  return false;
}

/** Asserts a tensor equals an expected entry (values compared after rounding to f32, as we store them). */
export function assertTensor(t: HostTensor | undefined, e: Expected, name: string): void {
  assert.ok(t, `missing tensor '${name}'`);
  assert.is(t!.dtype, e.dtype, `${name} dtype`);
  assert.equal(t!.shape, e.shape, `${name} shape`);
  assert.is(t!.data.length, e.values.length, `${name} length`);
  for (let i = 0; i < e.values.length; i++) {
    const want = t!.data instanceof Float32Array ? Math.fround(e.values[i]) : e.values[i];
    if (t!.data[i] !== want) assert.unreachable(`${name}[${i}] = ${t!.data[i]}, expected ${want}`);
  }
}

/** Runs `fn` (sync or async) and asserts it throws a ThawError of `kind` whose message matches `re`. */
export async function throwsKind(fn: () => unknown, kind: string, re?: RegExp): Promise<ThawError> {
  try {
    await fn();
  } catch (e) {
    assert.instance(e, ThawError, `expected a ThawError, got ${(e as Error)?.stack ?? e}`);
    assert.is((e as ThawError).kind, kind, `wrong kind for: ${(e as Error).message}`);
    if (re) assert.match((e as Error).message, re);
    return e as ThawError;
  }
  return assert.unreachable(`expected a '${kind}' error, nothing was thrown`) as never;
}

/** Little-endian u64 bytes. */
export function u64le(n: number): number[] {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return [...b];
}

/** A safetensors file from a header object and a data buffer (no validation: for hostile inputs). */
export function rawSafetensors(header: unknown, data: Uint8Array | number = 0, headerText?: string): Uint8Array {
  const h = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  return new Uint8Array([...u64le(h.length), ...h, ...d]);
}

/** The three pickles every legacy torch file starts with: magic, protocol 1001, sys_info. */
export function legacyHeader(): number[] {
  const magic = new PickleWriter().proto(2).int(0x1950a86a20f9469cfc6cn).stop().bytes();
  const proto = new PickleWriter().proto(2).int(1001).stop().bytes();
  const sys = new PickleWriter().proto(2).emptyDict().mark().str('protocol_version').int(1001).str('little_endian').bool(true).setitems().stop().bytes();
  return [...magic, ...proto, ...sys];
}

/** An object pickle wrapped as a legacy torch file with no storages. */
export function asLegacy(pkl: Uint8Array): Uint8Array {
  return new Uint8Array([...legacyHeader(), ...pkl, ...new PickleWriter().proto(2).emptyList().stop().bytes()]);
}

/** An object pickle wrapped as a torch zip archive `archive/data.pkl`. */
export function asZip(pkl: Uint8Array): Uint8Array {
  return writeZip([{ name: 'archive/data.pkl', data: pkl }, { name: 'archive/version', data: new TextEncoder().encode('3\n') }]);
}

/**
 * The reference: tfjs-core's own io.decodeWeights over each manifest group's concatenated shards,
 * so TF.js decoding (incl. dequantization) is checked against TF.js itself.
 */
export async function decodeWithTfjs(manifest: { paths: string[]; weights: unknown[] }[], read: (p: string) => Promise<Uint8Array>): Promise<Map<string, ArrayLike<number>>> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  const out = new Map<string, ArrayLike<number>>();
  const warn = console.warn;
  console.warn = () => {}; // the CPU backend's "install tfjs-node" banner
  try {
    for (const g of manifest) {
      const parts = await Promise.all(g.paths.map(read));
      const buf = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
      let o = 0;
      for (const p of parts) { buf.set(p, o); o += p.length; }
      const ts = tf.io.decodeWeights(buf.buffer, g.weights as Parameters<typeof tf.io.decodeWeights>[1]);
      for (const [k, t] of Object.entries(ts)) { out.set(k, t.dataSync() as ArrayLike<number>); t.dispose(); }
    }
  } finally {
    console.warn = warn;
  }
  return out;
}

/** Asserts our decoded tensors equal the tfjs reference bit for bit. */
export function assertSameAsTfjs(ours: Map<string, HostTensor>, ref: Map<string, ArrayLike<number>>): void {
  assert.equal([...ours.keys()].sort(), [...ref.keys()].sort());
  for (const [k, t] of ours) {
    const r = ref.get(k)!;
    assert.is(t.data.length, r.length, k);
    for (let i = 0; i < r.length; i++) if (!Object.is(t.data[i], r[i])) assert.unreachable(`${k}[${i}] = ${t.data[i]}, tfjs gives ${r[i]}`);
  }
}
