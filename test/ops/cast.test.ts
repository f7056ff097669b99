import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, runSeed, halfCases } from '../helpers.ts';
import { tensor, full, clone, tensorFromHalfBits } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { variable } from '../../engine/core/tape.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { cast } from '../../kernels/cast/cast.ts';
import { roundToHalf, truncToInt } from '../../kernels/cast/reference.ts';
import { f32ToF16 } from '../../engine/core/half.ts';

test.before(async () => { await setup(); });

const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
function expectValues(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.is(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) if (!same(got[i], want[i])) assert.unreachable(`${what}[${i}] = ${got[i]}, expected ${want[i]} (seed ${runSeed})`);
}

for (const n of [1, 2, 7, 1001, 4099]) {
  test(`cast f32 → f16 → f32, n=${n}: round to nearest even on the GPU (ties, subnormals, overflow, NaN), then exact`, async () => {
    const xs = Float32Array.from(halfCases(n)).slice(0, n); // the values as f32 (the tensor's dtype)
    const x = tensor(xs);
    const h = cast(x, 'f16'), back = cast(h, 'f32');
    assert.is(h.dtype, 'f16');
    const bits = await h.halfBits();
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(xs[i])) { assert.ok((bits[i] & 0x7c00) === 0x7c00 && (bits[i] & 0x3ff), `NaN at ${i}`); continue; }
      if (bits[i] !== f32ToF16(xs[i])) assert.unreachable(`bits[${i}] of ${xs[i]}: 0x${bits[i].toString(16)}, expected 0x${f32ToF16(xs[i]).toString(16)}`);
    }
    expectValues(await back.data(), Array.from(xs, roundToHalf), 'f16 → f32');
    expectValues(await h.data(), Array.from(xs, roundToHalf), 'f16 download');
    for (const t of [x, h, back]) t.dispose();
  });
}

test('cast i32 ↔ f16 ↔ f32: integers to the nearest half, floats truncated toward zero', async () => {
  const ints = Int32Array.from([0, 1, -1, 2049, 2051, 65504, 65519, 65520, 1 << 30, -(1 << 30), 12345, -7]);
  const hi = cast(tensor(ints), 'f16');
  expectValues(await hi.data(), Array.from(ints, roundToHalf), 'i32 → f16');
  const fs = randArray(333, -300, 300);
  const hf = cast(tensor(fs), 'f16'), back = cast(hf, 'i32');
  assert.is(back.dtype, 'i32');
  expectValues(await back.data<Int32Array>(), Array.from(fs, (v) => truncToInt(roundToHalf(v))), 'f16 → i32');
  const fi = cast(tensor(Int32Array.from([3, -4, 100000])), 'f32');
  expectValues(await fi.data(), [3, -4, 100000], 'i32 → f32');
  for (const t of [hi, hf, back, fi]) t.dispose();
});

test('f16 tensors: upload rounds on the host, full and clone keep odd lengths, raw half bits upload as they are', async () => {
  for (const n of [1, 3, 10, 257]) {
    const xs = halfCases(n).slice(0, n);
    const t = tensor(xs, [n], 'f16'), c = clone(t), f = full([n], 1 / 3, 'f16');
    expectValues(await t.data(), xs.map(roundToHalf), `tensor f16 n=${n}`);
    expectValues(await c.data(), xs.map(roundToHalf), `clone f16 n=${n}`);
    expectValues(await f.data(), new Array(n).fill(roundToHalf(1 / 3)), `full f16 n=${n}`);
    const bits = Uint16Array.from({ length: n }, (_, i) => (i * 0x1357) & 0xffff);
    const r = tensorFromHalfBits(bits, [n]);
    assert.equal(Array.from(await r.halfBits()), Array.from(bits));
    for (const u of [t, c, f, r]) u.dispose();
  }
});

test('cast: gradients flow back through f16 as a cast of the output gradient (so rounded to f16 on the way)', async () => {
  const xs = randArray(101), gs = randArray(101, -2, 2);
  const x = variable(tensor(xs));
  tidy(() => backward(sum(mul(cast(cast(x, 'f16'), 'f32'), tensor(gs)))));
  expectValues(await x.grad!.data(), Array.from(gs, roundToHalf), 'dx');
  assert.is(cast(x, 'f32'), x);
  assert.throws(() => cast(x, 'f64' as never), /cast: dtype "f64" is not one of f32, i32, f16/);
  x.grad!.dispose(); x.dispose();
});

test.run();
