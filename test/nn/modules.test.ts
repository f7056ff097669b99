import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { setup, randArray, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, type Tensor } from '../../engine/core/tensor.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { loadStateDict } from '../../engine/train/load.ts';
import { freeze } from '../../engine/train/freeze.ts';
import type { HostTensor } from '../../engine/io/types.ts';
import { mul, add } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import {
  Sequential, Conv2d, BatchNorm2d, ReLU, ReLU6, LeakyReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, Dropout, Linear, Identity, addN, concatChannels, F,
} from '../../engine/nn/index.ts';

test.before(async () => { await setup(); });

const fx = JSON.parse(readFileSync(new URL('../fixtures/cnn/net.json', import.meta.url), 'utf8'));

/** The same structure as the fixture script's torch.nn.Sequential. */
function makeNet(): Sequential {
  return new Sequential(
    new Conv2d(3, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU(), new MaxPool2d(2),
    new Conv2d(4, 6, 3, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(6, { eps: 1e-3, momentum: 0.2 }), new ReLU6(),
    new AdaptiveAvgPool2d(1), new Flatten(), new Dropout(0.25), new Linear(6, 5));
}

function loadFixture(net: Sequential): void {
  const host = new Map<string, HostTensor>();
  for (const [k, v] of Object.entries(fx.state) as [string, any][]) {
    const int = v.dtype === 'int64';
    host.set(k, { dtype: int ? 'i64' : 'f32', shape: v.shape, data: int ? Int32Array.from(v.values) : Float32Array.from(v.values) });
  }
  const r = loadStateDict(net, host, { strict: true });
  assert.equal(r.loaded.length, fx.keys.length);
}

test('Sequential of Conv2d/BatchNorm2d/ReLU/MaxPool2d/.../Linear: keys and shapes equal torch.nn state_dict', () => {
  const net = makeNet();
  assert.equal(net.namedParameters().map(([k]) => k), fx.parameters, 'named_parameters order');
  assert.equal(net.namedBuffers().map(([k]) => k), fx.buffers, 'named_buffers order');
  const sd = net.stateDict();
  assert.equal([...sd.keys()].sort(), [...fx.keys].sort(), 'state_dict keys');
  for (const k of fx.keys) {
    assert.equal(sd.get(k)!.shape, fx.state[k].shape, `shape of ${k}`);
    assert.is(sd.get(k)!.dtype, fx.state[k].dtype === 'int64' ? 'i32' : 'f32', `dtype of ${k}`);
  }
  net.dispose();
});

test('small CNN with torch weights: eval output, train output, running stats and every gradient match torch', async () => {
  const net = makeNet();
  loadFixture(net);
  const x = tensor(fx.x, fx.xShape);
  net.eval();
  const yEval = tidy(() => net.forward(x));
  assertClose(await yEval.data(), fx.outEval, 1e-4, 1e-5, 'eval output');
  net.train();
  (net.at(9) as Dropout).p = 0;
  const yTrain = tidy(() => {
    const y = net.forward(x);
    backward(sum(mul(y, tensor(fx.gout, y.shape))));
    return y;
  });
  assertClose(await yTrain.data(), fx.outTrain, 1e-4, 1e-5, 'train output');
  const sd = net.stateDict();
  for (const [k, v] of Object.entries(fx.buffersAfterTrain) as [string, number[]][]) {
    assertClose(await sd.get(k)!.data(), v, 1e-5, 1e-6, `${k} after one training step`);
  }
  for (const [k, p] of net.namedParameters()) assertClose(await p.grad!.data(), fx.grads[k], 2e-3, 2e-4, `grad of ${k}`);
  for (const [, p] of net.namedParameters()) p.grad?.dispose();
  for (const t of [x, yEval, yTrain]) t.dispose();
  net.dispose();
});

test('BatchNorm2d: counts batches in training; frozenNorm keeps stats and counter untouched under train()', async () => {
  const bn = new BatchNorm2d(3);
  const x = tensor(randArray(2 * 3 * 4 * 5, -1, 3), [2, 3, 4, 5]);
  bn.train();
  tidy(() => bn.forward(x));
  tidy(() => bn.forward(x));
  assert.equal(Array.from(await bn.numBatchesTracked!.data()), [2]);
  const rm = Array.from(await bn.runningMean!.data());
  assert.ok(rm.some((v) => v !== 0), 'running mean moved');
  bn.frozenNorm = true;
  const y = tidy(() => bn.forward(x));
  assert.equal(Array.from(await bn.numBatchesTracked!.data()), [2], 'counter frozen');
  assert.equal(Array.from(await bn.runningMean!.data()), rm, 'running mean frozen');
  // Frozen: normalised with the running stats, like eval().
  bn.frozenNorm = false;
  bn.eval();
  const yEval = tidy(() => bn.forward(x));
  assertClose(await y.data(), await yEval.data(), 0, 0, 'frozen == eval');
  for (const t of [x, y, yEval]) t.dispose();
  bn.dispose();
  const plain = new BatchNorm2d(2, { affine: false, trackRunningStats: false });
  assert.equal(plain.stateDict().size, 0);
  plain.dispose();
});

test('freeze() on the net: frozen BatchNorm2d keeps its stats under train(), gets no grads; the rest trains', async () => {
  const net = makeNet();
  loadFixture(net);
  freeze(net, ['0', '1']);
  assert.ok((net.at(1) as BatchNorm2d).frozenNorm && !(net.at(5) as BatchNorm2d).frozenNorm);
  const sd = net.stateDict();
  const before = { m1: await sd.get('1.running_mean')!.data(), n1: await sd.get('1.num_batches_tracked')!.data(), m5: await sd.get('5.running_mean')!.data() };
  const x = tensor(fx.x, fx.xShape);
  net.train();
  tidy(() => { backward(sum(net.forward(x) as Tensor)); });
  assert.equal(Array.from(await sd.get('1.running_mean')!.data()), Array.from(before.m1), 'frozen running_mean');
  assert.equal(Array.from(await sd.get('1.num_batches_tracked')!.data()), Array.from(before.n1), 'frozen counter');
  assert.not.equal(Array.from(await sd.get('5.running_mean')!.data()), Array.from(before.m5), 'trainable BN updates');
  assert.is(sd.get('1.weight')!.grad, null);
  assert.is(sd.get('0.weight')!.grad, null);
  assert.ok(sd.get('4.weight')!.grad, 'conv after the frozen part gets a gradient');
  for (const [, p] of net.namedParameters()) p.grad?.dispose();
  x.dispose();
  net.dispose();
});

test('Conv2d/Linear default init: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) like PyTorch, shapes OIHW and (out, in)', async () => {
  const c = new Conv2d(6, 8, [3, 2], { groups: 2 });
  assert.equal(c.weight.shape, [8, 3, 3, 2]);
  const bound = 1 / Math.sqrt(3 * 3 * 2);
  const w = await c.weight.data();
  assert.ok(w.every((v) => Math.abs(v) <= bound), 'within bound');
  assert.ok(Math.max(...w.map(Math.abs)) > 0.8 * bound, 'spans the bound');
  const l = new Linear(10, 3, { bias: false });
  assert.equal(l.namedParameters().map(([k]) => k), ['weight']);
  assert.ok((await l.weight.data()).every((v) => Math.abs(v) <= 1 / Math.sqrt(10)));
  assert.throws(() => new Conv2d(6, 8, 3, { groups: 4 }), /groups/);
  c.dispose(); l.dispose();
});

test('activations, Flatten, Identity, Dropout, pooling modules and Sequential.set', async () => {
  const xs = randArray(2 * 3 * 4 * 4, -8, 8);
  const x = tensor(xs, [2, 3, 4, 4]);
  const [r, r6, lr, fl, id, dEval, mp, ap, aap, ap2] = tidy(() => {
    const d = new Dropout(0.5, 7);
    d.eval();
    return [new ReLU().forward(x), new ReLU6().forward(x), new LeakyReLU(0.2).forward(x), new Flatten().forward(x), new Identity().forward(x),
      d.forward(x), new MaxPool2d(2).forward(x), new AvgPool2d(2, { stride: 1 }).forward(x), new AdaptiveAvgPool2d(2).forward(x), new AvgPool2d(2).forward(x)];
  });
  assertClose(await r.data(), Array.from(xs, (v) => Math.max(v, 0)), 0, 0, 'relu');
  assertClose(await r6.data(), Array.from(xs, (v) => Math.min(Math.max(v, 0), 6)), 0, 0, 'relu6');
  assertClose(await lr.data(), Array.from(xs, (v) => (v > 0 ? v : 0.2 * v)), 1e-6, 0, 'leaky');
  assert.equal(fl.shape, [2, 48]);
  assert.is(id, x);
  assert.is(dEval, x, 'dropout is the identity in eval');
  assert.equal(mp.shape, [2, 3, 2, 2]);
  assert.equal(ap.shape, [2, 3, 3, 3]);
  assertClose(await aap.data(), await ap2.data(), 0, 0, 'adaptive 2 = avg pool 2');
  const d = new Dropout(0.5, 11);
  const [a, b] = tidy(() => [d.forward(x), d.forward(x)]);
  assert.not.equal(Array.from(await a.data()), Array.from(await b.data()), 'each call draws a new mask');
  const seq = new Sequential(new ReLU(), new Linear(4, 2));
  seq.set(1, new Linear(4, 3));
  assert.equal(seq.namedParameters().map(([k, p]) => [k, p.shape]), [['1.weight', [3, 4]], ['1.bias', [3]]]);
  for (const t of [r, r6, lr, fl, mp, ap, aap, ap2, a, b, x]) t.dispose();
  seq.dispose();
});

test('addN sums with gradients to every input; concatChannels joins on axis 1', async () => {
  const as = [randArray(12), randArray(12), randArray(12)];
  const ts = as.map((a) => { const t = tensor(a, [1, 3, 2, 2]); t.requiresGrad = true; return t; });
  const y = tidy(() => { const y = addN(ts); backward(sum(y)); return y; });
  assertClose(await y.data(), as[0].map((v, i) => v + as[1][i] + as[2][i]), 1e-6, 1e-6, 'sum');
  for (const t of ts) assertClose(await t.grad!.data(), new Float32Array(12).fill(1), 0, 0, 'grad');
  const c = tidy(() => concatChannels([ts[0], tensor(randArray(4), [1, 1, 2, 2])]));
  assert.equal(c.shape, [1, 4, 2, 2]);
  assertClose((await c.data()).slice(0, 12), as[0], 0, 0, 'first block');
  for (const t of [y, c, ...ts.map((t) => t.grad!), ...ts]) t.dispose();
});

test('no buffer leaks: forward + backward of every CNN op and a training step of the net', async () => {
  const net = makeNet();
  const x = tensor(randArray(2 * 3 * 9 * 10), [2, 3, 9, 10]);
  const step = () => tidy(() => {
    const y = net.forward(x) as Tensor;
    const z = addN([
      sum(F.maxPool2d(x, 3, { stride: 2, padding: 'same' })), sum(F.avgPool2d(x, 2, { padding: [1, 0, 0, 1] })),
      sum(F.pad2d(x, [1, -1, 2, 0])), sum(F.resize2d(x, [5, 13])), sum(F.dropout(x, 0.3, 9)),
      sum(F.batchNorm2d(x, null, null, null, null, { training: true })), sum(F.globalAvgPool2d(x)),
    ]);
    backward(add(sum(y), z));
  });
  net.train();
  x.requiresGrad = true;
  step(); // warm up: pipelines, uniform buffers
  const clear = () => { for (const t of [x, ...net.parameters()]) { t.grad?.dispose(); t.grad = null; } };
  clear();
  const live0 = runtime().pool.getStats().liveBuffers;
  step(); step();
  clear();
  assert.is(runtime().pool.getStats().liveBuffers, live0, 'live buffers after two steps');
  x.dispose();
  net.dispose();
});

test.run();
