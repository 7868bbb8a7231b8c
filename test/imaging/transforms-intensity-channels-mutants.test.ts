import { describe, expect, it } from 'vitest';
import { NormalizeIntensity, ScaleIntensity } from '../../src/imaging/transforms-intensity.js';
import type { MultiChannelVolume } from '../../src/imaging/sliding-window.js';

/**
 * The option checks of NormalizeIntensity's per-channel divisor and of ScaleIntensity that the other tests leave open
 * (found by mutation testing): each error names its option and the key; `factor` needs both minv and maxv null, and
 * ScaleIntensity checks its keys even when it leaves the image as it is.
 */
const twoChannels = (): MultiChannelVolume => ({ data: Float32Array.from([1, 2, 3, 10, 20, 60]), shape: [2, 3, 1, 1] });

describe('NormalizeIntensity per-channel divisor', () => {
  it('names the divisor when its count is not the channel count', () => {
    expect(() => new NormalizeIntensity({ keys: 'image', channelWise: true, divisor: [1, 2, 3] }).apply({ image: twoChannels() }))
      .toThrow(/^NormalizeIntensity: the image has 2 channels, but divisor has 3 values$/);
  });
});

describe('ScaleIntensity option and key checks', () => {
  it('names a non-finite minv or factor', () => {
    expect(() => new ScaleIntensity({ keys: 'image', minv: Number.NaN })).toThrow(/^ScaleIntensity: minv must be a finite number/);
    expect(() => new ScaleIntensity({ keys: 'image', minv: null, maxv: null, factor: Infinity })).toThrow(/^ScaleIntensity: factor must be a finite number/);
  });

  it('refuses factor unless both minv and maxv are null, whichever one is set', () => {
    const refusal = /^ScaleIntensity: factor needs minv and maxv null \(MONAI ignores it otherwise\)$/;
    expect(() => new ScaleIntensity({ keys: 'image', minv: 0, maxv: null, factor: 0.5 })).toThrow(refusal);
    expect(() => new ScaleIntensity({ keys: 'image', minv: null, maxv: 1, factor: 0.5 })).toThrow(refusal);
    expect(() => new ScaleIntensity({ keys: 'image', minv: null, factor: 0.5 })).toThrow(refusal);
  });

  it('names a missing key, also with minv and maxv null and no factor (the image would be left as it is)', () => {
    const sample = { other: twoChannels() };
    expect(() => new ScaleIntensity({ keys: 'image' }).apply(sample)).toThrow(/^ScaleIntensity: key 'image' is missing from the sample \(it has 'other'\)$/);
    expect(() => new ScaleIntensity({ keys: 'image', minv: null, maxv: null }).apply(sample)).toThrow(/^ScaleIntensity: key 'image' is missing from the sample \(it has 'other'\)$/);
  });
});
