import { describe, it } from 'vitest';
import { concat, reshape } from '../../src/autograd/index.js';
import { Classifier, Generator, SegResNetVAE, type NoiseGenerator } from '../../src/models/index.js';
import { expectSameOnBoth, singleInput } from '../helpers/backend-agreement.js';

/**
 * Classifier (a Regressor with a last activation), Generator and SegResNetVAE on WebGPU against the cpu backend: the
 * same seed gives the same weights on both, the same generator the same noise (drawn on the host), tiny
 * configurations. A gradient that is exactly 0 in exact arithmetic (a convolution bias right before an instance norm,
 * or one whose per-channel constant a later norm removes) is rounding noise on each backend: checked to stay near 0
 * instead of compared.
 */

/** a generator giving the same seed every draw: the same noise on both backends */
const fixed = (seed: number): NoiseGenerator => ({ nextU32: () => seed });

describe('Classifier, Generator and SegResNetVAE on WebGPU', () => {
  it('Classifier (residual units, softmax): forward and every gradient equal the cpu backend\'s', async () => {
    await expectSameOnBoth((backend) => singleInput(new Classifier({
      inShape: [1, 8, 8, 4], classes: 3, channels: [2, 3], strides: [2, 2], lastAct: 'softmax', seed: 5, backend,
    })), [[2, 1, 8, 8, 4]], { zeroGradient: (name) => name.endsWith('conv.bias') && name !== 'net.layer_1.conv.unit1.conv.bias' });
  });

  it('Generator (residual units): forward and every gradient equal the cpu backend\'s', async () => {
    await expectSameOnBoth((backend) => singleInput(new Generator({
      latentShape: [5], startShape: [3, 2, 2, 1], channels: [2, 1], strides: [2, 2], numResUnits: 1, seed: 5, backend,
    })), [[2, 5]], { zeroGradient: (name) => name.endsWith('unit0.conv.bias') && name !== 'conv.layer_1.1.conv.unit0.conv.bias' });
  });

  it('SegResNetVAE in training (estimated std, deconv): the segmentation, the VAE loss and every gradient equal the cpu backend\'s', async () => {
    await expectSameOnBoth((backend) => {
      const net = new SegResNetVAE({
        inputImageSize: [4, 8, 4], initFilters: 2, norm: ['group', { numGroups: 2 }], blocksDown: [1, 1], blocksUp: [1], vaeNz: 3, vaeEstimateStd: true,
        upsampleMode: 'deconv', generator: fixed(9), seed: 5, backend,
      });
      return { module: net, forward: ([x]) => {
        const [seg, loss] = net.forward(x);
        return concat([reshape(seg, [-1]), reshape(loss!, [1])], 0);
      } };
    }, [[2, 1, 4, 8, 4]], {
      // the decoder's deconv bias reaches the output only through the identity path of up_layers' block into conv_final's
      // (and vae_conv_final's) group norm of one channel per group, which removes it: a gradient of exactly 0
      zeroGradient: (name) => name === 'up_samples.0.1.deconv.bias',
    });
  });
});
