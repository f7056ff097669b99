// `thaw finetune --precision mixed` end to end on the pre-trained ResNet-20: the summary and the report
// give the precision, the training's peak GPU memory, the feature cache's size (f16: half of f32's)
// and the loss scaling; on SwiftShader (no shader-f16) the run stops before any work, naming the feature.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runThaw, darkLightFolder, ROOT as root } from './helpers.ts';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SWIFTSHADER_ICD } from '../../engine/core/device.ts';

const test = suite('cli precision');
const RESNET = join(root, '..', 'shared', 'checkpoints', 'resnet20-cifar10', 'resnet20-12fca82f.th');
let tmp = '';
test.before(() => { tmp = mkdtempSync(join(tmpdir(), 'thaw-precision-cli-')); });
test.after(() => { rmSync(tmp, { recursive: true, force: true }); });

test('finetune --precision f32 and mixed: summary and report per precision (peak GPU MiB, cache MiB, loss scale, skipped steps)', () => {
  if (!existsSync(RESNET)) { console.log('  skipped: the shared ResNet-20 checkpoint is not there'); return; }
  const data = darkLightFolder(join(tmp, 'data'), 4, 8, 8);
  const reps = [];
  for (const precision of ['f32', 'mixed']) {
    const out = join(tmp, `ft-${precision}`);
    const r = runThaw(tmp, ['finetune', '--weights', RESNET, '--data', data, '--labels-per-class', '2', '--test-size', '4', '--epochs', '1', '--batch', '4', '--precision', precision, '--out', out]);
    assert.is(r.code, 0, r.err);
    const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.is(rep.precision, precision);
    assert.ok(rep.trainingPeakGpuBytes > 0 && rep.featureCacheBytes > 0, JSON.stringify(rep));
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    assert.ok(r.out.includes(`precision ${precision}: training peak ${mib(rep.trainingPeakGpuBytes)} MiB of GPU tensors, feature cache ${mib(rep.featureCacheBytes)} MiB` +
      (precision === 'mixed' ? `, loss scale ${rep.lossScale}, ${rep.skippedSteps} step(s) skipped on overflow` : '')), r.out);
    if (precision === 'mixed') assert.ok(rep.lossScale > 0 && Number.isInteger(rep.skippedSteps));
    else assert.is(rep.lossScale, undefined);
    reps.push(rep);
  }
  assert.is(reps[1].featureCacheBytes * 2, reps[0].featureCacheBytes, 'the f16 cache is half the f32 one');
});

test('finetune --precision mixed on SwiftShader: one line naming shader-f16, before any output', () => {
  if (!existsSync(SWIFTSHADER_ICD)) return;
  const out = join(tmp, 'never');
  const r = runThaw(tmp, ['finetune', '--data', join(tmp, 'no-such-data-is-read'), '--precision', 'mixed', '--out', out], { THAW_ADAPTER: 'swiftshader', VK_ICD_FILENAMES: SWIFTSHADER_ICD });
  assert.is(r.code, 1, r.err);
  assert.match(r.err.trimEnd(), /^thaw finetune: --precision mixed needs the WebGPU feature 'shader-f16', which this adapter \(swiftshader.*\) does not offer; use f32/);
  assert.is(r.err.trimEnd().split('\n').length, 1, r.err);
  assert.not.ok(existsSync(out));
});

test.run();
