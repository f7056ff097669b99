/**
 * The real pre-trained checkpoints in ../shared/checkpoints (skipped with a message when absent),
 * and nsfwjs's UMD model when the package is installed (node_modules/nsfwjs, or NSFWJS_DIR).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpointFile } from '../../engine/io/fs.ts';
import { kerasToTorch } from '../../engine/io/keras.ts';
import { extractUmdTfjsModel } from '../../engine/io/umd.ts';
import { ROOT, SHARED, assertSameAsTfjs, decodeWithTfjs, haveShared } from './helpers.ts';

test('resnet20-cifar10: legacy .th, zip .pt and safetensors give identical tensors', async () => {
  if (!haveShared('resnet20-cifar10')) return;
  const d = join(SHARED, 'resnet20-cifar10');
  const th = await loadCheckpointFile(join(d, 'resnet20-12fca82f.th'));
  const pt = await loadCheckpointFile(join(d, 'resnet20-cifar10.pt'));
  const st = await loadCheckpointFile(join(d, 'resnet20-cifar10.safetensors'));
  assert.is(th.format, 'pytorch-legacy'); assert.is(pt.format, 'pytorch-zip'); assert.is(st.format, 'safetensors');
  assert.is(th.tensors.size, pt.tensors.size);
  assert.is(st.tensors.size, th.tensors.size);
  // Keys stay as in the file: the DataParallel prefix is the loader's remap, not the parser's.
  assert.equal([...th.tensors.keys()], [...pt.tensors.keys()]);
  assert.ok([...th.tensors.keys()].every((k) => k.startsWith('module.')));
  assert.equal([...st.tensors.keys()].sort(), [...th.tensors.keys()].map((k) => k.slice('module.'.length)).sort());
  for (const [k, a] of th.tensors) {
    const b = pt.tensors.get(k)!, c = st.tensors.get(k.slice(7))!;
    assert.equal(a.shape, b.shape, k); assert.equal(a.shape, c.shape, k);
    assert.equal(a.data, b.data, k); assert.equal(a.data, c.data, k);
  }
  assert.equal(th.tensors.get('module.conv1.weight')!.shape, [16, 3, 3, 3]);
  assert.equal(th.tensors.get('module.linear.weight')!.shape, [10, 64]);
  assert.is(Math.fround(th.metadata.best_prec1 as number), Math.fround(91.78));
  assert.is(pt.metadata.best_prec1, th.metadata.best_prec1);
  const params = [...th.tensors.values()].reduce((s, t) => s + t.data.length, 0);
  assert.ok(params > 270_000 && params < 275_000, `${params} values`);
});

test('darknet-tiny: model.json + 31 shards, 1,046,488 parameters, same values as tfjs-core', async () => {
  if (!haveShared('darknet-tiny')) return;
  const d = join(SHARED, 'darknet-tiny');
  const c = await loadCheckpointFile(join(d, 'model.json'));
  assert.is(c.format, 'tfjs-layers');
  // The README's count is trainable + non-trainable (moving statistics included).
  const params = [...c.tensors.values()].reduce((s, t) => s + t.data.length, 0);
  assert.is(params, 1_046_488);
  assert.equal(c.tensors.get('conv2d_1/kernel')!.shape, [3, 3, 3, 16]);
  assert.ok((c.metadata.modelTopology as { keras_version: string }).keras_version === '2.1.6');
  const manifest = JSON.parse(readFileSync(join(d, 'model.json'), 'utf8')).weightsManifest;
  assertSameAsTfjs(c.tensors, await decodeWithTfjs(manifest, async (p) => new Uint8Array(readFileSync(join(d, p)))));
  const t = kerasToTorch(c);
  assert.equal(t.tensors.get('conv2d_1.weight')!.shape, [16, 3, 3, 3]);
  assert.ok(t.tensors.has('batch_normalization_1.running_var'));
});

const nsfwDir = [process.env.NSFWJS_DIR, join(ROOT, 'node_modules/nsfwjs')].filter(Boolean)
  .map((p) => join(p!, 'dist/models/mobilenet_v2')).find((p) => existsSync(join(p, 'model.min.js')));

test('nsfwjs@4.4.0 mobilenet_v2: UMD model + base64 shard, uint8-dequantized like tfjs-core', async () => {
  if (!nsfwDir) { console.log('  skip: nsfwjs is not installed (node_modules/nsfwjs or NSFWJS_DIR)'); return; }
  const c = await loadCheckpointFile(join(nsfwDir, 'model.min.js'));
  assert.is(c.tensors.size, 266);
  assert.is([...c.tensors.values()].reduce((s, t) => s + t.data.length, 0), 2_619_461);
  assert.equal(c.tensors.get('expanded_conv_depthwise/depthwise_kernel')!.shape, [3, 3, 32, 1]);
  assert.equal(c.tensors.get('dense_3/kernel')!.shape, [128, 5]);
  const m = extractUmdTfjsModel(readFileSync(join(nsfwDir, 'model.min.js'), 'utf8'));
  assert.is(m.kind, 'model');
  const manifest = (m as unknown as { model: { weightsManifest: { paths: string[]; weights: unknown[] }[] } }).model.weightsManifest;
  assertSameAsTfjs(c.tensors, await decodeWithTfjs(manifest, async (p) => {
    const s = extractUmdTfjsModel(readFileSync(join(nsfwDir!, `${p}.min.js`), 'utf8'));
    return s.kind === 'shard' ? s.bytes : new Uint8Array(0);
  }));
  const t = kerasToTorch(c);
  assert.equal(t.tensors.get('expanded_conv_depthwise.weight')!.shape, [32, 1, 3, 3]);
  assert.equal(t.tensors.get('dense_3.weight')!.shape, [5, 128]);
});

test.run();
