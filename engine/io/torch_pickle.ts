/**
 * What a torch checkpoint pickle may contain, and how its object tree becomes a Checkpoint. The
 * allow-list below is the whole of what torch.save (1.x and 2.x) emits for state dicts; each allowed
 * callable maps to a function of ours that only builds plain descriptions (TensorRef), so the data
 * is read later by the format's own reader (zip entries, or the legacy file's storage records).
 */
import { ensure, fail } from './errors.ts';
import { ITEMSIZE, brief, checkShape, gather, setOwn } from './dtype.ts';
import { PyDict, PyGlobal, PyTuple, typeName } from './pickle.ts';
import type { Checkpoint, CheckpointFormat, DType, HostTensor } from './types.ts';

/** A storage as a persistent id names it. `offset`/`numel` select a legacy view of a root storage. */
export class StorageRef {
  constructor(readonly key: string, readonly dtype: DType, readonly offset: number, readonly numel: number) {}
}

/** A tensor as `_rebuild_tensor(_v2)` describes it: a strided window on a storage (offset/size/stride in elements). */
export class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly size: number[], readonly stride: number[]) {}
}

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'f32', HalfStorage: 'f16', BFloat16Storage: 'bf16', DoubleStorage: 'f64', LongStorage: 'i64',
  IntStorage: 'i32', ShortStorage: 'i16', CharStorage: 'i8', ByteStorage: 'u8', BoolStorage: 'bool',
};
// Named so the refusal says "unsupported dtype" rather than "unsafe global": they are harmless markers.
const UNSUPPORTED_STORAGES = new Set(['ComplexFloatStorage', 'ComplexDoubleStorage', 'QInt8Storage', 'QUInt8Storage', 'QInt32Storage', 'QUInt4x2Storage', 'QUInt2x4Storage']);

/** The tensor dims of a rebuild call: a tuple of non-negative integers. */
function dims(v: unknown, what: string): number[] {
  ensure(v instanceof PyTuple && v.items.every((x) => Number.isSafeInteger(x) && (x as number) >= 0), 'bad-shape', `${what} must be a tuple of non-negative ints, got ${typeName(v)}`);
  return (v as PyTuple).items as number[];
}

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  ensure(args.length >= 4 && args.length <= 7, 'pickle-reduce', `_rebuild_tensor takes 4 to 7 arguments, got ${args.length}`);
  ensure(storage instanceof StorageRef, 'pickle-reduce', `_rebuild_tensor: first argument is ${typeName(storage)}, not a storage`);
  ensure(Number.isSafeInteger(offset) && (offset as number) >= 0, 'bad-shape', `_rebuild_tensor: storage offset ${brief(offset)}`);
  const sz = dims(size, '_rebuild_tensor size'), st = dims(stride, '_rebuild_tensor stride');
  ensure(sz.length === st.length, 'bad-shape', `_rebuild_tensor: size ${brief(sz)} and stride ${brief(st)} differ in rank`);
  return new TensorRef(storage as StorageRef, offset as number, sz, st);
}

function rebuildParameter(args: unknown[]): TensorRef {
  ensure(args.length >= 1 && args[0] instanceof TensorRef, 'pickle-reduce', `_rebuild_parameter: data is ${typeName(args[0])}, not a tensor`);
  return args[0] as TensorRef;
}

function orderedDict(args: unknown[]): PyDict {
  const d = new PyDict(true);
  ensure(args.length <= 1, 'pickle-reduce', `OrderedDict takes at most one argument, got ${args.length}`);
  if (args.length === 1) {
    ensure(Array.isArray(args[0]), 'pickle-reduce', `OrderedDict: argument is ${typeName(args[0])}, not a list of pairs`);
    for (const kv of args[0] as unknown[]) {
      ensure(kv instanceof PyTuple && kv.items.length === 2, 'pickle-reduce', 'OrderedDict: items must be (key, value) pairs');
      d.map.set(kv.items[0], kv.items[1]);
    }
  }
  return d;
}

const CALLABLES: Record<string, (args: unknown[]) => unknown> = {
  'torch._utils._rebuild_tensor': rebuildTensor,
  'torch._utils._rebuild_tensor_v2': rebuildTensor,
  'torch._utils._rebuild_parameter': rebuildParameter,
  'torch._utils._rebuild_parameter_with_state': rebuildParameter,
  'collections.OrderedDict': orderedDict,
  'torch.Size': (args) => { dims(args[0], 'torch.Size'); return args[0]; },
};

