import { permute, reshape } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { tidy } from '../tensor/memory.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  Convolution, UnetBasicBlock, UnetOutBlock, UnetResBlock, UnetUpBlock, type BlockContext, type DynUNetNorm,
} from './dynunet.js';
import { triple, type IntOrTriple } from './layers.js';
import { Layer, ModuleList, Sequential, deriveSeed, nextSeed } from './module.js';
import { checkDropoutRate, checkHeads, checkPositiveIntegers, checkSpatialDims } from './transformer-checks.js';
import { ViT } from './vit.js';

/**
 * MONAI's UNETR (Hatamizadeh et al. 2021: monai/networks/nets/unetr.py, its blocks in
 * monai/networks/blocks/unetr_block.py), 3-D only: a ViT encodes the image as 16³ patches; the hidden states of its
 * blocks 3, 6 and 9 and its output, each brought back to a grid of patches (proj_feat), are upsampled by transposed
 * convolutions into the skips and the input of a convolutional decoder. MONAI's module tree and state-dict keys
 * (`vit.…`, `encoder1.layer.conv1.conv.weight`, `encoder2.transp_conv_init.conv.weight`, `encoder2.blocks.0.0.conv.weight`,
 * `decoder5.transp_conv.conv.weight`, `decoder5.conv_block.…`, `out.conv.conv.weight`, …). MONAI's blocks initialise
 * nothing themselves: every convolution has PyTorch's default init; the ViT's is MONAI's.
 */

/** MONAI's UnetrBasicBlock: `layer`, a UnetResBlock (with resBlock) or a UnetBasicBlock */
export class UnetrBasicBlock extends Layer {
  readonly layer: UnetResBlock | UnetBasicBlock;

  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTriple, stride: IntOrTriple, resBlock: boolean, path: string, ctx: BlockContext) {
    super();
    const Block = resBlock ? UnetResBlock : UnetBasicBlock;
    this.layer = this.registerModule('layer', new Block(inChannels, outChannels, kernelSize, stride, `${path}.layer`, ctx));
  }

  forward(x: Tensor): Tensor { return this.layer.forward(x); }
}

/**
 * MONAI's UnetrPrUpBlock: transp_conv_init (a transposed conv, kernel = stride = upsampleKernelSize), then numLayer
 * more upsamplings in `blocks`: each a transposed conv followed by a UnetResBlock or UnetBasicBlock (a Sequential:
 * keys `blocks.i.0.…`, `blocks.i.1.…`) with convBlock, the transposed conv alone without
 */
export class UnetrPrUpBlock extends Layer {
  readonly transpConvInit: Convolution;
  readonly blocks: ModuleList<Layer>;

  constructor(inChannels: number, outChannels: number, numLayer: number, kernelSize: IntOrTriple, stride: IntOrTriple,
    upsampleKernelSize: IntOrTriple, convBlock: boolean, resBlock: boolean, path: string, ctx: BlockContext) {
    super();
    const upsample = (from: number, at: string) => new Convolution(from, outChannels, at, ctx, {
      kernelSize: upsampleKernelSize, stride: upsampleKernelSize, transposed: true,
    });
    this.transpConvInit = this.registerModule('transp_conv_init', upsample(inChannels, `${path}.transp_conv_init`));
    const Block = resBlock ? UnetResBlock : UnetBasicBlock;
    this.blocks = this.registerModule('blocks', new ModuleList<Layer>(Array.from({ length: numLayer }, (_, i) => (convBlock
      ? new Sequential(upsample(outChannels, `${path}.blocks.${i}.0`), new Block(outChannels, outChannels, kernelSize, stride, `${path}.blocks.${i}.1`, ctx))
      : upsample(outChannels, `${path}.blocks.${i}`)))));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      let y = this.transpConvInit.forward(x);
      for (const block of this.blocks) y = block.forward(y);
      return y;
    });
  }
}

/** MONAI's UnetrUpBlock: DynUNet's UnetUpBlock without a transposed-conv bias, its conv_block a UnetResBlock with resBlock */
export class UnetrUpBlock extends UnetUpBlock {
  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTriple, upsampleKernelSize: IntOrTriple, resBlock: boolean, path: string, ctx: BlockContext) {
    super(inChannels, outChannels, kernelSize, upsampleKernelSize, false, path, ctx, resBlock);
  }
}

export interface UNETROptions {
  inChannels: number;
  outChannels: number;
  /** the input's spatial size, divisible by the patch size 16 along every axis */
  imgSize: IntOrTriple;
  /** the channels of the finest level; the levels below have 2, 4 and 8 times as many (default 16) */
  featureSize?: number;
  /** the ViT's token size (default 768) */
  hiddenSize?: number;
  /** the ViT's MLP width (default 3072) */
  mlpDim?: number;
  /** default 12 */
  numHeads?: number;
  /** the patch embedding: 'conv' only (MONAI's default) */
  projType?: 'conv';
  /** the convolutional blocks' norm, as DynUNet's normName (default 'instance': InstanceNorm3d without affine) */
  normName?: DynUNetNorm;
  /** transposed conv + conv block per upsampling in the encoders of the hidden states (default true) */
  convBlock?: boolean;
  /** UnetResBlock rather than UnetBasicBlock (default true) */
  resBlock?: boolean;
  /** the ViT's dropout (the convolutional blocks have none, as MONAI's) (default 0) */
  dropoutRate?: number;
  /** only 3 */
  spatialDims?: 3;
  /** bias of the ViT's q/k/v projection (default false) */
  qkvBias?: boolean;
  /** initialisation seed (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

/** MONAI's fixed patch size and ViT depth */
const PATCH_SIZE = 16;
const NUM_LAYERS = 12;

/**
 * `new UNETR({ inChannels, outChannels, imgSize })`: MONAI's UNETR with its defaults (featureSize 16, a ViT-B/16:
 * hiddenSize 768, mlpDim 3072, 12 heads, 12 layers). forward(x [N, inChannels, …imgSize]) → [N, outChannels, …imgSize].
 */
export class UNETR extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly imgSize: readonly [number, number, number];
  readonly hiddenSize: number;
  /** the grid of patches: imgSize / 16 */
  readonly featSize: readonly [number, number, number];
  readonly vit: ViT;
  readonly encoder1: UnetrBasicBlock;
  readonly encoder2: UnetrPrUpBlock;
  readonly encoder3: UnetrPrUpBlock;
  readonly encoder4: UnetrPrUpBlock;
  readonly decoder5: UnetrUpBlock;
  readonly decoder4: UnetrUpBlock;
  readonly decoder3: UnetrUpBlock;
  readonly decoder2: UnetrUpBlock;
  readonly out: UnetOutBlock;

