import { concat, pad, permute, repeat, reshape, transpose, assign } from '../autograd/ops.js';
import { noGrad } from '../autograd/graph.js';
import type { Backend } from '../kernels/backend.js';
import { zeros } from '../tensor/creation.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { kaimingNormal_ } from './init.js';
import { Conv3d, ConvTranspose3d, MaxPool3d, Upsample } from './layers.js';
import { Layer, Module, Sequential, deriveSeed, nextSeed } from './module.js';
import { MonaiConvolution, monaiActFactory, monaiNormFactory, type MonaiActSpec } from './monai-blocks.js';
import type { NormSpec } from './norm-act.js';
import { AvgPool3d } from './pooling.js';
import { pythonFloat } from './repr.js';

/**
 * MONAI's BasicUNet (monai/networks/nets/basic_unet.py), 3-D only, with MONAI's module tree and state-dict keys
 * (`conv_0.conv_0.conv.weight`, `down_1.convs.conv_1.adn.N.weight`, `upcat_4.upsample.deconv.weight`,
 * `upcat_4.convs.conv_0.conv.bias`, `final_conv.weight`, …), MONAI's upsampling modes 'deconv', 'nontrainable'
 * (a 1³ pre-convolution where the channels halve, then trilinear ×2 with align_corners) and 'pixelshuffle'
 * (SubpixelUpsample: a 3³ convolution to 8× the channels, ICNR-initialised, a pixel shuffle, then a one-voxel
 * zero pad in front and a 2³ stride-1 average pool), and PyTorch's default initialisation of everything else.
 */

export type BasicUNetUpsample = 'deconv' | 'nontrainable' | 'pixelshuffle';
const upsampleModes: readonly BasicUNetUpsample[] = ['deconv', 'nontrainable', 'pixelshuffle'];

/** what every block of a BasicUNet (and a BasicUNetPlusPlus) shares */
export interface BasicUNetContext { act: MonaiActSpec; norm: NormSpec; bias: boolean; dropout: number; seed: number; backend: Backend | undefined }

/** MONAI's TwoConv: two 3³ Convolutions (conv_0, conv_1), each followed by its norm, dropout and activation */
export class TwoConv extends Sequential {
  constructor(inChannels: number, outChannels: number, path: string, ctx: BasicUNetContext) {
    super();
    for (const [i, c] of [inChannels, outChannels].entries()) {
      this.addModule(`conv_${i}`, new MonaiConvolution(c, outChannels, {
        act: ctx.act, norm: ctx.norm, dropout: ctx.dropout, bias: ctx.bias, padding: 1, seed: deriveSeed(ctx.seed, `${path}.conv_${i}`), backend: ctx.backend,
      }));
    }
  }
}

/** MONAI's Down: a 2³ max pooling (max_pooling), then a TwoConv (convs) */
export class Down extends Sequential {
  constructor(inChannels: number, outChannels: number, path: string, ctx: BasicUNetContext) {
    super();
    this.addModule('max_pooling', new MaxPool3d(2));
    this.addModule('convs', new TwoConv(inChannels, outChannels, `${path}.convs`, ctx));
  }
}

/**
 * monai.networks.utils.pixelshuffle in 3-D: [N, C·f³, D, H, W] → [N, C, D·f, H·f, W·f], output channel c at
 * (d·f + i, h·f + j, w·f + k) taking input channel c·f³ + i·f² + j·f + k at (d, h, w)
 */
export function pixelShuffle3d(x: Tensor, factor: number): Tensor {
  const f3 = factor ** 3;
  if (x.rank !== 5 || x.shape[1] % f3 !== 0) {
    throw new Error(`pixelShuffle3d: input must be [N, C, D, H, W] with C divisible by factor³ = ${f3}, got ${formatShape(x.shape)}`);
  }
  const [n, c, d, h, w] = x.shape;
  return tidy(() => reshape(
    permute(reshape(x, [n, c / f3, factor, factor, factor, d, h, w]), [0, 1, 5, 2, 6, 3, 7, 4]),
    [n, c / f3, d * factor, h * factor, w * factor]));
}

