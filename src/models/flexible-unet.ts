import type { Backend } from '../kernels/backend.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Identity } from './activations.js';
import { UpCat, type BasicUNetContext, type BasicUNetUpsample, type UpCatOptions } from './basic-unet.js';
import { EfficientNetBNFeatures, efficientnetParams, type EfficientNetModelName } from './efficientnet.js';
import { Conv3d } from './layers.js';
import { Module, ModuleList, Sequential, deriveSeed, nextSeed } from './module.js';
import { monaiActFactory, monaiNormFactory, type MonaiActSpec } from './monai-blocks.js';
import type { NormSpec } from './norm-act.js';
import { ResNet, type ResNetBlockType, type ResNetShortcutType } from './resnet.js';

/**
 * MONAI's FlexibleUNet (monai/networks/nets/flexible_unet.py), 3-D only, with MONAI's module tree and state-dict keys
 * (`encoder._blocks.1.1._expand_conv.weight` or `encoder.layer1.0.conv1.weight`, `decoder.blocks.0.upsample.preconv.weight`,
 * `decoder.blocks.4.convs.conv_1.adn.N.running_mean`, `segmentation_head.0.weight`, …): an encoder giving five feature
 * maps (EfficientNetBNFeatures for efficientnet-b0 … l2, MONAI's ResNetFeatures for resnet10 … resnet200), a decoder
 * of BasicUNet's UpCat blocks, and a 3³ segmentation head.
 */

export type FlexUNetResNetBackbone = 'resnet10' | 'resnet18' | 'resnet34' | 'resnet50' | 'resnet101' | 'resnet152' | 'resnet200';
export type FlexUNetBackbone = EfficientNetModelName | FlexUNetResNetBackbone;

/** MONAI's resnet_params (the MedicalNet configurations): block, layers, shortcut type, bias of shortcut 'B''s conv */
const resnetParams: Readonly<Record<FlexUNetResNetBackbone, readonly [ResNetBlockType, readonly [number, number, number, number], ResNetShortcutType, boolean]>> = {
  resnet10: ['basic', [1, 1, 1, 1], 'B', false],
  resnet18: ['basic', [2, 2, 2, 2], 'A', true],
  resnet34: ['basic', [3, 4, 6, 3], 'A', true],
  resnet50: ['bottleneck', [3, 4, 6, 3], 'B', false],
  resnet101: ['bottleneck', [3, 4, 23, 3], 'B', false],
  resnet152: ['bottleneck', [3, 8, 36, 3], 'B', false],
  resnet200: ['bottleneck', [3, 24, 36, 3], 'B', false],
};

/** the backbones FlexibleUNet takes (MONAI's FLEXUNET_BACKBONE register), in MONAI's order */
export const flexUNetBackbones: readonly FlexUNetBackbone[] = [
  ...Object.keys(efficientnetParams) as EfficientNetModelName[], ...Object.keys(resnetParams) as FlexUNetResNetBackbone[],
];

/** an encoder of FlexibleUNet: its feature maps, each half the size of the one before, the first half the input's */
export type FlexUNetEncoder = Module & { features(x: Tensor): Tensor[] };

/**
 * a backbone of one's own (MONAI's FlexUNetEncoderRegister.register_class, without the global register): its name,
 * the channels of each of its feature maps (at most five) and how to build it for the network's input channels
 */
export interface FlexUNetCustomBackbone {
  name: string;
  featureChannels: readonly number[];
  build(options: { inChannels: number; seed: number; backend: Backend | undefined }): FlexUNetEncoder;
}

/**
 * MONAI's ResNetFeatures(modelName, in_channels) as FlexibleUNet builds it: the MedicalNet configuration, conv1 7³ with
 * stride 2, no fully connected layer; its features: conv1's activation, then the four stages' outputs
 */
