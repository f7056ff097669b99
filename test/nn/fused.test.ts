// Fused convolutions: conv2d's ReLU/ReLU6 epilogue (forward and backward equal conv then activation,
// no extra dispatch in the GEMM and Winograd kernels), and frozen conv + frozen BatchNorm folded into
// one conv (computed once, recomputed after unfreeze/freeze and checkpoint loads, state dicts untouched).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, type Tensor, noGrad } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { conv2d, type Conv2dOptions } from '../../kernels/conv2d/conv2d.ts';
import { unary, binary, addRelu, add } from '../../kernels/elementwise/elementwise.ts';
import { subgroupLanes } from '../../kernels/conv2d/launch.ts';
import { Module } from '../../engine/nn/module.ts';
import { Conv2d, BatchNorm2d } from '../../engine/nn/index.ts';
import { convBnAct, canFold, setConvBnFolding, releaseFold } from '../../engine/nn/fused.ts';
import * as fused from '../../engine/nn/fused.ts';
import { freeze, unfreeze, freezeTo } from '../../engine/train/freeze.ts';
import { loadStateDict } from '../../engine/train/load.ts';
import { resnet20 } from '../../models/resnet_cifar.ts';
import { mobilenetV2, InvertedResidual } from '../../models/mobilenetv2.ts';
import { crossEntropy } from '../../kernels/softmax/softmax.ts';
import { variable } from '../../engine/core/tape.ts';

await setup();

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
let rs = 1;
/** Reproducible values in [-2, 2) for residuals. */
const randArrayFrom = (n: number) => Float32Array.from({ length: n }, () => { rs = (rs * 16807) % 2147483647; return (rs / 2147483647) * 4 - 2; });
const bits = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a).buffer));

/** Forward and all gradients of act(conv2d(...)) either fused (activation option) or as two ops. */
async function run(xs: number[], ws: number[], opts: Conv2dOptions, act: 'relu' | 'relu6', fusedAct: boolean, seed: Float32Array[]) {
  const x = variable(tensor(seed[0], xs)), w = variable(tensor(seed[1], ws)), b = variable(tensor(seed[2], [ws[0]]));
  const u0 = runtime().dispatchByName.get('unary') ?? 0;
  let fwd = 0;
  const y = tidy(() => {
    const y = fusedAct ? conv2d(x, w, b, { ...opts, activation: act }) : unary(act, conv2d(x, w, b, opts));
    fwd = (runtime().dispatchByName.get('unary') ?? 0) - u0; // activation kernels run by the forward
    backward(y, tensor(seed[3].subarray(0, y.size), y.shape));
    return y;
  });
  const out = { y: await y.data(), dx: await x.grad!.data(), dw: await w.grad!.data(), db: await b.grad!.data(), fwd };
  for (const t of [y, x.grad, w.grad, b.grad, x, w, b]) t?.dispose();
  return out;
}

const CASES: [string, number[], number[], Conv2dOptions, boolean][] = [
  // name, x shape, w shape, options, whether the epilogue saves the activation's dispatch
  ['3x3 stride 1, 32 channels (Winograd where enabled)', [2, 32, 9, 7], [32, 32, 3, 3], { padding: 1 }, true],
  ['3x3 stride 2, odd sizes (GEMM)', [3, 5, 11, 9], [7, 5, 3, 3], { padding: 1, stride: 2, variant: 'gemm' }, true],
  ['1x1 pointwise', [2, 8, 4, 6], [12, 8, 1, 1], {}, subgroupLanes() > 0], // the subgroup GEMM has the epilogue, pointwise.wgsl not
  ['naive', [1, 3, 6, 5], [4, 3, 3, 3], { padding: 1, variant: 'naive' }, false],
  ['depthwise', [2, 6, 7, 7], [6, 1, 3, 3], { padding: 1, groups: 6 }, false],
];

for (const act of ['relu', 'relu6'] as const) {
  for (const [name, xs, ws, opts, epilogue] of CASES) {
    test(`conv2d activation '${act}', ${name}: forward and gradients equal conv2d then ${act}`, async () => {
      // Scaled so ReLU6 clips at both ends.
      const seed = [randArray(numel(xs), -3, 3), randArray(numel(ws), -1, 1), randArray(ws[0], -2, 2), randArray(numel(xs) * 8, -1, 1)];
      const a = await run(xs, ws, opts, act, true, seed), b = await run(xs, ws, opts, act, false, seed);
      assert.equal(bits(a.y), bits(b.y), 'y bit for bit');
      assert.ok(a.y.some((v) => v === 0) && a.y.some((v) => v > 0), 'the activation clipped some outputs and kept others');
      if (act === 'relu6') assert.ok(a.y.some((v) => v === 6), 'ReLU6 clipped at 6');
      assertClose(a.dx, b.dx, 1e-6, 1e-7, 'dx');
      assertClose(a.dw, b.dw, 1e-6, 1e-7, 'dw');
      assertClose(a.db, b.db, 1e-6, 1e-7, 'db');
      assert.is(b.fwd, 1);
      assert.is(a.fwd, epilogue ? 0 : 1, `${act} ${epilogue ? 'in the epilogue: no' : 'as its own'} activation kernel`);
    });
  }
}