/** The allow-list: our rebuilders, OrderedDict, torch.Size and the storage type markers. Everything else is refused. */
export function resolveTorchGlobal(module: string, name: string): PyGlobal | undefined {
  const q = `${module}.${name}`;
  if (Object.hasOwn(CALLABLES, q)) return new PyGlobal(module, name, CALLABLES[q]);
  if (module === 'torch' && (Object.hasOwn(STORAGE_DTYPES, name) || UNSUPPORTED_STORAGES.has(name))) return new PyGlobal(module, name, undefined, name);
  return undefined;
}

/** A storage as first declared: its dtype and element count, so later references can be checked. */
export interface StorageDecl { dtype: DType; numel: number }

/**
 * The BINPERSID handler: `('storage', torch.XStorage, key, location, numel[, view])`. Records every
 * storage in `decls` (the legacy reader needs their dtypes to size the records that follow).
 */
export function torchPersistentLoad(decls: Map<string, StorageDecl>): (pid: unknown) => StorageRef {
  return (pid) => {
    ensure(pid instanceof PyTuple && pid.items.length >= 5 && pid.items[0] === 'storage', 'bad-header', `persistent id ${typeName(pid)} is not a storage reference`);
    const [, type, rawKey, , numel, view] = (pid as PyTuple).items;
    ensure(type instanceof PyGlobal && typeof type.tag === 'string', 'bad-header', `storage type is ${typeName(type)}`);
    const dtype = Object.hasOwn(STORAGE_DTYPES, type.tag as string) ? STORAGE_DTYPES[type.tag as string] : fail('unsupported-dtype', `storage type torch.${type.tag} is not supported`);
    ensure(typeof rawKey === 'string' || Number.isSafeInteger(rawKey), 'bad-header', `storage key ${typeName(rawKey)}`);
    ensure(Number.isSafeInteger(numel) && (numel as number) >= 0, 'bad-header', `storage size ${brief(numel)}`);
    const key = String(rawKey), n = numel as number;
    const prev = decls.get(key);
    ensure(!prev || (prev.dtype === dtype && prev.numel === n), 'bad-header', `storage '${key}' declared twice as different types/sizes`);
    decls.set(key, { dtype, numel: n });
    if (view === undefined || view === null) return new StorageRef(key, dtype, 0, n);
    // Legacy (pre-1.6) view: (view_key, offset, view_size) into the root storage `key`.
    ensure(view instanceof PyTuple && view.items.length === 3, 'bad-header', 'storage view metadata must be (key, offset, size)');
    const [, off, size] = (view as PyTuple).items;
    ensure(Number.isSafeInteger(off) && Number.isSafeInteger(size) && (off as number) >= 0 && (size as number) >= 0 && (off as number) + (size as number) <= n,
      'out-of-bounds', `storage view [${brief(off)}, +${brief(size)}) outside root storage '${key}' of ${n}`);
    return new StorageRef(key, dtype, off as number, size as number);
  };
}

/** Reads a TensorRef from the bytes of its (root) storage, which start at `base` in `src`. */
export function readTensorRef(t: TensorRef, src: Uint8Array, base: number, le: boolean, name: string): HostTensor {
  const s = t.storage;
  return gather(src, base + s.offset * ITEMSIZE[s.dtype], s.numel, s.dtype, le, t.offset, t.size, t.stride, name);
}

/** Dict keys under which a checkpoint nests its state_dict; their tensors are lifted to the top level. */
export const LIFT_KEYS = ['state_dict', 'model', 'model_state_dict'];
const MAX_DEPTH = 64;
/** Nodes visited while flattening; memo references can make a small pickle a huge (or exponential) tree. */
const MAX_VISITS = 1_000_000;

/**
 * Turns an unpickled object into a Checkpoint. Flattening rule: tensors are named by their dict-key
 * path joined with '.', except that when the root dict has a `state_dict` (or `model`,
 * `model_state_dict`) dict holding tensors, that prefix is dropped (the first such key wins). Subtrees
 * without tensors go to `metadata` under their dotted path as JSON-like values (so
 * `{best_prec1, state_dict}` gives `metadata.best_prec1`). A state_dict's `_metadata` attribute
 * (module versions) is dropped. A bare tensor becomes `tensor`.
 */
