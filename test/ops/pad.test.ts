import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { setup, randArray, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { pad2d, padOf, resolvePadding, type Padding2d } from '../../kernels/pad/pad.ts';
import { pad2dRef } from '../../kernels/pad/reference.ts';
import { variable } from '../../engine/core/tape.ts';

test.before(async () => { await setup(); });

const fixtures = JSON.parse(readFileSync(new URL('../fixtures/cnn/pad.json', import.meta.url), 'utf8'));

async function run(xs: ArrayLike<number>, shape: number[], p: Exclude<Padding2d, 'same'>, value: number, gs: (n: number) => ArrayLike<number>) {
  const x = variable(tensor(xs, shape));
  const out = tidy(() => { const y = pad2d(x, p, value); backward(sum(mul(y, tensor(gs(y.size), y.shape)))); return y; });
  const r = { shape: out.shape, out: await out.data(), dx: await x.grad!.data() };
  for (const t of [out, x.grad!, x]) t.dispose();
  return r;
}

for (const [i, c] of (fixtures as any[]).entries()) {
  test(`pad2d vs torch F.pad #${i}: [${c.shape}] pads [${c.padding}] value ${c.value}`, async () => {
    const r = await run(c.x, c.shape, c.padding, c.value, () => c.gout);
    assert.equal(r.shape, c.outShape);
    assertClose(r.out, Float32Array.from(c.out), 0, 0, 'forward (exact copy)');
    assertClose(r.dx, Float32Array.from(c.dx), 0, 0, 'backward (exact copy)');
  });
}

for (const [shape, p] of [[[1, 3, 5, 4], 2], [[2, 1, 3, 7], [0, 3]], [[1, 2, 6, 5], [3, -2, -1, 0]], [[1, 1, 1, 1], [1, 0, 0, 1]]] as [number[], any][]) {
  test(`pad2d [${shape}] ${JSON.stringify(p)}: forward vs float64, backward vs finite differences`, async () => {
    const n = shape.reduce((a, b) => a * b, 1);
    const xs = randArray(n);
    const P = padOf('t', p);
    const ref = pad2dRef(xs, shape, P);
    const gs = randArray(ref.length);
    const r = await run(xs, shape, p, 0, () => gs);
    assertClose(r.out, ref, 0, 0, 'forward');
    const loss = (v: Float64Array) => pad2dRef(v, shape, P).reduce((s, o, i) => s + o * gs[i], 0);
    assertClose(r.dx, numericGrad(loss, xs), 1e-3, 1e-4, 'backward');
  });
}

test("resolvePadding: TF 'same' puts the odd pixel at the bottom/right; explicit forms", () => {
  assert.equal(resolvePadding('t', 'same', 7, 10, [3, 3], [2, 2]), { top: 1, bottom: 1, left: 0, right: 1 });
  assert.equal(resolvePadding('t', 'same', 6, 9, [2, 2], [2, 2]), { top: 0, bottom: 0, left: 0, right: 1 });
  assert.equal(resolvePadding('t', 'same', 5, 5, [3, 3], [1, 1], [2, 2]), { top: 2, bottom: 2, left: 2, right: 2 });
  assert.equal(resolvePadding('t', 'valid', 5, 5, [3, 3], [1, 1]), { top: 0, bottom: 0, left: 0, right: 0 });
  assert.equal(resolvePadding('t', [1, 2], 5, 5, [3, 3], [1, 1]), { top: 1, bottom: 1, left: 2, right: 2 });
  assert.throws(() => padOf('t', [1, 2, 3] as any), /padding/);
});

test('pad2d refuses crops larger than the input', () => {
  const x = tensor(new Float32Array(4), [1, 1, 2, 2]);
  assert.throws(() => pad2d(x, [-2, -1, 0, 0]), /crop/);
  x.dispose();
});

test.run();
