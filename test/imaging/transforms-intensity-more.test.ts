import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AdjustContrast, ClipIntensityPercentiles, MaskIntensity, RandAdjustContrast, RandBiasField, RandHistogramShift, ShiftIntensity, ThresholdIntensity,
} from '../../src/imaging/transforms-intensity.js';
import { Rng } from '../../src/imaging/random.js';
import type { MultiChannelVolume, Shape3, Volume } from '../../src/imaging/volume.js';

/** MONAI's contrast, histogram, bias-field, threshold, clipping, shift and mask transforms: formulas, draws, errors. */
const vol = (values: number[], shape: Shape3 = [values.length, 1, 1]): Volume => ({ data: Float32Array.from(values), shape });
const out = (sample: { image: { data: Float32Array } }): number[] => [...sample.image.data];

function expectClose(actual: ArrayLike<number>, expected: readonly number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(Math.abs(actual[i]! - e), `index ${i}: ${actual[i]} vs ${e}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(e))));
}

const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, x) => s + x, 0) / a.length;
const sampleStd = (a: ArrayLike<number>) => { const m = mean(a); return Math.sqrt(Array.from(a).reduce((s, x) => s + (x - m) ** 2, 0) / (a.length - 1)); };

describe('AdjustContrast', () => {
  it('((x − min)/range)^γ · range + min over the whole image; inverted: the same on −x, negated back', () => {
    expect(out(new AdjustContrast({ keys: 'image', gamma: 2 }).apply({ image: vol([0, 1, 2, 4]) }))).toEqual([0, 0.25, 1, 4]);
    expect(out(new AdjustContrast({ keys: 'image', gamma: 0.5 }).apply({ image: vol([-1, 0, 3]) }))).toEqual([-1, 1, 3]); // (1/4)^½·4 − 1
    expect(out(new AdjustContrast({ keys: 'image', gamma: 2, invertImage: true }).apply({ image: vol([0, 1, 2, 4]) }))).toEqual([-0, 1.75, 3, 4]); // −(−0), as MONAI's -ret
    // min and max over all channels of a [C, X, Y, Z] image
    const image: MultiChannelVolume = { data: Float32Array.of(0, 2, 4, 8), shape: [2, 2, 1, 1] };
    expect(out(new AdjustContrast({ keys: 'image', gamma: 2 }).apply({ image }))).toEqual([0, 0.5, 2, 8]);
  });

  it("MONAI's ε: the range + 1e-7 in float32, which matters for a small range only", () => {
    const tiny = new AdjustContrast({ keys: 'image', gamma: 1 }).apply({ image: vol([0, 1e-6]) });
    const den = Math.fround(Math.fround(1e-6) + 1e-7);
    expect(tiny.image.data[1]).toBe(Math.fround((Math.fround(1e-6) / den) * Math.fround(1e-6)));
    expect(tiny.image.data[1]).toBeLessThan(Math.fround(1e-6));
  });

  it('retainStats keeps the mean and the Bessel-corrected std of the input', () => {
    fc.assert(fc.property(fc.array(fc.float({ min: -100, max: 100, noNaN: true }), { minLength: 3, maxLength: 40 }), fc.double({ min: 0.3, max: 4, noNaN: true }), fc.boolean(), (values, gamma, invertImage) => {
      const xs = Float32Array.from(values);
      fc.pre(sampleStd(xs) > 1e-3);
      const y = new AdjustContrast({ keys: 'image', gamma, retainStats: true, invertImage }).apply({ image: vol(values) }).image.data;
      fc.pre(sampleStd(y) > 0);
      expect(Math.abs(mean(y) - mean(xs))).toBeLessThan(1e-4 * (1 + Math.abs(mean(xs)) + sampleStd(xs)));
      expect(Math.abs(sampleStd(y) / sampleStd(xs) - 1)).toBeLessThan(1e-4);
    }), { numRuns: 60 });
  });

  it('refuses a gamma that is not positive', () => {
    expect(() => new AdjustContrast({ keys: 'image', gamma: 0 })).toThrow(/AdjustContrast: gamma must be a finite number > 0, got 0/);
    expect(() => new AdjustContrast({ keys: 'image', gamma: NaN })).toThrow(/gamma must be a finite number > 0, got NaN/);
  });
});

describe('RandAdjustContrast', () => {
  it('draws u < prob, then γ from [0.5, 4.5] by default, one γ for every key', () => {
    const sample = { image: vol([0, 1, 2, 4]), other: vol([1, 2, 3]) };
    const rng = new Rng(3), replay = rng.clone();
    const got = new RandAdjustContrast({ keys: ['image', 'other'], prob: 1 }).apply(sample, rng);
    replay.random();
    const gamma = replay.uniform(0.5, 4.5);
    expect(rng.state()).toEqual(replay.state());
    expect(got).toEqual(new AdjustContrast({ keys: ['image', 'other'], gamma }).apply(sample));
    expect(new RandAdjustContrast({ keys: 'image', prob: 0 }).apply(sample, new Rng(1))).toBe(sample);
  });

  it('a number g draws from [0.5, g]; a pair in either order; invertImage and retainStats passed on', () => {
    const sample = { image: vol([0, 1, 2, 4, 9]) };
    for (const [gamma, range] of [[2, [0.5, 2]], [[3, 1], [1, 3]]] as const) {
      const rng = new Rng(11), replay = rng.clone();
      const got = new RandAdjustContrast({ keys: 'image', prob: 1, gamma, invertImage: true, retainStats: true }).apply(sample, rng);
      replay.random();
      const g = replay.uniform(range[0], range[1]);
      expect(got).toEqual(new AdjustContrast({ keys: 'image', gamma: g, invertImage: true, retainStats: true }).apply(sample));
    }
  });

  it('refuses a one-number gamma ≤ 0.5, a range reaching 0, a bad prob', () => {
    expect(() => new RandAdjustContrast({ keys: 'image', gamma: 0.5 })).toThrow(/one-number gamma g must be > 0.5 .* got 0.5/);
    expect(() => new RandAdjustContrast({ keys: 'image', gamma: [0, 2] })).toThrow(/gamma must be a finite number > 0, got 0/);
    expect(() => new RandAdjustContrast({ keys: 'image', gamma: [1, 2, 3] as unknown as [number, number] })).toThrow(/gamma must be \[min, max\]/);
    expect(() => new RandAdjustContrast({ keys: 'image', prob: -1 })).toThrow(/prob must be in \[0, 1\]/);
  });
});

describe('RandHistogramShift', () => {
  it('with 3 control points: min and max fixed, the middle moved to a uniform draw, linear in between', () => {
    const values = [2, 3, 4, 5, 6, 7, 10];
    const rng = new Rng(5), replay = rng.clone();
    const got = new RandHistogramShift({ keys: 'image', numControlPoints: 3, prob: 1 }).apply({ image: vol(values) }, rng).image.data;
    replay.random();
    expect(replay.intIn(3, 3)).toBe(1 - 1 + 3);
    const mid = 2 + 8 * replay.uniform(0, 1);
    expect(rng.state()).toEqual(replay.state());
    // the reference middle is at 6: below it [2, 6] → [2, mid], above [6, 10] → [mid, 10]
    const want = values.map((x) => (x <= 6 ? 2 + ((x - 2) * (mid - 2)) / 4 : mid + ((x - 6) * (10 - mid)) / 4));
    expectClose(got, want, 1e-6);
  });

  it('is a monotone map of [min, max] onto itself, drawn once for every key (each scaled to its own range)', () => {
    const a = vol(Array.from({ length: 50 }, (_, i) => Math.sin(i) * 10)), b = vol(Array.from({ length: 50 }, (_, i) => Math.sin(i) * 10 + 5));
    const rng = new Rng(9);
    const got = new RandHistogramShift({ keys: ['a', 'b'], prob: 1, numControlPoints: [4, 12] }).apply({ a, b }, rng);
    const order = [...a.data.keys()].sort((i, j) => a.data[i]! - a.data[j]!);
    for (let k = 1; k < order.length; k++) expect(got.a.data[order[k]!]!).toBeGreaterThanOrEqual(got.a.data[order[k - 1]!]!);
    expect(Math.min(...got.a.data)).toBe(Math.min(...a.data));
    expect(Math.max(...got.a.data)).toBe(Math.max(...a.data));
    // b = a + 5: the same map shifted by 5
    expectClose(got.b.data, [...got.a.data].map((x) => x + 5), 1e-5);
  });

  it('leaves a constant image as it is; prob 0 returns the sample', () => {
    const sample = { image: vol([3, 3, 3]) };
    expect(out(new RandHistogramShift({ keys: 'image', prob: 1 }).apply(sample, new Rng(1)))).toEqual([3, 3, 3]);
    expect(new RandHistogramShift({ keys: 'image', prob: 0 }).apply(sample, new Rng(1))).toBe(sample);
  });

  it('refuses fewer than 3 control points or non-integers', () => {
    expect(() => new RandHistogramShift({ keys: 'image', numControlPoints: 2 })).toThrow(/numControlPoints must be an integer ≥ 3 or two of them, got 2/);
    expect(() => new RandHistogramShift({ keys: 'image', numControlPoints: [2, 5] })).toThrow(/got \[2,5\]/);
    expect(() => new RandHistogramShift({ keys: 'image', numControlPoints: 3.5 })).toThrow(/numControlPoints must be/);
  });
});

describe('RandBiasField', () => {
  const legendre = [(_: number) => 1, (x: number) => x, (x: number) => (3 * x * x - 1) / 2, (x: number) => (5 * x ** 3 - 3 * x) / 2];

  it('x · exp(Σ c_ijk P_i(x) P_j(y) P_k(z)), i + j + k ≤ 3: 20 coefficients drawn after u < prob, k fastest', () => {
    const shape: Shape3 = [3, 4, 5], n = 60;
    const image = vol(Array.from({ length: n }, (_, i) => 1 + (i % 7)), shape);
    const rng = new Rng(21), replay = rng.clone();
    const got = new RandBiasField({ keys: 'image', prob: 1, coeffRange: [-0.2, 0.3] }).apply({ image }, rng).image.data;
    replay.random();
    const coeff = new Map<string, number>();
    for (let i = 0; i <= 3; i++) for (let j = 0; j <= 3 - i; j++) for (let k = 0; k <= 3 - i - j; k++) coeff.set(`${i}${j}${k}`, replay.uniform(-0.2, 0.3));
    expect(coeff.size).toBe(20);
    expect(rng.state()).toEqual(replay.state());
    const coord = (p: number, len: number) => -1 + (2 * p) / (len - 1);
    for (let x = 0; x < 3; x++) for (let y = 0; y < 4; y++) for (let z = 0; z < 5; z++) {
      let f = 0;
      for (const [ijk, c] of coeff) f += c * legendre[+ijk[0]!]!(coord(x, 3)) * legendre[+ijk[1]!]!(coord(y, 4)) * legendre[+ijk[2]!]!(coord(z, 5));
      const at = (x * 4 + y) * 5 + z;
      expect(Math.abs(got[at]! / (image.data[at]! * Math.exp(f)) - 1)).toBeLessThan(2e-7);
    }
  });

  it('degree 1: the field is c000 + c001·z + c010·y + c100·x; the same field for every channel and key', () => {
    const image: MultiChannelVolume = { data: Float32Array.from({ length: 2 * 8 }, (_, i) => (i < 8 ? 1 : 2)), shape: [2, 2, 2, 2] };
    const rng = new Rng(2), replay = rng.clone();
    const got = new RandBiasField({ keys: ['image', 'copy'], degree: 1, prob: 1 }).apply({ image, copy: image }, rng);
    replay.random();
    const [c0, cz, cy, cx] = [0, 1, 2, 3].map(() => replay.uniform(0, 0.1)) as [number, number, number, number];
    for (let i = 0; i < 8; i++) {
      const [x, y, z] = [(i >> 2) & 1, (i >> 1) & 1, i & 1].map((b) => 2 * b - 1) as Shape3;
      expect(got.image.data[i]).toBe(Math.fround(Math.exp(c0 + cz * z + cy * y + cx * x)));
      expect(got.image.data[8 + i]).toBe(Math.fround(2 * Math.exp(c0 + cz * z + cy * y + cx * x)));
    }
    expect(got.copy).toEqual(got.image);
  });

  it('an axis of one voxel sits at −1 (numpy linspace(−1, 1, 1)); prob 0 returns the sample', () => {
    const rng = new Rng(4), replay = rng.clone();
    const got = new RandBiasField({ keys: 'image', degree: 1, prob: 1 }).apply({ image: vol([1], [1, 1, 1]) }, rng).image.data;
    replay.random();
    const [c0, cz, cy, cx] = [0, 1, 2, 3].map(() => replay.uniform(0, 0.1)) as [number, number, number, number];
    expect(got[0]).toBe(Math.fround(Math.exp(c0 - cz - cy - cx)));
    const sample = { image: vol([1]) };
    expect(new RandBiasField({ keys: 'image' }).apply(sample, new Rng(0))).toBe(sample); // u = first draw of seed 0 ≥ 0.1
  });

  it('refuses a bad degree or coefficient range', () => {
    expect(() => new RandBiasField({ keys: 'image', degree: 0 })).toThrow(/RandBiasField: degree must be an integer ≥ 1, got 0/);
    expect(() => new RandBiasField({ keys: 'image', coeffRange: [0.1, 0] })).toThrow(/coeffRange must be \[min, max\]/);
  });
});

describe('ThresholdIntensity', () => {
  it('keeps x > threshold (or x < threshold with above false), cval elsewhere', () => {
    const image = vol([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(out(new ThresholdIntensity({ keys: 'image', threshold: 5 }).apply({ image }))).toEqual([0, 0, 0, 0, 0, 0, 6, 7, 8, 9]);
    expect(out(new ThresholdIntensity({ keys: 'image', threshold: 5, above: false }).apply({ image }))).toEqual([0, 1, 2, 3, 4, 0, 0, 0, 0, 0]);
    expect(out(new ThresholdIntensity({ keys: 'image', threshold: 5, above: false, cval: -1 }).apply({ image }))).toEqual([0, 1, 2, 3, 4, -1, -1, -1, -1, -1]);
  });

  it('refuses a threshold or cval that is not a finite number', () => {
    expect(() => new ThresholdIntensity({ keys: 'image', threshold: '5' as unknown as number })).toThrow(/ThresholdIntensity: threshold must be a finite number, got 5/);
    expect(() => new ThresholdIntensity({ keys: 'image', threshold: 1, cval: Infinity })).toThrow(/cval must be a finite number, got Infinity/);
  });
});

describe('ClipIntensityPercentiles', () => {
  // MONAI's docstring example: six rows of 1 … 5
  const image = vol(Array.from({ length: 30 }, (_, i) => 1 + (i % 5)), [6, 5, 1]);
  it("MONAI's docstring example: hard clipping to the 30th and 70th percentiles, and soft clipping with sharpness 10", () => {
    expect(out(new ClipIntensityPercentiles({ keys: 'image', lower: 30, upper: 70 }).apply({ image })).slice(0, 10)).toEqual([2, 2, 3, 4, 4, 2, 2, 3, 4, 4]);
    const soft = out(new ClipIntensityPercentiles({ keys: 'image', lower: 30, upper: 70, sharpnessFactor: 10 }).apply({ image }));
    expect(soft.map((v) => Math.round(v * 1e4) / 1e4).slice(0, 5)).toEqual([2, 2.0693, 3, 3.9307, 4]);
    expect(soft.slice(5, 10)).toEqual(soft.slice(0, 5));
  });

  it('soft clipping is x + softplus(−c(x − lo))/c − softplus(c(x − hi))/c; a null side is left alone (hard: the min or max)', () => {
    const sp = (z: number) => Math.log1p(Math.exp(z));
    const values = [-3, 0, 1, 2, 10];
    const soft = out(new ClipIntensityPercentiles({ keys: 'image', lower: null, upper: 50, sharpnessFactor: 2 }).apply({ image: vol(values) }));
    expectClose(soft, values.map((x) => x - sp(2 * (x - 1)) / 2), 1e-6);
    const both = out(new ClipIntensityPercentiles({ keys: 'image', lower: 25, upper: 75, sharpnessFactor: 0.5 }).apply({ image: vol(values) }));
    expectClose(both, values.map((x) => x + sp(-0.5 * x) / 0.5 - sp(0.5 * (x - 2)) / 0.5), 1e-6);
    expect(out(new ClipIntensityPercentiles({ keys: 'image', lower: null, upper: 50 }).apply({ image: vol(values) }))).toEqual([-3, 0, 1, 1, 1]);
    expect(out(new ClipIntensityPercentiles({ keys: 'image', lower: 50, upper: null }).apply({ image: vol(values) }))).toEqual([1, 1, 1, 2, 10]);
    // large arguments: no overflow in softplus (ln 2 / c at the percentiles themselves)
    expectClose(out(new ClipIntensityPercentiles({ keys: 'image', lower: 0, upper: 100, sharpnessFactor: 1000 }).apply({ image: vol([0, 1e6]) })), [Math.LN2 / 1000, 1e6], 1e-9);
  });

  it('channelWise: each channel its own percentiles; otherwise those of the whole image', () => {
    const two: MultiChannelVolume = { data: Float32Array.of(0, 1, 2, 3, 10, 20, 30, 40), shape: [2, 4, 1, 1] };
    expect(out(new ClipIntensityPercentiles({ keys: 'image', lower: 0, upper: 50, channelWise: true }).apply({ image: two }))).toEqual([0, 1, 1.5, 1.5, 10, 20, 25, 25]);
    expect(out(new ClipIntensityPercentiles({ keys: 'image', lower: 0, upper: 50 }).apply({ image: two }))).toEqual([0, 1, 2, 3, 6.5, 6.5, 6.5, 6.5]);
  });

  it('refuses bad percentiles and sharpness', () => {
    expect(() => new ClipIntensityPercentiles({ keys: 'image', lower: null, upper: null })).toThrow(/give lower or upper \(or both\); both are null/);
    expect(() => new ClipIntensityPercentiles({ keys: 'image', lower: -1, upper: 50 })).toThrow(/lower must be a percentile in \[0, 100\] or null, got -1/);
    expect(() => new ClipIntensityPercentiles({ keys: 'image', lower: 10, upper: 101 })).toThrow(/upper must be a percentile in \[0, 100\] or null, got 101/);
    expect(() => new ClipIntensityPercentiles({ keys: 'image', lower: 60, upper: 50 })).toThrow(/upper \(50\) must not be below lower \(60\)/);
    expect(() => new ClipIntensityPercentiles({ keys: 'image', lower: 10, upper: 50, sharpnessFactor: 0 })).toThrow(/sharpnessFactor must be a finite number > 0 or null, got 0/);
  });
});

describe('ShiftIntensity', () => {
  it('adds the offset to every voxel of every channel', () => {
    const image: MultiChannelVolume = { data: Float32Array.of(1, -2, 3, 4), shape: [2, 2, 1, 1] };
    expect(out(new ShiftIntensity({ keys: 'image', offset: 1.5 }).apply({ image }))).toEqual([2.5, -0.5, 4.5, 5.5]);
    expect(() => new ShiftIntensity({ keys: 'image', offset: NaN })).toThrow(/ShiftIntensity: offset must be a finite number, got NaN/);
  });
});

describe('MaskIntensity', () => {
  const image: MultiChannelVolume = { data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3, 1, 1] };
  it('a one-channel mask from the sample (uint8 label) applies to every channel; values > 0 select by default', () => {
    const label: Volume<Uint8Array> = { data: Uint8Array.of(1, 0, 2), shape: [3, 1, 1] };
    const got = new MaskIntensity({ keys: 'image', maskKey: 'label' }).apply({ image, label });
    expect(out(got)).toEqual([1, 0, 3, 4, 0, 6]);
    expect(got.label).toBe(label);
  });

  it('a fixed mask of C channels masks channel by channel; selectFn picks the values', () => {
    const maskData: MultiChannelVolume = { data: Float32Array.of(1, 1, 0, 0, 2, 2), shape: [2, 3, 1, 1] };
    expect(out(new MaskIntensity({ keys: 'image', maskData }).apply({ image }))).toEqual([1, 2, 0, 0, 5, 6]);
    expect(out(new MaskIntensity({ keys: 'image', maskData, selectFn: (v) => v === 2 }).apply({ image }))).toEqual([0, 0, 0, 0, 5, 6]);
    // maskData wins over maskKey, as MONAI's
    expect(out(new MaskIntensity({ keys: 'image', maskData, maskKey: 'nothere' }).apply({ image }))).toEqual([1, 2, 0, 0, 5, 6]);
  });

  it('refuses a missing mask, mismatched shapes or channel counts, naming them', () => {
    expect(() => new MaskIntensity({ keys: 'image' })).toThrow(/MaskIntensity: give maskData or maskKey/);
    expect(() => new MaskIntensity({ keys: 'image', maskKey: 'label' }).apply({ image })).toThrow(/key 'label' is missing from the sample/);
    const wrong = { data: new Uint8Array(2), shape: [2, 1, 1] as Shape3 };
    expect(() => new MaskIntensity({ keys: 'image', maskKey: 'label' }).apply({ image, label: wrong })).toThrow(/the mask 'label' has spatial shape \[2, 1, 1\], key 'image' has \[3, 1, 1\]/);
    const three: MultiChannelVolume = { data: new Float32Array(9), shape: [3, 3, 1, 1] };
    expect(() => new MaskIntensity({ keys: 'image', maskData: three }).apply({ image })).toThrow(/maskData has 3 channels, key 'image' has 2; a mask has one channel or as many as the image/);
    expect(() => new MaskIntensity({ keys: 'image', maskData: { data: new Float32Array(2), shape: [3, 1, 1] } })).toThrow(/maskData/);
  });
});
