import { dropout } from '../autograd/nn.js';
import { add, flatten, mul, sigmoid } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { full } from '../tensor/creation.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Identity, SiLU } from './activations.js';
import { ConstantPad3d } from './basic-unet.js';
import { normal_, uniform_, zeros_ } from './init.js';
import { Conv3d, Dropout, Linear, SeededDropout, type ChannelNorm } from './layers.js';
import { Layer, Module, Sequential, deriveSeed, nextSeed, type DropoutState } from './module.js';
import { monaiNormFactory } from './monai-blocks.js';
import type { NormSpec } from './norm-act.js';
import { AdaptiveAvgPool3d } from './pooling.js';

/**
 * MONAI's EfficientNet (monai/networks/nets/efficientnet.py, after Tan & Le 2019 and EfficientNet-PyTorch), 3-D only,
 * with MONAI's module tree and state-dict keys (`_conv_stem.weight`, `_bn0.running_mean`,
 * `_blocks.1.2._depthwise_conv.weight`, `_blocks.3.5._se_reduce.bias`, `_conv_head.weight`, `_fc.bias`, …; the blocks
 * of a stack are named by their index over the whole network): `EfficientNet` (any block arguments),
 * `EfficientNetBN` (efficientnet-b0 … b8, l2), `EfficientNetBNFeatures` (the same network returning the five feature
 * maps FlexibleUNet's decoder takes). Convolutions pad as TensorFlow's 'SAME' for the image size the model is built
 * for (MONAI's static padding: a ConstantPad3d before the convolution where it pads), whatever size it is given.
 */

/** MONAI's BlockArgs: one stack of MBConv blocks */
export interface BlockArgs {
  numRepeat: number;
  kernelSize: number;
  stride: number;
  expandRatio: number;
  inputFilters: number;
  outputFilters: number;
  /** the residual connection (where the stride is 1 and the channels stay) */
  idSkip: boolean;
  /** squeeze-and-excitation ratio; used where in (0, 1] */
  seRatio: number | null;
}

/** MONAI's BlockArgs.from_string: 'r1_k3_s11_e1_i32_o16_se0.25' (repeats, kernel, stride per axis, expansion, filters in and out, SE ratio; '_noskip') */
export function blockArgsFromString(blockString: string): BlockArgs {
  const options = new Map<string, string>();
  for (const op of String(blockString).split('_')) {
    const at = op.search(/\d/);
    if (at >= 0) options.set(op.slice(0, at), op.slice(at));
  }
  const int = (key: string, what: string): number => {
    const v = options.get(key);
    if (v === undefined || !/^\d+$/.test(v)) throw new Error(`blockArgsFromString: '${blockString}' needs ${what} as ${key}<integer>`);
    return Number(v);
  };
  const s = options.get('s') ?? '';
  if (!/^\d{1,3}$/.test(s) || [...s].some((c) => c !== s[0])) {
    throw new Error(`blockArgsFromString: '${blockString}': invalid stride option 's${s}' (one digit per axis, all equal: s1, s22, s222)`);
  }
  const se = options.get('se');
  if (se !== undefined && !Number.isFinite(Number(se))) throw new Error(`blockArgsFromString: '${blockString}': invalid se option 'se${se}'`);
  return {
    numRepeat: int('r', 'the repeats'), kernelSize: int('k', 'the kernel size'), stride: Number(s[0]), expandRatio: int('e', 'the expansion ratio'),
    inputFilters: int('i', 'the input filters'), outputFilters: int('o', 'the output filters'),
    idSkip: !blockString.includes('noskip'), seRatio: se === undefined ? null : Number(se),
  };
}

/** MONAI's BlockArgs.to_string */
export function blockArgsToString(b: BlockArgs): string {
  const se = b.seRatio === null ? 'None' : Number.isInteger(b.seRatio) ? b.seRatio.toFixed(1) : String(b.seRatio);
  return `r${b.numRepeat}_k${b.kernelSize}_s${b.stride}${b.stride}_e${b.expandRatio}_i${b.inputFilters}_o${b.outputFilters}_se${se}${b.idSkip ? '' : '_noskip'}`;
}

/** the seven stacks of EfficientNet-B0, which width and depth scale into b1 … l2 */
export const efficientnetBlocksArgs: readonly string[] = [
  'r1_k3_s11_e1_i32_o16_se0.25', 'r2_k3_s22_e6_i16_o24_se0.25', 'r2_k5_s22_e6_i24_o40_se0.25', 'r3_k3_s22_e6_i40_o80_se0.25',
  'r3_k5_s11_e6_i80_o112_se0.25', 'r4_k5_s22_e6_i112_o192_se0.25', 'r1_k3_s11_e6_i192_o320_se0.25',
];

