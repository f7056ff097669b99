/**
 * The Keras builder against TF.js itself: small models made with tf.layers (every supported layer
 * type, odd spatial sizes so TF's 'same' padding is asymmetric, a Flatten of a 3x2 map so the NHWC
 * order matters, a Reshape to an image), saved through TF.js' own serializer, parsed by
 * engine/io, built and loaded here, and run on the same input as TF.js' cpu backend.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { setup, randArray } from '../helpers.ts';
import { maxRelError } from './helpers.ts';
import { detUniform } from './detinit.ts';
import { parseTfjsLayers } from '../../engine/io/tfjs.ts';
import type { Checkpoint, HostTensor } from '../../engine/io/types.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, noGrad } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { BatchNorm2d } from '../../engine/nn/index.ts';
import {
  kerasModelFromCheckpoint, kerasClassifierFromCheckpoint, kerasStateDict, parseTopology, KerasClassifier, KerasModel,
} from '../../models/keras/index.ts';
import { checkGroups, checkStages } from './helpers.ts';

test.before(async () => { await setup(); await tf.setBackend('cpu'); });

/** Deterministic weights per variable name, positive where Keras needs it. */
function randomize(m: tf.LayersModel): void {
  m.setWeights(m.weights.map((w) => {
    const n = w.shape.reduce((a, b) => a! * b!, 1)!;
    const [lo, hi] = /moving_variance|gamma/.test(w.name) ? [0.5, 1.5] : /kernel/.test(w.name) ? [-0.3, 0.3] : [-0.5, 0.5];
    return tf.tensor(detUniform(w.name, n, lo, hi), w.shape as number[]);
  }));
}

