import { add } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Identity } from './activations.js';
import { ConvTranspose3d, Dropout3d, Linear, Upsample, type ChannelNorm } from './layers.js';
import { Layer, Module, ModuleList, Sequential, deriveSeed, nextSeed } from './module.js';
import { MonaiConvolution } from './monai-blocks.js';
import { actLayerNamed, normLayerOf, normThenAct, type ActSpec, type NormSpec } from './norm-act.js';

/**
 * MONAI's SegResNet (Myronenko 2018, "3D MRI brain tumor segmentation using autoencoder regularization", without
 * the VAE branch), 3-D only, with MONAI's module tree, so that the state dict keys are MONAI's (`convInit.conv.weight`,
 * `down_layers.1.0.conv.weight`, `down_layers.1.1.norm1.weight`, `up_samples.0.0.conv.weight`, `conv_final.2.conv.bias`, …)
 * and a MONAI checkpoint loads through safetensors.
 */

/** MONAI's `norm`: a name, or a name with the layer's arguments as MONAI's (name, args) tuple; 'group' alone is 8 groups */
export type SegResNetNorm = NormSpec;

/** MONAI's `act`: ReLU, or LeakyReLU (negative slope 0.01 unless given) */
export type SegResNetAct = ActSpec;

export type SegResNetUpsampleMode = 'nontrainable' | 'deconv';

export interface SegResNetOptions {
  /** only 3 (MONAI's default; its 2-D form is not offered) */
  spatialDims?: 3;
  /** channels of the first level, doubled at each level below (default 8) */
  initFilters?: number;
  /** default 1 */
  inChannels?: number;
  /** default 2 */
  outChannels?: number;
  /** Dropout3d after the first convolution in training (default null: none) */
  dropoutProb?: number | null;
  /** default 'relu' */
  act?: SegResNetAct;
  /** default ['group', { numGroups: 8 }] */
  norm?: SegResNetNorm;
  /** whether forward ends with conv_final (norm, act, a 1³ conv with bias to outChannels); its parameters exist either way, as in MONAI (default true) */
  useConvFinal?: boolean;
  /** residual blocks per level, finest first; every level but the first starts with a stride-2 3³ conv (default [1, 2, 2, 4]) */
  blocksDown?: readonly number[];
  /** residual blocks per decoder level, coarsest first; one fewer entry than blocksDown (default [1, 1, 1]) */
  blocksUp?: readonly number[];
  /** 'nontrainable' (trilinear ×2, align_corners False; MONAI's default) or 'deconv' (a 2³ stride-2 transposed conv with bias) */
  upsampleMode?: SegResNetUpsampleMode;
  /** initialisation seed; each convolution's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

interface BlockContext {
  norm: SegResNetNorm;
  act: SegResNetAct;
  seed: number;
  backend: Backend | undefined;
}

function normLayer(channels: number, ctx: BlockContext): ChannelNorm {
  const layer = normLayerOf(ctx.norm, channels, ctx.backend, 8);
  if (layer) return layer;
  const name = typeof ctx.norm === 'string' ? ctx.norm : ctx.norm[0];
  throw new Error(`SegResNet: unknown norm '${String(name)}'; valid: group, batch, instance`);
}

function actLayer(act: SegResNetAct): Layer { return actLayerNamed('SegResNet', 'act', act); }

/**
 * MONAI's Convolution with conv_only, as SegResNet's get_conv_layer builds it (monai-blocks' MonaiConvolution): a Conv3d
 * under the child name `conv`, padding (k − 1)/2, no bias unless asked, seeded by the network's seed and its path
 */
function convolution(inChannels: number, outChannels: number, path: string, ctx: BlockContext,
  options: { kernelSize?: number; stride?: number; bias?: boolean } = {}): MonaiConvolution {
  return new MonaiConvolution(inChannels, outChannels, {
    kernelSize: options.kernelSize ?? 3, strides: options.stride ?? 1, bias: options.bias ?? false, convOnly: true, seed: ctx.seed, path, backend: ctx.backend,
  });
}

/** MONAI's UpSample as SegResNet builds it: ×2 by a transposed conv (`deconv`) or trilinear interpolation (`upsample_non_trainable`) */
class UpSample extends Layer {
  private readonly layer: Layer;

  constructor(channels: number, mode: SegResNetUpsampleMode, path: string, ctx: BlockContext) {
    super();
    this.layer = mode === 'deconv'
      ? this.registerModule('deconv', new ConvTranspose3d(channels, channels, 2, { stride: 2, seed: deriveSeed(ctx.seed, `${path}.deconv`), backend: ctx.backend }))
      : this.registerModule('upsample_non_trainable', new Upsample({ scaleFactor: 2, mode: 'trilinear', alignCorners: false }));
  }

