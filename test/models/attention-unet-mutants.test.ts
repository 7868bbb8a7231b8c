import { describe, expect, it } from 'vitest';
import { AttentionUnet, type AttentionUnetOptions } from '../../src/models/index.js';
import { dispose, randn } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { expectConvSeedsFromPaths } from '../helpers/seed-paths.js';

/**
 * What the mutation run of src/models/attention-unet.ts found untested (stryker.config.mjs): every convolution's
 * seed derived from the network's seed and its whole module path, the size check's per-axis stride products, the
 * checks of a stride's every axis, a kernel's length and the input's rank.
 */

const tiny = (options: Partial<AttentionUnetOptions> = {}): AttentionUnet => new AttentionUnet({
  inChannels: 1, outChannels: 2, channels: [2, 3, 4], strides: [2, 2], seed: 3, backend: cpu, ...options,
});

describe('AttentionUnet (mutation tests)', () => {
  it('each convolution is seeded from the seed and its whole module path', async () => {
    const net = tiny({ channels: [2, 4, 4] });
    // every Convolution takes the network's seed and its path: no block scopes a seed of its own
    const checked = await expectConvSeedsFromPaths(net, 3, () => false);
    // the head's 2 and model.2; per level: the down ConvBlock's 2, W_g, W_x, psi, the up conv and merge
    expect(checked).toBe(2 + 1 + 2 * (2 + 3 + 1 + 1));
    net.dispose();
  });

  it("the size check names the per-axis products of the strides (anisotropic) and passes sizes they divide", () => {
    const net = tiny({ strides: [[2, 1, 2], [1, 2, 2]] });
    const bad = randn([1, 1, 4, 4, 6], 1, { backend: cpu });
    expect(() => net.forward(bad)).toThrow(/^AttentionUnet: input \[1, 1, 4, 4, 6\]: level 1's size \[2, 4, 3\] is not divisible by its stride \[1, 2, 2\], so the upsampled features would not match it; the spatial sizes must be divisible by the product of the strides per axis \[2, 2, 4\]$/);
    const good = randn([2, 1, 4, 4, 8], 1, { backend: cpu });
    const y = net.forward(good);
    expect(y.shape).toEqual([2, 2, 4, 4, 8]);
    for (const p of [0, 1]) expect(() => tiny({ dropout: p }).dispose()).not.toThrow();
    for (const p of [-0.5, NaN]) expect(() => tiny({ dropout: p })).toThrow(new RegExp(`^AttentionUnet: dropout must be in \\[0, 1\\], got ${p}$`));
    dispose([bad, good, y]);
    net.dispose();
  });

  it('refuses a stride with one axis below 1, a kernel that is not one or three sizes (naming its layer) and an input that is not 5-D', () => {
    expect(() => tiny({ strides: [2, [1, 0, 1]] })).toThrow(/^AttentionUnet: strides\[1\] must be positive, got \[1, 0, 1\]$/);
    expect(() => tiny({ kernelSize: [3, 3] as unknown as number })).toThrow(/^AttentionUnet model\.0\.conv\.0 kernel size must be an integer or three integers/);
    const net = tiny();
    const flat = randn([1, 1, 8, 8], 1, { backend: cpu });
    expect(() => net.forward(flat)).toThrow(/^AttentionUnet: input must be \[N, 1, D, H, W\], got \[1, 1, 8, 8\]$/);
    flat.dispose();
    net.dispose();
  });
});