export type EfficientNetModelName =
  | 'efficientnet-b0' | 'efficientnet-b1' | 'efficientnet-b2' | 'efficientnet-b3' | 'efficientnet-b4'
  | 'efficientnet-b5' | 'efficientnet-b6' | 'efficientnet-b7' | 'efficientnet-b8' | 'efficientnet-l2';

/** MONAI's efficientnet_params: [width coefficient, depth coefficient, image size, dropout rate, drop-connect rate] */
export const efficientnetParams: Readonly<Record<EfficientNetModelName, readonly [number, number, number, number, number]>> = {
  'efficientnet-b0': [1.0, 1.0, 224, 0.2, 0.2],
  'efficientnet-b1': [1.0, 1.1, 240, 0.2, 0.2],
  'efficientnet-b2': [1.1, 1.2, 260, 0.3, 0.2],
  'efficientnet-b3': [1.2, 1.4, 300, 0.3, 0.2],
  'efficientnet-b4': [1.4, 1.8, 380, 0.4, 0.2],
  'efficientnet-b5': [1.6, 2.2, 456, 0.4, 0.2],
  'efficientnet-b6': [1.8, 2.6, 528, 0.5, 0.2],
  'efficientnet-b7': [2.0, 3.1, 600, 0.5, 0.2],
  'efficientnet-b8': [2.2, 3.6, 672, 0.5, 0.2],
  'efficientnet-l2': [4.3, 5.3, 800, 0.5, 0.2],
};

function paramsOf(modelName: string, who: string): readonly [number, number, number, number, number] {
  if (!Object.hasOwn(efficientnetParams, modelName)) {
    throw new Error(`${who}: invalid modelName '${String(modelName)}', must be one of ${Object.keys(efficientnetParams).join(', ')}`);
  }
  return efficientnetParams[modelName as EfficientNetModelName];
}

/** MONAI's get_efficientnet_image_size: the input size (per axis) the model is built for */
export function getEfficientnetImageSize(modelName: EfficientNetModelName): number {
  return paramsOf(modelName, 'getEfficientnetImageSize')[2];
}

/** MONAI's _round_filters: filters · width, to a multiple of the divisor (at least the divisor, at most 10 % down) */
export function roundFilters(filters: number, widthCoefficient: number, depthDivisor: number): number {
  if (!widthCoefficient) return filters;
  const scaled = filters * widthCoefficient;
  let rounded = Math.max(depthDivisor, Math.floor(Math.trunc(scaled + depthDivisor / 2) / depthDivisor) * depthDivisor);
  if (rounded < 0.9 * scaled) rounded += depthDivisor;
  return Math.trunc(rounded);
}

/** MONAI's _round_repeats: ⌈repeats · depth⌉ */
export function roundRepeats(repeats: number, depthCoefficient: number): number {
  return depthCoefficient ? Math.ceil(depthCoefficient * repeats) : repeats;
}

/**
 * MONAI's _make_same_padder for a cubic image of side `imageSize`: TensorFlow's 'SAME' padding of a convolution
 * (kernel, stride, dilation 1), the total max((⌈i/s⌉ − 1)·s + k − i, 0) split with the smaller half in front, as a
 * ConstantPad3d, or Identity where nothing is padded
 */
function samePadder(imageSize: number, kernel: number, stride: number): Layer {
  const total = Math.max((Math.ceil(imageSize / stride) - 1) * stride + kernel - imageSize, 0);
  if (total === 0) return new Identity();
  const lo = Math.floor(total / 2), hi = total - lo;
  return new ConstantPad3d([lo, hi, lo, hi, lo, hi], 0);
}

/**
 * MONAI's drop_connect: in training, each sample of the batch kept with probability 1 − p (and scaled by 1/(1 − p))
 * or zeroed whole; the input itself in evaluation. The mask is drawn from `seed`.
 */
export function dropConnect(x: Tensor, p: number, training: boolean, seed: number): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropConnect: p must be in range of [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  return tidy(() => mul(x, dropout(full([x.shape[0], ...x.shape.slice(1).map(() => 1)], 1, { dtype: x.dtype, backend: x.backend }), p, true, seed)));
}