/** nn.ConstantPad3d: F.pad with the constant `value`; padding (left, right) pairs from the last axis back */
export class ConstantPad3d extends Layer {
  constructor(readonly padding: readonly [number, number, number, number, number, number], readonly value = 0) { super(); }
  forward(x: Tensor): Tensor { return pad(x, this.padding, this.value); }
  override extraRepr(): string { return `padding=(${this.padding.join(', ')}), value=${pythonFloat(this.value)}`; }
}

/**
 * MONAI's SubpixelUpsample (scale 2, its default conv_block and pad_pool): `conv_block`, a 3³ convolution to 8·out
 * channels with ICNR initialisation (monai.networks.utils.icnr_init: a He-normal kernel for out channels repeated over
 * the eight sub-positions), a 3-D pixel shuffle, then `pad_pool`: ConstantPad3d one voxel in front, AvgPool3d(2, stride 1)
 */
export class SubpixelUpsample extends Layer {
  readonly convBlock: Conv3d;
  readonly padPool: Sequential;

  constructor(inChannels: number, outChannels: number, options: { bias?: boolean; seed?: number; backend?: Backend } = {}) {
    super();
    const seed = options.seed ?? nextSeed(), backend = options.backend;
    const conv = this.convBlock = this.registerModule('conv_block', new Conv3d(inChannels, 8 * outChannels, 3, {
      padding: 1, bias: options.bias ?? true, seed: deriveSeed(seed, 'conv_block'), backend,
    }));
    // icnr_init's rearrangement, in its own steps: kernel [out, in, 27] → transpose → reshape as [out, in, 27]
    // (a reinterpretation of the transposed order) → repeat 8× along the last axis → reshape [in, 8·out, 3, 3, 3] → transpose
    noGrad(() => tidy(() => {
      const kernel = kaimingNormal_(zeros([outChannels, inChannels, 3, 3, 3], { backend: conv.weight.backend }), { seed: deriveSeed(seed, 'conv_block.icnr') });
      const tiled = repeat(reshape(transpose(kernel, 0, 1), [outChannels, inChannels, 27]), [1, 1, 8]);
      assign(conv.weight, transpose(reshape(tiled, [inChannels, 8 * outChannels, 3, 3, 3]), 0, 1));
    }));
    this.padPool = this.registerModule('pad_pool', new Sequential(new ConstantPad3d([1, 0, 1, 0, 1, 0], 0), new AvgPool3d(2, { stride: 1 })));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => this.padPool.forward(pixelShuffle3d(this.convBlock.forward(x), 2)));
  }
}

/**
 * what UpCat takes beyond its mode (MONAI's UpCat arguments; the defaults are BasicUNet's): `preConv` 'default' (a 1³
 * convolution where the channels change) or null (none: the upsampled channels stay the input's; nontrainable mode
 * only), `interpMode` 'linear' (trilinear in 3-D) or 'nearest' and `alignCorners` (default true; a linear mode only)
 * for the nontrainable mode, and `isPad`: replicate-pad the upsampled feature where the encoder's is one larger
 */
export interface UpCatOptions {
  preConv?: 'default' | null;
  interpMode?: 'linear' | 'nearest';
  alignCorners?: boolean;
  isPad?: boolean;
}

/**
 * MONAI's UpSample as UpCat builds it (scale 2, kernel_size None, bias true): `deconv` (a 2³ stride-2 transposed
 * convolution), or `preconv` (1³, only where the channels change; none with preConv null) and `upsample_non_trainable`
 * (trilinear with align_corners, or nearest), or `pixelshuffle`
 */
class UpSample extends Sequential {
  constructor(inChannels: number, outChannels: number, mode: BasicUNetUpsample, path: string, ctx: BasicUNetContext, options: UpCatOptions) {
    super();
    const init = (name: string) => ({ seed: deriveSeed(ctx.seed, `${path}.${name}`), backend: ctx.backend });
    if (mode === 'deconv') {
      this.addModule('deconv', new ConvTranspose3d(inChannels, outChannels, 2, { stride: 2, ...init('deconv') }));
    } else if (mode === 'nontrainable') {
      if (inChannels !== outChannels && options.preConv !== null) this.addModule('preconv', new Conv3d(inChannels, outChannels, 1, init('preconv')));
      this.addModule('upsample_non_trainable', new Upsample((options.interpMode ?? 'linear') === 'nearest'
        ? { scaleFactor: [2, 2, 2], mode: 'nearest' }
        : { scaleFactor: [2, 2, 2], mode: 'trilinear', alignCorners: options.alignCorners ?? true }));
    } else {
      this.addModule('pixelshuffle', new SubpixelUpsample(inChannels, outChannels, init('pixelshuffle')));
    }
  }
}

