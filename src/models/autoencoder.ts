import { add, exp, mul, mulScalar, relu, reshape, sigmoid, square, sub, sum, mean, addScalar } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { randn } from '../tensor/creation.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Identity } from './activations.js';
import { Linear, triple, type IntOrTriple } from './layers.js';
import { Layer, Module, Sequential, deriveSeed, nextSeed } from './module.js';
import {
  MonaiConvolution, ResidualUnit, monaiActFactory, monaiNormFactory, samePadding, type MonaiActSpec,
} from './monai-blocks.js';
import type { NormSpec } from './norm-act.js';

/**
 * MONAI's AutoEncoder and VarAutoEncoder (monai/networks/nets/autoencoder.py, varautoencoder.py), 3-D only, built of
 * monai-blocks' Convolution and ResidualUnit with MONAI's module trees and state-dict keys (`encode.encode_0.conv.weight`,
 * `intermediate.inter_0.conv.unit0.conv.weight`, `decode.decode_0.conv.conv.weight`, `decode.decode_1.resunit.conv.unit0.conv.weight`,
 * `mu.weight`, `logvar.weight`, `decodeL.weight`, …) and PyTorch's default initialisation. Also the helpers the
 * other networks of MONAI's conv stacks share (Regressor, Generator): their option checks and their layer maker.
 */

