import { describe, it } from 'vitest';
import { concat, reshape } from '../../src/autograd/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { MedNeXt, SegResNetDS } from '../../src/models/index.js';
import { expectSameOnBoth } from '../helpers/backend-agreement.js';

/**
 * MedNeXt and SegResNetDS on WebGPU against the cpu backend: the same seed gives the same weights on both (tiny
 * configurations). MedNeXt's depthwise conv1 (plain or transposed) is followed by a GroupNorm with a group per
 * channel, which removes any per-channel constant: conv1's bias has a gradient of exactly 0 that each backend rounds
 * to noise of its own, checked against 1e-5 of conv1's weight gradient; one level (down block, bottleneck, up block),
 * batch 2 (with two levels, down_blocks.1's 16 voxels gave a noise of 1.4 times that bound). SegResNetDS: batch 2 with 2³ voxels at its coarsest level, so that the batch statistics there
 * are over 16 values.
 */

/** the outputs and heads, flattened one after the other */
const flat = (outputs: Tensor[]): Tensor => concat(outputs.map((y) => reshape(y, [y.numel()])), 0);

describe('MedNeXt and SegResNetDS on WebGPU', () => {
  it('MedNeXt (residual, GRN, deep supervision): forward and every gradient equal the cpu backend\'s within float32 rounding', async () => {
    await expectSameOnBoth((backend) => {
      const net = new MedNeXt({
        initFilters: 2, blocksDown: [1], blocksBottleneck: 1, blocksUp: [1], kernelSize: 3, useResidualConnection: true, globalRespNorm: true,
        deepSupervision: true, seed: 5, backend,
      });
      return { module: net, forward: ([x]) => flat(net.forwardWithDeepSupervision(x)) };
    }, [[2, 1, 4, 4, 8]], { zeroGradient: (name) => name.endsWith('conv1.bias') });
  });

  it.each(['deconv', 'nontrainable'] as const)('SegResNetDS (%s, anisotropic, dsdepth 2): forward and every gradient equal the cpu backend\'s within float32 rounding', async (upsampleMode) => {
    await expectSameOnBoth((backend) => {
      const net = new SegResNetDS({ initFilters: 2, blocksDown: [1, 2, 1], upsampleMode, resolution: [1, 1, 2], dsdepth: 2, seed: 5, backend });
      return { module: net, forward: ([x]) => flat(net.forwardWithDeepSupervision(x)) };
    }, [[2, 1, 8, 8, 4]]);
  });
});
