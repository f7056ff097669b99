// Runs the README's library example exactly as written (only the package name is resolved to this
// checkout's sources). Its checkpoint comes from the zoo the way it would on any machine: into a
// fresh $THAW_CACHE, from the offline copy in ../shared through $THAW_OFFLINE_DIRS (downloads off),
// or, without that copy, downloaded; with neither the test skips.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { readmeExample, zooEnv } from './readme_env.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

test('the README example fetches, loads, freezes, fine-tunes and saves', async () => {
  if (!existsSync('/usr/share/datasets/fashion-mnist')) { console.log('  skipped: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)'); return; }
  // Inside the checkout, so that `--import tsx` (NODE_OPTIONS, from scripts/env.sh) resolves.
  const dir = mkdtempSync(join(root, '.readme-'));
  try {
    const env = await zooEnv(join(dir, 'cache'));
    if (!env) return;
    const file = join(dir, 'example.ts');
    writeFileSync(file, readmeExample().replace("from 'thaw'", `from ${JSON.stringify(pathToFileURL(join(root, 'node.ts')).href)}`));
    const out = execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(out, /loaded 97 tensors/);
    assert.match(out, /final loss \d+\.\d{3}, feature cache: true/);
    assert.ok(existsSync(join(dir, 'cache', 'resnet20-cifar10', 'resnet20-12fca82f.th')), 'the checkpoint went through the cache');
    const bytes = readFileSync(join(dir, 'out', 'fine-tuned.safetensors'));
    const headerLen = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8'));
    assert.equal(header['linear.weight'].shape, [10, 64]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
