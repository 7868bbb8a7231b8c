import { describe, expect, it } from 'vitest';
import {
  GaussianSharpen, GaussianSmooth, RandGaussianSharpen, RandGaussianSmooth, gaussianFilter, gaussianKernel1d,
} from '../../src/imaging/transforms-intensity.js';
import { erf } from '../../src/kernels/elementwise/cpu.js';
import { Rng } from '../../src/imaging/random.js';
import type { MultiChannelVolume, Shape3, Volume } from '../../src/imaging/volume.js';

/** MONAI's Gaussian filtering transforms: its test values, the kernels' closed forms, separability, the draws, errors. */

/** Relative closeness to a float32 reference printed to ~8 digits. */
function expectNear(actual: ArrayLike<number>, expected: readonly number[], rtol: number): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(Math.abs(actual[i]! - e), `index ${i}: ${actual[i]} vs ${e}`).toBeLessThanOrEqual(rtol * Math.max(1, Math.abs(e))));
}

// MONAI's tests/transforms/test_gaussian_smooth.py and test_gaussian_sharpen.py: a 2-channel 3 × 3 image
const monaiImage = [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6];
const MONAI_SMOOTH: [number | [number, number], number[]][] = [
  [1.5, [0.59167546, 0.69312394, 0.59167546, 0.7956997, 0.93213004, 0.7956997, 0.7668002, 0.8982755, 0.7668002,
    1.6105323, 1.8866735, 1.6105323, 1.9892492, 2.3303251, 1.9892492, 1.7856569, 2.091825, 1.7856569]],
  [0.5, [0.8424794, 0.99864554, 0.8424794, 1.678146, 1.9892154, 1.678146, 1.9889624, 2.3576462, 1.9889624,
    2.966061, 3.5158648, 2.966061, 4.1953645, 4.973038, 4.1953645, 4.112544, 4.8748655, 4.1125436]],
  [[1.5, 0.5], [0.8542037, 1.0125432, 0.8542037, 1.1487541, 1.3616928, 1.1487541, 1.1070318, 1.3122368, 1.1070318,
    2.3251305, 2.756128, 2.3251305, 2.8718853, 3.4042323, 2.8718853, 2.5779586, 3.0558217, 2.5779586]],
];

/** MONAI's 2-D image as ours: channel-first [2, 3, 3, 1], the third axis of size 1 left alone by σ = 0 there. */
const asVolume = (values: number[]): MultiChannelVolume => ({ data: Float32Array.from(values), shape: [2, 3, 3, 1] });
const sigma3 = (s: number | [number, number]): [number, number, number] => (typeof s === 'number' ? [s, s, 0] : [s[0], s[1], 0]);

