/**
 * torchvision ResNet-18/34/50 and MobileNetV2: parameter and buffer names and shapes equal
 * torchvision's (in order), and the models give torchvision's logits (float64 reference) when both
 * are filled with the same deterministic weights (detinit.ts ↔ make_model_fixtures.py).
 *
 * Logits run at full size for ResNet-18 and MobileNetV2, and at width 16 for ResNet-34/50 (the
 * full-size ones take ~10 s each on lavapipe, whose conv kernels are slow at 512 channels on 2x2
 * maps): set THAW_SLOW_MODELS=1 to run those too.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from '../helpers.ts';
import { FIXTURES, checkClassifierContract, checkGroups, maxRelError } from './helpers.ts';
import { detStateDict, detUniform } from './detinit.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, noGrad } from '../../engine/core/tensor.ts';
import { loadStateDict } from '../../engine/train/load.ts';
import { resnet18, resnet34, resnet50 } from '../../models/resnet.ts';
import { mobilenetV2 } from '../../models/mobilenetv2.ts';
import type { Classifier } from '../../engine/train/types.ts';

test.before(async () => { await setup(); });

interface Case { width: number | null; parameters: [string, number[]][]; buffers: [string, number[]][]; inputShape: number[]; logits: number[] }
const fx = JSON.parse(readFileSync(join(FIXTURES, 'torchvision.json'), 'utf8')) as Record<string, Case>;
const BUILD: Record<string, (width?: number) => Classifier> = {
  resnet18: (width) => resnet18({ width }), resnet34: (width) => resnet34({ width }), resnet50: (width) => resnet50({ width }),
  mobilenet_v2: () => mobilenetV2(), resnet34_w16: (width) => resnet34({ width }), resnet50_w16: (width) => resnet50({ width }),
};
const SLOW = new Set(['resnet34', 'resnet50']);
const runSlow = process.env.THAW_SLOW_MODELS === '1';
/** Relative to the largest |logit|; the reference is float64, we compute in float32. */
const TOL = 1e-4;

for (const [name, c] of Object.entries(fx)) {
  const logits = runSlow || !SLOW.has(name);
  test(`${name}: names and shapes${logits ? ' and logits' : ''} equal torchvision's`, async () => {
    const m = BUILD[name](c.width ?? undefined);
    try {
      assert.equal(m.namedParameters().map(([k, t]) => [k, t.shape]), c.parameters, 'named_parameters()');
      assert.equal(m.namedBuffers().map(([k, t]) => [k, t.shape]), c.buffers, 'named_buffers()');
      checkGroups(m);
      if (!logits) { console.log(`  ${name}: logits not run (THAW_SLOW_MODELS=1 runs them)`); return; }
      const report = loadStateDict(m, detStateDict(m));
      assert.equal(report.unexpected, []);
      assert.ok(report.missing.every((k) => k.endsWith('num_batches_tracked')), report.missing.join());
      m.eval();
      const n = c.inputShape.reduce((a, b) => a * b, 1);
      const y = noGrad(() => tidy(() => m.forward(tensor(detUniform('input', n, -1, 1), c.inputShape))));
      assert.equal(y.shape, [c.inputShape[0], 1000]);
      const got = await y.data();
      y.dispose();
      const err = maxRelError(got, c.logits);
      console.log(`  ${name} [${c.inputShape}]: max |Δlogit| / max |logit| = ${err.toExponential(2)}`);
      assert.ok(err <= TOL, `${name}: relative error ${err} > ${TOL}`);
    } finally {
      m.dispose();
    }
  });
}

test('Classifier contract (ResNet-18, MobileNetV2 at small widths)', async () => {
  for (const m of [resnet18({ width: 8, numClasses: 7 }), mobilenetV2({ widthMult: 0.25, numClasses: 7 })]) await checkClassifierContract(m);
});

test.run();
