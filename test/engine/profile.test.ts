import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { matmul } from '../../kernels/matmul/matmul.ts';
import { add } from '../../kernels/elementwise/elementwise.ts';
import { formatProfile } from '../../engine/core/profiler.ts';
import type { Runtime } from '../../engine/core/runtime.ts';
import { profile } from '../../engine/core/runtime.ts';

let rt: Runtime;
test.before(async () => { rt = await setup(); });

test('profile: every dispatch is timed under its kernel name, and results stay correct', async () => {
  if (!rt.device.features.has('timestamp-query')) {
    console.log('  (skipped: this adapter has no timestamp-query)');
    return;
  }
  const M = 97, K = 131, N = 75;
  const as = randArray(M * K), bs = randArray(K * N);
  const a = tensor(as, [M, K]), b = tensor(bs, [K, N]);
  const before = new Map(rt.dispatchByName);
  let y: ReturnType<typeof matmul> | null = null, z: ReturnType<typeof add> | null = null;
  // More dispatches than one submit's query set holds, so the profiler rolls over.
  const report = await profile(() => {
    for (let i = 0; i < 150; i++) { z?.dispose(); z = add(a, a); }
    y = matmul(a, b);
  });
  const delta = new Map([...rt.dispatchByName].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
  for (const [k, v] of delta) if (v === 0) delta.delete(k);
  assert.equal(new Map(report.rows.map((r) => [r.kernel, r.calls])), delta, 'calls per kernel = dispatches per kernel');
  assert.ok(report.rows.every((r) => r.ms >= 0), 'times are non-negative');
  assert.ok(report.totalMs > 0, 'something took time');
  assert.match(formatProfile(report), /binary/);
  const ref = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) { let s = 0; for (let k = 0; k < K; k++) s += as[i * K + k] * bs[k * N + j]; ref[i * N + j] = s; }
  assertClose(await y!.data(), ref, 1e-4, 1e-4, 'matmul under profiling');
  assertClose(await z!.data(), Float64Array.from(as, (v) => 2 * v), 1e-6, 1e-6, 'add under profiling');
  for (const t of [a, b, y!, z!]) t.dispose();
});

test('profile: one at a time, and dispatching goes back to batched passes after', async () => {
  if (!rt.device.features.has('timestamp-query')) return;
  const p = rt.startProfile();
  assert.throws(() => rt.startProfile(), /already running/);
  rt.stopProfile();
  await p.report();
  const a = tensor([1, 2, 3], [3]);
  const s = add(a, a);
  assert.equal(Array.from(await s.data()), [2, 4, 6]);
  a.dispose(); s.dispose();
});

test.run();
