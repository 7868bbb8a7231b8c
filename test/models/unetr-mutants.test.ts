import { describe, expect, it } from 'vitest';
import {
  CrossAttentionBlock, MLPBlock, PatchEmbeddingBlock, SABlock, TransformerBlock, UNETR, ViT, type UNETROptions,
} from '../../src/models/index.js';
import { randn } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { expectConvSeedsFromPaths, expectLinearSeedsFromPaths } from '../helpers/seed-paths.js';

/**
 * What the mutation run of src/models/unetr.ts found untested (stryker.config.mjs): every layer's seed derived from
 * the network's seed and its module path, the size check's empty axis and its label, each clause of the input check.
 */

const tiny = (options: Partial<UNETROptions> = {}): UNETR => new UNETR({
  inChannels: 1, outChannels: 2, imgSize: [16, 16, 32], featureSize: 2, hiddenSize: 4, mlpDim: 6, numHeads: 2, seed: 3, backend: cpu, ...options,
});
const isScope = (m: unknown) => m instanceof ViT || m instanceof PatchEmbeddingBlock || m instanceof TransformerBlock || m instanceof SABlock || m instanceof CrossAttentionBlock || m instanceof MLPBlock;

describe('UNETR (mutation tests)', () => {
  it.each([true, false])('each convolution and Linear is seeded from the seed and its module path (convBlock and resBlock %s)', async (blocks) => {
    const net = tiny({ convBlock: blocks, resBlock: blocks });
    // with the blocks: encoder1 3 (conv1, conv2, conv3: 1 → 2 channels), encoder2 1 + 2·(1 + 2), encoder3 1 + 3,
    // encoder4 1, each decoder 1 + 3 (its conv_block halves the channels), out 1, the ViT's patch conv 1 = 33;
    // without: encoder1 2, encoder2 3, encoder3 2, encoder4 1, each decoder 1 + 2, out 1, the patch conv 1 = 22
    expect(await expectConvSeedsFromPaths(net, 3, isScope)).toBe(blocks ? 33 : 22);
    expect(await expectLinearSeedsFromPaths(net, 3, isScope)).toBe(12 * 8);
    net.dispose();
  });
  it('refuses an empty axis, zero channels or features and a size that is no triple, by name', () => {
    expect(() => tiny({ imgSize: [16, 16, 0] })).toThrow(/^UNETR: imgSize \[16, 16, 0\] must be a multiple of the patch size 16 along every axis$/);
    expect(() => tiny({ imgSize: [16, 16] as unknown as number })).toThrow(/^UNETR imgSize must be an integer or three integers, got \[16,16\]$/);
    expect(() => tiny({ imgSize: [16, 16.5, 16] })).toThrow(/^UNETR imgSize must be an integer or three integers, got \[16,16.5,16\]$/);
    expect(() => tiny({ inChannels: 0 })).toThrow(/^UNETR: inChannels must be a positive integer, got 0$/);
    expect(() => tiny({ outChannels: 0 })).toThrow(/^UNETR: outChannels must be a positive integer, got 0$/);
  });

  it('refuses an input wrong along any one spatial axis or in its rank, by name', () => {
    const net = tiny({ imgSize: [16, 32, 48] });
    // the last: a rank other than 5 whose leading axes agree with [N, 1, 16, 32, 48]
    for (const shape of [[1, 1, 32, 32, 48], [1, 1, 16, 16, 48], [1, 1, 16, 32, 32], [1, 1, 16, 32, 48, 1]]) {
      const x = randn(shape, 1, { backend: cpu });
      expect(() => net.forward(x)).toThrow(new RegExp(`^UNETR: input must be \\[N, 1, 16, 32, 48\\] \\(inChannels, imgSize\\), got \\[${shape.join(', ')}\\]$`));
      x.dispose();
    }
    net.dispose();
  });
});
