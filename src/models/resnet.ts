import { avgPool3d } from '../autograd/nn.js';
import { add, concat, detach, flatten } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { zeros } from '../tensor/creation.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { kaimingNormal_, zeros_ } from './init.js';
import { BatchNorm3d, Conv3d, Linear, MaxPool3d, ReLU, triple, type IntOrTriple } from './layers.js';
import { AdaptiveAvgPool3d } from './pooling.js';
import { Layer, Module, Sequential, deriveSeed, nextSeed } from './module.js';
import { normThenAct } from './norm-act.js';

/**
 * MONAI's ResNet (monai/networks/nets/resnet.py, after Hara et al.'s 3D-ResNets), 3-D only, with MONAI's module tree:
 * the state dict has MONAI's keys (`conv1.weight`, `bn1.running_mean`, `layer1.0.conv1.weight`,
 * `layer2.0.downsample.0.bias`, `fc.weight`, …), so MONAI's (and MedicalNet's) checkpoints load through safetensors.
 * As in MONAI, the blocks always use BatchNorm3d and ReLU.
 */

export type ResNetBlockType = 'basic' | 'bottleneck';
export type ResNetShortcutType = 'A' | 'B';

export interface ResNetOptions {
  /** 'basic' (ResNetBlock, two 3³ convs) or 'bottleneck' (ResNetBottleneck: 1³, 3³, 1³ convs, ×4 channels) */
  block: ResNetBlockType;
  /** blocks in each of the four stages */
  layers: readonly [number, number, number, number];
  /** channels of each of the four stages (before widenFactor and the bottleneck's ×4) */
  blockInplanes: readonly [number, number, number, number];
  /** only 3 (the 1-D and 2-D forms are not offered) */
  spatialDims?: 3;
  /** default 3 */
  nInputChannels?: number;
  /** kernel of the first convolution, padded by ⌊k/2⌋ (default 7) */
  conv1TSize?: IntOrTriple;
  /** stride of the first convolution (default 1) */
  conv1TStride?: IntOrTriple;
  /** skip the 3³ stride-2 max pool after the first convolution (default false) */
  noMaxPool?: boolean;
  /**
   * where a block changes the stride or the channels, its shortcut: 'B' (default), a 1³ conv with the stride and a
   * BatchNorm3d; 'A', MONAI's _downsample_basic_block: the input subsampled by the stride (a 1³ average pool) with
   * zero channels appended, detached as MONAI's (`out.data`): no gradient flows back through it
   */
  shortcutType?: ResNetShortcutType;
  /** multiplies blockInplanes (each ⌊inplanes · widenFactor⌋; default 1) */
  widenFactor?: number;
  /** default 400 */
  numClasses?: number;
  /** whether the network ends with the fully connected layer `fc`; without it, forward returns the pooled features (default true) */
  feedForward?: boolean;
  /** whether shortcut 'B''s 1³ conv has a bias (default true, as MONAI's) */
  biasDownsample?: boolean;
  /** initialisation seed; each layer's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

interface BlockContext { seed: number; backend: Backend | undefined }

/** a Conv3d without bias, its weight He-normal for ReLU with fan_out (MONAI's ResNet init) */
function resNetConv(inChannels: number, outChannels: number, kernelSize: IntOrTriple, path: string, ctx: BlockContext,
  options: { stride?: IntOrTriple; padding?: IntOrTriple; bias?: boolean } = {}): Conv3d {
  const conv = new Conv3d(inChannels, outChannels, kernelSize, { bias: false, ...options, seed: deriveSeed(ctx.seed, path), backend: ctx.backend });
  kaimingNormal_(conv.weight, { mode: 'fan_out', nonlinearity: 'relu', seed: deriveSeed(ctx.seed, `${path}.weight`) });
  return conv;
}

/** MONAI's _downsample_basic_block (shortcut 'A'): x subsampled by the stride, zero channels up to `planes`, detached */
function zeroPadShortcut(x: Tensor, planes: number, stride: number): Tensor {
  return tidy(() => {
    const y = avgPool3d(detach(x), 1, { stride });
    const padding = zeros([y.shape[0], planes - y.shape[1], ...y.shape.slice(2)], { dtype: y.dtype, backend: y.backend });
    return concat([y, padding], 1);
  });
}

/** where a block changes the stride or the channels, its shortcut: 'A' (a function, no module: MONAI's partial) or 'B' (a module) */
type Shortcut = { type: 'A'; planes: number; stride: number } | { type: 'B'; downsample: Sequential };

function shortcut(inPlanes: number, outPlanes: number, stride: number, type: ResNetShortcutType, bias: boolean, path: string, ctx: BlockContext): Shortcut | null {
  if (stride === 1 && inPlanes === outPlanes) return null;
  if (type === 'A') {
    if (outPlanes < inPlanes) throw new Error(`ResNet: ${path}: shortcut 'A' cannot narrow ${inPlanes} channels to ${outPlanes}; use shortcutType 'B'`);
    return { type: 'A', planes: outPlanes, stride };
  }
  return { type: 'B', downsample: new Sequential(resNetConv(inPlanes, outPlanes, 1, `${path}.0`, ctx, { stride, bias }), new BatchNorm3d(outPlanes, { backend: ctx.backend })) };
}

/** a block's residual: the input, or its shortcut ('B' registered as the block's `downsample`) */
abstract class ResidualBlock extends Layer {
  private shortcut: Shortcut | null = null;

