import { add } from '../autograd/ops.js';
import type { Triple } from '../autograd/nn.js';
import type { Backend } from '../kernels/backend.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Identity } from './activations.js';
import { Conv3d, ConvTranspose3d, Upsample, type ChannelNorm } from './layers.js';
import { Layer, Module, ModuleDict, ModuleList, Sequential, deriveSeed, nextSeed } from './module.js';
import { monaiActFactory, monaiNormFactory, type MonaiActSpec } from './monai-blocks.js';
import { normThenAct, type NormSpec } from './norm-act.js';

/**
 * MONAI's SegResNetDS (monai/networks/nets/segresnet_ds.py): SegResNet's encoder–decoder with deep supervision
 * heads and, given the voxel spacing, anisotropic kernels and strides until the resolution is about isotropic; 3-D
 * only, with MONAI's module tree, so that the state-dict keys are MONAI's (`encoder.conv_init.weight`,
 * `encoder.layers.0.blocks.0.norm1.weight`, `encoder.layers.1.downsample.weight`, `up_layers.0.upsample.deconv.weight`,
 * `up_layers.2.head.bias`, …) and a MONAI checkpoint loads through safetensors. PyTorch's default initialisation
 * (MONAI sets none), seeded by the network's seed and each layer's module path.
 */

/**
 * MONAI's scales_for_resolution: for a voxel spacing, the per-axis downsampling factor (1 or 2) of each stage: an
 * axis whose spacing is 2^n times finer than the coarsest axis's is halved at the first n stages only; stages beyond
 * those halve every axis; `nStages` (when given) pads or truncates the list to that many.
 */
export function scalesForResolution(resolution: readonly number[], nStages?: number): number[][] {
  if (!resolution.every((r) => r > 0)) throw new Error(`scalesForResolution: resolution must be positive, got [${resolution.join(', ')}]`);
  const coarsest = Math.max(...resolution);
  const levels = resolution.map((r) => Math.floor(Math.log2(coarsest / r)));
  const most = Math.max(...levels);
  let scales: number[][] = Array.from({ length: most }, (_, i) => levels.map((n) => (i >= n ? 1 : 2)));
  if (nStages && nStages > most) scales = [...scales, ...Array.from({ length: nStages - most }, () => resolution.map(() => 2))];
  else if (nStages !== undefined) scales = scales.slice(0, nStages);
  return scales;
}

/** MONAI's aniso_kernel: per axis, kernel 3 where the scale is above 1 and 1 elsewhere, padding kernel // 2, the stride the scale */
export function anisoKernel(scale: readonly number[]): { kernelSize: number[]; padding: number[]; stride: number[] } {
  const kernelSize = scale.map((s) => (s > 1 ? 3 : 1));
  return { kernelSize, padding: kernelSize.map((k) => Math.floor(k / 2)), stride: [...scale] };
}

/** MONAI's `norm` (default 'batch'); a norm with an affine option gets affine true unless given, as MONAI's */
export type SegResNetDSNorm = NormSpec;

/** MONAI's `act` (default 'relu'): any of MONAI's Act factory names */
export type SegResNetDSAct = MonaiActSpec;

/** MONAI's UpsampleMode: a 3³ (per axis: 1 where not upsampled) transposed conv, the same grouped, or a 1³ conv and trilinear interpolation */
export type SegResNetDSUpsampleMode = 'deconv' | 'deconvgroup' | 'nontrainable';

export interface SegResNetDSOptions {
  /** only 3 (MONAI's default; its 1-D and 2-D forms are not offered) */
  spatialDims?: 3;
  /** channels of the first level, doubled at each level below (default 32) */
  initFilters?: number;
  /** default 1 */
  inChannels?: number;
  /** default 2 */
  outChannels?: number;
  /** default 'relu' */
  act?: SegResNetDSAct;
  /** default 'batch' (affine) */
  norm?: SegResNetDSNorm;
  /** residual blocks per encoder level, finest first; every level but the last ends with a stride-2 conv (default [1, 2, 2, 4]) */
  blocksDown?: readonly number[];
  /** residual blocks per decoder level, coarsest first; one fewer entry than blocksDown (default: 1 per level) */
  blocksUp?: readonly number[] | null;
  /** how many of the finest decoder levels have a 1³ head (forwardWithDeepSupervision's outputs; default 1, at least 1) */
  dsdepth?: number;
  /** a function applied to the input before anything else (MONAI's preprocess; default none) */
  preprocess?: ((x: Tensor) => Tensor) | null;
  /** default 'deconv' */
  upsampleMode?: SegResNetDSUpsampleMode;
  /** the input's voxel spacing [x, y, z] (positive): anisotropic kernels and strides by scalesForResolution (default null: isotropic) */
  resolution?: readonly [number, number, number] | null;
  /** initialisation seed; each layer's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

interface Context {
  norm: (channels: number) => ChannelNorm;
  act: () => Layer;
  seed: number;
  backend: Backend | undefined;
}

const asTriple = (v: readonly number[]): Triple => [v[0], v[1], v[2]];

/** MONAI's SegResBlock: x + conv2(act2(norm2(conv1(act1(norm1(x)))))), convs without bias keeping the channels, padding kernel // 2 */
class SegResBlock extends Layer {
  readonly norm1: ChannelNorm;
  readonly act1: Layer;
  readonly conv1: Conv3d;
  readonly norm2: ChannelNorm;
  readonly act2: Layer;
  readonly conv2: Conv3d;