for (const [name, xs, ws, opts, epilogue] of CASES) {
  test(`conv2d residual + relu, ${name}: act(conv + bias + r) equals conv2d then addRelu, gradients to x, w, b and r`, async () => {
    const seed = [randArray(numel(xs), -3, 3), randArray(numel(ws), -1, 1), randArray(ws[0], -2, 2), randArray(numel(xs) * 8, -1, 1)];
    let R: Float32Array | null = null; // the same residual for both runs
    const go = async (fusedOp: boolean) => {
      const x = variable(tensor(seed[0], xs)), w = variable(tensor(seed[1], ws)), b = variable(tensor(seed[2], [ws[0]]));
      const yShape = noGrad(() => { const t = conv2d(x, w, b, opts); const sh = t.shape; t.dispose(); return sh; });
      R ??= randArrayFrom(numel(yShape));
      const r = variable(tensor(R, yShape));
      const k0 = (runtime().dispatchByName.get('binary') ?? 0) + (runtime().dispatchByName.get('unary') ?? 0);
      let extra = 0;
      const y = tidy(() => {
        const y = fusedOp ? conv2d(x, w, b, { ...opts, activation: 'relu' }, r) : addRelu(conv2d(x, w, b, opts), r);
        extra = (runtime().dispatchByName.get('binary') ?? 0) + (runtime().dispatchByName.get('unary') ?? 0) - k0;
        backward(y, tensor(seed[3].subarray(0, y.size), y.shape));
        return y;
      });
      const out = { y: await y.data(), dx: await x.grad!.data(), dw: await w.grad!.data(), db: await b.grad!.data(), dr: await r.grad!.data(), extra };
      for (const t of [y, x.grad, w.grad, b.grad, r.grad, x, w, b, r]) t?.dispose();
      return out;
    };
    const f = await go(true), p = await go(false);
    assert.equal(bits(f.y), bits(p.y), 'y bit for bit');
    for (const k of ['dx', 'dw', 'db', 'dr'] as const) assertClose(f[k], p[k], 1e-6, 1e-7, k);
    assert.is(p.extra, 1, 'addRelu');
    // The epilogue kernels add the residual themselves; the others run add and relu after the conv.
    assert.is(f.extra, epilogue ? 0 : 2, 'elementwise kernels after the conv');
  });
}

test('addRelu: relu(a + b) in one dispatch, bit for bit, with the gradients of add then relu (also broadcast)', async () => {
  for (const [as, bs] of [[[2, 3, 5, 7], [2, 3, 5, 7]], [[2, 3, 5, 7], [3, 1, 1]]]) {
    const A = randArray(numel(as), -2, 2), Bv = randArray(numel(bs), -2, 2), G = randArray(numel(as), -1, 1);
    const go = async (fusedOp: boolean) => {
      const a = variable(tensor(A, as)), b = variable(tensor(Bv, bs));
      let n = 0;
      const y = tidy(() => {
        const d0 = runtime().dispatches;
        const y = fusedOp ? addRelu(a, b) : unary('relu', binary('add', a, b));
        n = runtime().dispatches - d0;
        backward(y, tensor(G, as));
        return y;
      });
      const out = { y: await y.data(), ga: await a.grad!.data(), gb: await b.grad!.data(), n };
      for (const t of [y, a.grad, b.grad, a, b]) t?.dispose();
      return out;
    };
    const f = await go(true), p = await go(false);
    assert.equal(bits(f.y), bits(p.y), `y ${as} + ${bs}`);
    assert.equal(bits(f.ga), bits(p.ga), 'grad a');
    assertClose(f.gb, p.gb, 1e-6, 1e-7, 'grad b');
    assert.ok(f.n < p.n, `fewer dispatches (${f.n} vs ${p.n})`);
  }
});

class ConvBn extends Module {
  readonly conv = this.child('conv', new Conv2d(4, 6, 3, { padding: 1, bias: true }));
  readonly bn = this.child('bn', new BatchNorm2d(6));
  forward(x: Tensor): Tensor { return convBnAct(this.conv, this.bn, x, 'relu'); }
}

