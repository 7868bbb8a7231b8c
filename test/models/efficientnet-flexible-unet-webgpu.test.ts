import { describe, it } from 'vitest';
import { EfficientNet, FlexibleUNet } from '../../src/models/index.js';
import { expectSameOnBoth, singleInput } from '../helpers/backend-agreement.js';

/**
 * EfficientNet and FlexibleUNet on WebGPU against the cpu backend: the same seed gives the same weights on both (tiny
 * configurations; drop-connect and dropout off, their masks being drawn by each backend). Inputs of 16³: the last
 * stack keeps 2³ voxels (batch statistics over two values are ±1 whatever the input, leaving gradients of rounding
 * noise). In the classifier, every projection's norm bias (`_bn2.bias`) has a gradient of exactly 0: the per-channel
 * constant it adds reaches the next block's 1³ expansion (or the head's 1³ conv), whose batch norm removes it, also
 * through a residual that adds it to the next block's output. The EfficientNet encoder of FlexibleUNet registers MONAI's
 * classification head and fc, which its features do not use: no gradient on either backend.
 */

const blocksArgsStr = ['r1_k3_s11_e1_i32_o24_se0.25', 'r2_k3_s22_e2_i24_o32_se0.5', 'r1_k5_s22_e3_i32_o32_se0.25_noskip'];

describe('EfficientNet and FlexibleUNet on WebGPU', () => {
  it('EfficientNet (expansion, depthwise convolutions, squeeze-and-excitation, static padding): forward and every gradient equal the cpu backend\'s within float32 rounding', async () => {
    await expectSameOnBoth((backend) => singleInput(new EfficientNet({
      blocksArgsStr, inChannels: 1, numClasses: 3, widthCoefficient: 0.125, depthDivisor: 1, imageSize: 16, dropConnectRate: 0, dropoutRate: 0, seed: 5, backend,
    })), [[2, 1, 16, 16, 16]], { zeroGradient: (name) => name.endsWith('_bn2.bias') });
  });

  it('FlexibleUNet (a tiny EfficientNet backbone, preconv and nearest upsampling): forward and every gradient equal the cpu backend\'s within float32 rounding', async () => {
    await expectSameOnBoth((backend) => singleInput(new FlexibleUNet({
      inChannels: 1, outChannels: 2, decoderChannels: [4, 3, 2], seed: 5, backend,
      backbone: {
        name: 'tiny-efficientnet', featureChannels: [3, 4, 4],
        build: ({ inChannels, seed, backend: b }) => new EfficientNet({
          blocksArgsStr, inChannels, numClasses: 2, widthCoefficient: 0.125, depthDivisor: 1, imageSize: 16, dropConnectRate: 0, dropoutRate: 0, seed, backend: b,
        }),
      },
    })), [[2, 1, 16, 16, 16]], { unused: (name) => /^encoder\.(_conv_head|_bn1|_fc)\./.test(name) });
  });
});
