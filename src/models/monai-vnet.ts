import { add, concat, repeat } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { tidy } from '../tensor/memory.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { PReLU } from './activations.js';
import { MonaiConvolution, monaiActFactory, type MonaiActSpec } from './monai-blocks.js';
import { BatchNorm3d, Conv3d, ConvTranspose3d, Dropout3d } from './layers.js';
import { Layer, Module, Sequential, deriveSeed, nextSeed } from './module.js';

/**
 * MONAI's VNet (monai/networks/nets/vnet.py; Milletari et al., "V-Net", 3DV 2016), 3-D, with MONAI's module tree and
 * state-dict keys (`in_tr.conv_block.conv.weight`, `in_tr.conv_block.adn.N.running_mean`, `down_tr32.down_conv.weight`,
 * `down_tr32.ops.0.conv_block.conv.weight`, `up_tr256.up_conv.bias`, `out_tr.conv2.weight`, …) and PyTorch's default
 * initialisation (MONAI initialises nothing itself). Exported as MonaiVNet: voxgrad's VNet is the UA-MT/DTC one.
 */

/** what every transition shares: the activation, the seed its layers' derive from by module path, the backend */
export interface TransitionContext {
  act: MonaiActSpec;
  seed: number;
  backend: Backend | undefined;
}

/** MONAI's get_acti_layer: the activation, 'prelu' as a PReLU with one slope per channel (`channels`) */
function actLayer(ctx: TransitionContext, channels: number): Layer {
  return ctx.act === 'prelu' ? new PReLU({ numParameters: channels, backend: ctx.backend }) : monaiActFactory(ctx.act, 'MonaiVNet')(ctx.backend);
}

/** a 5³ Convolution block with a BatchNorm3d and no activation (conv_block of LUConv, InputTransition, OutputTransition) */
function convBlock(inChannels: number, outChannels: number, bias: boolean, path: string, ctx: TransitionContext): MonaiConvolution {
  return new MonaiConvolution(inChannels, outChannels, { kernelSize: 5, act: null, norm: 'batch', bias, seed: deriveSeed(ctx.seed, path), backend: ctx.backend });
}

/** a Dropout3d of probability p, its mask salt from its module path */
function dropout3dAt(p: number, path: string, ctx: TransitionContext): Dropout3d {
  return new Dropout3d(p, { salt: deriveSeed(ctx.seed, path) });
}

/** MONAI's LUConv: act(bn(conv 5³(x))), channels kept */
export class LUConv extends Layer {
  readonly actFunction: Layer;
  readonly convBlock: MonaiConvolution;

  constructor(channels: number, bias: boolean, path: string, ctx: TransitionContext) {
    super();
    this.actFunction = this.registerModule('act_function', actLayer(ctx, channels));
    this.convBlock = this.registerModule('conv_block', convBlock(channels, channels, bias, `${path}.conv_block`, ctx));
  }

  forward(x: Tensor): Tensor { return tidy(() => this.actFunction.forward(this.convBlock.forward(x))); }
}

/** MONAI's _make_nconv: `depth` LUConvs in a Sequential */
function nconv(channels: number, depth: number, bias: boolean, path: string, ctx: TransitionContext): Sequential {
  return new Sequential(...Array.from({ length: depth }, (_, i) => new LUConv(channels, bias, `${path}.${i}`, ctx)));
}

/** MONAI's InputTransition: act(bn(conv 5³(x)) + x repeated outChannels / inChannels times along the channels) */
export class InputTransition extends Layer {
  readonly actFunction: Layer;
  readonly convBlock: MonaiConvolution;

  constructor(readonly inChannels: number, readonly outChannels: number, bias: boolean, path: string, ctx: TransitionContext) {
    super();
    if (outChannels % inChannels !== 0) throw new Error(`MonaiVNet: ${path}: out channels ${outChannels} must be divisible by inChannels ${inChannels}`);
    this.actFunction = this.registerModule('act_function', actLayer(ctx, outChannels));
    this.convBlock = this.registerModule('conv_block', convBlock(inChannels, outChannels, bias, `${path}.conv_block`, ctx));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => this.actFunction.forward(add(this.convBlock.forward(x), repeat(x, [1, this.outChannels / this.inChannels, 1, 1, 1]))));
  }
}

