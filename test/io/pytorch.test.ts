import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { parsePytorchZip, writePytorchZip } from '../../engine/io/pytorch_zip.ts';
import { parsePytorchLegacy } from '../../engine/io/pytorch_legacy.ts';
import { PickleWriter } from '../../engine/io/pickle_writer.ts';
import { readZipDirectory, writeZip } from '../../engine/io/zip.ts';
import type { HostTensor } from '../../engine/io/types.ts';
import { assertTensor, expected, fixture, legacyHeader, throwsKind, u64le } from './helpers.ts';

const names = Object.keys(expected.state_dict);

for (const [file, parse, format] of [['nested_zip.pt', parsePytorchZip, 'pytorch-zip'], ['nested_legacy.th', parsePytorchLegacy, 'pytorch-legacy']] as const) {
  test(`${file}: state_dict tensors lifted to the top, in file order, every dtype and stride`, () => {
    const c = parse(fixture(file));
    assert.is(c.format, format);
    assert.equal([...c.tensors.keys()], names);
    for (const [k, e] of Object.entries(expected.state_dict)) assertTensor(c.tensors.get(k), e, k);
  });
  test(`${file}: non-tensor values go to metadata (2^70 as a string, tuples as arrays)`, () => {
    const c = parse(fixture(file));
    const { __archive_version__, ...meta } = c.metadata;
    assert.equal(meta, expected.nested_metadata);
    if (format === 'pytorch-zip') assert.is(__archive_version__, '3');
  });
}

test('a bare state_dict keeps its keys at top level', () => {
  const c = parsePytorchZip(fixture('bare_zip.pt'));
  assert.equal([...c.tensors.keys()], names);
  assertTensor(c.tensors.get('transposed'), expected.state_dict.transposed, 'transposed');
});

test('deflated entries need an inflate function, and read with one', async () => {
  await throwsKind(() => parsePytorchZip(fixture('deflated_zip.pt')), 'unsupported-compression', /inflate/);
  const c = parsePytorchZip(fixture('deflated_zip.pt'), { inflate: (d, n) => inflateRawSync(d, { maxOutputLength: n }) });
  for (const [k, e] of Object.entries(expected.state_dict)) assertTensor(c.tensors.get(k), e, k);
});

test('an i64 beyond i32 is refused by name', async () => {
  await throwsKind(() => parsePytorchZip(fixture('int_range.pt')), 'int-range', /big.*1099511627776/);
});

test('a CRC mismatch in a storage entry is refused', async () => {
  const b = fixture('bare_zip.pt').slice();
  const e = readZipDirectory(b).get('bare_zip/data/0')!;
  b[e.dataOffset + 5] ^= 1;
  await throwsKind(() => parsePytorchZip(b), 'crc', /bare_zip\/data\/0/);
});

/** A hand-made zip checkpoint with one tensor `w` over storage '0' of `numel` f32s holding `data`. */
function oneTensorZip(size: number[], stride: number[], offset: number, numel: number, data: Uint8Array, storageName = 'a/data/0'): Uint8Array {
  const w = new PickleWriter().proto(2).emptyDict().mark().str('w').global('torch._utils', '_rebuild_tensor_v2').mark();
  w.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(numel).tuple().binpersid().int(offset).mark();
  for (const s of size) w.int(s);
  w.tuple().mark();
  for (const s of stride) w.int(s);
  w.tuple().bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce().setitems().stop();
  return writeZip([{ name: 'a/data.pkl', data: w.bytes() }, { name: storageName, data }]);
}

test('storage offset, size and stride are honoured, and checked against the storage', async () => {
  const data = new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).buffer);
  const c = parsePytorchZip(oneTensorZip([2, 2], [1, 3], 2, 10, data));
  assert.equal([...c.tensors.get('w')!.data], [2, 5, 3, 6]);
  const e = parsePytorchZip(oneTensorZip([4], [0], 1, 10, data)); // expanded (stride 0)
  assert.equal([...e.tensors.get('w')!.data], [1, 1, 1, 1]);
  await throwsKind(() => parsePytorchZip(oneTensorZip([2, 2], [1, 3], 7, 10, data)), 'out-of-bounds', /element 11/);
  await throwsKind(() => parsePytorchZip(oneTensorZip([3], [1], 0, 20, data)), 'truncated', /storage '0'/);
  await throwsKind(() => parsePytorchZip(oneTensorZip([2], [1], 0, 2, data, 'a/data/1')), 'missing-entry', /a\/data\/0/);
  await throwsKind(() => parsePytorchZip(oneTensorZip([2 ** 30], [0], 0, 1, data)), 'too-large');
  await throwsKind(() => parsePytorchZip(oneTensorZip([2], [1, 1], 0, 2, data)), 'bad-shape');
});