/** what the networks of MONAI's conv stacks take in common (MONAI's defaults noted per network) */
export interface MonaiStackOptions {
  /** the convolutions' kernel, odd (default 3) */
  kernelSize?: IntOrTriple;
  /** convolutions per residual unit; 0: plain Convolutions */
  numResUnits?: number;
  /** default 'prelu'; null: none */
  act?: MonaiActSpec | null;
  /** default 'instance' (no affine parameters); null: none */
  norm?: NormSpec | null;
  /** the dropout probability of every ADN; null: no dropout layer */
  dropout?: number | null;
  /** the convolutions' biases (default true) */
  bias?: boolean;
  /** initialisation seed; each layer's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

/** the checked options every layer of a conv stack is built with */
export interface StackCommon {
  act: MonaiActSpec | null;
  norm: NormSpec | null;
  dropout: number | null;
  bias: boolean;
  kernelSize: IntOrTriple;
  backend: Backend | undefined;
}

const positiveInteger = (n: unknown): boolean => Number.isInteger(n) && (n as number) > 0;

/** throws, naming `who` and `what`, unless `value` is a positive integer */
export function checkPositiveInteger(who: string, what: string, value: unknown): void {
  if (!positiveInteger(value)) throw new Error(`${who}: ${what} must be a positive integer, got ${String(value)}`);
}

/** throws, naming `who` and `what`, unless `shape` is a list of `length` positive integers */
export function checkShape(who: string, what: string, shape: unknown, length?: number): number[] {
  const ok = Array.isArray(shape) && shape.length > 0 && shape.every(positiveInteger) && (length === undefined || shape.length === length);
  if (!ok) {
    const want = length === undefined ? 'at least one positive integer' : `${length} positive integers`;
    throw new Error(`${who}: ${what} must be ${want}, got ${JSON.stringify(shape)}`);
  }
  return [...(shape as number[])];
}

/**
 * checks the options a conv stack shares — channels (positive integers, at least one), strides (one per channel,
 * each positive), the kernel (odd), numResUnits (an integer ≥ 0), the dropout, act and norm — naming `who`, and
 * returns the strides as triples and the common options
 */
export function checkStack(who: string, options: MonaiStackOptions & { channels: readonly number[]; strides: readonly IntOrTriple[] },
  defaults: { numResUnits: number; dropout: number | null }): { channels: number[]; strides: (readonly [number, number, number])[]; numResUnits: number; common: StackCommon } {
  const channels = checkShape(who, 'channels', options.channels);
  const strides = options.strides;
  if (!Array.isArray(strides) || strides.length !== channels.length) {
    throw new Error(`${who}: strides must have one entry per entry of channels (${channels.length}), got ${JSON.stringify(strides)}`);
  }
  const triples = strides.map((s, i) => {
    const t = triple(s, `${who} strides[${i}]`);
    if (t.some((v) => v < 1)) throw new Error(`${who}: strides[${i}] must be positive, got ${formatShape(t)}`);
    return t;
  });
  const kernelSize = options.kernelSize ?? 3;
  samePadding(kernelSize, 1, `${who} kernelSize`);
  const numResUnits = options.numResUnits ?? defaults.numResUnits;
  if (!Number.isInteger(numResUnits) || numResUnits < 0) throw new Error(`${who}: numResUnits must be an integer ≥ 0, got ${numResUnits}`);
  const dropout = options.dropout === undefined ? defaults.dropout : options.dropout;
  if (dropout !== null && (typeof dropout !== 'number' || !(dropout >= 0 && dropout <= 1))) {
    throw new Error(`${who}: dropout must be in [0, 1] or null, got ${String(dropout)}`);
  }
  const act = options.act === undefined ? 'prelu' : options.act, norm = options.norm === undefined ? 'instance' : options.norm;
  if (act !== null) monaiActFactory(act, who);
  if (norm !== null) monaiNormFactory(norm, who);
  return { channels, strides: triples, numResUnits, common: { act, norm, dropout, bias: options.bias ?? true, kernelSize, backend: options.backend } };
}

export interface StackLayerOptions {
  strides: IntOrTriple;
  /** residual units' convolutions; 0: a Convolution */
  units: number;
  /** without the last ADN (Convolution's convOnly, ResidualUnit's lastConvOnly) */
  isLast: boolean;
  dilation?: IntOrTriple;
  padding?: IntOrTriple;
  /** the layer's own seed */
  seed: number;
}

/** MONAI's conv-stack layer: a ResidualUnit of `units` convolutions, or a Convolution when `units` is 0 */
export function stackLayer(inChannels: number, outChannels: number, common: StackCommon, o: StackLayerOptions): Layer {
  const shared = { ...common, strides: o.strides, dilation: o.dilation, padding: o.padding, seed: o.seed };
  return o.units > 0
    ? new ResidualUnit(inChannels, outChannels, { ...shared, subunits: o.units, lastConvOnly: o.isLast })
    : new MonaiConvolution(inChannels, outChannels, { ...shared, convOnly: o.isLast });
}

/** the spatial size after a same-padded convolution of stride `s`: ⌈n / s⌉ per axis (MONAI's calculate_out_shape) */
export function stridedSize(size: readonly number[], s: readonly number[]): number[] {
  return size.map((n, a) => Math.ceil(n / s[a]));
}

/** a source of seeds for the noise a network draws (imaging's Rng is one); each draw takes one nextU32() */
export interface NoiseGenerator { nextU32(): number }

/** a standard normal tensor like `like` (its shape, dtype and backend), seeded from `generator` (default: the global generator) */
export function noiseLike(like: Tensor, generator: NoiseGenerator | undefined): Tensor {
  return randn(like.shape, { seed: generator ? generator.nextU32() >>> 0 : nextSeed(), dtype: like.dtype, backend: like.backend });
}

export interface AutoEncoderOptions extends MonaiStackOptions {
  /** only 3 */
  spatialDims?: 3;
  inChannels: number;
  outChannels: number;
  /** the encoder's channels, top first (at least one); the decoder mirrors them back to outChannels */
  channels: readonly number[];
  /** the stride of each encoder layer (one per channel); the decoder's transposed convolutions use them reversed */
  strides: readonly IntOrTriple[];
  /** the transposed convolutions' kernel, odd (default 3) */
  upKernelSize?: IntOrTriple;
  /** residual units' convolutions per encoder layer; 0: plain Convolutions (default 0) */
  numResUnits?: number;
  /** the channels of the intermediate blocks between encoder and decoder (default none: nn.Identity) */
  interChannels?: readonly number[];
  /** each intermediate block's dilation (default 1 each) */
  interDilations?: readonly number[];
  /** residual units' convolutions per intermediate block; 0: Convolutions (default 2, as MONAI's code) */
  numInterUnits?: number;
  /** the convolutions' padding (default MONAI's same padding) */
  padding?: IntOrTriple;
}

interface AutoEncoderParts {
  encode: Sequential;
  intermediate: Layer;
  decode: Sequential;
  /** the channels out of the intermediate blocks (the encoder's last when there are none) */
  encodedChannels: number;
  strides: (readonly [number, number, number])[];
  channels: number[];
}

/** MONAI's AutoEncoder's encode, intermediate and decode modules, checked, named `who` in errors */
function autoEncoderParts(who: string, options: AutoEncoderOptions & { padding?: IntOrTriple }, seed: number): AutoEncoderParts {
  if ((options.spatialDims ?? 3) !== 3) throw new Error(`${who}: only spatialDims 3 is supported, got ${options.spatialDims}`);
  checkPositiveInteger(who, 'inChannels', options.inChannels);
  checkPositiveInteger(who, 'outChannels', options.outChannels);
  const { channels, strides, numResUnits, common } = checkStack(who, options, { numResUnits: 0, dropout: null });
  const upKernelSize = options.upKernelSize ?? 3;
  samePadding(upKernelSize, 1, `${who} upKernelSize`);
  const interChannels = options.interChannels === undefined || (Array.isArray(options.interChannels) && options.interChannels.length === 0)
    ? [] : checkShape(who, 'interChannels', options.interChannels);
  const interDilations = options.interDilations === undefined ? interChannels.map(() => 1) : options.interDilations;
  if (!Array.isArray(interDilations) || interDilations.length !== interChannels.length || !interDilations.every(positiveInteger)) {
    throw new Error(`${who}: interDilations must be one positive integer per entry of interChannels (${interChannels.length}), got ${JSON.stringify(options.interDilations)}`);
  }
  const numInterUnits = options.numInterUnits ?? 2;
  if (!Number.isInteger(numInterUnits) || numInterUnits < 0) throw new Error(`${who}: numInterUnits must be an integer ≥ 0, got ${numInterUnits}`);
  const padding = options.padding;

  const encode = new Sequential();
  channels.forEach((c, i) => encode.addModule(`encode_${i}`, stackLayer(i === 0 ? options.inChannels : channels[i - 1], c, common, {
    strides: strides[i], units: numResUnits, isLast: false, padding, seed: deriveSeed(seed, `encode.encode_${i}`),
  })));
  let encodedChannels = channels[channels.length - 1];
  let intermediate: Layer = new Identity();
  if (interChannels.length > 0) {
    const inter = new Sequential();
    interChannels.forEach((c, i) => {
      inter.addModule(`inter_${i}`, stackLayer(encodedChannels, c, common, {
        strides: 1, units: numInterUnits, isLast: false, dilation: interDilations[i], padding, seed: deriveSeed(seed, `intermediate.inter_${i}`),
      }));
      encodedChannels = c;
    });
    intermediate = inter;
  }
  // the decoder: the encoder's channels back up (all but the last, reversed) then outChannels, the strides reversed
  const decodeChannels = [...channels.slice(0, -1).reverse(), options.outChannels];
  const decodeStrides = [...strides].reverse();
  const decode = new Sequential();
  let inC = encodedChannels;
  decodeChannels.forEach((c, i) => {
    const isLast = i === decodeChannels.length - 1, path = `decode.decode_${i}`;
    const layer = new Sequential();
    layer.addModule('conv', new MonaiConvolution(inC, c, {
      ...common, kernelSize: upKernelSize, strides: decodeStrides[i], padding, isTransposed: true, convOnly: isLast && numResUnits === 0,
      seed: deriveSeed(seed, `${path}.conv`),
    }));
    if (numResUnits > 0) {
      layer.addModule('resunit', stackLayer(c, c, common, { strides: 1, units: 1, isLast, padding, seed: deriveSeed(seed, `${path}.resunit`) }));
    }
    decode.addModule(`decode_${i}`, layer);
    inC = c;
  });
  return { encode, intermediate, decode, encodedChannels, strides, channels };
}

function checkInput(who: string, x: Tensor, inChannels: number, spatial?: readonly number[]): void {
  const want = spatial ? `[N, ${inChannels}, ${spatial.join(', ')}]` : `[N, ${inChannels}, D, H, W]`;
  if (x.rank !== 5 || x.shape[1] !== inChannels || (spatial && x.shape.slice(2).some((n, a) => n !== spatial[a]))) {
    throw new Error(`${who}: input must be ${want}, got ${formatShape(x.shape)}`);
  }
}

/**
 * MONAI's AutoEncoder: `encode` (per channel, a Convolution or a ResidualUnit of numResUnits convolutions with that
 * stride), `intermediate` (nn.Identity, or per interChannels entry a Convolution or ResidualUnit of numInterUnits
 * convolutions with stride 1 and that dilation) and `decode` (per level, a Sequential of a transposed Convolution with
 * the reversed stride, `conv`, and, when numResUnits > 0, a one-convolution ResidualUnit `resunit`; the last level
 * ends without its ADN). A stride s takes a size n to ⌈n / s⌉ and back to ⌈n / s⌉·s.
 */
export class AutoEncoder extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly channels: readonly number[];
  readonly strides: readonly (readonly [number, number, number])[];
  /** the channels the intermediate blocks hand to the decoder */
  readonly encodedChannels: number;
  readonly encode: Sequential;
  readonly intermediate: Layer;
  readonly decode: Sequential;

