import { concat, leakyRelu } from '../autograd/ops.js';
import { interpolate } from '../autograd/nn.js';
import type { Tensor } from '../tensor/tensor.js';
import { Conv3d, ConvTranspose3d, InstanceNorm3d, MaxPool3d } from './layers.js';
import { Module } from './module.js';

/** conv 3×3×3 → instance norm (affine) → LeakyReLU(0.1), twice: MONAI's TwoConv */
class TwoConv extends Module {
  private readonly layers: [Conv3d, InstanceNorm3d][];

  constructor(inChannels: number, outChannels: number) {
    super();
    this.layers = [0, 1].map((i) => [
      this.registerModule(`conv_${i}`, new Conv3d(i === 0 ? inChannels : outChannels, outChannels, 3, { padding: 1 })),
      this.registerModule(`norm_${i}`, new InstanceNorm3d(outChannels, { affine: true })),
    ]);
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const [conv, norm] of this.layers) y = leakyRelu(norm.forward(conv.forward(y)), 0.1);
    return y;
  }
}

export type UpsampleMode = 'deconv' | 'trilinear';

export interface UNetOptions {
  inChannels: number;
  outChannels: number;
  /** channels per level, finest first; each level below the first halves the resolution (default [8, 16, 32]) */
  features?: readonly number[];
  /** 'deconv' (a transposed 2×2×2 convolution, MONAI's default) or 'trilinear' upsampling then a 1×1×1 conv */
  upsample?: UpsampleMode;
}

/**
 * A MONAI-BasicUNet-like 3-D U-Net (what examples/unet.ts segments and examples/registration.ts registers with):
 * `new UNet({ inChannels, outChannels, features, upsample })`, TwoConv at every level, max-pool down, up by `upsample`, skips by
 * concatenation then TwoConv, a 1×1×1 convolution to the output channels (no activation). The input's
 * extents must be divisible by 2^(levels − 1).
 * Where it is not BasicUNet: the up path maps a level's channels to the skip's (BasicUNet's deconv halves them and
 * concatenates cat + up channels); 'trilinear' interpolates with align_corners false and convolves after it
 * (BasicUNet's 'nontrainable' convolves first and interpolates with align_corners true).
 */
export class UNet extends Module {
  readonly features: number[];
  readonly upsample: UpsampleMode;
  private readonly down: TwoConv[];
  private readonly pool = new MaxPool3d(2);
  private readonly up: (ConvTranspose3d | Conv3d)[];
  private readonly merge: TwoConv[];
  /** the final 1×1×1 convolution */
  readonly head: Conv3d;

  constructor(options: UNetOptions) {
    super();
    const f = this.features = [...(options.features ?? [8, 16, 32])];
    if (f.length < 2) throw new Error(`UNet: at least two levels, got features [${f.join(', ')}]`);
    this.upsample = options.upsample ?? 'deconv';
    this.down = f.map((c, i) => this.registerModule(`down_${i}`, new TwoConv(i === 0 ? options.inChannels : f[i - 1], c)));
    this.up = f.slice(1).map((c, i) => this.registerModule(`up_${i}`, this.upsample === 'deconv'
      ? new ConvTranspose3d(c, f[i], 2, { stride: 2 })
      : new Conv3d(c, f[i], 1)));
    this.merge = f.slice(1).map((_, i) => this.registerModule(`merge_${i}`, new TwoConv(2 * f[i], f[i])));
    this.head = this.registerModule('head', new Conv3d(f[0], options.outChannels, 1));
  }

  forward(x: Tensor): Tensor {
    const levels = this.features.length, factor = 2 ** (levels - 1);
    if (x.shape.slice(2).some((s) => s % factor !== 0)) {
      throw new Error(`UNet: input extents [${x.shape.slice(2).join(', ')}] must be divisible by ${factor} (${levels} levels)`);
    }
    const skips: Tensor[] = [];
    let y = x;
    for (let i = 0; i < levels; i++) {
      if (i > 0) y = this.pool.forward(y);
      y = this.down[i].forward(y);
      skips.push(y);
    }
    for (let i = levels - 2; i >= 0; i--) {
      const up = this.up[i];
      y = up instanceof ConvTranspose3d ? up.forward(y) : up.forward(interpolate(y, { scaleFactor: 2, mode: 'trilinear' }));
      y = this.merge[i].forward(concat([skips[i], y], 1));
    }
    return this.head.forward(y);
  }
}
