import type { Backend } from '../kernels/backend.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { triple, type IntOrTriple } from './layers.js';
import { Layer, Module, Sequential, deriveSeed, nextSeed } from './module.js';
import {
  MonaiConvolution, ResidualUnit, SkipConnection, checkAdnOrdering, monaiActFactory, monaiNormFactory, samePadding, type MonaiActSpec,
} from './monai-blocks.js';
import type { NormSpec } from './norm-act.js';

/**
 * MONAI's UNet (monai/networks/nets/unet.py: Kerfoot et al.'s U-Net with residual units), 3-D only, exported as
 * MonaiUNet (voxgrad's UNet is the BasicUNet-like network of the examples). MONAI's module tree: `model` is
 * Sequential(down, SkipConnection(the next level), up) per level, recursively, the innermost skip holding the bottom
 * layer; a down layer is a Convolution (numResUnits 0) or a ResidualUnit with the level's stride, an up layer a
 * transposed Convolution with the level's stride (only its convolution at the top without residual units), followed by
 * a one-convolution ResidualUnit when numResUnits > 0. State-dict keys as MONAI's: `model.0.conv.weight`,
 * `model.0.adn.A.weight` (PReLU), `model.1.submodule.0.conv.unit0.conv.weight`, `model.0.residual.weight`, …
 * PyTorch's default initialisation (MONAI initialises nothing itself).
 */

export interface MonaiUNetOptions {
  /** only 3 */
  spatialDims?: 3;
  inChannels: number;
  outChannels: number;
  /** channels per level, top first (at least 2; the last is the bottom layer's) */
  channels: readonly number[];
  /** the stride of each level's down (and up) convolution: channels.length − 1 of them (more are ignored, with a warning) */
  strides: readonly IntOrTriple[];
  /** the convolutions' kernel, odd (default 3) */
  kernelSize?: IntOrTriple;
  /** the transposed convolutions' kernel, odd (default 3) */
  upKernelSize?: IntOrTriple;
  /** residual units' convolutions per down layer; 0: plain Convolutions (default 0) */
  numResUnits?: number;
  /** default 'prelu' */
  act?: MonaiActSpec;
  /** default 'instance' (no affine parameters) */
  norm?: NormSpec;
  /** the dropout probability of every ADN (default 0: a Dropout(p = 0) in each, as MONAI's) */
  dropout?: number;
  /** the convolutions' biases (default true) */
  bias?: boolean;
  /** the order of norm (N), dropout (D) and activation (A) after each convolution (default 'NDA') */
  adnOrdering?: string;
  /** initialisation seed; each layer's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

const positiveInteger = (n: unknown): boolean => Number.isInteger(n) && (n as number) > 0;

export class MonaiUNet extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly channels: readonly number[];
  /** the strides used, one per level but the bottom */
  readonly strides: readonly (readonly [number, number, number])[];
  readonly numResUnits: number;
  readonly model: Sequential;

