import { concat } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Flatten } from './activations.js';
import { kaimingNormal_, zeros_ } from './init.js';
import { Conv3d, Dropout3d, Linear, MaxPool3d, type ChannelNorm } from './layers.js';
import { Layer, Sequential, deriveSeed, nextSeed } from './module.js';
import { actLayerNamed, normLayerNamed, type ActSpec, type NormSpec } from './norm-act.js';
import { AdaptiveAvgPool3d, AvgPool3d } from './pooling.js';
import { checkCount } from './transformer-checks.js';

/**
 * MONAI's DenseNet (monai/networks/nets/densenet.py, after Huang et al.'s densely connected networks), 3-D only,
 * with MONAI's module tree: the state dict has MONAI's keys (`features.conv0.weight`, `features.norm0.running_mean`,
 * `features.denseblock1.denselayer1.layers.norm1.weight`, `features.transition1.conv.weight`, `features.norm5.bias`,
 * `class_layers.out.weight`, …) and MONAI's initialisation: He-normal convolution weights (fan_in, gain √2), batch
 * norms weight 1 and bias 0, the classifier's bias 0 (its weight PyTorch's default).
 */

export interface DenseNetOptions {
  /** only 3 (the 1-D and 2-D forms are not offered) */
  spatialDims?: 3;
  inChannels: number;
  outChannels: number;
  /** channels of the first convolution (default 64) */
  initFeatures?: number;
  /** channels each dense layer adds (k in the paper; default 32) */
  growthRate?: number;
  /** dense layers per block (default DenseNet121's [6, 12, 24, 16]) */
  blockConfig?: readonly number[];
  /** a dense layer's bottleneck has bnSize · growthRate channels (default 4) */
  bnSize?: number;
  /** default 'relu' */
  act?: ActSpec;
  /** default 'batch' */
  norm?: NormSpec;
  /** a Dropout3d with this probability after every dense layer's convolutions where > 0 (default 0: none) */
  dropoutProb?: number;
  /** initialisation seed; each layer's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

interface BlockContext { act: ActSpec; norm: NormSpec; seed: number; backend: Backend | undefined }

function normLayer(channels: number, ctx: BlockContext): ChannelNorm { return normLayerNamed('DenseNet', 'norm', ctx.norm, channels, ctx.backend); }

function actLayer(ctx: BlockContext): Layer { return actLayerNamed('DenseNet', 'act', ctx.act); }

/** a Conv3d without bias, its weight He-normal (kaiming_normal_'s defaults: fan_in, leaky_relu with a = 0), as MONAI's DenseNet init */
function denseConv(inChannels: number, outChannels: number, kernelSize: number, path: string, ctx: BlockContext,
  options: { stride?: number; padding?: number } = {}): Conv3d {
  const conv = new Conv3d(inChannels, outChannels, kernelSize, { ...options, bias: false, seed: deriveSeed(ctx.seed, path), backend: ctx.backend });
  kaimingNormal_(conv.weight, { seed: deriveSeed(ctx.seed, `${path}.weight`) });
  return conv;
}

/**
 * MONAI's _DenseLayer: `layers` = norm1, relu1, conv1 (1³ to bnSize · growthRate), norm2, relu2, conv2 (3³ to
 * growthRate), and a Dropout3d where dropoutProb > 0; the output is the input with the new growthRate channels
 * appended.
 */
export class DenseLayer extends Layer {
  readonly layers: Sequential;

  constructor(inChannels: number, growthRate: number, bnSize: number, dropoutProb: number, path: string, ctx: BlockContext) {
    super();
    const bottleneck = bnSize * growthRate;
    this.layers = this.registerModule('layers', new Sequential()
      .addModule('norm1', normLayer(inChannels, ctx))
      .addModule('relu1', actLayer(ctx))
      .addModule('conv1', denseConv(inChannels, bottleneck, 1, `${path}.layers.conv1`, ctx))
      .addModule('norm2', normLayer(bottleneck, ctx))
      .addModule('relu2', actLayer(ctx))
      .addModule('conv2', denseConv(bottleneck, growthRate, 3, `${path}.layers.conv2`, ctx, { padding: 1 })));
    if (dropoutProb > 0) this.layers.addModule('dropout', new Dropout3d(dropoutProb, { salt: deriveSeed(ctx.seed, `${path}.layers.dropout`) }));
  }

