import { add, addScalar, div, mean, mul, pad, sqrt, square, sum } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { formatShape } from '../tensor/shape.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { GELU } from './activations.js';
import { Conv3d, ConvTranspose3d, GroupNorm } from './layers.js';
import { Layer, Module, ModuleList, Parameter, Sequential, deriveSeed, nextSeed } from './module.js';

/**
 * MONAI's MedNeXt (Roy et al. 2023, "MedNeXt: Transformer-driven Scaling of ConvNets for Medical Image
 * Segmentation"), 3-D only, with MONAI's module tree (monai/networks/nets/mednext.py, blocks in
 * monai/networks/blocks/mednext_block.py), so that the state-dict keys are MONAI's (`stem.weight`,
 * `enc_stages.0.0.conv1.weight`, `down_blocks.0.res_conv.weight`, `up_blocks.0.conv1.weight`, `out_0.conv_out.weight`, …)
 * and a MONAI checkpoint loads through safetensors. Every layer has PyTorch's default initialisation (MONAI sets none),
 * seeded by the network's seed and the layer's module path.
 */

/** MONAI's norm_type: a GroupNorm with one group per channel. MONAI's 'layer' is not offered (see MedNeXtOptions.normType). */
export type MedNeXtNormType = 'group';

export interface MedNeXtOptions {
  /** only 3 (MONAI's default; its 2-D form is not offered) */
  spatialDims?: 3;
  /** channels after the stem, doubled at each level below (default 32) */
  initFilters?: number;
  /** default 1 */
  inChannels?: number;
  /** default 2 */
  outChannels?: number;
  /** per encoder level (or one for all), the blocks' expansion of the channels in their 1³ convs (default 2) */
  encoderExpansionRatio?: number | readonly number[];
  /** per decoder level, coarsest first (or one for all) (default 2) */
  decoderExpansionRatio?: number | readonly number[];
  /** default 2 */
  bottleneckExpansionRatio?: number;
  /** the depthwise convolutions' kernel, odd (default 7) */
  kernelSize?: number;
  /** a 1³ output head per decoder level below the finest, for forwardWithDeepSupervision (default false) */
  deepSupervision?: boolean;
  /** a residual connection in every block, and a 1³ stride-2 (transposed) conv beside each down and up block (default false) */
  useResidualConnection?: boolean;
  /** MedNeXt blocks per encoder level, finest first (default [2, 2, 2, 2]) */
  blocksDown?: readonly number[];
  /** MedNeXt blocks at the bottleneck, 2^blocksDown.length times coarser than the input (default 2) */
  blocksBottleneck?: number;
  /** MedNeXt blocks per decoder level, coarsest first; as many levels as blocksDown (default [2, 2, 2, 2]) */
  blocksUp?: readonly number[];
  /**
   * only 'group' (MONAI's default). MONAI's 'layer' builds nn.LayerNorm([channels, k, k, k]), which normalises the
   * last four axes and so only accepts feature maps of exactly k³ voxels; it is refused here rather than offered.
   */
  normType?: MedNeXtNormType;
  /** ConvNeXt-V2's global response normalisation after the expansion (parameters global_resp_beta/gamma, zeros) in the encoder, bottleneck and decoder blocks and the up blocks (default false) */
  globalRespNorm?: boolean;
  /** initialisation seed; each layer's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

interface BlockOptions {
  expansionRatio: number;
  kernelSize: number;
  useResidualConnection: boolean;
  globalRespNorm: boolean;
  seed: number;
  path: string;
  backend: Backend | undefined;
}

const init = (o: BlockOptions, name: string) => ({ seed: deriveSeed(o.seed, `${o.path}.${name}`), backend: o.backend });

/**
 * MONAI's MedNeXtBlock: a depthwise k³ conv (`conv1`, with bias), GroupNorm with a group per channel (`norm`), a 1³
 * conv expanding the channels by the expansion ratio (`conv2`), GELU (`act`), optionally the global response
 * normalisation, a 1³ conv to outChannels (`conv3`), plus the input when residual.
 */
export class MedNeXtBlock extends Layer {
  readonly conv1: Conv3d | ConvTranspose3d;
  readonly norm: GroupNorm;
  readonly conv2: Conv3d;
  readonly act: GELU;
  readonly conv3: Conv3d;
  readonly globalRespBeta: Parameter | null = null;
  readonly globalRespGamma: Parameter | null = null;
  /** whether the block adds its input (MONAI's do_res; the down and up blocks have their own res_conv instead) */
  readonly doRes: boolean;

