import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTfjsLayers } from '../../engine/io/tfjs.ts';
import { extractUmdTfjsModel, base64Decode } from '../../engine/io/umd.ts';
import { parseCheckpoint } from '../../engine/io/index.ts';
import { FIXTURES, assertSameAsTfjs, assertTensor, decodeWithTfjs, expected, throwsKind } from './helpers.ts';

const dir = join(FIXTURES, 'tfjs');
const modelText = readFileSync(join(dir, 'model.json'), 'utf8');
const readShard = async (p: string) => new Uint8Array(readFileSync(join(dir, p)));
const model = () => JSON.parse(modelText);

test('reads f32, int32, bool and uint8/uint16/float16-quantized weights across a two-shard group', async () => {
  const c = await parseTfjsLayers(modelText, readShard);
  assert.is(c.format, 'tfjs-layers');
  assert.equal([...c.tensors.keys()], Object.keys(expected.tfjs));
  for (const [k, e] of Object.entries(expected.tfjs)) assertTensor(c.tensors.get(k), e, k);
  assert.equal((c.metadata.modelTopology as { keras_version: string }).keras_version, '2.2.4');
  assert.is(c.metadata.format, 'layers-model');
  assert.not.ok('weightsManifest' in c.metadata);
});

test('decoding (incl. uint8/uint16/float16 dequantization) matches tfjs-core bit for bit', async () => {
  const c = await parseTfjsLayers(modelText, readShard);
  assertSameAsTfjs(c.tensors, await decodeWithTfjs(model().weightsManifest, readShard));
});

test('parseCheckpoint sniffs model.json and needs readFile', async () => {
  const bytes = new TextEncoder().encode(modelText);
  await throwsKind(() => parseCheckpoint(bytes), 'missing-entry', /readFile/);
  const c = await parseCheckpoint(bytes, { readFile: readShard });
  assert.is(c.tensors.size, 7);
});

test('shards shorter than the manifest needs are "truncated" (checked before decoding)', async () => {
  await throwsKind(() => parseTfjsLayers(modelText, async (p) => (await readShard(p)).subarray(0, 10)), 'truncated', /group \[group1-shard1of2.bin, group1-shard2of2.bin\]/);
});

test('unreadable shards and escaping paths are refused without reading', async () => {
  await throwsKind(() => parseTfjsLayers(modelText, async () => { throw new Error('ENOENT'); }), 'missing-entry', /ENOENT/);
  for (const p of ['../secret', '/etc/passwd', 'a/../../b', 'C:\\x', 'http://host/x', 'a//b', '']) {
    const m = model();
    m.weightsManifest[0].paths[0] = p;
    await throwsKind(() => parseTfjsLayers(m, async () => assert.unreachable('read called') as never), 'bad-path');
  }
});

test('manifest errors: dtypes, quantization fields, shapes, duplicates, JSON', async () => {
  const edit = async (f: (m: any) => void, kind: string, re?: RegExp) => { const m = model(); f(m); await throwsKind(() => parseTfjsLayers(m, readShard), kind, re); };
  await edit((m) => { m.weightsManifest[1].weights[0].dtype = 'string'; }, 'unsupported-dtype', /string/);
  await edit((m) => { m.weightsManifest[0].weights[1].quantization.dtype = 'int4'; }, 'unsupported-dtype', /int4/);
  await edit((m) => { delete m.weightsManifest[0].weights[1].quantization.scale; }, 'bad-header', /min.*scale/);
  await edit((m) => { m.weightsManifest[0].weights[1].quantization.min = 'x'; }, 'bad-header');
  await edit((m) => { m.weightsManifest[1].weights[2].quantization = { dtype: 'float16' }; }, 'unsupported-dtype', /float16-quantized/);
  await edit((m) => { m.weightsManifest[0].weights[0].shape = [3, -3]; }, 'bad-shape');
  await edit((m) => { m.weightsManifest[0].weights[0].shape = [1e6, 1e6]; }, 'too-large');
  await edit((m) => { m.weightsManifest[0].weights[0].shape = [1e4, 1e4]; }, 'truncated');
  await edit((m) => { m.weightsManifest[1].weights[0].name = 'conv2d_1/kernel'; }, 'bad-header', /twice/);
  await edit((m) => { delete m.weightsManifest; }, 'bad-header', /weightsManifest/);
  await throwsKind(() => parseTfjsLayers('{"weightsManifest": [', readShard), 'bad-json');
  await throwsKind(() => parseTfjsLayers('[1]', readShard), 'bad-header');
});

test('UMD (nsfwjs-style) model and shard: parsed as literals, never evaluated', async () => {
  const js = readFileSync(join(FIXTURES, 'umd/model.min.js'), 'utf8');
  const m = extractUmdTfjsModel(js);
  assert.is(m.kind, 'model');
  const s = extractUmdTfjsModel(readFileSync(join(FIXTURES, 'umd/group1-shard1of1.min.js'), 'utf8'));
  assert.is(s.kind, 'shard');
  const c = await parseCheckpoint(new TextEncoder().encode(js), { readFile: async (p) => new Uint8Array(readFileSync(join(FIXTURES, 'umd', p))) });
  for (const [k, e] of Object.entries(expected.tfjs)) assertTensor(c.tensors.get(k), e, k);
});

test('UMD literal parser: JS syntax, escapes, __proto__ keys, and refusals', async () => {
  const lit = (s: string) => extractUmdTfjsModel(`x.exports=${s}`);
  const m = lit(`{weightsManifest:[],a:!0,b:!1,c:void 0,d:.5,e:-1e-3,'f':"q\\"\\u0041\\x42\\n",g:[1,2,],"__proto__":{z:1},h:-Infinity}`);
  assert.is(m.kind, 'model');
  const o = (m as { model: Record<string, unknown> }).model;
  assert.is(o.a, true); assert.is(o.b, false); assert.is(o.c, null); assert.is(o.d, 0.5); assert.is(o.e, -0.001);
  assert.is(o.f, 'q"AB\n'); assert.equal(o.g, [1, 2]); assert.is(o.h, -Infinity);
  assert.ok(Object.hasOwn(o, '__proto__'));
  assert.is(Object.getPrototypeOf(o), Object.prototype); // not polluted
  await throwsKind(() => lit('{weightsManifest:[], a: alert(1)}'), 'bad-json', /expected a value/);
  await throwsKind(() => lit('{weightsManifest:"unterminated'), 'bad-json');
  await throwsKind(() => lit('['.repeat(1000)), 'too-deep');
  await throwsKind(() => extractUmdTfjsModel('module.exports=e()'), 'bad-header', /no `exports/);
  await throwsKind(() => lit('"abc$"'), 'bad-json', /base64/);
  assert.equal([...base64Decode('AQID')], [1, 2, 3]);
  assert.equal([...base64Decode('AQI=')], [1, 2]);
  await throwsKind(() => base64Decode('A'), 'bad-json');
});

test.run();