  constructor(options: AutoEncoderOptions) {
    super();
    const parts = autoEncoderParts('AutoEncoder', options, options.seed ?? nextSeed());
    this.inChannels = options.inChannels;
    this.outChannels = options.outChannels;
    this.channels = parts.channels;
    this.strides = parts.strides;
    this.encodedChannels = parts.encodedChannels;
    this.encode = this.registerModule('encode', parts.encode);
    this.intermediate = this.registerModule('intermediate', parts.intermediate);
    this.decode = this.registerModule('decode', parts.decode);
  }

  forward(x: Tensor): Tensor {
    checkInput('AutoEncoder', x, this.inChannels);
    return tidy(() => this.decode.forward(this.intermediate.forward(this.encode.forward(x))));
  }
}

export interface VarAutoEncoderOptions extends Omit<AutoEncoderOptions, 'inChannels' | 'padding'> {
  /** the input's shape without the batch: [channels, D, H, W] */
  inShape: readonly number[];
  /** the latent vector's size */
  latentSize: number;
  /** a sigmoid on the reconstruction (default true) */
  useSigmoid?: boolean;
  /** where the reparameterisation's noise comes from in training (default: the global generator) */
  generator?: NoiseGenerator;
}

/**
 * MONAI's VarAutoEncoder (Kingma and Welling 2013): the AutoEncoder's `encode` and `intermediate`, flattened into the
 * Linear layers `mu` and `logvar` (latentSize outputs each); a latent z = mu + ε·exp(logvar / 2), ε standard normal
 * from `generator`, in training; `decodeL` (Linear back to the encoded size), ReLU, reshaped to the encoded
 * feature map, then the AutoEncoder's `decode` and, with useSigmoid, a sigmoid. As MONAI's reparameterize, outside
 * training z is mu + exp(logvar / 2) (the noise replaced by 1, not by 0). The input must have inShape's size.
 */