  protected setShortcut(s: Shortcut | null): void {
    this.shortcut = s;
    if (s?.type === 'B') this.registerModule('downsample', s.downsample);
  }

  protected residual(x: Tensor): Tensor {
    const s = this.shortcut;
    if (!s) return x;
    return s.type === 'A' ? zeroPadShortcut(x, s.planes, s.stride) : s.downsample.forward(x);
  }
}

/** MONAI's ResNetBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), 3³ convs, conv1 with the stride */
export class ResNetBlock extends ResidualBlock {
  static readonly expansion = 1;
  readonly conv1: Conv3d;
  readonly bn1: BatchNorm3d;
  readonly act: ReLU;
  readonly conv2: Conv3d;
  readonly bn2: BatchNorm3d;

  constructor(inPlanes: number, planes: number, stride: number, downsample: Shortcut | null, path: string, ctx: BlockContext) {
    super();
    this.conv1 = this.registerModule('conv1', resNetConv(inPlanes, planes, 3, `${path}.conv1`, ctx, { stride, padding: 1 }));
    this.bn1 = this.registerModule('bn1', new BatchNorm3d(planes, { backend: ctx.backend }));
    this.act = this.registerModule('act', new ReLU());
    this.conv2 = this.registerModule('conv2', resNetConv(planes, planes, 3, `${path}.conv2`, ctx, { padding: 1 }));
    this.bn2 = this.registerModule('bn2', new BatchNorm3d(planes, { backend: ctx.backend }));
    this.setShortcut(downsample);
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const y = this.bn2.forward(this.conv2.forward(normThenAct(this.bn1, this.act, this.conv1.forward(x))));
      return this.act.forward(add(y, this.residual(x)));
    });
  }
}

/** MONAI's ResNetBottleneck: 1³ conv to planes, 3³ conv with the stride, 1³ conv to 4·planes, each with its BatchNorm3d, plus shortcut(x) */
export class ResNetBottleneck extends ResidualBlock {
  static readonly expansion = 4;
  readonly conv1: Conv3d;
  readonly bn1: BatchNorm3d;
  readonly conv2: Conv3d;
  readonly bn2: BatchNorm3d;
  readonly conv3: Conv3d;
  readonly bn3: BatchNorm3d;
  readonly act: ReLU;

