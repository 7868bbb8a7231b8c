import { describe, it } from 'vitest';
import { concat } from '../../src/autograd/index.js';
import { MonaiVNet, VoxelMorph, VoxelMorphUNet } from '../../src/models/index.js';
import { expectSameOnBoth, singleInput } from '../helpers/backend-agreement.js';

/**
 * VoxelMorph and MonaiVNet on WebGPU against the cpu backend: the same seed gives the same weights (and the same
 * dropout masks) on both; tiny configurations. MonaiVNet runs in training with batch 3: its deepest stage is 1³, where
 * batch statistics over two values would be ±1 whatever the input; each up_conv's bias, followed by a batch norm on
 * batch statistics, has a gradient of exactly 0 that each backend rounds to noise of its own.
 */

describe('VoxelMorph and MonaiVNet on WebGPU', () => {
  it.each([
    ['7 integration steps', { integrationSteps: 7 }],
    ['half resolution, 2 steps', { halfRes: true, integrationSteps: 2 }],
  ] as const)('VoxelMorph (%s): the warped image, the field and every gradient equal the cpu backend\'s within float32 rounding', async (_, options) => {
    await expectSameOnBoth((backend) => {
      const net = new VoxelMorph({
        ...options,
        backbone: new VoxelMorphUNet({ inChannels: 2, unetOutChannels: 3, channels: [2, 3, 3, 4], finalConvChannels: [2], seed: 5, backend }),
      });
      return { module: net, forward: ([moving, fixed]) => concat(net.forward(moving, fixed), 1) };
    }, [[1, 1, 4, 4, 4], [1, 1, 4, 4, 4]]);
  });

  it('MonaiVNet (PReLU, biases, dropouts): forward and every gradient equal the cpu backend\'s within float32 rounding', async () => {
    await expectSameOnBoth((backend) => singleInput(new MonaiVNet({
      initFilters: 1, outChannels: 2, act: 'prelu', bias: true, dropoutProbDown: 0.3, dropoutProbUp: [0.2, 0.4], seed: 5, backend,
    })), [[3, 1, 16, 16, 16]], { zeroGradient: (name) => name.endsWith('up_conv.bias') || /(down_conv|conv_block\.conv)\.bias$/.test(name) });
  });
});