test('the archive folder is taken from wherever data.pkl sits; two data.pkl are refused', async () => {
  const data = new Uint8Array(8);
  const z = oneTensorZip([2], [1], 0, 2, data);
  assert.ok(parsePytorchZip(z).tensors.has('w'));
  const pkl = new PickleWriter().proto(2).none().stop().bytes();
  await throwsKind(() => parsePytorchZip(writeZip([{ name: 'a/data.pkl', data: pkl }, { name: 'b/data.pkl', data: pkl }])), 'bad-header', /found a\/data.pkl, b\/data.pkl/);
  await throwsKind(() => parsePytorchZip(writeZip([{ name: 'x.txt', data: pkl }])), 'missing-entry', /data.pkl/);
});

test('legacy storage views (pre-1.0 files) index into their root storage', () => {
  // pid ('storage', FloatStorage, 'root', 'cpu', 6, ('view', 2, 3)): a 3-element view at element 2 of 'root'.
  const w = new PickleWriter().proto(2).emptyDict().mark().str('v').global('torch._utils', '_rebuild_tensor').mark();
  w.mark().str('storage').global('torch', 'FloatStorage').str('root').str('cpu').int(6).str('view').int(2).int(3).raw(0x87).tuple().binpersid();
  w.int(1).int(2).raw(0x85).int(1).raw(0x85).tuple().reduce().setitems().stop();
  const head = legacyHeader();
  const keys = new PickleWriter().proto(2).emptyList().mark().str('root').appends().stop().bytes();
  const data = new Uint8Array(new Float32Array([10, 11, 12, 13, 14, 15]).buffer);
  const file = new Uint8Array([...head, ...w.bytes(), ...keys, ...u64le(6), ...data]);
  const c = parsePytorchLegacy(file);
  assert.equal([...c.tensors.get('v')!.data], [13, 14]); // view offset 2 + tensor offset 1
});

test('legacy: bad magic, record count mismatch and truncated records are refused', async () => {
  const good = fixture('nested_legacy.th');
  const bad = good.slice();
  bad[5] ^= 0xff;
  await throwsKind(() => parsePytorchLegacy(bad), 'bad-magic');
  await throwsKind(() => parsePytorchLegacy(good.subarray(0, good.length - 3)), 'truncated', /storage/);
});

const python = '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

test('writePytorchZip: torch.load reads back an OrderedDict with identical values', () => {
  if (!hasTorch) { console.log(`  skip: ${python} with torch is not available, cannot check writePytorchZip against torch.load`); return; }
  const tensors = new Map<string, HostTensor>([
    ['conv.weight', { dtype: 'f32', shape: [2, 1, 2, 2], data: new Float32Array([0.1, -0.2, 3e-8, 1e20, 5, 6, 7, -0]) }],
    ['bn.running_var', { dtype: 'f32', shape: [3], data: new Float32Array([1, 2.5, Math.PI]) }],
    ['scalar', { dtype: 'f32', shape: [], data: new Float32Array([42]) }],
    ['half', { dtype: 'f16', shape: [2], data: new Float32Array([0.5, -1.5]) }],
    ['steps', { dtype: 'i64', shape: [2], data: new Int32Array([-5, 2 ** 31 - 1]) }],
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'thaw-io-'));
  try {
    const file = join(dir, 'w.pt');
    writeFileSync(file, writePytorchZip(tensors));
    const out = execFileSync(python, ['-c', `
import torch, json, sys, collections
sd = torch.load(sys.argv[1], weights_only=True)  # its restricted unpickler accepts our pickle, too
assert type(sd) is collections.OrderedDict, type(sd)
print(json.dumps({k: [str(v.dtype), list(v.shape), v.reshape(-1).tolist()] for k, v in sd.items()}))
`, file], { encoding: 'utf8' });
    const got = JSON.parse(out);
    assert.equal(Object.keys(got), [...tensors.keys()]);
    for (const [k, t] of tensors) {
      assert.equal(got[k][1], t.shape, k);
      assert.equal(got[k][2], [...t.data], k);
    }
    assert.is(got['conv.weight'][0], 'torch.float32');
    assert.is(got.half[0], 'torch.float16');
    assert.is(got.steps[0], 'torch.int64');
    // And our own reader agrees.
    const back = parsePytorchZip(writePytorchZip(tensors));
    for (const [k, t] of tensors) assert.equal([...back.tensors.get(k)!.data], [...t.data], k);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