export class VarAutoEncoder extends Module {
  readonly inChannels: number;
  /** the input's spatial size */
  readonly inShape: readonly number[];
  readonly outChannels: number;
  readonly latentSize: number;
  readonly useSigmoid: boolean;
  readonly channels: readonly number[];
  readonly strides: readonly (readonly [number, number, number])[];
  readonly encodedChannels: number;
  /** the spatial size of the encoded feature map */
  readonly finalSize: readonly number[];
  readonly encode: Sequential;
  readonly intermediate: Layer;
  readonly decode: Sequential;
  readonly mu: Linear;
  readonly logvar: Linear;
  readonly decodeL: Linear;
  /** the noise of the reparameterisation in training (default: the global generator); may be replaced */
  generator: NoiseGenerator | undefined;

  constructor(options: VarAutoEncoderOptions) {
    super();
    const who = 'VarAutoEncoder';
    const [inChannels, ...inShape] = checkShape(who, 'inShape', options.inShape, 4);
    checkPositiveInteger(who, 'latentSize', options.latentSize);
    const seed = options.seed ?? nextSeed();
    const parts = autoEncoderParts(who, { ...options, inChannels }, seed);
    this.inChannels = inChannels;
    this.inShape = inShape;
    this.outChannels = options.outChannels;
    this.latentSize = options.latentSize;
    this.useSigmoid = options.useSigmoid ?? true;
    this.channels = parts.channels;
    this.strides = parts.strides;
    this.encodedChannels = parts.encodedChannels;
    this.finalSize = parts.strides.reduce<number[]>((size, s) => stridedSize(size, s), inShape);
    this.generator = options.generator;
    this.encode = this.registerModule('encode', parts.encode);
    this.intermediate = this.registerModule('intermediate', parts.intermediate);
    this.decode = this.registerModule('decode', parts.decode);
    const linearSize = this.encodedChannels * this.finalSize.reduce((a, b) => a * b, 1);
    const backend = options.backend;
    this.mu = this.registerModule('mu', new Linear(linearSize, this.latentSize, { seed: deriveSeed(seed, 'mu'), backend }));
    this.logvar = this.registerModule('logvar', new Linear(linearSize, this.latentSize, { seed: deriveSeed(seed, 'logvar'), backend }));
    this.decodeL = this.registerModule('decodeL', new Linear(this.latentSize, linearSize, { seed: deriveSeed(seed, 'decodeL'), backend }));
  }