/** the drop-connect masks of one MBConvBlock, seeded as the dropout layers (held by the block, not a module of MONAI's tree) */
class DropConnectMasks extends SeededDropout {
  protected drop(x: Tensor, training: boolean, seed: number): Tensor { return dropConnect(x, this.p, training, seed); }
}

interface BuildContext { norm: (channels: number, backend: Backend | undefined) => ChannelNorm; seed: number; backend: Backend | undefined }

/** a convolution initialised as MONAI's EfficientNet (TensorFlow's): weight N(0, 2/fan_out), fan_out = k³ · out channels; bias 0 */
function effConv(inChannels: number, outChannels: number, kernel: number, path: string, ctx: BuildContext,
  options: { stride?: number; groups?: number; bias?: boolean } = {}): Conv3d {
  const conv = new Conv3d(inChannels, outChannels, kernel, { bias: false, ...options, seed: deriveSeed(ctx.seed, path), backend: ctx.backend });
  normal_(conv.weight, 0, Math.sqrt(2 / (kernel ** 3 * outChannels)), { seed: deriveSeed(ctx.seed, `${path}.weight`) });
  if (conv.bias) zeros_(conv.bias);
  return conv;
}

/**
 * MONAI's MBConvBlock (mobile inverted bottleneck): a 1³ expansion to in·expandRatio channels (where the ratio is not
 * 1), a depthwise k³ convolution with the stride, squeeze-and-excitation (global average, 1³ reduce to
 * max(1, ⌊in·seRatio⌋) channels, swish, 1³ expand, sigmoid gate), a 1³ projection, each convolution followed by its
 * norm and (but the projection) swish; with idSkip, stride 1 and in = out, drop-connect then the input added.
 */
