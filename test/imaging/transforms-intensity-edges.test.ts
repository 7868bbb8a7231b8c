import { describe, expect, it } from 'vitest';
import {
  NormalizeIntensity, RandGaussianNoise, RandScaleIntensity, RandShiftIntensity, ScaleIntensityRange, ScaleIntensityRangePercentiles,
} from '../../src/imaging/transforms-intensity.js';
import { Rng } from '../../src/imaging/random.js';
import { GateRng } from '../helpers/gate-rng.js';
import type { Shape3, Volume } from '../../src/imaging/volume.js';

const vol = (values: number[], shape: Shape3 = [values.length, 1, 1]): Volume<Float32Array> => ({ data: Float32Array.from(values), shape });
const label = { data: Uint8Array.of(0, 1), shape: [2, 1, 1] as Shape3 };

describe('NormalizeIntensity edges', () => {
  it('nonzero defaults to false: zeros enter the statistics and are normalized too', () => {
    expect([...new NormalizeIntensity({ keys: 'image' }).apply({ image: vol([0, 2, 4]) }).image.data])
      .toEqual([...Float32Array.from([-Math.sqrt(1.5), 0, Math.sqrt(1.5)])]);
  });

  it('with nonzero the zeros stay 0 while the nonzero voxels use their own mean and std', () => {
    expect([...new NormalizeIntensity({ keys: 'image', nonzero: true }).apply({ image: vol([0, 2, 4, 0]) }).image.data]).toEqual([0, -1, 1, 0]);
    expect([...new NormalizeIntensity({ keys: 'image', nonzero: true }).apply({ image: vol([0, 0]) }).image.data]).toEqual([0, 0]);
  });

  it('the std is Σ(x − mean)²: a large common offset (float64 mean not exact) gives the offset-free result', () => {
    // [1e9, 1e9 + 64, 1e9 + 64] normalizes like [0, 64, 64]: (−√2, 1/√2, 1/√2); Σ(x² − mean²) would be off by ~10 %
    const out = new NormalizeIntensity({ keys: 'image' }).apply({ image: vol([1e9, 1e9 + 64, 1e9 + 64]) }).image.data;
    const expected = [-Math.SQRT2, Math.SQRT1_2, Math.SQRT1_2];
    expected.forEach((e, i) => expect(Math.abs(out[i]! - e)).toBeLessThan(1e-6));
  });

  it('names a non-finite subtrahend or divisor', () => {
    expect(() => new NormalizeIntensity({ keys: 'image', subtrahend: NaN })).toThrow(/^NormalizeIntensity: subtrahend must be a finite number, got NaN$/);
    expect(() => new NormalizeIntensity({ keys: 'image', divisor: Infinity })).toThrow(/^NormalizeIntensity: divisor must be a finite number, got Infinity$/);
  });
});

describe('ScaleIntensityRange edges', () => {
  it('aMin = aMax without bMin only subtracts aMin (MONAI)', () => {
    expect([...new ScaleIntensityRange({ keys: 'image', aMin: 3, aMax: 3 }).apply({ image: vol([1, 3, 10]) }).image.data]).toEqual([-2, 0, 7]);
  });

  it('names the option and the key in its errors', () => {
    expect(() => new ScaleIntensityRange({ keys: 'image', aMin: 0, aMax: NaN })).toThrow(/^ScaleIntensityRange: aMax must be a finite number, got NaN$/);
    expect(() => new ScaleIntensityRange({ keys: 'image', aMin: 0, aMax: 1, bMin: NaN, bMax: 1 })).toThrow(/^ScaleIntensityRange: bMin must be a finite number, got NaN$/);
    expect(() => new ScaleIntensityRange({ keys: 'image', aMin: 0, aMax: 1, bMin: 0, bMax: -Infinity })).toThrow(/^ScaleIntensityRange: bMax must be a finite number, got -Infinity$/);
    expect(() => new ScaleIntensityRange({ keys: 'label', aMin: 0, aMax: 1 }).apply({ label })).toThrow(/^ScaleIntensityRange: key 'label' holds a Uint8Array volume/);
  });
});

