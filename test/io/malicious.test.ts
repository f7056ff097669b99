/**
 * A corpus of hostile pickles, each refused with an error that names the global or the problem,
 * raw and embedded in a torch zip archive and a legacy file, with a canary that the payloads
 * would create (`touch`) checked never to appear. Python-made payloads come from the fixture
 * script (`--verify-payloads` proves they are live under Python's own pickle).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCheckpoint } from '../../engine/io/index.ts';
import { parsePytorchLegacy } from '../../engine/io/pytorch_legacy.ts';
import { parsePytorchZip } from '../../engine/io/pytorch_zip.ts';
import { unpickle } from '../../engine/io/pickle.ts';
import { PickleWriter } from '../../engine/io/pickle_writer.ts';
import { resolveTorchGlobal, torchPersistentLoad } from '../../engine/io/torch_pickle.ts';
import { asLegacy, asZip, expected, fixture, throwsKind } from './helpers.ts';

const CANARY = join(tmpdir(), `thaw-canary-${process.pid}`);
const canaries = [CANARY, expected.canary];
const touch = `touch ${CANARY}`;
const enc = (s: string) => [...new TextEncoder().encode(s)];
const sbu = (s: string) => [0x8c, enc(s).length, ...enc(s)]; // SHORT_BINUNICODE
const P = () => new PickleWriter().proto(2);

/** `module.name(arg)` via GLOBAL + REDUCE, inside a dict like a checkpoint would be. */
const callGlobal = (m: string, n: string, arg = touch) =>
  P().emptyDict().str('state_dict').global(m, n).str(arg).raw(0x85).reduce().raw(0x73).stop().bytes();
/** The same through STACK_GLOBAL (protocol 4). */
const stackGlobal = (m: string, n: string) => new Uint8Array([0x80, 4, ...sbu(m), ...sbu(n), 0x93, ...sbu(touch), 0x85, 0x52, 0x2e]);