export function resNetFeatures(modelName: FlexUNetResNetBackbone, options: { inChannels?: number; seed?: number; backend?: Backend } = {}): ResNet {
  if (!Object.hasOwn(resnetParams, modelName)) throw new Error(`resNetFeatures: invalid modelName '${String(modelName)}', must be one of ${Object.keys(resnetParams).join(', ')}`);
  const [block, layers, shortcutType, biasDownsample] = resnetParams[modelName];
  return new ResNet({
    block, layers, blockInplanes: [64, 128, 256, 512], nInputChannels: options.inChannels ?? 1, conv1TStride: 2, shortcutType, biasDownsample,
    feedForward: false, ...(options.seed !== undefined ? { seed: options.seed } : {}), backend: options.backend,
  });
}

/** MONAI's UNetDecoder: one UpCat per decoder level (`blocks`), the deepest feature upsampled and joined with the skips in turn */
export class UNetDecoder extends Module {
  readonly blocks: ModuleList<UpCat>;

  /** encoderChannels: the input's channels, then each feature map's; decoderChannels: one fewer */
  constructor(encoderChannels: readonly number[], decoderChannels: readonly number[], upsample: BasicUNetUpsample, options: UpCatOptions, ctx: BasicUNetContext) {
    super();
    if (encoderChannels.length < 2) throw new Error(`UNetDecoder: encoderChannels needs at least 2 entries, got ${encoderChannels.length}`);
    if (decoderChannels.length !== encoderChannels.length - 1) {
      throw new Error(`UNetDecoder: decoderChannels needs ${encoderChannels.length - 1} entries (one per encoder feature map), got ${decoderChannels.length}`);
    }
    const inChannels = [encoderChannels.at(-1)!, ...decoderChannels.slice(0, -1)];
    const skipChannels = [...encoderChannels.slice(1, -1).reverse(), 0];
    this.blocks = this.registerModule('blocks', new ModuleList(decoderChannels.map((out, i) =>
      // the last block has no skip and keeps its upsampled channels
      new UpCat(inChannels[i], skipChannels[i], out, upsample, i < decoderChannels.length - 1, `decoder.blocks.${i}`, ctx, options))));
  }

  /** the features deepest last; the first `skipConnect` blocks take a skip (MONAI's skip_connect) */
  forward(features: readonly Tensor[], skipConnect: number): Tensor {
    return tidy(() => {
      const skips = features.slice(0, -1).reverse();
      let x = features.at(-1)!;
      for (const [i, block] of [...this.blocks].entries()) x = block.forward(x, i < skipConnect ? skips[i] : null);
      return x;
    });
  }
}

export interface FlexibleUNetOptions {
  inChannels: number;
  outChannels: number;
  /** efficientnet-b0 … efficientnet-b8, efficientnet-l2, resnet10 … resnet200, or a backbone of one's own */
  backbone: FlexUNetBackbone | FlexUNetCustomBackbone;
  /**
   * MONAI's pretrained encoder weights (ImageNet for 2-D EfficientNets, MedicalNet for 3-D ResNets): not downloadable
   * here, true is an error; load a state dict with MONAI's keys instead. Default false.
   */
  pretrained?: boolean;
  /** the decoder levels' channels, the first five used (default [256, 128, 64, 32, 16]) */
  decoderChannels?: readonly number[];
  /** only 3 (MONAI's default 2 is not offered: this engine is 3-D) */
  spatialDims?: 3;
  /** the decoder's norm (the encoder keeps its own batch norms; default ['batch', { eps: 1e-3, momentum: 0.1 }]) */
  norm?: NormSpec;
  /** the decoder's activation (default 'relu') */
  act?: MonaiActSpec;
  /** the decoder convolutions' dropout (default 0) */
  dropout?: number;
  /** whether the decoder's 3³ convolutions have a bias (default false) */
  decoderBias?: boolean;
  /** default 'nontrainable' */
  upsample?: BasicUNetUpsample;
  /** 'default': a 1³ convolution before a nontrainable upsampling where the channels halve; null: none (default 'default') */
  preConv?: 'default' | null;
  /** the nontrainable upsampling: 'nearest' (default) or 'linear' (trilinear, align_corners false) */
  interpMode?: 'nearest' | 'linear';
  /** pad an upsampled feature by one voxel where its skip is one larger (default true); false: sizes must be multiples of 32 */
  isPad?: boolean;
  /** initialisation seed; each layer's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

const upsampleModes: readonly BasicUNetUpsample[] = ['deconv', 'nontrainable', 'pixelshuffle'];

/**
 * `new FlexibleUNet({ inChannels, outChannels, backbone, … })`, MONAI's FlexibleUNet (FlexUNet): `encoder`, `decoder`
 * (UNetDecoder) and `segmentation_head` (a 3³ convolution with bias). Input [N, inChannels, D, H, W] of any size the
 * encoder takes (with isPad; multiples of 32 without); output [N, outChannels, D', H', W'], twice the size of the
 * encoder's first feature map: the input's size where it halves evenly five times (multiples of 32), as MONAI's.
 */
export class FlexibleUNet extends Module {
  /** the backbone's name */
  readonly backbone: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly isPad: boolean;
  /** the decoder blocks that take a skip (MONAI's skip_connect: the feature maps but the deepest) */
  readonly skipConnect: number;
  readonly encoder: FlexUNetEncoder;
  readonly decoder: UNetDecoder;
  readonly segmentationHead: Sequential;