  constructor(inPlanes: number, planes: number, stride: number, downsample: Shortcut | null, path: string, ctx: BlockContext) {
    super();
    const backend = ctx.backend;
    this.conv1 = this.registerModule('conv1', resNetConv(inPlanes, planes, 1, `${path}.conv1`, ctx));
    this.bn1 = this.registerModule('bn1', new BatchNorm3d(planes, { backend }));
    this.conv2 = this.registerModule('conv2', resNetConv(planes, planes, 3, `${path}.conv2`, ctx, { stride, padding: 1 }));
    this.bn2 = this.registerModule('bn2', new BatchNorm3d(planes, { backend }));
    this.conv3 = this.registerModule('conv3', resNetConv(planes, planes * 4, 1, `${path}.conv3`, ctx));
    this.bn3 = this.registerModule('bn3', new BatchNorm3d(planes * 4, { backend }));
    this.act = this.registerModule('act', new ReLU());
    this.setShortcut(downsample);
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const y = normThenAct(this.bn2, this.act, this.conv2.forward(normThenAct(this.bn1, this.act, this.conv1.forward(x))));
      return this.act.forward(add(this.bn3.forward(this.conv3.forward(y)), this.residual(x)));
    });
  }
}

function checkCount(what: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new Error(`ResNet: ${what} must be an integer ≥ ${min}, got ${value}`);
}

/**
 * `new ResNet({ block, layers, blockInplanes, … })`, MONAI's ResNet with its defaults: conv1 (conv1TSize,
 * conv1TStride), bn1, ReLU, a 3³ stride-2 max pool (unless noMaxPool), four stages of blocks (the first block of
 * stages 2–4 strides by 2), a global average pool, and the fully connected layer `fc` (with feedForward).
 * Input [N, nInputChannels, D, H, W]; output [N, numClasses] (without fc: [N, channels of the last stage]).
 */
export class ResNet extends Module {
  readonly block: ResNetBlockType;
  readonly nInputChannels: number;
  readonly noMaxPool: boolean;
  readonly conv1: Conv3d;
  readonly bn1: BatchNorm3d;
  readonly act: ReLU;
  readonly maxpool: MaxPool3d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly avgpool: AdaptiveAvgPool3d;
  readonly fc: Linear | null;