export function toCheckpoint(root: unknown, format: CheckpointFormat, fileBytes: number, read: (t: TensorRef, name: string) => HostTensor): Checkpoint {
  const tensors = new Map<string, HostTensor>(), metadata: Record<string, unknown> = {};
  // Expanded (stride 0) or repeated tensors can decode to far more than the file holds; honest files
  // (even with tied weights) stay well inside twice their size in elements.
  const maxElements = 2 * fileBytes + 2 ** 24;
  let elements = 0;
  const cache = new Map<TensorRef, HostTensor>();
  const has = new Map<unknown, boolean>();
  const budget = { n: 0 };
  // Memo references make a DAG: size it as the tree it expands to (linear in the pickle) before walking it.
  const sizes = new Map<unknown, number>();
  const expanded = (v: unknown, depth: number): number => {
    if (depth > MAX_DEPTH) fail('too-deep', `checkpoint object nests deeper than ${MAX_DEPTH} levels (or is cyclic)`);
    if (typeof v !== 'object' || v === null) return 1;
    const known = sizes.get(v);
    if (known !== undefined) return known;
    let n = 1;
    const items = v instanceof PyDict ? v.map.values() : v instanceof PyTuple ? v.items : Array.isArray(v) ? v : [];
    for (const c of items) n = Math.min(n + expanded(c, depth + 1), MAX_VISITS + 1);
    sizes.set(v, n);
    return n;
  };
  if (expanded(root, 0) > MAX_VISITS) fail('too-large', `checkpoint object graph expands to more than ${MAX_VISITS} nodes`);
  const hasTensor = (v: unknown, depth: number): boolean => {
    if (depth > MAX_DEPTH) fail('too-deep', `checkpoint object nests deeper than ${MAX_DEPTH} levels (or is cyclic)`);
    if (v instanceof TensorRef) return true;
    if (typeof v !== 'object' || v === null) return false;
    const known = has.get(v);
    if (known !== undefined) return known;
    let r = false;
    for (const c of children(v)) if (hasTensor(c[1], depth + 1)) r = true;
    has.set(v, r);
    return r;
  };
  const walk = (v: unknown, path: string, depth: number) => {
    spend(budget);
    if (v instanceof TensorRef) {
      const name = path || 'tensor';
      ensure(!tensors.has(name), 'bad-header', `two tensors are named '${name}'`);
      let t = cache.get(v);
      if (!t) {
        elements += checkShape(v.size, name);
        ensure(elements <= maxElements, 'too-large', `'${name}': the tensors decode to more than ${maxElements} elements from a ${fileBytes}-byte file`);
        t = read(v, name);
        cache.set(v, t);
      }
      tensors.set(name, t);
    } else if (hasTensor(v, depth)) {
      for (const [k, c] of children(v)) walk(c, path ? `${path}.${k}` : k, depth + 1);
    } else {
      setOwn(metadata, path || 'value', toJson(v, depth, budget));
    }
  };
  let lifted: PyDict | undefined;
  if (root instanceof PyDict) {
    for (const k of LIFT_KEYS) {
      const v = root.map.get(k);
      if (v instanceof PyDict && hasTensor(v, 1)) { lifted = v; walk(v, '', 1); break; }
    }
  }
  if (lifted) for (const [k, c] of children(root)) { if (c !== lifted) walk(c, k, 1); }
  else walk(root, '', 0);
  return { format, tensors, metadata };
}

function children(v: unknown): [string, unknown][] {
  if (v instanceof PyDict) return [...v.map].map(([k, c]) => [keyString(k), c]);
  if (v instanceof PyTuple) return v.items.map((c, i) => [String(i), c]);
  if (Array.isArray(v)) return v.map((c, i) => [String(i), c]);
  return [];
}

function keyString(k: unknown): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return String(k);
  if (k === null) return 'None';
  if (k instanceof PyTuple && k.items.every((x) => typeof x !== 'object' || x === null)) return `(${k.items.map((x) => keyString(x)).join(', ')})`;
  return fail('bad-header', `dict key of type ${typeName(k)} cannot name a tensor or metadata entry`);
}

/** Python values → JSON-like values (bigints beyond 2^53 as strings, bytes kept as Uint8Array). */
function toJson(v: unknown, depth: number, budget: { n: number }): unknown {
  spend(budget);
  if (depth > MAX_DEPTH) fail('too-deep', `checkpoint metadata nests deeper than ${MAX_DEPTH} levels (or is cyclic)`);
  if (typeof v === 'bigint') return String(v);
  if (v instanceof PyDict) return Object.fromEntries([...v.map].map(([k, c]) => [keyString(k), toJson(c, depth + 1, budget)]));
  if (v instanceof PyTuple) return v.items.map((c) => toJson(c, depth + 1, budget));
  if (Array.isArray(v)) return v.map((c) => toJson(c, depth + 1, budget));
  if (v instanceof PyGlobal) return `<${v.qualname}>`;
  if (v instanceof StorageRef) return `<storage ${v.key}>`;
  return v;
}

function spend(budget: { n: number }): void {
  if (++budget.n > MAX_VISITS) fail('too-large', `checkpoint object graph expands to more than ${MAX_VISITS} nodes`);
}
