// The tensor factory converts host numbers to the tensor's dtype without changing any of them: an i32
// tensor refuses NaN, ±Infinity, fractions and values outside int32 (Int32Array.from would make
// [NaN, 2.7, 1e12] into [0, 2, -727379968]), and an f32 tensor refuses finite values beyond the f32
// range (they would become ±Infinity). The error names the first bad index and value.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, randInt } from '../helpers.ts';
import { tensor, assign } from '../../engine/core/factory.ts';
import { ThawError } from '../../engine/core/errors.ts';
import { runtime } from '../../engine/core/runtime.ts';

test.before(async () => { await setup(); });

function thrown(fn: () => unknown): Error | null {
  try { fn(); } catch (e) { return e as Error; }
  return null;
}

test('i32 from exact integers (extremes included) round-trips; from an Int32Array as well', async () => {
  const n = 5 + Math.floor(rand() * 50);
  const vals = Array.from(randInt(n, 2000), (v) => v - 1000);
  vals[Math.floor(rand() * n)] = 2 ** 31 - 1;
  vals[Math.floor(rand() * n)] = -(2 ** 31);
  const t = tensor(vals, [n], 'i32');
  assert.equal(Array.from(await t.data<Int32Array>()), vals);
  t.dispose();
  const u = tensor(Int32Array.from(vals));
  assert.is(u.dtype, 'i32');
  u.dispose();
});

test('i32 refuses NaN, Infinity, fractions and out-of-range values, naming the first bad index and value, before allocating', () => {
  const bads: [number, RegExp][] = [
    [NaN, /i32 value NaN at index (\d+) is not a finite number/],
    [Infinity, /i32 value Infinity at index (\d+) is not a finite number/],
    [-Infinity, /i32 value -Infinity at index (\d+) is not a finite number/],
    [2.5 + Math.floor(rand() * 100), /i32 value \d+\.5 at index (\d+) is not an integer/],
    [1e12 + Math.floor(rand() * 1000), /i32 value 10{3}\d{9} at index (\d+) is outside the int32 range/],
    [-(2 ** 31) - 1 - Math.floor(rand() * 1000), /i32 value -21474\d{5} at index (\d+) is outside the int32 range/],
  ];
  const created = runtime().pool.getStats().created, live = runtime().pool.getStats().liveBuffers;
  for (const [bad, re] of bads) {
    const n = 3 + Math.floor(rand() * 40);
    const vals = Array.from(randInt(n, 100));
    const at = Math.floor(rand() * n);
    vals[at] = bad;
    if (at + 1 < n) vals[n - 1] = NaN; // a later bad value is not the one named
    const e = thrown(() => tensor(vals, [n], 'i32'));
    assert.ok(e instanceof ThawError, `${bad}: ${e}`);
    const m = re.exec(e!.message);
    assert.ok(m, e!.message);
    assert.is(Number(m![1]), at, e!.message);
    assert.match(e!.message, /use dtype 'f32'/);
    assert.ok(e!.message.startsWith('tensor: '), e!.message);
  }
  // The example, as a Float32Array (a float array forced to i32).
  assert.match(thrown(() => tensor(new Float32Array([NaN, 2.7, 1e12]), [3], 'i32'))!.message, /i32 value NaN at index 0/);
  assert.match(thrown(() => tensor([7, 2.7, 1e12], [3], 'i32'))!.message, /i32 value 2\.7 at index 1 is not an integer/);
  assert.is(runtime().pool.getStats().created, created, 'no buffer made for a refused tensor');
  assert.is(runtime().pool.getStats().liveBuffers, live);
});

test('assign into an i32 tensor refuses the same values and leaves the tensor as it was', async () => {
  const n = 4 + Math.floor(rand() * 20);
  const vals = Array.from(randInt(n, 1000));
  const t = tensor(vals, [n], 'i32');
  const bad = [...vals];
  const at = Math.floor(rand() * n);
  bad[at] = vals[at] + 0.25;
  assert.match(thrown(() => assign(t, bad))!.message, new RegExp(`^assign: i32 value ${vals[at] + 0.25} at index ${at} is not an integer`));
  assert.equal(Array.from(await t.data<Int32Array>()), vals);
  t.dispose();
});

test('f32 refuses finite values beyond the f32 range; NaN and Infinity given on purpose stay', async () => {
  const n = 3 + Math.floor(rand() * 30);
  const vals = Array.from({ length: n }, () => rand() * 10 - 5);
  const at = Math.floor(rand() * n);
  vals[at] = (rand() < 0.5 ? -1 : 1) * (1e39 + rand() * 1e39);
  const e = thrown(() => tensor(vals, [n]));
  assert.ok(e instanceof ThawError);
  assert.match(e!.message, new RegExp(`^tensor: value -?[\\d.e+]+ at index ${at} is outside the f32 range \\(±3\\.4e38\\) and would become -?Infinity`));
  const ok = tensor([NaN, Infinity, -Infinity, 3.4e38, 1e-50]);
  const d = await ok.data();
  assert.ok(Number.isNaN(d[0]));
  assert.equal(Array.from(d.subarray(1)), [Infinity, -Infinity, Math.fround(3.4e38), 0]);
  ok.dispose();
});

test.run();
