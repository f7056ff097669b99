// The torchvision backbones from the CLI: `thaw inspect` prints the family and the config inferred
// from a torch.save'd state_dict; `thaw predict --weights FILE --model convnext|vit` builds and loads
// it; `thaw finetune --model convnext-tiny --weights FILE` (a small ConvNeXt of the same family)
// fine-tunes it; a zoo checkpoint that cannot be had stops in one line naming the URL, the cache path
// to fill by hand and --weights.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runThaw, darkLightFolder, ROOT as root } from './helpers.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const test = suite('cli torchvision');
const FX = join(root, 'test', 'fixtures', 'models');
let tmp = '';
test.before(() => { tmp = mkdtempSync(join(tmpdir(), 'thaw-tv-cli-')); });
test.after(() => { rmSync(tmp, { recursive: true, force: true }); });

const thaw = (args: string[], env: Record<string, string> = {}) => runThaw(tmp, args, env);

const folder = (n: number) => darkLightFolder(join(tmp, 'data'), n, 40, 30);

test('thaw inspect prints the torchvision family and the config the keys and shapes determine', () => {
  const cn = thaw(['inspect', join(FX, 'convnext_narrow.pth')]);
  assert.is(cn.code, 0, cn.err);
  assert.match(cn.out, 'architecture: torchvision convnext: ConvNeXt: ConvNeXt(block_setting=[[8, 16, 1], [16, None, 1]], num_classes=5)');
  const vit = thaw(['inspect', join(FX, 'vit_tiny.pth'), '--json']);
  assert.is(vit.code, 0, vit.err);
  assert.match(JSON.parse(vit.out).architecture.error, /does not store its number of attention heads.*--heads N/);
  const vit2 = thaw(['inspect', join(FX, 'vit_tiny.pth'), '--heads', '2']);
  assert.match(vit2.out, 'VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=5)');
});

test('thaw predict --weights FILE builds the torchvision model the file holds (detected, or --model FAMILY)', () => {
  const img = join(folder(1), 'dark', '0.png');
  const cn = thaw(['predict', '--weights', join(FX, 'convnext_narrow.pth'), '--json', img]);
  assert.is(cn.code, 0, cn.err);
  const r = JSON.parse(cn.out);
  assert.is(r.classes, 5);
  assert.is(r.predictions[0].top.length, 5);
  const vit = thaw(['predict', '--weights', join(FX, 'vit_tiny.pth'), '--model', 'vit', '--heads', '2', '--top', '2', img]);
  assert.is(vit.code, 0, vit.err);
  assert.match(vit.out, /model vit \(5 classes\)/);
  const noHeads = thaw(['predict', '--weights', join(FX, 'vit_tiny.pth'), '--model', 'vit', img]);
  assert.is(noHeads.code, 1);
  assert.match(noHeads.err.trimEnd(), /vit_tiny\.pth: a ViT checkpoint does not store its number of attention heads.*\(--heads N\)$/);
  assert.is(noHeads.err.trimEnd().split('\n').length, 1);
});

test('a zoo backbone that cannot be had: one line with the URL, the cache path to fill by hand, and --weights', () => {
  const img = join(folder(1), 'dark', '0.png');
  const r = thaw(['predict', '--model', 'convnext-tiny', img]);
  assert.is(r.code, 1, r.err);
  const line = r.err.trimEnd();
  assert.is(line.split('\n').length, 1, line);
  assert.match(line, 'https://download.pytorch.org/models/convnext_tiny-983f1562.pth');
  assert.match(line, `at ${join(tmp, 'cache', 'convnext-tiny', 'convnext_tiny-983f1562.pth')}`);
  assert.match(line, 'pass --weights FILE');
});

test('thaw finetune --model convnext-tiny --weights FILE fine-tunes a ConvNeXt of that family, writing weights predict reads', () => {
  const data = folder(6);
  const out = join(tmp, 'ft');
  const r = thaw(['finetune', '--model', 'convnext-tiny', '--weights', join(FX, 'convnext_narrow.pth'), '--data', data,
    '--labels-per-class', '4', '--epochs', '2', '--batch', '4', '--size', '32', '--out', out, '--json']);
  assert.is(r.code, 0, r.err);
  const rep = JSON.parse(r.out);
  assert.equal(rep.inputSize, [32, 32]);
  assert.is(rep.freeze, '-1');
  const p = thaw(['predict', '--weights', join(out, 'weights.safetensors'), '--json', join(data, 'light', '5.png')]);
  assert.is(p.code, 0, p.err);
  assert.equal(JSON.parse(p.out).predictions[0].top.map((t: { label: string }) => t.label).sort(), ['dark', 'light']);
});

test('thaw finetune --model vit-b-16 --weights FILE --heads N fine-tunes a ViT whose width names no head count; without --heads, one line asks for it', () => {
  const data = folder(4);
  const args = ['finetune', '--model', 'vit-b-16', '--weights', join(FX, 'vit_tiny.pth'), '--data', data, '--labels-per-class', '3', '--epochs', '1', '--batch', '3', '--json'];
  const noHeads = thaw([...args, '--out', join(tmp, 'vit0')]);
  assert.is(noHeads.code, 1);
  assert.match(noHeads.err.trimEnd(), /vit_tiny\.pth: a ViT checkpoint does not store its number of attention heads.*\(--heads N\)$/);
  const r = thaw([...args, '--heads', '2', '--out', join(tmp, 'vit')]);
  assert.is(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).inputSize, [32, 32]);
  const notVit = thaw(['finetune', '--model', 'convnext-tiny', '--weights', join(FX, 'convnext_narrow.pth'), '--data', data, '--heads', '2']);
  assert.is(notVit.code, 2);
  assert.match(notVit.err, /--heads is for ViT backbones.*convnext-tiny has none/);
});

test.run();
