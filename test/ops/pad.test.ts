import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { setup, randArray, assertClose, numericGrad } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { add, mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { pad2d, padOf, resolvePadding, subsamplePad, type Padding2d } from '../../kernels/pad/pad.ts';
import { pad2dRef, subsamplePadRef, subsamplePadDxRef } from '../../kernels/pad/reference.ts';
import { roundToHalf } from '../../kernels/cast/reference.ts';
import { runtime } from '../../engine/core/runtime.ts';
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

// subsamplePad: x[:, :, ::step, ::step] between zero channels, forward and backward one dispatch each;
// odd planes (ceil(H / step) rows, as torch's slicing), asymmetric and absent channel pads.
for (const [shape, step, before, after] of [[[2, 3, 7, 9], 2, 2, 1], [[1, 5, 8, 5], 3, 0, 4], [[3, 4, 6, 6], 2, 2, 2], [[1, 2, 5, 3], 1, 1, 0]] as [number[], number, number, number][]) {
  for (const dtype of ['f32', 'f16'] as const) {
    test(`subsamplePad ${dtype} [${shape}] step ${step} channels +${before}/+${after}: forward and backward vs float64`, async () => {
      const n = shape.reduce((a, b) => a * b, 1);
      // f16: inputs rounded to half first, so the copies are exact in both dtypes.
      const round = (v: Float32Array) => (dtype === 'f16' ? Float32Array.from(v, roundToHalf) : v);
      const xs = round(randArray(n));
      const ref = subsamplePadRef(xs, shape, step, before, after);
      const gs = round(randArray(ref.length));
      const x = variable(tensor(xs, shape, dtype));
      const since = runtime().dispatchByName.get('subsample_pad') ?? 0;
      const y = tidy(() => { const y = subsamplePad(x, step, before, after); backward(y, tensor(gs, y.shape, dtype)); return y; });
      assert.is((runtime().dispatchByName.get('subsample_pad') ?? 0) - since, 2, 'one dispatch forward, one backward');
      assert.equal(y.shape, [shape[0], before + shape[1] + after, Math.ceil(shape[2] / step), Math.ceil(shape[3] / step)]);
      assert.is(y.dtype, dtype);
      assert.is(x.grad!.dtype, dtype);
      assertClose(await y.data(), ref, 0, 0, 'forward');
      assertClose(await x.grad!.data(), subsamplePadDxRef(gs, shape, step, before, after), 0, 0, 'backward');
      for (const t of [y, x.grad!, x]) t.dispose();
    });
  }
}

// Two shortcuts of one x: the second backward adds the first's gradient in its own kernel (no
// separate add), bit for bit the f32 sum of the two copies (rounded once to half for f16).
for (const dtype of ['f32', 'f16'] as const) {
  test(`subsamplePad ${dtype} backward adds the gradient x already has in its kernel`, async () => {
    const shape = [2, 3, 7, 5], n = shape.reduce((a, b) => a * b, 1);
    const round = (v: ArrayLike<number>) => (dtype === 'f16' ? Float64Array.from(v, roundToHalf) : Float64Array.from(v, Math.fround));
    const x = variable(tensor(randArray(n), shape, dtype));
    const ys = [2, 5, 4, 3], gs = round(randArray(ys.reduce((a, b) => a * b, 1)));
    const rt = runtime();
    let adds = 0;
    tidy(() => {
      const root = add(subsamplePad(x, 2, 1, 1), subsamplePad(x, 2, 0, 2));
      const b0 = rt.dispatchByName.get('binary') ?? 0;
      backward(root, tensor(gs, ys, dtype));
      adds = (rt.dispatchByName.get('binary') ?? 0) - b0;
    });
    assert.is(adds, 0, 'no separate add');
    const a = subsamplePadDxRef(gs, shape, 2, 1, 1), b = subsamplePadDxRef(gs, shape, 2, 0, 2);
    assertClose(await x.grad!.data(), round(a.map((v, i) => Math.fround(v + b[i]))), 0, 0, 'x.grad');
    for (const t of [x.grad!, x]) t.dispose();
  });
}

test('subsamplePad refuses a bad rank, dtype, step or channel pad', () => {
  const x = tensor(new Float32Array(8), [1, 2, 2, 2]);
  const i = tensor(new Int32Array(8), [1, 2, 2, 2], 'i32');
  const v = tensor(new Float32Array(8), [2, 2, 2]);
  assert.throws(() => subsamplePad(v, 2, 1, 1), /rank 4/);
  assert.throws(() => subsamplePad(i, 2, 1, 1), /dtype i32/);
  assert.throws(() => subsamplePad(x, 0, 1, 1), /step 0/);
  assert.throws(() => subsamplePad(x, 2, -1, 1), /non-negative/);
  assert.throws(() => subsamplePad(x, 2, 1, 0.5), /non-negative/);
  for (const t of [x, i, v]) t.dispose();
});

test.run();