  /** `conv1`: the depthwise convolution, as the down and up blocks replace it (a stride-2 one) */
  constructor(readonly inChannels: number, readonly outChannels: number, o: BlockOptions, conv1?: Conv3d | ConvTranspose3d) {
    super();
    const { expansionRatio: e, kernelSize: k } = o;
    this.doRes = o.useResidualConnection;
    this.conv1 = this.registerModule('conv1', conv1 ?? new Conv3d(inChannels, inChannels, k, { padding: Math.floor(k / 2), groups: inChannels, ...init(o, 'conv1') }));
    this.norm = this.registerModule('norm', new GroupNorm(inChannels, inChannels, { backend: o.backend }));
    this.conv2 = this.registerModule('conv2', new Conv3d(inChannels, e * inChannels, 1, init(o, 'conv2')));
    this.act = this.registerModule('act', new GELU());
    this.conv3 = this.registerModule('conv3', new Conv3d(e * inChannels, outChannels, 1, init(o, 'conv3')));
    if (o.globalRespNorm) {
      const shape = [1, e * inChannels, 1, 1, 1];
      this.globalRespBeta = this.registerParameter('global_resp_beta', Parameter.full(shape, 0, { backend: o.backend }));
      this.globalRespGamma = this.registerParameter('global_resp_gamma', Parameter.full(shape, 0, { backend: o.backend }));
    }
  }

  /** the block without its residual connection */
  protected branch(x: Tensor): Tensor {
    let y = this.act.forward(this.conv2.forward(this.norm.forward(this.conv1.forward(x))));
    if (this.globalRespGamma && this.globalRespBeta) {
      // each channel's L2 norm over the voxels, relative to its mean over the channels (+ 1e-6)
      const gx = sqrt(sum(square(y), [2, 3, 4], true));
      const nx = div(gx, addScalar(mean(gx, 1, true), 1e-6));
      y = add(add(mul(this.globalRespGamma, mul(y, nx)), this.globalRespBeta), y);
    }
    return this.conv3.forward(y);
  }

  forward(x: Tensor): Tensor {
    return tidy(() => (this.doRes ? add(x, this.branch(x)) : this.branch(x)));
  }
}

/**
 * MONAI's MedNeXtDownBlock: a MedNeXtBlock (no residual of its own, no GRN) whose depthwise conv has stride 2, plus,
 * when residual, a 1³ stride-2 conv of the input to outChannels (`res_conv`); ⌈size / 2⌉ per axis.
 */
export class MedNeXtDownBlock extends MedNeXtBlock {
  readonly resConv: Conv3d | null;

  constructor(inChannels: number, outChannels: number, o: BlockOptions) {
    const k = o.kernelSize;
    super(inChannels, outChannels, { ...o, useResidualConnection: false, globalRespNorm: false },
      new Conv3d(inChannels, inChannels, k, { stride: 2, padding: Math.floor(k / 2), groups: inChannels, ...init(o, 'conv1') }));
    this.resConv = o.useResidualConnection ? this.registerModule('res_conv', new Conv3d(inChannels, outChannels, 1, { stride: 2, ...init(o, 'res_conv') })) : null;
  }

  override forward(x: Tensor): Tensor {
    return tidy(() => (this.resConv ? add(this.branch(x), this.resConv.forward(x)) : this.branch(x)));
  }
}

/** one zero voxel before each spatial axis (PyTorch's pad (1, 0, 1, 0, 1, 0)): 2n − 1 → 2n */
const padBefore = (x: Tensor): Tensor => pad(x, [1, 0, 1, 0, 1, 0]);

/**
 * MONAI's MedNeXtUpBlock: a MedNeXtBlock (no residual of its own) whose depthwise conv is a stride-2 transposed one,
 * 2n − 1 voxels per axis, padded by one zero voxel before each axis to 2n; when residual, plus a 1³ stride-2
 * transposed conv of the input to outChannels (`res_conv`), padded alike.
 */
export class MedNeXtUpBlock extends MedNeXtBlock {
  readonly resConv: ConvTranspose3d | null;

  constructor(inChannels: number, outChannels: number, o: BlockOptions) {
    const k = o.kernelSize;
    super(inChannels, outChannels, { ...o, useResidualConnection: false },
      new ConvTranspose3d(inChannels, inChannels, k, { stride: 2, padding: Math.floor(k / 2), groups: inChannels, ...init(o, 'conv1') }));
    this.resConv = o.useResidualConnection ? this.registerModule('res_conv', new ConvTranspose3d(inChannels, outChannels, 1, { stride: 2, ...init(o, 'res_conv') })) : null;
  }

