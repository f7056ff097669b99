import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PyDict, PyGlobal, PyTuple, unpickle } from '../../engine/io/pickle.ts';
import { PickleWriter } from '../../engine/io/pickle_writer.ts';
import { resolveTorchGlobal } from '../../engine/io/torch_pickle.ts';
import { throwsKind } from './helpers.ts';

const none = () => undefined;
const load = (b: Uint8Array | number[], resolveGlobal: (m: string, n: string) => PyGlobal | undefined = none) =>
  unpickle(b instanceof Uint8Array ? b : new Uint8Array(b), 0, { resolveGlobal }).value;

test('scalars: ints of every width, LONG1 to bigint, floats, strings, bools, None', () => {
  const w = new PickleWriter().proto(2).mark().int(7).int(300).int(-5).int(2 ** 40).int(2n ** 70n).int(-(2n ** 70n)).float(-1.25)
    .str('héllo').bool(true).bool(false).none().tuple().stop();
  const v = load(w.bytes()) as PyTuple;
  assert.equal(v.items, [7, 300, -5, 2 ** 40, 2n ** 70n, -(2n ** 70n), -1.25, 'héllo', true, false, null]);
});

test('protocol 4/5 opcodes: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL, BINUNICODE8, BINBYTES', () => {
  // \x80\x04 \x95 <8-byte len> \x8c\x01a \x94 \x8c\x01b \x94 \x86 \x94 \x68\x00 \x86 .
  const body = [0x8c, 1, 0x61, 0x94, 0x8c, 1, 0x62, 0x94, 0x86, 0x94, 0x68, 0x00, 0x86, 0x2e];
  const v = load([0x80, 4, 0x95, body.length, 0, 0, 0, 0, 0, 0, 0, ...body]) as PyTuple;
  assert.equal((v.items[0] as PyTuple).items, ['a', 'b']);
  assert.is(v.items[1], 'a'); // memo 0
  const s8 = load([0x80, 4, 0x8d, 2, 0, 0, 0, 0, 0, 0, 0, 0x68, 0x69, 0x43, 2, 1, 2, 0x86, 0x2e]) as PyTuple;
  assert.equal(s8.items, ['hi', new Uint8Array([1, 2])]);
  const g = load([0x80, 4, 0x8c, 11, ...Buffer.from('collections'), 0x8c, 11, ...Buffer.from('OrderedDict'), 0x93, 0x29, 0x52, 0x2e], resolveTorchGlobal);
  assert.instance(g, PyDict);
  assert.ok((g as PyDict).ordered);
});

test('containers: dict/list/tuple builders, SETITEM(S), APPEND(S), BINPUT/BINGET sharing', () => {
  // {'k': [1, 2, 3], 'same': <the same list>}
  const b = [0x80, 2, 0x7d, 0x28, 0x58, 1, 0, 0, 0, 0x6b, 0x5d, 0x71, 5, 0x4b, 1, 0x61, 0x28, 0x4b, 2, 0x4b, 3, 0x65,
    0x58, 4, 0, 0, 0, ...Buffer.from('same'), 0x68, 5, 0x75, 0x2e];
  const d = load(b) as PyDict;
  assert.equal(d.map.get('k'), [1, 2, 3]);
  assert.ok(d.map.get('k') === d.map.get('same'));
  const l = load([0x80, 2, 0x28, 0x4b, 1, 0x4b, 2, 0x6c, 0x2e]);
  assert.equal(l, [1, 2]);
  const dd = load([0x80, 2, 0x28, 0x4b, 1, 0x4b, 2, 0x64, 0x2e]) as PyDict;
  assert.is(dd.map.get(1), 2);
});

test('BUILD sets attributes on an OrderedDict (a state_dict _metadata) and nothing else', async () => {
  const w = new PickleWriter().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce().emptyDict().str('_metadata').emptyDict().raw(0x73).build().stop();
  const d = load(w.bytes(), resolveTorchGlobal) as PyDict;
  assert.instance(d.attrs, PyDict);
  await throwsKind(() => load(new PickleWriter().proto(2).emptyList().emptyDict().build().stop().bytes()), 'pickle-build', /BUILD of dict on list/);
});

