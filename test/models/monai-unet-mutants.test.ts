import { describe, expect, it, vi } from 'vitest';
import { MonaiConvolution, MonaiUNet, ResidualUnit, type MonaiUNetOptions } from '../../src/models/index.js';
import { randn } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { expectConvSeedsFromPaths } from '../helpers/seed-paths.js';

/**
 * What the mutation run of src/models/monai-unet.ts found untested (stryker.config.mjs): every convolution's seed
 * derived from the network's seed and its module path (a Convolution's own path, a ResidualUnit's path and
 * `conv.unitI` / `residual` inside it), the option checks' whole conditions, the warning of extra strides only, the input's rank.
 */

const tiny = (options: Partial<MonaiUNetOptions> = {}): MonaiUNet => new MonaiUNet({
  inChannels: 1, outChannels: 2, channels: [2, 3, 4], strides: [2, 2], seed: 3, backend: cpu, ...options,
});

describe('MonaiUNet (mutation tests)', () => {
  it.each([0, 1, 2])('each convolution is seeded from the seed and its module path (numResUnits %i)', async (numResUnits) => {
    const net = tiny({ numResUnits });
    // a Convolution or ResidualUnit is built with the seed of its path and seeds its own layers from it
    const checked = await expectConvSeedsFromPaths(net, 3, (m) => m instanceof MonaiConvolution || m instanceof ResidualUnit);
    // numResUnits 0: 5 Convolutions; else 3 down units of numResUnits convolutions, each with a residual convolution
    // (1 → 2 and 2 → 3 strided, the bottom's 3 → 4 a channel change), 2 transposed ups and their one-convolution units
    expect(checked).toBe(numResUnits === 0 ? 5 : 3 * numResUnits + 3 + 2 + 2);
    net.dispose();
  });

  it('warns of extra strides only: one stride per level but the bottom is no warning', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    tiny().dispose();
    tiny({ channels: [2, 3], strides: [[1, 2, 2]] }).dispose();
    expect(warn).not.toHaveBeenCalled();
    tiny({ channels: [2, 3], strides: [1, 2] }).dispose();
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
  });

  it('refuses channels that are not all positive integers, a non-array, a fractional numResUnits and a non-number dropout', () => {
    for (const channels of [[2, 0], [2, 1.5], [-1, 2, 3]]) {
      expect(() => tiny({ channels, strides: [2, 2] })).toThrow(new RegExp(`^MonaiUNet: channels must be at least 2 positive integers \\(top level first\\), got ${JSON.stringify(channels).replace(/[[\]]/g, '\\$&')}$`));
    }
    expect(() => tiny({ channels: '23' as unknown as number[] })).toThrow(/^MonaiUNet: channels must be at least 2 positive integers \(top level first\), got "23"$/);
    expect(() => tiny({ strides: '22' as unknown as number[] })).toThrow(/^MonaiUNet: strides must have one entry per level but the bottom \(channels.length − 1 = 2\), got "22"$/);
    expect(() => tiny({ numResUnits: 1.5 })).toThrow(/^MonaiUNet: numResUnits must be an integer ≥ 0, got 1.5$/);
    expect(() => tiny({ dropout: '0.5' as unknown as number })).toThrow(/^MonaiUNet: dropout must be in \[0, 1\], got 0.5$/);
    expect(() => tiny({ dropout: -0.5 })).toThrow(/^MonaiUNet: dropout must be in \[0, 1\], got -0.5$/);
    expect(() => tiny({ strides: [2, [1, 0.5, 1]] })).toThrow(/^MonaiUNet strides\[1\]/);
    expect(() => tiny({ strides: [2, [1, 0, 1]] })).toThrow(/^MonaiUNet: strides\[1\] must be positive, got \[1, 0, 1\]$/);
    const net = tiny();
    const flat = randn([1, 1, 8, 8], 1, { backend: cpu });
    expect(() => net.forward(flat)).toThrow(/^MonaiUNet: input must be \[N, 1, D, H, W\], got \[1, 1, 8, 8\]$/);
    flat.dispose();
    net.dispose();
    for (const ok of [{ dropout: 0 }, { dropout: 1 }, { strides: [1, 1] }, { channels: [1, 1], strides: [1] }]) expect(() => tiny(ok).dispose()).not.toThrow();
  });
});
