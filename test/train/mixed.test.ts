// Mixed precision as torch.autocast + GradScaler: the autocast policy (matmuls on f16 operands cast
// once per region from f32 masters whose gradients come back f32; loss in f32; an op without an f16
// kernel gets f32 inputs), dynamic loss scaling (unscale and Inf check on the GPU, a skipped step
// leaves weights and state bitwise unchanged, the scale halves and grows), and finetune's 'mixed'
// (close to f32 from the same init, a forced overflow counted, replay bitwise as eager).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { setup, rand, randArray, assertClose } from '../helpers.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { tensor } from '../../engine/core/factory.ts';
import { variable } from '../../engine/core/tape.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { SWIFTSHADER_ICD } from '../../engine/core/device.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { linear, conv2d, crossEntropy, add, sum, permute, autocast, autocasting } from '../../kernels/index.ts';
import { SGD, Adam, LossScaler } from '../../engine/optim/index.ts';
import { adamRef } from '../../kernels/optim/reference.ts';
import { finetune, computeFeatures } from '../../engine/train/finetune.ts';
import { freeze } from '../../engine/train/freeze.ts';
import { arrayDataset } from '../../engine/data/dataset.ts';
import { KerasClassifier } from '../../models/keras/index.ts';

test.before(async () => { await setup(); });

/** IEEE half's unit roundoff: a value rounded to f16 moves by at most u times its magnitude. */
const U = 2 ** -11;
const bits = async (t: { data(): Promise<Float32Array | Int32Array> }) => Array.from(new Uint32Array((await t.data()).buffer));

test('autocast: linear takes f16 operands (each weight cast once per region), the loss f32, ops without f16 kernels f32 inputs; master grads are f32 and match f32', async () => {
  const N = 5 + Math.floor(rand() * 4), D = 7 + Math.floor(rand() * 9), C = 3 + Math.floor(rand() * 3);
  const xh = randArray(N * D), wh = randArray(C * D, -0.5, 0.5);
  const x = tensor(xh, [N, D]);
  const w = variable(tensor(wh, [C, D]), 'w'), b = variable(tensor(randArray(C), [C]), 'b');
  const y = tensor(Int32Array.from({ length: N }, () => Math.floor(rand() * C)), [N], 'i32');
  const grads: Float32Array[][] = [];
  for (const mixed of [false, true]) {
    tidy(() => {
      const casts0 = runtime().dispatchByName.get('cast') ?? 0;
      const forward = () => {
        const h1 = linear(x, w, b), h2 = linear(x, w, b);
        assert.is(h1.dtype, mixed ? 'f16' : 'f32', 'linear output');
        // sum and permute have no f16 kernel: under autocast they get f32 inputs instead of refusing.
        assert.is(sum(permute(h1, [1, 0])).dtype, 'f32');
        return crossEntropy(add(h1, h2), y);
      };
      const loss = mixed ? autocast(forward) : forward();
      // x twice (it is not a weight), w once (the bias stays f32: the matmul adds it in f32), then h1
      // back to f32 for permute and h1 + h2 for the loss: 5.
      if (mixed) assert.is((runtime().dispatchByName.get('cast') ?? 0) - casts0, 5, 'casts in the forward');
      assert.is(loss.dtype, 'f32', 'the loss runs in f32');
      backward(loss);
    });
    assert.is(w.grad!.dtype, 'f32');
    assert.is(b.grad!.dtype, 'f32');
    grads.push([await w.grad!.data() as Float32Array, await b.grad!.data() as Float32Array]);
    w.grad!.dispose(); b.grad!.dispose(); w.grad = null; b.grad = null;
  }
  assert.not.ok(autocasting());
  // Error bound of the f16 path. Rounding x and w (u each) and the logits (u) moves each logit by at
  // most dz = 3u * max_n,c sum_d |w||x|; softmax's row of partials sums to at most 1/2 in absolute
  // value, and h1 + h2 doubles dz, so each probability moves by at most dz. The logits' gradient
  // ((p - onehot) / N, then rounded: u) and dW (rounded to f16: u) add 2u relative to terms of at
  // most 1/N each, and dW sums N of them times |x| on two paths: |dW error| <= 2 max|x| (dz + 3u),
  // |db error| <= 2 (dz + 2u).
  let zmax = 0;
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    let z = 0;
    for (let d = 0; d < D; d++) z += Math.abs(wh[c * D + d] * xh[n * D + d]);
    zmax = Math.max(zmax, z);
  }
  const dz = 3 * U * zmax, xmax = Math.max(...Array.from(xh, Math.abs));
  assertClose(grads[1][0], grads[0][0], 0, 2 * xmax * (dz + 3 * U), 'dW');
  assertClose(grads[1][1], grads[0][1], 0, 2 * (dz + 2 * U), 'db');
  assert.ok(grads[1][0].some((v, i) => v !== grads[0][0][i]), 'the f16 path rounds');
  // Outside a region nothing is cast: f16 + f32 refuses (inside, it would run in f32).
  const h = autocast(() => linear(x, w, b)), h32 = linear(x, w, b);
  assert.throws(() => add(h, h32), /cast\(\) one so both match/);
  for (const t of [x, w, b, y, h, h32]) t.dispose();
});

