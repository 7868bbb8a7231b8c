import { interpolate } from '../autograd/nn.js';
import { add, concat, stack } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { kaimingNormal_, zeros_ } from './init.js';
import { triple, type ChannelNorm, type IntOrTriple } from './layers.js';
import { MonaiConvolution } from './monai-blocks.js';
import { Layer, Module, ModuleList, deriveSeed, nextSeed } from './module.js';
import { actLayerOf, normLayerNamed, normThenAct, type ActSpec } from './norm-act.js';

/**
 * MONAI's DynUNet (the nnU-Net architecture: monai/networks/nets/dynunet.py, its blocks in
 * monai/networks/blocks/dynunet_block.py), 3-D only, with MONAI's module tree: the state dict has MONAI's keys
 * (`input_block.conv1.conv.weight`, `downsamples.0.norm1.weight`, `upsamples.0.transp_conv.conv.weight`,
 * `output_block.conv.conv.bias`, …) including, as PyTorch's state_dict() lists a module under every name it is
 * registered by, the same tensors again under `skip_layers.…`, the recursive skip-connection tree MONAI's forward runs.
 */

type Triple = readonly [number, number, number];

/** MONAI's `norm_name`: a name, or MONAI's (name, args) tuple; GroupNorm needs its numGroups */
export type DynUNetNorm =
  | 'batch' | 'instance'
  | readonly ['group', { numGroups: number; eps?: number; affine?: boolean }]
  | readonly ['batch', { eps?: number; momentum?: number; affine?: boolean; trackRunningStats?: boolean }]
  | readonly ['instance', { eps?: number; affine?: boolean }];

/** MONAI's `act_name`: LeakyReLU (negative slope 0.01 unless given) or ReLU */
export type DynUNetAct = ActSpec;