async function convBn(): Promise<ConvBn> {
  const m = new ConvBn();
  for (const [k, t] of m.stateDict()) {
    if (t.dtype !== 'f32') continue;
    const v = k.endsWith('running_var') ? randArray(t.size, 0.3, 2) : k.endsWith('running_mean') ? randArray(t.size, -1, 1) : randArray(t.size, -1, 1);
    m.setTensor(k, tensor(v, t.shape));
  }
  return m;
}

test('frozen conv + frozen BatchNorm: one folded conv with ReLU, computed once, same output; state dict keeps the originals', async () => {
  const m = await convBn();
  m.train();
  const x = tensor(randArray(2 * 4 * 8 * 8, -2, 2), [2, 4, 8, 8]);
  const before = new Map<string, number[]>();
  for (const [k, t] of m.stateDict()) before.set(k, Array.from(await t.data()));
  // Weight layout transforms (GEMM or Winograd form) of the conv.
  const layouts = () => ['conv2d_wtrans', 'conv2d_wino_w'].reduce((s, k) => s + (runtime().dispatchByName.get(k) ?? 0), 0);
  const forward = () => {
    const d0 = runtime().dispatches, l0 = layouts();
    const y = noGrad(() => m.forward(x));
    return { y, dispatches: runtime().dispatches - d0, layouts: layouts() - l0 };
  };
  assert.not.ok(canFold(m.conv, m.bn), 'trainable layers do not fold');
  freeze(m, '*');
  assert.ok(canFold(m.conv, m.bn));
  const old = setConvBnFolding(false);
  const plain = forward();
  setConvBnFolding(old);
  const n0 = fused.foldsComputed;
  const first = forward(), second = forward();
  assert.is(fused.foldsComputed - n0, 1, 'folded once, reused by the second forward');
  console.log(`  conv+bn+relu: ${plain.dispatches} dispatches op by op, ${second.dispatches} folded`);
  assert.ok(second.dispatches < plain.dispatches, `folded forward runs fewer kernels (${second.dispatches} vs ${plain.dispatches})`);
  assert.is(plain.layouts, 0, 'op by op, the GEMM reads the weights in place');
  assert.is(first.layouts, 1, 'folded: transformed once');
  assert.is(second.layouts, 0, 'and reused (the folded weight is constant)');
  const want = await plain.y.data();
  const scale = want.reduce((s, v) => Math.max(s, Math.abs(v)), 0);
  assertClose(await first.y.data(), want, 1e-5, 1e-6 * scale, 'folded vs op by op');
  assert.equal(Array.from(await second.y.data()), Array.from(await first.y.data()));
  for (const [k, t] of m.stateDict()) assert.equal(Array.from(await t.data()), before.get(k), `${k} unchanged`);
  assert.equal([...m.stateDict().keys()].sort(), [...before.keys()].sort(), 'no folded tensor in the state dict');
  for (const t of [plain.y, first.y, second.y]) t.dispose();

  // Unfrozen: op by op again (batch statistics in training mode).
  unfreeze(m);
  assert.not.ok(canFold(m.conv, m.bn));
  const n1 = fused.foldsComputed;
  forward().y.dispose();
  assert.is(fused.foldsComputed, n1, 'no fold while trainable');

  // Refrozen: recomputed, since the weights may have been trained meanwhile.
  freeze(m, '*');
  forward().y.dispose();
  assert.is(fused.foldsComputed - n1, 1, 'recomputed after freezing again');

  // A checkpoint load writes the parameters in place: the fold is recomputed and follows the new weights.
  const host = new Map<string, { shape: number[]; dtype: 'f32' | 'i32'; data: Float32Array | Int32Array }>();
  for (const [k, t] of m.stateDict()) host.set(k, { shape: [...t.shape], dtype: t.dtype as 'f32' | 'i32', data: t.dtype === 'f32' ? randArray(t.size, 0.5, 1.5) : new Int32Array(t.size) });
  loadStateDict(m, host as any);
  const n2 = fused.foldsComputed;
  const loaded = forward();
  assert.is(fused.foldsComputed - n2, 1, 'recomputed after a load');
  setConvBnFolding(false);
  const loadedPlain = forward();
  setConvBnFolding(true);
  const w2 = await loadedPlain.y.data();
  assertClose(await loaded.y.data(), w2, 1e-5, 1e-6 * w2.reduce((s, v) => Math.max(s, Math.abs(v)), 0), 'folded after load vs op by op');
  for (const t of [loaded.y, loadedPlain.y, x]) t.dispose();
  releaseFold(m.conv);
  m.dispose();
});