interface Case { name: string; pkl: Uint8Array; kind: string; re: RegExp; flat?: boolean }
const cases: Case[] = [
  { name: 'GLOBAL os.system', pkl: callGlobal('os', 'system'), kind: 'pickle-global', re: /'os\.system'/ },
  { name: 'GLOBAL posix.system', pkl: callGlobal('posix', 'system'), kind: 'pickle-global', re: /'posix\.system'/ },
  { name: 'GLOBAL builtins.eval', pkl: callGlobal('builtins', 'eval', `__import__('os').system('${touch}')`), kind: 'pickle-global', re: /'builtins\.eval'/ },
  { name: 'GLOBAL __builtin__.exec (Python 2)', pkl: callGlobal('__builtin__', 'exec'), kind: 'pickle-global', re: /'__builtin__\.exec'/ },
  { name: 'GLOBAL subprocess.Popen', pkl: callGlobal('subprocess', 'Popen'), kind: 'pickle-global', re: /'subprocess\.Popen'/ },
  { name: 'GLOBAL torch.load (allowed module, other name)', pkl: callGlobal('torch', 'load'), kind: 'pickle-global', re: /'torch\.load'/ },
  { name: 'GLOBAL dotted attribute walk', pkl: callGlobal('torch._utils', '_rebuild_tensor_v2.__globals__'), kind: 'pickle-global', re: /__globals__/ },
  { name: 'GLOBAL builtins.getattr', pkl: callGlobal('builtins', 'getattr'), kind: 'pickle-global', re: /'builtins\.getattr'/ },
  { name: 'STACK_GLOBAL os.system', pkl: stackGlobal('os', 'system'), kind: 'pickle-global', re: /'os\.system'/ },
  { name: 'STACK_GLOBAL builtins.eval', pkl: stackGlobal('builtins', 'eval'), kind: 'pickle-global', re: /'builtins\.eval'/ },
  { name: 'STACK_GLOBAL names from the memo', pkl: new Uint8Array([0x80, 4, ...sbu('subprocess'), 0x94, ...sbu('Popen'), 0x94, 0x30, 0x30, 0x68, 0, 0x68, 1, 0x93, 0x2e]), kind: 'pickle-global', re: /'subprocess\.Popen'/ },
  { name: 'STACK_GLOBAL with a BINUNICODE module', pkl: new Uint8Array([0x80, 4, 0x58, 2, 0, 0, 0, ...enc('os'), ...sbu('popen'), 0x93, 0x2e]), kind: 'pickle-global', re: /'os\.popen'/ },
  { name: 'GLOBAL refused before its REDUCE even when the pickle is truncated after it', pkl: P().global('os', 'system').bytes(), kind: 'pickle-global', re: /os\.system/ },
  { name: 'REDUCE on a storage type marker', pkl: P().global('torch', 'FloatStorage').str(touch).raw(0x85).reduce().stop().bytes(), kind: 'pickle-reduce', re: /'torch\.FloatStorage'/ },
  { name: 'REDUCE on a string', pkl: P().str('os.system').str(touch).raw(0x85).reduce().stop().bytes(), kind: 'pickle-reduce', re: /str "os\.system"/ },
  { name: 'REDUCE on a tuple', pkl: P().emptyTuple().emptyTuple().reduce().stop().bytes(), kind: 'pickle-reduce', re: /tuple/ },
  { name: 'BUILD __setstate__ on a class', pkl: P().global('collections', 'OrderedDict').emptyDict().str('__setstate__').str(touch).raw(0x73).build().stop().bytes(), kind: 'pickle-build', re: /global collections\.OrderedDict/ },
  { name: 'BUILD (state, slotstate) on a dict', pkl: P().emptyDict().none().emptyDict().raw(0x86).build().stop().bytes(), kind: 'pickle-build', re: /BUILD of tuple/ },
  { name: 'BUILD on a list', pkl: P().emptyList().emptyDict().build().stop().bytes(), kind: 'pickle-build', re: /on list/ },
  { name: 'INST (text class call)', pkl: new Uint8Array([0x80, 2, 0x28, 0x69, ...enc('os\nsystem\n'), 0x2e]), kind: 'pickle-opcode', re: /0x69 \('i'\)/ },
  { name: 'OBJ', pkl: P().mark().global('collections', 'OrderedDict').raw(0x6f).stop().bytes(), kind: 'pickle-opcode', re: /0x6f/ },
  { name: 'NEWOBJ', pkl: P().global('collections', 'OrderedDict').emptyTuple().raw(0x81).stop().bytes(), kind: 'pickle-opcode', re: /0x81/ },
  { name: 'NEWOBJ_EX', pkl: new Uint8Array([0x80, 4, 0x92, 0x2e]), kind: 'pickle-opcode', re: /0x92/ },
  { name: 'EXT1 (copyreg extension registry)', pkl: new Uint8Array([0x80, 2, 0x82, 1, 0x2e]), kind: 'pickle-opcode', re: /0x82/ },
  { name: 'text PERSID', pkl: new Uint8Array([0x80, 2, 0x50, ...enc('x\n'), 0x2e]), kind: 'pickle-opcode', re: /0x50/ },
  { name: 'BINPERSID with a non-storage id', pkl: P().str('evil').binpersid().stop().bytes(), kind: 'bad-header', re: /not a storage reference/ },
  { name: 'BINGET of an unset memo index', pkl: new Uint8Array([0x80, 2, 0x68, 3, 0x2e]), kind: 'pickle-memo', re: /index 3/ },
  { name: 'LONG_BINGET 2^32-1', pkl: new Uint8Array([0x80, 2, 0x6a, 0xff, 0xff, 0xff, 0xff, 0x2e]), kind: 'pickle-memo', re: /4294967295/ },
  { name: 'MARK nested 100k deep', pkl: new Uint8Array([0x80, 2, ...new Array(100_000).fill(0x28), 0x2e]), kind: 'too-deep', re: /MARK/ },
  { name: 'lists nested 100k deep', pkl: nestedLists(100_000), kind: 'too-deep', re: /deeper than 64/, flat: true },
  { name: 'a list that contains itself', pkl: new Uint8Array([0x80, 2, 0x5d, 0x71, 0, 0x68, 0, 0x61, 0x2e]), kind: 'too-deep', re: /cyclic/, flat: true },
  { name: 'memo doubling ("billion laughs")', pkl: laughs(60), kind: 'too-large', re: /expands/, flat: true },
  { name: 'FRAME longer than the input', pkl: new Uint8Array([0x80, 4, 0x95, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x2e]), kind: 'truncated', re: /bytes/ },
  { name: 'BINUNICODE8 of 2^60 bytes', pkl: new Uint8Array([0x80, 4, 0x8d, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x2e]), kind: 'truncated', re: /bytes/ },
];