export interface DynUNetOptions {
  /** only 3 (the 2-D form is not offered) */
  spatialDims?: 3;
  inChannels: number;
  outChannels: number;
  /** per level, finest first: the kernel of the level's convolutions (at least 3 levels: input block, downsamples, bottleneck) */
  kernelSize: readonly IntOrTriple[];
  /** per level: the stride of its first convolution (strides[0]: the input block's, 1 for a full-size output) */
  strides: readonly IntOrTriple[];
  /** the transposed convolutions' kernels (and strides), one per level below the first: equal to strides.slice(1) */
  upsampleKernelSize: readonly IntOrTriple[];
  /** channels per level (default nnU-Net's: min(2^(5 + i), 320)); longer lists are cut to the number of levels */
  filters?: readonly number[];
  /** elementwise dropout (nn.Dropout) after every convolution in training (default null: none) */
  dropout?: number | null;
  /** default ['instance', { affine: true }] */
  normName?: DynUNetNorm;
  /** default 'leakyrelu' (negative slope 0.01) */
  actName?: DynUNetAct;
  /** training forwards return [N, 1 + deepSuprNum, outChannels, …]: the output and the heads of the next levels, upsampled (default false) */
  deepSupervision?: boolean;
  /** heads under deep supervision: 1 ≤ deepSuprNum < levels − 1 (default 1) */
  deepSuprNum?: number;
  /** residual blocks (UnetResBlock) instead of UnetBasicBlock in the encoder (default false) */
  resBlock?: boolean;
  /** whether the transposed convolutions have a bias (default false) */
  transBias?: boolean;
  /** initialisation seed; each convolution's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

/** what every block of a network built from these blocks shares (DynUNet's, UNETR's) */
export interface BlockContext {
  norm: DynUNetNorm;
  act: DynUNetAct;
  /** a Dropout after every convolution (MONAI's get_conv_layer `dropout`), or null for none */
  dropout: number | null;
  /**
   * 'heNormal': DynUNet's initialize_weights (kaiming_normal_ with a = 0.01 on every weight, zero biases);
   * 'default': the layers' PyTorch default, for networks that initialise nothing themselves (UNETR)
   */
  weightInit: 'heNormal' | 'default';
  /** each convolution's seed derives from it and the convolution's module path */
  seed: number;
  backend: Backend | undefined;
}

function normLayer(channels: number, ctx: BlockContext): ChannelNorm { return normLayerNamed('DynUNet', 'normName', ctx.norm, channels, ctx.backend); }

function actLayer(act: DynUNetAct): Layer {
  const layer = actLayerOf(act);
  if (layer) return layer;
  throw new Error(`DynUNet: unknown actName ${JSON.stringify(act)}; valid: 'leakyrelu', 'relu', ['leakyrelu', { negativeSlope }]`);
}

/** MONAI's get_padding: ⌊(kernel − stride + 1)/2⌋ per axis, refused when negative */
function getPadding(kernel: Triple, stride: Triple, path: string): Triple {
  const padding = kernel.map((k, i) => (k - stride[i] + 1) / 2);
  if (padding.some((p) => p < 0)) {
    throw new Error(`DynUNet: ${path}: kernel ${formatShape(kernel)} with stride ${formatShape(stride)} gives a negative padding (kernel − stride + 1)/2; the stride may exceed the kernel by at most 1`);
  }
  return padding.map(Math.floor) as unknown as Triple;
}

/**
 * MONAI's get_conv_layer: a Convolution (monai-blocks' MonaiConvolution: the conv or transposed conv under `conv`, then
 * `adn` holding only the dropout `D` when there is one) padded by get_padding, with get_output_padding, no norm or
 * activation, its layers seeded by the network's seed and their module paths, initialised as ctx.weightInit says
 */
export class Convolution extends MonaiConvolution {
  constructor(inChannels: number, outChannels: number, path: string, ctx: BlockContext,
    options: { kernelSize: IntOrTriple; stride: IntOrTriple; bias?: boolean; transposed?: boolean }) {
    const kernel = triple(options.kernelSize, `DynUNet ${path} kernel size`), stride = triple(options.stride, `DynUNet ${path} stride`);
    const padding = getPadding(kernel, stride, path);
    super(inChannels, outChannels, {
      kernelSize: kernel, strides: stride, padding, bias: options.bias ?? false, isTransposed: options.transposed ?? false,
      // get_output_padding: 2·padding + stride − kernel, 0 for the kernel = stride of every transposed conv DynUNet builds
      outputPadding: padding.map((p, i) => 2 * p + stride[i] - kernel[i]) as unknown as Triple,
      act: null, norm: null, dropout: ctx.dropout, seed: ctx.seed, path, backend: ctx.backend,
    });
    if (ctx.weightInit === 'heNormal') {
      kaimingNormal_(this.conv.weight, { a: 0.01, seed: deriveSeed(ctx.seed, `${path}.conv.weight`) });
      if (this.conv.bias) zeros_(this.conv.bias);
    }
  }
}

/** MONAI's UnetBasicBlock: act(norm2(conv2(act(norm1(conv1(x)))))), conv1 with the block's stride, conv2 with stride 1 */
export class UnetBasicBlock extends Layer {
  readonly conv1: Convolution;
  readonly conv2: Convolution;
  readonly lrelu: Layer;
  readonly norm1: ChannelNorm;
  readonly norm2: ChannelNorm;

  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTriple, stride: IntOrTriple, path: string, ctx: BlockContext) {
    super();
    this.conv1 = this.registerModule('conv1', new Convolution(inChannels, outChannels, `${path}.conv1`, ctx, { kernelSize, stride }));
    this.conv2 = this.registerModule('conv2', new Convolution(outChannels, outChannels, `${path}.conv2`, ctx, { kernelSize, stride: 1 }));
    this.lrelu = this.registerModule('lrelu', actLayer(ctx.act));
    this.norm1 = this.registerModule('norm1', normLayer(outChannels, ctx));
    this.norm2 = this.registerModule('norm2', normLayer(outChannels, ctx));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => normThenAct(this.norm2, this.lrelu, this.convs(x)));
  }

  /** conv2(act(norm1(conv1(x)))), what UnetResBlock shares */
  protected convs(x: Tensor): Tensor {
    return this.conv2.forward(normThenAct(this.norm1, this.lrelu, this.conv1.forward(x)));
  }
}

/**
 * MONAI's UnetResBlock: act(norm2(conv2(act(norm1(conv1(x))))) + r), r = x, or norm3(conv3(x)) (a 1³ conv with the
 * block's stride) where the stride is not 1 or the channels change
 */
export class UnetResBlock extends UnetBasicBlock {
  readonly conv3: Convolution | null = null;
  readonly norm3: ChannelNorm | null = null;

  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTriple, stride: IntOrTriple, path: string, ctx: BlockContext) {
    super(inChannels, outChannels, kernelSize, stride, path, ctx);
    if (inChannels !== outChannels || triple(stride).some((s) => s !== 1)) {
      this.conv3 = this.registerModule('conv3', new Convolution(inChannels, outChannels, `${path}.conv3`, ctx, { kernelSize: 1, stride }));
      this.norm3 = this.registerModule('norm3', normLayer(outChannels, ctx));
    }
  }

  override forward(x: Tensor): Tensor {
    return tidy(() => {
      const y = this.norm2.forward(this.convs(x));
      const residual = this.conv3 && this.norm3 ? this.norm3.forward(this.conv3.forward(x)) : x;
      return this.lrelu.forward(add(y, residual));
    });
  }
}