  override forward(x: Tensor): Tensor {
    return tidy(() => {
      const y = padBefore(this.branch(x));
      return this.resConv ? add(y, padBefore(this.resConv.forward(x))) : y;
    });
  }
}

/** MONAI's MedNeXtOutBlock: a 1³ transposed conv with bias to the classes (`conv_out`; weight [in, classes, 1, 1, 1]) */
export class MedNeXtOutBlock extends Layer {
  readonly convOut: ConvTranspose3d;

  constructor(inChannels: number, nClasses: number, seed: number, path: string, backend: Backend | undefined) {
    super();
    this.convOut = this.registerModule('conv_out', new ConvTranspose3d(inChannels, nClasses, 1, { seed: deriveSeed(seed, `${path}.conv_out`), backend }));
  }

  forward(x: Tensor): Tensor { return this.convOut.forward(x); }
}

function checkCount(what: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new Error(`MedNeXt: ${what} must be an integer ≥ ${min}, got ${value}`);
}

/** one ratio per level: a number repeated, or a list of exactly `levels` entries */
function ratios(what: string, value: number | readonly number[], levels: number, levelsOf: string): number[] {
  const list = typeof value === 'number' ? Array.from({ length: levels }, () => value) : [...value];
  if (list.length !== levels) throw new Error(`MedNeXt: ${what} [${list.join(', ')}] needs one entry per level of ${levelsOf} (${levels})`);
  for (const r of list) checkCount(`every entry of ${what}`, r, 1);
  return list;
}

/**
 * `new MedNeXt({ initFilters, inChannels, outChannels, kernelSize, blocksDown, blocksBottleneck, blocksUp, … })`,
 * MONAI's defaults. A 1³ stem to initFilters channels; per encoder level MedNeXt blocks, then a down block doubling
 * the channels and halving the size; the bottleneck's blocks; per decoder level an up block halving the channels and
 * doubling the size, plus the encoder feature of that level, then blocks; last a 1³ head. The input's spatial sizes
 * must be multiples of 2^blocksDown.length.
 */
export class MedNeXt extends Module {
  readonly initFilters: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly deepSupervision: boolean;
  readonly blocksDown: readonly number[];
  readonly blocksUp: readonly number[];
  readonly stem: Conv3d;
  readonly encStages: ModuleList<Sequential>;
  readonly downBlocks: ModuleList<MedNeXtDownBlock>;
  readonly bottleneck: Sequential;
  readonly upBlocks: ModuleList<MedNeXtUpBlock>;
  readonly decStages: ModuleList<Sequential>;
  readonly out0: MedNeXtOutBlock;
  /** with deepSupervision, a head per decoder level, coarsest first (MONAI's out_blocks); else null */
  readonly outBlocks: ModuleList<MedNeXtOutBlock> | null;

