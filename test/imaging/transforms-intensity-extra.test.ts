import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/imaging/random.js';
import {
  ForegroundMask, HistogramNormalize, MedianSmooth, RandCoarseDropout, RandCoarseShuffle, RandScaleIntensityFixedMean, RandStdShiftIntensity,
  SavitzkyGolaySmooth, ScaleIntensityFixedMean, StdShiftIntensity, savitzkyGolayCoefficients, thresholdOtsu,
} from '../../src/imaging/transforms-intensity-extra.js';
import type { MultiChannelVolume, Shape3, Volume } from '../../src/imaging/volume.js';
import { GateRng } from '../helpers/gate-rng.js';
import { idx } from '../helpers/volumes.js';

/** MONAI's coarse dropout and shuffle, histogram normalization, median and Savitzky–Golay smoothing, std shift and fixed-mean scaling. */

const vol = (values: number[], shape: Shape3 = [values.length, 1, 1]): Volume => ({ data: Float32Array.from(values), shape });

function randomImage(shape: [number, number, number, number], seed: number, lo = 0, hi = 10): MultiChannelVolume {
  const r = new Rng(seed), n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, () => r.uniform(lo, hi)), shape };
}

function expectClose(actual: ArrayLike<number>, expected: readonly number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(Math.abs(actual[i]! - e), `index ${i}: ${actual[i]} vs ${e}`).toBeLessThanOrEqual(tol));
}

/** Whether voxel (x, y, z) lies in a box. */
const inBox = (b: { start: number[]; size: number[] }, p: number[]) => p.every((v, a) => v >= b.start[a]! && v < b.start[a]! + b.size[a]!);

