import type { Backend } from '../kernels/backend.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { ELU, PReLU } from './activations.js';
import { Conv3d, Dropout, Dropout3d, triple, type ChannelNorm, type IntOrTriple } from './layers.js';
import { Layer, deriveSeed } from './module.js';
import { actLayerOf, normLayerOf, type ActSpec, type NormSpec } from './norm-act.js';

/**
 * MONAI's generic conv block (monai/networks/blocks/convolutions.py `Convolution`, non-transposed) and the ADN it
 * ends with (monai/networks/blocks/acti_norm.py), 3-D, with MONAI's module tree: `conv` (a Conv3d, 'same' padding
 * (k − 1)/2, PyTorch's default initialisation) then, when any of act, norm and dropout is given, `adn` whose children
 * `N`, `D`, `A` sit in the order of its ordering string. Used by VoxelMorphUNet and MonaiVNet.
 */

/**
 * an activation as MONAI's Act factory takes it: ReLU, LeakyReLU (negative slope 0.01 unless given), PReLU (one
 * slope, 0.25, unless given) or ELU (alpha 1 unless given)
 */
export type MonaiActSpec =
  | ActSpec
  | 'prelu' | 'elu'
  | readonly ['prelu', { numParameters?: number; init?: number }]
  | readonly ['elu', { alpha: number }];

/** the layer `act` names, its error worded for `owner` (a network's name) */
export function monaiActLayer(act: MonaiActSpec, owner: string, backend: Backend | undefined): Layer {
  const known = actLayerOf(act as ActSpec);
  if (known) return known;
  if (act === 'prelu') return new PReLU({ backend });
  if (act === 'elu') return new ELU();
  if (Array.isArray(act) && act[0] === 'prelu') return new PReLU({ ...(act[1] as { numParameters?: number; init?: number }), backend });
  if (Array.isArray(act) && act[0] === 'elu') return new ELU((act[1] as { alpha: number }).alpha);
  throw new Error(`${owner}: unknown act ${JSON.stringify(act)}; valid: 'relu', 'leakyrelu', 'prelu', 'elu', ['leakyrelu', { negativeSlope }], ['prelu', { numParameters, init }], ['elu', { alpha }]`);
}

/** the norm layer `norm` names over `channels`, its error worded for `owner` */
export function monaiNormLayer(norm: NormSpec, channels: number, owner: string, backend: Backend | undefined): ChannelNorm {
  const layer = normLayerOf(norm, channels, backend);
  if (layer) return layer;
  const [name, args] = typeof norm === 'string' ? [norm, {}] as const : norm;
  if (name === 'group' && !('numGroups' in args)) throw new Error(`${owner}: norm 'group' needs its numGroups: ['group', { numGroups }]`);
  throw new Error(`${owner}: unknown norm ${JSON.stringify(norm)}; valid: 'batch', 'instance', ['group', { numGroups }] (or a name with its arguments)`);
}

/** children registered under the given names and run in order (nn.Sequential built with add_module) */
export class NamedLayers extends Layer {
  readonly layers: readonly Layer[];

  constructor(entries: readonly (readonly [string, Layer])[]) {
    super();
    this.layers = entries.map(([name, layer]) => this.registerModule(name, layer));
  }

  forward(x: Tensor): Tensor {
    const layers = this.layers;
    return tidy(() => layers.reduce((y, layer) => layer.forward(y), x));
  }
}

/** a NamedLayers that prints as the nn.Sequential MONAI builds (VoxelMorphUNet's final convolutions) */
export class NamedSequential extends NamedLayers {
  override get typeName(): string { return 'Sequential'; }
}

export interface AdnLayers {
  /** a norm layer, or null for none */
  N: Layer | null;
  /** a dropout layer, or null for none */
  D: Layer | null;
  /** an activation layer, or null for none */
  A: Layer | null;
}

/** MONAI's ADN: the layers of `layers` that are given, in the order of `ordering` (a string of N, D and A) */
export class ADN extends NamedLayers {
  constructor(ordering: string, layers: AdnLayers, owner: string) {
    super(checkOrdering(ordering, owner).flatMap((k) => (layers[k] ? [[k, layers[k]] as const] : [])));
  }
}

/** `ordering` as its letters, each of N, D and A at most once, upper case as MONAI reads it */
function checkOrdering(ordering: string, owner: string): (keyof AdnLayers)[] {
  const letters = typeof ordering === 'string' ? [...ordering.toUpperCase()] : [];
  if (typeof ordering !== 'string' || letters.some((c) => c !== 'N' && c !== 'D' && c !== 'A') || new Set(letters).size !== letters.length) {
    throw new Error(`${owner}: adnOrdering must be a string of the letters N, D and A, each at most once, got ${JSON.stringify(ordering)}`);
  }
  return letters as (keyof AdnLayers)[];
}

export interface ConvolutionBlockOptions {
  kernelSize: IntOrTriple;
  /** default 1 */
  strides?: IntOrTriple;
  /** default true, as MONAI's Convolution */
  bias?: boolean;
  /** default 'NDA' */
  adnOrdering?: string;
  /** the ADN's layers; no `adn` child when all three are null */
  adn: AdnLayers;
  /** the module path of the block: its conv's seed derives from `${path}.conv` */
  path: string;
  /** the network's name, for errors */
  owner: string;
  seed: number;
  backend: Backend | undefined;
}

/** MONAI's same_padding: (k − 1)/2 per axis, for odd kernels only (dilation 1); `what` names the kernel in the error */
export function samePadding(kernelSize: IntOrTriple, owner: string, what: string): readonly [number, number, number] {
  const kernel = triple(kernelSize, `${owner}: ${what}`);
  if (kernel.some((k) => k % 2 === 0)) throw new Error(`${owner}: ${what} ${JSON.stringify(kernelSize)} must be odd for 'same' padding (MONAI's same_padding)`);
  return kernel.map((k) => (k - 1) / 2) as unknown as readonly [number, number, number];
}

/** MONAI's Convolution: `conv` (Conv3d, padded by same_padding) then `adn` when any of its layers is given */
export class Convolution extends Layer {
  readonly conv: Conv3d;
  readonly adn: ADN | null;

  constructor(inChannels: number, outChannels: number, options: ConvolutionBlockOptions) {
    super();
    const { kernelSize, strides = 1, bias = true, adnOrdering = 'NDA', adn, path, owner, seed, backend } = options;
    const padding = samePadding(kernelSize, owner, `${path} kernel size`);
    this.conv = this.registerModule('conv', new Conv3d(inChannels, outChannels, kernelSize, { stride: strides, padding, bias, seed: deriveSeed(seed, `${path}.conv`), backend }));
    this.adn = adn.N || adn.D || adn.A ? this.registerModule('adn', new ADN(adnOrdering, adn, owner)) : null;
  }

  forward(x: Tensor): Tensor {
    const adn = this.adn;
    return adn ? tidy(() => adn.forward(this.conv.forward(x))) : this.conv.forward(x);
  }
}

/** MONAI's dropout factory: nn.Dropout (dim 1) or nn.Dropout3d (dim 3) of probability p, its mask salt from `path` */
export function dropoutLayer(p: number, dim: 1 | 3, seed: number, path: string): Dropout | Dropout3d {
  const salt = deriveSeed(seed, path);
  return dim === 1 ? new Dropout(p, { salt }) : new Dropout3d(p, { salt });
}
