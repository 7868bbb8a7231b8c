import { add, sigmoid, tanh } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  BatchNorm3d, Conv3d, ConvTranspose3d, Dropout3d, GroupNorm, InstanceNorm3d, ReLU, Upsample,
} from './layers.js';
import { Layer, Module, Sequential, deriveSeed, nextSeed } from './module.js';

/**
 * The V-Net of UA-MT / DTC / SASSNet (la-protocol §3), with their PyTorch module names, so that state dicts
 * map 1:1 onto theirs (`block_one.conv.0.weight`, `block_one.conv.1.running_mean`, …, `out_conv.weight`,
 * DTC's `out_conv2.weight`).
 */

export type Normalization = 'batchnorm' | 'instancenorm' | 'groupnorm' | 'none';
export type HeadActivation = 'none' | 'tanh' | 'sigmoid';

export interface VNetHead {
  /** the module name of the head's 1³ conv (and the key of its output) */
  name: string;
  channels: number;
  activation?: HeadActivation;
}

export interface VNetOptions {
  inChannels?: number;
  /** channels of the default segmentation head `out_conv` (used when `heads` is not given) */
  nClasses?: number;
  nFilters?: number;
  normalization?: Normalization;
  /** Dropout3d(0.5) after block_five and block_nine in training */
  hasDropout?: boolean;
  /** 'transposed' (ConvTranspose3d 2³ stride 2) or 'trilinear' (×2 trilinear, then conv 3³) */
  upsampling?: 'transposed' | 'trilinear';
  heads?: VNetHead[];
  /** groups of GroupNorm (DTC: 16; lowered to the channel count when a stage has fewer channels) */
  groupNormGroups?: number;
  /** initialisation seed; each layer's seed derives from it and the layer's name (default: global generator) */
  seed?: number;
  backend?: Backend;
}

interface BlockContext {
  normalization: Normalization;
  groups: number;
  seed: number;
  backend?: Backend;
}

function normLayer(c: number, ctx: BlockContext): Layer | null {
  switch (ctx.normalization) {
    case 'batchnorm': return new BatchNorm3d(c, { backend: ctx.backend });
    case 'instancenorm': return new InstanceNorm3d(c, { backend: ctx.backend });
    case 'groupnorm': return new GroupNorm(Math.min(ctx.groups, c), c, { backend: ctx.backend });
    case 'none': return null;
  }
}

/** A block with one `conv` Sequential, as the PyTorch classes (ConvBlock, DownsamplingConvBlock, …). */
class SequentialBlock extends Layer {
  readonly conv: Sequential;
  constructor(private readonly kind: string, layers: Layer[]) {
    super();
    this.conv = this.registerModule('conv', new Sequential(...layers));
  }
  override get typeName(): string { return this.kind; }
  forward(x: Tensor): Tensor { return this.conv.forward(x); }
}

function seedFor(ctx: BlockContext, name: string, index: number): { seed: number; backend?: Backend } {
  return { seed: deriveSeed(ctx.seed, `${name}.conv.${index}`), backend: ctx.backend };
}

/** n × [conv 3³ padding 1, norm, ReLU] */
function convBlock(name: string, n: number, cin: number, cout: number, ctx: BlockContext): SequentialBlock {
  const layers: Layer[] = [];
  for (let i = 0; i < n; i++) {
    layers.push(new Conv3d(i === 0 ? cin : cout, cout, 3, { padding: 1, ...seedFor(ctx, name, layers.length) }));
    const norm = normLayer(cout, ctx);
    if (norm) layers.push(norm);
    layers.push(new ReLU());
  }
  return new SequentialBlock('ConvBlock', layers);
}

/** conv 2³ stride 2, norm, ReLU */
function downBlock(name: string, cin: number, cout: number, ctx: BlockContext): SequentialBlock {
  const layers: Layer[] = [new Conv3d(cin, cout, 2, { stride: 2, ...seedFor(ctx, name, 0) })];
  const norm = normLayer(cout, ctx);
  if (norm) layers.push(norm);
  layers.push(new ReLU());
  return new SequentialBlock('DownsamplingConvBlock', layers);
}