test('stack discipline: underflow, missing MARK, leftovers, wrong operand types', async () => {
  await throwsKind(() => load([0x80, 2, 0x2e]), 'pickle-stack', /underflow/);
  await throwsKind(() => load([0x80, 2, 0x74, 0x2e]), 'pickle-stack', /MARK/);
  await throwsKind(() => load([0x80, 2, 0x4e, 0x4e, 0x2e]), 'pickle-stack', /left/);
  await throwsKind(() => load([0x80, 2, 0x4e, 0x4b, 1, 0x61, 0x2e]), 'pickle-stack', /APPEND.*None/);
  await throwsKind(() => load([0x80, 2, 0x5d, 0x4b, 1, 0x4b, 2, 0x73, 0x2e]), 'pickle-stack', /SETITEM.*list/);
  await throwsKind(() => load([0x80, 4, 0x4b, 1, 0x4b, 2, 0x93, 0x2e]), 'pickle-stack', /STACK_GLOBAL needs two strings/);
  await throwsKind(() => load([0x80, 2, 0x4e, 0x29, 0x52, 0x2e]), 'pickle-reduce', /REDUCE on None/);
});

test('truncation anywhere is "truncated"; unknown and text-protocol opcodes are refused', async () => {
  const full = new PickleWriter().proto(2).mark().str('abc').int(2 ** 40).float(1).tuple().stop().bytes();
  for (let n = 0; n < full.length; n++) {
    await throwsKind(() => load(full.subarray(0, n)), 'truncated');
  }
  await throwsKind(() => load([0x80, 2, 0x49, 0x31, 0x0a, 0x2e]), 'pickle-opcode', /0x49 \('I'\)/); // INT (text)
  await throwsKind(() => load([0x80, 2, 0x81, 0x2e]), 'pickle-opcode', /0x81/); // NEWOBJ
  await throwsKind(() => load([0x80, 6, 0x4e, 0x2e]), 'pickle-opcode', /protocol 6/);
  await throwsKind(() => load([0x80, 2, 0xff, 0x2e]), 'pickle-opcode');
});

test('memo: BINGET of an unset index is refused, LONG_BINPUT at 2^32-1 allocates nothing', async () => {
  await throwsKind(() => load([0x80, 2, 0x68, 9, 0x2e]), 'pickle-memo', /index 9 was never set/);
  const v = load([0x80, 2, 0x4b, 5, 0x72, 0xff, 0xff, 0xff, 0xff, 0x6a, 0xff, 0xff, 0xff, 0xff, 0x86, 0x2e]) as PyTuple;
  assert.equal(v.items, [5, 5]);
});

test('limits: stack, MARK nesting and memo sizes are bounded', async () => {
  const n = 2000;
  await throwsKind(() => load([0x80, 2, ...new Array(n).fill(0x28), 0x2e]), 'too-deep', /MARK/);
  const many = [0x80, 2, ...new Array(100).fill(0x4e), 0x2e];
  await throwsKind(() => unpickle(new Uint8Array(many), 0, { resolveGlobal: none, maxStack: 50 }), 'pickle-stack', /beyond 50/);
  const memo = [0x80, 2, 0x4e, ...Array.from({ length: 20 }, (_, i) => [0x71, i]).flat(), 0x2e];
  await throwsKind(() => unpickle(new Uint8Array(memo), 0, { resolveGlobal: none, maxMemo: 10 }), 'pickle-memo', /beyond 10/);
});

test('unpickle returns the end offset so pickles can be read back to back', () => {
  const a = new PickleWriter().proto(2).int(1).stop().bytes(), b = new PickleWriter().proto(2).str('x').stop().bytes();
  const both = new Uint8Array([...a, ...b]);
  const first = unpickle(both, 0, { resolveGlobal: none });
  assert.is(first.end, a.length);
  assert.is(unpickle(both, first.end, { resolveGlobal: none }).value, 'x');
});

test.run();
