// Leaks: 1,000 training steps of a small CNN (Conv-BN-ReLU-MaxPool-Linear on 3x8x8, batch 8, SGD with
// momentum) leave the pool's live and pooled buffer counts flat after the first step, and create no
// new GPU buffers once warm. Counts are printed at steps 1, 100, 500 and 1000.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from '../helpers.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { crossEntropy } from '../../kernels/softmax/softmax.ts';
import { Sequential, Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten, Linear } from '../../engine/nn/index.ts';
import { SGD } from '../../engine/optim/index.ts';
import { Rng, randn } from '../../engine/data/rng.ts';

test.before(async () => { await setup(); });

test('1,000 training steps keep liveBuffers and pooledBuffers flat', async () => {
  const rt = runtime();
  // The test helpers poison every acquired buffer with one extra dispatch; counting does not need it.
  const poison = rt.pool.onAcquire;
  rt.pool.onAcquire = null;
  const base = rt.pool.getStats().liveBuffers; // other suites in this process may hold tensors
  const rng = new Rng(5);
  const u = () => rng.next();
  const net = new Sequential(new Conv2d(3, 4, 3, { padding: 1, rng: u }), new BatchNorm2d(4), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(64, 3, { rng: u }));
  const opt = new SGD(net.namedParameters(), { lr: 0.05, momentum: 0.9 });
  const data = Array.from({ length: 4 }, () => ({ x: randn(8 * 3 * 8 * 8, rng), y: Int32Array.from({ length: 8 }, () => rng.int(3)) }));
  const at = new Map<number, { live: number; pooled: number; created: number; loss: number }>();
  const t0 = performance.now();
  try {
    for (let s = 1; s <= 1000; s++) {
      const b = data[s % data.length];
      const loss = tidy(() => {
        const l = crossEntropy(net.forward(tensor(b.x, [8, 3, 8, 8])), tensor(b.y, [8], 'i32'));
        backward(l);
        return l;
      });
      opt.step();
      opt.zeroGrad();
      // A real loop reads the loss back every few steps (each read waits for the GPU).
      if (s % 25 === 0 || s === 1) {
        const v = await loss.item();
        loss.dispose();
        if (s === 1 || s === 100 || s === 500 || s === 1000) {
          await rt.sync();
          const st = rt.pool.getStats();
          at.set(s, { live: st.liveBuffers, pooled: st.pooledBuffers, created: st.created, loss: v });
        }
      } else loss.dispose();
    }
  } finally {
    rt.pool.onAcquire = poison;
  }
  const secs = (performance.now() - t0) / 1000;
  for (const [s, c] of at) console.log(`  step ${String(s).padStart(4)}: liveBuffers ${c.live} (${c.live - base} from this run), pooledBuffers ${c.pooled}, buffers created so far ${c.created}, loss ${c.loss.toFixed(4)}`);
  console.log(`  1000 steps in ${secs.toFixed(1)} s (${secs.toFixed(1)} ms/step)`);
  const [s100, s500, s1000] = [at.get(100)!, at.get(500)!, at.get(1000)!];
  assert.is(s500.live, s100.live, 'live buffers at 500 vs 100');
  assert.is(s1000.live, s100.live, 'live buffers at 1000 vs 100');
  assert.is(s500.pooled, s100.pooled, 'pooled buffers at 500 vs 100');
  assert.is(s1000.pooled, s100.pooled, 'pooled buffers at 1000 vs 100');
  assert.is(s1000.created, s100.created, 'no new GPU buffers after warm-up');
  // Live after warm-up: 6 parameters + 3 BN buffers + 6 momentum buffers; nothing else survives a step.
  assert.is(s1000.live - base, 15);
  assert.ok(s1000.loss < at.get(1)!.loss, 'it trained');
  opt.dispose();
  net.dispose();
});

test.run();
