import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileError } from '../../engine/core/errors.ts';
import { checkWritableDir, ensureDir, loadCheckpointFile, saveAtomic } from '../../engine/io/fs.ts';
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

test('ensureDir and checkWritableDir create folders one level at a time and name what is wrong', () => {
  const dir = mkdtempSync(join(tmpdir(), 'thaw-io-'));
  try {
    const deep = join(dir, 'a', 'b', 'c');
    assert.equal(ensureDir(deep), [join(dir, 'a'), join(dir, 'a', 'b'), deep]);
    assert.equal(ensureDir(deep), [], 'an existing folder is fine');
    assert.equal(checkWritableDir(join(dir, 'out')), [join(dir, 'out')]);
    assert.equal(readdirSync(join(dir, 'out')), [], 'the probe file is removed');
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    const isFileError = (code: string, re: RegExp) => (e: unknown) => {
      assert.instance(e, FileError, String((e as Error)?.stack));
      assert.is((e as FileError).code, code);
      assert.match((e as Error).message, re);
      assert.not.match((e as Error).message, /\n/);
      return true;
    };
    assert.throws(() => checkWritableDir(file), isFileError('EEXIST', /cannot create the folder '.*file': a file is already there \(EEXIST\)/));
    assert.throws(() => checkWritableDir(join(file, 'sub')), isFileError('ENOTDIR', /'.*file\/sub': a part of the path is a file, not a folder \(ENOTDIR\)/));
    if (process.platform === 'linux') {
      // Node's recursive mkdir spins forever here: mkdir fails with ENOENT below an existing /proc.
      assert.throws(() => checkWritableDir('/proc/thaw-out/x'), isFileError('ENOENT', /cannot create the folder '\/proc\/thaw-out': its parent does not accept new folders/));
      if (process.getuid?.() === 0 || existsSync('/sys/kernel')) {
        assert.throws(() => checkWritableDir('/sys/thaw-out'), (e: unknown) => e instanceof FileError && /cannot create the folder '\/sys\/thaw-out': .*\((EPERM|EACCES|EROFS)\)/.test((e as Error).message));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('saveAtomic: an unwritable folder is a FileError naming it (under /proc it used to spin forever)', async () => {
  if (process.platform !== 'linux') return;
  await saveAtomic('/proc/thaw-out/w.safetensors', new Uint8Array(1)).then(() => assert.unreachable('no error'), (e) => {
    assert.instance(e, FileError, String(e?.stack));
    assert.match(e.message, /cannot create the folder '\/proc\/thaw-out'/);
  });
  await saveAtomic('/sys/thaw-out/w.safetensors', new Uint8Array(1)).then(() => assert.unreachable('no error'), (e) => {
    assert.instance(e, FileError, String(e?.stack));
    assert.match(e.message, /cannot create the folder '\/sys\/thaw-out'/);
  });
});

test('loadCheckpointFile: a folder or a missing file is one line naming it and the reason', async () => {
  await throwsKind(() => loadCheckpointFile(FIXTURES), 'missing-entry', /cannot read '.*fixtures\/io': it is a folder, not a file \(EISDIR\); give a checkpoint file$/);
  await throwsKind(() => loadCheckpointFile(join(FIXTURES, 'nope.pt')), 'missing-entry', /cannot open '.*nope\.pt': no such file or folder \(ENOENT\)/);
});

test.run();
