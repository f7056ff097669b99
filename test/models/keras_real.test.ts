/**
 * The two real Keras checkpoints through the builder:
 * - darknet-tiny (../shared/checkpoints/darknet-tiny): logits equal the float64 torch rebuild in
 *   test/fixtures/models/darknet.json (make_model_fixtures.py), and the top-1 classes are the ones
 *   ml5 reports ("Egyptian cat" for chelsea.png, "espresso" for coffee.png);
 * - nsfwjs's MobileNetV2 (node_modules/nsfwjs): features and probabilities equal TF.js's own run of
 *   the same model.json (cpu backend) on the same input.
 * Both skip with a message when their files are absent.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from '../helpers.ts';
import { FIXTURES, ROOT, SHARED, checkGroups, checkStages, haveShared, maxAbsError, maxRelError, topK } from './helpers.ts';
import { loadCheckpointFile } from '../../engine/io/fs.ts';
import { extractUmdTfjsModel } from '../../engine/io/umd.ts';
import { readImage } from '../../engine/data/image.ts';
import { preprocess, type PreprocessSpec } from '../../engine/data/preprocess.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, noGrad } from '../../engine/core/tensor.ts';
import { darknetTiny, nsfwjsMobileNetV2 } from '../../models/keras/zoo.ts';
import { getZooEntry } from '../../models/zoo.ts';

test.before(async () => { await setup(); });

const IMAGES = ['chelsea', 'coffee'] as const;

/** Both images, preprocessed by the zoo spec, as one (2, 3, H, W) batch. */
function batch(spec: PreprocessSpec): Float32Array {
  const xs = IMAGES.map((n) => preprocess(readImage(join(SHARED, 'images', `${n}.png`)), spec));
  const out = new Float32Array(xs[0].length * 2);
  out.set(xs[0]);
  out.set(xs[1], xs[0].length);
  return out;
}

