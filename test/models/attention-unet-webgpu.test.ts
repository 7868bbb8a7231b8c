import { describe, it } from 'vitest';
import { AttentionUnet } from '../../src/models/index.js';
import { expectSameOnBoth, singleInput } from '../helpers/backend-agreement.js';

/**
 * AttentionUnet on WebGPU against the cpu backend: the same seed gives the same weights on both (a tiny
 * configuration). Channels of 4 give the attention gates fInt 2: with fInt 1, psi's 1³ conv only scales its one
 * input channel, which the batch norm after it undoes, leaving its weight a gradient of rounding noise.
 */

describe('AttentionUnet on WebGPU', () => {
  it("forward and every gradient equal the cpu backend's within float32 rounding (three levels, anisotropic strides)", async () => {
    await expectSameOnBoth((backend) => singleInput(new AttentionUnet({
      inChannels: 2, outChannels: 2, channels: [4, 4, 4], strides: [2, [1, 2, 2]], seed: 5, backend,
    })), [[1, 2, 4, 8, 8]], {
      // every conv bias but the last is followed by a batch norm on batch statistics or merge's instance norm, which
      // remove any per-channel constant: an exact gradient of 0
      zeroGradient: (name) => name.endsWith('conv.bias') && name !== 'model.2.conv.bias',
    });
  });
});
