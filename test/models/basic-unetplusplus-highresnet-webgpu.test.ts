import { concat } from '../../src/autograd/index.js';
import { describe, it } from 'vitest';
import { BasicUNetPlusPlus, HighResNet, type ChannelMatching } from '../../src/models/index.js';
import { expectSameOnBoth, singleInput } from '../helpers/backend-agreement.js';

/**
 * BasicUNetPlusPlus and HighResNet on WebGPU against the cpu backend: the same seed gives the same weights on both
 * (tiny configurations). A parameter whose gradient is exactly 0 in exact arithmetic is rounding noise on each
 * backend, checked to stay near 0 instead of compared: in BasicUNetPlusPlus the bias of every 3³ convolution, which
 * an instance norm follows; in HighResNet the bias of every projection (chn_pad.project), a per-channel constant that
 * reaches the output only through batch norms (the next block's pre-activation norm, or a 1³ convolution and then
 * the norm of the layer after it), which remove it.
 */

describe('BasicUNetPlusPlus and HighResNet on WebGPU', () => {
  it('BasicUNetPlusPlus (deep supervision, odd sizes padded, ELU): every head and every gradient equal the cpu backend\'s within float32 rounding', async () => {
    // [32, 32, 17]: the bottom level keeps 2·2·1 voxels, and 17 pools to odd sizes that the nodes pad. A smooth
    // activation: with MONAI's LeakyReLU this input has a pre-activation of upcat_0_1 within float32 rounding of the
    // kink, whose slope (1 or 0.1) then differs between the backends, and a norm bias gradient there is a sum that
    // cancels to 1/7000 of its terms' magnitudes: the backends differ by 0.5 % there for a reason that is not theirs.
    // BasicUNet's WebGPU test covers the LeakyReLU blocks.
    await expectSameOnBoth((backend) => {
      const net = new BasicUNetPlusPlus({ features: [2, 2, 3, 3, 4, 2], act: 'elu', deepSupervision: true, seed: 5, backend });
      return { module: net, forward: ([x]) => concat(net.forward(x), 1) };
    }, [[1, 1, 32, 32, 17]], {
      zeroGradient: (name) => /conv_[01]\.conv\.bias$/.test(name),
    });
  });

  it.each(['pad', 'project'] as ChannelMatching[])("HighResNet (channelMatching '%s', dilations 1, 2, 4, batch statistics): forward and every gradient equal the cpu backend's within float32 rounding", async (channelMatching) => {
    await expectSameOnBoth((backend) => singleInput(new HighResNet({
      inChannels: 2, outChannels: 3, channelMatching, seed: 5, backend,
      layerParams: [
        { nFeatures: 2, kernelSize: 3 }, { nFeatures: 2, kernels: [3, 3], repeat: 1 }, { nFeatures: 3, kernels: [3, 1], repeat: 2 },
        { nFeatures: 5, kernels: [3], repeat: 1 }, { nFeatures: 4, kernelSize: 1 }, { kernelSize: 1 },
      ],
    })), [[2, 2, 6, 5, 4]], { zeroGradient: (name) => name.endsWith('chn_pad.project.bias') });
  });
});
