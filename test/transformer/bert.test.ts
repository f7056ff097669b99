import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from '../helpers.ts';
import { tensor } from '../../engine/core/factory.ts';
import { tidy, type Tensor, noGrad } from '../../engine/core/tensor.ts';
import { backward } from '../../engine/autograd/backward.ts';
import { freezeTo } from '../../engine/train/freeze.ts';
import type { HostTensor } from '../../engine/io/types.ts';
import { crossEntropy } from '../../kernels/softmax/softmax.ts';
import { BertModel, BertForSequenceClassification, loadBertWeights } from '../../models/bert.ts';
import { loadBertFixture, checkAgainst, relErr, type BertFixture } from './bert_helpers.ts';

let fx: BertFixture;
test.before(async () => { await setup(); fx = await loadBertFixture(); });

function inputs() {
  const e = fx.expected;
  const ids = e.get('input_ids')!, mask = e.get('attention_mask')!, types = e.get('token_type_ids')!, labels = e.get('labels')!;
  return {
    ids: tensor(Int32Array.from(ids.data), ids.shape, 'i32'),
    mask: tensor(Float32Array.from(mask.data), mask.shape, 'f32'),
    types: tensor(Int32Array.from(types.data), types.shape, 'i32'),
    labels: tensor(Int32Array.from(labels.data), labels.shape, 'i32'),
  };
}
const exp = (k: string) => fx.expected.get(k)!.data as Float32Array;
const disposeAll = (o: Record<string, Tensor>) => Object.values(o).forEach((t) => t.dispose());

for (const impl of ['composed', 'fused'] as const) {
  test(`BERT (2 layers, hidden 32, 4 heads) with ${impl} attention matches the PyTorch reference: hidden states, pooled, logits, loss, every gradient`, async () => {
    const model = new BertForSequenceClassification({ ...fx.config, attention: impl }, fx.numLabels).eval();
    const report = loadBertWeights(model, fx.weights, { strict: true });
    assert.is(report.loaded.length, fx.weights.size);
    const x = inputs();
    const out = tidy(() => {
      const o = model.bert.forward(x.ids, x.mask, x.types);
      const logits = model.classifier.forward(o.pooledOutput);
      const loss = crossEntropy(logits, x.labels);
      backward(loss);
      return { h: o.lastHiddenState, pooled: o.pooledOutput, logits, loss };
    });
    const figs: string[] = [];
    figs.push(`hidden ${checkAgainst(await out.h.data(), exp('last_hidden_state'), 'last hidden state').toExponential(1)}`);
    figs.push(`pooled ${checkAgainst(await out.pooled.data(), exp('pooled_output'), 'pooled').toExponential(1)}`);
    figs.push(`logits ${checkAgainst(await out.logits.data(), exp('logits'), 'logits').toExponential(1)}`);
    figs.push(`loss ${checkAgainst(await out.loss.data(), exp('loss'), 'loss').toExponential(1)}`);
    let worst = 0, worstKey = '';
    for (const [k, p] of model.namedParameters()) {
      const ref = fx.expected.get(`grad.${k}`);
      assert.ok(ref && p.grad, `gradient of ${k}`);
      const e = checkAgainst(await p.grad!.data(), ref!.data, `grad ${k}`);
      if (e > worst) { worst = e; worstKey = k; }
    }
    figs.push(`gradients (${model.parameters().length}) ${worst.toExponential(1)} (worst: ${worstKey})`);
    console.log(`  ${impl}: max |err| / max |ref|: ${figs.join(', ')}`);
    // model.forward (dropout inactive in eval) gives the same logits.
    const again = noGrad(() => tidy(() => model.forward(x.ids, x.mask, x.types)));
    assert.ok(relErr(await again.data(), exp('logits')) < 1e-5);
    again.dispose(); disposeAll(out); disposeAll(x); model.dispose();
  });
}

test('BERT in training mode (dropout probabilities 0, since torch cannot reproduce thaw\'s masks) gives the reference gradients with either attention', async () => {
  for (const impl of ['composed', 'fused'] as const) {
    const model = new BertForSequenceClassification({ ...fx.config, attention: impl, hiddenDropout: 0, attentionDropout: 0 }, fx.numLabels).train();
    loadBertWeights(model, fx.weights, { strict: true });
    const x = inputs();
    const logits = tidy(() => {
      const y = model.forward(x.ids, x.mask, x.types);
      backward(crossEntropy(y, x.labels));
      return y;
    });
    const figs = [`logits ${checkAgainst(await logits.data(), exp('logits'), 'logits').toExponential(1)}`];
    let worst = 0;
    for (const [k, p] of model.namedParameters()) {
      assert.ok(p.grad, `gradient of ${k}`);
      worst = Math.max(worst, checkAgainst(await p.grad!.data(), fx.expected.get(`grad.${k}`)!.data, `grad ${k}`));
    }
    console.log(`  ${impl}, training mode: ${figs[0]}, worst gradient ${worst.toExponential(1)}`);
    logits.dispose(); disposeAll(x); model.dispose();
  }
});

