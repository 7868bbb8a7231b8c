import { describe, it } from 'vitest';
import { DenseNet } from '../../src/models/index.js';
import { expectSameOnBoth, singleInput } from '../helpers/backend-agreement.js';

/**
 * DenseNet on WebGPU against the cpu backend: the same seed gives the same weights on both (a tiny configuration:
 * two blocks, so that a transition runs; the last block keeps 2³ voxels of a batch of 2 for norm5's statistics).
 */

describe('DenseNet on WebGPU', () => {
  it("forward and every gradient equal the cpu backend's within float32 rounding", async () => {
    await expectSameOnBoth((backend) => singleInput(new DenseNet({
      inChannels: 2, outChannels: 3, initFeatures: 4, growthRate: 2, blockConfig: [2, 1], bnSize: 2, seed: 5, backend,
    })), [[2, 2, 16, 16, 16]], {
      // pool0's 3³ windows of normalised values each hold a positive one, so relu0 passes every pooled maximum and
      // norm0's per-channel scale and shift reach only layers that normalise each channel first (the dense layers'
      // norm1, the transition's norm, norm5): its weight has a gradient of 0 but for eps's share, its bias one of 0,
      // which each backend rounds to noise of its own (checked below 1e-5 of conv0's gradient instead)
      zeroGradient: (name) => name.startsWith('features.norm0.'),
      weightOf: () => 'features.conv0.weight',
    });
  });
});