  constructor(channels: number, kernelSize: Triple, path: string, ctx: Context) {
    super();
    const conv = (name: string) => new Conv3d(channels, channels, kernelSize, {
      padding: asTriple(kernelSize.map((k) => Math.floor(k / 2))), bias: false, seed: deriveSeed(ctx.seed, `${path}.${name}`), backend: ctx.backend,
    });
    this.norm1 = this.registerModule('norm1', ctx.norm(channels));
    this.act1 = this.registerModule('act1', ctx.act());
    this.conv1 = this.registerModule('conv1', conv('conv1'));
    this.norm2 = this.registerModule('norm2', ctx.norm(channels));
    this.act2 = this.registerModule('act2', ctx.act());
    this.conv2 = this.registerModule('conv2', conv('conv2'));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => add(this.conv2.forward(normThenAct(this.norm2, this.act2, this.conv1.forward(normThenAct(this.norm1, this.act1, x)))), x));
  }
}

/**
 * MONAI's UpSample as SegResNetDS builds it (kernel_size given, bias false, align_corners false): `deconv` or
 * `deconvgroup` (a transposed conv of that kernel, stride the scale, padding (k − 1) // 2, output padding
 * scale − 1 − (k − 1) % 2; grouped by outChannels), or `preconv` (1³) then `upsample_non_trainable` (trilinear)
 */
class UpSample extends Sequential {
  constructor(inChannels: number, outChannels: number, kernelSize: Triple, scale: Triple, mode: SegResNetDSUpsampleMode, path: string, ctx: Context) {
    super();
    const init = (name: string) => ({ bias: false, seed: deriveSeed(ctx.seed, `${path}.${name}`), backend: ctx.backend });
    if (mode === 'nontrainable') {
      if (inChannels !== outChannels) this.addModule('preconv', new Conv3d(inChannels, outChannels, 1, init('preconv')));
      this.addModule('upsample_non_trainable', new Upsample({ scaleFactor: scale, mode: 'trilinear', alignCorners: false }));
      return;
    }
    const groups = mode === 'deconvgroup' && inChannels % outChannels === 0 ? outChannels : 1;
    this.addModule(mode, new ConvTranspose3d(inChannels, outChannels, kernelSize, {
      stride: scale, padding: asTriple(kernelSize.map((k) => Math.floor((k - 1) / 2))),
      outputPadding: asTriple(kernelSize.map((k, i) => scale[i] - 1 - ((k - 1) % 2))), groups, ...init(mode),
    }));
  }
}

/**
 * MONAI's SegResEncoder: `conv_init` (to initFilters channels, no bias), then per level (`layers.i`) its residual
 * `blocks` and a `downsample` conv doubling the channels (Identity at the last level); forward gives each level's
 * feature before its downsampling, finest first.
 */
export class SegResEncoder extends Module {
  readonly convInit: Conv3d;
  readonly layers: ModuleList<ModuleDict<Layer>>;

  constructor(initFilters: number, inChannels: number, blocksDown: readonly number[], scales: readonly Triple[] | null, ctx: Context) {
    super();
    const level = (i: number) => (scales ? anisoKernel(scales[i]) : { kernelSize: [3, 3, 3], padding: [1, 1, 1], stride: [2, 2, 2] });
    const first = level(0);
    this.convInit = this.registerModule('conv_init', new Conv3d(inChannels, initFilters, asTriple(first.kernelSize), {
      padding: asTriple(first.padding), bias: false, seed: deriveSeed(ctx.seed, 'encoder.conv_init'), backend: ctx.backend,
    }));
    this.layers = this.registerModule('layers', new ModuleList(blocksDown.map((n, i) => {
      const c = initFilters * 2 ** i, path = `encoder.layers.${i}`, { kernelSize, padding, stride } = level(i);
      const blocks = new Sequential(...Array.from({ length: n }, (_, j) => new SegResBlock(c, asTriple(kernelSize), `${path}.blocks.${j}`, ctx)));
      const downsample = i < blocksDown.length - 1
        ? new Conv3d(c, 2 * c, asTriple(kernelSize), { stride: asTriple(stride), padding: asTriple(padding), bias: false, seed: deriveSeed(ctx.seed, `${path}.downsample`), backend: ctx.backend })
        : new Identity();
      return new ModuleDict<Layer>([['blocks', blocks], ['downsample', downsample]]);
    })));
  }

