import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  NormalizeIntensity, RandGaussianNoise, RandScaleIntensity, RandShiftIntensity, ScaleIntensityRange, ScaleIntensityRangePercentiles,
} from '../../src/imaging/transforms-intensity.js';
import { Rng } from '../../src/imaging/random.js';
import type { Shape3, Volume } from '../../src/imaging/volume.js';

const vol = (values: number[], shape: Shape3 = [values.length, 1, 1]): Volume<Float32Array> => ({ data: Float32Array.from(values), shape });

/** Within float32 rounding of the result (one rounding of a float64 value, a few ulps of slack for the statistics). */
function expectFloat32Close(actual: Float32Array, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(Math.abs(actual[i]! - e)).toBeLessThanOrEqual(4 * 2 ** -23 * Math.max(1, Math.abs(e))));
}

const arbValues = fc.array(fc.float({ min: -1000, max: 1000, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 60 });

describe('NormalizeIntensity', () => {
  it('is (x − mean) / population std, over all voxels or only the nonzero ones', () => {
    fc.assert(fc.property(arbValues, fc.boolean(), (values, nonzero) => {
      const xs = Float32Array.from(values);
      const sel = [...xs].filter((x) => !nonzero || x !== 0);
      const out = new NormalizeIntensity({ keys: 'image', nonzero }).apply({ image: vol(values) }).image.data;
      if (sel.length === 0) { expect(out).toEqual(xs); return; }
      let mean = 0;
      for (const x of sel) mean += x / sel.length;
      const std = Math.sqrt(sel.reduce((s, x) => s + (x - mean) ** 2, 0) / sel.length) || 1;
      expectFloat32Close(out, [...xs].map((x) => (nonzero && x === 0 ? 0 : (x - mean) / std)));
    }));
  });

  it('uses the given subtrahend and divisor; a divisor of 0 counts as 1; a constant volume becomes 0', () => {
    expect([...new NormalizeIntensity({ keys: 'image', subtrahend: 1, divisor: 2 }).apply({ image: vol([1, 3, 5]) }).image.data]).toEqual([0, 1, 2]);
    expect([...new NormalizeIntensity({ keys: 'image', subtrahend: 1, divisor: 0 }).apply({ image: vol([1, 3, 5]) }).image.data]).toEqual([0, 2, 4]);
    expect([...new NormalizeIntensity({ keys: 'image' }).apply({ image: vol([7, 7, 7]) }).image.data]).toEqual([0, 0, 0]);
    // nonzero: MONAI's mask is x != 0, so negatives count; zeros stay 0
    expect([...new NormalizeIntensity({ keys: 'image', nonzero: true }).apply({ image: vol([0, -1, 1, 0]) }).image.data]).toEqual([0, -1, 1, 0]);
  });

  it('leaves the input and the other keys alone', () => {
    const image = vol([1, 2, 3]);
    const label = { data: Uint8Array.of(0, 1, 0), shape: [3, 1, 1] as Shape3 };
    const out = new NormalizeIntensity({ keys: 'image' }).apply({ image, label, id: 'case0' });
    expect([...image.data]).toEqual([1, 2, 3]);
    expect(out.label).toBe(label);
    expect(out.id).toBe('case0');
  });
});

describe('ScaleIntensityRange', () => {
  it('maps [aMin, aMax] onto [bMin, bMax] and clips when asked', () => {
    const image = vol([-100, 0, 50, 100, 300]);
    expect([...new ScaleIntensityRange({ keys: 'image', aMin: 0, aMax: 100, bMin: 0, bMax: 1 }).apply({ image }).image.data]).toEqual([-1, 0, 0.5, 1, 3]);
    expect([...new ScaleIntensityRange({ keys: 'image', aMin: 0, aMax: 100, bMin: 0, bMax: 1, clip: true }).apply({ image }).image.data]).toEqual([0, 0, 0.5, 1, 1]);
    expect([...new ScaleIntensityRange({ keys: 'image', aMin: 0, aMax: 200 }).apply({ image }).image.data]).toEqual([-0.5, 0, 0.25, 0.5, 1.5]);
    // aMin = aMax: MONAI only shifts (by −aMin, + bMin)
    expect([...new ScaleIntensityRange({ keys: 'image', aMin: 50, aMax: 50, bMin: 1, bMax: 2 }).apply({ image }).image.data]).toEqual([-149, -49, 1, 51, 251]);
  });

  it('is affine: the midpoint of aMin and aMax maps to the midpoint of bMin and bMax', () => {
    fc.assert(fc.property(fc.integer({ min: -500, max: 500 }), fc.integer({ min: 1, max: 500 }), fc.integer({ min: -10, max: 10 }), fc.integer({ min: 1, max: 10 }), (aMin, w, bMin, bw) => {
      const out = new ScaleIntensityRange({ keys: 'image', aMin, aMax: aMin + w, bMin, bMax: bMin + bw }).apply({ image: vol([aMin, aMin + w / 2, aMin + w]) }).image.data;
      expectFloat32Close(out, [bMin, bMin + bw / 2, bMin + bw]);
    }));
  });
});

describe('ScaleIntensityRangePercentiles', () => {
  // numpy: a = np.array([...], float32).astype(float64); np.percentile(a, q)
  const values = [3.5, -1.25, 7, 0, 2, 9.75, 4, 4, -3, 11, 0.5, 6];
  it("uses numpy's linear percentiles (golden values from numpy)", () => {
    const out = new ScaleIntensityRangePercentiles({ keys: 'image', lower: 2.5, upper: 90, bMin: -1, bMax: 1 }).apply({ image: vol(values) }).image.data;
    // ((a - p2.5) / (p90 - p2.5)) * 2 - 1 with p2.5 = -2.51875, p90 = 9.475000000000001, rounded to float32
    expect([...out]).toEqual([
      0.003647733246907592, -0.7884314656257629, 0.587285041809082, -0.5799895524978638, -0.24648253619670868, 1.0458571910858154,
      0.0870244950056076, 0.0870244950056076, -1.0802501440048218, 1.2542991638183594, -0.4966128170490265, 0.4205315411090851,
    ]);
    const clipped = new ScaleIntensityRangePercentiles({ keys: 'image', lower: 2.5, upper: 90, bMin: -1, bMax: 1, clip: true }).apply({ image: vol(values) }).image.data;
    expect([...clipped]).toEqual([...out].map((x) => Math.min(1, Math.max(-1, x))));
  });

  it('lower 0 and upper 100 map the minimum and maximum exactly; relative shrinks the target range', () => {
    const out = new ScaleIntensityRangePercentiles({ keys: 'image', lower: 0, upper: 100, bMin: 0, bMax: 1 }).apply({ image: vol(values) }).image.data;
    expect(Math.min(...out)).toBe(0);
    expect(Math.max(...out)).toBe(1);
    const rel = new ScaleIntensityRangePercentiles({ keys: 'image', lower: 0, upper: 100, bMin: 0, bMax: 10, relative: true }).apply({ image: vol([0, 5, 10]) }).image.data;
    expect([...rel]).toEqual([0, 5, 10]);
    const rel2 = new ScaleIntensityRangePercentiles({ keys: 'image', lower: 10, upper: 60, bMin: 0, bMax: 10, relative: true }).apply({ image: vol([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]) }).image.data;
    // percentile 10 → 10 maps to 1, percentile 60 → 60 maps to 6: the identity on this ramp divided by 10
    expectFloat32Close(rel2, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});

describe('random intensity transforms', () => {
  const image = vol([1, 2, 3, 4], [2, 2, 1]);

  it('RandScaleIntensity multiplies by 1 + factor and RandShiftIntensity adds the offset, drawn after u < prob', () => {
    for (const seed of [1, 2, 3]) {
      const draw = new Rng(seed);
      draw.random();
      const factor = draw.uniform(-0.5, 0.5);
      const scaled = new RandScaleIntensity({ keys: 'image', factors: 0.5, prob: 1 }).apply({ image }, new Rng(seed)).image.data;
      expectFloat32Close(scaled, [1, 2, 3, 4].map((x) => x * (1 + factor)));
      const d2 = new Rng(seed);
      d2.random();
      const offset = d2.uniform(2, 3);
      const shifted = new RandShiftIntensity({ keys: 'image', offsets: [2, 3], prob: 1 }).apply({ image }, new Rng(seed)).image.data;
      expectFloat32Close(shifted, [1, 2, 3, 4].map((x) => x + offset));
      expect(offset).toBeGreaterThanOrEqual(2);
    }
    const sample = { image };
    expect(new RandScaleIntensity({ keys: 'image', factors: 0.5, prob: 0 }).apply(sample, new Rng(0))).toBe(sample);
  });

  it('RandGaussianNoise adds one seeded field to every key; the mean and std of many draws are right', () => {
    const big = vol(new Array(20000).fill(5));
    const out = new RandGaussianNoise({ keys: ['a', 'b'], prob: 1, mean: 1, std: 2, sampleStd: false }).apply({ a: big, b: big }, new Rng(7));
    expect(out.a.data).toEqual(out.b.data);
    const d = [...out.a.data].map((x) => x - 5);
    const m = d.reduce((s, x) => s + x, 0) / d.length;
    const sd = Math.sqrt(d.reduce((s, x) => s + (x - m) ** 2, 0) / d.length);
    // 6 standard errors: the seed is fixed, so this is deterministic; the bounds only say the distribution is right
    expect(Math.abs(m - 1)).toBeLessThan(6 * 2 / Math.sqrt(d.length));
    expect(Math.abs(sd - 2)).toBeLessThan(6 * 2 / Math.sqrt(2 * d.length));
    const again = new RandGaussianNoise({ keys: ['a', 'b'], prob: 1, mean: 1, std: 2, sampleStd: false }).apply({ a: big, b: big }, new Rng(7));
    expect(again.a.data).toEqual(out.a.data);
    expect(new RandGaussianNoise({ keys: 'a', prob: 1 }).apply({ a: big }, new Rng(8)).a.data).not.toEqual(out.a.data);
  });
});

describe('intensity transforms check their inputs', () => {
  const label = { data: Uint8Array.of(0, 1), shape: [2, 1, 1] as Shape3 };
  it('name the key, the value and the option', () => {
    expect(() => new NormalizeIntensity({ keys: 'image' }).apply({ label })).toThrow(/NormalizeIntensity: key 'image' is missing from the sample \(it has 'label'\)/);
    expect(() => new NormalizeIntensity({ keys: 'label' }).apply({ label })).toThrow(/key 'label' holds a Uint8Array volume/);
    expect(() => new NormalizeIntensity({ keys: 'image' }).apply({ image: { data: new Float32Array(3), shape: [2, 1, 1] } })).toThrow(/key 'image': data length 3 does not match shape \[2, 1, 1\]/);
    expect(() => new NormalizeIntensity({ keys: 'image' }).apply({ image: [1, 2] })).toThrow(/key 'image' is not a volume/);
    expect(() => new NormalizeIntensity({ keys: [] })).toThrow(/keys must be a key or a non-empty list/);
    expect(() => new ScaleIntensityRange({ keys: 'image', aMin: NaN, aMax: 1 })).toThrow(/ScaleIntensityRange: aMin must be a finite number, got NaN/);
    expect(() => new ScaleIntensityRange({ keys: 'image', aMin: 0, aMax: 1, bMin: 0 })).toThrow(/give both bMin and bMax/);
    expect(() => new ScaleIntensityRangePercentiles({ keys: 'image', lower: 90, upper: 10 })).toThrow(/upper \(10\) must not be below lower \(90\)/);
    expect(() => new ScaleIntensityRangePercentiles({ keys: 'image', lower: -1, upper: 10 })).toThrow(/lower must be a percentile in \[0, 100\], got -1/);
    expect(() => new RandGaussianNoise({ keys: 'image', prob: 2 })).toThrow(/RandGaussianNoise: prob must be in \[0, 1\], got 2/);
    expect(() => new RandScaleIntensity({ keys: 'image', factors: [1, 0] })).toThrow(/factors must be a number v/);
    expect(() => new RandShiftIntensity({ keys: 'image', offsets: 1 }).apply({ image: vol([1]) })).toThrow(/RandShiftIntensity: a random transform needs an Rng/);
  });
});