/**
 * MONAI's UnetUpBlock: a transposed conv (kernel = stride = upsampleKernelSize), the skip concatenated after it, a
 * UnetBasicBlock, or with resBlock a UnetResBlock (UNETR's UnetrUpBlock)
 */
export class UnetUpBlock extends Module {
  readonly transpConv: Convolution;
  readonly convBlock: UnetBasicBlock | UnetResBlock;

  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTriple, upsampleKernelSize: IntOrTriple,
    transBias: boolean, path: string, ctx: BlockContext, resBlock = false) {
    super();
    this.transpConv = this.registerModule('transp_conv', new Convolution(inChannels, outChannels, `${path}.transp_conv`, ctx, {
      kernelSize: upsampleKernelSize, stride: upsampleKernelSize, bias: transBias, transposed: true,
    }));
    const Block = resBlock ? UnetResBlock : UnetBasicBlock;
    this.convBlock = this.registerModule('conv_block', new Block(2 * outChannels, outChannels, kernelSize, 1, `${path}.conv_block`, ctx));
  }

  forward(x: Tensor, skip: Tensor): Tensor {
    return tidy(() => this.convBlock.forward(concat([this.transpConv.forward(x), skip], 1)));
  }
}

/** MONAI's UnetOutBlock: a 1³ conv with bias */
export class UnetOutBlock extends Layer {
  readonly conv: Convolution;

  constructor(inChannels: number, outChannels: number, path: string, ctx: BlockContext) {
    super();
    this.conv = this.registerModule('conv', new Convolution(inChannels, outChannels, `${path}.conv`, ctx, { kernelSize: 1, stride: 1, bias: true }));
  }

  forward(x: Tensor): Tensor { return this.conv.forward(x); }
}

/**
 * MONAI's DynUNetSkipLayer: downsample, the next level (another skip layer, or the bottleneck), upsample with the
 * downsampled input as the skip; a level with a deep supervision head writes the head's output into `heads`
 * (in training: DynUNet's forward returns them only then)
 */
class DynUNetSkipLayer extends Layer {
  readonly downsample: Layer;
  readonly nextLayer: Layer;
  readonly upsample: UnetUpBlock;
  readonly superHead: UnetOutBlock | null;

  constructor(readonly index: number, downsample: Layer, upsample: UnetUpBlock, nextLayer: Layer,
    private readonly heads: (Tensor | null)[], superHead: UnetOutBlock | null) {
    super();
    this.downsample = this.registerModule('downsample', downsample);
    this.nextLayer = this.registerModule('next_layer', nextLayer);
    this.upsample = this.registerModule('upsample', upsample);
    this.superHead = superHead && this.registerModule('super_head', superHead);
  }

  /** not in a tidy scope of its own: the heads it writes belong to the caller's (DynUNet.forward's) */
  forward(x: Tensor): Tensor {
    const down = this.downsample.forward(x);
    const up = this.upsample.forward(this.nextLayer.forward(down), down);
    if (this.superHead && this.training) this.heads[this.index - 1] = this.superHead.forward(up);
    return up;
  }
}

function checkCount(what: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new Error(`DynUNet: ${what} must be an integer ≥ ${min}, got ${value}`);
}

/**
 * `new DynUNet({ inChannels, outChannels, kernelSize, strides, upsampleKernelSize, … })`: MONAI's DynUNet with its
 * defaults. Levels (one per entry of kernelSize and strides): the input block (kernelSize[0], strides[0]), the
 * downsamples, the bottleneck, each a UnetBasicBlock (or UnetResBlock) whose first convolution strides; then per
 * level above the bottleneck, coarsest first, a UnetUpBlock, and the UnetOutBlock. The output has the input's size
 * divided by strides[0]; each spatial size must be divisible by the product of the strides along its axis.
 */