  forward(x: Tensor): Tensor[] {
    return tidy(() => {
      const features: Tensor[] = [];
      let y = this.convInit.forward(x);
      for (const level of this.layers) {
        y = level.get('blocks').forward(y);
        features.push(y);
        y = level.get('downsample').forward(y);
      }
      return features;
    });
  }
}

function checkCount(what: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new Error(`SegResNetDS: ${what} must be an integer ≥ ${min}, got ${value}`);
}

/**
 * the norm spec with affine true unless given (MONAI's setdefault('affine', True): the instance norm gets weight and
 * bias; the batch and group norms have them by default anyway); any other spec is left to monaiNormFactory's error
 */
function withAffine(norm: NormSpec): NormSpec {
  const [name, args]: [unknown, unknown] = typeof norm === 'string' ? [norm, {}] : Array.isArray(norm) ? [norm[0], norm[1] ?? {}] : [norm, null];
  const known = typeof name === 'string' && ['instance', 'batch', 'group'].includes(name.toLowerCase());
  if (!known || typeof args !== 'object' || args === null || Array.isArray(args) || 'affine' in args) return norm;
  return [name, { ...args, affine: true }] as unknown as NormSpec;
}

/**
 * `new SegResNetDS({ initFilters, inChannels, outChannels, blocksDown, blocksUp, dsdepth, norm, act, upsampleMode,
 * resolution, preprocess })`, MONAI's defaults. The encoder (SegResEncoder); per decoder level, coarsest first,
 * `upsample` (to half the channels, ×2 or the level's anisotropic scale), plus the encoder's feature of that level,
 * residual `blocks`, and a 1³ `head` with bias at the dsdepth finest levels (Identity above). The input's spatial
 * sizes must be multiples of shapeFactor().
 */
export class SegResNetDS extends Module {
  readonly initFilters: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly blocksDown: readonly number[];
  readonly blocksUp: readonly number[];
  readonly dsdepth: number;
  readonly upsampleMode: SegResNetDSUpsampleMode;
  readonly resolution: readonly number[] | null;
  /** each encoder level's per-axis scale from scalesForResolution (null without a resolution) */
  readonly anisotropicScales: readonly Triple[] | null;
  readonly preprocess: ((x: Tensor) => Tensor) | null;
  readonly encoder: SegResEncoder;
  /** per decoder level: upsample, blocks, head (a flat network, blocksDown of one level: Identity, Identity, head) */
  readonly upLayers: ModuleList<ModuleDict<Layer>>;