test('autocast conv2d: f16 unless grouped, or trainable with an input that needs no gradient (the stem, the first conv after a frozen prefix)', async () => {
  const [n, c, h, w] = [2, 3, 5 + Math.floor(4 * rand()), 6 + Math.floor(4 * rand())];
  const x = tensor(randArray(n * c * h * w), [n, c, h, w]);
  const wt = variable(tensor(randArray(4 * c * 9), [4, c, 3, 3]));
  const wFrozen = tensor(randArray(4 * c * 9), [4, c, 3, 3]);
  const xg = variable(tensor(randArray(n * c * h * w), [n, c, h, w]));
  const dw = tensor(randArray(c * 9), [c, 1, 3, 3]);
  const dtypes = autocast(() => tidy(() => ({
    stem: conv2d(x, wt, null, { padding: 1 }).dtype,
    frozen: conv2d(x, wFrozen, null, { padding: 1 }).dtype,
    inner: conv2d(xg, wt, null, { padding: 1 }).dtype,
    depthwise: conv2d(xg, dw, null, { padding: 1, groups: c }).dtype,
  })));
  assert.equal(dtypes, { stem: 'f32', frozen: 'f16', inner: 'f16', depthwise: 'f32' });
  for (const t of [x, wt, wFrozen, xg, dw]) t.dispose();
});

test('LossScaler: unscale divides by the scale and flags Inf/NaN; a flagged step leaves parameters and state bitwise unchanged, does not count as an Adam step and halves the scale; interval good steps double it', async () => {
  const n = 37 + Math.floor(rand() * 50);
  for (const kind of ['sgd', 'adam'] as const) {
    const p0 = randArray(n);
    const p = variable(tensor(p0, [n]), 'p');
    const opt = kind === 'sgd' ? new SGD([p], { lr: 0.1, momentum: 0.9 }) : new Adam([p], { lr: 0.01 });
    const scaler = new LossScaler({ init: 8, interval: 2 });
    const g = randArray(n);
    const stepWith = (scale: number, bad: number) => {
      const gs = Float32Array.from(g, (v) => v * scale);
      if (bad === 1) gs[Math.floor(rand() * n)] = Infinity;
      if (bad === 2) gs[Math.floor(rand() * n)] = NaN;
      p.grad = tensor(gs, [n]);
      scaler.unscale([p]);
      scaler.step(opt);
      opt.zeroGrad();
    };
    // A first step with an Inf: nothing moves, the fresh state is zeroed, the scale halves.
    stepWith(8, 1);
    assert.equal(await bits(p), Array.from(new Uint32Array(p0.buffer)), `${kind}: the skipped step left the parameter unchanged`);
    for (const s of Object.values(opt.stateOf(p)!.buffers)) assert.ok((await s.data()).every((v) => v === 0), `${kind}: fresh state zeroed`);
    assert.equal(await scaler.read(), { scale: 4, skipped: 1 });
    stepWith(4, 2);
    assert.equal(await bits(p), Array.from(new Uint32Array(p0.buffer)), `${kind}: a NaN skips too`);
    assert.equal(await scaler.read(), { scale: 2, skipped: 2 });
    // A good step: the gradient unscaled exactly (a power of two), the update as from g itself.
    stepWith(2, 0);
    const now = await p.data();
    // Adam's reference from p0: the skipped steps do not count (torch's GradScaler skips
    // optimizer.step()), so the good steps are its steps 1 and 2, with their bias corrections.
    const ref = Float32Array.from(p0), m = new Float32Array(n), v = new Float32Array(n);
    const adamStep = (step: number) => adamRef(ref, g, m, v, { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, step });
    // The kernel computes the bias corrections in f32 from its GPU step count (pow in f32; 1 - 0.999
    // rounded to f32 alone is 1.3e-5 off): each update (about lr in size) within 1e-4 of its size.
    const rtol = 1e-6, atol = 0.01 * 1e-4;
    if (kind === 'sgd') assertClose(now, Float32Array.from(p0, (v, i) => Math.fround(v - Math.fround(0.1 * g[i]))), 1e-6, 1e-7, 'sgd after skips: buffer restarted from g');
    else { adamStep(1); assertClose(now, ref, rtol, atol, 'adam after two skipped steps: its step 1'); }
    assert.equal(await scaler.read(), { scale: 2, skipped: 2 }, 'one good step of interval 2');
    stepWith(2, 0);
    assert.equal(await scaler.read(), { scale: 4, skipped: 2 }, 'two good steps in a row double the scale');
    if (kind === 'adam') {
      adamStep(2);
      assertClose(await p.data(), ref, rtol, 2 * atol, 'adam: its step 2');
      assert.is(opt.stateOf(p)!.step, 4, 'the host counts every step taken');
      assert.is((await opt.stateDict()).state['0'].step, 2, 'the state dict counts the good steps');
    }
    scaler.dispose();
    opt.dispose();
    p.dispose();
  }
  assert.throws(() => new LossScaler({ backoff: 2 }), /backoff must be in \(0, 1\), got 2/);
});

