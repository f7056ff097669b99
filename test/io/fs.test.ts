import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpointFile, saveAtomic } from '../../engine/io/fs.ts';
import { sniffFormat } from '../../engine/io/index.ts';
import { FIXTURES, assertTensor, expected, fixture, throwsKind } from './helpers.ts';

test('sniffFormat tells every fixture format apart', () => {
  assert.is(sniffFormat(fixture('nested_zip.pt')), 'pytorch-zip');
  assert.is(sniffFormat(fixture('nested_legacy.th')), 'pytorch-legacy');
  assert.is(sniffFormat(fixture('small.safetensors')), 'safetensors');
  assert.is(sniffFormat(fixture('tfjs/model.json')), 'tfjs-json');
  assert.is(sniffFormat(fixture('umd/model.min.js')), 'tfjs-umd');
  assert.is(sniffFormat(new Uint8Array([1, 2, 3])), undefined);
});

test('loadCheckpointFile reads every format from disk, including deflated zips and shards beside model.json', async () => {
  for (const f of ['nested_zip.pt', 'nested_legacy.th', 'bare_zip.pt', 'deflated_zip.pt', 'small.safetensors']) {
    const c = await loadCheckpointFile(join(FIXTURES, f));
    for (const [k, e] of Object.entries(expected.state_dict)) assertTensor(c.tensors.get(k), e, `${f}:${k}`);
  }
  for (const f of ['tfjs/model.json', 'umd/model.min.js']) {
    const c = await loadCheckpointFile(join(FIXTURES, f));
    for (const [k, e] of Object.entries(expected.tfjs)) assertTensor(c.tensors.get(k), e, `${f}:${k}`);
  }
});

test('loadCheckpointFile: missing files and unknown formats are ThawErrors', async () => {
  await throwsKind(() => loadCheckpointFile(join(FIXTURES, 'nope.pt')), 'missing-entry', /nope\.pt/);
  await throwsKind(() => loadCheckpointFile(join(FIXTURES, '../make_io_fixtures.py')), 'bad-magic', /make_io_fixtures\.py/);
});

test('saveAtomic replaces the file whole and leaves no temp files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'thaw-io-'));
  try {
    const p = join(dir, 'w.safetensors');
    writeFileSync(p, 'old');
    await saveAtomic(p, new Uint8Array([1, 2, 3]));
    assert.equal([...readFileSync(p)], [1, 2, 3]);
    await saveAtomic(p, fixture('small.safetensors'));
    const c = await loadCheckpointFile(p);
    assert.is(c.tensors.size, Object.keys(expected.state_dict).length);
    assert.equal(readdirSync(dir), ['w.safetensors']);
    // A path under a file cannot be written: the error surfaces and nothing is left behind.
    await saveAtomic(join(p, 'x'), new Uint8Array(1)).then(() => assert.unreachable('no error'), () => {});
    assert.equal(readdirSync(dir), ['w.safetensors']);
    // A missing folder is created.
    await saveAtomic(join(dir, 'new-dir', 'x'), new Uint8Array([7]));
    assert.equal([...readFileSync(join(dir, 'new-dir', 'x'))], [7]);
    assert.equal(readdirSync(dir).sort(), ['new-dir', 'w.safetensors']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
