import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { f16ToF32, f32ToF16, toHalfBits, fromHalfBits, bf16ToHalfBits } from '../../engine/core/half.ts';
import { roundToHalf } from '../../kernels/cast/reference.ts';
import { runSeed, halfCases } from '../helpers.ts';

const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

test('f32ToF16 rounds every double to the nearest half, ties to even (float64 reference)', () => {
  for (const x of halfCases(20001)) {
    const got = f16ToF32(f32ToF16(x)), want = roundToHalf(x);
    if (!same(got, want)) assert.unreachable(`${x} → ${got}, expected ${want} (seed ${runSeed})`);
  }
  assert.is(f32ToF16(NaN), 0x7e00);
  assert.is(f32ToF16(-0), 0x8000);
  // A double just above a tie of halves rounds up, though through f32 it would be the tie and round to even.
  const above = 1 + 2 ** -11 + 2 ** -40;
  assert.is(f32ToF16(above), 0x3c01);
});

test('every half decodes and re-encodes to itself; bulk conversion of odd lengths', () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = f16ToF32(h);
    if (Number.isNaN(v)) continue;
    if (f32ToF16(v) !== h) assert.unreachable(`0x${h.toString(16)}`);
  }
  const xs = halfCases(1001);
  const bits = toHalfBits(xs), back = fromHalfBits(bits);
  assert.is(bits.length, 1001);
  for (let i = 0; i < xs.length; i++) if (!same(back[i], roundToHalf(xs[i]))) assert.unreachable(`index ${i}: ${xs[i]} → ${back[i]}`);
});

test('bf16 → f16: rounds to nearest even and counts the finite values that overflow', () => {
  const vals = [1, -2.5, 65504, 1e5, -3e38, 2 ** -20, 2 ** -30, NaN, Infinity, 1 / 3];
  const f = new Float32Array(vals), u = new Uint32Array(f.buffer);
  const bf = Uint16Array.from(u, (x) => x >>> 16); // truncated to bf16: the values below are those
  const { bits, overflowed } = bf16ToHalfBits(bf);
  assert.is(overflowed, 2);
  for (let i = 0; i < bf.length; i++) {
    const v = new Float32Array(new Uint32Array([bf[i] << 16]).buffer)[0];
    assert.ok(same(f16ToF32(bits[i]), roundToHalf(v)), `${v} → ${f16ToF32(bits[i])}`);
  }
});

test.run();