  constructor(options: MedNeXtOptions = {}) {
    super();
    const spatialDims: number = options.spatialDims ?? 3;
    if (spatialDims !== 3) throw new Error(`MedNeXt: only spatialDims 3 is supported, got ${spatialDims}`);
    const f = this.initFilters = options.initFilters ?? 32;
    this.inChannels = options.inChannels ?? 1;
    this.outChannels = options.outChannels ?? 2;
    const k = this.kernelSize = options.kernelSize ?? 7;
    this.deepSupervision = options.deepSupervision ?? false;
    this.blocksDown = [...(options.blocksDown ?? [2, 2, 2, 2])];
    this.blocksUp = [...(options.blocksUp ?? [2, 2, 2, 2])];
    const blocksBottleneck = options.blocksBottleneck ?? 2;
    const normType: string = options.normType ?? 'group';
    checkCount('initFilters', f, 1);
    checkCount('inChannels', this.inChannels, 1);
    checkCount('outChannels', this.outChannels, 1);
    if (!Number.isInteger(k) || k < 1 || k % 2 === 0) throw new Error(`MedNeXt: kernelSize must be an odd integer ≥ 1, got ${k}`);
    if (this.blocksDown.length === 0) throw new Error('MedNeXt: blocksDown needs at least one level');
    for (const n of [...this.blocksDown, ...this.blocksUp]) checkCount('every entry of blocksDown and blocksUp', n, 0);
    checkCount('blocksBottleneck', blocksBottleneck, 0);
    if (this.blocksUp.length !== this.blocksDown.length) {
      throw new Error(`MedNeXt: blocksUp [${this.blocksUp.join(', ')}] needs as many levels as blocksDown [${this.blocksDown.join(', ')}] (one decoder level per encoder level)`);
    }
    if (normType !== 'group') {
      throw new Error(`MedNeXt: normType '${normType}' is not supported; valid: group (MONAI's 'layer' normalises over [channels, ${k}, ${k}, ${k}] and so fits only ${k}³ feature maps)`);
    }
    const levels = this.blocksDown.length;
    const encoder = ratios('encoderExpansionRatio', options.encoderExpansionRatio ?? 2, levels, 'blocksDown');
    const decoder = ratios('decoderExpansionRatio', options.decoderExpansionRatio ?? 2, levels, 'blocksUp');
    const bottleneckRatio = options.bottleneckExpansionRatio ?? 2;
    checkCount('bottleneckExpansionRatio', bottleneckRatio, 1);
    const seed = options.seed ?? nextSeed(), backend = options.backend;
    const useResidualConnection = options.useResidualConnection ?? false, globalRespNorm = options.globalRespNorm ?? false;
    const block = (path: string, expansionRatio: number): BlockOptions => ({ expansionRatio, kernelSize: k, useResidualConnection, globalRespNorm, seed, path, backend });
    const blocks = (c: number, n: number, path: string, ratio: number) =>
      new Sequential(...Array.from({ length: n }, (_, j) => new MedNeXtBlock(c, c, block(`${path}.${j}`, ratio))));

    this.stem = this.registerModule('stem', new Conv3d(this.inChannels, f, 1, { seed: deriveSeed(seed, 'stem'), backend }));
    this.encStages = this.registerModule('enc_stages', new ModuleList(this.blocksDown.map((n, i) => blocks(f * 2 ** i, n, `enc_stages.${i}`, encoder[i]))));
    this.downBlocks = this.registerModule('down_blocks', new ModuleList(this.blocksDown.map((_, i) =>
      new MedNeXtDownBlock(f * 2 ** i, f * 2 ** (i + 1), block(`down_blocks.${i}`, encoder[i])))));
    this.bottleneck = this.registerModule('bottleneck', blocks(f * 2 ** levels, blocksBottleneck, 'bottleneck', bottleneckRatio));
    // decoder level i turns f·2^(levels − i) channels into half as many
    this.upBlocks = this.registerModule('up_blocks', new ModuleList(this.blocksUp.map((_, i) =>
      new MedNeXtUpBlock(f * 2 ** (levels - i), f * 2 ** (levels - i - 1), block(`up_blocks.${i}`, decoder[i])))));
    this.decStages = this.registerModule('dec_stages', new ModuleList(this.blocksUp.map((n, i) => blocks(f * 2 ** (levels - i - 1), n, `dec_stages.${i}`, decoder[i]))));
    this.out0 = this.registerModule('out_0', new MedNeXtOutBlock(f, this.outChannels, seed, 'out_0', backend));
    this.outBlocks = this.deepSupervision
      ? this.registerModule('out_blocks', new ModuleList(this.blocksUp.map((_, i) => new MedNeXtOutBlock(f * 2 ** (levels - i), this.outChannels, seed, `out_blocks.${i}`, backend))))
      : null;
  }

  private checkInput(x: Tensor): void {
    const levels = this.blocksDown.length, factor = 2 ** levels;
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) {
      throw new Error(`MedNeXt: input must be [N, ${this.inChannels}, D, H, W], got ${formatShape(x.shape)}`);
    }
    if (x.shape.slice(2).some((s) => s % factor !== 0)) {
      throw new Error(`MedNeXt: input ${formatShape(x.shape)} has spatial sizes [${x.shape.slice(2).join(', ')}], which must be multiples of ${factor} (2^${levels} for ${levels} levels of blocksDown)`);
    }
  }

  /** the output and, when `heads`, each decoder level's head (coarsest first) of the feature entering it */
  private run(x: Tensor, heads: boolean): [Tensor, Tensor[]] {
    this.checkInput(x);
    let y = this.stem.forward(x);
    const features: Tensor[] = [];
    for (let i = 0; i < this.encStages.length; i++) {
      y = this.encStages.at(i).forward(y);
      features.push(y);
      y = this.downBlocks.at(i).forward(y);
    }
    y = this.bottleneck.forward(y);
    const supervised: Tensor[] = [];
    for (let i = 0; i < this.upBlocks.length; i++) {
      if (heads && this.outBlocks) supervised.push(this.outBlocks.at(i).forward(y));
      y = this.decStages.at(i).forward(add(this.upBlocks.at(i).forward(y), features[features.length - 1 - i]));
    }
    return [this.out0.forward(y), supervised];
  }

