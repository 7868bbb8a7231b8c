import { describe, expect, it } from 'vitest';
import { BatchNorm3d, Conv3d, HighResBlock, HighResNet, type HighResNetLayerParams, type HighResNetOptions } from '../../src/models/index.js';
import { rand } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { expectConvSeedsFromPaths } from '../helpers/seed-paths.js';

/**
 * What the mutation run of src/models/highresnet.ts found untested (stryker.config.mjs): every convolution's seed
 * derived from the network's seed and its module path, a HighResBlock's defaults, the dropout check's clauses, the
 * layerParams checks (missing entries, kernels given as three sizes or as no number, the first convolution's channels
 * in the narrowing check, the shortest list), the input's rank check.
 */

const tinyParams: HighResNetLayerParams = [
  { name: 'conv_0', nFeatures: 2, kernelSize: 3 },
  { name: 'res_1', nFeatures: 2, kernels: [3, 3], repeat: 1 },
  { name: 'res_2', nFeatures: 3, kernels: [3, 1], repeat: 2 },
  { name: 'conv_1', nFeatures: 4, kernelSize: 1 },
  { name: 'conv_2', kernelSize: 1 },
];
const tiny = (options: HighResNetOptions = {}): HighResNet =>
  new HighResNet({ inChannels: 2, outChannels: 3, layerParams: tinyParams, seed: 3, backend: cpu, ...options });

describe('HighResNet (mutation tests)', () => {
  it.each(['pad', 'project'] as const)("each convolution is seeded from the seed and its module path (channelMatching '%s')", async (channelMatching) => {
    const net = tiny({ channelMatching, bias: true });
    // blocks.0, three blocks of two convolutions (the second projecting 2 → 3 channels with 'project'), blocks.4, blocks.5
    expect(await expectConvSeedsFromPaths(net, 3, () => false)).toBe(1 + 3 * 2 + (channelMatching === 'project' ? 1 : 0) + 2);
    net.dispose();
  });

  it('a HighResBlock on its own seeds its layers from its seed and their paths inside it', async () => {
    const block = new HighResBlock(2, 3, { channelMatching: 'project', bias: true, seed: 5, backend: cpu });
    expect(await expectConvSeedsFromPaths(block, 5, () => false)).toBe(3);
    block.dispose();
  });

  it("a HighResBlock defaults to two 3³ convolutions without bias after MONAI's affine batch norm", () => {
    const block = new HighResBlock(2, 2, { seed: 1, backend: cpu });
    const convs = block.modules().filter((m) => m instanceof Conv3d) as Conv3d[];
    expect(convs.map((c) => [c.kernelSize, c.bias])).toEqual([[[3, 3, 3], null], [[3, 3, 3], null]]);
    const norms = block.modules().filter((m) => m instanceof BatchNorm3d) as BatchNorm3d[];
    expect([norms.length, norms.every((n) => n.weight !== null)]).toEqual([2, true]);
    block.dispose();
  });

  it('dropoutProb: a negative one and a string are refused, 1 is accepted', () => {
    expect(() => tiny({ dropoutProb: -0.5 })).toThrow(/^HighResNet: dropoutProb must be in \[0, 1\] or null, got -0.5$/);
    expect(() => tiny({ dropoutProb: '0.5' as unknown as number })).toThrow(/^HighResNet: dropoutProb must be in \[0, 1\] or null, got 0.5$/);
    const one = tiny({ dropoutProb: 1 });
    expect(one.outChannels).toBe(3);
    one.dispose();
  });

  it('layerParams: a missing entry, a kernel of two sizes or of no number, a narrowing after the first convolution are refused; three entries and kernels of three sizes build', () => {
    const entries = (...e: unknown[]) => e as unknown as HighResNetLayerParams;
    const [first, group, penultimate, last] = [tinyParams[0], tinyParams[1], tinyParams[3], tinyParams[4]];
    expect(() => tiny({ layerParams: entries(first, null, penultimate, last) })).toThrow(/^HighResNet: layerParams\[1\]\.nFeatures must be a positive integer, got undefined$/);
    expect(() => tiny({ layerParams: entries(first, undefined, penultimate, last) })).toThrow(/^HighResNet: layerParams\[1\]\.nFeatures must be a positive integer, got undefined$/);
    expect(() => tiny({ layerParams: entries(first, group, penultimate, null) })).toThrow(/^HighResNet: layerParams\[3\]\.kernelSize must be a positive integer or three, got undefined$/);
    expect(() => tiny({ layerParams: entries({ ...first, kernelSize: [3, 3] }, group, penultimate, last) })).toThrow(/^HighResNet: layerParams\[0\]\.kernelSize must be a positive integer or three, got \[3,3\]$/);
    expect(() => tiny({ layerParams: entries({ ...first, kernelSize: [3, 0, 3] }, group, penultimate, last) })).toThrow(/^HighResNet: layerParams\[0\]\.kernelSize must be a positive integer or three, got \[3,0,3\]$/);
    expect(() => tiny({ layerParams: entries({ ...first, kernelSize: '3' }, group, penultimate, last) })).toThrow(/^HighResNet: layerParams\[0\]\.kernelSize must be a positive integer or three, got "3"$/);
    // the first convolution's 4 channels (not the input's 2) are what the first group may not narrow
    expect(() => tiny({ layerParams: entries({ ...first, nFeatures: 4 }, { ...group, nFeatures: 3 }, penultimate, last) }))
      .toThrow(/^HighResNet: layerParams\[1\] narrows 4 channels to 3, which channelMatching 'pad' cannot; use 'project'$/);
    const shortest = tiny({ layerParams: entries({ ...first, kernelSize: [3, 1, 3] }, penultimate, last) });
    expect((shortest.getSubmodule('blocks.0.conv') as Conv3d).kernelSize).toEqual([3, 1, 3]);
    expect(shortest.blocks.length).toBe(3);
    shortest.dispose();
  });

  it('refuses an input of rank 6 by its rank', () => {
    const net = tiny();
    const x = rand([1, 2, 4, 4, 4, 1], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^HighResNet: input must be \[N, 2, D, H, W\], got \[1, 2, 4, 4, 4, 1\]$/);
    x.dispose();
    net.dispose();
  });
});
