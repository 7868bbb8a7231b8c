import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  NormalizeIntensity, RandGaussianNoise, RandScaleIntensity, ScaleIntensity, ScaleIntensityRange, ScaleIntensityRangePercentiles,
} from '../../src/imaging/transforms-intensity.js';
import { Rng } from '../../src/imaging/random.js';
import type { MultiChannelVolume } from '../../src/imaging/sliding-window.js';
import type { FloatImage } from '../../src/imaging/transforms.js';

/**
 * MONAI's `channel_wise` on a channel-first image [C, X, Y, Z]: statistics of each channel on their own; without it,
 * of the whole image. The hand values use channel 0 = [1, 2, 3] and channel 1 = [10, 20, 60].
 */
const twoChannels = (): MultiChannelVolume => ({ data: Float32Array.from([1, 2, 3, 10, 20, 60]), shape: [2, 3, 1, 1] });

/** Within float32 rounding of the result (one rounding of a float64 value, a few ulps of slack for the statistics). */
function expectFloat32Close(actual: Float32Array, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(Math.abs(actual[i]! - e), `element ${i}: ${actual[i]} vs ${e}`).toBeLessThanOrEqual(4 * 2 ** -23 * Math.max(1, Math.abs(e))));
}

const run = (t: { apply<T extends object>(d: T, rng?: Rng): T }, image: FloatImage): FloatImage => t.apply({ image }).image;