/**
 * MONAI's UpCat: `upsample` (to half the channels when `halves`, unless nontrainable without a pre-convolution),
 * replicate-padded by one voxel at the end of an axis where the encoder feature is one larger (an odd size pooled;
 * with isPad), concatenated after the encoder feature, then `convs`; without an encoder feature (null, catChannels 0),
 * `convs` of the upsampled input alone
 */
export class UpCat extends Module {
  readonly upsample: UpSample;
  readonly convs: TwoConv;
  readonly isPad: boolean;

  constructor(inChannels: number, catChannels: number, outChannels: number, mode: BasicUNetUpsample, halves: boolean, path: string, ctx: BasicUNetContext,
    options: UpCatOptions = {}) {
    super();
    const upChannels = (mode === 'nontrainable' && options.preConv === null) || !halves ? inChannels : Math.floor(inChannels / 2);
    this.upsample = new UpSample(inChannels, upChannels, mode, `${path}.upsample`, ctx, options);
    this.convs = new TwoConv(catChannels + upChannels, outChannels, `${path}.convs`, ctx);
    this.isPad = options.isPad ?? true;
  }

  forward(x: Tensor, encoded: Tensor | null): Tensor {
    return tidy(() => {
      let up = this.upsample.forward(x);
      if (encoded === null) return this.convs.forward(up);
      const pads = [4, 3, 2].flatMap((axis) => [0, this.isPad && encoded.shape[axis] !== up.shape[axis] ? 1 : 0]);
      if (pads.some((p) => p !== 0)) up = pad(up, pads, { mode: 'replicate' });
      return this.convs.forward(concat([encoded, up], 1));
    });
  }
}

export interface BasicUNetOptions {
  /** only 3 (MONAI's default) */
  spatialDims?: 3;
  /** default 1 */
  inChannels?: number;
  /** default 2 */
  outChannels?: number;
  /** the five encoder levels' channels, then the channels after the last upsampling (default [32, 32, 64, 128, 256, 32]) */
  features?: readonly number[];
  /** default ['leakyrelu', { negativeSlope: 0.1 }] */
  act?: MonaiActSpec;
  /** default ['instance', { affine: true }] */
  norm?: NormSpec;
  /** the 3³ convolutions' biases (default true; the upsampling and final convolutions always have one) */
  bias?: boolean;
  /** every Convolution's dropout probability (default 0: a Dropout(p = 0), as MONAI's) */
  dropout?: number;
  /** default 'deconv' */
  upsample?: BasicUNetUpsample;
  /** initialisation seed; each layer's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

/** the options BasicUNet and BasicUNetPlusPlus share, checked (errors naming `who`), with MONAI's defaults */
export function basicUNetSetup(options: BasicUNetOptions, who: string): {
  inChannels: number; outChannels: number; features: readonly number[]; upsample: BasicUNetUpsample; ctx: BasicUNetContext;
} {
  if ((options.spatialDims ?? 3) !== 3) throw new Error(`${who}: only spatialDims 3 is supported, got ${options.spatialDims}`);
  const inChannels = options.inChannels ?? 1, outChannels = options.outChannels ?? 2;
  for (const [key, v] of [['inChannels', inChannels], ['outChannels', outChannels]] as const) {
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`${who}: ${key} must be a positive integer, got ${v}`);
  }
  const features = [...(options.features ?? [32, 32, 64, 128, 256, 32])];
  if (features.length !== 6 || !features.every((c) => Number.isInteger(c) && c > 0)) {
    throw new Error(`${who}: features must be 6 positive integers (five encoder levels, then the last decoder level), got ${JSON.stringify(options.features)}`);
  }
  const upsample = options.upsample ?? 'deconv';
  if (!upsampleModes.includes(upsample)) {
    throw new Error(`${who}: unknown upsample '${String(upsample)}'; valid: ${upsampleModes.join(', ')} (MONAI's 'deconvgroup' is not offered)`);
  }
  const dropout = options.dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout <= 1)) throw new Error(`${who}: dropout must be in [0, 1], got ${String(dropout)}`);
  const act = options.act ?? ['leakyrelu', { negativeSlope: 0.1 }], norm = options.norm ?? ['instance', { affine: true }];
  monaiActFactory(act, who);
  monaiNormFactory(norm, who);
  const ctx: BasicUNetContext = { act, norm, bias: options.bias ?? true, dropout, seed: options.seed ?? nextSeed(), backend: options.backend };
  return { inChannels, outChannels, features, upsample, ctx };
}