test('BERT defaults: no token types = all segment 0, no mask = every token attended; bad inputs are named', async () => {
  const model = new BertModel({ ...fx.config, attention: 'fused' }).eval();
  loadBertWeights(model, fx.weights);
  const B = 2, T = 6;
  const ids = tensor(Int32Array.from({ length: B * T }, (_, i) => 5 + (i * 7) % 90), [B, T], 'i32');
  const zeros = tensor(new Int32Array(B * T), [B, T], 'i32'), ones = tensor(new Float32Array(B * T).fill(1), [B, T]);
  const run = async (m: Tensor | null, t: Tensor | null) => {
    const h = noGrad(() => tidy(() => model.forward(ids, m, t).lastHiddenState));
    const d = await h.data();
    h.dispose();
    return d;
  };
  const a = await run(null, null), b = await run(ones, zeros);
  assert.ok(relErr(a, b) < 1e-6, 'defaults');
  assert.throws(() => model.forward(ids, zeros), /'attentionMask' has i32/);
  assert.throws(() => model.forward(ones), /'inputIds' has f32/);
  for (const t of [ids, zeros, ones]) t.dispose();
  model.dispose();
});

/** The fixture's keys renamed: without the `bert.` prefix, or with TF-style LayerNorm.gamma/beta. */
function renamed(f: (k: string) => string): Map<string, HostTensor> {
  return new Map([...fx.weights].map(([k, v]) => [f(k), v]));
}

test('BERT weights load with or without the bert. prefix, and with legacy gamma/beta names', async () => {
  const x = inputs();
  const hidden = async (m: BertModel) => {
    const h = noGrad(() => tidy(() => m.forward(x.ids, x.mask, x.types).lastHiddenState));
    const d = await h.data();
    h.dispose();
    return d;
  };
  // Prefixed checkpoint into a bare BertModel: the prefix is stripped, the head is unexpected.
  const bare = new BertModel(fx.config).eval();
  const r1 = loadBertWeights(bare, fx.weights);
  assert.equal(r1.missing, []);
  assert.equal(r1.unexpected.sort(), ['classifier.bias', 'classifier.weight']);
  checkAgainst(await hidden(bare), exp('last_hidden_state'), 'bare model');
  // Bare keys (and a position_ids buffer, as older checkpoints carry) into the classifier: the prefix is added.
  const cls = new BertForSequenceClassification(fx.config, fx.numLabels).eval();
  const bareKeys = renamed((k) => k.replace(/^bert\./, ''));
  bareKeys.set('embeddings.position_ids', { dtype: 'i64', shape: [1, 40], data: Int32Array.from({ length: 40 }, (_, i) => i) });
  const r2 = loadBertWeights(cls, bareKeys, { strict: true });
  assert.is(r2.loaded.length, fx.weights.size);
  checkAgainst(await hidden(cls.bert), exp('last_hidden_state'), 'classifier from bare keys');
  // TF-converted names.
  const legacy = new BertModel(fx.config).eval();
  const r3 = loadBertWeights(legacy, renamed((k) => k.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta')));
  assert.equal(r3.missing, []);
  checkAgainst(await hidden(legacy), exp('last_hidden_state'), 'legacy names');
  // A mis-shaped checkpoint is reported by key.
  const small = new BertModel({ ...fx.config, vocabSize: 50 });
  const r4 = loadBertWeights(small, fx.weights);
  assert.equal(r4.mismatched.map((m) => m.key), ['embeddings.word_embeddings.weight']);
  for (const m of [bare, cls, legacy, small]) m.dispose();
  disposeAll(x);
});

test('BERT layerGroups: freezeTo(model, 2) freezes the embeddings and layer 0; the other gradients still match torch', async () => {
  const model = new BertForSequenceClassification({ ...fx.config, attention: 'fused' }, fx.numLabels).eval();
  loadBertWeights(model, fx.weights, { strict: true });
  const groups = model.layerGroups();
  assert.equal(groups, [['bert.embeddings'], ['bert.encoder.layer.0'], ['bert.encoder.layer.1'], ['bert.pooler', 'classifier']]);
  freezeTo(model, 2);
  const x = inputs();
  tidy(() => { backward(crossEntropy(model.forward(x.ids, x.mask, x.types), x.labels)); });
  let trainable = 0;
  for (const [k, p] of model.namedParameters()) {
    const frozen = k.startsWith('bert.embeddings.') || k.startsWith('bert.encoder.layer.0.');
    assert.is(p.requiresGrad, !frozen, k);
    if (frozen) { assert.is(p.grad, null, `${k} has no gradient`); continue; }
    trainable++;
    checkAgainst(await p.grad!.data(), fx.expected.get(`grad.${k}`)!.data, `grad ${k}`);
  }
  assert.is(trainable, 16 + 2 + 2); // layer 1, pooler, classifier
  disposeAll(x); model.dispose();
});

test.run();
