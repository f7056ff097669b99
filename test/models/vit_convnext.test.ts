/**
 * torchvision ViT-B/16 and ConvNeXt-T: parameter and buffer names and shapes equal torchvision's
 * (in order; test/fixtures/models/vit_convnext.json from make_model_fixtures.py) and so do its
 * state_dict keys; with THAW_SLOW_MODELS=1 det_uniform weights under torchvision's keys load strictly
 * and the logits at 224x224 equal torchvision's float64 ones. Small configs check the Classifier contract (features,
 * stages, layer groups, replaceHead); gradients are in gradients.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from '../helpers.ts';
import { FIXTURES, checkClassifierContract, checkGroups, maxRelError } from './helpers.ts';
import { detRange, detUniform } from './detinit.ts';
import type { HostTensor } from '../../engine/io/types.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, noGrad } from '../../engine/core/tensor.ts';
import { loadStateDict } from '../../engine/train/load.ts';
import { vitB16, VisionTransformer } from '../../models/vit.ts';
import { convnextTiny, ConvNeXt } from '../../models/convnext.ts';
import type { Classifier } from '../../engine/train/types.ts';

test.before(async () => { await setup(); });

interface Case { parameters: [string, number[]][]; buffers: [string, number[]][]; stateDict: [string, number[]][]; inputShape: number[]; logits: number[] }
const fx = JSON.parse(readFileSync(join(FIXTURES, 'vit_convnext.json'), 'utf8')) as Record<string, Case>;
const BUILD: Record<string, () => Classifier> = { vit_b_16: () => vitB16(), convnext_tiny: () => convnextTiny() };
const runSlow = process.env.THAW_SLOW_MODELS === '1';
/** Relative to the largest |logit|; the reference is float64, we compute in float32. */
const TOL = 1e-4;

for (const [name, c] of Object.entries(fx)) {
  test(`${name}: names and shapes equal torchvision's, its state_dict loads with no key missing${runSlow ? ', and the logits equal its own' : ''}`, async () => {
    const m = BUILD[name]();
    try {
      assert.equal(m.namedParameters().map(([k, t]) => [k, t.shape]), c.parameters, 'named_parameters()');
      assert.equal(m.namedBuffers().map(([k, t]) => [k, t.shape]), c.buffers, 'named_buffers()');
      assert.equal([...m.stateDict()].map(([k, t]) => [k, t.shape]).sort(), [...c.stateDict].sort(), 'state_dict()');
      checkGroups(m);
      if (!runSlow) { console.log(`  ${name}: logits not run (THAW_SLOW_MODELS=1 runs them)`); return; }
      // det_uniform weights under torchvision's own state_dict keys, as the fixture script filled them.
      const sd = new Map<string, HostTensor>(c.stateDict.map(([k, shape]) => {
        const size = shape.reduce((a, b) => a * b, 1);
        return [k, { dtype: 'f32', shape, data: detUniform(k, size, ...detRange(k, shape)) }];
      }));
      const report = loadStateDict(m, sd, { strict: true });
      assert.equal([report.unexpected, report.missing, report.mismatched], [[], [], []]);
      m.eval();
      const n = c.inputShape.reduce((a, b) => a * b, 1);
      const t0 = performance.now();
      const y = noGrad(() => tidy(() => m.forward(tensor(detUniform('input', n, -1, 1), c.inputShape))));
      const got = await y.data();
      y.dispose();
      assert.equal(y.shape, [c.inputShape[0], 1000]);
      const err = maxRelError(got, c.logits);
      console.log(`  ${name} [${c.inputShape}]: max |Δlogit| / max |logit| = ${err.toExponential(2)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      assert.ok(err <= TOL, `${name}: relative error ${err} > ${TOL}`);
    } finally {
      m.dispose();
    }
  });
}

test('Classifier contract (small ViT and ConvNeXt)', async () => {
  await checkClassifierContract(new VisionTransformer({ imageSize: 32, patchSize: 8, numLayers: 2, numHeads: 2, hiddenDim: 16, mlpDim: 32, numClasses: 7 }));
  await checkClassifierContract(new ConvNeXt([[8, 16, 1], [16, null, 1]], { numClasses: 7 }));
});

test.run();