  constructor(options: FlexibleUNetOptions) {
    super();
    const who = 'FlexibleUNet';
    const { backbone } = options;
    const custom = typeof backbone === 'object' && backbone !== null;
    if (!custom && !flexUNetBackbones.includes(backbone)) throw new Error(`${who}: invalid backbone '${String(backbone)}', must be one of ${flexUNetBackbones.join(', ')}`);
    this.backbone = custom ? backbone.name : backbone;
    if ((options.spatialDims ?? 3) !== 3) throw new Error(`${who}: only spatialDims 3 is supported (MONAI's default 2 is not offered), got ${options.spatialDims}`);
    if (options.pretrained) {
      throw new Error(`${who}: pretrained ${this.backbone} weights cannot be downloaded here; build with pretrained false and load a state dict `
        + 'with MONAI\'s keys (loadHostStateDict(net, decodeSafetensors(bytes).tensors), or loadModel)');
    }
    if (custom) {
      const n = backbone.featureChannels.length;
      if (n < 1 || n > 5 || !backbone.featureChannels.every((c) => Number.isInteger(c) && c > 0)) {
        throw new Error(`${who}: backbone '${backbone.name}' must have 1 to 5 feature maps of positive integer channels, got [${backbone.featureChannels.join(', ')}]`);
      }
    }
    this.inChannels = options.inChannels;
    this.outChannels = options.outChannels;
    for (const [key, v] of [['inChannels', this.inChannels], ['outChannels', this.outChannels]] as const) {
      if (!(Number.isInteger(v) && v > 0)) throw new Error(`${who}: ${key} must be a positive integer, got ${v}`);
    }
    const upsample = options.upsample ?? 'nontrainable';
    if (!upsampleModes.includes(upsample)) throw new Error(`${who}: unknown upsample '${String(upsample)}'; valid: ${upsampleModes.join(', ')}`);
    const preConv = options.preConv === undefined ? 'default' : options.preConv;
    if (preConv !== 'default' && preConv !== null) throw new Error(`${who}: preConv must be 'default' or null, got ${JSON.stringify(preConv)}`);
    if (preConv === null && upsample === 'pixelshuffle') throw new Error(`${who}: preConv null is not offered with upsample 'pixelshuffle' (its convolution makes the subpixel channels)`);
    const interpMode = options.interpMode ?? 'nearest';
    if (interpMode !== 'nearest' && interpMode !== 'linear') throw new Error(`${who}: unknown interpMode '${String(interpMode)}'; valid: nearest, linear`);
    const dropout = options.dropout ?? 0;
    if (typeof dropout !== 'number' || !(dropout >= 0 && dropout <= 1)) throw new Error(`${who}: dropout must be in [0, 1], got ${String(dropout)}`);
    const act = options.act ?? 'relu', norm = options.norm ?? ['batch', { eps: 1e-3, momentum: 0.1 }];
    monaiActFactory(act, who);
    monaiNormFactory(norm, who);
    this.isPad = options.isPad ?? true;
    const seed = options.seed ?? nextSeed(), backend = options.backend;

    let featureChannels: number[];
    const encoderInit = { inChannels: this.inChannels, seed: deriveSeed(seed, 'encoder'), backend };
    if (custom) {
      featureChannels = [...backbone.featureChannels];
      this.encoder = this.registerModule('encoder', backbone.build(encoderInit));
    } else if (backbone.startsWith('efficientnet')) {
      const encoder = new EfficientNetBNFeatures({ modelName: backbone as EfficientNetModelName, ...encoderInit });
      featureChannels = encoder.featureChannels;
      this.encoder = this.registerModule('encoder', encoder);
    } else {
      const encoder = resNetFeatures(backbone as FlexUNetResNetBackbone, encoderInit);
      const expansion = encoder.block === 'basic' ? 1 : 4;
      featureChannels = [64, ...[64, 128, 256, 512].map((c) => c * expansion)];
      this.encoder = this.registerModule('encoder', encoder);
    }
    const decoderChannels = [...options.decoderChannels ?? [256, 128, 64, 32, 16]].slice(0, featureChannels.length);
    if (!decoderChannels.every((c) => Number.isInteger(c) && c > 0)) throw new Error(`${who}: decoderChannels must be positive integers, got ${JSON.stringify(options.decoderChannels)}`);
    this.skipConnect = featureChannels.length - 1;
    const ctx: BasicUNetContext = { act, norm, bias: options.decoderBias ?? false, dropout, seed, backend };
    this.decoder = this.registerModule('decoder', new UNetDecoder([this.inChannels, ...featureChannels], decoderChannels, upsample,
      { preConv, interpMode, alignCorners: false, isPad: this.isPad }, ctx));
    this.segmentationHead = this.registerModule('segmentation_head', new Sequential(
      new Conv3d(decoderChannels.at(-1)!, this.outChannels, 3, { padding: 1, seed: deriveSeed(seed, 'segmentation_head.0'), backend }),
      new Identity(), new Identity()));
  }