  /**
   * [N, outChannels, D, H, W]: the output at the input's size, in training and evaluation alike (MONAI's forward in
   * evaluation, and the first of its outputs in training with deep supervision; forwardWithDeepSupervision gives all)
   */
  forward(x: Tensor): Tensor {
    return tidy(() => this.run(x, false)[0]);
  }

  /**
   * MONAI's training outputs with deep supervision, in its order: the output, then the heads finest first (1/2, 1/4, …
   * of the input's size); computed in training and evaluation alike. Needs deepSupervision.
   */
  forwardWithDeepSupervision(x: Tensor): Tensor[] {
    if (!this.outBlocks) throw new Error('MedNeXt: forwardWithDeepSupervision needs deepSupervision: true (the network has no out_blocks)');
    return tidy(() => {
      const [out, heads] = this.run(x, true);
      return [out, ...heads.reverse()];
    });
  }
}

export type MedNeXtVariant = 'S' | 'B' | 'M' | 'L';

/** the options createMedNeXt leaves to the caller, with MONAI's create_mednext defaults */
export interface MedNeXtVariantOptions {
  spatialDims?: 3;
  /** default 1 */
  inChannels?: number;
  /** default 2 */
  outChannels?: number;
  /** default 3 (not MedNeXt's 7) */
  kernelSize?: number;
  /** default false */
  deepSupervision?: boolean;
  seed?: number;
  backend?: Backend;
}

/** the variants of the paper as MONAI's create_mednext configures them (all residual, group norm, no GRN, 32 filters) */
const variants: Record<MedNeXtVariant, Pick<MedNeXtOptions, 'encoderExpansionRatio' | 'decoderExpansionRatio' | 'bottleneckExpansionRatio' | 'blocksDown' | 'blocksBottleneck' | 'blocksUp'>> = {
  S: { encoderExpansionRatio: 2, decoderExpansionRatio: 2, bottleneckExpansionRatio: 2, blocksDown: [2, 2, 2, 2], blocksBottleneck: 2, blocksUp: [2, 2, 2, 2] },
  B: { encoderExpansionRatio: [2, 3, 4, 4], decoderExpansionRatio: [4, 4, 3, 2], bottleneckExpansionRatio: 4, blocksDown: [2, 2, 2, 2], blocksBottleneck: 2, blocksUp: [2, 2, 2, 2] },
  M: { encoderExpansionRatio: [2, 3, 4, 4], decoderExpansionRatio: [4, 4, 3, 2], bottleneckExpansionRatio: 4, blocksDown: [3, 4, 4, 4], blocksBottleneck: 4, blocksUp: [4, 4, 4, 3] },
  L: { encoderExpansionRatio: [3, 4, 8, 8], decoderExpansionRatio: [8, 8, 4, 3], bottleneckExpansionRatio: 8, blocksDown: [3, 4, 8, 8], blocksBottleneck: 8, blocksUp: [8, 8, 4, 3] },
};

/**
 * the options MONAI's create_mednext gives MedNeXt for the S, B, M or L variant of the paper (case-insensitive, as
 * MONAI's): its expansion ratios and blocks, residual connections, group norm, no GRN, 32 filters, kernel 3 unless given
 */
export function medNeXtVariantOptions(variant: MedNeXtVariant | Lowercase<MedNeXtVariant>, options: MedNeXtVariantOptions = {}): MedNeXtOptions {
  const key = String(variant).toUpperCase();
  if (!(key in variants)) throw new Error(`MedNeXt: unknown variant '${String(variant)}'; valid: S, B, M, L`);
  return {
    ...variants[key as MedNeXtVariant], ...options, kernelSize: options.kernelSize ?? 3, useResidualConnection: true, normType: 'group', globalRespNorm: false, initFilters: 32,
  };
}

/** MONAI's create_mednext (and its MedNeXtS/B/M/L aliases): the MedNeXt of medNeXtVariantOptions */
export function createMedNeXt(variant: MedNeXtVariant | Lowercase<MedNeXtVariant>, options: MedNeXtVariantOptions = {}): MedNeXt {
  return new MedNeXt(medNeXtVariantOptions(variant, options));
}
