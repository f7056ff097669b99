// wgsl() (engine/core/wgsl.ts), the one way kernels assemble WGSL: the pipeline key is derived from
// the name, the defines and the unroll counts; a name stands for one source; a placeholder without a
// value fails naming the kernel; `enable` directives of the includes and the source come first;
// `unroll` repeats lines. On the device, THAW_CHECK_KERNELS=1 catches a kernel whose code depends on
// a value its defines do not carry (so its key hides a difference).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from '../helpers.ts';
import { wgsl, unrollLines, storageDefines, applyDefine } from '../../engine/core/wgsl.ts';
import { Runtime, type Kernel } from '../../engine/core/runtime.ts';
import { ThawError } from '../../engine/core/errors.ts';
import { Tensor } from '../../engine/core/tensor.ts';

function thrown(fn: () => unknown): Error | null {
  try { fn(); } catch (e) { return e as Error; }
  return null;
}

const SRC = `struct Params { n: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
@compute @workgroup_size(1)
fn main() { if ({{FLAG}}) { out[0] = {{VALUE}}; } }`;

test('the key differs when any define differs, and is the same when all are equal', () => {
  const k = (d: { FLAG: boolean; VALUE: string }) => wgsl('thaw_test_key', SRC, { defines: d });
  const a = k({ FLAG: true, VALUE: '1.0' });
  assert.is(k({ FLAG: true, VALUE: '1.0' }).key, a.key, 'equal defines, equal keys');
  assert.is(k({ FLAG: true, VALUE: '1.0' }).code(), a.code());
  assert.is.not(k({ FLAG: false, VALUE: '1.0' }).key, a.key, 'a boolean define');
  assert.is.not(k({ FLAG: true, VALUE: '2.0' }).key, a.key, 'a string define');
  assert.ok(a.key.startsWith('thaw_test_key:'), `the kernel name leads the key (dispatch counts read it): ${a.key}`);
  assert.is.not(wgsl('thaw_test_key_b', SRC, { defines: { FLAG: true, VALUE: '1.0' } }).key, a.key, 'another name, another key');
  assert.is(a.code(), SRC.replace('{{FLAG}}', 'true').replace('{{VALUE}}', '1.0'));
});

test('storage builds: {{T:f32}} and {{W(..)}} give the f32 code and key without defines, the f16 code with storageDefines', () => {
  const src = 'var<storage, read> x: array<{{T:f32}}>;\nfn ld(i: u32) -> f32 { return {{W(x[i])}}; }\nfn st(v: f32) -> {{T:f32}} { return {{S({{W(x[0])}} + v)}}; }';
  const f32 = wgsl('thaw_test_storage', src, { defines: { N: 1, ...storageDefines('f32') } });
  assert.is(f32.key, wgsl('thaw_test_storage', src, { defines: { N: 1 } }).key, 'no key change for f32');
  assert.is(f32.code(), 'var<storage, read> x: array<f32>;\nfn ld(i: u32) -> f32 { return x[i]; }\nfn st(v: f32) -> f32 { return x[0] + v; }');
  const f16 = wgsl('thaw_test_storage', src, { defines: { N: 1, ...storageDefines('f16') } });
  assert.is(f16.code(), 'enable f16;\nvar<storage, read> x: array<f16>;\nfn ld(i: u32) -> f32 { return f32(x[i]); }\nfn st(v: f32) -> f16 { return f16(f32(x[0]) + v); }');
  assert.is(applyDefine(undefined, 'x[i]'), 'x[i]');
  assert.is(applyDefine('f32', 'x[i]'), 'f32(x[i])');
  assert.ok(thrown(() => wgsl('thaw_test_storage_missing', 'let a = {{NOPE}};').code()) instanceof ThawError, 'a placeholder without a default still needs a value');
});

test('a second source under the same name throws, naming it; the same source again does not', () => {
  wgsl('thaw_test_twice', SRC, { defines: { FLAG: true, VALUE: '1.0' } });
  wgsl('thaw_test_twice', SRC, { defines: { FLAG: false, VALUE: '3.0' } });
  const e = thrown(() => wgsl('thaw_test_twice', SRC + '\n// changed', { defines: { FLAG: true, VALUE: '1.0' } }));
  assert.ok(e instanceof ThawError, `got ${e}`);
  assert.match(e!.message, /thaw_test_twice/);
  const f = thrown(() => wgsl('thaw_test_twice', SRC, { include: ['fn helper() {}'], defines: { FLAG: true, VALUE: '1.0' } }));
  assert.ok(f instanceof ThawError, 'other includes under the same name throw too');
});

test('a placeholder without a value throws naming the kernel and the placeholder', () => {
  const k = wgsl('thaw_test_missing', SRC, { defines: { FLAG: true } });
  const e = thrown(() => k.code());
  assert.ok(e instanceof ThawError, `got ${e}`);
  assert.match(e!.message, /thaw_test_missing/);
  assert.match(e!.message, /\{\{VALUE\}\}/);
  const b = thrown(() => wgsl('thaw_test_both', SRC, { defines: { FLAG: true, VALUE: '1.0' }, blocks: () => ({ VALUE: '2.0' }) }).code());
  assert.match(b?.message ?? '', /thaw_test_both.*both a define and a block/);
});

