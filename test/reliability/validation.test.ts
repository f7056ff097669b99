// Input validation spot checks: public ops given a wrong shape or dtype throw a ShapeError before any
// allocation or dispatch, naming the op, the argument, what it got and what it expected. A message that
// misses a part is printed as a FINDING with the file:line that threw (the op's owner fixes it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from '../helpers.ts';
import { runtime } from '../../engine/core/runtime.ts';
import { tensor } from '../../engine/core/factory.ts';
import type { Tensor } from '../../engine/core/tensor.ts';
import { ShapeError } from '../../engine/core/errors.ts';
import { matmul, linear } from '../../kernels/matmul/matmul.ts';
import { conv2d } from '../../kernels/conv2d/conv2d.ts';
import { crossEntropy } from '../../kernels/softmax/softmax.ts';
import { batchNorm2d } from '../../kernels/batchnorm/batchnorm.ts';
import { add } from '../../kernels/elementwise/elementwise.ts';
import { finding } from './common.ts';

test.before(async () => { await setup(); });

const f32 = (...shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
const i32 = (...shape: number[]) => tensor(new Int32Array(shape.reduce((a, b) => a * b, 1)), shape, 'i32');

/** Where an error was thrown: the first stack frame in engine/ or kernels/ outside errors.ts. */
function thrownAt(e: Error): string {
  for (const line of (e.stack ?? '').split('\n').slice(1)) {
    const m = /((?:engine|kernels)\/[\w/.-]+\.ts):(\d+)/.exec(line);
    if (m && !m[1].endsWith('errors.ts')) return `${m[1]}:${m[2]}`;
  }
  return '?';
}

interface Case { op: string; arg: string; got: string; call: (t: Record<string, Tensor>) => unknown; inputs: () => Record<string, Tensor> }
const cases: Case[] = [
  { op: 'matmul', arg: 'b', got: '[4, 5]', inputs: () => ({ a: f32(2, 3), b: f32(4, 5) }), call: (t) => matmul(t.a, t.b) },
  { op: 'matmul', arg: 'a', got: 'i32', inputs: () => ({ a: i32(2, 3), b: f32(3, 2) }), call: (t) => matmul(t.a, t.b) },
  { op: 'matmul', arg: 'a', got: '[]', inputs: () => ({ a: f32(), b: f32(3) }), call: (t) => matmul(t.a, t.b) },
  { op: 'linear', arg: 'x', got: '[2, 5]', inputs: () => ({ x: f32(2, 5), w: f32(3, 4) }), call: (t) => linear(t.x, t.w) },
  { op: 'conv2d', arg: 'x', got: '[1, 3, 8]', inputs: () => ({ x: f32(1, 3, 8), w: f32(4, 3, 3, 3) }), call: (t) => conv2d(t.x, t.w) },
  { op: 'conv2d', arg: 'w', got: '[4, 2, 3, 3]', inputs: () => ({ x: f32(1, 3, 8, 8), w: f32(4, 2, 3, 3) }), call: (t) => conv2d(t.x, t.w) },
  { op: 'conv2d', arg: 'x', got: 'i32', inputs: () => ({ x: i32(1, 3, 8, 8), w: f32(4, 3, 3, 3) }), call: (t) => conv2d(t.x, t.w) },
  { op: 'conv2d', arg: 'bias', got: '[5]', inputs: () => ({ x: f32(1, 3, 8, 8), w: f32(4, 3, 3, 3), b: f32(5) }), call: (t) => conv2d(t.x, t.w, t.b) },
  { op: 'crossEntropy', arg: 'logits', got: '[4]', inputs: () => ({ l: f32(4), y: i32(4) }), call: (t) => crossEntropy(t.l, t.y) },
  { op: 'crossEntropy', arg: 'labels', got: 'f32', inputs: () => ({ l: f32(4, 3), y: f32(4) }), call: (t) => crossEntropy(t.l, t.y) },
  { op: 'crossEntropy', arg: 'labels', got: '[5]', inputs: () => ({ l: f32(4, 3), y: i32(5) }), call: (t) => crossEntropy(t.l, t.y) },
  { op: 'batchNorm2d', arg: 'x', got: '[4]', inputs: () => ({ x: f32(4) }), call: (t) => batchNorm2d(t.x, null, null, null, null, { training: true }) },
  { op: 'batchNorm2d', arg: 'x', got: 'i32', inputs: () => ({ x: i32(2, 3, 4, 4) }), call: (t) => batchNorm2d(t.x, null, null, null, null, { training: true }) },
  { op: 'batchNorm2d', arg: 'weight', got: '[4]', inputs: () => ({ x: f32(2, 3, 4, 4), w: f32(4) }), call: (t) => batchNorm2d(t.x, t.w, null, null, null, { training: true }) },
  { op: 'add', arg: 'a', got: 'i32', inputs: () => ({ a: i32(2), b: f32(2) }), call: (t) => add(t.a, t.b) },
  { op: 'add', arg: 'b', got: '[4]', inputs: () => ({ a: f32(2, 3), b: f32(4) }), call: (t) => add(t.a, t.b) },
];

test('wrong shapes and dtypes throw a ShapeError naming op, argument, got and expected, before any GPU work', () => {
  const rt = runtime();
  const poor: string[] = [];
  for (const c of cases) {
    const inputs = c.inputs();
    const d0 = rt.dispatches, created = rt.pool.getStats().created, live = rt.pool.getStats().liveBuffers;
    let err: unknown = null;
    try { c.call(inputs); } catch (e) { err = e; }
    const what = `${c.op}(${Object.values(inputs).map((t) => `${t.dtype}[${t.shape}]`).join(', ')})`;
    assert.ok(err instanceof ShapeError, `${what}: expected a ShapeError, got ${err}`);
    const m = (err as Error).message;
    assert.ok(m.startsWith(`${c.op}:`), `${what}: the message names the op: ${m}`);
    assert.ok(m.includes(c.got), `${what}: the message says what it got (${c.got}): ${m}`);
    // Checked before anything is allocated or encoded (the test helpers' poison would dispatch per allocation).
    assert.is(rt.dispatches, d0, `${what}: no dispatch`);
    assert.is(rt.pool.getStats().liveBuffers, live, `${what}: nothing allocated`);
    assert.is(rt.pool.getStats().created, created);
    const missing = [!m.includes(`'${c.arg}'`) && `the argument ('${c.arg}')`, !/expected/.test(m) && 'what was expected'].filter(Boolean);
    console.log(`  ${missing.length ? 'POOR' : 'ok  '} ${m}`);
    if (missing.length) poor.push(`${thrownAt(err as Error)}: ${what}: "${m}" does not name ${missing.join(' or ')}`);
    for (const t of Object.values(inputs)) t.dispose();
  }
  for (const p of poor) finding(p.split(': ')[0], p.slice(p.indexOf(': ') + 2));
});

test.run();
