// The runtime's bind groups (engine/core/runtime.ts): made once per kernel, storage buffers and
// uniform slot, and reused. Results must not depend on the reuse: the same kernel over many pairs of
// buffers, round after round, against a float64 reference; a repeated step makes no new bind group
// (the pool hands its buffers out in the same order: lowest creation number first, whatever order
// they were released in); and after pool.trim() destroys pooled buffers, ops run on fresh ones
// without errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, rand } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { type Tensor, tidy } from '../../engine/core/tensor.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { BufferPool } from '../../engine/core/pool.ts';
import { checkGpu } from '../../engine/core/device.ts';
import { sub, mul } from '../../kernels/index.ts';

test.before(async () => { await setup(); });

/** Counts device.createBindGroup calls while `fn` runs. */
async function bindGroupsMade(fn: () => Promise<void>): Promise<number> {
  const device = runtime().device as any;
  const own = Object.prototype.hasOwnProperty.call(device, 'createBindGroup');
  const orig = device.createBindGroup;
  let n = 0;
  device.createBindGroup = function (this: unknown, d: GPUBindGroupDescriptor) { n++; return orig.call(device, d); };
  try {
    await fn();
  } finally {
    if (own) device.createBindGroup = orig;
    else delete device.createBindGroup;
  }
  return n;
}

test('one kernel over many buffer pairs, round after round, matches the reference', async () => {
  const n = 37;
  const data = Array.from({ length: 6 }, () => randArray(n));
  const xs = data.map((d) => tensor(d, [n]));
  for (let round = 0; round < 3; round++) {
    // 6 x 6 pairs, twice: more dispatches than one submit holds, so uniform slots and buffers repeat.
    const outs: { i: number; j: number; k: number; t: Tensor }[] = [];
    for (let k = 0; k < 2; k++) for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) outs.push({ i, j, k, t: tidy(() => sub(xs[i], mul(xs[j], xs[(i + k) % 6]))) });
    for (const { i, j, k, t } of outs) {
      const got = await t.data();
      for (let e = 0; e < n; e++) {
        const want = Math.fround(data[i][e] - Math.fround(data[j][e] * data[(i + k) % 6][e]));
        assert.is(got[e], want, `round ${round}, case ${i},${j},${k}, element ${e}`);
      }
    }
    for (const o of outs) o.t.dispose();
  }
  for (const x of xs) x.dispose();
});

test('a repeated step makes no new bind group', async () => {
  const rt = runtime();
  const a = tensor(randArray(300), [300]), b = tensor(randArray(300), [300]);
  const step = () => { tidy(() => { let y = a; for (let i = 0; i < 200; i++) y = sub(mul(y, b), a); return undefined; }); };
  step(); await rt.sync();
  step(); await rt.sync();
  const made = await bindGroupsMade(async () => { step(); await rt.sync(); });
  assert.is(made, 0);
  a.dispose(); b.dispose();
});

test('the pool hands free buffers out lowest creation number first, whatever the release order', () => {
  // A stand-in device: the pool only creates buffers and reads their size.
  const device = { createBuffer: ({ size }: { size: number }) => ({ size, destroy() {} }) } as unknown as GPUDevice;
  const pool = new BufferPool(device, 1 << 30, 1 << 30);
  const sizes = [1000, 1000, 300, 1000, 300, 1000, 1000, 300, 1000, 1000, 300];
  const made = sizes.map((n) => pool.acquire(n));
  for (let round = 0; round < 3; round++) {
    // Released in a fresh random order (the run's seed: THAW_SEED replays it), over two submits.
    const order = made.map((b, i) => ({ b, i, r: rand() })).sort((p, q) => p.r - q.r);
    const cut = 1 + Math.floor(rand() * (order.length - 1));
    for (const { b } of order.slice(0, cut)) pool.release(b);
    pool.afterSubmit();
    for (const { b } of order.slice(cut)) pool.release(b);
    pool.afterSubmit();
    const again = sizes.map((n) => pool.acquire(n));
    again.forEach((b, i) => assert.ok(b === made[i], `round ${round}: acquire ${i} got buffer ${made.indexOf(b)}`));
    assert.is(pool.getStats().created, sizes.length);
  }
});

test('after pool.trim(), ops run on fresh buffers without errors', async () => {
  const rt = runtime();
  const d = randArray(50), e = randArray(50);
  const a = tensor(d, [50]), b = tensor(e, [50]);
  for (let round = 0; round < 3; round++) {
    const y = sub(a, b);
    const got = await y.data();
    y.dispose();
    for (let i = 0; i < 50; i++) assert.is(got[i], Math.fround(d[i] - e[i]));
    await rt.sync();
    rt.pool.trim();
    checkGpu(rt.gpu);
  }
  a.dispose(); b.dispose();
});

test.run();