/** Saves with TF.js' serializer and parses the artifacts as a model.json + one shard. */
async function checkpointOf(m: tf.LayersModel): Promise<Checkpoint> {
  let art: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => { art = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  const wd = art!.weightData!;
  const parts = Array.isArray(wd) ? wd : [wd];
  const bytes = new Uint8Array(parts.reduce((s, b) => s + b.byteLength, 0));
  let at = 0;
  for (const b of parts) { bytes.set(new Uint8Array(b), at); at += b.byteLength; }
  return parseTfjsLayers({ modelTopology: art!.modelTopology, weightsManifest: [{ paths: ['w.bin'], weights: art!.weightSpecs }] }, async () => bytes);
}

/** Runs our model and TF.js on the same NCHW input; returns both outputs in our layout. */
async function compare(ours: (x: ReturnType<typeof tensor>) => ReturnType<typeof tensor>, theirs: tf.LayersModel | ((x: tf.Tensor) => tf.Tensor), nchw: number[]) {
  const x = randArray(nchw.reduce((a, b) => a * b, 1));
  const y = noGrad(() => tidy(() => ours(tensor(x, nchw))));
  const got = await y.data();
  const shape = y.shape;
  y.dispose();
  const input = tf.tensor(x, nchw).transpose([0, 2, 3, 1]);
  let out = typeof theirs === 'function' ? theirs(input) : theirs.predict(input) as tf.Tensor;
  if (out.rank === 4) out = out.transpose([0, 3, 1, 2]);
  const want = await out.data() as Float32Array;
  tf.dispose([input, out]);
  return { got, want, shape, wantShape: out.shape };
}

/**
 * A functional model using every supported layer type; input (13, 11, 3), output 5 softmax
 * probabilities. `forGrad` avoids what TF.js cannot differentiate right: dilated convs (no gradient)
 * and AveragePooling2D with 'same' padding (its gradient is wrong where the window overlaps the
 * padding; ours agrees with finite differences), using ZeroPadding2D + a 'valid' average pool instead.
 */
function everyLayerModel(forGrad = false): tf.LayersModel {
  const L = tf.layers;
  const x = tf.input({ shape: [13, 11, 3] });
  let a = L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  a = L.batchNormalization({ epsilon: 0.01, momentum: 0.9 }).apply(a) as tf.SymbolicTensor; // (7, 6, 8)
  let b = L.zeroPadding2d({ padding: [[0, 2], [1, 1]] }).apply(a) as tf.SymbolicTensor; // (9, 8, 8)
  b = L.depthwiseConv2d({ kernelSize: [3, 3], depthMultiplier: 2, padding: 'valid', useBias: true }).apply(b) as tf.SymbolicTensor; // (7, 6, 16)
  b = L.reLU({ maxValue: 6 }).apply(b) as tf.SymbolicTensor;
  const c = L.conv2d({ filters: 16, kernelSize: 3, dilationRate: forGrad ? 1 : 2, padding: 'same', activation: 'tanh' }).apply(a) as tf.SymbolicTensor;
  const e = L.leakyReLU({ alpha: 0.2 }).apply(L.add().apply([b, c]) as tf.SymbolicTensor) as tf.SymbolicTensor; // (7, 6, 16)
  const f = L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(e) as tf.SymbolicTensor; // (4, 3, 16)
  const g = forGrad
    ? L.averagePooling2d({ poolSize: 3, strides: 2, padding: 'valid' }).apply(L.zeroPadding2d({ padding: [[1, 1], [0, 1]] }).apply(e)) as tf.SymbolicTensor
    : L.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(e) as tf.SymbolicTensor; // (4, 3, 16)
  const h = L.concatenate({ axis: -1 }).apply([f, L.activation({ activation: 'relu6' }).apply(g) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  const i = L.conv2d({ filters: 6, kernelSize: 2, padding: 'valid', activation: 'sigmoid' }).apply(h) as tf.SymbolicTensor; // (3, 2, 6)
  const j = L.flatten().apply(i) as tf.SymbolicTensor; // 36, NHWC order
  let r = L.reshape({ targetShape: [2, 9, 2] }).apply(i) as tf.SymbolicTensor;
  r = L.conv2d({ filters: 3, kernelSize: [1, 2], activation: 'linear' }).apply(r) as tf.SymbolicTensor; // (2, 8, 3)
  const k = L.concatenate().apply([j, L.flatten().apply(r) as tf.SymbolicTensor]) as tf.SymbolicTensor; // 36 + 48
  let d = L.dense({ units: 10, activation: 'relu' }).apply(k) as tf.SymbolicTensor;
  d = L.batchNormalization({ epsilon: 0.001 }).apply(d) as tf.SymbolicTensor;
  d = L.dropout({ rate: 0.3 }).apply(d) as tf.SymbolicTensor;
  const out = L.dense({ units: 5, activation: 'softmax' }).apply(d) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: out });
}

test('functional model with every layer type equals TF.js', async () => {
  const tm = everyLayerModel();
  randomize(tm);
  const ckpt = await checkpointOf(tm);
  const { model, report } = kerasModelFromCheckpoint(ckpt);
  assert.is(report.loaded.length, ckpt.tensors.size);
  model.eval();
  const r1 = await compare((t) => model.forward(t), tm, [3, 3, 13, 11]);
  assert.equal(r1.shape, [3, 5]);
  const err = maxRelError(r1.got, r1.want);
  console.log(`  functional model vs TF.js: max rel error ${err.toExponential(2)}`);
  assert.ok(err <= 1e-5, `relative error ${err}`);
  // Keras' BN momentum m is PyTorch's 1 - m; its epsilon is kept.
  const bn = model.namedModules().find(([, mod]) => mod instanceof BatchNorm2d)![1] as BatchNorm2d;
  assert.ok(Math.abs(bn.momentum - 0.1) < 1e-12 && bn.eps === 0.01, `momentum ${bn.momentum}, eps ${bn.eps}`);
  // The graph has no pooling/Flatten chain to the output: a classifier needs the feature layer named.
  assert.throws(() => new KerasClassifier(ckpt.metadata.modelTopology), /featureLayer/);
  const concatName = model.topology.layers.filter((l) => l.className === 'Concatenate').at(-1)!.name;
  const cls = new KerasClassifier(ckpt.metadata.modelTopology, { featureLayer: concatName });
  assert.is(cls.featureDim, 84);
  assert.is(cls.outputActivation, 'softmax');
  cls.dispose();
  model.dispose();
  tm.dispose();
});

test('gradients through every layer type equal TF.js (eval mode)', async () => {
  const tm = everyLayerModel(true);
  randomize(tm);
  const ckpt = await checkpointOf(tm);
  const { model } = kerasModelFromCheckpoint(ckpt);
  model.eval();
  const xs = randArray(2 * 3 * 13 * 11), gs = randArray(2 * 5);
  tidy(() => {
    const loss = sum(mul(model.forward(tensor(xs, [2, 3, 13, 11])), tensor(gs, [2, 5])));
    backward(loss);
  });
  const input = tf.tensor(xs, [2, 3, 13, 11]).transpose([0, 2, 3, 1]);
  const vars = tm.trainableWeights;
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(tm.apply(input, { training: false }) as tf.Tensor, tf.tensor(gs, [2, 5]))) as tf.Scalar,
    vars.map((v) => (v as unknown as { val: tf.Variable }).val));
  // TF.js' gradients are in Keras layouts under the variables' names: the weight adapter maps them too.
  const host = new Map<string, HostTensor>();
  for (const v of vars) {
    const g = grads[(v as unknown as { val: tf.Variable }).val.name];
    host.set(v.originalName, { dtype: 'f32', shape: g.shape, data: await g.data() as Float32Array });
  }
  const want = kerasStateDict(host, model.topology);
  let worst = 0;
  for (const [k, p] of model.namedParameters()) {
    assert.ok(p.grad, `no gradient for ${k}`);
    const e = want.get(k);
    assert.ok(e, `TF.js has no gradient for ${k}`);
    assert.equal(p.grad!.shape, e!.shape, k);
    const err = maxRelError(await p.grad!.data(), e!.data);
    worst = Math.max(worst, err);
    assert.ok(err <= 1e-4, `${k}: gradient relative error ${err}`);
  }
  assert.is(want.size, model.namedParameters().length);
  console.log(`  gradients of ${want.size} parameters vs TF.js: max rel error ${worst.toExponential(2)}`);
  tf.dispose([input, ...Object.values(grads)]);
  for (const [, p] of model.namedParameters()) { p.grad?.dispose(); p.grad = null; }
  model.dispose();
  tm.dispose();
});