  constructor(options: UNETROptions) {
    super();
    const op = 'UNETR';
    const {
      inChannels, outChannels, featureSize = 16, hiddenSize = 768, mlpDim = 3072, numHeads = 12, normName = 'instance',
      convBlock = true, resBlock = true, dropoutRate = 0, qkvBias = false, backend,
    } = options;
    checkSpatialDims(op, options.spatialDims);
    checkDropoutRate(op, dropoutRate);
    checkHeads(op, hiddenSize, numHeads);
    checkPositiveIntegers(op, { inChannels, outChannels, featureSize });
    this.imgSize = triple(options.imgSize, `${op} imgSize`);
    if (this.imgSize.some((m) => !Number.isInteger(m) || m < PATCH_SIZE || m % PATCH_SIZE !== 0)) {
      // MONAI's ViT would floor the grid, and the decoder's upsampled features would then not match encoder1's skip
      throw new Error(`${op}: imgSize ${formatShape(this.imgSize)} must be a multiple of the patch size ${PATCH_SIZE} along every axis`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.hiddenSize = hiddenSize;
    this.featSize = this.imgSize.map((m) => m / PATCH_SIZE) as unknown as [number, number, number];
    const seed = options.seed ?? nextSeed();
    this.vit = this.registerModule('vit', new ViT({
      inChannels, imgSize: this.imgSize, patchSize: PATCH_SIZE, hiddenSize, mlpDim, numLayers: NUM_LAYERS, numHeads,
      projType: options.projType, classification: false, dropoutRate, qkvBias, seed: deriveSeed(seed, 'vit'), backend,
    }));
    const ctx: BlockContext = { norm: normName, act: 'leakyrelu', dropout: null, weightInit: 'default', seed, backend };
    const f = featureSize;
    this.encoder1 = this.registerModule('encoder1', new UnetrBasicBlock(inChannels, f, 3, 1, resBlock, 'encoder1', ctx));
    const encoder = (name: string, channels: number, numLayer: number) =>
      this.registerModule(name, new UnetrPrUpBlock(hiddenSize, channels, numLayer, 3, 1, 2, convBlock, resBlock, name, ctx));
    this.encoder2 = encoder('encoder2', 2 * f, 2);
    this.encoder3 = encoder('encoder3', 4 * f, 1);
    this.encoder4 = encoder('encoder4', 8 * f, 0);
    const decoder = (name: string, from: number, to: number) => this.registerModule(name, new UnetrUpBlock(from, to, 3, 2, resBlock, name, ctx));
    this.decoder5 = decoder('decoder5', hiddenSize, 8 * f);
    this.decoder4 = decoder('decoder4', 8 * f, 4 * f);
    this.decoder3 = decoder('decoder3', 4 * f, 2 * f);
    this.decoder2 = decoder('decoder2', 2 * f, f);
    this.out = this.registerModule('out', new UnetOutBlock(f, outChannels, 'out', ctx));
  }

  /** MONAI's proj_feat: tokens [N, patches, hiddenSize] (row-major over the grid) → [N, hiddenSize, …featSize] */
  projFeat(x: Tensor): Tensor {
    return tidy(() => permute(reshape(x, [x.shape[0], ...this.featSize, this.hiddenSize]), [0, 4, 1, 2, 3]));
  }

  forward(x: Tensor): Tensor {
    const [d, h, w] = this.imgSize;
    if (x.rank !== 5 || x.shape[1] !== this.inChannels || x.shape[2] !== d || x.shape[3] !== h || x.shape[4] !== w) {
      throw new Error(`UNETR: input must be [N, ${this.inChannels}, ${d}, ${h}, ${w}] (inChannels, imgSize), got ${formatShape(x.shape)}`);
    }
    return tidy(() => {
      const [tokens, hiddenStates] = this.vit.forward(x);
      const enc1 = this.encoder1.forward(x);
      const enc2 = this.encoder2.forward(this.projFeat(hiddenStates[3]));
      const enc3 = this.encoder3.forward(this.projFeat(hiddenStates[6]));
      const enc4 = this.encoder4.forward(this.projFeat(hiddenStates[9]));
      const dec3 = this.decoder5.forward(this.projFeat(tokens), enc4);
      const dec2 = this.decoder4.forward(dec3, enc3);
      const dec1 = this.decoder3.forward(dec2, enc2);
      return this.out.forward(this.decoder2.forward(dec1, enc1));
    });
  }
}
