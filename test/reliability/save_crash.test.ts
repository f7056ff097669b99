// Interrupted saves: an I/O error or a crash (SIGKILL of a child process) at every step of a training
// checkpoint save (opening the temp file, halfway through writing it, before fsync, before close,
// before rename, before the folder fsync), and at random moments of a save loop. The previous checkpoint must
// always be intact under the final name and load cleanly; nothing partial is ever under that name.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup } from '../helpers.ts';
import { saveTrainingCheckpoint, loadTrainingCheckpoint, encodeTrainingCheckpoint } from '../../engine/train/checkpoint.ts';
import { makeRun, freeRun, train, runChild, resultOf, type Run } from './common.ts';
import { injectFault, POINTS } from './faults.ts';

const dir = mkdtempSync(join(tmpdir(), 'thaw-crash-'));
let t0 = 0;
test.before.each(() => { t0 = performance.now(); });
test.after.each(() => console.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`));
let v1: Run;
test.before(async () => {
  await setup();
  v1 = makeRun(6);
  await train(v1, 0, 1);
});
test.after(() => { freeRun(v1); rmSync(dir, { recursive: true, force: true }); });

const stateOf = (r: Run, step: number) => ({ model: r.model, optimizer: r.opt, scheduler: r.sched, rng: r.rng, step, epoch: 0 });
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;

/** Loads `path` into a fresh run with every check on; returns the step it holds. */
async function loadable(path: string, hidden = 0): Promise<number> {
  const r = makeRun(123, hidden);
  try {
    return (await loadTrainingCheckpoint(path, { model: r.model, optimizer: r.opt, scheduler: r.sched, rng: r.rng })).step;
  } finally { freeRun(r); }
}

test('an I/O error at each point of a save leaves the previous checkpoint whole, and no temp file behind', async () => {
  const next = makeRun(8);
  await train(next, 0, 2);
  const rows: string[] = [];
  for (const point of POINTS) {
    const sub = join(dir, `throw-${point}`);
    mkdirSync(sub);
    const path = join(sub, 'ckpt.safetensors');
    await saveTrainingCheckpoint(path, stateOf(v1, 1));
    const old = readFileSync(path), fresh = await encodeTrainingCheckpoint(stateOf(next, 2));
    const undo = await injectFault(point, 'throw');
    let err: Error | null = null;
    try { await saveTrainingCheckpoint(path, stateOf(next, 2)); } catch (e) { err = e as Error; } finally { undo(); }
    const now = readFileSync(path);
    // The rename is done; a folder that cannot be fsynced (some platforms) is tolerated by saveAtomic.
    if (point === 'dir-fsync') assert.ok(!err && same(now, fresh), `${point}: the new checkpoint is in place`);
    else {
      assert.match(err?.message ?? '', /injected I\/O fault/, `${point}: the save reports the error`);
      assert.ok(same(now, old), `${point}: the previous checkpoint is unchanged`);
    }
    assert.is(await loadable(path), point === 'dir-fsync' ? 2 : 1);
    const left = readdirSync(sub).filter((f) => f !== 'ckpt.safetensors');
    rows.push(`${point}: ${err ? 'save failed' : 'save done'}, file = ${same(now, old) ? 'previous' : 'new'} checkpoint, loads; temp files left: ${left.length}`);
    // A close() that fails leaves saveAtomic's temp file; the next save of the same path removes it.
    if (left.length) {
      await saveTrainingCheckpoint(path, stateOf(next, 2));
      assert.equal(readdirSync(sub), ['ckpt.safetensors'], `${point}: the next save cleans up`);
    }
  }
  console.log(rows.map((r) => `  ${r}`).join('\n'));
  freeRun(next);
});

test('a crash (SIGKILL) at each point of a save: the file under the final name is the old or the new checkpoint, whole', async () => {
  const results = await Promise.all(POINTS.map(async (point) => {
    const sub = join(dir, `kill-${point}`);
    mkdirSync(sub);
    const path = join(sub, 'ckpt.safetensors');
    await saveTrainingCheckpoint(path, stateOf(v1, 100)); // step 100 marks the previous file; the child saves step 1
    const old = readFileSync(path);
    const child = await runChild(['save-crash', path, point]);
    return { point, sub, path, old, child };
  }));
  const rows: string[] = [];
  for (const { point, sub, path, old, child } of results) {
    assert.is(child.signal, 'SIGKILL', `${point}: the child died at the fault (stdout: ${child.stdout} stderr: ${child.stderr.slice(-500)})`);
    assert.match(child.stdout, /saving/);
    const now = readFileSync(path), fresh = readFileSync(`${path}.expected`);
    const which = same(now, old) ? 'previous' : same(now, fresh) ? 'new' : 'TORN';
    assert.is(which, point === 'dir-fsync' ? 'new' : 'previous', `${point}: file under the final name`);
    assert.is(await loadable(path), which === 'new' ? 1 : 100); // loading checks every key, shape and state size
    const temps = readdirSync(sub).filter((f) => f.endsWith('.tmp'));
    rows.push(`${point}: ${which} checkpoint intact and loadable; temp files left by the crash: ${temps.length}`);
    // The next save removes the dead process's temp file.
    await saveTrainingCheckpoint(path, stateOf(v1, 1));
    assert.equal(readdirSync(sub).filter((f) => f.endsWith('.tmp')), [], `${point}: stale temp removed`);
  }
  console.log(rows.map((r) => `  ${r}`).join('\n'));
});

test('SIGKILL at random moments of a save loop never leaves a torn or stale-beyond-one checkpoint', async () => {
  const kills = 4;
  const runs = await Promise.all(Array.from({ length: kills }, async (_, i) => {
    const sub = join(dir, `loop-${i}`);
    mkdirSync(sub);
    const path = join(sub, 'ckpt.safetensors');
    let last = 0, armed = false;
    const delay = 5 + Math.floor(Math.random() * 250);
    const child = await runChild(['save-loop', path], {}, (line, kill) => {
      const m = /^saved (\d+)/.exec(line);
      if (!m) return;
      last = Number(m[1]);
      if (!armed) { armed = true; setTimeout(kill, delay); }
    });
    return { path, last, delay, child };
  }));
  for (const { path, last, delay, child } of runs) {
    assert.is(child.signal, 'SIGKILL', child.stderr.slice(-500));
    const step = await loadable(path, 512);
    assert.ok(step === last || step === last + 1, `killed ${delay} ms after the first save: file holds step ${step}, last reported save ${last}`);
    console.log(`  killed ${delay} ms into a save loop after save ${last}: the file holds step ${step}, loads cleanly`);
  }
});

test.run();