  /** [N, outChannels, D, H, W] for an input [N, inChannels, D, H, W] */
  forward(x: Tensor): Tensor {
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) throw new Error(`FlexibleUNet: input must be [N, ${this.inChannels}, D, H, W], got ${formatShape(x.shape)}`);
    if (!this.isPad && x.shape.slice(2).some((n) => n % 32 !== 0)) {
      throw new Error(`FlexibleUNet: input ${formatShape(x.shape)}: without isPad each spatial size must be a multiple of 32`);
    }
    return tidy(() => {
      const features = this.encoder.features(x);
      if (features.length !== this.skipConnect + 1) {
        throw new Error(`FlexibleUNet: the ${this.backbone} encoder gave ${features.length} feature maps, its backbone declares ${this.skipConnect + 1}`);
      }
      // each skip is (with isPad: at most one voxel more than) twice the next feature map's size
      const sizes = features.map((f) => f.shape.slice(2));
      for (let i = 0; i + 1 < sizes.length; i++) {
        if (sizes[i].some((n, a) => n !== 2 * sizes[i + 1][a] && !(this.isPad && n === 2 * sizes[i + 1][a] + 1))) {
          throw new Error(`FlexibleUNet: input ${formatShape(x.shape)}: the ${this.backbone} encoder's feature sizes ${sizes.map((s) => formatShape(s)).join(', ')} `
            + 'do not halve step by step (give each spatial size a multiple of 32)');
        }
      }
      return this.segmentationHead.forward(this.decoder.forward(features, this.skipConnect));
    });
  }
}

/** MONAI's alias FlexUNet */
export { FlexibleUNet as FlexUNet };