const S = 4, CH = 3, K = 3;

/** A tiny Keras classifier: Conv2D 1x1 → BatchNorm → Flatten → Dense(K), seeded. */
function tiny(seed: number): KerasClassifier {
  const layers = [
    { class_name: 'Conv2D', config: { name: 'c', batch_input_shape: [null, S, S, CH], filters: 2, kernel_size: 1 } },
    { class_name: 'BatchNormalization', config: { name: 'bn' } },
    { class_name: 'Flatten', config: { name: 'f' } },
    { class_name: 'Dense', config: { name: 'd', units: K } },
  ];
  let s = seed;
  return new KerasClassifier({ class_name: 'Sequential', config: { name: 't', layers } }, { rng: () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) });
}

function data(n: number): { x: Float32Array; y: Int32Array } {
  return { x: randArray(n * CH * S * S), y: Int32Array.from({ length: n }, () => Math.floor(rand() * K)) };
}

async function state(m: KerasClassifier): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of m.stateDict()) out.set(k, (await t.data()) as Float32Array);
  return out;
}

test("finetune 'mixed' ends close to 'f32' from the same init: the head trains on f16 operands with f32 masters", async () => {
  const { x, y } = data(24);
  const seed = (rand() * 2 ** 32) >>> 0, steps = 2 * 3, lr = 0.05;
  const ends: Map<string, Float32Array>[] = [];
  let feats: Float32Array = new Float32Array(0);
  for (const precision of ['f32', 'mixed'] as const) {
    const m = tiny(seed);
    freeze(m, /^(c|bn)\./);
    feats = await computeFeatures(m, arrayDataset(x, y), 8);
    const lines: string[] = [];
    const r = await finetune(m, arrayDataset(x, y), null, { epochs: 2, batchSize: 8, lr, momentum: 0, numClasses: K, seed: 3, precision, log: (l) => lines.push(l) });
    assert.is(r.precision, precision);
    assert.is(r.skippedSteps, 0, 'a scale of 2^16 does not overflow this head');
    assert.ok(r.peakGpuBytes > 0);
    assert.is(r.featureCacheBytes, 24 * 2 * S * S * (precision === 'mixed' ? 2 : 4), 'the cache holds f16 in mixed');
    if (precision === 'mixed') assert.ok(lines.some((l) => /^loss scale 65536 after epoch 2; 0 step\(s\) skipped so far/.test(l)), lines.join('\n'));
    ends.push(await state(m));
    m.dispose();
  }
  // The bound of the autocast test, per step: the head's gradient moves by at most 2 F (dz + 4u)
  // (one path, and the features themselves rounded to f16 in mixed's cache: one more u), with F the
  // largest feature and dz = 3u D F max|w| (D features); plain SGD moves the weights by lr times
  // that per step, and over `steps` steps by at most steps times it (earlier drift changes later
  // gradients by far less at lr 0.05: allow a factor of 2).
  const F = Math.max(...Array.from(feats, Math.abs)), Dm = 2 * S * S, wmax = 1;
  const tol = 2 * steps * lr * 2 * F * (3 * U * Dm * F * wmax + 4 * U);
  for (const [k, a] of ends[0]) {
    const d = Math.max(...Array.from(a, (v, i) => Math.abs(v - ends[1].get(k)![i])));
    assert.ok(d <= tol, `${k}: max |mixed - f32| ${d} > ${tol}`);
  }
  assert.ok([...ends[0]].some(([k, a]) => a.some((v, i) => v !== ends[1].get(k)![i])), 'mixed computed something different from f32');
});

