import { describe, it } from 'vitest';
import { concat, reshape } from '../../src/autograd/index.js';
import { AutoEncoder, VarAutoEncoder, type NoiseGenerator } from '../../src/models/index.js';
import { expectSameOnBoth, singleInput } from '../helpers/backend-agreement.js';

/**
 * AutoEncoder and VarAutoEncoder on WebGPU against the cpu backend: the same seed gives the same weights on both, the
 * same generator the same noise (drawn on the host), tiny configurations. A convolution bias right before an instance
 * norm has a gradient of exactly 0 (the norm removes any per-channel constant), rounding noise on each backend: those
 * are checked to stay near 0 instead of compared; the biases of conv-only layers are compared.
 */

/** a generator giving the same seed every draw: the same noise on both backends */
const fixed = (seed: number): NoiseGenerator => ({ nextU32: () => seed });

describe('AutoEncoder and VarAutoEncoder on WebGPU', () => {
  it('AutoEncoder (residual units, an intermediate block, anisotropic strides): forward and every gradient equal the cpu backend\'s within float32 rounding', async () => {
    await expectSameOnBoth((backend) => singleInput(new AutoEncoder({
      inChannels: 2, outChannels: 2, channels: [2, 3], strides: [[2, 2, 1], 2], numResUnits: 1, interChannels: [3], numInterUnits: 1, seed: 5, backend,
    })), [[2, 2, 8, 8, 4]], { zeroGradient: (name) => name.endsWith('conv.bias') && name !== 'decode.decode_1.resunit.conv.unit0.conv.bias' });
  });

  it('VarAutoEncoder in training (the seeded noise): the reconstruction, mu, logvar, z and every gradient equal the cpu backend\'s', async () => {
    await expectSameOnBoth((backend) => {
      const net = new VarAutoEncoder({ inShape: [1, 8, 8, 4], outChannels: 1, latentSize: 3, channels: [2, 3], strides: [2, 2], generator: fixed(7), seed: 5, backend });
      return { module: net, forward: ([x]) => concat(net.forward(x).map((t) => reshape(t, [2, -1])), 1) };
    }, [[2, 1, 8, 8, 4]], { zeroGradient: (name) => name.endsWith('conv.bias') && name !== 'decode.decode_1.conv.conv.bias' });
  });
});