  constructor(options: SegResNetDSOptions = {}) {
    super();
    const spatialDims: number = options.spatialDims ?? 3;
    if (spatialDims !== 3) throw new Error(`SegResNetDS: only spatialDims 3 is supported, got ${spatialDims}`);
    const f = this.initFilters = options.initFilters ?? 32;
    this.inChannels = options.inChannels ?? 1;
    this.outChannels = options.outChannels ?? 2;
    this.blocksDown = [...(options.blocksDown ?? [1, 2, 2, 4])];
    checkCount('initFilters', f, 1);
    checkCount('inChannels', this.inChannels, 1);
    checkCount('outChannels', this.outChannels, 1);
    if (this.blocksDown.length === 0) throw new Error('SegResNetDS: blocksDown needs at least one level');
    const nUp = this.blocksDown.length - 1;
    this.blocksUp = [...(options.blocksUp ?? Array.from({ length: nUp }, () => 1))];
    for (const n of [...this.blocksDown, ...this.blocksUp]) checkCount('every entry of blocksDown and blocksUp', n, 0);
    if (this.blocksUp.length !== nUp) {
      throw new Error(`SegResNetDS: blocksUp [${this.blocksUp.join(', ')}] needs one entry fewer than blocksDown [${this.blocksDown.join(', ')}] (one per decoder level)`);
    }
    const dsdepth = options.dsdepth ?? 1;
    checkCount('dsdepth', dsdepth, 0);
    this.dsdepth = Math.max(dsdepth, 1);
    this.upsampleMode = options.upsampleMode ?? 'deconv';
    if (!['deconv', 'deconvgroup', 'nontrainable'].includes(this.upsampleMode)) {
      throw new Error(`SegResNetDS: upsampleMode '${String(this.upsampleMode)}' is not supported; valid: deconv, deconvgroup, nontrainable`);
    }
    const resolution = options.resolution ?? null;
    if (resolution !== null && (!Array.isArray(resolution) || resolution.length !== 3 || !resolution.every((r) => typeof r === 'number' && r > 0))) {
      throw new Error(`SegResNetDS: resolution must be three positive spacings [x, y, z], got ${JSON.stringify(resolution)}`);
    }
    this.resolution = resolution && [...resolution];
    this.anisotropicScales = resolution ? scalesForResolution(resolution, this.blocksDown.length).map(asTriple) : null;
    this.preprocess = options.preprocess ?? null;
    const normOf = monaiNormFactory(withAffine(options.norm ?? 'batch'), 'SegResNetDS');
    const actOf = monaiActFactory(options.act ?? 'relu', 'SegResNetDS');
    const backend = options.backend;
    const ctx: Context = { norm: (c) => normOf(c, backend), act: () => actOf(backend), seed: options.seed ?? nextSeed(), backend };

    this.encoder = this.registerModule('encoder', new SegResEncoder(f, this.inChannels, this.blocksDown, this.anisotropicScales, ctx));
    const head = (c: number, path: string) => new Conv3d(c, this.outChannels, 1, { seed: deriveSeed(ctx.seed, `${path}.head`), backend });
    const scales = this.anisotropicScales;
    this.upLayers = this.registerModule('up_layers', new ModuleList(nUp === 0
      ? [new ModuleDict<Layer>([['upsample', new Identity()], ['blocks', new Identity()], ['head', head(f, 'up_layers.0')]])]
      : this.blocksUp.map((n, i) => {
        const c = f * 2 ** (nUp - 1 - i), path = `up_layers.${i}`;
        const { kernelSize, stride } = scales ? anisoKernel(scales[nUp - 1 - i]) : { kernelSize: [3, 3, 3], stride: [2, 2, 2] };
        const upsample = new UpSample(2 * c, c, asTriple(kernelSize), asTriple(stride), this.upsampleMode, `${path}.upsample`, ctx);
        const blocks = new Sequential(...Array.from({ length: n }, (_, j) => new SegResBlock(c, asTriple(kernelSize), `${path}.blocks.${j}`, ctx)));
        return new ModuleDict<Layer>([['upsample', upsample], ['blocks', blocks], ['head', nUp - i <= this.dsdepth ? head(c, path) : new Identity()]]);
      })));
  }

  /** MONAI's shape_factor: per axis, what the input's spatial sizes must be multiples of (the product of the downsampling scales) */
  shapeFactor(): Triple {
    if (!this.anisotropicScales) return asTriple([0, 1, 2].map(() => 2 ** (this.blocksDown.length - 1)));
    return asTriple([0, 1, 2].map((a) => this.anisotropicScales!.slice(0, -1).reduce((p, s) => p * s[a], 1)));
  }

  /** MONAI's is_valid_shape: whether `shape`'s spatial sizes (its last three) are multiples of shapeFactor() */
  isValidShape(shape: readonly number[]): boolean {
    const factor = this.shapeFactor();
    return shape.slice(-3).every((s, i) => s % factor[i] === 0);
  }

  /** the heads' outputs, finest first: the dsdepth finest decoder levels' (at least the output at the input's size) */
  private run(input: Tensor): Tensor[] {
    const x = this.preprocess ? this.preprocess(input) : input;
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) {
      throw new Error(`SegResNetDS: input must be [N, ${this.inChannels}, D, H, W], got ${formatShape(x.shape)}`);
    }
    if (!this.isValidShape(x.shape)) {
      throw new Error(`SegResNetDS: input ${formatShape(x.shape)} has spatial sizes [${x.shape.slice(2).join(', ')}], which must be multiples of [${this.shapeFactor().join(', ')}] (shapeFactor)`);
    }
    const features = this.encoder.forward(x).reverse();
    let y = features[0];
    const outputs: Tensor[] = [];
    [...this.upLayers].forEach((level, i) => {
      y = level.get('upsample').forward(y);
      if (i + 1 < features.length) y = add(y, features[i + 1]);
      y = level.get('blocks').forward(y);
      if (this.upLayers.length - i <= this.dsdepth) outputs.push(level.get('head').forward(y));
    });
    return outputs.reverse();
  }

  /**
   * [N, outChannels, D, H, W]: the output at the input's size, in training and evaluation alike (MONAI's forward in
   * evaluation or with dsdepth 1, and the first of its outputs in training otherwise; forwardWithDeepSupervision gives all)
   */
  forward(x: Tensor): Tensor {
    return tidy(() => this.run(x)[0]);
  }

  /**
   * MONAI's training outputs: the dsdepth finest decoder levels' heads, finest (the input's size) first, then 1/2,
   * 1/4, … of it (per axis its scale); computed in training and evaluation alike
   */
  forwardWithDeepSupervision(x: Tensor): Tensor[] {
    return tidy(() => this.run(x));
  }
}
