// Runs the README's library example exactly as written (only the package name is resolved to this checkout).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

test('the README example loads, freezes, fine-tunes and saves', () => {
  if (!existsSync(join(root, '..', 'shared', 'checkpoints'))) { console.log('  skipped: ../shared/checkpoints is absent'); return; }
  if (!existsSync('/usr/share/datasets/fashion-mnist')) { console.log('  skipped: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)'); return; }
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const code = readme.match(/```ts\n([\s\S]*?)```/)![1];
  const dir = mkdtempSync(join(root, '.readme-'));
  try {
    const file = join(dir, 'example.ts');
    writeFileSync(file, code.replace("from 'thaw'", `from ${JSON.stringify(pathToFileURL(join(root, 'node.ts')).href)}`));
    rmSync(join(root, 'out', 'fine-tuned.safetensors'), { force: true });
    const out = execFileSync(process.execPath, [file], { cwd: root, encoding: 'utf8', env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(out, /loaded 97 tensors/);
    assert.match(out, /final loss \d+\.\d{3}, feature cache: true/);
    const bytes = readFileSync(join(root, 'out', 'fine-tuned.safetensors'));
    const headerLen = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8'));
    assert.equal(header['linear.weight'].shape, [10, 64]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