describe('gaussianKernel1d', () => {
  it("'erf': 2·tail + 1 symmetric taps, tail = ⌊max(4σ, ½) + ½⌋, summing to erf((tail + ½)/(σ√2)) (the integrals telescope)", () => {
    for (const [sigma, tail] of [[0.1, 1], [0.25, 1], [0.5, 2], [1, 4], [1.5, 6], [1.6, 6], [1.63, 7], [3, 12]] as const) {
      const k = gaussianKernel1d(sigma);
      expect(k.length, `σ = ${sigma}`).toBe(2 * tail + 1);
      for (let i = 0; i < tail; i++) expect(k[i]).toBe(k[k.length - 1 - i]);
      expect(Math.abs(k.reduce((a, b) => a + b, 0) - erf((tail + 0.5) / (sigma * Math.SQRT2)))).toBeLessThan(1e-14);
      // each tap the Gaussian's mass over its unit interval
      const x = 1;
      expect(k[tail + x]).toBeCloseTo(0.5 * (erf((x + 0.5) / (sigma * Math.SQRT2)) - erf((x - 0.5) / (sigma * Math.SQRT2))), 15);
    }
    // σ = 0: the identity [0, 1, 0]
    expect([...gaussianKernel1d(0)]).toEqual([0, 1, 0]);
  });

  it("'sampled' is the density at the taps; 'scalespace' is e^(−σ²)·I_n(σ²) (tabulated I_n(1) for σ = 1) and sums to about 1", () => {
    const s = gaussianKernel1d(2, 'sampled');
    expect(s.length).toBe(17);
    s.forEach((v, i) => expect(v).toBeCloseTo(Math.exp(-((i - 8) ** 2) / 8) / (2 * Math.sqrt(2 * Math.PI)), 15));
    const k = gaussianKernel1d(1, 'scalespace');
    // I_0(1) … I_4(1) (Abramowitz & Stegun, table 9.8; mpmath agrees)
    const besselI1 = [1.2660658777520084, 0.565159103992485, 0.1357476697670383, 0.022168424924331905, 0.0027371202210468666];
    expect(k.length).toBe(9);
    besselI1.forEach((v, n) => {
      expect(k[4 + n]! / (v * Math.exp(-1))).toBeCloseTo(1, 13);
      expect(k[4 - n]).toBe(k[4 + n]);
    });
    // Σ_n e^(−t) I_n(t) = 1 over all n; the taps beyond 4σ hold little of it; large σ does not overflow
    const big = gaussianKernel1d(40, 'scalespace');
    expect(Math.abs(big.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-4);
    // e^(−t) I_0(t) ≈ (1 + 1/(8t) + 9/(2·(8t)²)) / √(2πt) for large t (A&S 9.7.1)
    expect(big[160]! / ((1 + 1 / 12800 + 9 / (2 * 12800 ** 2)) / Math.sqrt(2 * Math.PI * 1600))).toBeCloseTo(1, 9);
  });

  it('refuses a bad sigma, approx or truncation', () => {
    expect(() => gaussianKernel1d(-1)).toThrow(/sigma must be a finite number ≥ 0, got -1/);
    expect(() => gaussianKernel1d(0, 'sampled')).toThrow(/> 0 for the 'sampled' kernel/);
    expect(() => gaussianKernel1d(1, 'box' as 'erf')).toThrow(/approx must be 'erf', 'sampled' or 'scalespace', got "box"/);
    expect(() => gaussianKernel1d(1, 'erf', 0)).toThrow(/truncated must be a positive number, got 0/);
  });
});

describe('gaussianFilter', () => {
  it("matches MONAI's GaussianFilter on its 2-D test images", () => {
    for (const [sigma, want] of MONAI_SMOOTH) {
      const got = [0, 9].flatMap((c) => [...gaussianFilter(monaiImage.slice(c, c + 9), [3, 3], sigma)]);
      expectNear(got, want, 2e-6);
    }
  });

  it('of a single voxel is the outer product of the three kernels, cut at the edges (zero padding)', () => {
    const shape: Shape3 = [5, 4, 6], at = [1, 3, 2], sigma: Shape3 = [0.6, 1.1, 0.3];
    const delta = new Float32Array(5 * 4 * 6);
    delta[(at[0]! * 4 + at[1]!) * 6 + at[2]!] = 1;
    const out = gaussianFilter(delta, shape, sigma);
    const ks = sigma.map((s) => gaussianKernel1d(s));
    const tap = (a: number, p: number) => ks[a]![p - at[a]! + (ks[a]!.length - 1) / 2] ?? 0;
    for (let x = 0; x < 5; x++) for (let y = 0; y < 4; y++) for (let z = 0; z < 6; z++) {
      expect(out[(x * 4 + y) * 6 + z]).toBeCloseTo(tap(0, x) * tap(1, y) * tap(2, z), 15);
    }
  });

  it('refuses a shape that does not match, or a sigma per axis of another count', () => {
    expect(() => gaussianFilter([1, 2, 3], [2, 2], 1)).toThrow(/shape \[2, 2\] does not match 3 values/);
    expect(() => gaussianFilter([1, 2, 3, 4], [2, 2], [1, 1, 1])).toThrow(/3 sigmas for 2 spatial axes/);
  });
});

describe('GaussianSmooth', () => {
  it("matches MONAI's test values, channel by channel, leaving the input and other keys alone", () => {
    for (const [sigma, want] of MONAI_SMOOTH) {
      const image = asVolume(monaiImage), label = { data: new Uint8Array(9), shape: [3, 3, 1] as Shape3 };
      const out = new GaussianSmooth({ keys: 'image', sigma: sigma3(sigma) }).apply({ image, label });
      expect(out.image.shape).toEqual([2, 3, 3, 1]);
      expect(out.image.data).toBeInstanceOf(Float32Array);
      expectNear(out.image.data, want, 2e-6);
      expect([...image.data]).toEqual(monaiImage);
      expect(out.label).toBe(label);
    }
  });

  it('defaults to σ = 1 with the erf kernel; a volume [X, Y, Z] is one channel; approx is passed on', () => {
    const data = Float32Array.from({ length: 60 }, (_, i) => Math.sin(i));
    const image: Volume = { data, shape: [3, 4, 5] };
    const out = new GaussianSmooth({ keys: 'image' }).apply({ image }).image;
    expect([...out.data]).toEqual([...Float32Array.from(gaussianFilter(data, [3, 4, 5], 1))]);
    const sampled = new GaussianSmooth({ keys: 'image', sigma: 0.7, approx: 'sampled' }).apply({ image }).image;
    expect([...sampled.data]).toEqual([...Float32Array.from(gaussianFilter(data, [3, 4, 5], 0.7, 'sampled'))]);
  });

  it('refuses bad options, naming them', () => {
    expect(() => new GaussianSmooth({ keys: 'image', sigma: [1, 2] as unknown as number })).toThrow(/sigma must be a number ≥ 0 or three \(one per axis x, y, z\), got \[1,2\]/);
    expect(() => new GaussianSmooth({ keys: 'image', sigma: -0.5 })).toThrow(/GaussianSmooth: sigma must be/);
    expect(() => new GaussianSmooth({ keys: 'image', sigma: [1, 0, 1], approx: 'sampled' })).toThrow(/> 0 for the 'sampled' kernel/);
    expect(() => new GaussianSmooth({ keys: 'image', approx: 'gauss' as 'erf' })).toThrow(/GaussianSmooth: approx must be/);
    expect(() => new GaussianSmooth({ keys: 'label' }).apply({ label: { data: new Uint8Array(1), shape: [1, 1, 1] } })).toThrow(/key 'label' holds a Uint8Array/);
  });
});

describe('GaussianSharpen', () => {
  it("matches MONAI's test values (its defaults σ1 3, σ2 1, alpha 30, and σ1 1, σ2 0.75, alpha 20)", () => {
    const cases: [{ sigma1: number; sigma2: number; alpha?: number }, number[]][] = [
      [{ sigma1: 3, sigma2: 1 }, [4.1081963, 3.4950666, 4.1081963, 3.7239995, 2.8491793, 3.7239995, 4.569839, 3.9529324, 4.569839,
        10.616725, 9.081067, 10.616725, 9.309998, 7.12295, 9.309998, 11.078365, 9.538931, 11.078365]],
      [{ sigma1: 1, sigma2: 0.75, alpha: 20 }, [4.513644, 4.869134, 4.513644, 8.467242, 9.4004135, 8.467242, 10.416813, 12.0653515, 10.416813,
        15.711488, 17.569994, 15.711488, 21.16811, 23.501041, 21.16811, 21.614658, 24.766209, 21.614658]],
    ];
    for (const [{ sigma1, sigma2, alpha }, want] of cases) {
      const out = new GaussianSharpen({ keys: 'image', sigma1: sigma3(sigma1), sigma2: sigma3(sigma2), alpha }).apply({ image: asVolume(monaiImage) });
      // MONAI's float32 blurs, amplified by alpha: its printed values carry about alpha float32 ulps
      expectNear(out.image.data, want, 1e-5);
    }
  });

  it('defaults to σ1 3, σ2 1, alpha 30: b + 30·(b − G(1)·b) with b = G(3)·x', () => {
    const data = Float32Array.from({ length: 27 }, (_, i) => (i * 7) % 5);
    const out = new GaussianSharpen({ keys: 'image' }).apply({ image: { data, shape: [3, 3, 3] as Shape3 } }).image.data;
    const b = gaussianFilter(data, [3, 3, 3], 3), bb = gaussianFilter(b, [3, 3, 3], 1);
    expect([...out]).toEqual([...Float32Array.from(b, (v, i) => v + 30 * (v - bb[i]!))]);
  });

  it('refuses bad options', () => {
    expect(() => new GaussianSharpen({ keys: 'image', alpha: NaN })).toThrow(/GaussianSharpen: alpha must be a finite number, got NaN/);
    expect(() => new GaussianSharpen({ keys: 'image', sigma2: [1, 1] as unknown as number })).toThrow(/sigma2 must be a number ≥ 0 or three/);
    expect(() => new GaussianSharpen({ keys: 'image', sigma1: 0, approx: 'sampled' })).toThrow(/sigma1 and sigma2 must be > 0 for the 'sampled' kernel/);
  });
});

const noisy = (shape: Shape3, seed: number): Volume => {
  const r = new Rng(seed);
  return { data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, () => r.uniform(-1, 1)), shape };
};

