import { describe, expect, it } from 'vitest';
import { fftn, fftshift } from '../../src/imaging/fft.js';
import { Rng } from '../../src/imaging/random.js';
import {
  GibbsNoise, KSpaceSpikeNoise, RandGibbsNoise, RandKSpaceSpikeNoise, RandRicianNoise,
} from '../../src/imaging/transforms-intensity-extra.js';
import type { MultiChannelVolume, Shape3, Volume } from '../../src/imaging/volume.js';
import { GateRng } from '../helpers/gate-rng.js';

/** MONAI's k-space artefacts (Gibbs ringing, spikes) and Rician noise: formulas against naive sums, draws, errors. */

function randomVolume(shape: Shape3, seed: number): Volume {
  const r = new Rng(seed), n = shape[0] * shape[1] * shape[2];
  return { data: Float32Array.from({ length: n }, () => r.uniform(0, 10)), shape };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * The image of a real volume whose spectrum is kept on a set of frequencies only, as naive sums: Re Σ_{f ∈ kept} X_f
 * e^(2πi f·n/s) / N with X_f = Σ_m x_m e^(−2πi f·m/s). `kept(j)` takes the centred (fftshifted) index j of each axis,
 * whose frequency is j − ⌊s/2⌋.
 */
function naiveLowPass(v: Volume, kept: (j: Shape3) => boolean): Float64Array {
  const [X, Y, Z] = v.shape, N = X * Y * Z, out = new Float64Array(N);
  const freqs: { f: Shape3; re: number; im: number }[] = [];
  for (let jx = 0; jx < X; jx++) for (let jy = 0; jy < Y; jy++) for (let jz = 0; jz < Z; jz++) {
    if (!kept([jx, jy, jz])) continue;
    const f: Shape3 = [jx - Math.floor(X / 2), jy - Math.floor(Y / 2), jz - Math.floor(Z / 2)];
    let re = 0, im = 0;
    for (let m = 0; m < N; m++) {
      const mx = Math.floor(m / (Y * Z)), my = Math.floor(m / Z) % Y, mz = m % Z;
      const a = -2 * Math.PI * (f[0] * mx / X + f[1] * my / Y + f[2] * mz / Z);
      re += v.data[m]! * Math.cos(a); im += v.data[m]! * Math.sin(a);
    }
    freqs.push({ f, re, im });
  }
  for (let n = 0; n < N; n++) {
    const nx = Math.floor(n / (Y * Z)), ny = Math.floor(n / Z) % Y, nz = n % Z;
    let s = 0;
    for (const { f, re, im } of freqs) {
      const a = 2 * Math.PI * (f[0] * nx / X + f[1] * ny / Y + f[2] * nz / Z);
      s += re * Math.cos(a) - im * Math.sin(a);
    }
    out[n] = s / N;
  }
  return out;
}

describe('GibbsNoise', () => {
  it('keeps the centred spectrum within (1 − α)·max(shape)·√2/2 of (shape − 1)/2: against the naive low-pass sum', () => {
    for (const [shape, alpha] of [[[4, 3, 2], 0.5], [[5, 4, 3], 0.7], [[6, 1, 1], 0.6], [[3, 3, 3], 0.4]] as [Shape3, number][]) {
      const v = randomVolume(shape, 3);
      const r = (1 - alpha) * Math.max(...shape) * Math.SQRT1_2, c = shape.map((s) => (s - 1) / 2);
      const expected = naiveLowPass(v, (j) => Math.hypot(j[0] - c[0]!, j[1] - c[1]!, j[2] - c[2]!) <= r);
      const out = new GibbsNoise({ keys: 'image', alpha }).apply({ image: v }).image;
      expect(out.shape).toEqual(shape);
      expect(maxAbsDiff(out.data, expected), `${shape} α=${alpha}`).toBeLessThan(1e-5);
    }
  });

  it("MONAI's tests: α = 1 zeroes an even-shaped image; α = 0 is the identity where the ball holds all of k-space", () => {
    const even = randomVolume([8, 6, 4], 1);
    expect([...new GibbsNoise({ keys: 'image', alpha: 1 }).apply({ image: even }).image.data].every((x) => Math.abs(x) < 1e-12)).toBe(true);
    // [8, 1, 1]: the farthest index is 3.5 from the centre, the radius 8·√2/2 ≈ 5.7
    const line = randomVolume([8, 1, 1], 2);
    expect(maxAbsDiff(new GibbsNoise({ keys: 'image', alpha: 0 }).apply({ image: line }).image.data, line.data)).toBeLessThan(1e-5);
    // an odd shape keeps the zero frequency at α = 1 (its centre is an index): the mean everywhere
    const odd = randomVolume([3, 5, 3], 4), mean = odd.data.reduce((s, x) => s + x, 0) / odd.data.length;
    expect(maxAbsDiff(new GibbsNoise({ keys: 'image', alpha: 1 }).apply({ image: odd }).image.data, new Array(45).fill(mean))).toBeLessThan(1e-5);
  });

  it('filters each channel of a [C, X, Y, Z] image on its own; the default α is 0.5 (MONAI\'s GibbsNoised)', () => {
    const a = randomVolume([4, 4, 2], 5), b = randomVolume([4, 4, 2], 6);
    const image: MultiChannelVolume = { data: Float32Array.from([...a.data, ...b.data]), shape: [2, 4, 4, 2] };
    const out = new GibbsNoise({ keys: 'image' }).apply({ image }).image;
    expect(out.shape).toEqual([2, 4, 4, 2]);
    const one = (v: Volume) => [...new GibbsNoise({ keys: 'image', alpha: 0.5 }).apply({ image: v }).image.data];
    expect([...out.data]).toEqual([...one(a), ...one(b)]);
    expect(maxAbsDiff(out.data, image.data)).toBeGreaterThan(0.1);
  });

  it('errors name the bad option or key', () => {
    expect(() => new GibbsNoise({ keys: 'image', alpha: 1.5 })).toThrow(/GibbsNoise: alpha must be in \[0, 1\], got 1.5/);
    expect(() => new GibbsNoise({ keys: 'image' }).apply({ label: randomVolume([2, 2, 2], 0) })).toThrow(/GibbsNoise: key 'image' is missing/);
    expect(() => new GibbsNoise({ keys: 'label' }).apply({ label: { data: new Uint8Array(8), shape: [2, 2, 2] } })).toThrow(/GibbsNoise: key 'label' holds a Uint8Array/);
  });
});

describe('RandGibbsNoise', () => {
  const sample = { image: randomVolume([4, 3, 2], 7), other: randomVolume([4, 3, 2], 8), meta: 'kept' };

  it('u ≥ prob leaves the sample as it is; else α ~ U[a, b] drawn once for every key', () => {
    const t = new RandGibbsNoise({ keys: ['image', 'other'], prob: 0.5, alpha: [0.2, 0.6] });
    expect(t.apply(sample, new GateRng(0.5))).toBe(sample);
    const out = t.apply(sample, new GateRng(0.49, 11));
    const r = new Rng(11), alpha = 0.2 + 0.4 * r.random();
    const expected = new GibbsNoise({ keys: ['image', 'other'], alpha }).apply(sample);
    expect(out).toEqual(expected);
    expect(out.meta).toBe('kept');
  });

  it('a one-number alpha a draws from [0, a]; the default range is [0, 1] and the default prob 0.1', () => {
    const out = new RandGibbsNoise({ keys: 'image', alpha: 0.3 }).apply(sample, new GateRng(0.09, 2));
    expect(out).toEqual(new GibbsNoise({ keys: 'image', alpha: 0.3 * new Rng(2).random() }).apply(sample));
    expect(new RandGibbsNoise({ keys: 'image' }).apply(sample, new GateRng(0.1))).toBe(sample);
    const dflt = new RandGibbsNoise({ keys: 'image' }).apply(sample, new GateRng(0, 3));
    expect(dflt).toEqual(new GibbsNoise({ keys: 'image', alpha: new Rng(3).random() }).apply(sample));
  });

  it('errors', () => {
    expect(() => new RandGibbsNoise({ keys: 'image', alpha: [0.5, 0.2] })).toThrow(/RandGibbsNoise: alpha \[a, b\] needs a ≤ b/);
    expect(() => new RandGibbsNoise({ keys: 'image', alpha: [0, 2] })).toThrow(/RandGibbsNoise: alpha must be in \[0, 1\], got 2/);
    expect(() => new RandGibbsNoise({ keys: 'image', prob: 2 })).toThrow(/RandGibbsNoise: prob must be in \[0, 1\]/);
    expect(() => new RandGibbsNoise({ keys: 'image' }).apply(sample)).toThrow(/RandGibbsNoise: a random transform needs an Rng/);
  });
});

/** log|·| of the centred spectrum of a volume's values (numpy's log(abs(fftshift(fftn(x))))). */
function logMagnitude(values: ArrayLike<number>, shape: Shape3): Float64Array {
  const k = fftshift(fftn({ re: Float64Array.from(values), im: new Float64Array(values.length) }, shape), shape);
  return k.re.map((re, i) => Math.log(Math.hypot(re, k.im[i]!)));
}

const meanLog = (values: ArrayLike<number>, shape: Shape3): number => {
  const k = fftshift(fftn({ re: Float64Array.from(values), im: new Float64Array(values.length) }, shape), shape);
  return k.re.reduce((s, re, i) => s + Math.log(Math.hypot(re, k.im[i]!) + 1e-10), 0) / values.length;
};

describe('KSpaceSpikeNoise', () => {
  const shape: Shape3 = [8, 6, 4];
  // MONAI's test: a place of its own mirror frequency (x at the centre, y and z at Nyquist), so the real part keeps the spike whole
  const loc = [4, 0, 0] as const, flat = (4 * 6 + 0) * 4 + 0;

  it("MONAI's test: the output's centred log-magnitude at loc is kIntensity", () => {
    const v = randomVolume(shape, 9);
    const out = new KSpaceSpikeNoise({ keys: 'image', loc, kIntensity: 10 }).apply({ image: v }).image;
    expect(Math.abs(logMagnitude(out.data, shape)[flat]! - 10) / 10).toBeLessThan(1e-4);
    // elsewhere the spectrum stays (up to MONAI's 1e-10 and float32): the image moves by the spike's wave only
    const spike = Math.exp(10) / (8 * 6 * 4);
    expect(maxAbsDiff(out.data, v.data)).toBeGreaterThan(spike * 0.5);
  });

  it("the default intensity is 2.5 × the channel's mean log-magnitude (of |k| + 1e-10)", () => {
    const v = randomVolume(shape, 10);
    const out = new KSpaceSpikeNoise({ keys: 'image', loc }).apply({ image: v }).image;
    const expected = 2.5 * meanLog(v.data, shape);
    expect(Math.abs(logMagnitude(out.data, shape)[flat]! - expected) / expected).toBeLessThan(1e-4);
  });

  it('[c, x, y, z] spikes channel c only; [x, y, z] every channel; a list of places takes one intensity each', () => {
    const a = randomVolume(shape, 11), b = randomVolume(shape, 12), n = a.data.length;
    const image: MultiChannelVolume = { data: Float32Array.from([...a.data, ...b.data]), shape: [2, ...shape] };
    const one = new KSpaceSpikeNoise({ keys: 'image', loc: [1, ...loc], kIntensity: 9 }).apply({ image }).image;
    expect(maxAbsDiff(one.data.subarray(0, n), a.data)).toBeLessThan(1e-4);
    expect(Math.abs(logMagnitude(one.data.subarray(n), shape)[flat]! - 9)).toBeLessThan(1e-3);
    const both = new KSpaceSpikeNoise({ keys: 'image', loc, kIntensity: 9 }).apply({ image }).image;
    expect(Math.abs(logMagnitude(both.data.subarray(0, n), shape)[flat]! - 9)).toBeLessThan(1e-3);
    expect(Math.abs(logMagnitude(both.data.subarray(n), shape)[flat]! - 9)).toBeLessThan(1e-3);
    const list = new KSpaceSpikeNoise({ keys: 'image', loc: [[0, ...loc], [1, ...loc]], kIntensity: [8, 11] }).apply({ image }).image;
    expect(Math.abs(logMagnitude(list.data.subarray(0, n), shape)[flat]! - 8)).toBeLessThan(1e-3);
    expect(Math.abs(logMagnitude(list.data.subarray(n), shape)[flat]! - 11)).toBeLessThan(1e-3);
  });

  it('errors: bounds, places against intensities, malformed places', () => {
    const image = randomVolume([4, 4, 4], 0);
    expect(() => new KSpaceSpikeNoise({ keys: 'image', loc: [4, 0, 0] }).apply({ image })).toThrow(/KSpaceSpikeNoise: loc \[4,0,0\] is out of bounds for key 'image' of 1 channel\(s\) and spatial shape \[4, 4, 4\] \(index 0\)/);
    expect(() => new KSpaceSpikeNoise({ keys: 'image', loc: [1, 0, 0, 0] }).apply({ image })).toThrow(/out of bounds .* \(index 0\)/);
    expect(() => new KSpaceSpikeNoise({ keys: 'image', loc: [0, 0, 0], kIntensity: [1, 2] })).toThrow(/KSpaceSpikeNoise: a list of kIntensity values needs a list of locations/);
    expect(() => new KSpaceSpikeNoise({ keys: 'image', loc: [[0, 0, 0], [1, 1, 1]], kIntensity: [1] })).toThrow(/KSpaceSpikeNoise: 1 kIntensity values for 2 locations/);
    expect(() => new KSpaceSpikeNoise({ keys: 'image', loc: [[0, 0, 0], [1, 1, 1]], kIntensity: 3 })).toThrow(/needs a list of 2 kIntensity values, got one number/);
    expect(() => new KSpaceSpikeNoise({ keys: 'image', loc: [0, 0] as unknown as [number, number, number] })).toThrow(/KSpaceSpikeNoise: loc must be \[x, y, z\] or \[c, x, y, z\]/);
    expect(() => new KSpaceSpikeNoise({ keys: 'image', loc: [0, -1, 0] })).toThrow(/loc must be/);
  });
});

describe('RandKSpaceSpikeNoise', () => {
  const shape: Shape3 = [4, 3, 5];
  const a = randomVolume(shape, 13), b = randomVolume(shape, 14);
  const image: MultiChannelVolume = { data: Float32Array.from([...a.data, ...b.data]), shape: [2, ...shape] };

  it('channelWise (the default): each channel draws its place (x, y, z) then its intensity from the range', () => {
    const out = new RandKSpaceSpikeNoise({ keys: 'image', prob: 1, intensityRange: [10, 12] }).apply({ image }, new GateRng(0, 21));
    const r = new Rng(21), locs: number[][] = [], values: number[] = [];
    for (let c = 0; c < 2; c++) { locs.push([c, r.int(4), r.int(3), r.int(5)]); values.push(r.uniform(10, 12)); }
    const expected = new KSpaceSpikeNoise({ keys: 'image', loc: locs as [number, number, number, number][], kIntensity: values }).apply({ image });
    expect(out.image.data).toEqual(expected.image.data);
  });

  it('without channelWise: one place, then one intensity per channel; default ranges [0.95, 1.1] × 2.5 × the mean log-magnitude', () => {
    const out = new RandKSpaceSpikeNoise({ keys: 'image', prob: 1, channelWise: false }).apply({ image }, new GateRng(0, 22));
    const r = new Rng(22), place = [r.int(4), r.int(3), r.int(5)];
    const values = [a, b].map((v) => { const x = 2.5 * meanLog(v.data, shape); return r.uniform(0.95 * x, 1.1 * x); });
    const expected = new KSpaceSpikeNoise({ keys: 'image', loc: [[0, ...place], [1, ...place]] as [number, number, number, number][], kIntensity: values }).apply({ image });
    expect(out.image.data).toEqual(expected.image.data);
  });

  it('per-channel ranges; each key draws its own; u ≥ prob returns the sample', () => {
    const sample = { image, other: image };
    const out = new RandKSpaceSpikeNoise({ keys: ['image', 'other'], prob: 0.5, intensityRange: [[5, 6], [20, 21]] }).apply(sample, new GateRng(0.2, 23));
    const r = new Rng(23), draw = () => [0, 1].map((c) => ({ loc: [c, r.int(4), r.int(3), r.int(5)], v: r.uniform(c === 0 ? 5 : 20, c === 0 ? 6 : 21) }));
    for (const key of ['image', 'other'] as const) {
      const d = draw();
      const expected = new KSpaceSpikeNoise({ keys: 'image', loc: d.map((s) => s.loc) as [number, number, number, number][], kIntensity: d.map((s) => s.v) }).apply({ image });
      expect(out[key].data).toEqual(expected.image.data);
    }
    expect(new RandKSpaceSpikeNoise({ keys: 'image', prob: 0.5 }).apply(sample, new GateRng(0.5))).toBe(sample);
  });

  it('errors', () => {
    expect(() => new RandKSpaceSpikeNoise({ keys: 'image', channelWise: false, intensityRange: [[1, 2], [3, 4]] })).toThrow(/RandKSpaceSpikeNoise: with channelWise false, intensityRange must be one \[a, b\]/);
    expect(() => new RandKSpaceSpikeNoise({ keys: 'image', intensityRange: [[1, 2], [3, 4], [5, 6]] }).apply({ image }, new Rng(0))).toThrow(/RandKSpaceSpikeNoise: key 'image' has 2 channel\(s\), intensityRange has 3 ranges/);
    expect(() => new RandKSpaceSpikeNoise({ keys: 'image', intensityRange: [1] as unknown as [number, number] })).toThrow(/intensityRange must be \[a, b\] or one \[a, b\] per channel/);
  });
});

describe('RandRicianNoise', () => {
  it('√((x + n1)² + n2²): σ ~ U[0, std), then n1 then n2 (float32) in C order, each key its own', () => {
    const image = randomVolume([3, 2, 2], 15), other = randomVolume([3, 2, 2], 16);
    const out = new RandRicianNoise({ keys: ['image', 'other'], prob: 1, mean: 0.5, std: 2 }).apply({ image, other }, new GateRng(0, 31));
    const r = new Rng(31);
    for (const [key, v] of [['image', image], ['other', other]] as const) {
      const sigma = r.uniform(0, 2);
      const n1 = Float32Array.from({ length: 12 }, () => 0.5 + sigma * r.normal()), n2 = Float32Array.from({ length: 12 }, () => 0.5 + sigma * r.normal());
      expect([...out[key].data]).toEqual([...v.data].map((x, i) => Math.fround(Math.hypot(x + n1[i]!, n2[i]!))));
    }
  });

  it('channelWise with per-channel mean and std, relative to each channel\'s Bessel std, without sampling σ', () => {
    const a = randomVolume([2, 2, 2], 17), b = randomVolume([2, 2, 2], 18);
    const image: MultiChannelVolume = { data: Float32Array.from([...a.data, ...b.data]), shape: [2, 2, 2, 2] };
    const out = new RandRicianNoise({ keys: 'image', prob: 1, mean: [1, -1], std: [0.5, 3], channelWise: true, relative: true, sampleStd: false }).apply({ image }, new GateRng(0, 32));
    const r = new Rng(32), expected: number[] = [];
    const bessel = (d: Float32Array) => { const m = d.reduce((s, x) => s + x, 0) / d.length; return Math.sqrt(d.reduce((s, x) => s + (x - m) ** 2, 0) / (d.length - 1)); };
    [[a, 1, 0.5], [b, -1, 3]].forEach(([v, mean, std]) => {
      const vol = v as Volume, sigma = (std as number) * bessel(vol.data);
      const n1 = Float32Array.from({ length: 8 }, () => (mean as number) + sigma * r.normal()), n2 = Float32Array.from({ length: 8 }, () => (mean as number) + sigma * r.normal());
      expected.push(...[...vol.data].map((x, i) => Math.fround(Math.hypot(x + n1[i]!, n2[i]!))));
    });
    expect([...out.image.data]).toEqual(expected);
  });

  it('on a zero image with fixed σ the values are Rayleigh: mean σ√(π/2) within 4 standard errors', () => {
    const n = 4096, sigma = 2, image: Volume = { data: new Float32Array(n), shape: [16, 16, 16] };
    const out = new RandRicianNoise({ keys: 'image', prob: 1, std: sigma, sampleStd: false }).apply({ image }, new Rng(5)).image.data;
    const mean = out.reduce((s, x) => s + x, 0) / n;
    // the Rayleigh variance is (2 − π/2)σ²
    expect(Math.abs(mean - sigma * Math.sqrt(Math.PI / 2))).toBeLessThan(4 * Math.sqrt((2 - Math.PI / 2) * sigma * sigma / n));
    expect(out.every((x) => x >= 0)).toBe(true);
  });

  it('u ≥ prob returns the sample; errors', () => {
    const sample = { image: randomVolume([2, 2, 2], 0) };
    expect(new RandRicianNoise({ keys: 'image' }).apply(sample, new GateRng(0.1))).toBe(sample);
    expect(() => new RandRicianNoise({ keys: 'image', std: [1, 2] })).toThrow(/RandRicianNoise: std must be one number unless channelWise/);
    expect(() => new RandRicianNoise({ keys: 'image', std: -1 })).toThrow(/RandRicianNoise: std must be ≥ 0/);
    expect(() => new RandRicianNoise({ keys: 'image', mean: [0, 0, 0], channelWise: true, prob: 1 }).apply(sample, new Rng(0))).toThrow(/RandRicianNoise: key 'image' has 1 channel\(s\), mean has 3 values/);
  });
});
