export * from './module.js';
export * from './summary.js';
export * from './layers.js';
export * from './activations.js';
export * from './pooling.js';
export * from './optim.js';
export * from './schedules.js';
export * from './clip.js';
export * from './grad-scaler.js';
export * from './ema.js';
export * from './safetensors.js';
export * from './checkpoint.js';
export { writeFileAtomic, writeFileAtomicSync, type AtomicContent } from './atomic.js';
export * from './vnet.js';
export * from './losses.js';
export * from './loss-modules.js';
export * from './unet.js';
export * from './segresnet.js';
export * as init from './init.js';
export * from './losses-registration.js';
export * from './warp.js';
export * from './attention.js';
export * from './transformer.js';
export * from './vit.js';
export * from './dynunet.js';
export * from './resnet.js';
export * from './unetr.js';
export * from './swin-unetr.js';
export * from './monai-blocks.js';
export * from './monai-unet.js';
export {
  BasicUNet, ConstantPad3d, SubpixelUpsample, pixelShuffle3d, type BasicUNetOptions, type BasicUNetUpsample, type UpCatOptions,
} from './basic-unet.js';
export * from './attention-unet.js';
export * from './densenet.js';
export { VoxelMorph, VoxelMorphUNet, type VoxelMorphOptions, type VoxelMorphUNetOptions } from './voxelmorph.js';
export {
  MonaiVNet, InputTransition, DownTransition, UpTransition, OutputTransition, LUConv, type MonaiVNetOptions, type TransitionContext as MonaiVNetTransitionContext,
} from './monai-vnet.js';
export * from './basic-unetplusplus.js';
export * from './highresnet.js';
export * from './mednext.js';
export {
  SegResNetDS, type SegResEncoder, scalesForResolution, anisoKernel,
  type SegResNetDSOptions, type SegResNetDSNorm, type SegResNetDSAct, type SegResNetDSUpsampleMode,
} from './segresnet-ds.js';
export {
  softSkeleton, softclDiceLoss, softDiceclDiceLoss, SoftclDiceLoss, SoftDiceclDiceLoss, maskedDiceLoss, MaskedDiceLoss, deepSupervisionLoss,
  deepSupervisionWeights, DeepSupervisionLoss, ssimPerSample, ssimLoss, SSIMLoss, contrastiveLoss, ContrastiveLoss, asymmetricUnifiedFocalLoss,
  AsymmetricUnifiedFocalLoss, type SoftclDiceLossOptions, type SoftDiceclDiceLossOptions, type DeepSupervisionWeightMode,
  type DeepSupervisionLossOptions, type SsimOptions, type SsimKernelType, type SsimLossOptions, type ContrastiveLossOptions,
  type AsymmetricUnifiedFocalLossOptions,
} from './losses-extra.js';
export {
  AutoEncoder, VarAutoEncoder, vaeKlDivergence, type AutoEncoderOptions, type VarAutoEncoderOptions, type KlDivergenceOptions,
  type MonaiStackOptions, type NoiseGenerator,
} from './autoencoder.js';
export {
  Regressor, Classifier, Discriminator, Critic, type RegressorOptions, type ClassifierOptions, type ClassifierLastAct,
  type DiscriminatorOptions, type CriticOptions,
} from './regressor.js';
export { Generator, type GeneratorOptions } from './generator.js';
export { SegResNetVAE, type SegResNetVAEOptions } from './segresnet-vae.js';
export * from './efficientnet.js';
export * from './flexible-unet.js';
