import { describe, it } from 'vitest';
import { BasicUNet, type BasicUNetUpsample } from '../../src/models/index.js';
import { expectSameOnBoth, singleInput } from '../helpers/backend-agreement.js';

/**
 * BasicUNet on WebGPU against the cpu backend: the same seed gives the same weights on both (tiny features). A
 * convolution bias right before an instance norm has a gradient of exactly 0 (the norm removes any per-channel
 * constant), rounding noise on each backend: those are checked to stay near 0 instead of compared. The input is
 * [32, 32, 17]: the bottom level keeps 2·2·1 voxels (the instance norm of two values is ±1 whatever its input, which
 * leaves the layers below a gradient of rounding noise), and 17 pools to odd sizes that UpCat pads.
 */

describe('BasicUNet on WebGPU', () => {
  it.each(['deconv', 'nontrainable', 'pixelshuffle'] as BasicUNetUpsample[])("upsample '%s' (odd sizes padded): forward and every gradient equal the cpu backend's within float32 rounding", async (upsample) => {
    await expectSameOnBoth((backend) => singleInput(new BasicUNet({
      inChannels: 1, outChannels: 2, features: [2, 2, 3, 3, 4, 2], upsample, seed: 5, backend,
    })), [[1, 1, 32, 32, 17]], {
      // the 3³ convolutions of every TwoConv precede an instance norm
      zeroGradient: (name) => /conv_[01]\.conv\.bias$/.test(name),
    });
  });
});