export class MBConvBlock extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly stride: number;
  readonly expandRatio: number;
  readonly idSkip: boolean;
  readonly hasSe: boolean;
  readonly dropConnectRate: number;
  readonly #masks: DropConnectMasks;

  constructor(inChannels: number, outChannels: number, kernel: number, stride: number, imageSize: number, expandRatio: number,
    seRatio: number | null, idSkip: boolean, dropConnectRate: number, path: string, ctx: BuildContext) {
    super();
    [this.inChannels, this.outChannels, this.stride, this.expandRatio, this.idSkip, this.dropConnectRate] = [inChannels, outChannels, stride, expandRatio, idSkip, dropConnectRate];
    this.hasSe = seRatio !== null && seRatio > 0 && seRatio <= 1;
    const oup = inChannels * expandRatio;
    const reg = (name: string, m: Module) => this.registerModule(name, m);
    if (expandRatio !== 1) {
      reg('_expand_conv', effConv(inChannels, oup, 1, `${path}._expand_conv`, ctx));
      reg('_expand_conv_padding', samePadder(imageSize, 1, 1));
      reg('_bn0', ctx.norm(oup, ctx.backend));
    } else {
      for (const name of ['_expand_conv', '_expand_conv_padding', '_bn0']) reg(name, new Identity());
    }
    reg('_depthwise_conv', effConv(oup, oup, kernel, `${path}._depthwise_conv`, ctx, { stride, groups: oup }));
    reg('_depthwise_conv_padding', samePadder(imageSize, kernel, stride));
    reg('_bn1', ctx.norm(oup, ctx.backend));
    if (this.hasSe) {
      const squeezed = Math.max(1, Math.trunc(inChannels * seRatio!));
      reg('_se_adaptpool', new AdaptiveAvgPool3d(1));
      reg('_se_reduce', effConv(oup, squeezed, 1, `${path}._se_reduce`, ctx, { bias: true }));
      reg('_se_reduce_padding', new Identity());
      reg('_se_expand', effConv(squeezed, oup, 1, `${path}._se_expand`, ctx, { bias: true }));
      reg('_se_expand_padding', new Identity());
    }
    reg('_project_conv', effConv(oup, outChannels, 1, `${path}._project_conv`, ctx));
    reg('_project_conv_padding', new Identity());
    reg('_bn2', ctx.norm(outChannels, ctx.backend));
    reg('_swish', new SiLU());
    this.#masks = new DropConnectMasks(dropConnectRate, { salt: deriveSeed(ctx.seed, `${path}.drop_connect`) });
  }

  private child(name: string): Layer { return this.getSubmodule(name) as Layer; }

  /** whether the input is added back (MONAI's condition for the skip connection and drop-connect) */
  get residual(): boolean { return this.idSkip && this.stride === 1 && this.inChannels === this.outChannels; }

  forward(inputs: Tensor): Tensor {
    return tidy(() => {
      const f = (name: string, x: Tensor) => this.child(name).forward(x);
      const swish = (x: Tensor) => f('_swish', x);
      let x = inputs;
      if (this.expandRatio !== 1) x = swish(f('_bn0', f('_expand_conv', f('_expand_conv_padding', x))));
      x = swish(f('_bn1', f('_depthwise_conv', f('_depthwise_conv_padding', x))));
      if (this.hasSe) {
        const squeezed = f('_se_expand', swish(f('_se_reduce', f('_se_adaptpool', x))));
        x = mul(sigmoid(squeezed), x);
      }
      x = f('_bn2', f('_project_conv', x));
      if (!this.residual) return x;
      // MONAI applies drop-connect where the rate is not 0 (the first block's is)
      return add(this.#masks.train(this.training).forward(x), inputs);
    });
  }

  /** the drop-connect masks follow `seed` as the dropout layers' do (Module.seedDropout) */
  setDropoutSeed(seed: number): void { this.#masks.setDropoutSeed(seed); }
  getDropoutState(): DropoutState { return this.#masks.getDropoutState(); }
  setDropoutState(state: DropoutState): void { this.#masks.setDropoutState(state); }
}

export interface EfficientNetOptions {
  /** the stacks, as MONAI's block strings ('r1_k3_s11_e1_i32_o16_se0.25', …; see blockArgsFromString) */
  blocksArgsStr: readonly string[];
  /** only 3 (MONAI's default 2 is not offered: this engine is 3-D) */
  spatialDims?: 3;
  /** default 3 */
  inChannels?: number;
  /** default 1000 */
  numClasses?: number;
  /** scales every stack's filters, the stem's 32 and the head's 1280 (roundFilters; default 1) */
  widthCoefficient?: number;
  /** scales every stack's repeats (⌈r · depth⌉; default 1) */
  depthCoefficient?: number;
  /** the dropout before the fully connected layer (default 0.2) */
  dropoutRate?: number;
  /** the side of the (cubic) input the static 'SAME' padding is worked out for (default 224) */
  imageSize?: number;
  /** default ['batch', { eps: 1e-3, momentum: 0.01 }] */
  norm?: NormSpec;
  /** block i of n drops its residual branch with probability rate · i / n in training (default 0.2) */
  dropConnectRate?: number;
  /** channels are rounded to multiples of this (default 8) */
  depthDivisor?: number;
  /** initialisation seed; each layer's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

function checkInteger(who: string, what: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`${who}: ${what} must be an integer ≥ ${min}, got ${v}`);
}

/** the network of MONAI's EfficientNet, its forward left to the class: classification or features */
abstract class EfficientNetBase extends Module {
  readonly inChannels: number;
  readonly numClasses: number;
  /** the stem's output channels (roundFilters(32)) */
  readonly stemChannels: number;
  readonly blocksArgs: readonly BlockArgs[];
  /** the stacks after which a feature map is taken (MONAI's extract_stacks: each stack that strides, and the last) */
  readonly extractStacks: readonly number[];
  readonly convStem: Conv3d;
  readonly blocks: Sequential;
  readonly fc: Linear;

  constructor(options: EfficientNetOptions, protected readonly who: string) {
    super();
    if ((options.spatialDims ?? 3) !== 3) throw new Error(`${who}: only spatialDims 3 is supported (MONAI's default 2 is not offered), got ${options.spatialDims}`);
    const args = [...options.blocksArgsStr ?? []].map(blockArgsFromString);
    if (args.length === 0) throw new Error(`${who}: blocksArgsStr must be non-empty`);
    this.inChannels = options.inChannels ?? 3;
    this.numClasses = options.numClasses ?? 1000;
    checkInteger(who, 'inChannels', this.inChannels, 1);
    checkInteger(who, 'numClasses', this.numClasses, 1);
    const width = options.widthCoefficient ?? 1, depth = options.depthCoefficient ?? 1, divisor = options.depthDivisor ?? 8;
    for (const [key, v] of [['widthCoefficient', width], ['depthCoefficient', depth]] as const) {
      if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new Error(`${who}: ${key} must be a positive number, got ${v}`);
    }
    checkInteger(who, 'depthDivisor', divisor, 1);
    let imageSize = options.imageSize ?? 224;
    checkInteger(who, 'imageSize', imageSize, 1);
    const dropoutRate = options.dropoutRate ?? 0.2, dropConnectRate = options.dropConnectRate ?? 0.2;
    for (const [key, v] of [['dropoutRate', dropoutRate], ['dropConnectRate', dropConnectRate]] as const) {
      if (!(typeof v === 'number' && v >= 0 && v < 1)) throw new Error(`${who}: ${key} must be in [0, 1), got ${v}`);
    }
    const ctx: BuildContext = {
      norm: monaiNormFactory(options.norm ?? ['batch', { eps: 1e-3, momentum: 0.01 }], who), seed: options.seed ?? nextSeed(), backend: options.backend,
    };

    const stem = this.stemChannels = roundFilters(32, width, divisor);
    this.convStem = this.registerModule('_conv_stem', effConv(this.inChannels, stem, 3, '_conv_stem', ctx, { stride: 2 }));
    this.registerModule('_conv_stem_padding', samePadder(imageSize, 3, 2));
    this.registerModule('_bn0', ctx.norm(stem, ctx.backend));
    imageSize = Math.ceil(imageSize / 2);

    this.blocksArgs = args.map((b) => ({
      ...b, inputFilters: roundFilters(b.inputFilters, width, divisor), outputFilters: roundFilters(b.outputFilters, width, divisor),
      numRepeat: roundRepeats(b.numRepeat, depth),
    }));
    this.blocksArgs.forEach((b, i) => {
      checkInteger(who, `stack ${i}'s repeats`, b.numRepeat, 1);
      checkInteger(who, `stack ${i}'s kernel size`, b.kernelSize, 1);
      checkInteger(who, `stack ${i}'s stride`, b.stride, 1);
      checkInteger(who, `stack ${i}'s expansion ratio`, b.expandRatio, 1);
    });
    this.extractStacks = [...this.blocksArgs.flatMap((b, i) => (b.stride > 1 ? [i] : [])), this.blocksArgs.length];
    const numBlocks = this.blocksArgs.reduce((s, b) => s + b.numRepeat, 0);
    let index = 0;
    this.blocks = this.registerModule('_blocks', new Sequential());
    for (const [stackIndex, b] of this.blocksArgs.entries()) {
      const stack = new Sequential();
      for (let r = 0; r < b.numRepeat; r++, index++) {
        // the first block of a stack strides and changes the channels; it works on the stack's input size
        const [inF, stride] = r === 0 ? [b.inputFilters, b.stride] : [b.outputFilters, 1];
        const path = `_blocks.${stackIndex}.${index}`;
        stack.addModule(String(index), new MBConvBlock(inF, b.outputFilters, b.kernelSize, stride, imageSize, b.expandRatio, b.seRatio, b.idSkip,
          dropConnectRate * index / numBlocks, path, ctx));
        if (r === 0) imageSize = Math.ceil(imageSize / b.stride);
      }
      this.blocks.addModule(String(stackIndex), stack);
    }

    const head = roundFilters(1280, width, divisor);
    this.registerModule('_conv_head', effConv(this.blocksArgs.at(-1)!.outputFilters, head, 1, '_conv_head', ctx));
    this.registerModule('_conv_head_padding', new Identity());
    this.registerModule('_bn1', ctx.norm(head, ctx.backend));
    this.registerModule('_avg_pooling', new AdaptiveAvgPool3d(1));
    this.registerModule('_dropout', new Dropout(dropoutRate, { salt: deriveSeed(ctx.seed, '_dropout') }));
    // MONAI's Linear init: U(±1/√fan_out) with fan_out = numClasses, bias 0
    const fc = new Linear(head, this.numClasses, { seed: deriveSeed(ctx.seed, '_fc'), backend: ctx.backend });
    uniform_(fc.weight, -1 / Math.sqrt(this.numClasses), 1 / Math.sqrt(this.numClasses), { seed: deriveSeed(ctx.seed, '_fc.weight') });
    zeros_(fc.bias!);
    this.fc = this.registerModule('_fc', fc);
    this.registerModule('_swish', new SiLU());
  }

  /** the channels of each feature map `features` returns */
  get featureChannels(): number[] {
    return this.extractStacks.map((i) => (i === 0 ? this.stemChannels : this.blocksArgs[i - 1].outputFilters));
  }

  protected layer(name: string): Layer { return this.getSubmodule(name) as Layer; }

  protected checkInput(x: Tensor): void {
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) {
      throw new Error(`${this.who}: input must be [N, ${this.inChannels}, D, H, W], got ${formatShape(x.shape)}`);
    }
  }

  /** MONAI's EfficientNetBNFeatures forward: the stem's output if stack 0 strides, then the output of each stack in extractStacks */
  features(inputs: Tensor): Tensor[] {
    this.checkInput(inputs);
    return tidy(() => {
      let x = this.layer('_swish').forward(this.layer('_bn0').forward(this.convStem.forward(this.layer('_conv_stem_padding').forward(inputs))));
      const out = this.extractStacks.includes(0) ? [x] : [];
      for (const [i, stack] of this.blocks.children().entries()) {
        x = (stack as Layer).forward(x);
        if (this.extractStacks.includes(i + 1)) out.push(x);
      }
      return out;
    });
  }
}

/**
 * `new EfficientNet({ blocksArgsStr, … })`, MONAI's EfficientNet: a 3³ stride-2 stem, the MBConv stacks, a 1³ head
 * to roundFilters(1280) channels, global average pooling, dropout and the fully connected layer `_fc`, swish after
 * every norm but the projections'. Input [N, inChannels, D, H, W]; output [N, numClasses].
 */
export class EfficientNet extends EfficientNetBase {
  constructor(options: EfficientNetOptions, who = 'EfficientNet') { super(options, who); }

  forward(inputs: Tensor): Tensor {
    return tidy(() => {
      const x = this.features(inputs).at(-1)!;
      const head = this.layer('_swish').forward(this.layer('_bn1').forward(this.layer('_conv_head').forward(x)));
      return this.fc.forward(this.layer('_dropout').forward(flatten(this.layer('_avg_pooling').forward(head), 1)));
    });
  }
}

export interface EfficientNetBNOptions extends Omit<EfficientNetOptions, 'blocksArgsStr' | 'widthCoefficient' | 'depthCoefficient' | 'dropoutRate' | 'imageSize' | 'dropConnectRate' | 'depthDivisor'> {
  /** efficientnet-b0 … efficientnet-b8, efficientnet-l2 */
  modelName: EfficientNetModelName;
  /**
   * MONAI's ImageNet weights (2-D only in MONAI, so never loaded in 3-D there either): not downloadable here, true is
   * an error; load a state dict with MONAI's keys instead (loadHostStateDict, loadModel). Default false.
   */
  pretrained?: boolean;
  /** MONAI's adv_prop (weights trained with adversarial examples): only meaningful with pretrained */
  advProp?: boolean;
}

function bnOptions(options: EfficientNetBNOptions, who: string): EfficientNetOptions {
  const [widthCoefficient, depthCoefficient, imageSize, dropoutRate, dropConnectRate] = paramsOf(options.modelName, who);
  if (options.pretrained) {
    throw new Error(`${who}: pretrained weights cannot be downloaded here (MONAI's are ImageNet weights for 2-D networks); `
      + 'build with pretrained false and load a state dict with MONAI\'s keys (loadHostStateDict(net, decodeSafetensors(bytes).tensors), or loadModel)');
  }
  const { modelName: _m, pretrained: _p, advProp: _a, ...rest } = options;
  return { ...rest, blocksArgsStr: efficientnetBlocksArgs, widthCoefficient, depthCoefficient, imageSize, dropoutRate, dropConnectRate };
}

/** `new EfficientNetBN({ modelName: 'efficientnet-b0', … })`, MONAI's EfficientNetBN: EfficientNet scaled as the named model (efficientnetParams) */
export class EfficientNetBN extends EfficientNet {
  readonly modelName: EfficientNetModelName;
  constructor(options: EfficientNetBNOptions) {
    super(bnOptions(options, 'EfficientNetBN'), 'EfficientNetBN');
    this.modelName = options.modelName;
  }
}

/**
 * `new EfficientNetBNFeatures({ modelName, … })`, MONAI's EfficientNetBNFeatures (and EfficientNetEncoder, the
 * FlexibleUNet backbone): EfficientNetBN's network and state dict (head and `_fc` included, unused), whose forward
 * returns the five feature maps (strides 2, 4, 8, 16, 32).
 */
export class EfficientNetBNFeatures extends EfficientNetBase {
  readonly modelName: EfficientNetModelName;
  constructor(options: EfficientNetBNOptions) {
    super(bnOptions(options, 'EfficientNetBNFeatures'), 'EfficientNetBNFeatures');
    this.modelName = options.modelName;
  }

  forward(inputs: Tensor): Tensor[] { return this.features(inputs); }
}
