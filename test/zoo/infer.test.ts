/**
 * Config inference (models/zoo_infer.ts) against torchvision: for each state_dict of
 * test/fixtures/models/zoo_configs.json (make_zoo_fixtures.py), the family and builder arguments
 * inferred from keys and shapes equal those torchvision's module holds; the models small enough to
 * build here get exactly torchvision's state_dict keys and shapes from the inferred config; and two
 * torch.save'd files load strictly (the ViT's through the mlp.linear_1 renaming) and give torch's logits.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from '../helpers.ts';
import { FIXTURES, maxRelError } from '../models/helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, noGrad } from '../../engine/core/tensor.ts';
import { ThawError } from '../../engine/core/errors.ts';
import { loadCheckpointFile } from '../../engine/io/fs.ts';
import { buildFromConfig, describeConfig, detectFamily, inferConfig, type TorchvisionConfig } from '../../models/zoo_infer.ts';
import { loadTorchvision } from '../../cli/torchvision.ts';

interface Expected { family: string; numClasses: number; [k: string]: unknown }
interface Case { call: string; kwargs: Record<string, any>; infer: boolean; expected: Expected; parameters: number; stateDict: [string, number[]][] }
const fx = JSON.parse(readFileSync(join(FIXTURES, 'zoo_configs.json'), 'utf8')) as { cases: Case[]; files: Record<string, { inputShape: number[]; logits: number[]; expected: Expected }> };

const shapes = (sd: [string, number[]][]) => new Map(sd.map(([k, shape]) => [k, { shape }]));
/** Builds only what lavapipe handles in a moment. */
const BUILD_LIMIT = 6e6;

test.before(async () => { await setup(); });

/** The inferred config in the fixture's terms: family plus the module attributes it records. */
function asExpected(c: TorchvisionConfig): Expected {
  if (c.family === 'vit') return { family: 'vit', ...c.options };
  if (c.family === 'convnext') return { family: 'convnext', blockSetting: c.blockSetting, numClasses: c.options.numClasses };
  return { family: c.family, numClasses: c.options.numClasses };
}

for (const c of fx.cases) {
  const label = `${c.call}(${Object.entries(c.kwargs).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')})`;
  test(`${label}: ${c.infer ? 'the config inferred from its state_dict is torchvision\'s' : 'inference refuses it, naming why'}`, async () => {
    const sd = shapes(c.stateDict);
    assert.is(detectFamily(sd), c.expected.family);
    if (!c.infer) {
      try { inferConfig(sd); assert.unreachable('should throw'); } catch (e) {
        assert.instance(e, ThawError);
        assert.match((e as Error).message, /not stored/);
      }
      return;
    }
    const custom = /^[A-Z]/.test(c.call);
    const numHeads = c.expected.family === 'vit' && custom ? c.kwargs.num_heads : undefined;
    if (numHeads !== undefined) {
      assert.throws(() => inferConfig(sd), (e: Error) => /--heads N/.test(e.message), 'a ViT of unknown width needs its head count');
    }
    const cfg = inferConfig(sd, { numHeads });
    assert.equal(asExpected(cfg), c.expected);
    assert.is(cfg.name, custom ? null : c.call);
    if (cfg.family === 'mobilenetv3') assert.equal([cfg.options.widthMult, cfg.options.reducedTail], [c.kwargs.width_mult ?? 1, c.kwargs.reduced_tail ?? false]);
    assert.ok(describeConfig(cfg).length > 0);
    // DataParallel's module. prefix changes nothing.
    assert.equal(inferConfig(shapes(c.stateDict.map(([k, s]) => [`module.${k}`, s])), { numHeads }), cfg);
    if (c.parameters > BUILD_LIMIT) return;
    const m = buildFromConfig(cfg);
    try {
      assert.equal([...m.stateDict()].map(([k, t]) => [k, t.shape]).sort(), [...c.stateDict].sort(), 'state_dict() of the built model');
    } finally {
      m.dispose();
    }
  });
}

test('a state_dict of no known family, or with a missing key, is refused in one line', () => {
  assert.is(detectFamily(shapes([['fc.weight', [10, 4]]])), null);
  assert.throws(() => inferConfig(shapes([['fc.weight', [10, 4]]])), (e: Error) => e instanceof ThawError && /none of torchvision's vit, convnext/.test(e.message));
  const vit = fx.cases.find((c) => c.call === 'vit_b_16')!.stateDict.filter(([k]) => k !== 'heads.head.weight');
  assert.throws(() => inferConfig(shapes(vit)), (e: Error) => /no 'heads\.head\.weight'/.test(e.message));
});

for (const [file, ref] of Object.entries(fx.files)) {
  test(`${file} (torch.save): config inferred, strict load, logits equal torch's float64 ones`, async () => {
    const path = join(FIXTURES, file);
    const ck = await loadCheckpointFile(path);
    const numHeads = ref.expected.family === 'vit' ? ref.expected.numHeads as number : undefined;
    const { model, config, report } = loadTorchvision(ck, path, { numHeads });
    try {
      assert.equal(asExpected(config), ref.expected);
      assert.equal([report.missing, report.unexpected, report.mismatched], [[], [], []]);
      model.eval();
      const n = ref.inputShape.reduce((a, b) => a * b, 1);
      const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37));
      const y = noGrad(() => tidy(() => model.forward(tensor(x, ref.inputShape))));
      const got = await y.data();
      y.dispose();
      const err = maxRelError(got, ref.logits);
      assert.ok(err < 1e-4, `${file}: relative error ${err}`);
    } finally {
      model.dispose();
    }
  });
}

test.run();