  forward(x: Tensor): Tensor { return this.layer.forward(x); }
}

/** MONAI's ResBlock: x + conv2(act(norm2(conv1(act(norm1(x)))))), 3³ convs without bias keeping the channels */
class ResBlock extends Layer {
  readonly norm1: ChannelNorm;
  readonly norm2: ChannelNorm;
  readonly act: Layer;
  readonly conv1: MonaiConvolution;
  readonly conv2: MonaiConvolution;

  constructor(channels: number, path: string, ctx: BlockContext) {
    super();
    this.norm1 = this.registerModule('norm1', normLayer(channels, ctx));
    this.norm2 = this.registerModule('norm2', normLayer(channels, ctx));
    this.act = this.registerModule('act', actLayer(ctx.act));
    this.conv1 = this.registerModule('conv1', convolution(channels, channels, `${path}.conv1`, ctx));
    this.conv2 = this.registerModule('conv2', convolution(channels, channels, `${path}.conv2`, ctx));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => add(this.conv2.forward(normThenAct(this.norm2, this.act, this.conv1.forward(normThenAct(this.norm1, this.act, x)))), x));
  }
}

function checkCount(what: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new Error(`SegResNet: ${what} must be an integer ≥ ${min}, got ${value}`);
}

/**
 * MONAI's SegResNet's module tree, encoder and decoder, which SegResNet and SegResNetVAE (segresnet-vae.ts) share;
 * the blocks a subclass adds are built with the network's norm, activation, seed and backend through
 * `normLayer`, `convolution` and `upSample`.
 */
export abstract class SegResNetBase extends Module {
  readonly initFilters: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly blocksDown: readonly number[];
  readonly blocksUp: readonly number[];
  readonly upsampleMode: SegResNetUpsampleMode;
  readonly useConvFinal: boolean;
  /** the activation module conv_final uses (MONAI registers it first, as `act_mod`; it has no parameters) */
  readonly actMod: Layer;
  readonly convInit: Layer;
  /** per level: Identity (first level) or the stride-2 Convolution, then the ResBlocks */
  readonly downLayers: ModuleList<Sequential>;
  /** per decoder level: its ResBlocks */
  readonly upLayers: ModuleList<Sequential>;
  /** per decoder level: the 1³ Convolution halving the channels, then the UpSample */
  readonly upSamples: ModuleList<Sequential>;
  readonly convFinal: Sequential;
  readonly dropout: Dropout3d | null;
  /** the norm, activation, seed and backend the blocks are built with */
  private readonly blockContext: BlockContext;

  constructor(options: SegResNetOptions = {}) {
    super();
    const spatialDims: number = options.spatialDims ?? 3;
    if (spatialDims !== 3) throw new Error(`SegResNet: only spatialDims 3 is supported, got ${spatialDims}`);
    const f = this.initFilters = options.initFilters ?? 8;
    this.inChannels = options.inChannels ?? 1;
    this.outChannels = options.outChannels ?? 2;
    this.blocksDown = [...(options.blocksDown ?? [1, 2, 2, 4])];
    this.blocksUp = [...(options.blocksUp ?? [1, 1, 1])];
    this.upsampleMode = options.upsampleMode ?? 'nontrainable';
    this.useConvFinal = options.useConvFinal ?? true;
    checkCount('initFilters', f, 1);
    checkCount('inChannels', this.inChannels, 1);
    checkCount('outChannels', this.outChannels, 1);
    if (this.blocksDown.length === 0) throw new Error('SegResNet: blocksDown needs at least one level');
    for (const n of [...this.blocksDown, ...this.blocksUp]) checkCount('every entry of blocksDown and blocksUp', n, 0);
    if (this.blocksUp.length !== this.blocksDown.length - 1) {
      throw new Error(`SegResNet: blocksUp [${this.blocksUp.join(', ')}] needs one entry fewer than blocksDown [${this.blocksDown.join(', ')}] (one per decoder level)`);
    }
    if (this.upsampleMode !== 'nontrainable' && this.upsampleMode !== 'deconv') {
      throw new Error(`SegResNet: upsampleMode '${String(this.upsampleMode)}' is not supported; valid: nontrainable, deconv`);
    }
    const ctx: BlockContext = { norm: options.norm ?? ['group', { numGroups: 8 }], act: options.act ?? 'relu', seed: options.seed ?? nextSeed(), backend: options.backend };
    this.blockContext = ctx;

    this.actMod = this.registerModule('act_mod', actLayer(ctx.act));
    this.convInit = this.registerModule('convInit', convolution(this.inChannels, f, 'convInit', ctx));
    this.downLayers = this.registerModule('down_layers', new ModuleList(this.blocksDown.map((blocks, i) => {
      const c = f * 2 ** i, path = `down_layers.${i}`;
      const pre = i === 0 ? new Identity() : convolution(c / 2, c, `${path}.0`, ctx, { stride: 2 });
      return new Sequential(pre, ...Array.from({ length: blocks }, (_, j) => new ResBlock(c, `${path}.${j + 1}`, ctx)));
    })));
    const levels = this.blocksUp.length;
    // decoder level i turns f·2^(levels − i) channels into half as many
    this.upLayers = this.registerModule('up_layers', new ModuleList(this.blocksUp.map((blocks, i) =>
      new Sequential(...Array.from({ length: blocks }, (_, j) => new ResBlock(f * 2 ** (levels - i - 1), `up_layers.${i}.${j}`, ctx))))));
    this.upSamples = this.registerModule('up_samples', new ModuleList(this.blocksUp.map((_, i) => {
      const c = f * 2 ** (levels - i), path = `up_samples.${i}`;
      return new Sequential(convolution(c, c / 2, `${path}.0`, ctx, { kernelSize: 1 }), new UpSample(c / 2, this.upsampleMode, `${path}.1`, ctx));
    })));
    this.convFinal = this.registerModule('conv_final', new Sequential(
      normLayer(f, ctx), this.actMod, convolution(f, this.outChannels, 'conv_final.2', ctx, { kernelSize: 1, bias: true })));
    const p = options.dropoutProb ?? null;
    this.dropout = p === null ? null : this.registerModule('dropout', new Dropout3d(p, { salt: deriveSeed(ctx.seed, 'dropout') }));
  }