describe('RandGaussianSmooth', () => {
  it('draws u < prob, then σx, σy, σz from their ranges, one draw for every key', () => {
    const image = noisy([4, 3, 5], 1), other = noisy([4, 3, 5], 2);
    const t = new RandGaussianSmooth({ keys: ['image', 'other'], prob: 1, sigmaX: [0.2, 0.4], sigmaY: [1, 2], sigmaZ: [0.5, 0.6] });
    const rng = new Rng(7), replay = rng.clone();
    const out = t.apply({ image, other }, rng);
    replay.random();
    const sigma: Shape3 = [replay.uniform(0.2, 0.4), replay.uniform(1, 2), replay.uniform(0.5, 0.6)];
    expect(rng.state()).toEqual(replay.state());
    const want = new GaussianSmooth({ keys: ['image', 'other'], sigma }).apply({ image, other });
    expect(out).toEqual(want);
  });

  it('returns the sample unchanged when u ≥ prob (default 0.1), after one draw', () => {
    const sample = { image: noisy([2, 2, 2], 3) };
    const rng = new Rng(4), replay = rng.clone();
    expect(new RandGaussianSmooth({ keys: 'image', prob: 0 }).apply(sample, rng)).toBe(sample);
    replay.random();
    expect(rng.state()).toEqual(replay.state());
    // the default prob: of 200 samples, about 20 change
    const t = new RandGaussianSmooth({ keys: 'image' });
    const r = new Rng(5);
    let changed = 0;
    for (let i = 0; i < 200; i++) if (t.apply(sample, r) !== sample) changed++;
    expect(changed).toBeGreaterThan(8);
    expect(changed).toBeLessThan(35);
  });

  it('refuses bad ranges, prob, a missing rng', () => {
    expect(() => new RandGaussianSmooth({ keys: 'image', sigmaY: [2, 1] })).toThrow(/sigmaY must be \[min, max\], two finite non-negative numbers with min ≤ max, got \[2,1\]/);
    expect(() => new RandGaussianSmooth({ keys: 'image', sigmaX: [-1, 1] })).toThrow(/sigmaX must be \[min, max\]/);
    expect(() => new RandGaussianSmooth({ keys: 'image', prob: 2 })).toThrow(/prob must be in \[0, 1\], got 2/);
    expect(() => new RandGaussianSmooth({ keys: 'image' }).apply({ image: noisy([1, 1, 1], 0) })).toThrow(/RandGaussianSmooth: a random transform needs an Rng/);
  });
});