/** transposed conv 2³ stride 2 (or trilinear ×2 + conv 3³), norm, ReLU */
function upBlock(name: string, cin: number, cout: number, ctx: BlockContext, mode: 'transposed' | 'trilinear'): SequentialBlock {
  const layers: Layer[] = mode === 'transposed'
    ? [new ConvTranspose3d(cin, cout, 2, { stride: 2, ...seedFor(ctx, name, 0) })]
    : [new Upsample({ scaleFactor: 2, mode: 'trilinear', alignCorners: false }), new Conv3d(cin, cout, 3, { padding: 1, ...seedFor(ctx, name, 1) })];
  const norm = normLayer(cout, ctx);
  if (norm) layers.push(norm);
  layers.push(new ReLU());
  return new SequentialBlock(mode === 'transposed' ? 'UpsamplingDeconvBlock' : 'Upsampling', layers);
}

export class VNet extends Module {
  readonly options: Required<Omit<VNetOptions, 'backend' | 'seed'>>;
  readonly heads: Required<VNetHead>[];
  readonly blockOne: SequentialBlock;
  readonly blockOneDw: SequentialBlock;
  readonly blockTwo: SequentialBlock;
  readonly blockTwoDw: SequentialBlock;
  readonly blockThree: SequentialBlock;
  readonly blockThreeDw: SequentialBlock;
  readonly blockFour: SequentialBlock;
  readonly blockFourDw: SequentialBlock;
  readonly blockFive: SequentialBlock;
  readonly blockFiveUp: SequentialBlock;
  readonly blockSix: SequentialBlock;
  readonly blockSixUp: SequentialBlock;
  readonly blockSeven: SequentialBlock;
  readonly blockSevenUp: SequentialBlock;
  readonly blockEight: SequentialBlock;
  readonly blockEightUp: SequentialBlock;
  readonly blockNine: SequentialBlock;
  readonly headConvs: Conv3d[];
  readonly dropout: Dropout3d | null;

  constructor(options: VNetOptions = {}) {
    super();
    const nClasses = options.nClasses ?? 2;
    this.options = {
      inChannels: options.inChannels ?? 1,
      nClasses,
      nFilters: options.nFilters ?? 16,
      normalization: options.normalization ?? 'batchnorm',
      hasDropout: options.hasDropout ?? false,
      upsampling: options.upsampling ?? 'transposed',
      heads: options.heads ?? [{ name: 'out_conv', channels: nClasses, activation: 'none' }],
      groupNormGroups: options.groupNormGroups ?? 16,
    };
    this.heads = this.options.heads.map((h) => ({ name: h.name, channels: h.channels, activation: h.activation ?? 'none' }));
    if (this.heads.length === 0) throw new Error('VNet: at least one head');
    const seed = options.seed ?? nextSeed();
    const ctx: BlockContext = { normalization: this.options.normalization, groups: this.options.groupNormGroups, seed, backend: options.backend };
    const f = this.options.nFilters, up = this.options.upsampling;
    const reg = (name: string, b: SequentialBlock) => this.registerModule(name, b);
    this.blockOne = reg('block_one', convBlock('block_one', 1, this.options.inChannels, f, ctx));
    this.blockOneDw = reg('block_one_dw', downBlock('block_one_dw', f, 2 * f, ctx));
    this.blockTwo = reg('block_two', convBlock('block_two', 2, 2 * f, 2 * f, ctx));
    this.blockTwoDw = reg('block_two_dw', downBlock('block_two_dw', 2 * f, 4 * f, ctx));
    this.blockThree = reg('block_three', convBlock('block_three', 3, 4 * f, 4 * f, ctx));
    this.blockThreeDw = reg('block_three_dw', downBlock('block_three_dw', 4 * f, 8 * f, ctx));
    this.blockFour = reg('block_four', convBlock('block_four', 3, 8 * f, 8 * f, ctx));
    this.blockFourDw = reg('block_four_dw', downBlock('block_four_dw', 8 * f, 16 * f, ctx));
    this.blockFive = reg('block_five', convBlock('block_five', 3, 16 * f, 16 * f, ctx));
    this.blockFiveUp = reg('block_five_up', upBlock('block_five_up', 16 * f, 8 * f, ctx, up));
    this.blockSix = reg('block_six', convBlock('block_six', 3, 8 * f, 8 * f, ctx));
    this.blockSixUp = reg('block_six_up', upBlock('block_six_up', 8 * f, 4 * f, ctx, up));
    this.blockSeven = reg('block_seven', convBlock('block_seven', 3, 4 * f, 4 * f, ctx));
    this.blockSevenUp = reg('block_seven_up', upBlock('block_seven_up', 4 * f, 2 * f, ctx, up));
    this.blockEight = reg('block_eight', convBlock('block_eight', 2, 2 * f, 2 * f, ctx));
    this.blockEightUp = reg('block_eight_up', upBlock('block_eight_up', 2 * f, f, ctx, up));
    this.blockNine = reg('block_nine', convBlock('block_nine', 1, f, f, ctx));
    const names = new Set<string>();
    this.headConvs = this.heads.map((h) => {
      if (names.has(h.name)) throw new Error(`VNet: two heads are named '${h.name}'`);
      names.add(h.name);
      return this.registerModule(h.name, new Conv3d(f, h.channels, 1, { seed: deriveSeed(seed, h.name), backend: options.backend }));
    });
    // one module used twice, as in DTC (it has no parameters, so the state dict is unaffected)
    this.dropout = this.options.hasDropout ? this.registerModule('dropout', new Dropout3d(0.5, { salt: deriveSeed(seed, 'dropout') })) : null;
  }