test('trainBn keeps BatchNorm affine parameters trainable: no folding', async () => {
  const m = await convBn();
  freeze(m, '*', { trainBn: true });
  assert.ok(m.bn.frozenNorm);
  assert.not.ok(canFold(m.conv, m.bn));
  m.dispose();
});

// relu(bn(conv(x)) + r) of unfrozen pairs: the residual and the ReLU run in the batch-norm kernels
// (no elementwise kernels forward or backward), with conv, bn then addRelu's output and gradients.
for (const mode of ['training', 'eval', 'frozen bn'] as const) {
  test(`convBnAct with a residual (${mode}): the sum and the ReLU in the batch-norm kernels, same output and gradients as bn then addRelu`, async () => {
    const xs = [2, 3, 7, 5], X = randArray(numel(xs)), R = randArrayFrom(2 * 5 * 7 * 5);
    const go = async (fusedOp: boolean) => {
      let s = 7;
      const rng = () => { s = (s * 16807) % 2147483647; return s / 2147483647; };
      const conv = new Conv2d(3, 5, 3, { padding: 1, bias: false, rng }), bn = new BatchNorm2d(5);
      if (mode !== 'training') { bn.eval(); conv.eval(); }
      if (mode === 'frozen bn') { bn.frozenNorm = true; bn.weight!.requiresGrad = false; bn.bias!.requiresGrad = false; }
      const x = variable(tensor(X, xs)), r = variable(tensor(R, [2, 5, 7, 5]));
      const rt = runtime(), ew = () => ['unary', 'unary_backward', 'binary'].reduce((t, k) => t + (rt.dispatchByName.get(k) ?? 0), 0);
      const e0 = ew();
      const y = tidy(() => {
        const y = fusedOp ? convBnAct(conv, bn, x, 'relu', r) : addRelu(bn.forward(conv.forward(x)), r);
        backward(y, tensor(Float32Array.from({ length: y.size }, (_, i) => Math.sin(i)), y.shape));
        return y;
      });
      const grads = [x.grad!, r.grad!, conv.weight.grad!, ...(mode === 'frozen bn' ? [] : [bn.weight!.grad!, bn.bias!.grad!])];
      const out = { y: await y.data(), grads: await Promise.all(grads.map((g) => g.data())), elementwise: ew() - e0 };
      for (const t of [y, x, r, ...grads]) t.dispose();
      conv.dispose(); bn.dispose();
      return out;
    };
    const f = await go(true), p = await go(false);
    assert.ok(f.y.some((v) => v === 0) && f.y.some((v) => v > 0), 'some outputs clipped');
    assertClose(f.y, p.y, 1e-6, 1e-7, 'y');
    for (let i = 0; i < p.grads.length; i++) assertClose(f.grads[i], p.grads[i], 1e-5, 1e-7, `gradient ${i}`);
    assert.is(p.elementwise, 2, 'addRelu forward and its mask');
    // Inference mode with a frozen affine has no backward sums to mask in: one mask kernel.
    assert.is(f.elementwise, mode === 'frozen bn' ? 1 : 0, 'elementwise kernels');
  });
}

