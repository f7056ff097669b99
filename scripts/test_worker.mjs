// One test process of scripts/test.sh: takes test files from a shared queue folder until it is empty,
// and runs each with uvu in this process (one GPU device and one pipeline cache for all of them).
// The queue holds one empty file per test file, named "<order> <path under test/ with / as %>"; a
// worker claims one by renaming it into <queue>/../claimed (atomic: one worker wins), and removes it
// from there when its tests have run, so a claim left behind names the file a crashed worker was on.
// Each file prints uvu's own summary block ("Total: ... Passed: ..."), which test.sh adds up.
// Usage: node scripts/test_worker.mjs QUEUE_DIR CLAIMED_DIR   (exit code 1 when a test failed)
import { readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [queue, claimed] = process.argv.slice(2);
globalThis.UVU_DEFER = 1;
const uvu = await import('uvu');
let failed = false;
for (;;) {
  const entry = readdirSync(queue).sort().find((name) => {
    try { renameSync(join(queue, name), join(claimed, name)); return true; } catch { return false; }
  });
  if (!entry) break;
  const file = entry.slice(entry.indexOf(' ') + 1).replaceAll('%', '/');
  globalThis.THAW_TEST_FILE = file; // test/helpers.ts restarts its random draws from the run's seed
  globalThis.UVU_QUEUE.length = 0;
  globalThis.UVU_QUEUE.push([file]);
  globalThis.UVU_INDEX = 0;
  await import(pathToFileURL(resolve('test', file)).href);
  await uvu.exec();
  failed ||= process.exitCode === 1;
  rmSync(join(claimed, entry));
}
process.exitCode = failed ? 1 : 0;
