import { describe, it } from 'vitest';
import { MonaiUNet } from '../../src/models/index.js';
import { expectSameOnBoth, singleInput } from '../helpers/backend-agreement.js';

/**
 * MonaiUNet on WebGPU against the cpu backend: the same seed gives the same weights on both (tiny configurations). A
 * convolution bias right before an instance norm has a gradient of exactly 0 (the norm removes any per-channel
 * constant), rounding noise on each backend: those are checked to stay near 0 instead of compared.
 */

describe('MonaiUNet on WebGPU', () => {
  it.each([0, 2])('numResUnits %i (anisotropic strides, PReLU, instance norm): forward and every gradient equal the cpu backend\'s within float32 rounding', async (numResUnits) => {
    await expectSameOnBoth((backend) => singleInput(new MonaiUNet({
      inChannels: 2, outChannels: 2, channels: [2, 3, 4], strides: [[2, 2, 1], 2], numResUnits, seed: 5, backend,
    })), [[2, 2, 8, 8, 4]], {
      // every Convolution with an ADN normalises its conv's output; the top up layer (model.2, or its residual
      // unit's last convolution) is conv-only
      zeroGradient: (name) => name.endsWith('conv.bias') && name !== 'model.2.conv.bias' && name !== 'model.2.1.conv.unit0.conv.bias',
    });
  });
});
