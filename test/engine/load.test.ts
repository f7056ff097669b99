// loadStateDict refuses a checkpoint whose tensors hold NaN or Inf (a file saved after training
// diverged): the error names every such tensor with its count and first element, and nothing is loaded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, randArray } from '../helpers.ts';
import { loadStateDict, nonFiniteSummary, loadGap } from '../../engine/train/load.ts';
import { Sequential, Conv2d, BatchNorm2d, Linear, Flatten } from '../../engine/nn/index.ts';
import { ThawError } from '../../engine/core/errors.ts';
import type { HostTensor } from '../../engine/io/types.ts';

test.before(async () => { await setup(); });

function net(): Sequential {
  return new Sequential(new Conv2d(3, 4, 3), new BatchNorm2d(4), new Flatten(), new Linear(16, 5));
}

/** The net's own state as host tensors, with fresh random values. */
function hostState(m: Sequential): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [k, t] of m.stateDict()) {
    out.set(k, t.dtype === 'f32' ? { dtype: 'f32', shape: [...t.shape], data: randArray(t.size) } : { dtype: 'i64', shape: [...t.shape], data: new Int32Array(t.size) });
  }
  return out;
}

test('NaN or Inf in any loaded tensor: refused with every bad name, before anything is written', async () => {
  const m = net();
  const host = hostState(m);
  const floats = [...host.keys()].filter((k) => host.get(k)!.data instanceof Float32Array);
  const a = floats[Math.floor(rand() * floats.length)];
  let b = floats[Math.floor(rand() * floats.length)];
  if (b === a) b = floats[(floats.indexOf(a) + 1) % floats.length];
  const da = host.get(a)!.data as Float32Array, db = host.get(b)!.data as Float32Array;
  da.fill(NaN); // all NaN, as a diverged conv1.weight
  const at = Math.floor(rand() * db.length);
  db[at] = -Infinity;
  const before = new Map<string, number[]>();
  for (const [k, t] of m.stateDict()) before.set(k, Array.from(await t.data()));
  let err: unknown = null;
  try { loadStateDict(m, host, { source: 'diverged.safetensors' }); } catch (e) { err = e; }
  assert.ok(err instanceof ThawError && err.kind === 'non-finite', String(err));
  const msg = (err as Error).message;
  assert.ok(msg.startsWith('diverged.safetensors: 2 tensors hold NaN or Inf: '), msg);
  assert.ok(msg.includes(`${a} (${da.length} NaN of ${da.length} values, first at element 0)`), msg);
  assert.ok(msg.includes(`${b} (1 Inf of ${db.length} values, first at element ${at})`), msg);
  assert.match(msg, /nothing was loaded\)$/);
  for (const [k, t] of m.stateDict()) assert.equal(Array.from(await t.data()), before.get(k), `${k} unchanged`);
  // On request it loads anyway.
  const r = loadStateDict(m, host, { allowNonFinite: true });
  assert.is(r.loaded.length, host.size);
  assert.ok(Number.isNaN((await m.stateDict().get(a)!.data())[0]));
  m.dispose();
});

test('a finite checkpoint loads as before; tensors the model does not take are not checked', () => {
  const m = net();
  const host = hostState(m);
  host.set('extra.weight', { dtype: 'f32', shape: [2], data: new Float32Array([NaN, 1]) });
  const r = loadStateDict(m, host);
  assert.is(r.loaded.length, host.size - 1);
  assert.equal(r.unexpected, ['extra.weight']);
  assert.is(nonFiniteSummary({ dtype: 'f32', shape: [3], data: new Float32Array([1, Infinity, NaN]) }), '1 NaN and 1 Inf of 3 values, first at element 1');
  m.dispose();
});

test('loadGap: nothing matched, or a required key missing or mis-shaped, is named; optional keys are excused', () => {
  const m = net();
  const host = hostState(m);
  assert.is(loadGap(loadStateDict(m, host)), null);
  const other = new Map([...host].map(([k, v]) => [`backbone/${k}`, v] as [string, HostTensor]));
  assert.match(loadGap(loadStateDict(m, other))!, /^none of its \d+ tensors matches the model \(its keys: backbone\/0\.weight, .*; the model's: 0\.weight, /);
  const keys = [...host.keys()].filter((k) => !k.endsWith('num_batches_tracked'));
  const gone = keys[Math.floor(rand() * keys.length)];
  const part = new Map(host);
  part.delete(gone);
  const r = loadStateDict(m, part);
  assert.is(loadGap(r), `1 model tensor is missing or mis-shaped in it and would stay random: ${gone}`);
  assert.is(loadGap(r, (k) => k === gone), null);
  part.set(gone, { dtype: 'f32', shape: [1, 2, 3], data: new Float32Array(6) });
  assert.match(loadGap(loadStateDict(m, part))!, new RegExp(`${gone.replace('.', '\\.')} \\(shape \\[1,2,3\\], model \\[`));
  m.dispose();
});

test.run();
