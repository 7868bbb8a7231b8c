import { add, concat, mul } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { ELU, GELU, LeakyReLU, PReLU, ReLU6, Sigmoid, Tanh } from './activations.js';
import { ChannelNorm, Conv3d, ConvTranspose3d, Dropout, ReLU, SeededDropout, triple, type IntOrTriple } from './layers.js';
import { Layer, Sequential, deriveSeed, nextSeed } from './module.js';
import { normLayerOf, type ActSpec, type NormSpec } from './norm-act.js';

/**
 * MONAI's generic blocks (monai/networks/blocks/convolutions.py and acti_norm.py): `Convolution` (exported as
 * MonaiConvolution: DynUNet's get_conv_layer Convolution is exported as Convolution), `ResidualUnit`, `ADN`, and
 * `SkipConnection` (monai/networks/layers/simplelayers.py), 3-D, with MONAI's module trees and state-dict keys
 * (`conv.weight`, `adn.N.weight`, `adn.A.weight` for a PReLU, `conv.unit0.conv.weight`, `residual.weight`, …) and
 * PyTorch's default initialisation, each convolution seeded from the block's seed and its path in the block.
 */

/**
 * an activation as MONAI's Act factory takes it: a name (any case) or [name, the layer's arguments]; 'prelu' is
 * nn.PReLU (one slope, 0.25, unless numParameters and init are given)
 */
export type MonaiActSpec = ActSpec
  | 'prelu' | readonly ['prelu', { numParameters?: number; init?: number }]
  | 'elu' | readonly ['elu', { alpha: number }]
  | 'gelu' | 'relu6' | 'sigmoid' | 'tanh';

const actNames = "'prelu', 'relu', 'leakyrelu', 'elu', 'gelu', 'relu6', 'sigmoid', 'tanh', or [name, args] for prelu ({ numParameters, init }), leakyrelu ({ negativeSlope }) and elu ({ alpha })";

/** a maker of the activation `act` names; throws, naming `who`, for one it does not know */
export function monaiActFactory(act: MonaiActSpec, who: string): (backend: Backend | undefined) => Layer {
  const [rawName, args] = typeof act === 'string' ? [act, null] : Array.isArray(act) ? [act[0], act[1]] : [undefined, null];
  const name = typeof rawName === 'string' ? rawName.toLowerCase() : rawName;
  const unknown = () => new Error(`${who}: unknown act ${JSON.stringify(act)}; valid: ${actNames}`);
  if (args !== null && (typeof args !== 'object' || Array.isArray(args))) throw unknown();
  switch (name) {
    case 'prelu': {
      const a = (args ?? {}) as { numParameters?: number; init?: number };
      return (backend) => new PReLU({ ...a, backend });
    }
    case 'elu': {
      const alpha = (args as { alpha?: number } | null)?.alpha;
      return () => new ELU(alpha);
    }
    case 'relu': return () => new ReLU();
    case 'leakyrelu': {
      // MONAI's ('leakyrelu', { inplace: true }) keeps PyTorch's slope 0.01
      const slope = (args as { negativeSlope?: number } | null)?.negativeSlope;
      return () => new LeakyReLU(slope);
    }
    case 'gelu': return () => new GELU();
    case 'relu6': return () => new ReLU6();
    case 'sigmoid': return () => new Sigmoid();
    case 'tanh': return () => new Tanh();
    default: throw unknown();
  }
}

/** a maker of the norm layer `norm` names (any case) over a channel count; throws, naming `who`, for one it does not know */
export function monaiNormFactory(norm: NormSpec, who: string): (channels: number, backend: Backend | undefined) => ChannelNorm {
  const [rawName, args] = typeof norm === 'string' ? [norm, null] : Array.isArray(norm) ? [norm[0], norm[1] ?? {}] : [undefined, null];
  const name = typeof rawName === 'string' ? rawName.toLowerCase() : rawName;
  // args are an object, as MONAI's norm_type(**args) needs (['instance', 5] is refused there too)
  const objectArgs = args === null || (typeof args === 'object' && !Array.isArray(args));
  if ((name !== 'instance' && name !== 'batch' && name !== 'group') || !objectArgs) {
    throw new Error(`${who}: unknown norm ${JSON.stringify(norm)}; valid: 'instance', 'batch', or [name, args]: ['instance', { affine, eps }], ['batch', { … }], ['group', { numGroups, … }]`);
  }
  if (name === 'group' && !(args !== null && 'numGroups' in args)) throw new Error(`${who}: norm 'group' needs its numGroups: ['group', { numGroups }]`);
  const spec = (args === null ? name : [name, args]) as NormSpec;
  return (channels, backend) => normLayerOf(spec, channels, backend)!;
}