export class DynUNet extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: readonly Triple[];
  readonly strides: readonly Triple[];
  readonly upsampleKernelSize: readonly Triple[];
  readonly filters: readonly number[];
  readonly deepSupervision: boolean;
  readonly deepSuprNum: number;
  readonly inputBlock: Layer;
  readonly downsamples: ModuleList<Layer>;
  readonly bottleneck: Layer;
  /** coarsest first, as MONAI's */
  readonly upsamples: ModuleList<UnetUpBlock>;
  readonly outputBlock: UnetOutBlock;
  readonly deepSupervisionHeads: ModuleList<UnetOutBlock> | null;
  /** the recursive tree forward runs: the blocks above again, under MONAI's `skip_layers` */
  readonly skipLayers: Layer;
  private readonly heads: (Tensor | null)[];

  constructor(options: DynUNetOptions) {
    super();
    const spatialDims: number = options.spatialDims ?? 3;
    if (spatialDims !== 3) throw new Error(`DynUNet: only spatialDims 3 is supported, got ${spatialDims}`);
    this.inChannels = options.inChannels;
    this.outChannels = options.outChannels;
    checkCount('inChannels', this.inChannels, 1);
    checkCount('outChannels', this.outChannels, 1);
    const levels = options.strides.length;
    if (options.kernelSize.length !== levels || levels < 3) {
      throw new Error(`DynUNet: kernelSize (${options.kernelSize.length} entries) and strides (${levels}) must have the same length, at least 3 (input block, downsamples, bottleneck)`);
    }
    if (options.upsampleKernelSize.length !== levels - 1) {
      throw new Error(`DynUNet: upsampleKernelSize has ${options.upsampleKernelSize.length} entries; it needs one per level below the first (${levels - 1})`);
    }
    this.kernelSize = options.kernelSize.map((k, i) => triple(k, `DynUNet kernelSize[${i}]`));
    this.strides = options.strides.map((s, i) => triple(s, `DynUNet strides[${i}]`));
    this.upsampleKernelSize = options.upsampleKernelSize.map((u, i) => triple(u, `DynUNet upsampleKernelSize[${i}]`));
    for (const [what, list] of [['kernelSize', this.kernelSize], ['strides', this.strides]] as const) {
      list.forEach((t, i) => { if (t.some((v) => v < 1)) throw new Error(`DynUNet: ${what}[${i}] ${formatShape(t)} must be positive`); });
    }
    this.kernelSize.forEach((t, i) => {
      // MONAI pads a stride-1 convolution by ⌊k/2⌋, which grows an even kernel's output by one: no skip would match
      if (t.some((v) => v % 2 === 0)) throw new Error(`DynUNet: kernelSize[${i}] ${formatShape(t)} must be odd`);
    });
    this.upsampleKernelSize.forEach((u, i) => {
      if (u.some((v, a) => v !== this.strides[i + 1][a])) {
        throw new Error(`DynUNet: upsampleKernelSize[${i}] ${formatShape(u)} must equal strides[${i + 1}] ${formatShape(this.strides[i + 1])}, so that the upsampled feature matches its skip`);
      }
    });
    if (options.filters) {
      if (options.filters.length < levels) throw new Error(`DynUNet: filters has ${options.filters.length} entries; it needs at least one per level (${levels})`);
      options.filters.forEach((f) => checkCount('every entry of filters', f, 1));
    }
    const f = this.filters = options.filters ? options.filters.slice(0, levels) : Array.from({ length: levels }, (_, i) => Math.min(2 ** (5 + i), 320));
    this.deepSupervision = options.deepSupervision ?? false;
    this.deepSuprNum = options.deepSuprNum ?? 1;
    if (this.deepSupervision && !(Number.isInteger(this.deepSuprNum) && this.deepSuprNum >= 1 && this.deepSuprNum < levels - 1)) {
      throw new Error(`DynUNet: deepSuprNum must be an integer ≥ 1 and < ${levels - 1} (the upsampling levels), got ${this.deepSuprNum}`);
    }
    const dropout = options.dropout ?? null;
    if (dropout !== null && !(dropout >= 0 && dropout <= 1)) throw new Error(`DynUNet: dropout must be in [0, 1] or null, got ${dropout}`);
    const ctx: BlockContext = {
      norm: options.normName ?? ['instance', { affine: true }], act: options.actName ?? 'leakyrelu', dropout, weightInit: 'heNormal',
      seed: options.seed ?? nextSeed(), backend: options.backend,
    };
    const Block = options.resBlock ? UnetResBlock : UnetBasicBlock;
    const k = this.kernelSize, s = this.strides;

    this.inputBlock = this.registerModule('input_block', new Block(this.inChannels, f[0], k[0], s[0], 'input_block', ctx));
    this.downsamples = this.registerModule('downsamples', new ModuleList<Layer>(
      f.slice(1, -1).map((c, i) => new Block(f[i], c, k[i + 1], s[i + 1], `downsamples.${i}`, ctx))));
    this.bottleneck = this.registerModule('bottleneck', new Block(f[levels - 2], f[levels - 1], k[levels - 1], s[levels - 1], 'bottleneck', ctx));
    // upsamples[j] brings level levels − 1 − j up to level levels − 2 − j
    this.upsamples = this.registerModule('upsamples', new ModuleList(Array.from({ length: levels - 1 }, (_, j) => {
      const level = levels - 1 - j;
      return new UnetUpBlock(f[level], f[level - 1], k[level], this.upsampleKernelSize[level - 1], options.transBias ?? false, `upsamples.${j}`, ctx);
    })));
    this.outputBlock = this.registerModule('output_block', new UnetOutBlock(f[0], this.outChannels, 'output_block', ctx));
    this.heads = Array.from({ length: this.deepSuprNum }, () => null);
    this.deepSupervisionHeads = this.deepSupervision
      ? this.registerModule('deep_supervision_heads', new ModuleList(Array.from({ length: this.deepSuprNum },
        (_, i) => new UnetOutBlock(f[i + 1], this.outChannels, `deep_supervision_heads.${i}`, ctx))))
      : null;
    // MONAI's create_skips: level i's skip layer holds the level's down block, the level below and the up block
    // back to the level; levels 1 … deepSuprNum carry a head
    let next: Layer = this.bottleneck;
    for (let level = levels - 2; level >= 0; level--) {
      const down = level === 0 ? this.inputBlock : this.downsamples.at(level - 1);
      const head = this.deepSupervisionHeads && level >= 1 && level <= this.deepSuprNum ? this.deepSupervisionHeads.at(level - 1) : null;
      next = new DynUNetSkipLayer(level, down, this.upsamples.at(levels - 2 - level), next, this.heads, head);
    }
    this.skipLayers = this.registerModule('skip_layers', next);
  }

  /**
   * Follows the spatial sizes of `x` through the levels as the convolutions compute them; throws naming the level
   * where an upsampled feature would not match its skip.
   */
  private checkLevelSizes(x: Tensor): void {
    const sizes: number[][] = [];
    let size = x.shape.slice(2);
    this.strides.forEach((stride, level) => {
      const pad = getPadding(this.kernelSize[level], stride, `level ${level}`);
      size = size.map((n, a) => Math.floor((n + 2 * pad[a] - this.kernelSize[level][a]) / stride[a]) + 1);
      sizes.push(size);
    });
    const product = [0, 1, 2].map((a) => this.strides.reduce((p, st) => p * st[a], 1));
    for (let level = sizes.length - 1; level >= 1; level--) {
      const up = sizes[level].map((n, a) => n * this.upsampleKernelSize[level - 1][a]);
      if (sizes[level].some((n) => n < 1) || up.some((n, a) => n !== sizes[level - 1][a])) {
        throw new Error(`DynUNet: input ${formatShape(x.shape)}: level ${level}'s output [${sizes[level].join(', ')}] upsampled gives [${up.join(', ')}], not level ${level - 1}'s [${sizes[level - 1].join(', ')}]; the spatial sizes must be divisible by the product of the strides per axis [${product.join(', ')}]`);
      }
    }
  }

  /**
   * [N, outChannels, …input size / strides[0]]; in training with deepSupervision, [N, 1 + deepSuprNum, outChannels, …]:
   * the output, then the heads of levels 1 … deepSuprNum interpolated (nearest) to its size.
   */
  forward(x: Tensor): Tensor {
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) {
      throw new Error(`DynUNet: input must be [N, ${this.inChannels}, D, H, W], got ${formatShape(x.shape)}`);
    }
    this.checkLevelSizes(x);
    return tidy(() => {
      const out = this.outputBlock.forward(this.skipLayers.forward(x));
      if (!(this.training && this.deepSupervision)) return out;
      const size = out.shape.slice(2) as unknown as Triple;
      const heads = this.heads.map((h, i) => {
        if (!h) throw new Error(`DynUNet: deep supervision head ${i} was not computed (skip_layers is in evaluation mode while the DynUNet trains)`);
        return interpolate(h, { size, mode: 'nearest' });
      });
      this.heads.fill(null);
      return stack([out, ...heads], 1);
    });
  }
}
