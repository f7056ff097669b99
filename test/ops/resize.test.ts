import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { setup, randArray, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { resize2d, type ResizeMode } from '../../kernels/resize/resize.ts';
import { resize2dRef } from '../../kernels/resize/reference.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

const fixtures = JSON.parse(readFileSync(new URL('../fixtures/cnn/resize.json', import.meta.url), 'utf8'));

async function run(xs: ArrayLike<number>, shape: number[], size: [number, number], mode: ResizeMode, gs: ArrayLike<number>) {
  const x = variable(tensor(xs, shape));
  const out = tidy(() => { const y = resize2d(x, size, { mode }); backward(sum(mul(y, tensor(gs, y.shape)))); return y; });
  const r = { shape: out.shape, out: await out.data(), dx: await x.grad!.data() };
  for (const t of [out, x.grad!, x]) t.dispose();
  return r;
}

for (const [i, c] of (fixtures as any[]).entries()) {
  test(`resize2d vs torch interpolate #${i}: [${c.shape}] -> [${c.size}] alignCorners=${c.alignCorners}`, async () => {
    const x = tensor(c.x, c.shape);
    const y = resize2d(x, c.size, { alignCorners: c.alignCorners });
    assertClose(await y.data(), c.out, 1e-5, 1e-5, 'forward (alignCorners flag)');
    y.dispose(); x.dispose();
    const r = await run(c.x, c.shape, c.size, c.alignCorners ? 'align-corners' : 'half-pixel', c.gout);
    assert.equal(r.shape, [c.shape[0], c.shape[1], ...c.size]);
    assertClose(r.out, c.out, 1e-5, 1e-5, 'forward');
    assertClose(r.dx, c.dx, 1e-4, 1e-5, 'backward');
  });
}

const CASES: [number[], [number, number], ResizeMode][] = [
  [[1, 2, 4, 5], [13, 7], 'half-pixel'], [[2, 1, 9, 7], [3, 5], 'align-corners'], [[1, 1, 5, 3], [8, 8], 'asymmetric'],
  [[1, 1, 3, 2], [29, 31], 'half-pixel'], [[1, 1, 6, 4], [1, 7], 'align-corners'],
];
for (const [shape, size, mode] of CASES) {
  test(`resize2d [${shape}] -> [${size}] ${mode}: forward vs float64, backward vs finite differences`, async () => {
    const n = shape.reduce((a, b) => a * b, 1);
    const xs = randArray(n);
    const ref = resize2dRef(xs, shape, size, mode);
    const gs = randArray(ref.length);
    const r = await run(xs, shape, size, mode, gs);
    assertClose(r.out, ref, 1e-5, 1e-5, 'forward');
    const loss = (v: Float64Array) => resize2dRef(v, shape, size, mode).reduce((s, o, i) => s + o * gs[i], 0);
    assertClose(r.dx, numericGrad(loss, xs), 1e-3, 1e-4, 'backward');
  });
}

test('resize2d refuses bad sizes and ranks', () => {
  const x = tensor(new Float32Array(4), [1, 1, 2, 2]);
  assert.throws(() => resize2d(x, [0, 3]), /positive/);
  assert.throws(() => resize2d(tensor(new Float32Array(4), [2, 2]), [3, 3]), /N, C, H, W/);
  x.dispose();
});

test.run();
