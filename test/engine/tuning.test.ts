// Tuning as data (engine/core/tuning.ts): the two tables are deep-frozen, the runtime picks one by
// adapter or THAW_TUNING, a per-call `tuning` option changes the kernel an op runs (forward and
// backward) without changing its result, and leaves nothing behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setup, randArray, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { runtime, withTuning } from '../../engine/core/runtime.ts';
import { TUNINGS, tuningName, mergeTuning, type Tuning } from '../../engine/core/tuning.ts';
import { ThawError } from '../../engine/core/errors.ts';
import { variable } from '../../engine/core/tape.ts';
import { mul } from '../../kernels/elementwise/elementwise.ts';
import { sum } from '../../kernels/reduce/reduce.ts';
import { reduceRef } from '../../kernels/reduce/reference.ts';
import { matmul } from '../../kernels/matmul/matmul.ts';
import { matmulRef } from '../../kernels/matmul/reference.ts';
import { attention } from '../../kernels/attention/attention.ts';

test.before(async () => { await setup(); });

const snapshot = () => new Map(runtime().dispatchByName);
/** Dispatches since `since` of kernels whose name starts with `prefix`. */
const ran = (since: Map<string, number>, prefix: string) =>
  [...runtime().dispatchByName].filter(([k]) => k.startsWith(prefix)).reduce((a, [k, n]) => a + n - (since.get(k) ?? 0), 0);

function assertDeepFrozen(o: unknown, path: string): void {
  if (!o || typeof o !== 'object') return;
  assert.ok(Object.isFrozen(o), `${path} is frozen`);
  for (const [k, v] of Object.entries(o)) assertDeepFrozen(v, `${path}.${k}`);
}

test('both tables and the runtime\'s are deep-frozen; writes throw', () => {
  assertDeepFrozen(TUNINGS, 'TUNINGS');
  const t = runtime().tuning;
  assertDeepFrozen(t, 'runtime().tuning');
  assert.throws(() => { (t.matmul as any).kernel = 'naive'; }, TypeError);
  assert.throws(() => { (t.conv.sgTM as any)[8] = 1; }, TypeError);
  assert.throws(() => { (t as any).conv = {}; }, TypeError);
  assert.is(Object.keys(TUNINGS.software).join(), Object.keys(TUNINGS.hardware).join(), 'the same families');
});

test('the table follows the adapter kind; THAW_TUNING overrides it', () => {
  assert.is(tuningName({ kind: 'lavapipe', isSoftware: true }), 'software');
  assert.is(tuningName({ kind: 'swiftshader', isSoftware: true }), 'software');
  assert.is(tuningName({ kind: 'hardware', isSoftware: false }), 'hardware');
  assert.is(tuningName({ kind: 'hardware', isSoftware: true }), 'software', 'a fallback adapter');
  assert.is(tuningName({ kind: 'lavapipe', isSoftware: true }, 'hardware'), 'hardware');
  assert.is(tuningName({ kind: 'hardware', isSoftware: false }, 'software'), 'software');
  assert.throws(() => tuningName({ kind: 'lavapipe', isSoftware: true }, 'fast'), (e: unknown) => e instanceof ThawError && /THAW_TUNING/.test(String(e)));
  const rt = runtime();
  assert.is(rt.tuningName, process.env.THAW_TUNING || tuningName(rt.gpu.info));
  assert.is(rt.adapterTuning, TUNINGS[rt.tuningName]);
  assert.is(rt.tuning, rt.adapterTuning, 'no override in effect');
});

test('THAW_TUNING picks the table in a fresh process', () => {
  const runtimeUrl = new URL('../../engine/core/runtime.ts', import.meta.url).href;
  const script = `const { init } = await import(${JSON.stringify(runtimeUrl)}); const rt = await init(); ` +
    'console.log(JSON.stringify({ name: rt.tuningName, kernel: rt.tuning.matmul.kernel })); process.exit(0);';
  const want = runtime().tuningName === 'hardware' ? 'software' : 'hardware';
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, THAW_TUNING: want }, encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)),
  });
  const got = JSON.parse(out.trim().split('\n').at(-1)!);
  assert.equal(got, { name: want, kernel: TUNINGS[want].matmul.kernel });
});