describe('ScaleIntensityRangePercentiles edges', () => {
  const ramp = vol([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);

  it('relative maps onto bMin + (bMax − bMin)·p/100 when bMin ≠ 0', () => {
    // p10 = 10 → 2 + 10·0.1 = 3, p60 = 60 → 2 + 10·0.6 = 8: x ↦ 2 + x/10
    const out = new ScaleIntensityRangePercentiles({ keys: 'image', lower: 10, upper: 60, bMin: 2, bMax: 12, relative: true }).apply({ image: ramp }).image.data;
    [...ramp.data].forEach((x, i) => expect(Math.abs(out[i]! - (2 + x / 10))).toBeLessThan(1e-5));
  });

  it('relative with clip clips to the relative range, as current MONAI (ScaleIntensityRange with the relative bMin, bMax)', () => {
    // x ↦ 2 + x/10 as above, clipped to [3, 8]
    const out = new ScaleIntensityRangePercentiles({ keys: 'image', lower: 10, upper: 60, bMin: 2, bMax: 12, relative: true, clip: true }).apply({ image: ramp }).image.data;
    [...ramp.data].forEach((x, i) => expect(Math.abs(out[i]! - Math.min(Math.max(2 + x / 10, 3), 8))).toBeLessThan(1e-5));
  });

  it('accepts the bounds 0 and 100 and lower = upper (a shift only: aMin = aMax)', () => {
    const same = new ScaleIntensityRangePercentiles({ keys: 'image', lower: 100, upper: 100, bMin: 1, bMax: 2 }).apply({ image: ramp }).image.data;
    expect([...same]).toEqual([...ramp.data].map((x) => x - 100 + 1));
    expect([...new ScaleIntensityRangePercentiles({ keys: 'image', lower: 0, upper: 0 }).apply({ image: ramp }).image.data]).toEqual([...ramp.data]);
  });

  it('names the bad percentile, the missing range and the key', () => {
    const name = 'ScaleIntensityRangePercentiles';
    expect(() => new ScaleIntensityRangePercentiles({ keys: 'image', lower: 0, upper: 101 })).toThrow(new RegExp(`^${name}: upper must be a percentile in \\[0, 100\\], got 101$`));
    expect(() => new ScaleIntensityRangePercentiles({ keys: 'image', lower: 0, upper: -1 })).toThrow(/upper must be a percentile in \[0, 100\], got -1/);
    expect(() => new ScaleIntensityRangePercentiles({ keys: 'image', lower: 0, upper: NaN })).toThrow(/upper must be a percentile in \[0, 100\], got NaN/);
    expect(() => new ScaleIntensityRangePercentiles({ keys: 'image', lower: 101, upper: 101 })).toThrow(/lower must be a percentile in \[0, 100\], got 101/);
    expect(() => new ScaleIntensityRangePercentiles({ keys: 'image', lower: 0, upper: 10, relative: true })).toThrow(new RegExp(`^${name}: relative needs bMin and bMax$`));
    expect(() => new ScaleIntensityRangePercentiles({ keys: 'label', lower: 0, upper: 10 }).apply({ label })).toThrow(new RegExp(`^${name}: key 'label' holds a Uint8Array`));
    expect(() => new ScaleIntensityRangePercentiles({ keys: [], lower: 0, upper: 10 })).toThrow(new RegExp(`^${name}: keys must be`));
  });
});

describe('random intensity transforms: draws and gates', () => {
  const image = vol([1, 2, 3, 4], [2, 2, 1]);

  it('RandGaussianNoise draws u < prob, then σ ~ U(0, std) (sampleStd, the default), then one normal per voxel in C order', () => {
    for (const seed of [3, 4]) {
      const r = new Rng(seed);
      r.random();
      const sigma = r.uniform(0, 0.5);
      const expected = [1, 2, 3, 4].map((x) => Math.fround(x + (2 + sigma * r.normal())));
      expect([...new RandGaussianNoise({ keys: 'image', prob: 1, mean: 2, std: 0.5 }).apply({ image }, new Rng(seed)).image.data]).toEqual(expected);
    }
  });

  it('RandGaussianNoise draws exactly one normal per voxel: the stream after it is where a replica of the draws ends', () => {
    const r = new Rng(21), replica = new Rng(21);
    new RandGaussianNoise({ keys: 'image', prob: 1 }).apply({ image }, r);
    replica.random();
    replica.uniform(0, 0.1);
    for (let i = 0; i < 4; i++) replica.normal();
    expect(r.random()).toBe(replica.random());
  });

  it('the gate is u < prob (MONAI: R.rand() < prob): u = prob leaves the sample as it is', () => {
    const sample = { image };
    expect(new RandGaussianNoise({ keys: 'image', prob: 0.5 }).apply(sample, new GateRng(0.5))).toBe(sample);
    expect(new RandScaleIntensity({ keys: 'image', factors: 0.5, prob: 0.5 }).apply(sample, new GateRng(0.5))).toBe(sample);
    expect(new RandShiftIntensity({ keys: 'image', offsets: 0.5, prob: 0.5 }).apply(sample, new GateRng(0.5))).toBe(sample);
    expect(new RandShiftIntensity({ keys: 'image', offsets: 0.5, prob: 0 }).apply(sample, new Rng(1))).toBe(sample);
    expect(new RandGaussianNoise({ keys: 'image', prob: 0.5 }).apply(sample, new GateRng(0.25))).not.toBe(sample);
  });

  it('std 0 is allowed (no noise), a fixed range [v, v] too', () => {
    expect([...new RandGaussianNoise({ keys: 'image', prob: 1, std: 0, sampleStd: false }).apply({ image }, new Rng(0)).image.data]).toEqual([1, 2, 3, 4]);
    expect([...new RandScaleIntensity({ keys: 'image', factors: [1, 1], prob: 1 }).apply({ image }, new Rng(0)).image.data]).toEqual([2, 4, 6, 8]);
  });

  it('check their keys even when the gate says no', () => {
    expect(() => new RandScaleIntensity({ keys: 'label', factors: 0.1, prob: 0 }).apply({ label }, new Rng(0))).toThrow(/^RandScaleIntensity: key 'label' holds a Uint8Array/);
    expect(() => new RandShiftIntensity({ keys: 'label', offsets: 0.1, prob: 0 }).apply({ label }, new Rng(0))).toThrow(/^RandShiftIntensity: key 'label' holds a Uint8Array/);
    expect(() => new RandGaussianNoise({ keys: 'image', prob: 0 }).apply({ label }, new Rng(0))).toThrow(/^RandGaussianNoise: key 'image' is missing/);
    expect(() => new RandScaleIntensity({ keys: 'label', factors: 0.1, prob: 1 }).apply({ label: vol([1]) })).toThrow(/^RandScaleIntensity: a random transform needs an Rng/);
    expect(() => new RandGaussianNoise({ keys: 'image' }).apply({ image })).toThrow(/^RandGaussianNoise: a random transform needs an Rng/);
  });

  it('name the bad option', () => {
    expect(() => new RandGaussianNoise({ keys: 'image', std: -0.1 })).toThrow(/^RandGaussianNoise: std must be ≥ 0, got -0.1$/);
    expect(() => new RandGaussianNoise({ keys: 'image', std: NaN })).toThrow(/^RandGaussianNoise: std must be a finite number, got NaN$/);
    expect(() => new RandGaussianNoise({ keys: 'image', mean: Infinity })).toThrow(/^RandGaussianNoise: mean must be a finite number, got Infinity$/);
    expect(() => new RandScaleIntensity({ keys: 'image', factors: [0, 1, 2] as never })).toThrow(/^RandScaleIntensity: factors must be a number v \(for \[−v, v\]\) or \[min, max\], got \[0,1,2\]$/);
    expect(() => new RandShiftIntensity({ keys: 'image', offsets: [NaN, 1] })).toThrow(/^RandShiftIntensity: offsets must be a number v/);
    expect(() => new RandShiftIntensity({ keys: [], offsets: 1 })).toThrow(/^RandShiftIntensity: keys must be/);
    expect(() => new RandScaleIntensity({ keys: [], factors: 1 })).toThrow(/^RandScaleIntensity: keys must be/);
  });
});
