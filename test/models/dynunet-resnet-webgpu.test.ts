import { describe, it } from 'vitest';
import { DynUNet, ResNet } from '../../src/models/index.js';
import { expectSameOnBoth, singleInput } from '../helpers/backend-agreement.js';

/**
 * DynUNet and ResNet on WebGPU against the cpu backend: the same seed gives the same weights on both (tiny
 * configurations). Two input channels for DynUNet: with one, the 1³ conv3 before an instance norm only scales its
 * input, which the norm undoes, leaving conv3's weight a gradient of exactly 0 that each backend rounds to noise of
 * its own. ResNet's last stage keeps 2³ voxels: batch statistics over two values (batch 2 at one voxel) are ±1
 * whatever the input, leaving it a gradient of rounding noise.
 */

describe('DynUNet and ResNet on WebGPU', () => {
  it('DynUNet (residual blocks, deep supervision, anisotropic strides): forward and every gradient equal the cpu backend\'s within float32 rounding', async () => {
    await expectSameOnBoth((backend) => singleInput(new DynUNet({
      inChannels: 2, outChannels: 2, kernelSize: [3, 3, 3], strides: [1, [2, 2, 1], 2], upsampleKernelSize: [[2, 2, 1], 2], filters: [2, 3, 4],
      resBlock: true, deepSupervision: true, transBias: true, seed: 5, backend,
    })), [[2, 2, 4, 8, 4]]);
  });

  it.each(['A', 'B'] as const)('ResNet (shortcut %s): forward and every gradient equal the cpu backend\'s within float32 rounding', async (shortcutType) => {
    await expectSameOnBoth((backend) => singleInput(new ResNet({
      block: 'bottleneck', layers: [1, 1, 1, 1], blockInplanes: [2, 2, 3, 3], nInputChannels: 1, numClasses: 3, conv1TSize: 3,
      noMaxPool: true, shortcutType, seed: 5, backend,
    })), [[2, 1, 16, 16, 16]], { zeroGradient: (name) => name.endsWith('downsample.0.bias') });
  });
});
