import { interpolate } from '../autograd/nn.js';
import { concat, mulScalar } from '../autograd/ops.js';
import type { Backend } from '../kernels/backend.js';
import { tidy } from '../tensor/memory.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { MaxPool3d, Upsample, type IntOrTriple } from './layers.js';
import {
  MonaiConvolution, SkipConnection, checkAdnOrdering, monaiActFactory, monaiNormFactory, samePadding, type MonaiActSpec,
} from './monai-blocks.js';
import { Layer, Module, Sequential, deriveSeed, nextSeed } from './module.js';
import type { NormSpec } from './norm-act.js';
import { DVF2DDF, Warp } from './warp.js';

/**
 * MONAI's VoxelMorph (monai/networks/nets/voxelmorph.py; Balakrishnan et al., "VoxelMorph: A Learning Framework for
 * Deformable Medical Image Registration", IEEE TMI 2019), 3-D, with MONAI's module tree and state-dict keys: the
 * backbone VoxelMorphUNet (`net.0.0.conv.weight`, `net.0.1.submodule.0.1.conv.weight`, …,
 * `net.1.final_conv_out.conv.bias`) and VoxelMorph around it (`backbone.…`, then the parameterless `dvf2ddf` and `warp`).
 */

/** MONAI's UpSample in its 'nontrainable' mode with nearest interpolation and as many channels out as in: one nn.Upsample ×2 */
export class UpSample extends Sequential {
  constructor() {
    super();
    this.addModule('upsample_non_trainable', new Upsample({ scaleFactor: 2, mode: 'nearest' }));
  }
}

export interface VoxelMorphUNetOptions {
  /** only 3 (MONAI's 2-D form is not offered) */
  spatialDims?: 3;
  /** the channels of the moving and the fixed image concatenated: even */
  inChannels: number;
  /** the channels out of the UNet, into the final convolutions */
  unetOutChannels: number;
  /**
   * pairs (down, up): the first pair's down channel is the top level's, each following pair one level deeper (the last,
   * the bottleneck); at least one pair. Each pair halves the size once: the input's extents must be divisible by
   * 2^(channels.length / 2)
   */
  channels: readonly number[];
  /** the channels of the final convolutions before the one to the 3 channels of the field (may be empty) */
  finalConvChannels: readonly number[];
  /** the final convolutions' activation (default 'leakyrelu': LeakyReLU with slope 0.2, VoxelMorph's TensorFlow default); null for none */
  finalConvAct?: MonaiActSpec | null;
  /** the kernel of every convolution but the up path's: odd (default 3) */
  kernelSize?: IntOrTriple;
  /** the kernel of the up path's convolutions: odd (default 3) */
  upKernelSize?: IntOrTriple;
  /** the UNet's activation (default 'leakyrelu': slope 0.2, as finalConvAct) */
  act?: MonaiActSpec;
  /** a norm in every convolution block (default null: none) */
  norm?: NormSpec | null;
  /** an elementwise nn.Dropout in every convolution block (default 0, present but inactive, as MONAI's); null: none */
  dropout?: number | null;
  /** whether the convolutions have a bias (default true) */
  bias?: boolean;
  /** downsample by a 2³ max pool before a convolution (default true, VoxelMorph's); false: by the convolution's stride 2 */
  useMaxpool?: boolean;
  /** the order of the norm, dropout and activation after each convolution (default 'NDA') */
  adnOrdering?: string;
  /** initialisation seed; each convolution's derives from it and its module path (default: the global generator) */
  seed?: number;
  backend?: Backend;
}

/** MONAI's reading of the activation 'LEAKYRELU' in VoxelMorph: LeakyReLU with negative slope 0.2 */
function voxelMorphAct(act: MonaiActSpec): MonaiActSpec {
  return typeof act === 'string' && act.toLowerCase() === 'leakyrelu' ? ['leakyrelu', { negativeSlope: 0.2 }] : act;
}

const positiveInteger = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;

/**
 * MONAI's VoxelMorphUNet, the backbone of VoxelMorph: a UNet (MONAI's recursive down/skip/up tree, 2³ max pooling or
 * strided convolutions down, nearest ×2 upsampling up) and final convolutions to the 3 channels of a displacement or
 * velocity field [N, 3, D, H, W] (voxels, channel i along spatial axis i).
 */
