// clipGradNorm against torch.nn.utils.clip_grad_norm_ (fixtures), its GPU-only data flow, and what it skips.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { Tensor, keep } from '../../engine/core/tensor.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { clipGradNorm } from '../../engine/optim/index.ts';
import { clipRef } from '../../kernels/optim/reference.ts';

const fx = JSON.parse(readFileSync(new URL('../fixtures/optim/clip.json', import.meta.url), 'utf8'));
test.before(async () => { await setup(); });

/** The fixture script's large gradient: exact integer arithmetic, one float32 rounding. */
function bigGrad(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 7919 + 13) % 10007) / 10007 - 0.5;
  return a;
}

function withGrad(shape: number[], g: ArrayLike<number>, name?: string): [string, Tensor] {
  const p = keep(tensor(new Float32Array(g.length), shape));
  p.requiresGrad = true;
  p.grad = keep(tensor(g, shape));
  return [name ?? '', p];
}
const free = (ps: [string, Tensor][]) => { for (const [, p] of ps) { p.grad?.dispose(); p.dispose(); } };
let worstRel = 0;

for (const c of fx.cases) {
  test(`clipGradNorm '${c.name}' (maxNorm ${c.maxNorm}) matches clip_grad_norm_`, async () => {
    const ps = Object.entries(c.shapes as Record<string, number[]>).map(([k, shape]) =>
      withGrad(shape, k === 'big' ? bigGrad(shape.reduce((a, b) => a * b, 1)) : c.grads[k], k));
    const norm = clipGradNorm(ps, c.maxNorm);
    assert.equal(norm.shape, []);
    const got = await norm.item();
    worstRel = Math.max(worstRel, Math.abs(got - c.norm) / c.norm);
    assertClose([got], [c.norm], 1e-6, 0, 'norm');
    for (const [k, p] of ps) {
      const g = await p.grad!.data();
      if (k === 'big') {
        for (const [j, v] of Object.entries(c.bigClippedSample as Record<string, number>)) assertClose([g[+j]], [v], 1e-6, 0, `big[${j}]`);
        let sum = 0;
        for (const v of g) sum += v;
        assertClose([sum], [c.bigClippedSum], 1e-5, 1e-6, 'sum of the clipped big gradient');
        continue;
      }
      const want: number[] = c.clipped[k];
      for (let i = 0; i < want.length; i++) worstRel = Math.max(worstRel, want[i] ? Math.abs(g[i] - want[i]) / Math.abs(want[i]) : 0);
      assertClose(g, want, 1e-6, 0, `clipped '${k}'`);
      if (c.maxNorm > c.norm) assert.equal(Array.from(g), want.map(Math.fround), `'${k}' should be unchanged (factor 1)`);
    }
    norm.dispose();
    free(ps);
  });
}

test('clipGradNorm never reads back to the host; one sum-of-squares and one scaling dispatch for both gradients + 1', async () => {
  const ps = [withGrad([3, 9], randArray(27, -5, 5)), withGrad([5000], randArray(5000, -5, 5))];
  const ref = await Promise.all(ps.map(async ([, p]) => (await p.grad!.data()) as Float32Array));
  const rt = runtime();
  const read = rt.read, sync = rt.sync;
  rt.read = () => { throw new Error('clipGradNorm read a buffer back'); };
  rt.sync = () => { throw new Error('clipGradNorm waited for the GPU'); };
  const names = ['optim_multi_sumsq', 'optim_norm_scale', 'optim_multi_scale'];
  const counts = () => names.map((n) => rt.dispatchByName.get(n) ?? 0);
  const d0 = counts();
  let norm: Tensor;
  try {
    norm = clipGradNorm(ps, 2);
  } finally {
    rt.read = read;
    rt.sync = sync;
  }
  assert.equal(counts().map((c, i) => c - d0[i]), [1, 1, 1]);
  const want = clipRef(ref, 2);
  assertClose([await norm.item()], [want], 1e-6, 0, 'norm vs float64');
  for (let i = 0; i < ps.length; i++) assertClose(await ps[i][1].grad!.data(), ref[i], 1e-6, 1e-7, `grad ${i} vs float64 reference`);
  norm.dispose();
  free(ps);
});

test('clipGradNorm skips parameters without gradients and frozen ones; no gradients gives norm 0', async () => {
  const a = withGrad([4], [3, 0, 0, 4]);
  const frozen = withGrad([2], [100, 100]);
  frozen[1].requiresGrad = false;
  const none = keep(tensor([1, 2]));
  none.requiresGrad = true;
  const norm = clipGradNorm([a[1], frozen[1], none], 1);
  assertClose([await norm.item()], [5], 1e-6, 0, 'norm over the trainable gradient only');
  assertClose(await a[1].grad!.data(), [0.6, 0, 0, 0.8], 1e-6, 0, 'scaled');
  assert.equal(Array.from(await frozen[1].grad!.data()), [100, 100]);
  const zero = clipGradNorm([none], 1);
  assert.is(await zero.item(), 0);
  assert.throws(() => clipGradNorm([a[1]], -1), /maxNorm/);
  for (const t of [norm, zero, none]) t.dispose();
  free([a, frozen]);
});

test.after(() => console.log(`\n  clipGradNorm vs torch: max relative error ${worstRel.toExponential(2)}`));

test.run();