describe('RandCoarseDropout', () => {
  const image = randomImage([3, 3, 3, 4], 1);
  const voxel = (i: number): [number, number, number, number] => [Math.floor(i / 36), Math.floor(i / 12) % 3, Math.floor(i / 4) % 3, i % 4];

  it("MONAI's case: 2 holes of [2, 2, 2] in a [3, 3, 3, 4] image filled with 5 in every channel; corners uniform over the room left", () => {
    const out = new RandCoarseDropout({ keys: 'image', holes: 2, spatialSize: [2, 2, 2], fillValue: 5, prob: 1 }).apply({ image }, new GateRng(0, 41)).image;
    const r = new Rng(41), boxes = [0, 1].map(() => ({ start: [r.int(2), r.int(2), r.int(3)], size: [2, 2, 2] }));
    expect(out.shape).toEqual([3, 3, 3, 4]);
    out.data.forEach((v, i) => {
      const [, ...p] = voxel(i);
      expect(v).toBe(boxes.some((b) => inBox(b, p)) ? 5 : image.data[i]);
    });
  });

  it('maxHoles draws the count, maxSpatialSize each size per axis from [spatialSize, max] (≤ 0: the whole axis), then the corner', () => {
    const out = new RandCoarseDropout({ keys: 'image', holes: 1, maxHoles: 3, spatialSize: [2, -1, 1], maxSpatialSize: [3, 3, -1], fillValue: -1, prob: 1 })
      .apply({ image }, new GateRng(0, 42)).image;
    const r = new Rng(42), count = r.intIn(1, 3), boxes: { start: number[]; size: number[] }[] = [];
    for (let h = 0; h < count; h++) {
      const size = [r.intIn(2, 3), r.intIn(3, 3), r.intIn(1, 4)];
      boxes.push({ size, start: size.map((s, a) => ([3, 3, 4][a]! > s ? r.int([3, 3, 4][a]! - s + 1) : 0)) });
    }
    out.data.forEach((v, i) => {
      const [, ...p] = voxel(i);
      expect(v).toBe(boxes.some((b) => inBox(b, p)) ? -1 : image.data[i]);
    });
  });

  it('a range fill draws each voxel of [C, box] in C order after the boxes; null fills from the image\'s [min, max)', () => {
    const small = randomImage([2, 3, 3, 3], 2);
    const out = new RandCoarseDropout({ keys: 'image', holes: 1, spatialSize: 2, fillValue: [3, 6], prob: 1 }).apply({ image: small }, new GateRng(0, 43)).image;
    const r = new Rng(43), start = [r.int(2), r.int(2), r.int(2)], expected = Float32Array.from(small.data);
    for (let c = 0; c < 2; c++) for (let x = 0; x < 2; x++) for (let y = 0; y < 2; y++) for (let z = 0; z < 2; z++) expected[c * 27 + idx([3, 3, 3], start[0]! + x, start[1]! + y, start[2]! + z)] = r.uniform(3, 6);
    expect([...out.data]).toEqual([...expected]);
    const auto = new RandCoarseDropout({ keys: 'image', holes: 1, spatialSize: [3, 3, 3], prob: 1 }).apply({ image: small }, new GateRng(0, 44)).image;
    let lo = Infinity, hi = -Infinity;
    for (const v of small.data) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const r2 = new Rng(44);
    expect([...auto.data]).toEqual([...Float32Array.from(small.data, () => r2.uniform(lo, hi))]);
  });

  it('dropoutHoles false keeps the boxes and fills the rest (a range over the whole [C, X, Y, Z] image first)', () => {
    const out = new RandCoarseDropout({ keys: 'image', holes: 2, spatialSize: [1, 2, 2], dropoutHoles: false, fillValue: [3, 6], prob: 1 }).apply({ image }, new GateRng(0, 45)).image;
    const r = new Rng(45), boxes = [0, 1].map(() => ({ start: [r.int(3), r.int(2), r.int(3)], size: [1, 2, 2] }));
    const fill = Float32Array.from(image.data, () => r.uniform(3, 6));
    out.data.forEach((v, i) => {
      const [, ...p] = voxel(i);
      expect(v).toBe(boxes.some((b) => inBox(b, p)) ? image.data[i] : fill[i]);
    });
  });

  it('one set of boxes for every key; u ≥ prob (default 0.1) returns the sample', () => {
    const other = randomImage([1, 3, 3, 4], 3), sample = { image, other };
    const out = new RandCoarseDropout({ keys: ['image', 'other'], holes: 1, spatialSize: 2, fillValue: 0, prob: 1 }).apply(sample, new GateRng(0, 46));
    const zeroed = (v: Float32Array, n: number) => [...v.subarray(0, n)].map((x) => x === 0);
    expect(zeroed(out.other.data, 36)).toEqual(zeroed(out.image.data, 36));
    expect(zeroed(out.image.data, 36).filter(Boolean).length).toBe(8);
    expect(new RandCoarseDropout({ keys: 'image', holes: 1, spatialSize: 2 }).apply(sample, new GateRng(0.1))).toBe(sample);
  });

  it('errors name the option or key', () => {
    expect(() => new RandCoarseDropout({ keys: 'image', holes: 0, spatialSize: 2 })).toThrow(/RandCoarseDropout: holes must be an integer ≥ 1, got 0/);
    expect(() => new RandCoarseDropout({ keys: 'image', holes: 3, maxHoles: 2, spatialSize: 2 })).toThrow(/RandCoarseDropout: maxHoles must be an integer ≥ holes \(3\), got 2/);
    expect(() => new RandCoarseDropout({ keys: 'image', holes: 1, spatialSize: [1, 2] as unknown as number })).toThrow(/RandCoarseDropout: spatialSize must be an integer or three integers/);
    expect(() => new RandCoarseDropout({ keys: 'image', holes: 1, spatialSize: 2, fillValue: [1, 2, 3] as unknown as [number, number] })).toThrow(/RandCoarseDropout: fillValue must be a number, \[min, max\] or null/);
    expect(() => new RandCoarseDropout({ keys: 'image', holes: 1, spatialSize: 3, maxSpatialSize: 2, prob: 1 }).apply({ image }, new Rng(0))).toThrow(/RandCoarseDropout: maxSpatialSize \[2, 2, 2\] is below spatialSize \[3, 3, 3\]/);
    expect(() => new RandCoarseDropout({ keys: ['image', 'b'], holes: 1, spatialSize: 1 }).apply({ image, b: vol([1, 2]) }, new Rng(0))).toThrow(/RandCoarseDropout: key 'b' has spatial shape \[2, 1, 1\], key 'image' has \[3, 3, 4\]/);
    expect(() => new RandCoarseShuffle({ keys: 'image', holes: 1, spatialSize: 1 }).apply({ image })).toThrow(/RandCoarseShuffle: a random transform needs an Rng/);
  });
});

