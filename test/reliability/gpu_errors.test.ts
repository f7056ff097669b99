// GPU failures surface as clear ThawErrors: an allocation over the adapter's limits fails before any GPU
// call and names the tensor's shape and the limit; a broken kernel is reported with its name (THAW_DEBUG
// or not); a lost device raises DeviceError on the next op, and training resumes on a new device from
// the last checkpoint with the same losses. Device-level failures run in child processes, so the shared
// test device stays clean.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup } from '../helpers.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { gpu } from '../../engine/core/device.ts';
import { LimitError } from '../../engine/core/errors.ts';
import { tensor, full } from '../../engine/core/factory.ts';
import { matmul } from '../../kernels/matmul/matmul.ts';
import { runChild, resultOf, finding } from './common.ts';

const dir = mkdtempSync(join(tmpdir(), 'thaw-gpuerr-'));
test.before(async () => { await setup(); });
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('an allocation over maxStorageBufferBindingSize fails before any GPU call, naming the shape and the limit', () => {
  const rt = runtime();
  const limit = rt.device.limits.maxStorageBufferBindingSize;
  const n = Math.floor(limit / 4) + 1;
  const side = Math.ceil(Math.sqrt(limit / 4)) + 1; // (side, side) f32 is just over the limit
  const a = tensor(new Float32Array(side).fill(1), [side, 1]), b = tensor(new Float32Array(side).fill(1), [1, side]);
  const cases: [string, () => unknown, RegExp][] = [
    ['full', () => full([n], 0), new RegExp(`tensor \\[${n}\\] needs ${n * 4} bytes`)],
    ['matmul output', () => matmul(a, b), new RegExp(`tensor \\[${side}, ${side}\\] needs ${side * side * 4} bytes`)],
  ];
  for (const [what, fn, re] of cases) {
    const before = rt.pool.getStats().created, d0 = rt.dispatches, errors = gpu!.errors.length;
    let err: unknown = null;
    try { fn(); } catch (e) { err = e; }
    assert.ok(err instanceof LimitError, `${what}: ${err}`);
    const m = (err as Error).message;
    assert.match(m, re, what);
    assert.match(m, new RegExp(`maxStorageBufferBindingSize ${limit}`), what);
    assert.is(rt.dispatches, d0, `${what}: no kernel ran`);
    assert.is(rt.pool.getStats().created, before, `${what}: no buffer was created`);
    assert.is(gpu!.errors.length, errors, `${what}: WebGPU saw nothing invalid`);
    console.log(`  ${what}: ${m}`);
  }
  a.dispose(); b.dispose();
});

test('a broken kernel is reported with its name, with THAW_DEBUG=1 and without', async () => {
  const [debug, plain] = await Promise.all([runChild(['invalid-kernel'], { THAW_DEBUG: '1' }), runChild(['invalid-kernel'], { THAW_DEBUG: '0' })]);
  for (const [mode, child] of [['THAW_DEBUG=1', debug], ['default', plain]] as const) {
    const r = resultOf(child);
    assert.is(r.debug, mode === 'THAW_DEBUG=1');
    // A WGSL type error is only known to Dawn: it surfaces as a DeviceError at the next sync point.
    assert.is(r.runError, null);
    assert.is(r.readError?.name, 'DeviceError', JSON.stringify(r));
    assert.is(r.readError.kind, 'gpu-validation');
    assert.match(r.readError.message, /thaw_test_broken_types/);
    assert.match(r.readError.message, /cannot initialize 'let' of type 'f32' with value of type 'u32'/);
    if (mode === 'THAW_DEBUG=1') assert.match(r.readError.message, /in kernel thaw_test_broken_types:/);
    const named = r.readError.message.match(/in kernel \w+/)?.[0] ?? r.readError.message.match(/ShaderModuleDescriptor ""\w+""/)?.[0];
    console.log(`  ${mode}: ${r.readError.name} (${r.readError.kind}) at the next readback: ${r.readError.message.split('\n')[0]} … ${named}`);
    // A WGSL syntax error is caught by the reflection step, before anything reaches the GPU.
    assert.ok(r.syntaxError, 'the syntax error throws from run()');
    if (!/thaw_test_broken_syntax/.test(r.syntaxError.message) || r.syntaxError.kind === undefined) {
      if (mode === 'default') finding('engine/core/runtime.ts (compile: new WgslReflect(code))', `a WGSL syntax error escapes as a bare ${r.syntaxError.name} "${r.syntaxError.message}" without the kernel's name; wrap it in ThawError('kernel', \`kernel \${k.key}: WGSL does not parse: ...\`)`);
    }
  }
});

test('a lost device raises DeviceError on the next op; training resumes on a new device with the same losses', async () => {
  const r = resultOf(await runChild(['device-loss', dir]));
  assert.ok(!r.fatal, JSON.stringify(r.fatal));
  for (const [when, e] of [['next op, before the loss is reported', r.immediate], ['later op', r.later]] as const) {
    assert.is(e?.name, 'DeviceError', `${when}: ${JSON.stringify(e)}`);
    assert.is(e.kind, 'device-lost');
    assert.match(e.message, /GPU device was lost .*resume from the last checkpoint/);
  }
  console.log(`  after destroy(): ${r.immediate.name} (${r.immediate.kind}): ${r.immediate.message}`);
  let d = 0;
  r.resumed.forEach((v: number, i: number) => { d = Math.max(d, Math.abs(v - r.ref[i])); });
  console.log(`  resumed on a new device at step ${r.from}: losses ${r.resumed.map((x: number) => x.toFixed(6)).join(', ')}; max |diff| vs the uninterrupted run ${d}`);
  assert.equal(r.resumed, r.ref, 'same losses on the new device');
  if (r.stale && !/lost|previous device|stale/i.test(r.stale.message)) {
    finding('engine/core/tensor.ts (Tensor.buffer) / engine/core/runtime.ts (read)', `a tensor from the lost device used after resetGpu() gives an opaque ${r.stale.name} (${r.stale.kind}): "${r.stale.message.split('\n')[0]}"; Storage could record its device and throw DeviceError('stale-tensor', 'tensor [..] belongs to a device that was lost; reload it from the checkpoint')`);
  }
});

test.run();
