// warmupPipelines() and Runtime.compileOnly(): pipelines compiled before the first step, which then compiles none and computes what it would have.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, randArray, randInt } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { Tensor, tidy, noGrad } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { crossEntropy } from '../../kernels/softmax/softmax.ts';
import { Sequential, Conv2d, BatchNorm2d, ReLU, MaxPool2d, AdaptiveAvgPool2d, Flatten, Linear, Dropout } from '../../engine/nn/index.ts';
import { Adam, clipGradNorm } from '../../engine/optim/index.ts';
import type { Module } from '../../engine/nn/module.ts';
import { warmupPipelines } from '../../engine/train/warmup.ts';
import { freeze } from '../../engine/train/freeze.ts';
import { resnet20 } from '../../models/resnet_cifar.ts';

await setup();

/** A uniform stream from `seed` (so two nets start from the same weights). */
function stream(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

function net(seed: number): Sequential {
  const r = stream(seed);
  return new Sequential(
    new Conv2d(3, 6, 3, { padding: 1, rng: r }), new BatchNorm2d(6), new ReLU(), new MaxPool2d(2),
    new Conv2d(6, 8, 3, { stride: 2, rng: r }), new BatchNorm2d(8), new ReLU(),
    new AdaptiveAvgPool2d(1), new Flatten(), new Dropout(0.3, seed), new Linear(8, 5, { rng: r }));
}

const adam = (m: Module) => new Adam(m.parameters(), { lr: 0.01 });
const clip = 0.5;

/** Two training steps (Adam, clipping) then an inference forward; every value they leave, as host arrays. */
async function steps(m: Module & { forward(x: Tensor): Tensor }, X: Float32Array, Y: Int32Array, shape: number[]): Promise<Float32Array[]> {
  const opt = adam(m);
  const out: Float32Array[] = [];
  for (let i = 0; i < 2; i++) {
    const loss = tidy(() => {
      const l = crossEntropy(m.forward(tensor(X, shape)), tensor(Y, [shape[0]], 'i32'));
      backward(l);
      return l;
    });
    clipGradNorm(m.parameters(), clip).dispose();
    opt.step();
    opt.zeroGrad();
    out.push(await loss.data());
    loss.dispose();
  }
  m.eval();
  const logits = noGrad(() => m.forward(tensor(X, shape)));
  out.push(await logits.data());
  logits.dispose();
  m.train();
  for (const [, t] of m.stateDict()) out.push(new Float32Array(await t.data()));
  opt.dispose();
  return out;
}

test('after warmup, training steps and inference compile no pipeline and compute what a net without warmup computes', async () => {
  const shape = [3, 3, 13, 11];
  const X = randArray(shape[0] * 3 * 13 * 11), Y = randInt(shape[0], 5);
  const seed = Math.floor(rand() * 1e9);
  const warmed = net(seed), plain = net(seed);
  const rt = runtime();
  const before = rt.pipelines;
  const w = await warmupPipelines(warmed, shape, { train: true, optimizer: adam, clipNorm: clip });
  assert.is(rt.pipelines, before + w.pipelines, 'warmup reports the pipelines it compiled');
  assert.ok(warmed.training, 'the net is back in training mode');
  assert.ok(warmed.parameters().every((p) => p.grad === null), 'warmup leaves no gradients');
  const n = rt.pipelines;
  const a = await steps(warmed, X, Y, shape);
  assert.is(rt.pipelines, n, 'the steps after warmup compiled no pipeline');
  const b = await steps(plain, X, Y, shape);
  assert.is(a.length, b.length);
  a.forEach((v, i) => assert.equal(Array.from(v), Array.from(b[i]), `value ${i} differs from the net without warmup`));
  for (const m of [warmed, plain]) m.dispose();
});

test('a frozen ResNet-20 trunk (folded conv+bn) computes the same after warmup as without', async () => {
  const shape = [2, 3, 32, 32];
  const X = randArray(2 * 3 * 32 * 32), Y = randInt(2, 10);
  const seed = Math.floor(rand() * 1e9);
  const nets = [resnet20(10, stream(seed)), resnet20(10, stream(seed))];
  const out: Float32Array[][] = [];
  for (const [i, m] of nets.entries()) {
    freeze(m, /^(?!layer3\.2\.|linear\.)/);
    m.eval();
    // Warmup first: the folds it makes hold nothing and must not be what runs after.
    if (i === 0) await warmupPipelines(m, shape, { train: true, optimizer: adam });
    const y0 = noGrad(() => m.forward(tensor(X, shape)));
    const first = await y0.data();
    y0.dispose();
    m.train();
    out.push([first, ...await steps(m, X, Y, shape)]);
  }
  out[0].forEach((v, i) => assert.equal(Array.from(v), Array.from(out[1][i]), `value ${i} differs from the net without warmup`));
  for (const m of nets) m.dispose();
});

test('compileOnly compiles a new kernel without running it; the kernel then runs with no compile', async () => {
  const rt = runtime();
  // A define no other kernel has, so this pipeline is new.
  const k = wgsl('test_compile_only', `
struct Params { n: u32, v: f32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) { if (gid.x < params.n) { out[gid.x] = params.v + f32({{TAG}}); } }`, { defines: { TAG: Math.floor(rand() * 1e6) } });
  const out = tensor(new Float32Array(70).fill(-1), [70]);
  const n0 = rt.pipelines;
  assert.is(await rt.compileOnly(() => rt.run(k, { out }, { n: 70, v: 2 }, [2])), 1);
  assert.is(rt.pipelines, n0 + 1);
  assert.ok((await out.data()).every((v) => v === -1), 'nothing ran');
  rt.run(k, { out }, { n: 70, v: 0.5 }, [2]);
  assert.is(rt.pipelines, n0 + 1, 'no second compile');
  const tag = Number(k.key.match(/TAG=(\d+)/)![1]);
  assert.ok((await out.data()).every((v) => v === 0.5 + tag), 'it ran');
  out.dispose();
});

test('warmup refuses a shape that is not positive integers', async () => {
  const m = net(1);
  for (const shape of [[2, 3, 0, 8], [], [2, 3.5, 8, 8]]) {
    const e = await warmupPipelines(m, shape).then(() => null, (err: unknown) => err);
    assert.ok(e instanceof ShapeError && /inputShape/.test(e.message), `[${shape}]: ${e}`);
  }
  m.dispose();
});

test.run();