const softmax = (v: ArrayLike<number>) => {
  const m = Math.max(...Array.from(v)), e = Array.from(v, (x) => Math.exp(x - m)), s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

test('darknet-tiny: torch logits within 1e-4, Egyptian cat and espresso first', async () => {
  if (!haveShared('checkpoints/darknet-tiny') || !haveShared('images')) return;
  const dir = join(SHARED, 'checkpoints/darknet-tiny');
  const { model, report } = darknetTiny(await loadCheckpointFile(join(dir, 'model.json')));
  try {
    assert.is(report.loaded.length, 77);
    assert.equal([report.unexpected, report.mismatched], [[], []]);
    // The 1x1 1000-filter conv before the pooling is the head, applied to the pooled 128 features.
    assert.is(model.headPrefix, 'conv2d_16');
    assert.is(model.featureDim, 128);
    assert.equal(model.get('conv2d_16.weight').shape, [1000, 128, 1, 1]);
    assert.is(model.layerGroups().length, 16);
    checkGroups(model);
    const labels: string[] = JSON.parse(readFileSync(join(dir, 'labels.json'), 'utf8'));
    const fx = JSON.parse(readFileSync(join(FIXTURES, 'darknet.json'), 'utf8'));
    model.eval();
    const x = tensor(batch(model.preprocessing!), [2, 3, 224, 224]);
    const y = noGrad(() => tidy(() => model.forward(x)));
    assert.equal(y.shape, [2, 1000]);
    assert.is(model.stages().length, 15);
    const one = tensor((await x.data()).subarray(0, 3 * 224 * 224), [1, 3, 224, 224]);
    await checkStages(model, one);
    one.dispose(); x.dispose();
    const all = await y.data();
    y.dispose();
    IMAGES.forEach((name, i) => {
      const logits = all.subarray(i * 1000, (i + 1) * 1000);
      const err = maxRelError(logits, fx[name].logits);
      const p = softmax(logits);
      const top = topK(logits, 5);
      console.log(`  darknet-tiny ${name}.png: ${top.map((j) => `${labels[j]} ${(100 * p[j]).toFixed(1)}%`).join(', ')}`);
      console.log(`    max |Δlogit| / max |logit| vs torch (float64) = ${err.toExponential(2)}`);
      assert.ok(err <= 1e-4, `${name}: relative error ${err}`);
      assert.equal(top.map((j) => labels[j]), fx[name].top5, `${name} top-5`);
    });
    assert.is(labels[topK(all.subarray(0, 1000), 1)[0]], 'Egyptian cat');
    assert.is(labels[topK(all.subarray(1000), 1)[0]], 'espresso');
  } finally {
    model.dispose();
  }
});

const nsfwDir = [process.env.NSFWJS_DIR, join(ROOT, 'node_modules/nsfwjs')].filter(Boolean)
  .map((p) => join(p!, 'dist/models/mobilenet_v2')).find((p) => existsSync(join(p, 'model.min.js')));

test('nsfwjs MobileNetV2: features and probabilities equal TF.js on the same input', async () => {
  if (!nsfwDir) { console.log('  skip: nsfwjs is not installed (node_modules/nsfwjs or NSFWJS_DIR)'); return; }
  if (!haveShared('images')) return;
  const { model, report } = nsfwjsMobileNetV2(await loadCheckpointFile(join(nsfwDir, 'model.min.js')));
  try {
    assert.is(report.loaded.length, 266);
    assert.equal([model.featureDim, model.headPrefix, model.headLayers, model.outputActivation], [1280, 'dense_3', ['dense_1', 'dense_2', 'dense_3'], 'softmax']);
    assert.is(model.layerGroups().length, 20); // stem, expanded_conv, block_1..16, Conv_1, head
    assert.is(model.kerasFrozen.length, 66); // the parametric layers among the 98 Keras marks untrainable
    checkGroups(model);
    model.eval();
    const x = batch(model.preprocessing!);
    const t = tensor(x, [2, 3, 224, 224]);
    const [f, p] = noGrad(() => tidy(() => [model.features(t), model.predict(t)]));
    // Cut where no residual crosses: stem, expanded_conv, block_1..16 (one stage per block), Conv_1 + pool.
    assert.equal(model.stages().map((s) => s.name), ['stem', 'expanded_conv', ...Array.from({ length: 16 }, (_, i) => `block_${i + 1}`), 'Conv_1']);
    const one = tensor(x.subarray(0, 3 * 224 * 224), [1, 3, 224, 224]);
    await checkStages(model, one);
    one.dispose(); t.dispose();
    const ours = { f: await f.data(), p: await p.data() };
    f.dispose(); p.dispose();

    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    const umd = (file: string) => extractUmdTfjsModel(readFileSync(join(nsfwDir, file), 'utf8'));
    const m = umd('model.min.js'), s = umd('group1-shard1of1.min.js');
    assert.ok(m.kind === 'model' && s.kind === 'shard');
    const mj = (m as { model: any }).model, bytes = (s as { bytes: Uint8Array }).bytes;
    const tm = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: mj.modelTopology, weightSpecs: mj.weightsManifest[0].weights,
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    }));
    const both = tf.model({ inputs: tm.inputs, outputs: [tm.getLayer('flatten_1').output as any, tm.outputs[0]] });
    const input = tf.tensor4d(x, [2, 3, 224, 224]).transpose([0, 2, 3, 1]); // NCHW → NHWC, same values
    const [tf_f, tf_p] = both.predict(input) as any[];
    const ref = { f: await tf_f.data() as Float32Array, p: await tf_p.data() as Float32Array };
    tf.dispose([input, tf_f, tf_p]);
    tm.dispose();

    const fErr = maxRelError(ours.f, ref.f), pErr = maxAbsError(ours.p, ref.p);
    const classes = getZooEntry('mobilenetv2-nsfwjs').labels as readonly string[];
    IMAGES.forEach((n, i) => console.log(`  nsfwjs ${n}.png: ${Array.from(ours.p.subarray(i * 5, i * 5 + 5), (v, j) => `${classes[j]} ${v.toFixed(5)}`).join(', ')}`));
    console.log(`    vs TF.js: features max |Δ| / max |f| = ${fErr.toExponential(2)}, probabilities max |Δ| = ${pErr.toExponential(2)}`);
    assert.ok(fErr <= 1e-4, `features: relative error ${fErr}`);
    assert.ok(pErr <= 1e-4, `probabilities: error ${pErr}`);
    assert.is(topK(ours.p.subarray(0, 5), 1)[0], 2, 'the cat is Neutral');
  } finally {
    model.dispose();
  }
});

test.run();
