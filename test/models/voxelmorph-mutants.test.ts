import { describe, expect, it } from 'vitest';
import {
  Conv3d, Flatten, MonaiConvolution, Sequential, VoxelMorph, VoxelMorphUNet, type VoxelMorphUNetOptions,
} from '../../src/models/index.js';
import { dispose, rand } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { expectConvSeedsFromPaths } from '../helpers/seed-paths.js';

/**
 * What the mutation run of src/models/voxelmorph.ts found untested (stryker.config.mjs): every convolution's seed
 * derived from the network's seed and its module path, the channels and dropout checks' whole conditions, the rank
 * checks of the UNet's input, of moving and fixed and of the backbone's output, the size checks per axis.
 */

const unet = (options: Partial<VoxelMorphUNetOptions> = {}): VoxelMorphUNet => new VoxelMorphUNet({
  inChannels: 2, unetOutChannels: 3, channels: [2, 3, 3, 4], finalConvChannels: [2], seed: 3, backend: cpu, ...options,
});

describe('VoxelMorphUNet and VoxelMorph (mutation tests)', () => {
  it.each([true, false])('each convolution is seeded from the seed and its module path (useMaxpool %s)', async (useMaxpool) => {
    const net = unet({ useMaxpool, finalConvChannels: [2, 2] });
    const checked = await expectConvSeedsFromPaths(net, 3, (m) => m instanceof MonaiConvolution);
    // two levels of down and up, the bottom, two final convolutions and final_conv_out
    expect(checked).toBe(net.modules().filter((m) => m instanceof MonaiConvolution).length);
    expect(checked).toBe(2 + 2 + 1 + 2 + 1);
    net.dispose();
  });

  it('refuses no channels, channels that are not an array, a negative dropout; accepts dropout 0, 1 and null', () => {
    expect(() => unet({ channels: [] })).toThrow(/^VoxelMorphUNet: channels must be pairs of positive integers, at least one pair, got \[\]$/);
    expect(() => unet({ channels: '23' as unknown as number[] })).toThrow(/^VoxelMorphUNet: channels must be pairs of positive integers, at least one pair, got "23"$/);
    expect(() => unet({ dropout: -0.5 })).toThrow(/^VoxelMorphUNet: dropout must be in \[0, 1\] or null, got -0.5$/);
    for (const dropout of [0, 1, null]) expect(() => unet({ dropout }).dispose()).not.toThrow();
  });

  it("refuses, by name, a 4-D input, a size one axis of which the halvings do not divide, 4-D images, halfRes sizes below 4, a backbone's 3-D output", () => {
    const net = unet();
    const morph = new VoxelMorph({ backbone: unet() });
    const halves = new VoxelMorph({ backbone: unet(), halfRes: true });
    const flatBackbone = new VoxelMorph({ backbone: new Sequential(new Conv3d(2, 3, 1, { backend: cpu }), new Flatten(2)) });
    const [flat, oneAxis, images4d, small, cube] = [[1, 2, 8, 8], [1, 2, 8, 8, 6], [1, 1, 8, 8], [1, 1, 2, 8, 8], [1, 1, 8, 8, 8]].map((s) => rand(s, 1, { backend: cpu }));
    expect(() => net.forward(flat)).toThrow(/^VoxelMorphUNet: input must be \[N, 2, D, H, W\], got \[1, 2, 8, 8\]$/);
    expect(() => net.forward(oneAxis)).toThrow(/^VoxelMorphUNet: input \[1, 2, 8, 8, 6\]: the spatial extents must be divisible by 4 \(halved once per pair of channels, 2 pairs\)$/);
    expect(() => morph.forward(images4d, images4d)).toThrow(/^VoxelMorph: moving and fixed must be \[N, C, D, H, W\], got \[1, 1, 8, 8\]$/);
    expect(() => halves.forward(small, small)).toThrow(/^VoxelMorph: with halfRes, the spatial extents of moving \[1, 1, 2, 8, 8\] must be even and at least 4/);
    expect(() => flatBackbone.forward(cube, cube)).toThrow(/^VoxelMorph: the backbone's output \[1, 3, 512\] must have 3 channels \(one per spatial axis\)$/);
    dispose([flat, oneAxis, images4d, small, cube]);
    for (const m of [net, morph, halves, flatBackbone]) m.dispose();
  });
});