describe('RandGaussianSharpen', () => {
  it('draws u < prob, σ1 of x, y, z, σ2 of x, y, z (one number s: from [s, σ1]), then alpha; one draw for every key', () => {
    const image = noisy([3, 4, 3], 8);
    const t = new RandGaussianSharpen({ keys: 'image', prob: 1, sigma1X: [1, 1.5], sigma2Y: [0.1, 0.2], sigma2Z: 0.3, alpha: [5, 6] });
    const rng = new Rng(9), replay = rng.clone();
    const out = t.apply({ image }, rng);
    replay.random();
    const sigma1: Shape3 = [replay.uniform(1, 1.5), replay.uniform(0.5, 1), replay.uniform(0.5, 1)];
    const sigma2: Shape3 = [replay.uniform(0.5, sigma1[0]), replay.uniform(0.1, 0.2), replay.uniform(0.3, sigma1[2])];
    const alpha = replay.uniform(5, 6);
    expect(rng.state()).toEqual(replay.state());
    expect(out).toEqual(new GaussianSharpen({ keys: 'image', sigma1, sigma2, alpha }).apply({ image }));
    const sample = { image };
    expect(new RandGaussianSharpen({ keys: 'image', prob: 0 }).apply(sample, new Rng(1))).toBe(sample);
  });

  it('refuses bad options', () => {
    expect(() => new RandGaussianSharpen({ keys: 'image', sigma2X: -1 })).toThrow(/sigma2X must be a number ≥ 0 or \[min, max\], got -1/);
    expect(() => new RandGaussianSharpen({ keys: 'image', sigma1Z: [1, 0.5] })).toThrow(/sigma1Z must be \[min, max\]/);
    expect(() => new RandGaussianSharpen({ keys: 'image', alpha: [30, 10] })).toThrow(/alpha must be \[min, max\]/);
    expect(() => new RandGaussianSharpen({ keys: 'image', approx: 'x' as 'erf' })).toThrow(/RandGaussianSharpen: approx must be/);
  });
});
