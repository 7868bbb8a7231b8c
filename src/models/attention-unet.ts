import { add, concat, mul } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Sigmoid } from './activations.js';
import { BatchNorm3d, ReLU, triple, type IntOrTriple } from './layers.js';
import { MonaiConvolution, type MonaiConvolutionOptions } from './monai-blocks.js';
import { Layer, Module, Sequential, nextSeed } from './module.js';
import { checkCount } from './transformer-checks.js';

/**
 * MONAI's AttentionUnet (monai/networks/nets/attentionunet.py, after Oktay et al.'s Attention U-Net), 3-D only, with
 * MONAI's module tree and state-dict keys (`model.0.conv.0.conv.weight`, `model.0.conv.0.adn.N.running_mean`,
 * `model.1.attention.W_g.0.conv.weight`, `model.1.upconv.up.conv.weight`, `model.1.merge.adn.A.weight`,
 * `model.1.submodule.1.…`, `model.2.conv.bias`, …). MONAI initialises nothing itself: the layers keep PyTorch's
 * default initialisation.
 */

type Triple = readonly [number, number, number];

export interface AttentionUnetOptions {
  /** only 3 (the 2-D form is not offered) */
  spatialDims?: 3;
  inChannels: number;
  outChannels: number;
  /** channels per level, finest first (at least 2 levels; every level above the last needs ≥ 2, its attention gate halving them) */
  channels: readonly number[];
  /** the stride of each level's downsampling ConvBlock (one per level below the first; further entries are unused, as MONAI's) */
  strides: readonly IntOrTriple[];
  /** the ConvBlocks' kernel, odd (default 3) */
  kernelSize?: IntOrTriple;
  /** the transposed convolutions' kernel, odd (default 3) */
  upKernelSize?: IntOrTriple;
  /** elementwise dropout (nn.Dropout) after the norm of every ConvBlock convolution and merge convolution in training (default 0) */
  dropout?: number;
  /** initialisation seed; each layer's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

interface BlockContext { seed: number; backend: Backend | undefined }

/**
 * the kernel of the Convolution at `path`, refused (naming that path) where MONAI's same_padding has no answer: an
 * even size
 */
function oddKernel(kernelSize: IntOrTriple, path: string): Triple {
  const kernel = triple(kernelSize, `AttentionUnet ${path} kernel size`);
  if (kernel.some((k) => k % 2 === 0)) {
    throw new Error(`AttentionUnet: ${path}: kernel ${formatShape(kernel)} has no same padding; MONAI's Convolution needs odd kernel sizes`);
  }
  return kernel;
}

/**
 * MONAI's Convolution at `path` (monai-blocks' MonaiConvolution, its layers seeded by the network's seed and their
 * paths): what the network passes, over MONAI's defaults (instance norm, PReLU, no dropout)
 */
function convolution(inChannels: number, outChannels: number, path: string, ctx: BlockContext, options: MonaiConvolutionOptions & { kernelSize: IntOrTriple }): MonaiConvolution {
  return new MonaiConvolution(inChannels, outChannels, {
    ...options, kernelSize: oddKernel(options.kernelSize, path), seed: ctx.seed, path, backend: ctx.backend,
  });
}

/** MONAI's ConvBlock: `conv` = two Convolutions (batch norm, dropout, ReLU), the first with the stride */
class ConvBlock extends Layer {
  readonly conv: Sequential;

  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTriple, stride: IntOrTriple, dropout: number, path: string, ctx: BlockContext) {
    super();
    const options = { kernelSize, norm: 'batch', act: 'relu', dropout } as const;
    this.conv = this.registerModule('conv', new Sequential(
      convolution(inChannels, outChannels, `${path}.conv.0`, ctx, { ...options, strides: stride }),
      convolution(outChannels, outChannels, `${path}.conv.1`, ctx, options)));
  }

  forward(x: Tensor): Tensor { return this.conv.forward(x); }
}