describe('RandCoarseShuffle', () => {
  it('shuffles each channel of each box on its own (Fisher–Yates over its values in C order); the rest stays', () => {
    const image: MultiChannelVolume = { data: Float32Array.from({ length: 2 * 27 }, (_, i) => i), shape: [2, 3, 3, 3] };
    const out = new RandCoarseShuffle({ keys: 'image', holes: 2, spatialSize: 1, maxSpatialSize: -1, prob: 1 }).apply({ image }, new GateRng(0, 51)).image;
    const r = new Rng(51), expected = Float32Array.from(image.data);
    const boxes = [0, 1].map(() => {
      const size = [r.intIn(1, 3), r.intIn(1, 3), r.intIn(1, 3)];
      return { size, start: size.map((s) => (3 > s ? r.int(3 - s + 1) : 0)) };
    });
    for (const b of boxes) {
      for (let c = 0; c < 2; c++) {
        const at: number[] = [];
        for (let x = b.start[0]!; x < b.start[0]! + b.size[0]!; x++) for (let y = b.start[1]!; y < b.start[1]! + b.size[1]!; y++) for (let z = b.start[2]!; z < b.start[2]! + b.size[2]!; z++) at.push(c * 27 + idx([3, 3, 3], x, y, z));
        const values = at.map((i) => expected[i]!);
        for (let i = values.length - 1; i > 0; i--) { const j = r.int(i + 1); [values[i], values[j]] = [values[j]!, values[i]!]; }
        at.forEach((i, k) => { expected[i] = values[k]!; });
      }
    }
    expect([...out.data]).toEqual([...expected]);
    // a permutation of each channel's own values
    expect([...out.data.subarray(0, 27)].sort((a, b) => a - b)).toEqual([...image.data.subarray(0, 27)]);
    expect([...out.data.subarray(27)].sort((a, b) => a - b)).toEqual([...image.data.subarray(27)]);
  });

  it("MONAI's prob 0 case: the sample unchanged", () => {
    const sample = { img: vol([0, 1, 2, 3, 4, 5, 6, 7], [2, 2, 2]) };
    expect(new RandCoarseShuffle({ keys: 'img', holes: 5, spatialSize: 1, maxSpatialSize: -1, prob: 0 }).apply(sample, new Rng(12))).toBe(sample);
  });
});

describe('HistogramNormalize', () => {
  it("MONAI's test: 4 bins of the masked [0..4] onto [1, 5]: [0..5] → [1, 1.5, 2.5, 4, 5, 5]", () => {
    const mask: Volume<Uint8Array> = { data: Uint8Array.of(1, 1, 1, 1, 1, 0), shape: [6, 1, 1] };
    const out = new HistogramNormalize({ keys: 'image', numBins: 4, min: 1, max: 5, mask }).apply({ image: vol([0, 1, 2, 3, 4, 5]) });
    expect([...out.image.data]).toEqual([1, 1.5, 2.5, 4, 5, 5]);
    // the mask from a key of the sample
    const byKey = new HistogramNormalize({ keys: 'image', numBins: 4, min: 1, max: 5, maskKey: 'm' }).apply({ image: vol([0, 1, 2, 3, 4, 5]), m: mask });
    expect([...byKey.image.data]).toEqual([1, 1.5, 2.5, 4, 5, 5]);
  });

  it("MONAI's uint8 tests: the float results truncate to [0, 0, 1, 3, 4] and [0, 170, 70, 255]", () => {
    const a = new HistogramNormalize({ keys: 'image', numBins: 4, max: 4 }).apply({ image: vol([0, 1, 2, 3, 4]) }).image.data;
    expect([...a]).toEqual([0, 0.5, 1.5, 3, 4]);
    expect([...a].map(Math.trunc)).toEqual([0, 0, 1, 3, 4]);
    const b = new HistogramNormalize({ keys: 'image' }).apply({ image: vol([100, 200, 150, 250], [2, 2, 1]) }).image.data;
    expect([...b].map(Math.trunc)).toEqual([0, 170, 70, 255]);
  });

  it('the histogram of every channel together; a constant image bins into [v − 0.5, v + 0.5]; a one-channel mask covers every channel', () => {
    const image: MultiChannelVolume = { data: Float32Array.of(0, 1, 2, 3), shape: [2, 2, 1, 1] };
    // 2 bins over [0, 3]: counts [2, 2], centres 0.75 and 2.25, cum [2, 4] → [0, 255]
    expect([...new HistogramNormalize({ keys: 'image', numBins: 2 }).apply({ image }).image.data]).toEqual([0, 42.5, 212.5, 255]);
    // 3 bins over [6.5, 7.5]: all in the middle one, cum [0, 2, 2] → [0, 255, 255]; 7 sits on the middle centre
    expect([...new HistogramNormalize({ keys: 'image', numBins: 3 }).apply({ image: vol([7, 7]) }).image.data]).toEqual([255, 255]);
    const mask: Volume<Uint8Array> = { data: Uint8Array.of(1, 0), shape: [2, 1, 1] };
    // selected: 0 and 2, 2 bins over [0, 2]: centres 0.5, 1.5, cum [1, 2] → [0, 255]
    expect([...new HistogramNormalize({ keys: 'image', numBins: 2, mask }).apply({ image }).image.data]).toEqual([0, 127.5, 255, 255]);
  });

  it('errors', () => {
    expect(() => new HistogramNormalize({ keys: 'image', numBins: 0 })).toThrow(/HistogramNormalize: numBins must be an integer ≥ 1, got 0/);
    expect(() => new HistogramNormalize({ keys: 'image', max: NaN })).toThrow(/HistogramNormalize: max must be a finite number/);
    const mask: Volume<Uint8Array> = { data: new Uint8Array(2), shape: [2, 1, 1] };
    expect(() => new HistogramNormalize({ keys: 'image', mask }).apply({ image: vol([1, 2]) })).toThrow(/HistogramNormalize: the mask selects no voxel of key 'image'/);
    expect(() => new HistogramNormalize({ keys: 'image', maskKey: 'm' }).apply({ image: vol([1, 2]), m: vol([1, 1, 1]) })).toThrow(/HistogramNormalize: the mask 'm' has spatial shape \[3, 1, 1\], key 'image' has \[2, 1, 1\]/);
    expect(() => new HistogramNormalize({ keys: 'image', maskKey: 'm' }).apply({ image: vol([1, 2]) })).toThrow(/HistogramNormalize: key 'm' is missing/);
  });
});

