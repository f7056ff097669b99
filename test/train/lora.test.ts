// LoRA adapters (engine/train/lora.ts) against a plain-torch reference that follows PEFT's math
// (test/fixtures/make_lora_fixtures.py): the forward and the gradients of A, B and the head, what
// trains and what gets optimizer state, merge/unmerge, PEFT's adapter folder both ways (thaw writes
// the committed fixture's keys and config; thaw reads the torch-made folder and gives torch's
// logits), the presets, and the refusals of bad adapters before the model changes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, mkdtempSync, writeFileSync, rmSync, cpSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setup, rand, randArray, assertClose } from '../helpers.ts';
import { Module } from '../../engine/nn/module.ts';
import { Conv2d, Linear, BatchNorm2d, Sequential } from '../../engine/nn/index.ts';
import { canFold } from '../../engine/nn/fused.ts';
import { tensor, assign } from '../../engine/core/factory.ts';
import type { Tensor } from '../../engine/core/tensor.ts';
import { tidy, keep } from '../../engine/core/tensor.ts';
import { ThawError } from '../../engine/core/errors.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { Adam } from '../../engine/optim/index.ts';
import { relu, globalAvgPool2d, mul, sum } from '../../kernels/index.ts';
import { parseSafetensors, writeSafetensors } from '../../engine/io/safetensors.ts';
import { lora, loraConfig, mergeLora, unmergeLora, hasLora, ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../../engine/train/lora.ts';
import { saveLora, loadLora } from '../../engine/train/lora_files.ts';
import { planCache } from '../../engine/train/feature_cache.ts';
import { encodeTrainingCheckpoint, restoreTrainingCheckpoint } from '../../engine/train/checkpoint.ts';
import { BertForSequenceClassification } from '../../models/bert.ts';
import { mobilenetV2 } from '../../models/mobilenetv2.ts';
import { KerasClassifier } from '../../models/keras/index.ts';
import { freezeTo } from '../../engine/train/freeze.ts';

test.before(async () => { await setup(); });

const here = dirname(fileURLToPath(import.meta.url));
const FIX = join(here, '..', 'fixtures', 'lora');
interface Arr { shape: number[]; data: number[] }
const ref = JSON.parse(readFileSync(join(FIX, 'reference.json'), 'utf8')) as {
  r: number; alpha: number; params: Record<string, Arr>; x: Arr; G: Arr; logits: number[]; grads: Record<string, number[]>; merged: Record<string, number[]>;
};
const TARGETS = ['conv1', 'conv2', 'fc1'];

/** The fixture's model: conv1 (3x3/2) → relu → conv2 (1x1) → relu → mean → fc1 → relu → head. */
class Tiny extends Module {
  readonly headPrefix = 'head';
  readonly conv1 = this.child('conv1', new Conv2d(3, 6, 3, { stride: 2, padding: 1 }));
  readonly conv2 = this.child('conv2', new Conv2d(6, 8, 1, { bias: false }));
  readonly fc1 = this.child('fc1', new Linear(8, 7));
  readonly head = this.child('head', new Linear(7, 3));
  forward(x: Tensor): Tensor {
    const h = relu(this.conv2.forward(relu(this.conv1.forward(x))));
    return this.head.forward(relu(this.fc1.forward(globalAvgPool2d(h))));
  }
}

/** A Tiny with the fixture's base weights (and, with `adapters`, its LoRA weights). */
function tiny(adapters = false): Tiny {
  const m = new Tiny();
  for (const [k, v] of Object.entries(ref.params)) if (!k.includes('.lora_')) assign(m.get(k), v.data);
  if (adapters) {
    lora(m, { target: TARGETS, rank: ref.r, alpha: ref.alpha });
    for (const [k, v] of Object.entries(ref.params)) if (k.includes('.lora_')) assign(m.get(k), v.data);
  }
  return m;
}

const input = () => tensor(ref.x.data, ref.x.shape);
async function logits(m: Module): Promise<Float32Array> {
  const y = tidy(() => m.forward(input()) as Tensor);
  const d = await y.data();
  y.dispose();
  return d;
}
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0, err = 0;
  for (let i = 0; i < b.length; i++) { scale = Math.max(scale, Math.abs(b[i])); err = Math.max(err, Math.abs(a[i] - b[i])); }
  return err / scale;
}
function thrown(fn: () => unknown): ThawError {
  try { fn(); } catch (e) { if (e instanceof ThawError) return e; throw e; }
  throw new Error('expected a ThawError');
}
async function rejected(p: Promise<unknown>): Promise<ThawError> {
  try { await p; } catch (e) { if (e instanceof ThawError) return e; throw e; }
  throw new Error('expected a ThawError');
}
function tmp(): string { return mkdtempSync(join(tmpdir(), 'thaw-lora-')); }

