import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, runSeed } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, type Tensor, noGrad } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { sub, mulScalar } from '../../kernels/elementwise/elementwise.ts';
import { crossEntropy } from '../../kernels/softmax/softmax.ts';
import { Sequential, Conv2d, BatchNorm2d, ReLU, MaxPool2d, AdaptiveAvgPool2d, Flatten, Linear, Dropout } from '../../engine/nn/index.ts';

test.before(async () => { await setup(); });

const S = 16;

const C = 3;

/**
 * n RGB 16x16 images (NCHW) of 1-3 bars (random position, thickness 1-2, random colour) over
 * Gaussian-ish noise; label 0 = horizontal bars, 1 = vertical bars.
 */
function batch(n: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(n * C * S * S), y = new Int32Array(n);
  for (let b = 0; b < n; b++) {
    const vertical = rand() < 0.5;
    y[b] = vertical ? 1 : 0;
    const img = x.subarray(b * C * S * S, (b + 1) * C * S * S);
    for (let i = 0; i < img.length; i++) img[i] = (rand() + rand() + rand() - 1.5) * 0.4;
    const bars = 1 + Math.floor(rand() * 3);
    for (let k = 0; k < bars; k++) {
      const at = Math.floor(rand() * (S - 1)), thick = 1 + Math.floor(rand() * 2);
      const colour = Array.from({ length: C }, () => 0.2 + rand());
      for (let c = 0; c < C; c++) for (let t = at; t < Math.min(S, at + thick); t++) for (let j = 0; j < S; j++) {
        img[c * S * S + (vertical ? j * S + t : t * S + j)] += colour[c];
      }
    }
  }
  return { x, y };
}

function argmaxRows(logits: Float32Array | Int32Array, K: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < logits.length / K; i++) {
    let best = 0;
    for (let c = 1; c < K; c++) if (logits[i * K + c] > logits[i * K + best]) best = c;
    out.push(best);
  }
  return out;
}

/** Plain SGD with elementwise ops, written into each parameter's buffer in place. */
function sgdStep(params: Tensor[], lr: number): void {
  noGrad(() => tidy(() => {
    for (const p of params) {
      if (!p.grad) continue;
      const next = sub(p, mulScalar(p.grad, lr));
      runtime().copy(next.buffer, 0, p.buffer, 0, p.size * 4);
      p.grad.dispose();
      p.grad = null;
    }
  }));
}

async function accuracy(net: Sequential, n: number): Promise<number> {
  const { x, y } = batch(n);
  net.eval();
  const logits = tidy(() => net.forward(tensor(x, [n, C, S, S])) as Tensor);
  const pred = argmaxRows(await logits.data(), 2);
  logits.dispose();
  net.train();
  return pred.filter((p, i) => p === y[i]).length / n;
}

test('a small CNN (Conv-BN-ReLU-MaxPool-Conv-BN-ReLU-GAP-Linear) learns horizontal vs vertical bars above 90%', async () => {
  const net = new Sequential(
    new Conv2d(C, 6, 3, { padding: 1, rng: rand }), new BatchNorm2d(6), new ReLU(), new MaxPool2d(2),
    new Conv2d(6, 8, 3, { padding: 1, rng: rand }), new BatchNorm2d(8), new ReLU(),
    new AdaptiveAvgPool2d(1), new Flatten(), new Dropout(0.1, 1234), new Linear(8, 2, { rng: rand }));
  const params = net.parameters();
  const before = await accuracy(net, 128);
  const losses: number[] = [];
  net.train();
  for (let step = 0; step < 80; step++) {
    const { x, y } = batch(16);
    const loss = tidy(() => {
      const l = crossEntropy(net.forward(tensor(x, [16, C, S, S])) as Tensor, tensor(y, [16], 'i32'));
      backward(l);
      return l;
    });
    if (step % 10 === 0 || step === 79) losses.push(await loss.item());
    loss.dispose();
    sgdStep(params, 0.1);
  }
  const after = await accuracy(net, 128);
  const counts = net.namedBuffers().filter(([k]) => k.endsWith('num_batches_tracked'));
  for (const [k, t] of counts) assert.equal(Array.from(await t.data()), [80], `${k} counts the training steps`);
  assert.ok(after > 0.9, `accuracy ${after} (before ${before}); losses ${losses.map((l) => l.toFixed(3))}; seed ${runSeed}`);
  assert.ok(losses[losses.length - 1] < losses[0], `loss fell: ${losses.map((l) => l.toFixed(3))}`);
  net.dispose();
});

test.run();