  constructor(options: MonaiUNetOptions) {
    super();
    const who = 'MonaiUNet';
    if ((options.spatialDims ?? 3) !== 3) throw new Error(`${who}: only spatialDims 3 is supported, got ${options.spatialDims}`);
    for (const key of ['inChannels', 'outChannels'] as const) {
      if (!positiveInteger(options[key])) throw new Error(`${who}: ${key} must be a positive integer, got ${options[key]}`);
    }
    this.inChannels = options.inChannels;
    this.outChannels = options.outChannels;
    const channels = options.channels, strides = options.strides;
    if (!Array.isArray(channels) || channels.length < 2 || !channels.every(positiveInteger)) {
      throw new Error(`${who}: channels must be at least 2 positive integers (top level first), got ${JSON.stringify(channels)}`);
    }
    if (!Array.isArray(strides) || strides.length < channels.length - 1) {
      throw new Error(`${who}: strides must have one entry per level but the bottom (channels.length − 1 = ${channels.length - 1}), got ${JSON.stringify(strides)}`);
    }
    if (strides.length > channels.length - 1) {
      console.warn(`${who}: strides has ${strides.length} entries, more than channels.length − 1 = ${channels.length - 1}; the last ${strides.length - channels.length + 1} are not used`);
    }
    this.channels = [...channels];
    this.strides = strides.slice(0, channels.length - 1).map((s, i) => {
      const t = triple(s, `${who} strides[${i}]`);
      if (t.some((v) => v < 1)) throw new Error(`${who}: strides[${i}] must be positive, got ${formatShape(t)}`);
      return t;
    });
    const kernelSize = options.kernelSize ?? 3, upKernelSize = options.upKernelSize ?? 3;
    samePadding(kernelSize, 1, `${who} kernelSize`);
    samePadding(upKernelSize, 1, `${who} upKernelSize`);
    const numResUnits = this.numResUnits = options.numResUnits ?? 0;
    if (!Number.isInteger(numResUnits) || numResUnits < 0) throw new Error(`${who}: numResUnits must be an integer ≥ 0, got ${numResUnits}`);
    const dropout = options.dropout ?? 0;
    if (typeof dropout !== 'number' || !(dropout >= 0 && dropout <= 1)) throw new Error(`${who}: dropout must be in [0, 1], got ${String(dropout)}`);
    const act = options.act ?? 'prelu', norm = options.norm ?? 'instance', adnOrdering = options.adnOrdering ?? 'NDA';
    monaiActFactory(act, who);
    monaiNormFactory(norm, who);
    checkAdnOrdering(adnOrdering, `${who}: adnOrdering`);
    const seed = options.seed ?? nextSeed();
    const common = { act, norm, dropout, bias: options.bias ?? true, adnOrdering, backend: options.backend };

    const down = (inC: number, outC: number, stride: IntOrTriple, path: string): Layer => numResUnits > 0
      ? new ResidualUnit(inC, outC, { ...common, strides: stride, kernelSize, subunits: numResUnits, seed: deriveSeed(seed, path) })
      : new MonaiConvolution(inC, outC, { ...common, strides: stride, kernelSize, seed: deriveSeed(seed, path) });
    const up = (inC: number, outC: number, stride: IntOrTriple, isTop: boolean, path: string): Layer => {
      const conv = new MonaiConvolution(inC, outC, {
        ...common, strides: stride, kernelSize: upKernelSize, isTransposed: true, convOnly: isTop && numResUnits === 0,
        seed: deriveSeed(seed, numResUnits > 0 ? `${path}.0` : path),
      });
      if (numResUnits === 0) return conv;
      return new Sequential(conv, new ResidualUnit(outC, outC, {
        ...common, strides: 1, kernelSize, subunits: 1, lastConvOnly: isTop, seed: deriveSeed(seed, `${path}.1`),
      }));
    };
    // MONAI's _create_block: level `level` maps inC to outC channels through its down layer, the next level (or the
    // bottom layer) inside a skip connection, and its up layer
    const block = (inC: number, outC: number, level: number, path: string): Sequential => {
      const c = channels[level], stride = this.strides[level];
      const inner = `${path}.1.submodule`;
      const last = level === channels.length - 2;
      const sub = last ? down(c, channels[level + 1], 1, inner) : block(c, c, level + 1, inner);
      const upIn = last ? c + channels[level + 1] : 2 * c;
      return new Sequential(down(inC, c, stride, `${path}.0`), new SkipConnection(sub), up(upIn, outC, stride, level === 0, `${path}.2`));
    };
    this.model = this.registerModule('model', block(this.inChannels, this.outChannels, 0, 'model'));
  }

  /**
   * Follows the spatial size through the down convolutions (size ⌈n / stride⌉ each, padded to the same size) and
   * throws naming the level whose skip connection would concatenate features of different sizes: every level's
   * input but the top's must be divisible by its stride. (The top's need not: MONAI's output is then ⌈n / s⌉·s.)
   */
  private checkSizes(x: Tensor): void {
    let size = x.shape.slice(2);
    this.strides.forEach((stride, level) => {
      if (level > 0 && size.some((n, a) => n % stride[a] !== 0)) {
        const product = [0, 1, 2].map((a) => this.strides.slice(1).reduce((p, s) => p * s[a], 1));
        throw new Error(`MonaiUNet: input ${formatShape(x.shape)}: level ${level}'s input [${size.join(', ')}] is not divisible by its stride ${formatShape(stride)}, so level ${level - 1}'s skip connection would concatenate [${size.join(', ')}] with [${size.map((n, a) => Math.ceil(n / stride[a]) * stride[a]).join(', ')}]; the sizes after the first down convolution must be divisible by the product of the other strides per axis [${product.join(', ')}]`);
      }
      size = size.map((n, a) => Math.ceil(n / stride[a]));
    });
  }

  /** [N, outChannels, …⌈input size / strides[0]⌉·strides[0]] (the input size when it is divisible) */
  forward(x: Tensor): Tensor {
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) {
      throw new Error(`MonaiUNet: input must be [N, ${this.inChannels}, D, H, W], got ${formatShape(x.shape)}`);
    }
    this.checkSizes(x);
    return this.model.forward(x);
  }
}