test('forward: W x + (alpha/r) · B(A(x)) for Linear, kxk and 1x1 convs equals the float64 torch reference', async () => {
  const m = tiny(true);
  m.eval();
  assertClose(await logits(m), ref.logits, 1e-5, 1e-6, 'logits');
  m.dispose();
});

test('a fresh adapter: A kaiming-uniform (bound 1/sqrt(fan_in)), B zero, the output unchanged; state-dict keys of the base kept', async () => {
  const m = tiny(false);
  const before = await logits(m);
  const keys = [...m.stateDict().keys()];
  lora(m, { target: TARGETS, rank: 4, alpha: 8, rng: rand });
  const after = [...m.stateDict().keys()];
  assert.equal(after.filter((k) => !k.includes('.lora_')), keys, 'base keys unchanged');
  assert.equal(after.filter((k) => k.includes('.lora_')).sort(), TARGETS.flatMap((t) => [`${t}.lora_A.weight`, `${t}.lora_B.weight`]).sort());
  const A = await m.get('conv1.lora_A.weight').data(), bound = 1 / Math.sqrt(3 * 3 * 3);
  assert.equal(m.get('conv1.lora_A.weight').shape, [4, 3, 3, 3]);
  assert.equal(m.get('conv1.lora_B.weight').shape, [6, 4, 1, 1]);
  assert.equal(m.get('fc1.lora_A.weight').shape, [4, 8]);
  assert.ok(A.every((v) => Math.abs(v) <= bound) && A.some((v) => Math.abs(v) > bound / 2), 'A within the kaiming bound and not degenerate');
  assert.ok((await m.get('fc1.lora_B.weight').data()).every((v) => v === 0), 'B starts at zero');
  assertClose(await logits(m), before, 0, 0, 'a fresh adapter changes nothing');
  m.dispose();
});

test('backward: gradients of every lora_A, lora_B and the head equal torch\'s; the frozen base gets none', async () => {
  const m = tiny(true);
  m.train();
  tidy(() => {
    const y = m.forward(input());
    backward(sum(mul(y, tensor(ref.G.data, ref.G.shape))));
  });
  for (const [k, g] of Object.entries(ref.grads)) {
    const t = m.get(k);
    assert.ok(t.grad, `${k} has a gradient`);
    assertClose(await t.grad!.data(), g, 1e-4, 1e-6, `grad ${k}`);
  }
  for (const k of ['conv1.weight', 'conv1.bias', 'conv2.weight', 'fc1.weight', 'fc1.bias']) assert.is(m.get(k).grad, null, `${k} is frozen`);
  m.dispose();
});