/**
 * MONAI's DownTransition: down = act1(bn1(conv 2³ stride 2(x))) to twice the channels; act2(ops(dropout(down)) + down),
 * ops `nconvs` LUConvs, the Dropout3d only where a probability is given
 */
export class DownTransition extends Layer {
  readonly downConv: Conv3d;
  readonly bn1: BatchNorm3d;
  readonly actFunction1: Layer;
  readonly actFunction2: Layer;
  readonly ops: Sequential;
  readonly dropout: Dropout3d | null;

  constructor(inChannels: number, nconvs: number, dropoutProb: number | null, bias: boolean, path: string, ctx: TransitionContext) {
    super();
    const out = 2 * inChannels;
    this.downConv = this.registerModule('down_conv', new Conv3d(inChannels, out, 2, { stride: 2, bias, seed: deriveSeed(ctx.seed, `${path}.down_conv`), backend: ctx.backend }));
    this.bn1 = this.registerModule('bn1', new BatchNorm3d(out, { backend: ctx.backend }));
    this.actFunction1 = this.registerModule('act_function1', actLayer(ctx, out));
    this.actFunction2 = this.registerModule('act_function2', actLayer(ctx, out));
    this.ops = this.registerModule('ops', nconv(out, nconvs, bias, `${path}.ops`, ctx));
    this.dropout = dropoutProb === null ? null : this.registerModule('dropout', dropout3dAt(dropoutProb, `${path}.dropout`, ctx));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const down = this.actFunction1.forward(this.bn1.forward(this.downConv.forward(x)));
      const out = this.ops.forward(this.dropout ? this.dropout.forward(down) : down);
      return this.actFunction2.forward(add(out, down));
    });
  }
}

/**
 * MONAI's UpTransition: up = act1(bn1(transposed conv 2³ stride 2 (with bias) of dropout(x))) to outChannels / 2,
 * joined by dropout2(skip): act2(ops(cat) + cat), ops `nconvs` LUConvs without bias
 */
export class UpTransition extends Module {
  readonly upConv: ConvTranspose3d;
  readonly bn1: BatchNorm3d;
  readonly dropout: Dropout3d | null;
  readonly dropout2: Dropout3d;
  readonly actFunction1: Layer;
  readonly actFunction2: Layer;
  readonly ops: Sequential;

  constructor(inChannels: number, outChannels: number, nconvs: number, dropoutProb: readonly [number | null, number], path: string, ctx: TransitionContext) {
    super();
    const half = Math.floor(outChannels / 2);
    this.upConv = this.registerModule('up_conv', new ConvTranspose3d(inChannels, half, 2, { stride: 2, seed: deriveSeed(ctx.seed, `${path}.up_conv`), backend: ctx.backend }));
    this.bn1 = this.registerModule('bn1', new BatchNorm3d(half, { backend: ctx.backend }));
    this.dropout = dropoutProb[0] === null ? null : this.registerModule('dropout', dropout3dAt(dropoutProb[0], `${path}.dropout`, ctx));
    this.dropout2 = this.registerModule('dropout2', dropout3dAt(dropoutProb[1], `${path}.dropout2`, ctx));
    this.actFunction1 = this.registerModule('act_function1', actLayer(ctx, half));
    this.actFunction2 = this.registerModule('act_function2', actLayer(ctx, outChannels));
    this.ops = this.registerModule('ops', nconv(outChannels, nconvs, false, `${path}.ops`, ctx));
  }

  forward(x: Tensor, skip: Tensor): Tensor {
    return tidy(() => {
      const up = this.actFunction1.forward(this.bn1.forward(this.upConv.forward(this.dropout ? this.dropout.forward(x) : x)));
      const joined = concat([up, this.dropout2.forward(skip)], 1);
      return this.actFunction2.forward(add(this.ops.forward(joined), joined));
    });
  }
}