  /** Seeds the dropout masks of the following forwards (e.g. with the iteration, for reproducible runs). */
  setDropoutSeed(seed: number): void { this.dropout?.setDropoutSeed(seed); }

  /** The five encoder features x1…x5 (x5 after dropout when enabled). */
  encoder(x: Tensor): Tensor[] {
    const c = this.options.inChannels;
    if (x.rank !== 5 || x.shape[1] !== c) throw new Error(`VNet: input must be [N, ${c}, D, H, W], got [${x.shape.join(', ')}]`);
    if (x.shape.slice(2).some((d) => d % 16 !== 0)) {
      throw new Error(`VNet: spatial sizes must be multiples of 16 (four 2× downsamplings), got [${x.shape.slice(2).join(', ')}]`);
    }
    // intermediates (downsampled inputs) are freed on return; backward keeps what it saved
    return tidy(() => {
      const x1 = this.blockOne.forward(x);
      const x2 = this.blockTwo.forward(this.blockOneDw.forward(x1));
      const x3 = this.blockThree.forward(this.blockTwoDw.forward(x2));
      const x4 = this.blockFour.forward(this.blockThreeDw.forward(x3));
      let x5 = this.blockFive.forward(this.blockFourDw.forward(x4));
      if (this.dropout) x5 = this.dropout.forward(x5);
      return [x1, x2, x3, x4, x5];
    });
  }

  /** The last decoder feature x9 (after dropout when enabled). */
  decoder(features: readonly Tensor[]): Tensor {
    const [x1, x2, x3, x4, x5] = features;
    return tidy(() => {
      const x6 = this.blockSix.forward(add(this.blockFiveUp.forward(x5), x4));
      const x7 = this.blockSeven.forward(add(this.blockSixUp.forward(x6), x3));
      const x8 = this.blockEight.forward(add(this.blockSevenUp.forward(x7), x2));
      let x9 = this.blockNine.forward(add(this.blockEightUp.forward(x8), x1));
      if (this.dropout) x9 = this.dropout.forward(x9);
      return x9;
    });
  }

  /**
   * Every head's output, keyed by head name (after its activation); with `heads`, only those heads' (inference
   * that reads one head need not compute the others).
   */
  forward(x: Tensor, heads?: readonly string[]): Record<string, Tensor> {
    for (const name of heads ?? []) {
      if (!this.heads.some((h) => h.name === name)) throw new Error(`VNet: no head '${name}' (heads: ${this.heads.map((h) => h.name).join(', ')})`);
    }
    return tidy(() => {
      const x9 = this.decoder(this.encoder(x));
      const out: Record<string, Tensor> = {};
      this.heads.forEach((h, i) => {
        if (heads && !heads.includes(h.name)) return;
        const y = this.headConvs[i].forward(x9);
        out[h.name] = h.activation === 'tanh' ? tanh(y) : h.activation === 'sigmoid' ? sigmoid(y) : y;
      });
      return out;
    });
  }

  override extraRepr(): string {
    const o = this.options;
    return `in_channels=${o.inChannels}, n_filters=${o.nFilters}, normalization='${o.normalization}', has_dropout=${o.hasDropout ? 'True' : 'False'}, upsampling='${o.upsampling}', heads=[${this.heads.map((h) => `${h.name}:${h.channels}${h.activation !== 'none' ? `:${h.activation}` : ''}`).join(', ')}]`;
  }
}
