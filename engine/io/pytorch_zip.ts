/**
 * PyTorch's zip checkpoints (torch.save since 1.6): `<archive>/data.pkl` is the object pickle, each
 * storage is the stored entry `<archive>/data/<key>`, `<archive>/byteorder` says "little" or "big"
 * (absent before torch 2.1: little), `<archive>/version` the format version. The folder name varies
 * with the file name it was saved as, so it is taken from wherever data.pkl sits.
 */
import { ensure, fail } from './errors.ts';
import { ITEMSIZE, encodeHost } from './dtype.ts';
import { unpickle } from './pickle.ts';
import { PickleWriter } from './pickle_writer.ts';
import { type StorageDecl, readTensorRef, resolveTorchGlobal, toCheckpoint, torchPersistentLoad } from './torch_pickle.ts';
import { type ZipReadOptions, readZipDirectory, readZipEntry, writeZip } from './zip.ts';
import type { Checkpoint, DType, HostTensor } from './types.ts';

/** Parses a torch.save zip archive. See toCheckpoint for how nested dicts are flattened. */
export function parsePytorchZip(bytes: Uint8Array, opts: ZipReadOptions = {}): Checkpoint {
  const entries = readZipDirectory(bytes);
  const pkl = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  ensure(pkl.length === 1, pkl.length ? 'bad-header' : 'missing-entry', `pytorch zip: expected one '<archive>/data.pkl', found ${pkl.length ? pkl.join(', ') : 'none (not a torch.save archive?)'}`);
  const prefix = pkl[0].slice(0, -'data.pkl'.length);
  const text = (name: string) => {
    const e = entries.get(prefix + name);
    return e && new TextDecoder().decode(readZipEntry(bytes, e, opts)).trim();
  };
  const order = text('byteorder') ?? 'little';
  ensure(order === 'little' || order === 'big', 'bad-header', `pytorch zip: byteorder is '${order}'`);
  const decls = new Map<string, StorageDecl>();
  const { value } = unpickle(readZipEntry(bytes, entries.get(pkl[0])!, opts), 0, {
    resolveGlobal: resolveTorchGlobal, persistentLoad: torchPersistentLoad(decls), where: pkl[0],
  });
  const storages = new Map<string, Uint8Array>();
  const ckpt = toCheckpoint(value, 'pytorch-zip', bytes.length, (t, name) => {
    const key = t.storage.key;
    let data = storages.get(key);
    if (!data) {
      const e = entries.get(`${prefix}data/${key}`) ?? fail('missing-entry', `pytorch zip: '${name}' needs storage '${prefix}data/${key}', which the archive lacks`);
      data = readZipEntry(bytes, e, opts);
      const need = decls.get(key)!.numel * ITEMSIZE[t.storage.dtype];
      ensure(data.length >= need, 'truncated', `pytorch zip: storage '${key}' has ${data.length} bytes, its declaration needs ${need}`);
      storages.set(key, data);
    }
    return readTensorRef(t, data, 0, order === 'little', name);
  });
  const version = text('version');
  if (version !== undefined) ckpt.metadata.__archive_version__ = version;
  return ckpt;
}

const STORAGE_NAME: Record<DType, string> = {
  f32: 'FloatStorage', f16: 'HalfStorage', bf16: 'BFloat16Storage', f64: 'DoubleStorage', i64: 'LongStorage',
  i32: 'IntStorage', i16: 'ShortStorage', i8: 'CharStorage', u8: 'ByteStorage', bool: 'BoolStorage',
};

/**
 * Writes tensors as a torch.save zip archive that `torch.load` reads back as an OrderedDict of
 * contiguous tensors, each in its own dtype (f16/bf16/f64/i64 re-encoded from the host arrays).
 */
export function writePytorchZip(tensors: Map<string, HostTensor>, archiveName = 'archive'): Uint8Array {
  const w = new PickleWriter().proto(2);
  w.global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  const files: { name: string; data: Uint8Array }[] = [];
  let key = 0;
  for (const [name, t] of tensors) {
    const data = encodeHost(t, name), n = data.length / ITEMSIZE[t.dtype];
    const stride: number[] = [];
    for (let d = t.shape.length - 1, s = 1; d >= 0; s *= t.shape[d], d--) stride[d] = s;
    w.str(name).global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().str('storage').global('torch', STORAGE_NAME[t.dtype]).str(String(key)).str('cpu').int(n).tuple().binpersid();
    w.int(0).mark();
    for (const d of t.shape) w.int(d);
    w.tuple().mark();
    for (const s of stride) w.int(s);
    w.tuple().bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
    files.push({ name: `${archiveName}/data/${key}`, data });
    key++;
  }
  w.setitems().stop();
  return writeZip([
    { name: `${archiveName}/data.pkl`, data: w.bytes() },
    { name: `${archiveName}/byteorder`, data: new TextEncoder().encode('little') },
    ...files,
    { name: `${archiveName}/version`, data: new TextEncoder().encode('3\n') },
  ]);
}