/** EMPTY_LIST x n then APPEND x (n-1): one list n deep, built without recursion or MARKs. */
function nestedLists(n: number): Uint8Array {
  const b = new Uint8Array(2 + n + (n - 1) + 1);
  b.set([0x80, 2]);
  b.fill(0x5d, 2, 2 + n);
  b.fill(0x61, 2 + n, 2 + n + n - 1);
  b[b.length - 1] = 0x2e;
  return b;
}

/** Level i is [level i-1, level i-1] through the memo: 2^levels leaves from a few hundred bytes. */
function laughs(levels: number): Uint8Array {
  const w = P().emptyList().raw(0x71, 0, 0x30);
  for (let i = 1; i <= levels; i++) w.emptyList().mark().raw(0x68, i - 1, 0x68, i - 1).appends().raw(0x71, i, 0x30);
  return w.raw(0x68, levels).stop().bytes();
}

function clearCanaries(): void { for (const c of canaries) rmSync(c, { force: true }); }
function assertNoCanary(what: string): void { for (const c of canaries) assert.not.ok(existsSync(c), `${what}: canary ${c} exists`); }

for (const c of cases) {
  test(`refused: ${c.name} (raw, in a zip .pt, in a legacy file)`, async () => {
    clearCanaries();
    // The unpickler alone refuses all but the shapes that only flattening can see (depth, cycles, expansion).
    const raw = () => unpickle(c.pkl, 0, { resolveGlobal: resolveTorchGlobal, persistentLoad: torchPersistentLoad(new Map()) });
    if (c.flat) raw(); else await throwsKind(raw, c.kind, c.re);
    await throwsKind(() => parsePytorchZip(asZip(c.pkl)), c.kind, c.re);
    await throwsKind(() => parsePytorchLegacy(asLegacy(c.pkl)), c.kind, c.re);
    await throwsKind(() => parseCheckpoint(asZip(c.pkl)), c.kind, c.re);
    assertNoCanary(c.name);
  });
}

test('Python-made payloads (pickle.dumps of __reduce__ objects) are refused by name', async () => {
  clearCanaries();
  const want: Record<string, RegExp> = {
    'mal_posix_system_p2.pkl': /'posix\.system'/, 'mal_eval_p4.pkl': /'builtins\.eval'/,
    'mal_popen_p5.pkl': /'subprocess\.Popen'/, 'mal_nested_in_dict_p2.pkl': /'posix\.system'/,
  };
  for (const [file, re] of Object.entries(want)) {
    assert.ok(expected.malicious.includes(file), file);
    const pkl = fixture(file);
    await throwsKind(() => parsePytorchZip(asZip(pkl)), 'pickle-global', re);
    await throwsKind(() => parsePytorchLegacy(asLegacy(pkl)), 'pickle-global', re);
  }
  assertNoCanary('python payloads');
});

test('torch.save archives carrying a payload next to a real tensor are refused (zip and legacy)', async () => {
  clearCanaries();
  await throwsKind(() => parseCheckpoint(fixture('mal_zip.pt')), 'pickle-global', /'posix\.system'/);
  await throwsKind(() => parseCheckpoint(fixture('mal_legacy.th')), 'pickle-global', /'posix\.system'/);
  assertNoCanary('torch.save payloads');
});

test('an unsafe global is reported as an UnsafePickleError before any later opcode runs', async () => {
  // GLOBAL os.system followed by garbage: the refusal comes first, naming the global.
  const b = new Uint8Array([...P().global('os', 'system').bytes(), 0xff, 0xff]);
  const e = await throwsKind(() => parsePytorchZip(asZip(b)), 'pickle-global', /os\.system/);
  assert.is(e.name, 'UnsafePickleError');
});

test.run();