describe('MedianSmooth', () => {
  it("MONAI's 3-D test: radius 1 with replicated edges", () => {
    const image = vol([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6], [2, 3, 3]);
    expect([...new MedianSmooth({ keys: 'img', radius: 1 }).apply({ img: image }).img.data]).toEqual([2, 2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 5, 5, 5]);
  });

  it("MONAI's 2-D tests as [X, Y, 1] volumes (one z replicated: the same medians); radius 0 is the identity; per axis radii", () => {
    const rows = vol([1, 1, 1, 2, 2, 2, 3, 3, 3], [3, 3, 1]);
    expect([...new MedianSmooth({ keys: 'img' }).apply({ img: rows }).img.data]).toEqual([...rows.data]);
    const r = randomImage([2, 3, 4, 5], 3);
    expect([...new MedianSmooth({ keys: 'img', radius: 0 }).apply({ img: r }).img.data]).toEqual([...r.data]);
    // radius [0, 0, 1] along z only: the median of three neighbours along the line
    const line = vol([5, 1, 9, 3, 7], [1, 1, 5]);
    expect([...new MedianSmooth({ keys: 'img', radius: [0, 0, 1] }).apply({ img: line }).img.data]).toEqual([5, 5, 3, 7, 7]);
    expect(() => new MedianSmooth({ keys: 'img', radius: -1 })).toThrow(/MedianSmooth: radius must be an integer ≥ 0 or three of them, got -1/);
  });
});