test('Sequential classifier: logits, BN without scale/center, head swap', async () => {
  const L = tf.layers;
  const tm = tf.sequential({ layers: [
    L.conv2d({ inputShape: [9, 10, 3], filters: 4, kernelSize: 3, padding: 'valid', activation: 'relu6' }),
    L.batchNormalization({ scale: false, center: false }),
    L.activation({ activation: 'linear' }),
    L.maxPooling2d({ poolSize: 2 }),
    L.conv2d({ filters: 6, kernelSize: 1, useBias: false }),
    L.globalMaxPooling2d({}),
    L.dense({ units: 3 }),
    L.softmax(),
  ] });
  randomize(tm);
  const ckpt = await checkpointOf(tm);
  const { model } = kerasClassifierFromCheckpoint(ckpt);
  assert.is(model.featureDim, 6);
  assert.is(model.outputActivation, 'softmax');
  checkGroups(model);
  model.eval();
  const xs = tensor(randArray(2 * 3 * 9 * 10), [2, 3, 9, 10]);
  await checkStages(model, xs);
  xs.dispose();
  // forward is the logits: compare with TF.js' model cut before its Softmax layer.
  const logitsModel = tf.model({ inputs: tm.inputs, outputs: tm.layers[6].output as tf.SymbolicTensor });
  const r = await compare((t) => model.forward(t), logitsModel, [2, 3, 9, 10]);
  assert.ok(maxRelError(r.got, r.want) <= 1e-5, `logits error ${maxRelError(r.got, r.want)}`);
  const p = await compare((t) => model.predict(t), tm, [2, 3, 9, 10]);
  assert.ok(maxRelError(p.got, p.want) <= 1e-5);
  model.replaceHead(7);
  const y = noGrad(() => tidy(() => model.forward(tensor(randArray(2 * 3 * 9 * 10), [2, 3, 9, 10]))));
  assert.equal(y.shape, [2, 7]);
  assert.equal(model.get(`${model.headPrefix}.weight`).shape, [7, 6]);
  y.dispose();
  model.dispose();
  tm.dispose();
});

