/**
 * Module roles (engine/nn/roles.ts): normalization and stochastic layers are found by the brand their
 * class declares, not by a `running_mean` buffer or the class name, so subclasses and classes a
 * minifier renamed keep their role; BERT's attention dropout is stochastic.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import type { Tensor } from '../../engine/core/tensor.ts';
import { Module, zerosInit } from '../../engine/nn/module.ts';
import { Sequential, Conv2d, BatchNorm2d, Dropout, Linear, Flatten, StochasticDepth, isNormalization, isStochastic } from '../../engine/nn/index.ts';
import { freeze, trainableSummary } from '../../engine/train/freeze.ts';
import { planCache } from '../../engine/train/feature_cache.ts';
import { seedDropout } from '../../engine/train/finetune.ts';
import type { Classifier } from '../../engine/train/types.ts';
import { BertModel, BertSelfAttention } from '../../models/bert.ts';
import { MultiheadAttention } from '../../models/vit.ts';

test.before(async () => { await setup(); });

/** What a minifier does to class names (esbuild --minify renames classes; constructor.name is then e.g. 'x'). */
function minified<C extends abstract new (...a: any[]) => Module>(cls: C): C {
  Object.defineProperty(cls, 'name', { value: 'x' });
  return cls;
}

class MyBatchNorm extends BatchNorm2d {}
minified(MyBatchNorm);
class MyDropout extends Dropout {}
minified(MyDropout);

/** A module with a buffer named like a norm's statistics but no train/eval behaviour: not a normalization. */
class Stats extends Module {
  constructor() { super(); this.buffer('running_mean', [2], zerosInit); }
  forward(x: Tensor): Tensor { return x; }
}

/** A Classifier over a trunk (a Sequential or a BERT encoder's pooled output) and a Linear head. */
class Wrapped extends Module implements Classifier {
  readonly headPrefix = 'head';
  head: Module;
  constructor(readonly trunk: Module, readonly featureDim: number, private readonly run: (x: Tensor) => Tensor = (x) => trunk.forward(x)) {
    super();
    this.child('trunk', trunk);
    this.head = this.child('head', new Linear(featureDim, 2));
  }
  features(x: Tensor): Tensor { return this.run(x); }
  forward(x: Tensor): Tensor { return this.head.forward(this.features(x)); }
  layerGroups(): string[][] { return [['trunk'], ['head']]; }
  replaceHead(): void { throw new Error('not used'); }
}

test('isNormalization: BatchNorm2d and a renamed subclass are normalizations; a running_mean buffer alone is not', () => {
  assert.equal(MyBatchNorm.name, 'x');
  const bn = new MyBatchNorm(3), plain = new BatchNorm2d(3, { trackRunningStats: false }), stats = new Stats();
  assert.ok(isNormalization(bn) && isNormalization(new BatchNorm2d(2)));
  assert.ok(isNormalization(plain), 'a BatchNorm2d without running statistics is still a normalization layer');
  assert.not.ok(isNormalization(stats));
  assert.not.ok(isNormalization(new Dropout(0.1)) || isNormalization(new Linear(2, 2)));
  // Freezing finds the renamed norm: inference mode, and trainBn keeps its affine parameters trainable.
  const net = new Sequential(new Conv2d(3, 3, 1), bn, stats);
  freeze(net, '', { trainBn: true });
  assert.ok(bn.frozenNorm);
  assert.equal(trainableSummary(net).frozenNorms, 1);
  assert.equal(net.trainableParameters().map(([k]) => k), ['1.weight', '1.bias']);
  for (const m of [net, plain]) m.dispose();
});

test('isStochastic: Dropout, a renamed subclass and BERT attention are stochastic; the feature cache sees a renamed dropout', () => {
  assert.equal(MyDropout.name, 'x');
  const d = new MyDropout(0.2);
  assert.ok(isStochastic(d) && d.randomInTraining && isStochastic(new Dropout()));
  assert.not.ok(new Dropout(0).randomInTraining);
  assert.not.ok(isStochastic(new BatchNorm2d(2)) || isStochastic(new Linear(2, 2)));
  assert.ok(isStochastic(new StochasticDepth(0.1)) && !new StochasticDepth(0).randomInTraining, 'stochastic depth is stochastic (when p > 0)');
  const m = new Wrapped(new Sequential(new Conv2d(3, 2, 1), new Flatten(), d), 2);
  freeze(m, 'trunk');
  const plan = planCache(m, false);
  assert.not.ok(plan.all, 'a frozen trunk with active (renamed) dropout is not a fixed function');
  assert.match(plan.reason, /dropout 'trunk\.2' is active/);
  d.p = 0;
  assert.ok(planCache(m, false).all);
  m.dispose();
});

test("BERT's attention dropout is stochastic: the feature cache refuses it, seedDropout seeds it", () => {
  const cfg = { vocabSize: 16, hiddenSize: 8, numLayers: 1, numHeads: 2, intermediateSize: 16, maxPositions: 8, hiddenDropout: 0, attentionDropout: 0.1 };
  const bert = new BertModel(cfg);
  const m = new Wrapped(bert, 8, (ids) => bert.forward(ids).pooledOutput);
  const attn = bert.encoder.layer.layers[0].attention.self;
  assert.ok(attn instanceof BertSelfAttention && isStochastic(attn) && attn.randomInTraining);
  const mha = new MultiheadAttention(8, 2, 0.1);
  assert.ok(isStochastic(mha) && mha.randomInTraining, "ViT's attention dropout is stochastic too");
  mha.dispose();
  freeze(m, 'trunk');
  // hiddenDropout 0: the only random layer is the attention dropout, which a class-name check missed.
  const plan = planCache(m, false);
  assert.not.ok(plan.all, 'attention dropout makes the frozen encoder random in training mode');
  assert.match(plan.reason, /'trunk\.encoder\.layer\.0\.attention\.self' is active/);
  const before = attn.seed;
  seedDropout(m, 1);
  const a = attn.seed;
  seedDropout(m, 2);
  assert.ok(a !== before && attn.seed !== a, 'seedDropout sets the attention seed from its own');
  m.dispose();
  const still = new BertModel({ ...cfg, attentionDropout: 0 });
  const w = new Wrapped(still, 8, (ids) => still.forward(ids).pooledOutput);
  freeze(w, 'trunk');
  assert.ok(planCache(w, false).all, 'no dropout anywhere: the frozen encoder is cacheable');
  w.dispose();
});

test('setTensor calls the typed onTensorReplaced hook of the module owning the key', async () => {
  const seen: string[] = [];
  class Cached extends Module {
    constructor() { super(); this.param('weight', [2], zerosInit); }
    protected override onTensorReplaced(name: string, t: Tensor): void { seen.push(`${name}:${t.shape}`); }
    forward(x: Tensor): Tensor { return x; }
  }
  const net = new Sequential(new Linear(2, 2), new Cached());
  net.setTensor('1.weight', tensor(new Float32Array([1, 2]), [2]));
  net.setTensor('0.bias', tensor(new Float32Array([1, 2]), [2]));
  assert.equal(seen, ['weight:2']);
  assert.equal(Array.from(await net.get('1.weight').data()), [1, 2]);
  net.dispose();
});

test.run();