export class VoxelMorphUNet extends Layer {
  readonly inChannels: number;
  readonly unetOutChannels: number;
  readonly channels: readonly number[];
  readonly finalConvChannels: readonly number[];
  readonly useMaxpool: boolean;
  readonly net: Sequential;
  private readonly build: {
    kernelSize: IntOrTriple; upKernelSize: IntOrTriple; act: MonaiActSpec; finalConvAct: MonaiActSpec | null; norm: NormSpec | null;
    dropout: number | null; bias: boolean; adnOrdering: string; seed: number; backend: Backend | undefined;
  };

  constructor(options: VoxelMorphUNetOptions) {
    super();
    const {
      spatialDims = 3, inChannels, unetOutChannels, channels, finalConvChannels, finalConvAct = 'leakyrelu', kernelSize = 3, upKernelSize = 3,
      act = 'leakyrelu', norm = null, dropout = 0, bias = true, useMaxpool = true, adnOrdering = 'NDA', seed = nextSeed(), backend,
    } = options;
    const name = 'VoxelMorphUNet';
    if (spatialDims !== 3) throw new Error(`${name}: only spatialDims 3 is supported, got ${String(spatialDims)}`);
    if (!positiveInteger(inChannels) || inChannels % 2 !== 0) throw new Error(`${name}: inChannels must be a positive even integer (the moving and the fixed image concatenated), got ${String(inChannels)}`);
    if (!positiveInteger(unetOutChannels)) throw new Error(`${name}: unetOutChannels must be a positive integer, got ${String(unetOutChannels)}`);
    if (!Array.isArray(channels) || channels.length < 2 || channels.length % 2 !== 0 || !channels.every(positiveInteger)) {
      throw new Error(`${name}: channels must be pairs of positive integers, at least one pair, got ${JSON.stringify(channels)}`);
    }
    if (!Array.isArray(finalConvChannels) || !finalConvChannels.every(positiveInteger)) {
      throw new Error(`${name}: finalConvChannels must be positive integers (or empty), got ${JSON.stringify(finalConvChannels)}`);
    }
    if (dropout !== null && !(dropout >= 0 && dropout <= 1)) throw new Error(`${name}: dropout must be in [0, 1] or null, got ${String(dropout)}`);
    samePadding(kernelSize, 1, `${name} kernelSize`);
    samePadding(upKernelSize, 1, `${name} upKernelSize`);
    checkAdnOrdering(adnOrdering, `${name}: adnOrdering`);
    for (const a of [act, finalConvAct]) if (a !== null) monaiActFactory(a, name);
    if (norm !== null) monaiNormFactory(norm, name);
    for (const [key, value] of [['bias', bias], ['useMaxpool', useMaxpool]] as const) {
      if (typeof value !== 'boolean') throw new Error(`${name}: ${key} must be a boolean, got ${String(value)}`);
    }
    this.inChannels = inChannels;
    this.unetOutChannels = unetOutChannels;
    this.channels = [...channels];
    this.finalConvChannels = [...finalConvChannels];
    this.useMaxpool = useMaxpool;
    this.build = {
      kernelSize, upKernelSize, act: voxelMorphAct(act), finalConvAct: finalConvAct === null ? null : voxelMorphAct(finalConvAct), norm, dropout, bias, adnOrdering, seed, backend,
    };
    this.net = this.registerModule('net', new Sequential(
      this.level(inChannels, unetOutChannels, this.channels, true, 'net.0'),
      this.finalConvolutions(unetOutChannels, 3, 'net.1'),
    ));
  }

  /** how many times the UNet halves the size: once per pair of channels */
  get depth(): number { return this.channels.length / 2; }

  /** a Convolution block of the network's norm and dropout, with `act` (null: none), seeded by its module path */
  private convolution(inc: number, outc: number, path: string, kernelSize: IntOrTriple, act: MonaiActSpec | null, strides = 1): MonaiConvolution {
    const b = this.build;
    return new MonaiConvolution(inc, outc, {
      kernelSize, strides, bias: b.bias, adnOrdering: b.adnOrdering, act, norm: b.norm, dropout: b.dropout, seed: deriveSeed(b.seed, path), backend: b.backend,
    });
  }