test('pooled 1x1 conv head (darknet-style) moves after the pooling and still matches', async () => {
  const L = tf.layers;
  const tm = tf.sequential({ layers: [
    L.conv2d({ inputShape: [8, 8, 3], filters: 5, kernelSize: 3, padding: 'same', useBias: false }),
    L.leakyReLU({ alpha: 0.1 }),
    L.conv2d({ filters: 11, kernelSize: 1, padding: 'same', useBias: true }),
    L.globalAveragePooling2d({}),
  ] });
  randomize(tm);
  const { model } = kerasClassifierFromCheckpoint(await checkpointOf(tm));
  assert.is(model.featureDim, 5);
  assert.is(model.headPrefix, tm.layers[2].name);
  assert.equal(model.layerGroups(), [[tm.layers[0].name], [tm.layers[2].name]]);
  model.eval();
  const xs = tensor(randArray(2 * 3 * 8 * 8), [2, 3, 8, 8]);
  // One trunk group, so one stage, which the helper rejects; compose it by hand.
  assert.equal(model.stages().map((s) => s.prefixes), [[tm.layers[0].name]]);
  const [f1, f2] = noGrad(() => tidy(() => [model.features(xs), model.stages()[0].forward(xs)]));
  assert.equal(Array.from(await f1.data()), Array.from(await f2.data()));
  for (const t of [xs, f1, f2]) t.dispose();
  const r = await compare((t) => model.forward(t), tm, [2, 3, 8, 8]);
  assert.ok(maxRelError(r.got, r.want) <= 1e-5, `error ${maxRelError(r.got, r.want)}`);
  model.replaceHead(4);
  assert.equal(model.get(`${model.headPrefix}.weight`).shape, [4, 5, 1, 1]);
  model.dispose();
  tm.dispose();
});

test('kerasStateDict: layouts by layer class, scoped names, unknown names kept', () => {
  const topo = parseTopology({ class_name: 'Sequential', config: { name: 's', layers: [
    { class_name: 'Conv2D', config: { name: 'c', batch_input_shape: [null, 4, 4, 2], filters: 3, kernel_size: [1, 2] } },
    { class_name: 'DepthwiseConv2D', config: { name: 'd', kernel_size: [1, 1], depth_multiplier: 2 } },
  ] } });
  const h = (shape: number[]): HostTensor => ({ dtype: 'f32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i) });
  const sd = kerasStateDict(new Map([['model/c/kernel:0', h([1, 2, 2, 3])], ['d/depthwise_kernel', h([1, 1, 3, 2])], ['other/thing', h([2])]]), topo);
  assert.equal([...sd.keys()], ['c.weight', 'd.weight', 'other/thing']);
  const c = sd.get('c.weight')!;
  assert.equal(c.shape, [3, 2, 1, 2]);
  // OIHW[o][i][0][w] = HWIO[0][w][i][o]: o=1, i=1, w=1 → index (1*2 + 1)*3 + 1 = 10
  assert.is(c.data[((1 * 2 + 1) * 1 + 0) * 2 + 1], 10);
  assert.equal(sd.get('d.weight')!.shape, [6, 1, 1, 1]);
  assert.equal(Array.from(sd.get('d.weight')!.data), [0, 1, 2, 3, 4, 5]); // channel i*mult + m
});

test('Keras 3 topology (keras_history call args, batch_shape, single endpoints)', async () => {
  const kt = (name: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 4, 4, 2], dtype: 'float32', keras_history: [name, 0, 0] } });
  const topo = { class_name: 'Functional', config: { name: 'f', input_layers: ['inp', 0, 0], output_layers: ['d', 0, 0], layers: [
    { class_name: 'InputLayer', name: 'inp', config: { name: 'inp', batch_shape: [null, 4, 4, 2] }, inbound_nodes: [] },
    { class_name: 'Conv2D', name: 'c', config: { name: 'c', filters: 2, kernel_size: [1, 1], use_bias: false }, inbound_nodes: [{ args: [kt('inp')], kwargs: {} }] },
    { class_name: 'Add', name: 'a', config: { name: 'a' }, inbound_nodes: [{ args: [[kt('inp'), kt('c')]], kwargs: {} }] },
    { class_name: 'GlobalAveragePooling2D', name: 'g', config: { name: 'g' }, inbound_nodes: [{ args: [kt('a')], kwargs: {} }] },
    { class_name: 'Dense', name: 'd', config: { name: 'd', units: 3 }, inbound_nodes: [{ args: [kt('g')], kwargs: {} }] },
  ] } };
  const m = new KerasClassifier(topo);
  assert.equal(m.topology.layers.map((l) => [l.name, l.inputs]), [['inp', []], ['c', ['inp']], ['a', ['inp', 'c']], ['g', ['a']], ['d', ['g']]]);
  assert.equal([m.featureDim, m.headPrefix, m.outputActivation], [2, 'd', 'linear']);
  // With an identity 1x1 conv, a = 2x, so the features are twice the input's channel means.
  m.setTensor('c.weight', tensor([1, 0, 0, 1], [2, 2, 1, 1]));
  const x = randArray(2 * 4 * 4);
  const f = noGrad(() => tidy(() => m.features(tensor(x, [1, 2, 4, 4]))));
  const want = [0, 1].map((c) => (2 * x.slice(c * 16, c * 16 + 16).reduce((a, b) => a + b, 0)) / 16);
  assert.ok(maxRelError(await f.data(), want) < 1e-6);
  f.dispose();
  m.dispose();
});

