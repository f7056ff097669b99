import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setup, assertClose } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, noGrad } from '../../engine/core/tensor.ts';
import { loadCheckpointFile } from '../../engine/io/fs.ts';
import { loadStateDict } from '../../engine/train/load.ts';
import { resnet20 } from '../../models/resnet_cifar.ts';

const here = dirname(fileURLToPath(import.meta.url));
const shared = join(here, '..', '..', '..', 'shared', 'checkpoints', 'resnet20-cifar10');
const fixture = JSON.parse(readFileSync(join(here, '..', 'fixtures', 'models', 'resnet20.json'), 'utf8'));
const files = ['resnet20-12fca82f.th', 'resnet20-cifar10.pt', 'resnet20-cifar10.safetensors'];

test.before(async () => { await setup(); });

test('resnet20 keys match the akamaster checkpoint (after stripping module.)', async () => {
  if (!existsSync(shared)) { console.log(`  skipped: ${shared} is absent (the real checkpoint lives in ../shared)`); return; }
  const ck = await loadCheckpointFile(join(shared, files[2]));
  const m = resnet20();
  const keys = [...m.stateDict().keys()].filter((k) => !k.endsWith('num_batches_tracked')).sort();
  assert.equal(keys, [...ck.tensors.keys()].sort());
  m.dispose();
});

const logitsByFile: Float32Array[] = [];
for (const f of files) {
  test(`resnet20 from ${f}: logits match torch within 1e-4 relative`, async () => {
    if (!existsSync(shared)) { console.log(`  skipped: ${shared} is absent`); return; }
    const ck = await loadCheckpointFile(join(shared, f));
    const m = resnet20().eval();
    const r = loadStateDict(m, ck.tensors, { remap: ['strip-module'], strict: true });
    assert.equal(r.missing, []);
    assert.equal(r.loaded.length, ck.tensors.size);
    const y = noGrad(() => tidy(() => m.forward(tensor(fixture.input, fixture.input_shape))));
    const got = await y.data();
    y.dispose(); m.dispose();
    const exp: number[] = fixture.logits;
    let maxRel = 0;
    for (let i = 0; i < exp.length; i++) maxRel = Math.max(maxRel, Math.abs(got[i] - exp[i]) / Math.max(Math.abs(exp[i]), 1e-3));
    console.log(`  ${f}: max relative error vs torch ${maxRel.toExponential(2)}`);
    assertClose(got, exp, 1e-4, 1e-5, `logits from ${f}`);
    logitsByFile.push(got);
  });
}

test('the three files give identical logits', () => {
  if (logitsByFile.length < 3) { console.log('  skipped: needs the three checkpoint files'); return; }
  assert.equal(Array.from(logitsByFile[1]), Array.from(logitsByFile[0]));
  assert.equal(Array.from(logitsByFile[2]), Array.from(logitsByFile[0]));
});

test.run();