  /** MONAI's encode_forward: [mu, logvar], each [N, latentSize] */
  encodeForward(x: Tensor): [Tensor, Tensor] {
    checkInput('VarAutoEncoder', x, this.inChannels, this.inShape);
    return tidy(() => {
      const h = this.intermediate.forward(this.encode.forward(x));
      const flat = reshape(h, [h.shape[0], -1]);
      return [this.mu.forward(flat), this.logvar.forward(flat)];
    });
  }

  /** MONAI's decode_forward: the reconstruction of a latent z [N, latentSize], through a sigmoid when `useSigmoid` (default this network's) */
  decodeForward(z: Tensor, useSigmoid = this.useSigmoid): Tensor {
    if (z.rank !== 2 || z.shape[1] !== this.latentSize) throw new Error(`VarAutoEncoder: a latent must be [N, ${this.latentSize}], got ${formatShape(z.shape)}`);
    return tidy(() => {
      const h = reshape(relu(this.decodeL.forward(z)), [z.shape[0], this.encodedChannels, ...this.finalSize]);
      const y = this.decode.forward(h);
      return useSigmoid ? sigmoid(y) : y;
    });
  }

  /** MONAI's reparameterize: mu + ε·exp(logvar / 2), ε from the generator in training and 1 otherwise */
  reparameterize(mu: Tensor, logvar: Tensor): Tensor {
    return tidy(() => {
      const std = exp(mulScalar(logvar, 0.5));
      return add(this.training ? mul(noiseLike(std, this.generator), std) : std, mu);
    });
  }

  /** MONAI's forward: [the reconstruction, mu, logvar, z] */
  forward(x: Tensor): [Tensor, Tensor, Tensor, Tensor] {
    return tidy(() => {
      const [mu, logvar] = this.encodeForward(x);
      const z = this.reparameterize(mu, logvar);
      return [this.decodeForward(z), mu, logvar, z];
    });
  }
}

export interface KlDivergenceOptions {
  /** 'sum' over every element (default, as MONAI's VAE tutorial) or 'mean' */
  reduction?: 'sum' | 'mean';
}

/**
 * The VAE's KL term for a diagonal Gaussian against the standard normal, as MONAI's VarAutoEncoder tutorial writes
 * it: −½·Σ(1 + logvar − mu² − exp(logvar)) (or its mean over the elements)
 */
export function vaeKlDivergence(mu: Tensor, logvar: Tensor, options: KlDivergenceOptions = {}): Tensor {
  const reduction = options.reduction ?? 'sum';
  if (reduction !== 'sum' && reduction !== 'mean') throw new Error(`vaeKlDivergence: reduction must be 'sum' or 'mean', got '${String(reduction)}'`);
  if (mu.shape.length !== logvar.shape.length || mu.shape.some((n, i) => n !== logvar.shape[i])) {
    throw new Error(`vaeKlDivergence: mu ${formatShape(mu.shape)} and logvar ${formatShape(logvar.shape)} must have the same shape`);
  }
  return tidy(() => {
    const terms = sub(sub(addScalar(logvar, 1), square(mu)), exp(logvar));
    return mulScalar(reduction === 'sum' ? sum(terms) : mean(terms), -0.5);
  });
}
