/**
 * An allow-list unpickler for the subset of pickle protocols 2-5 that torch.save emits. It never
 * imports or calls anything: GLOBAL / STACK_GLOBAL are resolved through the caller's allow-list
 * (anything else is refused at that opcode, naming the global), REDUCE only calls the `call` of an
 * allowed PyGlobal (our own rebuild functions), and BUILD only sets attributes on dicts. Work is
 * linear in the input (each opcode consumes a byte) and the stack, mark and memo sizes are bounded.
 */
import { UnsafePickleError, fail } from './errors.ts';
import { brief } from './dtype.ts';

/** A Python tuple (kept apart from lists so rebuild arguments can be checked). */
export class PyTuple { constructor(readonly items: unknown[]) {} }

/** A Python dict or OrderedDict; `attrs` receives BUILD state (e.g. a state_dict's `_metadata`). */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
  attrs?: unknown;
  constructor(readonly ordered = false) {}
}

/** An allowed global. `call` is one of our own functions; globals without it cannot be REDUCEd. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string, readonly call?: (args: unknown[]) => unknown, readonly tag?: unknown) {}
  get qualname(): string { return `${this.module}.${this.name}`; }
}

/** What the unpickler needs from its caller. */
export interface UnpickleOptions {
  /** Returns the PyGlobal for an allowed `module.name`, or undefined to refuse it. */
  resolveGlobal: (module: string, name: string) => PyGlobal | undefined;
  /** Handles BINPERSID (torch's storage references); without it persistent ids are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Limits; the defaults are far above what any real state_dict needs. */
  maxStack?: number; maxMarks?: number; maxMemo?: number;
  /** A name for error messages (e.g. `archive/data.pkl`). */
  where?: string;
}

const MARK = Symbol('mark');

/** Modules whose globals in a checkpoint can only mean code meant to run on load. */
const CODE_MODULES = /^(os|posix|nt|subprocess|builtins|__builtin__|sys|shutil|socket|pty|runpy|importlib|ctypes|code|codeop|pickle|_pickle|marshal|webbrowser|commands|popen2|platform|multiprocessing|threading|asyncio|io|functools|operator|types|inspect|pdb|timeit|telnetlib|ftplib|http|urllib|requests|torch\.(_utils|_C|_ops|jit|hub|serialization|ops|utils))(\.|$)/;

/**
 * Why a refused global is there and what to do: a class (a model or an object such as
 * argparse.Namespace pickled whole, e.g. by `torch.save(model)`) needs re-saving as a state_dict;
 * a function from a code-running module is what a malicious pickle uses.
 */
function refusalHint(module: string, name: string): string {
  if (CODE_MODULES.test(module) || (module === 'torch' && /^(load|save|hub|jit|ops|compile|_C)$/.test(name))) return ' (a pickle that imports it would run code on load; the file is not a plain checkpoint and may be malicious)';
  if (module === 'numpy' || module.startsWith('numpy.')) {
    return ': the checkpoint holds NumPy values (an array, or a number such as a best accuracy saved as numpy.float64), and thaw reads torch tensors only. ' +
      'Convert them before saving (torch.from_numpy(a), float(x)), or save the state_dict alone';
  }
  const pickledObject = module.startsWith('torch.nn.') || module === '__main__' || /^[A-Z]/.test(name);
  return pickledObject
    ? `: the file holds a pickled Python object (a whole model saved with torch.save(model)?), and thaw reads tensors, never Python classes. ` +
      'Re-save the weights alone with torch.save(model.state_dict(), path)'
    : '';
}

const utf8 = new TextDecoder('utf-8');

/**
 * Unpickles one pickle starting at `start`; returns the value and the offset after its STOP, so a
 * caller can read several pickles in a row (the legacy torch format).
 */
