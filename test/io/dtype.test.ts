import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { f16ToF32, f32ToBf16, f32ToF16, gather, encodeHost, checkShape } from '../../engine/io/dtype.ts';
import { throwsKind } from './helpers.ts';

test('f16 decode/encode: every finite half round-trips exactly', () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = f16ToF32(h);
    if (Number.isNaN(v)) { assert.ok((h & 0x7c00) === 0x7c00 && (h & 0x3ff)); continue; }
    if (f32ToF16(v) !== h) assert.unreachable(`half 0x${h.toString(16)} → ${v} → 0x${f32ToF16(v).toString(16)}`);
  }
  assert.is(f32ToF16(65520), 0x7c00); // rounds up to infinity
  assert.is(f32ToF16(65519), 0x7bff);
  assert.is(f32ToF16(2 ** -25), 0); // tie to even at the bottom of the subnormals
  assert.is(f32ToF16(3 * 2 ** -26), 1);
  assert.is(f32ToF16(NaN) & 0x7e00, 0x7e00);
});

test('bf16 encode rounds to nearest even and keeps NaN', () => {
  assert.is(f32ToBf16(1), 0x3f80);
  assert.is(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie → even
  assert.is(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82); // tie → even (up)
  assert.is(f32ToBf16(-2), 0xc000);
  assert.ok((f32ToBf16(NaN) & 0x7f80) === 0x7f80 && (f32ToBf16(NaN) & 0x7f) !== 0);
});

test('gather: i64 range, big-endian storages, strided reads', async () => {
  const i64 = new Uint8Array(16);
  new DataView(i64.buffer).setBigInt64(0, -5n, true);
  new DataView(i64.buffer).setBigInt64(8, 2n ** 31n, true);
  assert.equal([...gather(i64, 0, 2, 'i64', true, 0, [1], [1], 'x').data], [-5]);
  await throwsKind(() => gather(i64, 0, 2, 'i64', true, 0, [2], [1], 'x'), 'int-range', /2147483648/);
  const be = new Uint8Array(8);
  new DataView(be.buffer).setFloat32(0, 1.5, false);
  new DataView(be.buffer).setFloat32(4, -2, false);
  assert.equal([...gather(be, 0, 2, 'f32', false, 0, [2], [1], 'x').data], [1.5, -2]);
  const f = new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer);
  assert.equal([...gather(f, 0, 6, 'f32', true, 1, [2, 2], [3, 1], 'x').data], [1, 2, 4, 5]);
  assert.equal([...gather(f, 0, 6, 'f32', true, 0, [2, 2], [1, 2], 'x').data], [0, 2, 1, 3]);
  await throwsKind(() => gather(f, 0, 6, 'f32', true, 1, [2, 2], [3, 2], 'x'), 'out-of-bounds', /element 6/);
  await throwsKind(() => gather(f, 0, 6, 'f32', true, 0, [2, 3], [3, 2], 'x'), 'out-of-bounds');
  await throwsKind(() => gather(f, 0, 7, 'f32', true, 0, [1], [1], 'x'), 'truncated');
});

test('checkShape and encodeHost refuse what they cannot represent', async () => {
  await throwsKind(() => checkShape('3', 'x'), 'bad-shape');
  await throwsKind(() => checkShape(new Array(33).fill(1), 'x'), 'bad-shape');
  await throwsKind(() => checkShape([2 ** 20, 2 ** 20], 'x'), 'too-large');
  assert.is(checkShape([0, 2 ** 40], 'x'), 0);
  await throwsKind(() => encodeHost({ dtype: 'i8', shape: [1], data: new Int32Array([200]) }, 'x'), 'int-range');
  await throwsKind(() => encodeHost({ dtype: 'f32', shape: [3], data: new Float32Array(2) }, 'x'), 'bad-shape');
});

test.run();