  constructor(options: ResNetOptions) {
    super();
    const spatialDims: number = options.spatialDims ?? 3;
    if (spatialDims !== 3) throw new Error(`ResNet: only spatialDims 3 is supported, got ${spatialDims}`);
    this.block = options.block;
    if (this.block !== 'basic' && this.block !== 'bottleneck') throw new Error(`ResNet: unknown block '${String(this.block)}'; valid: basic, bottleneck`);
    if (options.layers.length !== 4 || options.blockInplanes.length !== 4) {
      throw new Error(`ResNet: layers [${options.layers.join(', ')}] and blockInplanes [${options.blockInplanes.join(', ')}] need one entry per stage (4)`);
    }
    options.layers.forEach((n) => checkCount('every entry of layers', n, 1));
    const widen = options.widenFactor ?? 1;
    const inplanes = options.blockInplanes.map((c) => Math.floor(c * widen));
    inplanes.forEach((c) => checkCount('every entry of blockInplanes · widenFactor', c, 1));
    this.nInputChannels = options.nInputChannels ?? 3;
    checkCount('nInputChannels', this.nInputChannels, 1);
    const numClasses = options.numClasses ?? 400;
    checkCount('numClasses', numClasses, 1);
    const shortcutType = options.shortcutType ?? 'B';
    if (shortcutType !== 'A' && shortcutType !== 'B') throw new Error(`ResNet: shortcutType '${String(shortcutType)}' is not supported; valid: A, B`);
    this.noMaxPool = options.noMaxPool ?? false;
    const ctx: BlockContext = { seed: options.seed ?? nextSeed(), backend: options.backend };
    const backend = ctx.backend;

    const kernel = triple(options.conv1TSize ?? 7, 'ResNet conv1TSize');
    this.conv1 = this.registerModule('conv1', resNetConv(this.nInputChannels, inplanes[0], kernel, 'conv1', ctx, {
      stride: triple(options.conv1TStride ?? 1, 'ResNet conv1TStride'), padding: kernel.map((k) => Math.floor(k / 2)) as unknown as IntOrTriple,
    }));
    this.bn1 = this.registerModule('bn1', new BatchNorm3d(inplanes[0], { backend }));
    this.act = this.registerModule('act', new ReLU());
    this.maxpool = this.registerModule('maxpool', new MaxPool3d(3, { stride: 2, padding: 1 }));
    const Block = this.block === 'basic' ? ResNetBlock : ResNetBottleneck;
    let inPlanes = inplanes[0];
    const stages = options.layers.map((blocks, i) => {
      const planes = inplanes[i], stride = i === 0 ? 1 : 2, outPlanes = planes * Block.expansion, path = `layer${i + 1}`;
      const first = new Block(inPlanes, planes, stride,
        shortcut(inPlanes, outPlanes, stride, shortcutType, options.biasDownsample ?? true, `${path}.0.downsample`, ctx), `${path}.0`, ctx);
      inPlanes = outPlanes;
      return this.registerModule(path, new Sequential(first,
        ...Array.from({ length: blocks - 1 }, (_, j) => new Block(outPlanes, planes, 1, null, `${path}.${j + 1}`, ctx))));
    });
    [this.layer1, this.layer2, this.layer3, this.layer4] = stages as [Sequential, Sequential, Sequential, Sequential];
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool3d([1, 1, 1]));
    if (options.feedForward ?? true) {
      const fc = new Linear(inPlanes, numClasses, { seed: deriveSeed(ctx.seed, 'fc'), backend });
      zeros_(fc.bias!);
      this.fc = this.registerModule('fc', fc);
    } else this.fc = null;
  }

  /**
   * MONAI's ResNetFeatures forward (the encoder of FlexibleUNet): the activation after conv1 (before the max pool),
   * then the output of each of the four stages
   */
  features(x: Tensor): Tensor[] {
    if (x.rank !== 5 || x.shape[1] !== this.nInputChannels) {
      throw new Error(`ResNet: input must be [N, ${this.nInputChannels}, D, H, W], got ${formatShape(x.shape)}`);
    }
    return tidy(() => {
      const out = [normThenAct(this.bn1, this.act, this.conv1.forward(x))];
      let y = this.noMaxPool ? out[0] : this.maxpool.forward(out[0]);
      for (const stage of [this.layer1, this.layer2, this.layer3, this.layer4]) out.push(y = stage.forward(y));
      return out;
    });
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const features = flatten(this.avgpool.forward(this.features(x)[4]), 1);
      return this.fc ? this.fc.forward(features) : features;
    });
  }
}

export type ResNetVariantOptions = Omit<ResNetOptions, 'block' | 'layers' | 'blockInplanes'>;

/** MONAI's resnet10: basic blocks [1, 1, 1, 1], channels [64, 128, 256, 512] (no pretrained weights: load them with loadModel) */
export function resnet10(options: ResNetVariantOptions = {}): ResNet {
  return new ResNet({ block: 'basic', layers: [1, 1, 1, 1], blockInplanes: [64, 128, 256, 512], ...options });
}

/** MONAI's resnet18: basic blocks [2, 2, 2, 2], channels [64, 128, 256, 512] */
export function resnet18(options: ResNetVariantOptions = {}): ResNet {
  return new ResNet({ block: 'basic', layers: [2, 2, 2, 2], blockInplanes: [64, 128, 256, 512], ...options });
}

/** MONAI's resnet34: basic blocks [3, 4, 6, 3], channels [64, 128, 256, 512] */
export function resnet34(options: ResNetVariantOptions = {}): ResNet {
  return new ResNet({ block: 'basic', layers: [3, 4, 6, 3], blockInplanes: [64, 128, 256, 512], ...options });
}

/** MONAI's resnet50: bottleneck blocks [3, 4, 6, 3], channels [64, 128, 256, 512] (×4 out of each block) */
export function resnet50(options: ResNetVariantOptions = {}): ResNet {
  return new ResNet({ block: 'bottleneck', layers: [3, 4, 6, 3], blockInplanes: [64, 128, 256, 512], ...options });
}
