// `thaw finetune --lora RANK [--lora-target ...] [--lora-alpha ...]` end to end: the options are checked
// before any work, and a run on the pre-trained ResNet-20 trains adapters on layer3 (the feature cache
// keeps the frozen stem, layer1 and layer2), writes the adapter as PEFT's folder and the merged weights
// under the base model's keys, which `thaw predict` loads.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runThaw, darkLightFolder, ROOT as root } from './helpers.ts';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors } from '../../engine/io/safetensors.ts';
import { loadCheckpointFile } from '../../engine/io/fs.ts';

const test = suite('cli lora');
const RESNET = join(root, '..', 'shared', 'checkpoints', 'resnet20-cifar10', 'resnet20-12fca82f.th');
let tmp = '';
test.before(() => { tmp = mkdtempSync(join(tmpdir(), 'thaw-lora-cli-')); });
test.after(() => { rmSync(tmp, { recursive: true, force: true }); });

const thaw = (args: string[]) => runThaw(tmp, args);

const folder = (n: number) => darkLightFolder(join(tmp, 'data'), n, 8, 8);

test('--lora options are checked before any work, in one line', () => {
  const cases: [string[], RegExp][] = [
    [['--lora', '0'], /^thaw finetune: --lora must be a positive integer \(the adapters' rank\), got 0$/],
    [['--lora-target', 'query'], /^thaw finetune: --lora-target needs --lora RANK$/],
    [['--lora', '2', '--lora-alpha', '-1'], /^thaw finetune: --lora-alpha must be > 0, got -1$/],
    [['--lora', '2', '--lora-target', '/[/'], /^thaw finetune: --lora-target: LoRA target '\/\[\/' is not a valid regular expression .*write \/pattern\//],
    [['--lora', '2', '--freeze', '7'], /^thaw finetune: --lora trains adapters on a frozen pre-trained model, so --freeze does not apply; give one of them$/],
    [['--lora', '2', '--from-scratch'], /^thaw finetune: --lora trains adapters .* so --from-scratch does not apply/],
  ];
  for (const [args, re] of cases) {
    const r = thaw(['finetune', ...args, '--out', join(tmp, 'never')]);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err.trimEnd(), re, args.join(' '));
    assert.is(r.err.trimEnd().split('\n').length, 1, `${args.join(' ')}: one line`);
    assert.is(r.out, '', 'no work done');
    assert.not.ok(existsSync(join(tmp, 'never')), 'no output folder');
  }
});

test('finetune --lora on ResNet-20: adapters on layer3, the cache below them, PEFT\'s folder and merged weights that predict loads', async () => {
  if (!existsSync(RESNET)) { console.log('  skipped: the shared ResNet-20 checkpoint is not there'); return; }
  const data = folder(4);
  const out = join(tmp, 'ft-lora');
  const r = thaw(['finetune', '--weights', RESNET, '--data', data, '--labels-per-class', '2', '--test-size', '4', '--epochs', '1', '--batch', '4',
    '--lora', '2', '--lora-alpha', '4', '--lora-target', '/^layer3\\./', '--out', out]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /lora: rank 2, alpha 4 on 6 layer\(s\) \('layer3\.0\.conv1', 'layer3\.0\.conv2', 'layer3\.1\.conv1', … \(6 in all\)\); everything else frozen but 'linear'/);
  assert.match(r.out, /feature cache: on after 3 fixed trunk stage\(s\) — stages stem, layer1, layer2 are fixed; stage 'layer3': 'layer3\.0\.conv1\.lora_A\.weight' is trainable/);
  const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.is(rep.freeze, 'lora');
  assert.equal([rep.lora.rank, rep.lora.alpha, rep.lora.adaptedLayers, rep.lora.modulesToSave], [2, 4, 6, ['linear']]);
  // Trainable: 6 x (A, B) + the head's weight and bias; Adam/SGD state for those alone.
  assert.is(rep.trainable.trainable, 14);
  const cfg = JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8'));
  assert.equal([cfg.peft_type, cfg.r, cfg.lora_alpha, cfg.bias, cfg.modules_to_save, cfg.base_model_name_or_path], ['LORA', 2, 4, 'none', ['linear'], RESNET]);
  assert.equal(cfg.target_modules, ['0', '1', '2'].flatMap((b) => [`layer3.${b}.conv1`, `layer3.${b}.conv2`]), 'a RegExp target is recorded as the adapted paths');
  const ad = parseSafetensors(readFileSync(join(out, 'adapter', 'adapter_model.safetensors')));
  assert.equal([...ad.tensors.keys()].sort(), [...cfg.target_modules.flatMap((p: string) => [`base_model.model.${p}.lora_A.weight`, `base_model.model.${p}.lora_B.weight`]), 'base_model.model.linear.bias', 'base_model.model.linear.weight'].sort());
  assert.equal(ad.tensors.get('base_model.model.layer3.0.conv1.lora_A.weight')!.shape, [2, 32, 3, 3]);
  assert.equal(ad.tensors.get('base_model.model.layer3.0.conv1.lora_B.weight')!.shape, [64, 2, 1, 1]);
  const w = parseSafetensors(readFileSync(join(out, 'weights.safetensors')));
  assert.not.ok([...w.tensors.keys()].some((k) => k.includes('lora_')), 'the merged weights carry the base keys only');
  assert.ok(w.tensors.has('layer3.0.conv1.weight') && w.tensors.has('linear.weight'));
  // Merged: the adapted convs moved by (alpha/r)·BA, the others are the checkpoint's.
  const base = (await loadCheckpointFile(RESNET)).tensors;
  const orig = (k: string) => (base.get(k) ?? base.get(`module.${k}`))!.data;
  assert.equal(w.tensors.get('layer2.0.conv1.weight')!.data, orig('layer2.0.conv1.weight'), 'a layer without adapter is unchanged');
  assert.not.equal(w.tensors.get('layer3.0.conv1.weight')!.data, orig('layer3.0.conv1.weight'), 'an adapted layer carries the merged update');
  const p = thaw(['predict', '--weights', join(out, 'weights.safetensors'), join(data, 'light', '0.png')]);
  assert.is(p.code, 0, p.err);
  assert.match(p.out, /dark|light/);
});

test('finetune --lora on ResNet-20 without --lora-target adapts the 3x3 convs of its nine residual blocks', () => {
  if (!existsSync(RESNET)) { console.log('  skipped: the shared ResNet-20 checkpoint is not there'); return; }
  const r = thaw(['finetune', '--weights', RESNET, '--data', folder(4), '--labels-per-class', '2', '--test-size', '4', '--epochs', '1', '--batch', '4',
    '--lora', '2', '--out', join(tmp, 'ft-lora-default')]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /lora: rank 2, alpha \d+ on 18 layer\(s\) \('layer1\.0\.conv1', 'layer1\.0\.conv2', 'layer1\.1\.conv1', … \(18 in all\)\)/);
});

test.run();