test('mergeTuning: a patch replaces fields of its families, returns a frozen table, rejects unknown names', () => {
  const base = TUNINGS.software;
  const m = mergeTuning(base, { matmul: { kernel: 'tiled' }, conv: { dxWinograd: 2 } });
  assert.is(m.matmul.kernel, 'tiled');
  assert.is(m.conv.dxWinograd, 2);
  assert.is(m.conv.gemmPX, base.conv.gemmPX);
  assert.is(m.reduce, base.reduce, 'untouched families are shared');
  assertDeepFrozen(m, 'merged');
  assert.is(mergeTuning(base, undefined), base);
  assert.throws(() => mergeTuning(base, { convs: {} } as any), /no kernel family 'convs'/);
  assert.throws(() => mergeTuning(base, { conv: { winograd: 4 } } as any), /no field 'winograd'/);
});

test('matmul: a per-call tuning runs another kernel (forward and backward) with the same result as float64', async () => {
  const [M, K, N] = [24, 20, 28];
  const A = randArray(M * K), B = randArray(K * N), W = randArray(M * N);
  const y = matmulRef(A, [M, K], B, [K, N]).data;
  // d(sum(A·B * W))/dA = W·Bᵀ, /dB = Aᵀ·W.
  const dA = matmulRef(W, [M, N], B, [K, N], { transB: true }).data;
  const dB = matmulRef(A, [M, K], W, [M, N], { transA: true }).data;
  const kernels: [Tuning['matmul']['kernel'], string][] = [['tiled', 'matmul_tiled'], ['blocked', 'matmul_blocked']];
  for (const [kernel, name] of kernels) {
    const a = variable(tensor(A, [M, K])), b = variable(tensor(B, [K, N]));
    const since = snapshot();
    const out = tidy(() => {
      const out = matmul(a, b, { tuning: { matmul: { kernel } } });
      backward(sum(mul(out, tensor(W, [M, N]))));
      return out;
    });
    assert.is(ran(since, name), 3, `${kernel}: forward, dA and dB on ${name}`);
    assert.is(ran(since, 'matmul_') - ran(since, name), 0, `${kernel}: no other matmul kernel`);
    assertClose(await out.data(), y, 1e-5, 1e-5, `${kernel} y`);
    assertClose(await a.grad!.data(), dA, 1e-5, 1e-5, `${kernel} dA`);
    assertClose(await b.grad!.data(), dB, 1e-5, 1e-5, `${kernel} dB`);
    for (const t of [out, a.grad, b.grad, a, b]) t?.dispose();
  }
  assert.is(runtime().tuning, runtime().adapterTuning, 'the override ends with the call');
});

test('sum: a per-call reduce tuning changes the launch (chunked + merge pass), not the result', async () => {
  const shape = [6, 300], X = randArray(6 * 300);
  const want = reduceRef('sum', X, shape, [1]);
  const x = tensor(X, shape);
  for (const [reduce, merges] of [[{ minChunk: 1000 }, 0], [{ minChunk: 4, targetInvocations: 1 << 16 }, 1]] as const) {
    const since = snapshot();
    const s = sum(x, 1, false, { tuning: { reduce } });
    assert.is(ran(since, 'reduce_merge'), merges, `merge passes at ${JSON.stringify(reduce)}`);
    assertClose(await s.data(), want, 1e-5, 1e-5, JSON.stringify(reduce));
    s.dispose();
  }
  x.dispose();
});

test('attention: impl \'auto\' runs tuning.attention.impl; per call either one gives the same output', async () => {
  const [Bn, H, T, D] = [2, 2, 5, 8];
  const q = tensor(randArray(Bn * H * T * D), [Bn, H, T, D]), k = tensor(randArray(Bn * H * T * D), [Bn, H, T, D]);
  const v = tensor(randArray(Bn * H * T * D), [Bn, H, T, D]);
  const outs: Float32Array[] = [];
  for (const impl of ['fused', 'composed'] as const) {
    const since = snapshot();
    const o = attention(q, k, v, { impl: 'auto', tuning: { attention: { impl } } });
    assert.is(ran(since, 'attention_forward') > 0, impl === 'fused', `${impl}: the fused kernel ran or not`);
    outs.push(await o.data());
    o.dispose();
  }
  assertClose(outs[0], outs[1], 1e-5, 1e-5, 'fused vs composed');
  const since = snapshot();
  withTuning(undefined, () => attention(q, k, v, { impl: 'auto' })).dispose();
  assert.is(ran(since, 'attention_forward') > 0, runtime().tuning.attention.impl === 'fused', 'auto follows the table');
  for (const t of [q, k, v]) t.dispose();
});

test.run();