  override get typeName(): string { return '_DenseLayer'; }

  forward(x: Tensor): Tensor {
    return tidy(() => concat([x, this.layers.forward(x)], 1));
  }
}

/** MONAI's _DenseBlock: dense layers `denselayer1` … `denselayerN`, each adding growthRate channels */
export class DenseBlock extends Sequential {
  constructor(layers: number, inChannels: number, bnSize: number, growthRate: number, dropoutProb: number, path: string, ctx: BlockContext) {
    super();
    for (let i = 0; i < layers; i++) {
      this.addModule(`denselayer${i + 1}`, new DenseLayer(inChannels + i * growthRate, growthRate, bnSize, dropoutProb, `${path}.denselayer${i + 1}`, ctx));
    }
  }

  override get typeName(): string { return '_DenseBlock'; }
}

/** MONAI's _Transition between dense blocks: norm, relu, conv (1³, no bias), pool (2³ average, stride 2) */
export class DenseTransition extends Sequential {
  constructor(inChannels: number, outChannels: number, path: string, ctx: BlockContext) {
    super();
    this.addModule('norm', normLayer(inChannels, ctx))
      .addModule('relu', actLayer(ctx))
      .addModule('conv', denseConv(inChannels, outChannels, 1, `${path}.conv`, ctx))
      .addModule('pool', new AvgPool3d(2, { stride: 2 }));
  }

  override get typeName(): string { return '_Transition'; }
}

/**
 * `new DenseNet({ inChannels, outChannels, … })`, MONAI's DenseNet with its defaults (DenseNet121's blocks):
 * `features` = conv0 (7³, stride 2, padding 3, no bias), norm0, relu0, pool0 (3³ max, stride 2, padding 1), then
 * per block `denseblockI` and, between blocks, `transitionI` halving the channels (⌊c/2⌋) and the size, and norm5
 * after the last; `class_layers` = relu, pool (global average), flatten, out (Linear).
 * Input [N, inChannels, D, H, W]; output [N, outChannels].
 */
export class DenseNet extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly blockConfig: readonly number[];
  /** channels of the last block's output (the classifier's input) */
  readonly numFeatures: number;
  readonly features: Sequential;
  readonly classLayers: Sequential;