describe('SavitzkyGolaySmooth', () => {
  it('the weights: the classic tables (5 points quadratic: [−3, 12, 17, 12, −3]/35; 7 points: [−2, 3, 6, 7, 6, 3, −2]/21), a moving average for order 0 and 1', () => {
    expectClose(savitzkyGolayCoefficients(5, 2), [-3, 12, 17, 12, -3].map((v) => v / 35), 1e-14);
    expectClose(savitzkyGolayCoefficients(7, 3), [-2, 3, 6, 7, 6, 3, -2].map((v) => v / 21), 1e-14);
    expectClose(savitzkyGolayCoefficients(5, 1), [0.2, 0.2, 0.2, 0.2, 0.2], 1e-15);
    expectClose(savitzkyGolayCoefficients(3, 2), [0, 1, 0], 1e-15);
  });

  it("MONAI's tests: [1] → 1/3 with zeros, 1 with replicate; ones((2, 3)) along the second axis → [2/3, 1, 2/3]", () => {
    expectClose(new SavitzkyGolaySmooth({ keys: 'img', windowLength: 3, order: 1 }).apply({ img: vol([1]) }).img.data, [1 / 3], 1e-7);
    expectClose(new SavitzkyGolaySmooth({ keys: 'img', windowLength: 3, order: 1, mode: 'replicate' }).apply({ img: vol([1]) }).img.data, [1], 1e-7);
    const ones = vol([1, 1, 1, 1, 1, 1], [2, 3, 1]);
    expectClose(new SavitzkyGolaySmooth({ keys: 'img', windowLength: 3, order: 1, axis: 2 }).apply({ img: ones }).img.data, [2 / 3, 1, 2 / 3, 2 / 3, 1, 2 / 3], 1e-7);
  });

  it("MONAI's sine test: a windowed sine of period 3 smooths to 0 within 2e-2", () => {
    const n = 100, values = Array.from({ length: n }, (_, i) => Math.sin((2 * Math.PI * i) / 3) * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1))));
    const out = new SavitzkyGolaySmooth({ keys: 'img', windowLength: 3, order: 1 }).apply({ img: vol(values) }).img.data;
    expect(Math.max(...[...out].map(Math.abs))).toBeLessThan(2e-2);
  });

  it("the padding modes on [1, 2, 3, 4] with the 3-point mean: reflect [5/3, 2, 3, 10/3], circular [7/3, 2, 3, 8/3], replicate [4/3, 2, 3, 11/3]; axis 3 is z", () => {
    const z = vol([1, 2, 3, 4], [1, 1, 4]);
    const run = (mode: 'reflect' | 'circular' | 'replicate') => new SavitzkyGolaySmooth({ keys: 'img', windowLength: 3, order: 0, axis: 3, mode }).apply({ img: z }).img.data;
    expectClose(run('reflect'), [5 / 3, 2, 3, 10 / 3], 1e-6);
    expectClose(run('circular'), [7 / 3, 2, 3, 8 / 3], 1e-6);
    expectClose(run('replicate'), [4 / 3, 2, 3, 11 / 3], 1e-6);
    // each channel and each line along the axis on its own
    const image = randomImage([2, 2, 3, 4], 9);
    const out = new SavitzkyGolaySmooth({ keys: 'img', windowLength: 3, order: 0, axis: 3 }).apply({ img: image }).img.data;
    for (let line = 0; line < 12; line++) {
      const v = image.data.subarray(line * 4, line * 4 + 4);
      expectClose(out.subarray(line * 4, line * 4 + 4), [(v[0]! + v[1]!) / 3, (v[0]! + v[1]! + v[2]!) / 3, (v[1]! + v[2]! + v[3]!) / 3, (v[2]! + v[3]!) / 3], 1e-5);
    }
  });

  it('errors', () => {
    expect(() => new SavitzkyGolaySmooth({ keys: 'img', windowLength: 4, order: 1 })).toThrow(/SavitzkyGolaySmooth: windowLength must be a positive odd integer, got 4/);
    expect(() => new SavitzkyGolaySmooth({ keys: 'img', windowLength: 3, order: 3 })).toThrow(/SavitzkyGolaySmooth: order must be an integer in \[0, windowLength\), got 3/);
    expect(() => new SavitzkyGolaySmooth({ keys: 'img', windowLength: 3, order: 1, axis: 0 })).toThrow(/SavitzkyGolaySmooth: axis must be 1, 2 or 3/);
    expect(() => new SavitzkyGolaySmooth({ keys: 'img', windowLength: 3, order: 1, mode: 'wrap' as 'zeros' })).toThrow(/SavitzkyGolaySmooth: mode must be 'zeros', 'reflect', 'replicate' or 'circular', got "wrap"/);
    expect(() => new SavitzkyGolaySmooth({ keys: 'img', windowLength: 5, order: 1, mode: 'reflect' }).apply({ img: vol([1, 2]) })).toThrow(/SavitzkyGolaySmooth: the window's half length 2 is too long for 'reflect' padding of an axis of 2 voxels/);
  });
});

describe('StdShiftIntensity', () => {
  it("MONAI's tests: nonzero [[4, 0, 2], [0, 2, 4]] (std 1) → +factor on the nonzero; channel-wise [[1, 2], [1, 1]] → [1 + f/2, 2 + f/2], [1, 1]", () => {
    const f = 0.37;
    const nz = new StdShiftIntensity({ keys: 'image', factor: f, nonzero: true }).apply({ image: vol([4, 0, 2, 0, 2, 4], [2, 3, 1]) }).image.data;
    expectClose(nz, [4 + f, 0, 2 + f, 0, 2 + f, 4 + f], 1e-6);
    const image: MultiChannelVolume = { data: Float32Array.of(1, 2, 1, 1), shape: [2, 2, 1, 1] };
    expectClose(new StdShiftIntensity({ keys: 'image', factor: f, channelWise: true }).apply({ image }).image.data, [1 + 0.5 * f, 2 + 0.5 * f, 1, 1], 1e-6);
    // over the whole image: std of [1, 2, 1, 1] = √3/4
    expectClose(new StdShiftIntensity({ keys: 'image', factor: f }).apply({ image }).image.data, [1, 2, 1, 1].map((x) => x + (f * Math.sqrt(3)) / 4), 1e-6);
  });

  it("MONAI's zero-std test: a constant image stays, whatever nonzero and channelWise; an all-zero one with nonzero too", () => {
    const ones: MultiChannelVolume = { data: new Float32Array(18).fill(1), shape: [2, 3, 3, 1] };
    for (const nonzero of [true, false]) for (const channelWise of [true, false]) {
      expect([...new StdShiftIntensity({ keys: 'image', factor: 0.8, nonzero, channelWise }).apply({ image: ones }).image.data]).toEqual([...ones.data]);
    }
    expect([...new StdShiftIntensity({ keys: 'image', factor: 0.8, nonzero: true }).apply({ image: vol([0, 0]) }).image.data]).toEqual([0, 0]);
    expect(() => new StdShiftIntensity({ keys: 'image', factor: Infinity })).toThrow(/StdShiftIntensity: factor must be a finite number/);
  });
});