test('only the adapters and the modules to save train: trainable parameters, optimizer state, updates', async () => {
  const m = tiny(true);
  const trainable = m.trainableParameters().map(([k]) => k).sort();
  assert.equal(trainable, [...TARGETS.flatMap((t) => [`${t}.lora_A.weight`, `${t}.lora_B.weight`]), 'head.bias', 'head.weight'].sort());
  assert.equal(loraConfig(m)!.modulesToSave, ['head'], 'a Classifier-like head is saved by default');
  const opt = new Adam(m.trainableParameters(), { lr: 0.01 });
  const frozenBefore = await m.get('fc1.weight').data(), aBefore = await m.get('fc1.lora_A.weight').data();
  m.train();
  tidy(() => backward(sum(mul(m.forward(input()), tensor(ref.G.data, ref.G.shape)))));
  opt.step();
  const elements = m.trainableParameters().reduce((n, [, p]) => n + p.size, 0);
  assert.is(opt.stateBytes(), 2 * 4 * elements, 'Adam keeps two moments for the trainable elements only');
  assert.equal(await m.get('fc1.weight').data(), frozenBefore, 'the frozen base weight did not move');
  assert.not.equal(await m.get('fc1.lora_A.weight').data(), aBefore, 'the adapter moved');
  opt.dispose?.();
  m.dispose();
});

test('adapter dropout acts on the adapter branch only, in training mode', async () => {
  const m = tiny(false);
  lora(m, { target: ['fc1'], rank: 2, alpha: 2, dropout: 0.5, seed: 3 });
  m.eval();
  const base = await logits(m);
  m.train();
  assertClose(await logits(m), base, 0, 0, 'B = 0: dropout on the adapter input leaves the output alone');
  assign(m.get('fc1.lora_B.weight'), randArray(14));
  const e = (m.eval(), await logits(m));
  const t1 = (m.train(), await logits(m));
  assert.ok(maxRel(t1, e) > 1e-4, 'training-mode dropout changes the adapter branch');
  m.dispose();
});

test('mergeLora folds (alpha/r)·BA into W as PEFT\'s get_delta_weight; logits within 1e-5; unmergeLora restores W', async () => {
  const m = tiny(true);
  m.eval();
  const unmerged = await logits(m);
  const w0 = await m.get('conv1.weight').data();
  assert.is(await mergeLora(m), 3);
  for (const k of TARGETS) assertClose(await m.get(`${k}.weight`).data(), ref.merged[k], 1e-6, 1e-7, `merged ${k}`);
  assert.not.ok(Object.hasOwn(m.conv1, 'forward'), 'a merged layer runs its class\'s forward');
  const merged = await logits(m);
  const err = maxRel(merged, unmerged);
  console.log(`  merged vs unmerged logits: max |diff| / max |logit| = ${err.toExponential(2)}`);
  assert.ok(err <= 1e-5, `merged logits within 1e-5 relative (${err})`);
  assert.is(await mergeLora(m), 0, 'merging twice is a no-op');
  assert.is(await unmergeLora(m), 3);
  assertClose(await m.get('conv1.weight').data(), w0, 0, 1e-6, 'W after unmerge');
  assertClose(await logits(m), unmerged, 1e-5, 1e-6, 'logits after unmerge');
  m.dispose();
});

test('an adapted conv does not fold into its frozen batch norm until merged', async () => {
  const m = new Sequential(new Conv2d(3, 4, 1, { bias: false }), new BatchNorm2d(4));
  lora(m, { target: ['0'], rank: 2, modulesToSave: [] });
  const [conv, bn] = [m.at(0) as Conv2d, m.at(1) as BatchNorm2d];
  assert.ok(bn.frozenNorm, 'the norm is frozen');
  assert.not.ok(canFold(conv, bn), 'the adapter branch must run');
  await mergeLora(m);
  assert.ok(canFold(conv, bn), 'merged: a plain conv again');
  await unmergeLora(m);
  assert.not.ok(canFold(conv, bn));
  m.dispose();
});