/** MONAI's UpConv: `up`, a transposed Convolution (batch norm, dropout 0, ReLU) multiplying the size by the stride */
class UpConv extends Layer {
  readonly up: MonaiConvolution;

  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTriple, stride: IntOrTriple, path: string, ctx: BlockContext) {
    super();
    this.up = this.registerModule('up', convolution(inChannels, outChannels, `${path}.up`, ctx, {
      kernelSize, strides: stride, isTransposed: true, norm: 'batch', act: 'relu', dropout: 0,
    }));
  }

  forward(x: Tensor): Tensor { return this.up.forward(x); }
}

/**
 * MONAI's AttentionBlock, the attention gate: x · psi(relu(W_g(g) + W_x(x))), W_g and W_x a 1³ conv (with bias) to
 * fInt channels and a BatchNorm3d, psi a 1³ conv to one channel, a BatchNorm3d and a sigmoid: one weight per voxel,
 * broadcast over x's channels
 */
export class AttentionBlock extends Module {
  readonly wG: Sequential;
  readonly wX: Sequential;
  readonly psi: Sequential;
  readonly relu: ReLU;

  constructor(fInt: number, fG: number, fL: number, path: string, ctx: BlockContext) {
    super();
    const gate = (cin: number, cout: number, name: string) => new Sequential(
      convolution(cin, cout, `${path}.${name}.0`, ctx, { kernelSize: 1, convOnly: true }), new BatchNorm3d(cout, { backend: ctx.backend }));
    this.wG = this.registerModule('W_g', gate(fG, fInt, 'W_g'));
    this.wX = this.registerModule('W_x', gate(fL, fInt, 'W_x'));
    this.psi = this.registerModule('psi', gate(fInt, 1, 'psi').addModule('2', new Sigmoid()));
    this.relu = this.registerModule('relu', new ReLU());
  }

  forward(g: Tensor, x: Tensor): Tensor {
    return tidy(() => mul(x, this.psi.forward(this.relu.forward(add(this.wG.forward(g), this.wX.forward(x))))));
  }
}

/**
 * MONAI's AttentionLayer, one level: the submodule (the downsampling ConvBlock and the levels below) upsampled by
 * `upconv` back to the level's channels and size, x gated by `attention` with it, and both concatenated through
 * `merge` (a 3³ Convolution with MONAI's default instance norm and PReLU)
 */
export class AttentionLayer extends Layer {
  readonly attention: AttentionBlock;
  readonly upconv: UpConv;
  readonly merge: MonaiConvolution;
  readonly submodule: Layer;

  constructor(inChannels: number, outChannels: number, submodule: Layer, upKernelSize: IntOrTriple, stride: IntOrTriple, dropout: number,
    path: string, ctx: BlockContext) {
    super();
    this.attention = this.registerModule('attention', new AttentionBlock(Math.floor(inChannels / 2), inChannels, inChannels, `${path}.attention`, ctx));
    this.upconv = this.registerModule('upconv', new UpConv(outChannels, inChannels, upKernelSize, stride, `${path}.upconv`, ctx));
    this.merge = this.registerModule('merge', convolution(2 * inChannels, inChannels, `${path}.merge`, ctx, { kernelSize: 3, dropout }));
    this.submodule = this.registerModule('submodule', submodule);
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const fromLower = this.upconv.forward(this.submodule.forward(x));
      return this.merge.forward(concat([this.attention.forward(fromLower, x), fromLower], 1));
    });
  }
}

/**
 * `new AttentionUnet({ inChannels, outChannels, channels, strides, … })`: MONAI's AttentionUnet with its defaults.
 * `model` = a ConvBlock to channels[0] (stride 1), the nested AttentionLayers (level i downsamples by strides[i]
 * with a ConvBlock to channels[i + 1]; the last level's submodule is that ConvBlock alone), and a 1³ conv (with
 * bias) to outChannels. The output has the input's size; each spatial size must be divisible by the product of the
 * strides along its axis.
 */