describe('ScaleIntensityFixedMean', () => {
  it("MONAI's tests: fixedMean false is x·(1 + f); with preserveRange clipped to the input's range; the mean stays otherwise", () => {
    const image = vol([-1, 0, 2, 5]);
    expectClose(new ScaleIntensityFixedMean({ keys: 'image', factor: 0.1, fixedMean: false }).apply({ image }).image.data, [-1.1, 0, 2.2, 5.5], 1e-6);
    expect([...new ScaleIntensityFixedMean({ keys: 'image', factor: 0.9, fixedMean: false, preserveRange: true }).apply({ image }).image.data]).toEqual([-1, 0, 3.8, 5].map(Math.fround));
    // mean 1.5: (x − 1.5)·1.9 + 1.5 = [−3.25, −1.35, 2.45, 8.15], clipped to [−1, 5]
    expectClose(new ScaleIntensityFixedMean({ keys: 'image', factor: 0.9, preserveRange: true }).apply({ image }).image.data, [-1, -1, 2.45, 5], 1e-6);
    expect([...new ScaleIntensityFixedMean({ keys: 'image' }).apply({ image }).image.data]).toEqual([-1, 0, 2, 5]);
  });

  it('channelWise: each channel about its own mean and within its own range', () => {
    const image: MultiChannelVolume = { data: Float32Array.of(0, 2, 10, 30), shape: [2, 2, 1, 1] };
    expectClose(new ScaleIntensityFixedMean({ keys: 'image', factor: 1, channelWise: true }).apply({ image }).image.data, [-1, 3, 0, 40], 1e-6);
    expectClose(new ScaleIntensityFixedMean({ keys: 'image', factor: 1, channelWise: true, preserveRange: true }).apply({ image }).image.data, [0, 2, 10, 30], 1e-6);
    // over the whole image: mean 10.5
    expectClose(new ScaleIntensityFixedMean({ keys: 'image', factor: 1 }).apply({ image }).image.data, [-10.5, -6.5, 9.5, 49.5], 1e-6);
  });
});

describe('RandStdShiftIntensity', () => {
  const popStd = (d: ArrayLike<number>) => { const a = Array.from(d), m = a.reduce((s, x) => s + x, 0) / a.length; return Math.sqrt(a.reduce((s, x) => s + (x - m) ** 2, 0) / a.length); };

  it("MONAI's test: x + factor · std(x) (population std), factor ~ U[−1, 1] after the gate, one for every key", () => {
    const image = vol([1, 5, 2, 8, 3]), other = vol([0, 10, 0, 0, 4]);
    const out = new RandStdShiftIntensity({ keys: ['image', 'other'], factors: 1, prob: 1 }).apply({ image, other }, new GateRng(0, 61));
    const f = new Rng(61).uniform(-1, 1);
    expectClose(out.image.data, [1, 5, 2, 8, 3].map((x) => x + f * popStd(image.data)), 1e-5);
    expectClose(out.other.data, [0, 10, 0, 0, 4].map((x) => x + f * popStd(other.data)), 1e-5);
  });

  it('nonzero: the std of the nonzero voxels, which alone move; channelWise: each channel its own std; a pair in either order', () => {
    const image = vol([0, 2, 0, 6]);
    const out = new RandStdShiftIntensity({ keys: 'image', factors: [0.5, 0.2], prob: 1, nonzero: true }).apply({ image }, new GateRng(0, 62)).image.data;
    const f = new Rng(62).uniform(0.2, 0.5);
    expectClose(out, [0, 2 + f * 2, 0, 6 + f * 2], 1e-6);
    const two: MultiChannelVolume = { data: Float32Array.of(1, 3, 10, 30), shape: [2, 2, 1, 1] };
    const cw = new RandStdShiftIntensity({ keys: 'image', factors: 1, prob: 1, channelWise: true }).apply({ image: two }, new GateRng(0, 63)).image.data;
    const g = new Rng(63).uniform(-1, 1);
    expectClose(cw, [1 + g, 3 + g, 10 + 10 * g, 30 + 10 * g], 1e-5);
    const all = new RandStdShiftIntensity({ keys: 'image', factors: 1, prob: 1 }).apply({ image: two }, new GateRng(0, 63)).image.data;
    expectClose(all, [1, 3, 10, 30].map((x) => x + g * popStd([1, 3, 10, 30])), 1e-5);
  });

  it('u ≥ prob returns the sample; errors', () => {
    const sample = { image: vol([1, 2]) };
    expect(new RandStdShiftIntensity({ keys: 'image', factors: 1 }).apply(sample, new GateRng(0.1))).toBe(sample);
    expect(() => new RandStdShiftIntensity({ keys: 'image', factors: [1, 2, 3] as unknown as number })).toThrow(/RandStdShiftIntensity: factors must be a number f \(for \[−f, f\]\) or a pair \[a, b\]/);
  });
});