test('ResNet-20 training step with a frozen trunk: fewer dispatches with folding, same loss and head gradients', async () => {
  const B = 4;
  const x = tensor(randArray(B * 3 * 32 * 32), [B, 3, 32, 32]);
  const y = tensor(Int32Array.from({ length: B }, (_, i) => (i * 3) % 10), [B], 'i32');
  const model = resnet20(10).train();
  freezeTo(model, model.layerGroups().length - 1);
  const step = async () => {
    const d0 = runtime().dispatches, k0 = new Map(runtime().dispatchByName);
    const loss = tidy(() => { const l = crossEntropy(model.forward(x), y); backward(l); return l; });
    const ran = (k: string) => (runtime().dispatchByName.get(k) ?? 0) - (k0.get(k) ?? 0);
    // Not counting the test runner's poisoning of released buffers (helpers.ts).
    const dispatches = runtime().dispatches - d0 - ran('test_poison');
    const kernels = { subsamplePad: ran('subsample_pad'), slicePad: ran('slice') + ran('pad2d'), winograd: ran('conv2d_wino_in') };
    const grads = [];
    for (const [, p] of model.trainableParameters()) { grads.push(await p.grad!.data()); p.grad!.dispose(); p.grad = null; }
    const l = await loss.item();
    loss.dispose();
    return { dispatches, kernels, l, grads };
  };
  const old = setConvBnFolding(false);
  const plain = await step();
  setConvBnFolding(old);
  await step(); // folds computed
  const folded = await step();
  console.log(`  ResNet-20 forward+backward, head trainable: ${plain.dispatches} dispatches op by op, ${folded.dispatches} folded`);
  assert.ok(folded.dispatches <= plain.dispatches - 19 * 2, `at least 2 kernels fewer per frozen conv-BN pair, 19 pairs (${folded.dispatches} vs ${plain.dispatches})`);
  // The two option-A shortcuts: one dispatch each. The folded weights are constant, so the 32-channel
  // convs run the direct GEMM (one dispatch, tuning.conv.fwdWinogradConstantMinChannels) and only the
  // five 64-channel 3x3 stride-1 convs run Winograd where the table has it on (three dispatches each).
  assert.equal(folded.kernels.subsamplePad, 2, 'shortcut dispatches');
  assert.equal(folded.kernels.slicePad, 0, 'no slice or pad kernels');
  const wino = runtime().tuning.conv.fwdWinograd ? 5 : 0;
  assert.is(folded.kernels.winograd, wino, 'Winograd convs');
  assert.ok(folded.dispatches <= 39 - 2 * (5 - wino), `a head-only forward and backward runs at most 39 dispatches, 2 fewer per conv off Winograd (${folded.dispatches})`);
  assertClose([folded.l], [plain.l], 1e-5, 0, 'loss');
  for (let i = 0; i < plain.grads.length; i++) assertClose(folded.grads[i], plain.grads[i], 1e-4, 1e-6, `head gradient ${i}`);
  model.dispose();
  x.dispose();
  y.dispose();
});

for (const frozen of [false, true]) {
  test(`MobileNetV2 inverted residual (${frozen ? 'frozen: folded projection' : 'training'}): the input added in the projection's kernels, same output and input gradient as conv, bn, then add`, async () => {
    let s = 3;
    const rng = () => { s = (s * 16807) % 2147483647; return s / 2147483647; };
    const block = new InvertedResidual(8, 8, 1, 3, rng).train();
    if (frozen) freeze(block, '*');
    const X = randArray(2 * 8 * 5 * 7), G = randArray(2 * 8 * 5 * 7);
    const go = async (fusedOp: boolean) => {
      const x = variable(tensor(X, [2, 8, 5, 7]));
      const rt = runtime(), b0 = rt.dispatchByName.get('binary') ?? 0;
      const y = tidy(() => {
        const y = fusedOp ? block.forward(x) : add(x, block.conv.forward(x));
        backward(y, tensor(G, y.shape));
        return y;
      });
      const grads = [x.grad!, ...block.parameters().filter((p) => p.requiresGrad).map((p) => p.grad!)];
      const out = { y: await y.data(), grads: await Promise.all(grads.map((g) => g.data())), binary: (rt.dispatchByName.get('binary') ?? 0) - b0 };
      for (const p of block.parameters()) { p.grad?.dispose(); p.grad = null; }
      for (const t of [y, x.grad, x]) t?.dispose();
      return out;
    };
    await go(true); // computes the frozen pairs' folds
    const p = await go(false), f = await go(true);
    assert.is(f.grads.length, frozen ? 1 : 1 + 3 * 3, 'gradients compared');
    const scale = p.y.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assertClose(f.y, p.y, 1e-5, 1e-6 * scale, 'y');
    for (let i = 0; i < p.grads.length; i++) assertClose(f.grads[i], p.grads[i], 1e-4, 1e-6, `gradient ${i}`);
    assert.is(p.binary, 1, 'op by op: the add');
    assert.is(f.binary, 0, 'fused: no add kernel');
    block.dispose();
  });
}

test('MobileNetV2 training step: the ReLU6 of every conv-BN-ReLU6 runs in the batch-norm kernels (no activation kernels)', async () => {
  const model = mobilenetV2({ widthMult: 0.25, numClasses: 3, dropout: 0 }).train();
  const x = tensor(randArray(2 * 3 * 32 * 32), [2, 3, 32, 32]), y = tensor(new Int32Array([0, 2]), [2], 'i32');
  const rt = runtime(), u0 = rt.dispatchByName.get('unary_backward') ?? 0;
  tidy(() => { backward(crossEntropy(model.forward(x), y)); });
  assert.is((rt.dispatchByName.get('unary_backward') ?? 0) - u0, 0, 'activation backward kernels');
  assert.ok(model.parameters().every((p) => p.grad), 'every parameter has a gradient');
  model.dispose();
  x.dispose();
  y.dispose();
});

test.run();