describe("NormalizeIntensity channelWise (MONAI's channel_wise)", () => {
  it('per channel: channel 0 has mean 2 and std √(2/3), channel 1 mean 30 and std √(1400/3)', () => {
    const out = run(new NormalizeIntensity({ keys: 'image', channelWise: true }), twoChannels());
    expect(out.shape).toEqual([2, 3, 1, 1]);
    const s0 = Math.sqrt(2 / 3), s1 = Math.sqrt(1400 / 3);
    expectFloat32Close(out.data, [-1 / s0, 0, 1 / s0, -20 / s1, -10 / s1, 30 / s1]);
  });

  it('without it, over the whole image: mean 96/6 = 16, squared deviations 2578, std √(2578/6)', () => {
    const out = run(new NormalizeIntensity({ keys: 'image' }), twoChannels());
    const s = Math.sqrt(2578 / 6);
    expectFloat32Close(out.data, [1, 2, 3, 10, 20, 60].map((x) => (x - 16) / s));
  });

  it('takes a subtrahend and divisor per channel; nonzero leaves an all-zero channel as it is', () => {
    const out = run(new NormalizeIntensity({ keys: 'image', channelWise: true, subtrahend: [1, 10], divisor: [1, 10] }), twoChannels());
    expect([...out.data]).toEqual([0, 1, 2, 0, 1, 5]);
    const withZeros: MultiChannelVolume = { data: Float32Array.from([0, 0, 0, 0, 2, 4]), shape: [2, 3, 1, 1] };
    // channel 1's nonzero voxels 2, 4: mean 3, std 1; its zero stays 0
    expect([...run(new NormalizeIntensity({ keys: 'image', channelWise: true, nonzero: true }), withZeros).data]).toEqual([0, 0, 0, 0, -1, 1]);
  });

  it('refuses per-channel values of the wrong count (at apply) or without channelWise (at construction)', () => {
    expect(() => run(new NormalizeIntensity({ keys: 'image', channelWise: true, subtrahend: [1, 2, 3] }), twoChannels()))
      .toThrow(/^NormalizeIntensity: the image has 2 channels, but subtrahend has 3 values$/);
    expect(() => new NormalizeIntensity({ keys: 'image', divisor: [1, 2] })).toThrow(/^NormalizeIntensity: divisor is one number unless channelWise, got \[1,2\]$/);
    expect(() => new NormalizeIntensity({ keys: 'image', channelWise: true, divisor: [1, Infinity] })).toThrow(/^NormalizeIntensity: divisor must be a finite number/);
  });

  it('a one-channel [1, X, Y, Z] image gives the floats of the same [X, Y, Z] volume, with or without channelWise', () => {
    const arb = fc.array(fc.float({ min: -100, max: 100, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 30 });
    fc.assert(fc.property(arb, fc.boolean(), fc.boolean(), (values, nonzero, channelWise) => {
      const t = new NormalizeIntensity({ keys: 'image', nonzero, channelWise });
      const one = run(t, { data: Float32Array.from(values), shape: [1, values.length, 1, 1] });
      const vol = run(t, { data: Float32Array.from(values), shape: [values.length, 1, 1] });
      expect(one.shape).toEqual([1, values.length, 1, 1]);
      expect(one.data).toEqual(vol.data);
    }));
  });
});

describe('ScaleIntensityRangePercentiles channelWise', () => {
  it("per channel: percentiles 25 and 75 are 1.5, 2.5 for channel 0 and 15, 40 for channel 1 (numpy's linear rule)", () => {
    const out = run(new ScaleIntensityRangePercentiles({ keys: 'image', lower: 25, upper: 75, bMin: 0, bMax: 1, channelWise: true }), twoChannels());
    expectFloat32Close(out.data, [-0.5, 0.5, 1.5, -0.2, 0.2, 1.8]);
  });

  it('without it, the percentiles of all six values: 0 and 100 are 1 and 60', () => {
    const out = run(new ScaleIntensityRangePercentiles({ keys: 'image', lower: 0, upper: 100, bMin: 0, bMax: 1 }), twoChannels());
    expectFloat32Close(out.data, [0, 1 / 59, 2 / 59, 9 / 59, 19 / 59, 1]);
  });

  it('relative and clip apply per channel too', () => {
    // relative: target [0 + 100·0.25, 0 + 100·0.75] = [25, 75]; clip to it
    const out = run(new ScaleIntensityRangePercentiles({ keys: 'image', lower: 25, upper: 75, bMin: 0, bMax: 100, relative: true, clip: true, channelWise: true }), twoChannels());
    expectFloat32Close(out.data, [25, 50, 75, 25, 35, 75]);
  });
});

describe("ScaleIntensity (MONAI's rescale_array) and its channelWise", () => {
  it('maps min and max to minv and maxv (default 0 and 1), per channel or over the image', () => {
    expectFloat32Close(run(new ScaleIntensity({ keys: 'image', channelWise: true }), twoChannels()).data, [0, 0.5, 1, 0, 0.2, 1]);
    expectFloat32Close(run(new ScaleIntensity({ keys: 'image' }), twoChannels()).data, [0, 1 / 59, 2 / 59, 9 / 59, 19 / 59, 1]);
    expectFloat32Close(run(new ScaleIntensity({ keys: 'image', minv: -1, maxv: 1, channelWise: true }), twoChannels()).data, [-1, 0, 1, -1, -0.6, 1]);
  });

  it('a constant channel becomes x · minv (x when minv is null); one bound null gives (x − min)/(max − min)', () => {
    const constant: MultiChannelVolume = { data: Float32Array.from([5, 5, 1, 3]), shape: [2, 2, 1, 1] };
    expect([...run(new ScaleIntensity({ keys: 'image', minv: 2, maxv: 3, channelWise: true }), constant).data]).toEqual([10, 10, 2, 3]);
    expect([...run(new ScaleIntensity({ keys: 'image', minv: null, maxv: 3, channelWise: true }), constant).data]).toEqual([5, 5, 0, 1]);
    expect([...run(new ScaleIntensity({ keys: 'image', minv: 2, maxv: null }), { data: Float32Array.from([1, 3, 5]), shape: [3, 1, 1] }).data]).toEqual([0, 0.5, 1]);
  });

  it('with minv and maxv null scales by 1 + factor (or not at all); factor with a bound is refused', () => {
    expect([...run(new ScaleIntensity({ keys: 'image', minv: null, maxv: null, factor: 0.5 }), twoChannels()).data]).toEqual([1.5, 3, 4.5, 15, 30, 90]);
    expect([...run(new ScaleIntensity({ keys: 'image', minv: null, maxv: null }), twoChannels()).data]).toEqual([1, 2, 3, 10, 20, 60]);
    expect(() => new ScaleIntensity({ keys: 'image', factor: 0.5 })).toThrow(/^ScaleIntensity: factor needs minv and maxv null/);
    expect(() => new ScaleIntensity({ keys: 'image', maxv: NaN })).toThrow(/^ScaleIntensity: maxv must be a finite number/);
  });
});

describe('channel-first images in the other intensity transforms', () => {
  it('the voxelwise ones keep the shape; a malformed channel-first image is refused by key', () => {
    const scaled = run(new ScaleIntensityRange({ keys: 'image', aMin: 0, aMax: 10 }), twoChannels());
    expect(scaled.shape).toEqual([2, 3, 1, 1]);
    expectFloat32Close(scaled.data, [0.1, 0.2, 0.3, 1, 2, 6]);
    expect(new RandScaleIntensity({ keys: 'image', factors: 0.5, prob: 1 }).apply({ image: twoChannels() }, new Rng(1)).image.shape).toEqual([2, 3, 1, 1]);
    // RandGaussianNoise draws one field of the image's whole shape, channels included (MONAI's noise of img.shape)
    const noisy = new RandGaussianNoise({ keys: ['image', 'copy'], prob: 1 }).apply({ image: twoChannels(), copy: twoChannels() }, new Rng(1));
    const draws = new Rng(1);
    draws.random();
    const std = draws.uniform(0, 0.1);
    const expected = Float32Array.from(twoChannels().data, (x) => x + std * draws.normal());
    expect(noisy.image.shape).toEqual([2, 3, 1, 1]);
    expect([...noisy.image.data]).toEqual([...expected]);
    expect([...noisy.copy.data]).toEqual([...expected]);
    // one field for every key: keys of other shapes (other channel counts included) are refused, naming them
    const oneChannel = { data: new Float32Array(3), shape: [3, 1, 1] };
    expect(() => new RandGaussianNoise({ keys: ['image', 'other'], prob: 1 }).apply({ image: twoChannels(), other: oneChannel }, new Rng(1)))
      .toThrow(/^RandGaussianNoise: key 'other' has shape \[3, 1, 1\], key 'image' has \[2, 3, 1, 1\]; the noise is drawn once for every key, so they must share one shape$/);
    const bad = { data: new Float32Array(5), shape: [2, 3, 1, 1] };
    expect(() => new NormalizeIntensity({ keys: 'image' }).apply({ image: bad })).toThrow(/^NormalizeIntensity: key 'image' is not a channel-first image .* \(shape \[2,3,1,1\]\)$/);
  });
});