/** throws, naming `who`, unless `x` is [N, inChannels, D, H, W] with D, H, W ≥ 16 (four 2× max poolings) */
export function checkBasicUNetInput(x: Tensor, inChannels: number, who: string): void {
  if (x.rank !== 5 || x.shape[1] !== inChannels) {
    throw new Error(`${who}: input must be [N, ${inChannels}, D, H, W], got ${formatShape(x.shape)}`);
  }
  if (x.shape.slice(2).some((n) => n < 16)) {
    throw new Error(`${who}: input ${formatShape(x.shape)}: each spatial size must be at least 16 (four 2× max poolings)`);
  }
}

/**
 * MONAI's BasicUNet: TwoConv (conv_0), four Downs (down_1 … down_4: max pool, TwoConv), four UpCats (upcat_4 …
 * upcat_1, the last not halving its upsampled channels and ending at features[5]) and a 1³ final_conv. Inputs of any
 * size of at least 16 per axis (sizes divisible by 16 avoid the replicate padding of odd pooled sizes).
 */
export class BasicUNet extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly features: readonly number[];
  readonly upsample: BasicUNetUpsample;
  readonly conv0: TwoConv;
  readonly down1: Down;
  readonly down2: Down;
  readonly down3: Down;
  readonly down4: Down;
  readonly upcat4: UpCat;
  readonly upcat3: UpCat;
  readonly upcat2: UpCat;
  readonly upcat1: UpCat;
  readonly finalConv: Conv3d;

  constructor(options: BasicUNetOptions = {}) {
    super();
    const { inChannels, outChannels, features: f, upsample, ctx } = basicUNetSetup(options, 'BasicUNet');
    [this.inChannels, this.outChannels, this.features, this.upsample] = [inChannels, outChannels, f, upsample];

    this.conv0 = this.registerModule('conv_0', new TwoConv(inChannels, f[0], 'conv_0', ctx));
    this.down1 = this.registerModule('down_1', new Down(f[0], f[1], 'down_1', ctx));
    this.down2 = this.registerModule('down_2', new Down(f[1], f[2], 'down_2', ctx));
    this.down3 = this.registerModule('down_3', new Down(f[2], f[3], 'down_3', ctx));
    this.down4 = this.registerModule('down_4', new Down(f[3], f[4], 'down_4', ctx));
    this.upcat4 = this.registerModule('upcat_4', new UpCat(f[4], f[3], f[3], upsample, true, 'upcat_4', ctx));
    this.upcat3 = this.registerModule('upcat_3', new UpCat(f[3], f[2], f[2], upsample, true, 'upcat_3', ctx));
    this.upcat2 = this.registerModule('upcat_2', new UpCat(f[2], f[1], f[1], upsample, true, 'upcat_2', ctx));
    this.upcat1 = this.registerModule('upcat_1', new UpCat(f[1], f[0], f[5], upsample, false, 'upcat_1', ctx));
    this.finalConv = this.registerModule('final_conv', new Conv3d(f[5], outChannels, 1, { seed: deriveSeed(ctx.seed, 'final_conv'), backend: ctx.backend }));
  }

  /** [N, outChannels, D, H, W] for an input [N, inChannels, D, H, W] with D, H, W ≥ 16 */
  forward(x: Tensor): Tensor {
    checkBasicUNetInput(x, this.inChannels, 'BasicUNet');
    return tidy(() => {
      const x0 = this.conv0.forward(x);
      const x1 = this.down1.forward(x0), x2 = this.down2.forward(x1), x3 = this.down3.forward(x2), x4 = this.down4.forward(x3);
      const u4 = this.upcat4.forward(x4, x3), u3 = this.upcat3.forward(u4, x2), u2 = this.upcat2.forward(u3, x1);
      return this.finalConv.forward(this.upcat1.forward(u2, x0));
    });
  }
}