test('a forced overflow (loss scale 2^100): the step is skipped on the GPU, the scale halves, the weights stay bitwise, the result counts it', async () => {
  const { x, y } = data(8);
  const m = tiny((rand() * 2 ** 32) >>> 0);
  const before = await state(m);
  const r = await finetune(m, arrayDataset(x, y), null, { epochs: 1, batchSize: 8, lr: 0.1, numClasses: K, featureCache: 'off', seed: 1, precision: 'mixed', lossScale: { init: 2 ** 100 } });
  assert.is(r.skippedSteps, 1);
  assert.is(r.lossScale, 2 ** 99);
  const after = await state(m);
  for (const [k, t] of m.trainableParameters()) assert.equal(Array.from(new Uint32Array(after.get(k)!.buffer)), Array.from(new Uint32Array(before.get(k)!.buffer)), `${k} (${t.shape})`);
  m.dispose();
});

test("'mixed' with the whole network training: the recorded step replays bitwise as the eager run, skips included; 'f16' is refused in one line", async () => {
  const k = 4, n = 4 * k;
  const { x, y } = data(n);
  const seed = (rand() * 2 ** 32) >>> 0;
  const runs = [], states = [];
  for (const replay of [false, true]) {
    const m = tiny(seed);
    // 2^40 overflows f16 for the first steps: skips happen inside the replayed steps too.
    runs.push(await finetune(m, arrayDataset(x, y), null, { epochs: 2, batchSize: 4, lr: 0.01, optimizer: 'adam', numClasses: K, featureCache: 'off', seed: 3, replay, precision: 'mixed', lossScale: { init: 2 ** 40 } }));
    states.push(await state(m));
    m.dispose();
  }
  assert.is(runs[1].replayReason, '');
  assert.is(runs[1].replayedSteps, 2 * k - 2);
  assert.ok(runs[0].skippedSteps >= 1, `skipped ${runs[0].skippedSteps}`);
  assert.equal([runs[1].skippedSteps, runs[1].lossScale], [runs[0].skippedSteps, runs[0].lossScale]);
  assert.equal(runs[1].epochs.map((e) => [e.loss, e.trainAcc]), runs[0].epochs.map((e) => [e.loss, e.trainAcc]));
  for (const [key, a] of states[0]) assert.equal(Array.from(new Uint32Array(states[1].get(key)!.buffer)), Array.from(new Uint32Array(a.buffer)), key);
  const m = tiny(1);
  const e = await finetune(m, arrayDataset(x, y), null, { epochs: 1, batchSize: 4, lr: 0.01, numClasses: K, precision: 'f16' }).then(() => new Error("no error"), (err: Error) => err);
  assert.match(String(e.message), /^precision 'f16' \(weights held in f16, no f32 masters\) is refused: .*use 'mixed'/);
  m.dispose();
});

test("SwiftShader: finetune precision 'mixed' fails naming shader-f16 before it reads any data", () => {
  if (!existsSync(SWIFTSHADER_ICD)) return;
  const script = `
    import { init } from './engine/core/runtime.ts';
    import { finetune } from './engine/train/finetune.ts';
    import { KerasClassifier } from './models/keras/index.ts';
    await init();
    const m = new KerasClassifier({ class_name: 'Sequential', config: { name: 't', layers: [{ class_name: 'Flatten', config: { name: 'f', batch_input_shape: [null, 4, 4, 3] } }, { class_name: 'Dense', config: { name: 'd', units: 3 } }] } });
    const ds = { length: 8, get() { throw new Error('data was read'); } };
    try { await finetune(m, ds, null, { epochs: 1, batchSize: 4, lr: 0.1, numClasses: 3, precision: 'mixed' }); console.log('no error'); }
    catch (e) { console.log(e.kind + ': ' + e.message); }
    process.exit(0);`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, THAW_ADAPTER: 'swiftshader', VK_ICD_FILENAMES: SWIFTSHADER_ICD }, cwd: new URL('../..', import.meta.url).pathname, encoding: 'utf8',
  });
  const lines = out.trim().split('\n').filter((l) => !l.startsWith('Warning'));
  assert.is(lines.length, 1, out);
  assert.match(lines[0], /^no-shader-f16: precision 'mixed' needs the WebGPU feature 'shader-f16', which this adapter \(swiftshader.*\) does not offer/);
});

test.run();
