/**
 * What a refused checkpoint file is called: empty, truncated (with its size), another format than
 * its extension claims (judged by content), or a whole pickled model (with the state_dict advice),
 * rather than "not a checkpoint thaw reads" or a bare byte offset.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCheckpoint, sniffFormat } from '../../engine/io/index.ts';
import { PickleWriter } from '../../engine/io/pickle_writer.ts';
import { expected, fixture, throwsKind } from './helpers.ts';

const cut = (name: string, n: number) => fixture(name).subarray(0, n);
const parse = (bytes: Uint8Array, name: string) => parseCheckpoint(bytes, { name, readFile: async () => new Uint8Array(0) });

test('an empty file says empty, whatever its extension', async () => {
  for (const name of ['w.safetensors', 'w.pt', 'w.th', 'model.json', 'weights']) {
    await throwsKind(() => parse(new Uint8Array(0), name), 'truncated', new RegExp(`^'${name.replace('.', '\\.')}' is empty \\(0 bytes\\)`));
  }
});

test('a file cut inside its magic or header says truncated, with its size', async () => {
  const cases: [string, string, number, RegExp][] = [
    ['small.safetensors', 'w.safetensors', 5, /'w\.safetensors' is truncated \(5 bytes\): it starts like a safetensors file/],
    ['small.safetensors', 'w.safetensors', 8, /'w\.safetensors' is truncated \(8 bytes\)/],
    ['small.safetensors', 'w.safetensors', 40, /'w\.safetensors' is truncated \(40 bytes\): safetensors: header length \d+ runs past the end of the 40-byte file/],
    ['small.safetensors', 'renamed.bin', 40, /'renamed\.bin' is truncated \(40 bytes\): safetensors: header length/],
    ['bare_zip.pt', 'w.pt', 2, /'w\.pt' is truncated \(2 bytes\): it starts like a torch checkpoint/],
    ['bare_zip.pt', 'w.pt', 3, /'w\.pt' is truncated \(3 bytes\)/],
    ['bare_zip.pt', 'w.pt', 100, /'w\.pt' is truncated \(100 bytes\): zip: no end-of-central-directory record/],
    ['nested_legacy.th', 'w.th', 1, /'w\.th' is truncated \(1 byte\): it starts like a torch checkpoint/],
    ['nested_legacy.th', 'w.th', 7, /'w\.th' is truncated \(7 bytes\): legacy magic: needs 10 bytes at 4/],
    ['nested_legacy.th', 'w.th', 100, /'w\.th' is truncated \(100 bytes\): legacy sys_info: /],
    ['nested_legacy.th', 'w.th', 2000, /'w\.th' is truncated \(2000 bytes\): legacy storage keys: needs \d+ bytes at \d+/],
    ['nested_legacy.th', 'w.th', fixture('nested_legacy.th').length - 1, /'w\.th' is truncated \(\d+ bytes\): legacy torch file: storage '[^']+' needs \d+ bytes/],
  ];
  for (const [fx, name, n, re] of cases) await throwsKind(() => parse(cut(fx, n), name), 'truncated', re);
  assert.is(sniffFormat(cut('small.safetensors', 40)), 'safetensors', 'a safetensors header that runs past the end still sniffs as safetensors');
  assert.is(sniffFormat(new TextEncoder().encode('{"weightsManifest": [], "modelTopology": {}}')), 'tfjs-json', 'JSON never sniffs as safetensors');
});

test('content decides the format; a mismatch with the extension is named when parsing fails', async () => {
  const json = new TextEncoder().encode('{"a": 1, "b": [1, 2, 3]}\n');
  await throwsKind(() => parse(json, 'weights.safetensors'), 'bad-header',
    /^'weights\.safetensors' is JSON text, not a safetensors file as its name says \(judged by its content\)\. Read as a TF\.js model\.json, it fails too: /);
  await throwsKind(() => parse(json, 'model.pt'), 'bad-header', /^'model\.pt' is JSON text, not a torch checkpoint as its name says/);
  await throwsKind(() => parse(cut('bare_zip.pt', 100), 'w.safetensors'), 'truncated', /^'w\.safetensors' is a zip archive \(torch\.save's format\), not a safetensors file/);
  // A real file under another extension still loads: the name only explains failures.
  const ck = await parse(fixture('small.safetensors'), 'weights.pt');
  assert.is(ck.format, 'safetensors');
  // Unknown content names its size and first bytes.
  await throwsKind(() => parse(new TextEncoder().encode('#!/bin/sh\necho hi\n'), 'run.sh'), 'bad-magic', /^'run\.sh' \(18 bytes, starting 23 21 2f 62 69 6e 2f 73\) is not a checkpoint thaw reads/);
});

test('a torch.save(model) file is refused with the state_dict advice (zip and legacy, made by torch 1.13)', async () => {
  const files = (expected as unknown as { whole_module: string[] }).whole_module;
  assert.equal(files, ['whole_module_zip.pt', 'whole_module_legacy.th']);
  for (const f of files) {
    await throwsKind(() => parse(fixture(f), f), 'pickle-global',
      /refused global 'torch\.nn\.modules\.container\.Sequential'.*a whole model saved with torch\.save\(model\).*torch\.save\(model\.state_dict\(\), path\)/);
  }
  // A custom model class and an argparse.Namespace beside the weights get the same advice; code-running globals do not.
  const withGlobal = (m: string, n: string) => new PickleWriter().proto(2).emptyDict().str('x').global(m, n).raw(0x73).stop().bytes();
  const legacyless = (m: string, n: string): Promise<Error> => parse(withGlobal(m, n), 'w.pkl').then(() => new Error('parsed'), (e) => e as Error);
  assert.match((await legacyless('__main__', 'Net')).message, /torch\.save\(model\.state_dict\(\), path\)/);
  assert.match((await legacyless('argparse', 'Namespace')).message, /torch\.save\(model\.state_dict\(\), path\)/);
  assert.match((await legacyless('numpy.core.multiarray', 'scalar')).message, /holds NumPy values/);
  const evil = (await legacyless('os', 'system')).message;
  assert.match(evil, /would run code on load/);
  assert.not.match(evil, /state_dict/);
});

test.run();
