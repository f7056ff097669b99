/**
 * torchvision EfficientNet-B0 and MobileNetV3-Small/Large at full size: parameter and buffer names and
 * shapes equal torchvision's (in order), and eval-mode logits at 1x3x224x224 equal torchvision's
 * (float64) when both hold the same deterministic weights (test/fixtures/make_grad_fixtures.py
 * effnet_mbv3). Every EfficientNet variant's scaled stages, dropout and BatchNorm settings equal
 * torchvision's. The Classifier contract (features, stages, layer groups, replaceHead) and stochastic
 * depth inside MBConv (identity in eval mode, whole samples dropped in training). Training-mode
 * gradients of small configurations: test/models/gradients.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from '../helpers.ts';
import { FIXTURES, checkClassifierContract, checkGroups, maxRelError } from './helpers.ts';
import { detStateDict, detUniform } from './detinit.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, noGrad, type Tensor } from '../../engine/core/tensor.ts';
import { loadStateDict } from '../../engine/train/load.ts';
import { BatchNorm2d } from '../../engine/nn/norm.ts';
import { dropoutMaskRef } from '../../kernels/dropout/reference.ts';
import type { Classifier } from '../../engine/train/types.ts';
import type { Module } from '../../engine/nn/module.ts';
import {
  EfficientNet, MBConv, efficientnet, efficientnetB0, scaleSetting, EFFICIENTNET_B0_SETTING, EFFICIENTNET_VARIANTS, type EfficientNetName,
} from '../../models/efficientnet.ts';
import { mobilenetV3Small, mobilenetV3Large } from '../../models/mobilenetv3.ts';
import { makeDivisible } from '../../models/mobilenetv2.ts';

test.before(async () => { await setup(); });

interface Full { parameters: [string, number[]][]; buffers: [string, number[]][]; inputShape: number[]; logits: number[] }
interface Variant { stem: number; last: number; stages: number[][]; dropout: number; eps: number; momentum: number; numParams: number; blocks: number }
const fx = JSON.parse(readFileSync(join(FIXTURES, 'torchvision_effnet_mbv3.json'), 'utf8')) as
  Record<'efficientnet_b0' | 'mobilenet_v3_small' | 'mobilenet_v3_large', Full> & { efficientnet_variants: Record<EfficientNetName, Variant> };
const TOL = 1e-4;
const BUILD = { efficientnet_b0: () => efficientnetB0(), mobilenet_v3_small: () => mobilenetV3Small(), mobilenet_v3_large: () => mobilenetV3Large() };

for (const [name, make] of Object.entries(BUILD) as [keyof typeof BUILD, () => Classifier][]) {
  test(`${name}: names and shapes, and eval logits at 224x224, equal torchvision's`, async () => {
    const c = fx[name];
    const m = make();
    try {
      assert.equal(m.namedParameters().map(([k, t]) => [k, t.shape]), c.parameters, 'named_parameters()');
      assert.equal(m.namedBuffers().map(([k, t]) => [k, t.shape]), c.buffers, 'named_buffers()');
      checkGroups(m);
      const report = loadStateDict(m, detStateDict(m));
      assert.equal(report.unexpected, []);
      assert.ok(report.missing.every((k) => k.endsWith('num_batches_tracked')), report.missing.join());
      m.eval();
      const n = c.inputShape.reduce((a, b) => a * b, 1);
      const t0 = Date.now();
      const y = noGrad(() => tidy(() => m.forward(tensor(detUniform('input', n, -1, 1), c.inputShape))));
      assert.equal(y.shape, [1, 1000]);
      const got = await y.data();
      y.dispose();
      const err = maxRelError(got, c.logits);
      console.log(`  ${name} [${c.inputShape}]: max |Δlogit| / max |logit| = ${err.toExponential(2)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      assert.ok(err <= TOL, `${name}: relative error ${err} > ${TOL}`);
    } finally {
      m.dispose();
    }
  });
}

test('EfficientNet B0..B7: scaled stages, stem and last widths, dropout and BatchNorm settings equal torchvision\'s', () => {
  for (const [name, want] of Object.entries(fx.efficientnet_variants) as [EfficientNetName, Variant][]) {
    const v = EFFICIENTNET_VARIANTS[name];
    const stages = scaleSetting(EFFICIENTNET_B0_SETTING, v.widthMult, v.depthMult);
    assert.equal(stages.map((s) => [s.layers, s.outC, makeDivisible(s.inC * s.expandRatio), s.kernel, s.stride]), want.stages, `${name} stages`);
    assert.is(stages[0].inC, want.stem, `${name} stem`);
    assert.is(4 * stages.at(-1)!.outC, want.last, `${name} last`);
    assert.is(stages.reduce((a, s) => a + s.layers, 0), want.blocks, `${name} blocks`);
    assert.is(v.dropout, want.dropout, `${name} dropout`);
    assert.is(('bnEps' in v ? v.bnEps : 1e-5), want.eps, `${name} eps`);
    assert.is(('bnMomentum' in v ? v.bnMomentum : 0.1), want.momentum, `${name} momentum`);
  }
  // Built models (the small ones: B5..B7 hold 30-66 M parameters) have torchvision's parameter count and BatchNorm eps.
  for (const name of ['efficientnet_b0', 'efficientnet_b1', 'efficientnet_b2'] as const) {
    const m = efficientnet(name);
    assert.is(m.namedParameters().reduce((a, [, t]) => a + t.size, 0), fx.efficientnet_variants[name].numParams, `${name} parameters`);
    m.dispose();
  }
  const b5like = new EfficientNet({ variant: 'efficientnet_b5', setting: [[1, 3, 1, 8, 8, 1]], numClasses: 2 });
  for (const [, bn] of b5like.namedModules()) if (bn instanceof BatchNorm2d) { assert.is(bn.eps, 1e-3); assert.is(bn.momentum, 0.01); }
  b5like.dispose();
  assert.throws(() => efficientnet('efficientnet_b9' as EfficientNetName), /unknown variant 'efficientnet_b9'/);
});

const smallEffnet = (numClasses: number, stochasticDepthProb = 0.2) => new EfficientNet({
  setting: [[1, 3, 1, 16, 8, 1], [6, 5, 2, 8, 16, 2]], numClasses, stochasticDepthProb, seed: 11,
});

test('Classifier contract (EfficientNet, MobileNetV3 at width 0.25)', async () => {
  for (const m of [smallEffnet(7), mobilenetV3Small({ widthMult: 0.25, numClasses: 7 }), mobilenetV3Large({ widthMult: 0.25, numClasses: 7 })]) await checkClassifierContract(m);
});

test('EfficientNet stochastic depth: the identity in eval mode; in training whole samples of a block\'s branch dropped, survivors scaled', async () => {
  const x = tensor(detUniform('x', 2 * 3 * 32 * 32, -1, 1), [2, 3, 32, 32]);
  const logits = async (m: EfficientNet) => {
    loadStateDict(m, detStateDict(m));
    m.eval();
    const y = noGrad(() => tidy(() => m.forward(x)));
    const d = Array.from(await y.data());
    y.dispose();
    m.dispose();
    return d;
  };
  assert.equal(await logits(smallEffnet(5, 0.9)), await logits(smallEffnet(5, 0)), 'eval logits do not depend on the drop probability');
  // One residual MBConv in training: y = x + mask_n / (1 - p) * branch_n, the branch as with p = 0 (same weights, same batch statistics).
  const N = 16, p = 0.5, seed = 99;
  const cfg = { expandRatio: 4, kernel: 3, stride: 1, inC: 8, outC: 8, layers: 1 };
  const xb = tensor(detUniform('xb', N * 8 * 5 * 5, -1, 1), [N, 8, 5, 5]);
  const run = async (prob: number) => {
    const b = new MBConv(cfg, prob, { seed });
    loadStateDict(b, detStateDict(b));
    b.train();
    const y = noGrad(() => tidy(() => b.forward(xb)));
    const d = await y.data();
    y.dispose();
    b.dispose();
    return d;
  };
  const [dropped, full, xs] = [await run(p), await run(0), await xb.data()];
  const mask = dropoutMaskRef(N, p, seed), per = 8 * 5 * 5;
  let kept = 0;
  for (let n = 0; n < N; n++) {
    kept += mask[n];
    for (let j = n * per; j < (n + 1) * per; j++) {
      const want = xs[j] + (mask[n] ? (full[j] - xs[j]) / (1 - p) : 0);
      if (Math.abs(dropped[j] - want) > 1e-5 * (1 + Math.abs(want))) assert.unreachable(`sample ${n} (mask ${mask[n]}): y[${j}] = ${dropped[j]}, expected ${want}`);
    }
  }
  assert.ok(kept > 0 && kept < N, `kept ${kept} of ${N}`);
  for (const t of [x, xb]) t.dispose();
});

test.run();