/** MONAI's same_padding: (kernel − 1)·dilation / 2 per axis; refused (naming `who`) where that is not an integer */
export function samePadding(kernel: IntOrTriple, dilation: IntOrTriple, who: string): [number, number, number] {
  const k = triple(kernel, `${who} kernelSize`), d = triple(dilation, `${who} dilation`);
  if (k.some((n, i) => ((n - 1) * d[i]) % 2 !== 0)) {
    throw new Error(`${who}: same padding is not available for kernelSize ${formatShape(k)} and dilation ${formatShape(d)}: (kernel − 1)·dilation must be even (an odd kernel)`);
  }
  return k.map((n, i) => ((n - 1) * d[i]) / 2) as [number, number, number];
}

/** throws, naming `what`, unless `ordering` is made of the letters A, D and N (any case) */
export function checkAdnOrdering(ordering: string, what: string): void {
  const bad = [...String(ordering).toUpperCase()].find((c) => c !== 'A' && c !== 'D' && c !== 'N');
  if (bad !== undefined) throw new Error(`${what} must be a string of A, D and N, got '${bad}' in '${ordering}'`);
}

export interface ADNOptions {
  /** the order of the activation (A), dropout (D) and norm (N), any case (default 'NDA'); each given one is added */
  ordering?: string;
  /** the norm's channels (MONAI's in_channels), needed with a norm */
  inChannels?: number;
  /** default 'relu' (MONAI's ADN default); null: none */
  act?: MonaiActSpec | null;
  /** default null: none */
  norm?: NormSpec | null;
  /** an elementwise nn.Dropout of this probability (default null: none) */
  dropout?: number | null;
  /** the dropout's mask salt (default 0) */
  seed?: number;
  backend?: Backend;
}

/**
 * MONAI's ADN (an nn.Sequential): the norm (N), dropout (D) and activation (A) that are given, as children of those
 * names in `ordering`'s order. A norm followed by a ReLU runs fused, also across a dropout between them that is the
 * identity just now (p = 0, as MONAI's UNet's default dropout 0 gives, or evaluation): it steps aside.
 */
export class ADN extends Sequential {
  constructor(options: ADNOptions = {}) {
    super();
    const ordering = options.ordering ?? 'NDA', act = options.act === undefined ? 'relu' : options.act;
    checkAdnOrdering(ordering, 'ADN: ordering');
    const dropout = options.dropout ?? null;
    if (dropout !== null && !(dropout >= 0 && dropout <= 1)) throw new Error(`ADN: dropout must be in [0, 1] or null, got ${dropout}`);
    const makers: Record<string, (() => Layer) | null> = {
      N: options.norm == null ? null : () => {
        const c = options.inChannels;
        if (c === undefined || !(Number.isInteger(c) && c > 0)) throw new Error(`ADN: a norm needs inChannels, a positive integer, got ${String(c)}`);
        return monaiNormFactory(options.norm!, 'ADN')(c, options.backend);
      },
      D: dropout === null ? null : () => new Dropout(dropout, { salt: options.seed ?? 0 }),
      A: act === null ? null : () => monaiActFactory(act, 'ADN')(options.backend),
    };
    for (const c of new Set(ordering.toUpperCase())) {
      const make = makers[c];
      if (make) this.addModule(c, make());
    }
  }

  /** an inactive dropout: the identity, which neither draws a mask nor advances its mask stream */
  protected override stepsAside(layer: Layer): boolean {
    return layer instanceof SeededDropout && (!layer.training || layer.p === 0);
  }
}

export interface MonaiConvolutionOptions {
  /** default 1 */
  strides?: IntOrTriple;
  /** default 3 */
  kernelSize?: IntOrTriple;
  /** default 'NDA' */
  adnOrdering?: string;
  /** default 'prelu'; null: none */
  act?: MonaiActSpec | null;
  /** default 'instance' (no affine); null: none */
  norm?: NormSpec | null;
  /** default null: no dropout layer */
  dropout?: number | null;
  /** default 1 */
  dilation?: IntOrTriple;
  /** default true */
  bias?: boolean;
  /** only the convolution, no `adn` (default false) */
  convOnly?: boolean;
  /** ConvTranspose3d instead of Conv3d (default false) */
  isTransposed?: boolean;
  /** default MONAI's same_padding: (kernel − 1)·dilation / 2 */
  padding?: IntOrTriple;
  /** the transposed convolution's (default stride − 1: the output the input size times the stride) */
  outputPadding?: IntOrTriple;
  /**
   * what the layers' seeds derive from, with their paths: the convolution's initialisation and the dropout's mask
   * salt (default: the global generator)
   */
  seed?: number;
  /**
   * the block's module path in the network whose seed `seed` is (default '': `seed` is the block's own): the layers'
   * paths are `${path}.conv` and `${path}.adn.D`
   */
  path?: string;
  backend?: Backend;
}

/**
 * MONAI's Convolution (an nn.Sequential): `conv` (Conv3d, or ConvTranspose3d when isTransposed) then `adn` (an ADN of
 * the norm, dropout and activation in adnOrdering's order), absent when convOnly or when none of the three is given.
 */
