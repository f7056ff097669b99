/**
 * The model zoo's architectures: torchvision ResNet-18/34/50, MobileNetV2, MobileNetV3, EfficientNet, ViT and ConvNeXt (PyTorch keys), the
 * CIFAR ResNets, and the Keras / TF.js layers builder with the two Keras checkpoints of the zoo.
 * `zooClassifier` builds the architecture a zoo entry names and loads its parsed checkpoint.
 */
import type { Checkpoint } from '../engine/io/types.ts';
import type { Architecture } from './zoo.ts';
import { loadStateDict, type LoadReport } from '../engine/train/load.ts';
import { ThawError } from '../engine/core/errors.ts';
import type { Classifier } from '../engine/train/types.ts';
import { resnet20 } from './resnet_cifar.ts';
import { darknetTiny, nsfwjsMobileNetV2 } from './keras/zoo.ts';

export type { Classifier } from '../engine/train/types.ts';
export { ResNet, BasicBlock, Bottleneck, resnet18, resnet34, resnet50, IMAGENET_PREPROCESS, type ResNetOptions } from './resnet.ts';
export { MobileNetV2, InvertedResidual, mobilenetV2, makeDivisible, type MobileNetV2Options } from './mobilenetv2.ts';
export { VisionTransformer, visionTransformer, vitB16, MultiheadAttention, EncoderBlock, Encoder, NamedSequential, type VisionTransformerOptions, type VitAttention } from './vit.ts';
export { ConvNeXt, CNBlock, convnext, convnextTiny, CONVNEXT_TINY, type CNBlockSetting, type ConvNeXtOptions } from './convnext.ts';
export {
  EfficientNet, MBConv, efficientnet, efficientnetB0, scaleSetting, EFFICIENTNET_B0_SETTING, EFFICIENTNET_VARIANTS,
  type EfficientNetName, type EfficientNetOptions, type EfficientNetVariant, type MBConvSetting, type MBConvStage,
} from './efficientnet.ts';
export {
  MobileNetV3, InvertedResidualV3, mobilenetV3, mobilenetV3Small, mobilenetV3Large, mobilenetV3Setting,
  type MobileNetV3Name, type MobileNetV3Options, type MobileNetV3Setting,
} from './mobilenetv3.ts';
export { ResNetCifar, resnet20 } from './resnet_cifar.ts';
export * from './keras/index.ts';
export { darknetTiny, nsfwjsMobileNetV2, mobilenetV2KerasGroup } from './keras/zoo.ts';

/** Builds the zoo architecture and loads the parsed checkpoint into it (strict: every key must fit). */
export function zooClassifier(architecture: Architecture, ckpt: Checkpoint): { model: Classifier; report: LoadReport } {
  switch (architecture) {
    case 'darknet-tiny': return darknetTiny(ckpt);
    case 'mobilenetv2-keras': return nsfwjsMobileNetV2(ckpt);
    case 'resnet20-cifar10': {
      const model = resnet20();
      try {
        return { model, report: loadStateDict(model, ckpt.tensors, { remap: ['strip-module'], strict: true }) };
      } catch (e) {
        model.dispose();
        throw e;
      }
    }
    default: throw new ThawError('argument', `no builder for architecture '${architecture as string}'`);
  }
}