  constructor(options: DenseNetOptions) {
    super();
    const spatialDims: number = options.spatialDims ?? 3;
    if (spatialDims !== 3) throw new Error(`DenseNet: only spatialDims 3 is supported, got ${spatialDims}`);
    this.inChannels = options.inChannels;
    this.outChannels = options.outChannels;
    checkCount('DenseNet', 'inChannels', this.inChannels, 1);
    checkCount('DenseNet', 'outChannels', this.outChannels, 1);
    const initFeatures = options.initFeatures ?? 64, growthRate = options.growthRate ?? 32, bnSize = options.bnSize ?? 4;
    checkCount('DenseNet', 'initFeatures', initFeatures, 1);
    checkCount('DenseNet', 'growthRate', growthRate, 1);
    checkCount('DenseNet', 'bnSize', bnSize, 1);
    this.blockConfig = [...(options.blockConfig ?? [6, 12, 24, 16])];
    if (this.blockConfig.length === 0) throw new Error('DenseNet: blockConfig needs at least one block');
    this.blockConfig.forEach((n) => checkCount('DenseNet', 'every entry of blockConfig', n, 1));
    const dropoutProb = options.dropoutProb ?? 0;
    if (!(dropoutProb >= 0 && dropoutProb < 1)) throw new Error(`DenseNet: dropoutProb must be in [0, 1), got ${dropoutProb}`);
    const ctx: BlockContext = { act: options.act ?? 'relu', norm: options.norm ?? 'batch', seed: options.seed ?? nextSeed(), backend: options.backend };

    this.features = this.registerModule('features', new Sequential()
      .addModule('conv0', denseConv(this.inChannels, initFeatures, 7, 'features.conv0', ctx, { stride: 2, padding: 3 }))
      .addModule('norm0', normLayer(initFeatures, ctx))
      .addModule('relu0', actLayer(ctx))
      .addModule('pool0', new MaxPool3d(3, { stride: 2, padding: 1 })));
    let channels = initFeatures;
    this.blockConfig.forEach((layers, i) => {
      this.features.addModule(`denseblock${i + 1}`, new DenseBlock(layers, channels, bnSize, growthRate, dropoutProb, `features.denseblock${i + 1}`, ctx));
      channels += layers * growthRate;
      if (i === this.blockConfig.length - 1) {
        this.features.addModule('norm5', normLayer(channels, ctx));
      } else {
        const out = Math.floor(channels / 2);
        this.features.addModule(`transition${i + 1}`, new DenseTransition(channels, out, `features.transition${i + 1}`, ctx));
        channels = out;
      }
    });
    this.numFeatures = channels;
    const out = new Linear(channels, this.outChannels, { seed: deriveSeed(ctx.seed, 'class_layers.out'), backend: ctx.backend });
    zeros_(out.bias!);
    this.classLayers = this.registerModule('class_layers', new Sequential()
      .addModule('relu', actLayer(ctx))
      .addModule('pool', new AdaptiveAvgPool3d(1))
      .addModule('flatten', new Flatten(1))
      .addModule('out', out));
  }

  /**
   * The spatial sizes through conv0, pool0 and the transitions' average pools; throws naming the first that would
   * leave no voxel along an axis.
   */
  private checkSizes(x: Tensor): void {
    let size = x.shape.slice(2);
    const steps: [string, (n: number) => number][] = [
      ['conv0 (7³, stride 2, padding 3)', (n) => Math.floor((n - 1) / 2) + 1],
      ['pool0 (3³ max, stride 2, padding 1)', (n) => Math.floor((n - 1) / 2) + 1],
      ...this.blockConfig.slice(1).map((_, i): [string, (n: number) => number] => [`transition${i + 1}'s 2³ average pool`, (n) => Math.floor(n / 2)]),
    ];
    for (const [what, next] of steps) {
      const after = size.map(next);
      if (after.some((n) => n < 1)) {
        throw new Error(`DenseNet: input ${formatShape(x.shape)} is too small: ${what} turns [${size.join(', ')}] into [${after.join(', ')}]`);
      }
      size = after;
    }
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) {
      throw new Error(`DenseNet: input must be [N, ${this.inChannels}, D, H, W], got ${formatShape(x.shape)}`);
    }
    this.checkSizes(x);
    return tidy(() => this.classLayers.forward(this.features.forward(x)));
  }
}

/** MONAI's DenseNet121: blocks [6, 12, 24, 16] (no pretrained weights: MONAI has none for 3-D) */
export class DenseNet121 extends DenseNet {
  constructor(options: DenseNetOptions) { super({ ...options, blockConfig: options.blockConfig ?? [6, 12, 24, 16] }); }
}

/** MONAI's DenseNet169: blocks [6, 12, 32, 32] */
export class DenseNet169 extends DenseNet {
  constructor(options: DenseNetOptions) { super({ ...options, blockConfig: options.blockConfig ?? [6, 12, 32, 32] }); }
}

/** MONAI's DenseNet201: blocks [6, 12, 48, 32] */
export class DenseNet201 extends DenseNet {
  constructor(options: DenseNetOptions) { super({ ...options, blockConfig: options.blockConfig ?? [6, 12, 48, 32] }); }
}

/** MONAI's DenseNet264: blocks [6, 12, 64, 48] */
export class DenseNet264 extends DenseNet {
  constructor(options: DenseNetOptions) { super({ ...options, blockConfig: options.blockConfig ?? [6, 12, 64, 48] }); }
}