describe('RandScaleIntensityFixedMean', () => {
  it("MONAI's test: (x − mean)(1 + factor) + mean, factor ~ U[−0.5, 0.5] after the gate; the mean stays", () => {
    const image = randomImage([2, 3, 3, 3], 7);
    const out = new RandScaleIntensityFixedMean({ keys: 'image', factors: 0.5, prob: 1 }).apply({ image }, new GateRng(0, 71)).image.data;
    const f = new Rng(71).uniform(-0.5, 0.5), mean = image.data.reduce((s, x) => s + x, 0) / image.data.length;
    expectClose(out, [...image.data].map((x) => (x - mean) * (1 + f) + mean), 1e-5);
    expect(Math.abs(out.reduce((s, x) => s + x, 0) / out.length - mean)).toBeLessThan(1e-5);
  });

  it('preserveRange clips to the input range; fixedMean false scales about 0', () => {
    const image = vol([0, 1, 2, 10]);
    const up = new RandScaleIntensityFixedMean({ keys: 'image', factors: [1, 1], prob: 1, preserveRange: true }).apply({ image }, new GateRng(0));
    // mean 3.25: (x − 3.25)·2 + 3.25 = [−3.25, −1.25, 0.75, 16.75], clipped to [0, 10]
    expect([...up.image.data]).toEqual([0, 0, 0.75, 10]);
    const about0 = new RandScaleIntensityFixedMean({ keys: 'image', factors: [1, 1], prob: 1, fixedMean: false }).apply({ image }, new GateRng(0));
    expect([...about0.image.data]).toEqual([0, 2, 4, 20]);
    const sample = { image };
    expect(new RandScaleIntensityFixedMean({ keys: 'image', factors: 1 }).apply(sample, new GateRng(0.5))).toBe(sample);
    expect(() => new RandScaleIntensityFixedMean({ keys: 'image', factors: NaN })).toThrow(/RandScaleIntensityFixedMean: factors must be a number f/);
  });
});

