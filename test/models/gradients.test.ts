/**
 * Whole-network gradients against float64 torch (test/fixtures/make_grad_fixtures.py; see
 * gradcheck.ts): for every model of the zoo and the Keras builder, the logits and every trainable
 * parameter's gradient after one backward in training mode, and again under the freeze split the CLI
 * uses (frozen parameters get no gradient, frozen BatchNorm runs on its running statistics).
 */
import { test } from 'uvu';
import { join } from 'node:path';
import { setup } from '../helpers.ts';
import { ROOT, SHARED, haveShared } from './helpers.ts';
import { checkGradCase, checkGradRun, gradFixture, loadDetWeights, reportGrad, trainMode, type GradCase } from './gradcheck.ts';
import { BasicBlockA, resnet20 } from '../../models/resnet_cifar.ts';
import { ResNet, BasicBlock, Bottleneck } from '../../models/resnet.ts';
import { mobilenetV2 } from '../../models/mobilenetv2.ts';
import { VisionTransformer, type VisionTransformerOptions } from '../../models/vit.ts';
import { ConvNeXt, type CNBlockSetting } from '../../models/convnext.ts';
import { EfficientNet, type MBConvSetting } from '../../models/efficientnet.ts';
import { MobileNetV3, type MobileNetV3Setting } from '../../models/mobilenetv3.ts';
import { KerasClassifier } from '../../models/keras/index.ts';
import { mobilenetV2KerasGroup } from '../../models/keras/zoo.ts';
import { loadCheckpointFile } from '../../engine/io/fs.ts';

test.before(async () => { await setup(); });

const cifar = gradFixture('resnet20');

test('ResNet-20 down-sampling block (16 → 32, stride 2): input and parameter gradients flow through the option-A shortcut', async () => {
  const b = new BasicBlockA(16, 32, 2);
  loadDetWeights(b);
  trainMode(b);
  const r = await checkGradRun(b, (x) => b.forward(x), cifar.block, cifar.block.full, true);
  reportGrad('BasicBlockA 16→32/2', r);
  b.dispose();
});

test('ResNet-20: logits and every gradient equal torch, all trainable and under the CLI freeze (7)', async () => {
  await checkGradCase('resnet20', () => resnet20(10), cifar.resnet20);
});

const tv = gradFixture('torchvision');
/** ResNet-50 runs with one layer4 block (make_grad_fixtures.py says why), so the stage depths come from the fixture. */
const TORCHVISION = {
  resnet18_w16: () => new ResNet(BasicBlock, tv.resnet18_w16.layers!, { width: 16, numClasses: 10 }),
  resnet34_w16: () => new ResNet(BasicBlock, tv.resnet34_w16.layers!, { width: 16, numClasses: 10 }),
  resnet50_w16: () => new ResNet(Bottleneck, tv.resnet50_w16.layers!, { width: 16, numClasses: 10 }),
  mobilenet_v2_w025: () => mobilenetV2({ widthMult: 0.25, numClasses: 10 }),
};
for (const [name, make] of Object.entries(TORCHVISION)) {
  test(`${name}: logits and every gradient equal torchvision's, all trainable and with the first ${tv[name].freeze} layer groups frozen`, async () => {
    await checkGradCase(name, make, tv[name]);
  });
}

/** torchvision's own VisionTransformer and ConvNeXt classes at small sizes (make_grad_fixtures.py vit_convnext_fixture). */
const vc = gradFixture('vit_convnext');
const py = vc.vit_tiny.config as Record<string, number>;
const vitOptions: VisionTransformerOptions = {
  imageSize: py.image_size, patchSize: py.patch_size, numLayers: py.num_layers, numHeads: py.num_heads, hiddenDim: py.hidden_dim,
  mlpDim: py.mlp_dim, numClasses: py.num_classes, dropout: py.dropout, attentionDropout: py.attention_dropout,
};
/** On a software adapter the ViT's attention is the composed op; the fused kernel (hardware's) runs too. */
const VIT_CONVNEXT = {
  vit_tiny: () => new VisionTransformer(vitOptions),
  vit_tiny_fused: () => new VisionTransformer({ ...vitOptions, attention: 'fused' }),
  convnext_narrow: () => new ConvNeXt(vc.convnext_narrow.blockSetting as CNBlockSetting[], { numClasses: 5 }),
};
for (const [name, make] of Object.entries(VIT_CONVNEXT)) {
  const c = vc[name.replace('_fused', '')];
  test(`${name}: logits and every gradient equal torchvision's, all trainable and with the first ${c.freeze} layer groups frozen`, async () => {
    await checkGradCase(name, make, c);
  });
}

/**
 * EfficientNet and MobileNetV3 built from torchvision's own classes with shrunk settings (every block
 * kind; make_grad_fixtures.py EFFNET_SMALL, MBV3_SMALL), stochastic depth and dropout 0.
 */
const em = gradFixture('effnet_mbv3') as Record<string, GradCase & { setting: unknown[]; lastChannel?: number }>;
const EFFNET_MBV3 = {
  efficientnet_small: () => new EfficientNet({ setting: em.efficientnet_small.setting as MBConvSetting[], numClasses: 10, dropout: 0, stochasticDepthProb: 0 }),
  mobilenet_v3_small_cfg: () => new MobileNetV3('mobilenet_v3_small', {
    setting: em.mobilenet_v3_small_cfg.setting as MobileNetV3Setting[], lastChannel: em.mobilenet_v3_small_cfg.lastChannel, numClasses: 10, dropout: 0,
  }),
};
for (const [name, make] of Object.entries(EFFNET_MBV3)) {
  test(`${name} (torchvision's class, small setting): logits and every gradient equal torchvision's, all trainable and with the first ${em[name].freeze} layer groups frozen`, async () => {
    await checkGradCase(name, make, em[name]);
  });
}

const keras = gradFixture('keras');
const KERAS_GROUPS: Record<string, typeof mobilenetV2KerasGroup | undefined> = { mobilenet_v2_mini: mobilenetV2KerasGroup, darknet_mini: undefined };
for (const [name, groupOf] of Object.entries(KERAS_GROUPS)) {
  test(`Keras ${name} (built from its topology): logits and every gradient equal torch, all trainable and with ${keras[name].freeze} layer groups frozen`, async () => {
    await checkGradCase(name, () => new KerasClassifier(keras[name].topology, { groupOf }), keras[name]);
  });
}

/** A real topology rebuilt at 64x64 as the CLI's --size 64 does (the checkpoint's weights are not used). */
async function realKeras(file: string, groupOf?: typeof mobilenetV2KerasGroup): Promise<() => KerasClassifier> {
  const topology = (await loadCheckpointFile(file)).metadata.modelTopology;
  return () => new KerasClassifier(topology, { inputShape: [3, 64, 64], groupOf });
}

test(`nsfwjs MobileNetV2 topology (node_modules/nsfwjs) at 64x64: logits and every gradient equal torch, all trainable and under the CLI freeze (12)`, async () => {
  await checkGradCase('nsfwjs', await realKeras(join(ROOT, 'node_modules/nsfwjs/dist/models/mobilenet_v2/model.min.js'), mobilenetV2KerasGroup), keras.nsfwjs);
});

test(`darknet-tiny topology (../shared) at 64x64: logits and every gradient equal torch, all trainable and under the CLI freeze (13)`, async () => {
  if (!haveShared('checkpoints/darknet-tiny')) return;
  await checkGradCase('darknet-tiny', await realKeras(join(SHARED, 'checkpoints/darknet-tiny/model.json')), gradFixture('darknet').darknet_tiny);
});

test.run();