test('unsupported topologies fail with the layer named', () => {
  const seq = (layers: object[]) => ({ class_name: 'Sequential', config: { name: 's', layers } });
  const inp = { batch_input_shape: [null, 8, 8, 3] };
  assert.throws(() => new KerasModel(seq([{ class_name: 'LSTM', config: { name: 'lstm_1', ...inp } }])), /'lstm_1' has type LSTM, which is not supported/);
  assert.throws(() => new KerasModel(seq([{ class_name: 'Conv2D', config: { name: 'c1', ...inp, filters: 2, kernel_size: 3, data_format: 'channels_first' } }])), /channels_last only/);
  assert.throws(() => new KerasModel(seq([{ class_name: 'Conv2D', config: { name: 'c1', ...inp, filters: 2, kernel_size: 3, padding: 'causal' } }])), /padding 'causal'/);
  assert.throws(() => new KerasModel(seq([{ class_name: 'Dense', config: { name: 'd1', ...inp, units: 2 } }])), /Flatten or pool first/);
  assert.throws(() => new KerasModel(seq([{ class_name: 'Activation', config: { name: 'a1', ...inp, activation: 'selu' } }])), /activation 'selu' is not supported/);
  const shared = { class_name: 'Model', config: { name: 'm', input_layers: [['i', 0, 0]], output_layers: [['c', 1, 0]], layers: [
    { class_name: 'InputLayer', name: 'i', config: { name: 'i', ...inp }, inbound_nodes: [] },
    { class_name: 'Conv2D', name: 'c', config: { name: 'c', filters: 3, kernel_size: 1 }, inbound_nodes: [[['i', 0, 0, {}]], [['c', 0, 0, {}]]] },
  ] } };
  assert.throws(() => new KerasModel(shared), /'c' is called 2 times/);
});

test('another input size: AveragePooling2D(whole map) → Flatten pools globally, matching TF.js with a global pool', async () => {
  const build = (size: number, global: boolean) => {
    const inp = tf.input({ shape: [size, size, 3] });
    const c = tf.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'c' }).apply(inp) as tf.SymbolicTensor;
    const p = (global ? tf.layers.globalAveragePooling2d({ name: 'p' }) : tf.layers.averagePooling2d({ poolSize: 6, name: 'p' })).apply(c) as tf.SymbolicTensor;
    const f = global ? p : tf.layers.flatten({ name: 'f' }).apply(p) as tf.SymbolicTensor;
    const d = tf.layers.dense({ units: 3, name: 'd' }).apply(f) as tf.SymbolicTensor;
    return tf.model({ inputs: inp, outputs: d });
  };
  const stored = build(12, false);
  randomize(stored);
  const ck = await checkpointOf(stored);
  const ref = build(19, true);
  ref.setWeights(stored.getWeights());
  const { model } = kerasClassifierFromCheckpoint(ck, { inputShape: [3, 19, 19] });
  assert.is(model.featureDim, 5);
  const r = await compare((x) => model.forward(x), ref, [2, 3, 19, 19]);
  assert.ok(maxRelError(r.got, r.want) < 1e-5, `max rel error ${maxRelError(r.got, r.want)}`);
  // At the stored size nothing changes.
  const same = kerasClassifierFromCheckpoint(ck, { inputShape: [3, 12, 12] }).model;
  const r12 = await compare((x) => same.forward(x), stored, [2, 3, 12, 12]);
  assert.ok(maxRelError(r12.got, r12.want) < 1e-5, `stored size: ${maxRelError(r12.got, r12.want)}`);
  for (const m of [model, same]) m.dispose();
  for (const m of [stored, ref]) m.dispose();
});