test('blocks fill placeholders from the defines; placeholders in includes are filled too', () => {
  const k = wgsl('thaw_test_blocks', '{{BODY}}\n{{LINES}}', {
    include: ['const N = {{N}}u;'],
    defines: { N: 3 },
    blocks: (d) => ({ BODY: `fn f() -> u32 { return ${d.N}u; }`, LINES: Array.from({ length: d.N }, (_, i) => `// line ${i}`) }),
  });
  assert.is(k.code(), 'const N = 3u;\nfn f() -> u32 { return 3u; }\n// line 0\n// line 1\n// line 2');
});

test('enable directives from the includes and the source are hoisted first, each once', () => {
  const inc1 = '// helper one\nenable f16;\nfn one() -> f16 { return 1.0h; }';
  const inc2 = 'enable subgroups;\nfn two() {}';
  const src = 'enable f16;\n@compute @workgroup_size(1) fn main() {}';
  const code = wgsl('thaw_test_enable', src, { include: [inc1, inc2] }).code();
  const lines = code.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.slice(0, 2), ['enable f16;', 'enable subgroups;'], code);
  assert.is(lines.filter((l) => /^\s*enable\b/.test(l)).length, 2, 'no other enable is left in the body');
  assert.ok(code.indexOf('// helper one') < code.indexOf('fn two') && code.indexOf('fn two') < code.indexOf('fn main'), 'includes come before the source, in order');
});

test('unroll repeats each line that mentions $name (cartesian for several), and its counts are in the key', () => {
  const src = 'var acc$i: f32;\nacc$i += a[$i] * b[$j];\n// $i stays in a comment\nlet done = 1;';
  const k = wgsl('thaw_test_unroll', src, { unroll: { i: 2, j: 2 } });
  assert.is(k.code(), [
    'var acc0: f32;', 'var acc1: f32;',
    'acc0 += a[0] * b[0];', 'acc0 += a[0] * b[1];', 'acc1 += a[1] * b[0];', 'acc1 += a[1] * b[1];',
    '// $i stays in a comment', 'let done = 1;',
  ].join('\n'));
  assert.is.not(wgsl('thaw_test_unroll', src, { unroll: { i: 3, j: 2 } }).key, k.key, 'another count, another key');
  assert.is(wgsl('thaw_test_unroll', src, { unroll: { i: 2, j: 2 } }).key, k.key);
  assert.is(unrollLines('x$k;', { k: 3 }), 'x0;\nx1;\nx2;');
});

test('on the device, THAW_CHECK_KERNELS=1 fails a kernel whose code depends on a value missing from its defines', async () => {
  const shared = await setup();
  // A runtime built as init() builds it, with the check switched on (the test runner sets it for all).
  const before = process.env.THAW_CHECK_KERNELS;
  process.env.THAW_CHECK_KERNELS = '1';
  const checked = new Runtime(shared.gpu);
  process.env.THAW_CHECK_KERNELS = '0';
  const unchecked = new Runtime(shared.gpu);
  if (before === undefined) delete process.env.THAW_CHECK_KERNELS; else process.env.THAW_CHECK_KERNELS = before;
  assert.ok(checked.checkKernels && !unchecked.checkKernels);

  // The bug: the value reaches the code through a closure, not through the defines.
  let hidden = '1.0';
  const bad = (): Kernel => wgsl('thaw_test_hidden', SRC, { defines: { FLAG: true }, blocks: () => ({ VALUE: hidden }) });
  const out = Tensor.alloc([1]);
  await shared.sync(); // the test pool's poisoning of `out` goes first
  const runAll = (rt: Runtime) => {
    hidden = '1.0';
    rt.run(bad(), { out }, { n: 1 }, [1]);
    hidden = '2.0';
    return thrown(() => rt.run(bad(), { out }, { n: 1 }, [1]));
  };
  assert.is(runAll(unchecked), null, 'without the check the stale pipeline is silently reused');
  await unchecked.sync();
  const e = runAll(checked);
  assert.ok(e instanceof ThawError, `expected a ThawError, got ${e}`);
  assert.match(e!.message, /thaw_test_hidden/);
  assert.match(e!.message, /missing from its defines/);

  // A correct kernel (the value is a define) runs under the check with either value and computes it.
  const good = (v: string) => wgsl('thaw_test_hidden_ok', SRC, { defines: { FLAG: true, VALUE: v } });
  checked.run(good('1.0'), { out }, { n: 1 }, [1]);
  checked.run(good('2.0'), { out }, { n: 1 }, [1]);
  await checked.sync();
  assert.equal(Array.from(await out.data<Float32Array>()), [2]);
  out.dispose();
});

test.run();