test('saveLora writes PEFT\'s folder: the committed fixture\'s key list, shapes and adapter_config.json', async () => {
  const m = tiny(true);
  const dir = tmp();
  try {
    const out = await saveLora(m, dir);
    const mine = parseSafetensors(readFileSync(join(dir, ADAPTER_WEIGHTS)));
    const theirs = parseSafetensors(readFileSync(join(FIX, 'peft_adapter', ADAPTER_WEIGHTS)));
    const shapes = (c: typeof mine) => [...c.tensors].map(([k, t]) => `${k} ${t.dtype} [${t.shape}]`).sort();
    assert.equal(shapes(mine), shapes(theirs), 'keys, dtypes and shapes as PEFT\'s');
    assert.equal(out.keys.sort(), [...theirs.tensors.keys()].sort());
    assert.equal(mine.metadata, { format: 'pt' });
    for (const [k, t] of theirs.tensors) assert.equal(mine.tensors.get(k)!.data, t.data, `${k} values`);
    const cfg = JSON.parse(readFileSync(join(dir, ADAPTER_CONFIG), 'utf8'));
    assert.equal(cfg, JSON.parse(readFileSync(join(FIX, 'peft_adapter', ADAPTER_CONFIG), 'utf8')));
    assert.equal(Object.keys(cfg), Object.keys(cfg).sort(), 'sorted keys, as json.dumps(sort_keys=True)');
    console.log(`  adapter keys: ${out.keys.sort().join(', ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    m.dispose();
  }
});

test('loadLora reads the torch-made PEFT folder into a plain model and gives torch\'s logits; thaw\'s own folder round-trips', async () => {
  const m = tiny(false);
  const c = await loadLora(m, join(FIX, 'peft_adapter'));
  assert.equal([c.rank, c.alpha, c.adapted, c.modulesToSave], [2, 3, TARGETS, ['head']]);
  m.eval();
  assertClose(await logits(m), ref.logits, 1e-5, 1e-6, 'logits from the PEFT folder');
  // Round trip through thaw's writer, into a model whose head starts elsewhere.
  const dir = tmp();
  try {
    await saveLora(m, dir);
    const n = tiny(false);
    assign(n.get('head.weight'), new Float32Array(21));
    await loadLora(n, dir);
    n.eval();
    assertClose(await logits(n), ref.logits, 1e-5, 1e-6, 'logits after the round trip');
    assert.ok(hasLora(n.fc1) && !hasLora(n.head));
    n.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    m.dispose();
  }
});

test('loadLora adapts exactly the file\'s layers and saves exactly its modules, not every path ending in their names', async () => {
  class Nested extends Tiny { readonly inner = this.child('inner', new Tiny()); }
  const m = new Nested();
  for (const [k, v] of Object.entries(ref.params)) if (!k.includes('.lora_')) assign(m.get(k), v.data);
  const c = await loadLora(m, join(FIX, 'peft_adapter'));
  assert.equal(c.adapted, TARGETS);
  assert.equal(c.modulesToSave, ['head']);
  assert.not.ok(hasLora(m.inner.conv1) || m.get('inner.head.weight').requiresGrad, 'inner.conv1 / inner.head untouched');
  m.eval();
  assertClose(await logits(m), ref.logits, 1e-5, 1e-6, 'logits');
  m.dispose();
});

/** A copy of the fixture folder with its config and tensors changed. */
function badFolder(edit: { config?: (c: any) => void; drop?: string }): string {
  const dir = tmp();
  cpSync(join(FIX, 'peft_adapter'), dir, { recursive: true });
  if (edit.config) {
    const c = JSON.parse(readFileSync(join(dir, ADAPTER_CONFIG), 'utf8'));
    edit.config(c);
    writeFileSync(join(dir, ADAPTER_CONFIG), JSON.stringify(c));
  }
  if (edit.drop) {
    const ck = parseSafetensors(readFileSync(join(dir, ADAPTER_WEIGHTS)));
    ck.tensors.delete(edit.drop);
    writeFileSync(join(dir, ADAPTER_WEIGHTS), writeSafetensors(ck.tensors));
  }
  return dir;
}

test('bad adapters are refused in one line naming the problem and the fix, before the model changes', async () => {
  const cases: [string, { config?: (c: any) => void; drop?: string }, RegExp, () => Module][] = [
    ['missing key', { drop: 'base_model.model.conv2.lora_B.weight' }, /conv2\.lora_B\.weight' is missing.*save it again/, () => tiny(false)],
    ['rank mismatch', { config: (c) => { c.r = 4; } }, /rank 2 .*r = 4/, () => tiny(false)],
    ['wrong base', {}, /needs \[2, 4, 3, 3\].*base model it was trained on/, () => {
      const m = new Tiny();
      m.setTensor('conv1.weight', keep(tensor(new Float32Array(6 * 4 * 9), [6, 4, 3, 3])));
      return m;
    }],
    ['not LoRA', { config: (c) => { c.peft_type = 'IA3'; } }, /peft_type "IA3".*LoRA adapters only/, () => tiny(false)],
    ['DoRA', { config: (c) => { c.use_dora = true; } }, /use_dora.*train the adapter without it/, () => tiny(false)],
  ];
  for (const [what, edit, re, make] of cases) {
    const dir = badFolder(edit);
    const m = make();
    try {
      const e = await rejected(loadLora(m, dir));
      assert.match(e.message, re, `${what}: ${e.message}`);
      assert.not.ok(e.message.includes('\n'), `${what}: one line`);
      assert.is(loraConfig(m), null, `${what}: the model is untouched`);
      assert.not.ok([...m.stateDict().keys()].some((k) => k.includes('lora_')), `${what}: no adapter was added`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      m.dispose();
    }
  }
  const none = tiny(false);
  const e = await rejected(loadLora(none, join(FIX, 'no-such-folder')));
  none.dispose();
  assert.match(e.message, /adapter_config\.json.*ENOENT.*saveLora or PEFT/);
  const m = tiny(false);
  assert.match(thrown(() => lora(m, { target: ['nope'], rank: 2 })).message, /matches no Linear or Conv2d layer.*conv1/);
  assert.match(thrown(() => lora(m, { target: TARGETS, rank: 0 })).message, /rank must be a positive integer/);
  assert.match(thrown(() => lora(m, { target: 'resnet' as any, rank: 2 })).message, /not a preset/);
  assert.is(loraConfig(m), null);
  lora(m, { target: TARGETS, rank: 2 });
  assert.match(thrown(() => lora(m, { target: TARGETS, rank: 2 })).message, /already has LoRA adapters/);
  m.dispose();
  const dir = badFolder({ config: (c) => { c.base_model_name_or_path = 'b'; } });
  const n = tiny(false);
  try {
    assert.match((await rejected(loadLora(n, dir, { baseModel: 'a' }))).message, /trained on 'b', not 'a'.*base model it was trained on/);
    assert.is(loraConfig(n), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    n.dispose();
  }
});

test('presets: BERT\'s attention q/k/v/out (the field-held Linear runs the adapter); MobileNet\'s pointwise convs; the feature cache stops below the first adapter', async () => {
  const bert = new BertForSequenceClassification({ vocabSize: 30, hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 32, maxPositions: 8, seed: 1, rng: rand }, 2);
  const c = lora(bert, { target: 'bert', rank: 2, modulesToSave: ['classifier'] });
  assert.equal(c.adapted, [0, 1].flatMap((i) => ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense'].map((s) => `bert.encoder.layer.${i}.${s}`)));
  assert.equal(c.targetModules, ['query', 'key', 'value', 'attention.output.dense']);
  bert.eval();
  const ids = () => tensor(Int32Array.from({ length: 8 }, (_, i) => 1 + (i * 7) % 29), [2, 4], 'i32');
  const run = async () => { const y = tidy(() => bert.forward(ids())); const d = await y.data(); y.dispose(); return d; };
  const before = await run();
  assign(bert.get('bert.encoder.layer.1.attention.self.value.lora_B.weight'), randArray(32));
  assert.ok(maxRel(await run(), before) > 1e-4, 'the adapter on self.value (called through its field) changes the output');
  bert.dispose();

  const net = mobilenetV2({ widthMult: 0.25, numClasses: 4, rng: rand });
  const p = lora(net, { target: 'mobilenet', rank: 2 });
  assert.is(p.adapted.length, 34, '16 expand + 17 project + the last 1x1');
  assert.ok(p.adapted.every((q) => /^features\.\d+\.(conv\.(0\.0|1|2)|0)$/.test(q)), p.adapted.join(' '));
  assert.equal(p.modulesToSave, ['classifier']);
  assert.ok(net.get('classifier.1.weight').requiresGrad && !net.get('features.3.conv.1.0.weight').requiresGrad);
  net.dispose();
  const deep = mobilenetV2({ widthMult: 0.25, numClasses: 4, rng: rand });
  lora(deep, { target: /^features\.1[67]\.conv\.(0\.0|2)$/, rank: 2 });
  assert.is(planCache(deep, false).stages, 16, 'features.0..15 are cached, features.16 has the first adapter');
  deep.dispose();
});

test('a Keras head of several Dense layers trains whole, as freezeTo(-1) leaves it, not only its last layer', async () => {
  const inp = { batch_input_shape: [null, 6, 6, 3] };
  const topology = { class_name: 'Sequential', config: { name: 's', layers: [
    { class_name: 'Conv2D', config: { name: 'pw', ...inp, filters: 5, kernel_size: 1, activation: 'relu' } },
    { class_name: 'GlobalAveragePooling2D', config: { name: 'pool' } },
    { class_name: 'Dense', config: { name: 'hidden', units: 4, activation: 'relu' } },
    { class_name: 'Dense', config: { name: 'out', units: 3, activation: 'softmax' } },
  ] } };
  const trainable = (m: Module) => m.trainableParameters().map(([k]) => k).filter((k) => !k.includes('lora_'));
  const frozen = new KerasClassifier(topology, { rng: rand });
  freezeTo(frozen, -1);
  const m = new KerasClassifier(topology, { rng: rand });
  const c = lora(m, { target: 'pointwise', rank: 2 });
  assert.equal(c.adapted, ['pw']);
  assert.equal(c.modulesToSave, ['hidden', 'out']);
  assert.equal(trainable(m), trainable(frozen));
  assert.equal(trainable(m), ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']);
  frozen.dispose(); m.dispose();
});

test('training checkpoints carry the adapters, their optimizer state and dropout seeds; a model without the adapters is refused', async () => {
  const m = tiny(false);
  lora(m, { target: TARGETS, rank: 2, alpha: 3, dropout: 0.1, seed: 5, rng: rand });
  assign(m.get('fc1.lora_B.weight'), randArray(14));
  const opt = new Adam(m.trainableParameters(), { lr: 0.01 });
  m.train();
  tidy(() => backward(sum(mul(m.forward(input()), tensor(ref.G.data, ref.G.shape)))));
  opt.step();
  opt.zeroGrad();
  const bytes = await encodeTrainingCheckpoint({ model: m, optimizer: opt, step: 1, epoch: 1 });
  const keys = [...parseSafetensors(bytes).tensors.keys()];
  assert.ok(keys.includes('model.fc1.lora_A.weight') && keys.some((k) => k.startsWith('optim.fc1.lora_A.weight.')), keys.join(' '));
  assert.not.ok(keys.some((k) => k.startsWith('optim.fc1.weight')), 'no optimizer state for the frozen base');
  const n = tiny(false);
  lora(n, { target: TARGETS, rank: 2, alpha: 3, dropout: 0.1 });
  const opt2 = new Adam(n.trainableParameters(), { lr: 0.01 });
  restoreTrainingCheckpoint(bytes, { model: n, optimizer: opt2 });
  for (const k of ['fc1.lora_A.weight', 'fc1.lora_B.weight', 'conv1.lora_A.weight', 'head.weight']) assert.equal(await n.get(k).data(), await m.get(k).data(), k);
  assert.is((n.fc1.namedChildren().find(([c]) => c === 'lora_dropout')![1] as any).seed, (m.fc1.namedChildren().find(([c]) => c === 'lora_dropout')![1] as any).seed, 'dropout seed restored');
  const plain = tiny(false);
  const e = thrown(() => restoreTrainingCheckpoint(bytes, { model: plain, optimizer: new Adam(plain.trainableParameters(), { lr: 0.01 }) }));
  assert.match(e.message, /lora_A/);
  for (const x of [m, n, plain]) x.dispose();
  opt.dispose?.(); opt2.dispose?.();
});

test.run();