export class AttentionUnet extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly channels: readonly number[];
  /** the strides used: one per level below the first */
  readonly strides: readonly Triple[];
  readonly model: Sequential;

  constructor(options: AttentionUnetOptions) {
    super();
    const spatialDims: number = options.spatialDims ?? 3;
    if (spatialDims !== 3) throw new Error(`AttentionUnet: only spatialDims 3 is supported, got ${spatialDims}`);
    this.inChannels = options.inChannels;
    this.outChannels = options.outChannels;
    checkCount('AttentionUnet', 'inChannels', this.inChannels, 1);
    checkCount('AttentionUnet', 'outChannels', this.outChannels, 1);
    this.channels = [...options.channels];
    const levels = this.channels.length;
    if (levels < 2) throw new Error(`AttentionUnet: channels [${this.channels.join(', ')}] needs at least 2 entries`);
    this.channels.forEach((c, i) => checkCount('AttentionUnet', i < levels - 1 ? `channels[${i}] (halved by its attention gate)` : `channels[${i}]`, c, i < levels - 1 ? 2 : 1));
    if (options.strides.length < levels - 1) {
      throw new Error(`AttentionUnet: strides has ${options.strides.length} entries; channels [${this.channels.join(', ')}] needs one per level below the first (${levels - 1})`);
    }
    this.strides = options.strides.slice(0, levels - 1).map((s, i) => {
      const t = triple(s, `AttentionUnet strides[${i}]`);
      if (t.some((v) => v < 1)) throw new Error(`AttentionUnet: strides[${i}] must be positive, got ${formatShape(t)}`);
      return t;
    });
    const dropout = options.dropout ?? 0;
    if (!(dropout >= 0 && dropout <= 1)) throw new Error(`AttentionUnet: dropout must be in [0, 1], got ${dropout}`);
    const kernelSize = options.kernelSize ?? 3, upKernelSize = options.upKernelSize ?? 3;
    const ctx: BlockContext = { seed: options.seed ?? nextSeed(), backend: options.backend };

    const head = new ConvBlock(this.inChannels, this.channels[0], kernelSize, 1, dropout, 'model.0', ctx);
    // MONAI's _create_block: level i's AttentionLayer holds the downsampling ConvBlock and, above the bottom, level i + 1
    const level = (i: number, path: string): AttentionLayer => {
      const c = this.channels, stride = this.strides[i], bottom = i === levels - 2;
      const sub = `${path}.submodule`;
      const down = (p: string) => new ConvBlock(c[i], c[i + 1], kernelSize, stride, dropout, p, ctx);
      const submodule = bottom ? down(sub) : new Sequential(down(`${sub}.0`), level(i + 1, `${sub}.1`));
      return new AttentionLayer(c[i], c[i + 1], submodule, upKernelSize, stride, dropout, path, ctx);
    };
    const encdec = level(0, 'model.1');
    const reduceChannels = convolution(this.channels[0], this.outChannels, 'model.2', ctx, { kernelSize: 1, convOnly: true });
    this.model = this.registerModule('model', new Sequential(head, encdec, reduceChannels));
  }

  /** follows the spatial sizes down the levels; throws naming the first level whose size its stride does not divide */
  private checkLevelSizes(x: Tensor): void {
    const product = [0, 1, 2].map((a) => this.strides.reduce((p, s) => p * s[a], 1));
    let size = x.shape.slice(2);
    this.strides.forEach((stride, i) => {
      if (size.some((n, a) => n % stride[a] !== 0)) {
        throw new Error(`AttentionUnet: input ${formatShape(x.shape)}: level ${i}'s size [${size.join(', ')}] is not divisible by its stride ${formatShape(stride)}, so the upsampled features would not match it; the spatial sizes must be divisible by the product of the strides per axis [${product.join(', ')}]`);
      }
      size = size.map((n, a) => n / stride[a]);
    });
  }

  /** [N, outChannels, D, H, W] of an input [N, inChannels, D, H, W] */
  forward(x: Tensor): Tensor {
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) {
      throw new Error(`AttentionUnet: input must be [N, ${this.inChannels}, D, H, W], got ${formatShape(x.shape)}`);
    }
    this.checkLevelSizes(x);
    return this.model.forward(x);
  }
}