class Convolution extends Sequential {
  readonly conv: Conv3d | ConvTranspose3d;
  readonly adn: ADN | null = null;

  constructor(readonly inChannels: number, readonly outChannels: number, options: MonaiConvolutionOptions = {}) {
    super();
    const seed = options.seed ?? nextSeed(), dilation = options.dilation ?? 1;
    const seedOf = (name: string) => deriveSeed(seed, options.path ? `${options.path}.${name}` : name);
    const padding = options.padding ?? samePadding(options.kernelSize ?? 3, dilation, 'Convolution');
    const common = { stride: options.strides ?? 1, padding, dilation, bias: options.bias ?? true, seed: seedOf('conv'), backend: options.backend };
    const conv = options.isTransposed
      ? new ConvTranspose3d(inChannels, outChannels, options.kernelSize ?? 3, {
        ...common, outputPadding: options.outputPadding ?? triple(options.strides ?? 1, 'Convolution strides').map((s) => s - 1) as [number, number, number],
      })
      : new Conv3d(inChannels, outChannels, options.kernelSize ?? 3, common);
    this.addModule('conv', conv);
    this.conv = conv;
    const act = options.act === undefined ? 'prelu' : options.act, norm = options.norm === undefined ? 'instance' : options.norm;
    const dropout = options.dropout ?? null;
    if (options.convOnly || (act === null && norm === null && dropout === null)) return;
    const adn = new ADN({
      ordering: options.adnOrdering ?? 'NDA', inChannels: outChannels, act, norm, dropout, seed: seedOf('adn.D'), backend: options.backend,
    });
    this.addModule('adn', adn);
    this.adn = adn;
  }
}

export { Convolution as MonaiConvolution };

export interface ResidualUnitOptions extends Omit<MonaiConvolutionOptions, 'convOnly' | 'isTransposed' | 'outputPadding'> {
  /** the number of convolutions (default 2; at least 1) */
  subunits?: number;
  /** the last convolution without its ADN (default false) */
  lastConvOnly?: boolean;
}

/**
 * MONAI's ResidualUnit: `conv`, a sequence unit0, unit1, … of Convolutions (the first with the unit's stride and
 * channel change), plus `residual`: the input itself (nn.Identity, no parameters), or a Conv3d — with the unit's kernel
 * and stride where the stride is not 1, else 1³ unpadded — where the stride or the channels change.
 */
export class ResidualUnit extends Layer {
  readonly conv: Sequential;
  readonly residual: Conv3d | null = null;

  constructor(readonly inChannels: number, readonly outChannels: number, options: ResidualUnitOptions = {}) {
    super();
    const seed = options.seed ?? nextSeed(), kernelSize = options.kernelSize ?? 3, strides = options.strides ?? 1;
    const padding = options.padding ?? samePadding(kernelSize, options.dilation ?? 1, 'ResidualUnit');
    const subunits = Math.max(1, options.subunits ?? 2);
    if (!Number.isInteger(subunits)) throw new Error(`ResidualUnit: subunits must be an integer, got ${options.subunits}`);
    this.conv = this.registerModule('conv', new Sequential());
    for (let i = 0; i < subunits; i++) {
      this.conv.addModule(`unit${i}`, new Convolution(i === 0 ? inChannels : outChannels, outChannels, {
        ...options, strides: i === 0 ? strides : 1, padding, seed: deriveSeed(seed, `conv.unit${i}`),
        convOnly: (options.lastConvOnly ?? false) && i === subunits - 1,
      }));
    }
    const strided = triple(strides, 'ResidualUnit strides').some((s) => s !== 1);
    if (strided || inChannels !== outChannels) {
      this.residual = this.registerModule('residual', new Conv3d(inChannels, outChannels, strided ? kernelSize : 1, {
        stride: strides, padding: strided ? padding : 0, bias: options.bias ?? true, seed: deriveSeed(seed, 'residual'), backend: options.backend,
      }));
    }
  }

  forward(x: Tensor): Tensor {
    return tidy(() => add(this.conv.forward(x), this.residual ? this.residual.forward(x) : x));
  }
}

export type SkipMode = 'cat' | 'add' | 'mul';

/** MONAI's SkipConnection: the input combined with `submodule`'s output: concatenated on `dim` (default), added or multiplied */
export class SkipConnection extends Layer {
  readonly submodule: Layer;

  constructor(submodule: Layer, readonly dim = 1, readonly mode: SkipMode = 'cat') {
    super();
    if (mode !== 'cat' && mode !== 'add' && mode !== 'mul') throw new Error(`SkipConnection: unknown mode '${String(mode)}'; valid: cat, add, mul`);
    this.submodule = this.registerModule('submodule', submodule);
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const y = this.submodule.forward(x);
      return this.mode === 'cat' ? concat([x, y], this.dim) : this.mode === 'add' ? add(x, y) : mul(x, y);
    });
  }
}