test('ZeroPadding2D feeding only a valid conv is folded into the conv: same output as TF.js, no pad kernel, same gradients', async () => {
  const inp = tf.input({ shape: [15, 13, 4] });
  const p1 = tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 1]], name: 'p1' }).apply(inp) as tf.SymbolicTensor;
  const c1 = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'valid', name: 'c1' }).apply(p1) as tf.SymbolicTensor;
  const p2 = tf.layers.zeroPadding2d({ padding: 1, name: 'p2' }).apply(c1) as tf.SymbolicTensor;
  const d2 = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', depthMultiplier: 2, name: 'd2' }).apply(p2) as tf.SymbolicTensor;
  // p3 feeds two layers: it stays a pad.
  const p3 = tf.layers.zeroPadding2d({ padding: 1, name: 'p3' }).apply(d2) as tf.SymbolicTensor;
  const a = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'valid', name: 'a' }).apply(p3) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'valid', name: 'b' }).apply(p3) as tf.SymbolicTensor;
  const out = tf.layers.add({ name: 'out' }).apply([a, b]) as tf.SymbolicTensor;
  const km = tf.model({ inputs: inp, outputs: out });
  randomize(km);
  const { model } = kerasModelFromCheckpoint(await checkpointOf(km));
  const rt = (await setup());
  const before = rt.dispatchByName.get('pad2d') ?? 0;
  const r = await compare((x) => model.forward(x), km, [2, 4, 15, 13]);
  assert.equal(r.shape, r.wantShape);
  assert.ok(maxRelError(r.got, r.want) < 1e-5, `max rel error ${maxRelError(r.got, r.want)}`);
  assert.is((rt.dispatchByName.get('pad2d') ?? 0) - before, 1, 'only the shared pad p3 runs a pad kernel');
  // Weight gradients of the folded convs against the explicit pad + valid conv.
  const xs = randArray(2 * 4 * 15 * 13);
  const { pad2d } = await import('../../kernels/pad/pad.ts');
  const { conv2d } = await import('../../kernels/conv2d/conv2d.ts');
  const grads = async (folded: boolean) => {
    const c1m = model.namedModules().find(([k]) => k === 'c1')![1] as any, d2m = model.namedModules().find(([k]) => k === 'd2')![1] as any;
    for (const m of [c1m, d2m]) { m.weight.requiresGrad = true; m.weight.grad = null; }
    tidy(() => {
      const x = tensor(xs, [2, 4, 15, 13]);
      let y: ReturnType<typeof tensor>;
      if (folded) y = (model as any).layer('d2').op([(model as any).layer('c1').op([x], c1m)], d2m);
      else {
        const h = conv2d(pad2d(x, [1, 2, 0, 1]), c1m.weight, c1m.bias, { stride: 2 });
        y = conv2d(pad2d(h, [1, 1, 1, 1]), d2m.weight, d2m.bias, { stride: 2, groups: 6 });
      }
      backward(sum(mul(y, y)));
    });
    const out = [await c1m.weight.grad.data(), await d2m.weight.grad.data()];
    for (const m of [c1m, d2m]) { m.weight.grad.dispose(); m.weight.grad = null; }
    return out;
  };
  const [f, u] = [await grads(true), await grads(false)];
  for (let i = 0; i < 2; i++) assert.ok(maxRelError(f[i], u[i]) < 1e-5, `grad ${i}: ${maxRelError(f[i], u[i])}`);
  model.dispose();
  km.dispose();
});

test.run();