export function unpickle(bytes: Uint8Array, start: number, opts: UnpickleOptions): { value: unknown; end: number } {
  const where = opts.where ?? 'pickle';
  const maxStack = opts.maxStack ?? 1 << 20, maxMarks = opts.maxMarks ?? 1024, maxMemo = opts.maxMemo ?? 1 << 20;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let pos = start;

  const err = (kind: 'pickle-stack' | 'pickle-memo' | 'pickle-opcode', msg: string): never => fail(kind, `${where}: ${msg} at byte ${pos}`);
  const need = (n: number) => { if (pos + n > bytes.length) fail('truncated', `${where}: needs ${n} bytes at ${pos}, ${bytes.length - pos} left`); };
  const u8 = () => { need(1); return bytes[pos++]; };
  const u16 = () => { need(2); const v = dv.getUint16(pos, true); pos += 2; return v; };
  const i32 = () => { need(4); const v = dv.getInt32(pos, true); pos += 4; return v; };
  const u32 = () => { need(4); const v = dv.getUint32(pos, true); pos += 4; return v; };
  const u64 = () => { need(8); const v = dv.getUint32(pos, true) + dv.getUint32(pos + 4, true) * 2 ** 32; pos += 8; return v; };
  const take = (n: number) => { need(n); const b = bytes.subarray(pos, pos + n); pos += n; return b; };
  const line = () => {
    const nl = bytes.indexOf(10, pos);
    if (nl < 0 || nl - pos > 4096) fail('truncated', `${where}: unterminated text argument at ${pos}`);
    const s = String.fromCharCode(...bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const push = (v: unknown) => { if (stack.length >= maxStack) err('pickle-stack', `stack beyond ${maxStack} items`); stack.push(v); };
  const pop = (): unknown => { if (!stack.length) err('pickle-stack', 'stack underflow'); return stack.pop(); };
  const top = (): unknown => { if (!stack.length) err('pickle-stack', 'empty stack'); return stack[stack.length - 1]; };
  const popMark = (): unknown[] => {
    const items = stack;
    if (!marks.length) err('pickle-stack', 'no MARK to pop to');
    stack = marks.pop()!;
    return items;
  };
  const put = (i: number) => {
    if (!memo.has(i) && memo.size >= maxMemo) err('pickle-memo', `memo beyond ${maxMemo} entries`);
    memo.set(i, top());
  };
  const get = (i: number) => { if (!memo.has(i)) err('pickle-memo', `memo index ${i} was never set`); push(memo.get(i)); };
  const global = (module: string, name: string) => {
    const g = opts.resolveGlobal(module, name);
    if (!g) throw new UnsafePickleError('pickle-global', `${where}: refused global '${module}.${name}': only torch tensor/storage rebuilders and collections.OrderedDict are allowed${refusalHint(module, name)}`);
    push(g);
  };
  const setItems = (d: unknown, kv: unknown[]) => {
    if (!(d instanceof PyDict)) err('pickle-stack', `SETITEM(S) on ${typeName(d)}, not a dict`);
    if (kv.length % 2) err('pickle-stack', 'SETITEMS with an odd number of items');
    for (let i = 0; i < kv.length; i += 2) (d as PyDict).map.set(kv[i], kv[i + 1]);
  };
  const appendItems = (l: unknown, items: unknown[]) => {
    if (!Array.isArray(l)) err('pickle-stack', `APPEND(S) on ${typeName(l)}, not a list`);
    for (const it of items) { if ((l as unknown[]).length >= maxStack) err('pickle-stack', 'list beyond the item limit'); (l as unknown[]).push(it); }
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: { const p = u8(); if (p > 5) err('pickle-opcode', `protocol ${p} is newer than 5`); break; } // PROTO
      case 0x95: { const n = u64(); need(n); break; } // FRAME: only a read-ahead hint
      case 0x2e: { // STOP
        const v = pop();
        if (stack.length || marks.length) err('pickle-stack', 'STOP with items left on the stack');
        return { value: v, end: pos };
      }
      case 0x28: if (marks.length >= maxMarks) fail('too-deep', `${where}: more than ${maxMarks} nested MARKs at ${pos}`); marks.push(stack); stack = []; break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x4a: push(i32()); break; // BININT
      case 0x8a: push(longLE(take(u8()))); break; // LONG1
      case 0x8b: { const n = i32(); if (n < 0 || n > 4096) err('pickle-opcode', `LONG4 of ${n} bytes`); push(longLE(take(n))); break; }
      case 0x47: { need(8); push(dv.getFloat64(pos, false)); pos += 8; break; } // BINFLOAT is big-endian
      case 0x58: push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8d: push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x8c: push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x55: push(utf8.decode(take(u8()))); break; // SHORT_BINSTRING (Python 2 str, as torch reads it: utf-8)
      case 0x54: { const n = i32(); if (n < 0) err('pickle-opcode', 'negative BINSTRING length'); push(utf8.decode(take(n))); break; }
      case 0x43: push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x42: push(take(u32()).slice()); break; // BINBYTES
      case 0x8e: push(take(u64()).slice()); break; // BINBYTES8
      case 0x7d: push(new PyDict()); break; // EMPTY_DICT
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x64: { const d = new PyDict(); const kv = popMark(); push(d); setItems(d, kv); break; } // DICT
      case 0x6c: push(popMark()); break; // LIST
      case 0x74: push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(), a = pop(); push(new PyTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); push(new PyTuple([a, b, c])); break; } // TUPLE3
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x73: { const v = pop(), k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x71: put(u8()); break; // BINPUT
      case 0x72: put(u32()); break; // LONG_BINPUT
      case 0x94: put(memo.size); break; // MEMOIZE
      case 0x68: get(u8()); break; // BINGET
      case 0x6a: get(u32()); break; // LONG_BINGET
      case 0x63: { const m = line(), n = line(); global(m, n); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const n = pop(), m = pop();
        if (typeof m !== 'string' || typeof n !== 'string') err('pickle-stack', `STACK_GLOBAL needs two strings, got ${typeName(m)}, ${typeName(n)}`);
        global(m as string, n as string);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) err('pickle-opcode', 'persistent id in a pickle that allows none');
        push(opts.persistentLoad!(pid));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), fn = pop();
        if (!(fn instanceof PyGlobal) || !fn.call) {
          throw new UnsafePickleError('pickle-reduce', `${where}: REDUCE on ${fn instanceof PyGlobal ? `'${fn.qualname}'` : typeName(fn)}, which is not a rebuild function thaw implements, at byte ${pos}`);
        }
        if (!(args instanceof PyTuple)) err('pickle-stack', `REDUCE arguments must be a tuple, got ${typeName(args)}`);
        push(fn.call((args as PyTuple).items));
        break;
      }
      case 0x62: { // BUILD: only attribute dicts on dicts (an OrderedDict's `_metadata`); never __setstate__
        const state = pop(), obj = top();
        if (!(obj instanceof PyDict) || !(state instanceof PyDict)) {
          throw new UnsafePickleError('pickle-build', `${where}: BUILD of ${typeName(state)} on ${typeName(obj)} refused (only dict attributes on dicts), at byte ${pos}`);
        }
        (obj as PyDict).attrs = state;
        break;
      }
      default:
        err('pickle-opcode', `opcode 0x${op.toString(16).padStart(2, '0')}${op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : ''} is not supported`);
    }
  }
}

/** Decodes a little-endian two's-complement integer; a number when it is safe, else a bigint. */
function longLE(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(b.length * 8);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** A Python-ish name of a value's type for error messages. */
export function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return v.ordered ? 'OrderedDict' : 'dict';
  if (v instanceof PyGlobal) return `global ${v.qualname}`;
  if (Array.isArray(v)) return 'list';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v === 'string' ? `str ${brief(v)}` : typeof v;
}