/** MONAI's OutputTransition: conv 1³ (with bias) of act(bn(conv 5³(x))) */
export class OutputTransition extends Layer {
  readonly actFunction1: Layer;
  readonly convBlock: MonaiConvolution;
  readonly conv2: Conv3d;

  constructor(inChannels: number, outChannels: number, bias: boolean, path: string, ctx: TransitionContext) {
    super();
    this.actFunction1 = this.registerModule('act_function1', actLayer(ctx, outChannels));
    this.convBlock = this.registerModule('conv_block', convBlock(inChannels, outChannels, bias, `${path}.conv_block`, ctx));
    this.conv2 = this.registerModule('conv2', new Conv3d(outChannels, outChannels, 1, { seed: deriveSeed(ctx.seed, `${path}.conv2`), backend: ctx.backend }));
  }

  forward(x: Tensor): Tensor { return tidy(() => this.conv2.forward(this.actFunction1.forward(this.convBlock.forward(x)))); }
}

export interface MonaiVNetOptions {
  /** only 3 (MONAI's 2-D form is not offered) */
  spatialDims?: 3;
  /** default 1; must divide 16 (the input transition repeats the input to 16 channels) */
  inChannels?: number;
  /** default 1 */
  outChannels?: number;
  /** default 'elu' (MONAI's ('elu', {'inplace': True})); 'prelu' has one slope per channel, as MONAI's get_acti_layer */
  act?: MonaiActSpec;
  /** the Dropout3d probability of down_tr128 and down_tr256, before their convolutions (default 0.5); null: no dropout layer */
  dropoutProbDown?: number | null;
  /**
   * the Dropout3d probabilities of up_tr256 and up_tr128: [of the input (null: no layer), of the skip] (default
   * [0.5, 0.5]); up_tr64 and up_tr32 always have MONAI's [null, 0.5]
   */
  dropoutProbUp?: readonly [number | null, number];
  /**
   * only 3: MONAI's VNet takes dropout_dim but passes it to none of its transitions, whose dropouts are Dropout3d
   * whatever it says
   */
  dropoutDim?: 3;
  /** whether the convolutions followed by a batch norm have a bias (default false); the transposed and the last 1³ ones always have one */
  bias?: boolean;
  /**
   * voxgrad's, not MONAI's: the input transition's channels, doubled by each down transition (default 16, the width
   * MONAI fixes; MONAI's state dicts need 16). A multiple of inChannels. Smaller widths make tiny test configurations.
   */
  initFilters?: number;
  /** initialisation seed; each layer's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

const probability = (p: unknown): boolean => typeof p === 'number' && p >= 0 && p <= 1;

/**
 * MONAI's VNet: 16 (initFilters) channels after the input transition, doubled by each of four down transitions (1, 2, 3, 2
 * LUConvs), halved back by four up transitions (2, 2, 1, 1 LUConvs) joined with the skips, and the output
 * transition to outChannels. Input [N, inChannels, D, H, W] with D, H, W divisible by 16; output [N, outChannels, D, H, W].
 */
export class MonaiVNet extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly initFilters: number;
  readonly inTr: InputTransition;
  readonly downTr32: DownTransition;
  readonly downTr64: DownTransition;
  readonly downTr128: DownTransition;
  readonly downTr256: DownTransition;
  readonly upTr256: UpTransition;
  readonly upTr128: UpTransition;
  readonly upTr64: UpTransition;
  readonly upTr32: UpTransition;
  readonly outTr: OutputTransition;

