/**
 * PyTorch's legacy (pre-1.6, non-zip) checkpoints: five pickles in a row (magic number, protocol
 * version 1001, sys_info, the object, the sorted list of storage keys), then each storage as an
 * 8-byte element count followed by its raw elements, in the order of that list.
 */
import { ensure, fail } from './errors.ts';
import { ITEMSIZE, brief } from './dtype.ts';
import { PyDict, unpickle } from './pickle.ts';
import { type StorageDecl, readTensorRef, resolveTorchGlobal, toCheckpoint, torchPersistentLoad } from './torch_pickle.ts';
import type { Checkpoint } from './types.ts';

/** torch.serialization.MAGIC_NUMBER. */
const MAGIC = 0x1950a86a20f9469cfc6cn;
const PROTOCOL_VERSION = 1001;
/** The bytes a legacy file starts with: PROTO 2, LONG1 of 10 bytes holding MAGIC. */
export const LEGACY_PREFIX = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

const noGlobals = () => undefined;

/** Parses a legacy torch.save file (`.th`, `.pth` from torch < 1.6, or `_use_new_zipfile_serialization=False`). */
export function parsePytorchLegacy(bytes: Uint8Array): Checkpoint {
  const magic = unpickle(bytes, 0, { resolveGlobal: noGlobals, where: 'legacy magic' });
  ensure(magic.value === MAGIC, 'bad-magic', `legacy torch file: magic number ${brief(magic.value)} is not torch's (a tar-based torch < 0.4 file, or not a checkpoint)`);
  const proto = unpickle(bytes, magic.end, { resolveGlobal: noGlobals, where: 'legacy protocol' });
  ensure(proto.value === PROTOCOL_VERSION, 'unsupported-format', `legacy torch file: protocol version ${brief(proto.value)}, expected ${PROTOCOL_VERSION}`);
  const sys = unpickle(bytes, proto.end, { resolveGlobal: noGlobals, where: 'legacy sys_info' });
  ensure(sys.value instanceof PyDict, 'bad-header', 'legacy torch file: sys_info is not a dict');
  const le = (sys.value as PyDict).map.get('little_endian');
  ensure(typeof le === 'boolean', 'bad-header', 'legacy torch file: sys_info.little_endian missing');
  const decls = new Map<string, StorageDecl>();
  const obj = unpickle(bytes, sys.end, { resolveGlobal: resolveTorchGlobal, persistentLoad: torchPersistentLoad(decls), where: 'legacy object pickle' });
  const keys = unpickle(bytes, obj.end, { resolveGlobal: noGlobals, where: 'legacy storage keys' });
  ensure(Array.isArray(keys.value) && keys.value.every((k) => typeof k === 'string'), 'bad-header', 'legacy torch file: storage key list is not a list of strings');
  // Locate every storage record before reading any tensor: sizes come from the pickle, not the record.
  const at = new Map<string, number>();
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const d = decls.get(key) ?? fail('bad-header', `legacy torch file: storage '${key}' is listed but no tensor declares its type`);
    ensure(!at.has(key), 'bad-header', `legacy torch file: storage '${key}' is listed twice`);
    ensure(pos + 8 <= bytes.length, 'truncated', `legacy torch file: storage '${key}' record header at ${pos} is past the end`);
    const count = dv.getUint32(pos + (le ? 0 : 4), le) + dv.getUint32(pos + (le ? 4 : 0), le) * 2 ** 32;
    ensure(count === d.numel, 'bad-header', `legacy torch file: storage '${key}' record holds ${count} elements, the pickle declares ${d.numel}`);
    const nbytes = count * ITEMSIZE[d.dtype];
    ensure(pos + 8 + nbytes <= bytes.length, 'truncated', `legacy torch file: storage '${key}' needs ${nbytes} bytes at ${pos + 8}, the file has ${bytes.length - pos - 8}`);
    at.set(key, pos + 8);
    pos += 8 + nbytes;
  }
  return toCheckpoint(obj.value, 'pytorch-legacy', bytes.length, (t, name) => {
    const base = at.get(t.storage.key) ?? fail('missing-entry', `legacy torch file: '${name}' needs storage '${t.storage.key}', which is not in the file`);
    return readTensorRef(t, bytes, base, le as boolean, name);
  });
}