  /** MONAI's _create_block: Sequential(down, SkipConnection(the next level, or the bottom), up) */
  private level(inc: number, outc: number, channels: readonly number[], isTop: boolean, path: string): Sequential {
    const [nextIn, nextOut] = channels as [number, number];
    const sub = channels.length > 2
      ? this.level(nextIn, nextOut, channels.slice(2), false, `${path}.1.submodule`)
      : this.bottom(nextIn, nextOut, `${path}.1.submodule`);
    return new Sequential(this.down(inc, nextIn, isTop, `${path}.0`), new SkipConnection(sub), this.up(nextIn + nextOut, outc, isTop, `${path}.2`));
  }

  /** a convolution, after a 2³ max pool below the top (useMaxpool), or with stride 2 below the top (not useMaxpool) */
  private down(inc: number, outc: number, isTop: boolean, path: string): Layer {
    const pooled = this.useMaxpool && !isTop;
    const conv = this.convolution(inc, outc, pooled ? `${path}.1` : path, this.build.kernelSize, this.build.act, this.useMaxpool || isTop ? 1 : 2);
    return pooled ? new Sequential(new MaxPool3d(2, { stride: 2 }), conv) : conv;
  }

  /** the bottleneck: a down layer, then upsampled */
  private bottom(inc: number, outc: number, path: string): Sequential {
    return new Sequential(this.down(inc, outc, false, `${path}.0`), new UpSample());
  }

  /** a convolution of the up kernel, then upsampled below the top */
  private up(inc: number, outc: number, isTop: boolean, path: string): Layer {
    const conv = this.convolution(inc, outc, isTop ? path : `${path}.0`, this.build.upKernelSize, this.build.act);
    return isTop ? conv : new Sequential(conv, new UpSample());
  }

  /** final_conv_0, final_conv_1, … with finalConvAct, then final_conv_out to `outc` channels without activation */
  private finalConvolutions(inc: number, outc: number, path: string): Sequential {
    const layers = new Sequential();
    for (const [i, c] of this.finalConvChannels.entries()) {
      layers.addModule(`final_conv_${i}`, this.convolution(inc, c, `${path}.final_conv_${i}`, this.build.kernelSize, this.build.finalConvAct));
      inc = c;
    }
    layers.addModule('final_conv_out', this.convolution(inc, outc, `${path}.final_conv_out`, this.build.kernelSize, null));
    return layers;
  }

  /** the field [N, 3, D, H, W] of the concatenated pair [N, inChannels, D, H, W], D, H and W divisible by 2^depth */
  forward(x: Tensor): Tensor {
    const name = 'VoxelMorphUNet';
    if (x.rank !== 5 || x.shape[1] !== this.inChannels) throw new Error(`${name}: input must be [N, ${this.inChannels}, D, H, W], got ${formatShape(x.shape)}`);
    const factor = 2 ** this.depth;
    if (x.shape.slice(2).some((d) => d % factor !== 0)) {
      throw new Error(`${name}: input ${formatShape(x.shape)}: the spatial extents must be divisible by ${factor} (halved once per pair of channels, ${this.depth} pairs)`);
    }
    return this.net.forward(x);
  }
}

export interface VoxelMorphOptions {
  /**
   * the network from the concatenated pair [N, 2C, D, H, W] to the field [N, 3, D, H, W] (default MONAI's:
   * VoxelMorphUNet with inChannels 2, unetOutChannels 32, channels [16, 32, 32, 32, 32, 32], finalConvChannels [16, 16])
   */
  backbone?: Layer | null;
  /** scaling-and-squaring steps from the velocity to the displacement (default 7); 0: the backbone predicts the displacement */
  integrationSteps?: number;
  /** integrate at half resolution (default false): the field resized to half size before and back after, as MONAI's */
  halfRes?: boolean;
  /** only 3 */
  spatialDims?: 3;
  /** the default backbone's initialisation seed (default: the global generator) */
  seed?: number;
  /** the default backbone's backend */
  backend?: Backend;
}