describe('ForegroundMask', () => {
  /** Otsu by its definition: over every split of the bins, the between-class variance w0·w1·(μ0 − μ1)², summed directly. */
  function bruteOtsu(values: number[], bins: number): number {
    const lo = Math.min(...values), hi = Math.max(...values), w = (hi - lo) / bins;
    const bin = (v: number) => Math.min(Math.floor(((v - lo) / (hi - lo)) * bins), bins - 1), centre = (b: number) => lo + (b + 0.5) * w;
    let best = -1, at = 0;
    for (let t = 0; t < bins - 1; t++) {
      const below = values.filter((v) => bin(v) <= t).map((v) => centre(bin(v))), above = values.filter((v) => bin(v) > t).map((v) => centre(bin(v)));
      const m = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
      const score = below.length * above.length * (m(below) - m(above)) ** 2;
      if (score > best + 1e-9) { best = score; at = t; }
    }
    return centre(at);
  }

  it("skimage's threshold_otsu: the bin centre of the largest between-class variance; a constant's own value", () => {
    const r = new Rng(81), values = [...Array.from({ length: 40 }, () => r.uniform(0, 3)), ...Array.from({ length: 60 }, () => r.uniform(6, 10))];
    for (const bins of [4, 16, 256]) expect(thresholdOtsu(values, bins)).toBeCloseTo(bruteOtsu(values, bins), 12);
    // the splits in the gap tie and the first wins: the centre of the bin holding the low cluster's top (bins ≈ 10/256 wide)
    const t = thresholdOtsu(values), width = (Math.max(...values) - Math.min(...values)) / 256, top = Math.max(...values.slice(0, 40));
    expect(Math.abs(t - top)).toBeLessThan(width / 2);
    expect(thresholdOtsu([2, 2, 2])).toBe(2);
  });

  it('dark voxels are foreground: any of R, G, B ≤ its threshold; a [1, X, Y, Z] float mask; newKeyPrefix keeps the image', () => {
    // three voxels: dark in R only, bright everywhere, dark in B only
    const image: MultiChannelVolume = { data: Float32Array.of(0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1), shape: [3, 3, 1, 1] };
    const out = new ForegroundMask({ keys: 'image', threshold: 0.5 }).apply({ image }).image;
    expect(out.shape).toEqual([1, 3, 1, 1]);
    expect([...out.data]).toEqual([1, 0, 1]);
    const only = new ForegroundMask({ keys: 'image', threshold: { R: 0.5 }, newKeyPrefix: 'fg_' }).apply({ image }) as { image: MultiChannelVolume; fg_image: MultiChannelVolume };
    expect([...only.fg_image.data]).toEqual([1, 0, 0]);
    expect(only.image).toBe(image);
    // inverted: 1 − x, so bright voxels become foreground
    expect([...new ForegroundMask({ keys: 'image', threshold: 0.5, invert: true }).apply({ image }).image.data]).toEqual([1, 1, 1]);
    // a threshold of 0 is skipped, as MONAI's truth test of it
    expect([...new ForegroundMask({ keys: 'image', threshold: { R: 0, B: 0.5 } }).apply({ image }).image.data]).toEqual([0, 0, 1]);
  });

  it("the default 'otsu' per channel of a grey [X, Y, Z] volume; 'mean' and a function", () => {
    const grey = vol([0, 0, 0, 10, 10, 10]);
    expect([...new ForegroundMask({ keys: 'image' }).apply({ image: grey }).image.data]).toEqual([1, 1, 1, 0, 0, 0]);
    expect([...new ForegroundMask({ keys: 'image', threshold: 'mean' }).apply({ image: vol([1, 2, 3, 4]) }).image.data]).toEqual([1, 1, 0, 0]);
    expect([...new ForegroundMask({ keys: 'image', threshold: (v) => v[0]! }).apply({ image: vol([2, 1, 3]) }).image.data]).toEqual([1, 1, 0]);
  });

  it("HSV thresholds: foreground where H, S or V is above its threshold (skimage's rgb2hsv), and-ed with the RGB mask", () => {
    // pure red (h 0, s 1, v 1), grey (s 0), dark blue (h 2/3, s 1, v 0.2)
    const image: MultiChannelVolume = { data: Float32Array.of(1, 0.5, 0, 0, 0.5, 0, 0, 0.5, 0.2), shape: [3, 3, 1, 1] };
    expect([...new ForegroundMask({ keys: 'image', threshold: null, hsvThreshold: { S: 0.5 } }).apply({ image }).image.data]).toEqual([1, 0, 1]);
    expect([...new ForegroundMask({ keys: 'image', threshold: null, hsvThreshold: { H: 0.5 } }).apply({ image }).image.data]).toEqual([0, 0, 1]);
    // RGB (R ≤ 0.6: grey and blue) and HSV (S > 0.5: red and blue): blue alone
    expect([...new ForegroundMask({ keys: 'image', threshold: { R: 0.6 }, hsvThreshold: { S: 0.5 } }).apply({ image }).image.data]).toEqual([0, 0, 1]);
  });

  it('errors', () => {
    expect(() => new ForegroundMask({ keys: 'image', threshold: null })).toThrow(/ForegroundMask: set a threshold for at least one of R, G, B, H, S or V/);
    expect(() => new ForegroundMask({ keys: 'image', threshold: 'li' as 'otsu' })).toThrow(/ForegroundMask: a threshold is a finite number, 'otsu', 'mean' or a function/);
    expect(() => new ForegroundMask({ keys: 'image', threshold: { X: 1 } as unknown as { R: number } })).toThrow(/ForegroundMask: threshold channels are R, G, B, H, S and V, got 'X'/);
    expect(() => new ForegroundMask({ keys: 'image', hsvThreshold: 0.5 }).apply({ image: vol([1, 2]) })).toThrow(/ForegroundMask: HSV thresholds need an RGB image of 3 channels; key 'image' has 1/);
  });
});