  /** a norm layer over `channels` as the network's (MONAI's get_norm_layer) */
  protected normLayer(channels: number): ChannelNorm { return normLayer(channels, this.blockContext); }

  /** a conv-only MONAI Convolution as the network's get_conv_layer (3³, stride 1, no bias unless given), seeded from its module path */
  protected convolution(inChannels: number, outChannels: number, path: string, options: { kernelSize?: number; stride?: number; bias?: boolean } = {}): MonaiConvolution {
    return convolution(inChannels, outChannels, path, this.blockContext, options);
  }

  /** an nn.Linear seeded from its module path in the network */
  protected linear(inFeatures: number, outFeatures: number, path: string): Linear {
    return new Linear(inFeatures, outFeatures, { seed: deriveSeed(this.blockContext.seed, path), backend: this.blockContext.backend });
  }

  /** a ×2 upsampling as the network's get_upsample_layer (its upsampleMode), seeded from its module path */
  protected upSample(channels: number, path: string): Layer { return new UpSample(channels, this.upsampleMode, path, this.blockContext); }

  /** throws unless `x` is [N, inChannels, D, H, W] with sizes multiples of 2^(levels − 1) */
  protected checkInput(x: Tensor): void {
    const levels = this.blocksDown.length, factor = 2 ** (levels - 1);
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) {
      throw new Error(`SegResNet: input must be [N, ${this.inChannels}, D, H, W], got ${formatShape(x.shape)}`);
    }
    if (x.shape.slice(2).some((s) => s % factor !== 0)) {
      throw new Error(`SegResNet: input ${formatShape(x.shape)} has spatial sizes [${x.shape.slice(2).join(', ')}], which must be multiples of ${factor} (2^(${levels} − 1) for ${levels} levels of blocksDown)`);
    }
  }

  /** MONAI's encode: the initial convolution (and dropout), then each level; the coarsest feature and every level's, finest first */
  protected encode(x: Tensor): [Tensor, Tensor[]] {
    let y = this.convInit.forward(x);
    if (this.dropout) y = this.dropout.forward(y);
    const features: Tensor[] = [];
    for (const down of this.downLayers) {
      y = down.forward(y);
      features.push(y);
    }
    return [y, features];
  }

  /** MONAI's decode: per decoder level, upsampled plus the encoder's feature of that level, then its blocks; conv_final when useConvFinal */
  protected decode(y: Tensor, features: readonly Tensor[]): Tensor {
    const levels = this.blocksDown.length;
    for (let i = 0; i < this.upSamples.length; i++) {
      y = this.upLayers.at(i).forward(add(this.upSamples.at(i).forward(y), features[levels - 2 - i]));
    }
    return this.useConvFinal ? this.convFinal.forward(y) : y;
  }
}

/**
 * `new SegResNet({ initFilters, inChannels, outChannels, blocksDown, blocksUp, norm, act, upsampleMode, dropoutProb })`,
 * MONAI's defaults (1 176 186 parameters by default). Encoder: a 3³ conv to initFilters channels, then per level
 * (a stride-2 3³ conv doubling the channels, below the first) and residual blocks (norm, act, conv, twice, plus the
 * input). Decoder, per level: a 1³ conv halving the channels, ×2 upsampling, plus the encoder's feature of that
 * level, residual blocks. Last, norm, act and a 1³ conv with bias to outChannels. The input's spatial sizes must be
 * multiples of 2^(blocksDown.length − 1).
 */
export class SegResNet extends SegResNetBase {
  forward(x: Tensor): Tensor {
    this.checkInput(x);
    return tidy(() => {
      const [y, features] = this.encode(x);
      return this.decode(y, features);
    });
  }
}
