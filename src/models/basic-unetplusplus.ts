import { concat } from '../autograd/ops.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  Down, TwoConv, UpCat, basicUNetSetup, checkBasicUNetInput, type BasicUNetOptions, type BasicUNetUpsample,
} from './basic-unet.js';
import { Conv3d } from './layers.js';
import { Module, deriveSeed } from './module.js';

/**
 * MONAI's BasicUNetPlusPlus (monai/networks/nets/basic_unetplusplus.py; Zhou et al., "UNet++: A Nested U-Net
 * Architecture for Medical Image Segmentation", DLMIA 2018), 3-D only, built from BasicUNet's blocks (TwoConv, Down,
 * UpCat) with MONAI's module tree and state-dict keys: the encoder column `conv_0_0` (TwoConv) and `conv_1_0` …
 * `conv_4_0` (Down), the nested decoder nodes `upcat_i_j` (registered column by column: upcat_0_1, upcat_1_1,
 * upcat_2_1, upcat_3_1, upcat_0_2, …, upcat_0_4) and the four 1³ heads `final_conv_0_1` … `final_conv_0_4`.
 */

export interface BasicUNetPlusPlusOptions extends BasicUNetOptions {
  /** return the four heads' outputs (of x_0_1 … x_0_4) rather than only the last one's (default false) */
  deepSupervision?: boolean;
}

/**
 * Node x_i_j (level i, column j ≥ 1) is UpCat `upcat_i_j`: x_(i+1)_(j−1) upsampled (to half its channels where i ≥ 1;
 * at level 0 not halved, as BasicUNet's last UpCat), concatenated after x_i_0 … x_i_(j−1), then a TwoConv to
 * features[i] channels (features[5] for x_0_4). Each head `final_conv_0_j` is a 1³ Conv3d (with a bias) of x_0_j to
 * outChannels. As MONAI's, the forward returns a list: [head 4] by default, [head 1, head 2, head 3, head 4] with
 * deepSupervision, in training and in evaluation alike. Without deepSupervision the first three heads are registered
 * (their parameters are in the state dict) but unused: MONAI computes and drops them, here they are not computed.
 */
export class BasicUNetPlusPlus extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly features: readonly number[];
  readonly upsample: BasicUNetUpsample;
  readonly deepSupervision: boolean;
  /** conv_0_0 … conv_4_0 */
  private readonly encoder: (TwoConv | Down)[] = [];
  /** upcat_i_j under the key `${i}_${j}` */
  private readonly nodes = new Map<string, UpCat>();
  /** final_conv_0_1 … final_conv_0_4 */
  private readonly heads: Conv3d[] = [];

  constructor(options: BasicUNetPlusPlusOptions = {}) {
    super();
    const who = 'BasicUNetPlusPlus';
    const { inChannels, outChannels, features: f, upsample, ctx } = basicUNetSetup(options, who);
    [this.inChannels, this.outChannels, this.features, this.upsample] = [inChannels, outChannels, f, upsample];
    const deepSupervision = options.deepSupervision ?? false;
    if (typeof deepSupervision !== 'boolean') throw new Error(`${who}: deepSupervision must be a boolean, got ${String(deepSupervision)}`);
    this.deepSupervision = deepSupervision;

    for (let i = 0; i <= 4; i++) {
      const name = `conv_${i}_0`;
      this.encoder.push(this.registerModule(name, i === 0 ? new TwoConv(inChannels, f[0], name, ctx) : new Down(f[i - 1], f[i], name, ctx)));
    }
    for (let j = 1; j <= 4; j++) {
      for (let i = 0; i + j <= 4; i++) {
        const name = `upcat_${i}_${j}`, out = i === 0 && j === 4 ? f[5] : f[i];
        this.nodes.set(`${i}_${j}`, this.registerModule(name, new UpCat(f[i + 1], f[i] * j, out, upsample, i !== 0, name, ctx)));
      }
    }
    for (let j = 1; j <= 4; j++) {
      const name = `final_conv_0_${j}`;
      this.heads.push(this.registerModule(name, new Conv3d(j === 4 ? f[5] : f[0], outChannels, 1, { seed: deriveSeed(ctx.seed, name), backend: ctx.backend })));
    }
  }

  /**
   * for an input [N, inChannels, D, H, W] with D, H, W ≥ 16: [y4], or with deepSupervision [y1, y2, y3, y4], each
   * [N, outChannels, D, H, W]
   */
  forward(x: Tensor): Tensor[] {
    checkBasicUNetInput(x, this.inChannels, 'BasicUNetPlusPlus');
    return tidy(() => {
      // levels[i][j] = x_i_j, filled anti-diagonal by anti-diagonal as MONAI's forward: x_k_0, then x_(k−1)_1 … x_0_k
      const levels: Tensor[][] = [[this.encoder[0].forward(x)], [], [], [], []];
      for (let k = 1; k <= 4; k++) {
        levels[k].push(this.encoder[k].forward(levels[k - 1][0]));
        for (let j = 1; j <= k; j++) {
          // concat gets a copy: level i's list grows after it, and concat's backward reads the list it was given
          const i = k - j, skips = [...levels[i]];
          levels[i].push(this.nodes.get(`${i}_${j}`)!.forward(levels[i + 1][j - 1], skips.length === 1 ? skips[0] : concat(skips, 1)));
        }
      }
      const used = this.deepSupervision ? [1, 2, 3, 4] : [4];
      return used.map((j) => this.heads[j - 1].forward(levels[0][j]));
    });
  }
}