/**
 * MONAI's VoxelMorph: forward(moving, fixed) concatenates the pair along the channels, runs the backbone, integrates
 * the velocity field by scaling and squaring (DVF2DDF, 'zeros' padding) when integrationSteps > 0, and warps the
 * moving image by the displacement (Warp, trilinear, 'zeros' padding); it returns [warped moving image, displacement].
 */
export class VoxelMorph extends Module {
  readonly backbone: Layer;
  readonly dvf2ddf: DVF2DDF | null;
  readonly warp: Warp;
  readonly integrationSteps: number;
  readonly halfRes: boolean;
  readonly diffeomorphic: boolean;

  constructor(options: VoxelMorphOptions = {}) {
    super();
    const { backbone = null, integrationSteps = 7, halfRes = false, spatialDims = 3, seed, backend } = options;
    if (spatialDims !== 3) throw new Error(`VoxelMorph: only spatialDims 3 is supported, got ${String(spatialDims)}`);
    if (!Number.isInteger(integrationSteps) || integrationSteps < 0) throw new Error(`VoxelMorph: integrationSteps must be a non-negative integer, got ${String(integrationSteps)}`);
    if (typeof halfRes !== 'boolean') throw new Error(`VoxelMorph: halfRes must be a boolean, got ${String(halfRes)}`);
    if (backbone !== null && !(backbone instanceof Layer)) throw new Error('VoxelMorph: backbone must be a Layer (a module with forward(x))');
    this.integrationSteps = integrationSteps;
    this.halfRes = halfRes;
    this.diffeomorphic = integrationSteps > 0;
    this.backbone = this.registerModule('backbone', backbone ?? new VoxelMorphUNet({
      inChannels: 2, unetOutChannels: 32, channels: [16, 32, 32, 32, 32, 32], finalConvChannels: [16, 16], seed, backend,
    }));
    this.dvf2ddf = this.diffeomorphic ? this.registerModule('dvf2ddf', new DVF2DDF({ numSteps: integrationSteps, mode: 'bilinear', paddingMode: 'zeros' })) : null;
    this.warp = this.registerModule('warp', new Warp({ mode: 'bilinear', paddingMode: 'zeros' }));
  }

  /** [moving warped by the displacement, the displacement [N, 3, D, H, W]] for moving and fixed of one shape */
  forward(moving: Tensor, fixed: Tensor): [Tensor, Tensor] {
    const name = 'VoxelMorph';
    if (!sameShape(moving.shape, fixed.shape)) throw new Error(`${name}: moving ${formatShape(moving.shape)} and fixed ${formatShape(fixed.shape)} must have the same shape`);
    if (moving.rank !== 5) throw new Error(`${name}: moving and fixed must be [N, C, D, H, W], got ${formatShape(moving.shape)}`);
    if (this.halfRes && moving.shape.slice(2).some((d) => d % 2 !== 0 || d < 4)) {
      throw new Error(`${name}: with halfRes, the spatial extents of moving ${formatShape(moving.shape)} must be even and at least 4 (the field is integrated at half size)`);
    }
    return tidy(() => {
      let x = this.backbone.forward(concat([moving, fixed], 1));
      if (x.rank !== 5 || x.shape[1] !== 3) throw new Error(`${name}: the backbone's output ${formatShape(x.shape)} must have 3 channels (one per spatial axis)`);
      if (!sameShape(x.shape.slice(2), moving.shape.slice(2))) {
        throw new Error(`${name}: the backbone's output ${formatShape(x.shape)} must have the spatial shape of the images ${formatShape(moving.shape.slice(2))}`);
      }
      // as MONAI: ×2 going down and ×0.5 coming back (the opposite of rescaling voxel displacements to the half grid)
      if (this.halfRes) x = mulScalar(interpolate(x, { scaleFactor: 0.5, mode: 'trilinear', alignCorners: true }), 2);
      if (this.dvf2ddf) x = this.dvf2ddf.forward(x);
      if (this.halfRes) x = interpolate(mulScalar(x, 0.5), { scaleFactor: 2, mode: 'trilinear', alignCorners: true });
      return [this.warp.forward(moving, x), x];
    });
  }
}
