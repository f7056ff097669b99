import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSafetensors, writeSafetensors } from '../../engine/io/safetensors.ts';
import type { HostTensor } from '../../engine/io/types.ts';
import { assertTensor, expected, fixture, rawSafetensors, throwsKind, u64le } from './helpers.ts';

test('reads every dtype of the Python-written fixture, and its metadata', () => {
  const c = parseSafetensors(fixture('small.safetensors'));
  assert.is(c.format, 'safetensors');
  assert.equal(c.metadata, { format: 'pt', source: 'make_io_fixtures.py' });
  assert.equal([...c.tensors.keys()], Object.keys(expected.state_dict));
  for (const [k, e] of Object.entries(expected.state_dict)) assertTensor(c.tensors.get(k), e, k);
});

test('writeSafetensors round-trips every dtype bit for bit and aligns data to 8 bytes', () => {
  const c = parseSafetensors(fixture('small.safetensors'));
  const out = writeSafetensors(c.tensors, { note: 'x' });
  const n = Number(new DataView(out.buffer).getBigUint64(0, true));
  assert.is(n % 8, 0);
  const back = parseSafetensors(out);
  assert.equal(back.metadata, { note: 'x' });
  for (const [k, e] of Object.entries(expected.state_dict)) assertTensor(back.tensors.get(k), e, k);
  // Re-encoding what we decoded gives the Python file's bytes exactly (f64 excepted: decoding it to f32 is lossy).
  const orig = fixture('small.safetensors');
  const on = Number(new DataView(orig.buffer, orig.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(orig.subarray(8, 8 + on)));
  for (const [k, t] of c.tensors) {
    if (t.dtype === 'f64') continue;
    const one = writeSafetensors(new Map([[k, t]]));
    const m = Number(new DataView(one.buffer).getBigUint64(0, true));
    const [b, e] = header[k].data_offsets;
    assert.equal([...one.subarray(8 + m)], [...orig.subarray(8 + on + b, 8 + on + e)], k);
  }
});

test('writer encodes f16 and bf16 with round-to-nearest-even', () => {
  const t: HostTensor = { dtype: 'f16', shape: [3], data: new Float32Array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 70000]) };
  const b: HostTensor = { dtype: 'bf16', shape: [2], data: new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8]) };
  const r = parseSafetensors(writeSafetensors(new Map([['h', t], ['b', b]])));
  assert.equal([...r.tensors.get('h')!.data], [1, 1 + 2 * 2 ** -10, Infinity]); // ties to even, overflow to inf
  assert.equal([...r.tensors.get('b')!.data], [1, 1 + 2 * 2 ** -7]);
});

const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

test('refuses short files and header lengths beyond the file or the 100 MB cap', async () => {
  await throwsKind(() => parseSafetensors(new Uint8Array(5)), 'truncated');
  await throwsKind(() => parseSafetensors(new Uint8Array([...u64le(1000), 0x7b, 0x7d])), 'truncated', /header length 1000/);
  await throwsKind(() => parseSafetensors(new Uint8Array([...u64le(2 ** 52), 0x7b, 0x7d])), 'too-large');
  await throwsKind(() => parseSafetensors(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7b])), 'too-large');
});

test('refuses bad JSON, non-object headers and bad entries', async () => {
  await throwsKind(() => parseSafetensors(rawSafetensors(null, 0, '{"a": ')), 'bad-json');
  await throwsKind(() => parseSafetensors(rawSafetensors(null, 0, '[1,2]')), 'bad-header');
  await throwsKind(() => parseSafetensors(rawSafetensors({ a: 5 })), 'bad-header');
  await throwsKind(() => parseSafetensors(rawSafetensors({ a: { dtype: 'F32', shape: [2] } }, 8)), 'bad-header', /data_offsets/);
  await throwsKind(() => parseSafetensors(rawSafetensors({ __metadata__: { a: 1 } })), 'bad-header', /string/);
  const badUtf8 = new Uint8Array([...u64le(4), 0x7b, 0x22, 0xff, 0x22]);
  await throwsKind(() => parseSafetensors(badUtf8), 'bad-json', /UTF-8/);
});

test('refuses wrong dtypes, bad shapes and size mismatches', async () => {
  await throwsKind(() => parseSafetensors(rawSafetensors({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, 8)), 'unsupported-dtype', /C64/);
  await throwsKind(() => parseSafetensors(rawSafetensors({ a: { dtype: 'toString', shape: [1], data_offsets: [0, 4] } }, 4)), 'unsupported-dtype');
  await throwsKind(() => parseSafetensors(rawSafetensors({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4)), 'bad-shape');
  await throwsKind(() => parseSafetensors(rawSafetensors({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, 4)), 'bad-shape');
  await throwsKind(() => parseSafetensors(rawSafetensors({ a: { dtype: 'F32', shape: [65536, 65536], data_offsets: [0, 4] } }, 4)), 'too-large');
  await throwsKind(() => parseSafetensors(rawSafetensors({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8)), 'bad-header', /span 8/);
});

test('refuses offsets outside the data buffer and overlapping tensors, before allocating', async () => {
  await throwsKind(() => parseSafetensors(rawSafetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4)), 'out-of-bounds');
  await throwsKind(() => parseSafetensors(rawSafetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, 8)), 'out-of-bounds');
  await throwsKind(() => parseSafetensors(rawSafetensors({ a: { dtype: 'F32', shape: [2 ** 28], data_offsets: [0, 2 ** 30] } }, 8)), 'out-of-bounds');
  await throwsKind(() => parseSafetensors(rawSafetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 2 ** 60] } }, 8)), 'bad-header');
  const overlap = { ...ok, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
  await throwsKind(() => parseSafetensors(rawSafetensors(overlap, 12)), 'overlap', /'a'.*'b'/);
  assert.is(parseSafetensors(rawSafetensors(ok, 8)).tensors.get('a')!.data.length, 2);
});

test('accepts empty tensors and scalars', () => {
  const c = parseSafetensors(rawSafetensors({ e: { dtype: 'F32', shape: [0, 4], data_offsets: [0, 0] }, s: { dtype: 'I64', shape: [], data_offsets: [0, 8] } }, new Uint8Array(u64le(9))));
  assert.equal(c.tensors.get('e')!.shape, [0, 4]);
  assert.equal([...c.tensors.get('s')!.data], [9]);
});

test('a tensor or metadata key named __proto__ stays an ordinary key both ways', () => {
  const t: HostTensor = { dtype: 'f32', shape: [1], data: new Float32Array([3]) };
  const c = parseSafetensors(writeSafetensors(new Map([['__proto__', t]])));
  assert.equal([...c.tensors.get('__proto__')!.data], [3]);
  const m = parseSafetensors(rawSafetensors(null, 0, '{"__metadata__": {"__proto__": "x"}}'));
  assert.ok(Object.hasOwn(m.metadata, '__proto__'));
  assert.is(Object.getPrototypeOf(m.metadata), Object.prototype);
});

test.run();