  constructor(options: MonaiVNetOptions = {}) {
    super();
    const {
      spatialDims = 3, inChannels = 1, outChannels = 1, act = 'elu', dropoutProbDown = 0.5, dropoutProbUp = [0.5, 0.5], dropoutDim = 3,
      bias = false, initFilters = 16, seed = nextSeed(), backend,
    } = options;
    const name = 'MonaiVNet';
    if (spatialDims !== 3) throw new Error(`${name}: only spatialDims 3 is supported, got ${String(spatialDims)}`);
    if (!positive(initFilters)) throw new Error(`${name}: initFilters must be a positive integer, got ${String(initFilters)}`);
    if (!positive(inChannels) || initFilters % inChannels !== 0) throw new Error(`${name}: inChannels must be a positive divisor of initFilters ${initFilters} (the input transition's channels), got ${String(inChannels)}`);
    if (!positive(outChannels)) throw new Error(`${name}: outChannels must be a positive integer, got ${String(outChannels)}`);
    if (dropoutProbDown !== null && !probability(dropoutProbDown)) throw new Error(`${name}: dropoutProbDown must be in [0, 1] or null, got ${String(dropoutProbDown)}`);
    if (!Array.isArray(dropoutProbUp) || dropoutProbUp.length !== 2 || !(dropoutProbUp[0] === null || probability(dropoutProbUp[0])) || !probability(dropoutProbUp[1])) {
      throw new Error(`${name}: dropoutProbUp must be [p or null, p] with p in [0, 1], got ${JSON.stringify(dropoutProbUp)}`);
    }
    if (dropoutDim !== 3) throw new Error(`${name}: dropoutDim must be 3 (MONAI's VNet ignores it: every dropout is a Dropout3d), got ${String(dropoutDim)}`);
    if (typeof bias !== 'boolean') throw new Error(`${name}: bias must be a boolean, got ${String(bias)}`);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    const ctx: TransitionContext = { act, seed, backend };
    this.initFilters = initFilters;
    const c = initFilters;
    this.inTr = this.registerModule('in_tr', new InputTransition(inChannels, c, bias, 'in_tr', ctx));
    this.downTr32 = this.registerModule('down_tr32', new DownTransition(c, 1, null, bias, 'down_tr32', ctx));
    this.downTr64 = this.registerModule('down_tr64', new DownTransition(2 * c, 2, null, bias, 'down_tr64', ctx));
    this.downTr128 = this.registerModule('down_tr128', new DownTransition(4 * c, 3, dropoutProbDown, bias, 'down_tr128', ctx));
    this.downTr256 = this.registerModule('down_tr256', new DownTransition(8 * c, 2, dropoutProbDown, bias, 'down_tr256', ctx));
    this.upTr256 = this.registerModule('up_tr256', new UpTransition(16 * c, 16 * c, 2, dropoutProbUp, 'up_tr256', ctx));
    this.upTr128 = this.registerModule('up_tr128', new UpTransition(16 * c, 8 * c, 2, dropoutProbUp, 'up_tr128', ctx));
    this.upTr64 = this.registerModule('up_tr64', new UpTransition(8 * c, 4 * c, 1, [null, 0.5], 'up_tr64', ctx));
    this.upTr32 = this.registerModule('up_tr32', new UpTransition(4 * c, 2 * c, 1, [null, 0.5], 'up_tr32', ctx));
    this.outTr = this.registerModule('out_tr', new OutputTransition(2 * c, outChannels, bias, 'out_tr', ctx));
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) throw new Error(`MonaiVNet: input must be [N, ${this.inChannels}, D, H, W], got ${formatShape(x.shape)}`);
    if (x.shape.slice(2).some((d) => d % 16 !== 0)) throw new Error(`MonaiVNet: input ${formatShape(x.shape)}: the spatial extents must be divisible by 16 (four 2³ stride-2 downsamplings)`);
    return tidy(() => {
      const out16 = this.inTr.forward(x);
      const out32 = this.downTr32.forward(out16);
      const out64 = this.downTr64.forward(out32);
      const out128 = this.downTr128.forward(out64);
      const out256 = this.downTr256.forward(out128);
      let y = this.upTr256.forward(out256, out128);
      y = this.upTr128.forward(y, out64);
      y = this.upTr64.forward(y, out32);
      y = this.upTr32.forward(y, out16);
      return this.outTr.forward(y);
    });
  }
}

function positive(v: unknown): boolean { return Number.isInteger(v) && (v as number) > 0; }
