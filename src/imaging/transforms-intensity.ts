/**
 * MONAI's intensity transforms (dictionary form) on float volumes [X, Y, Z] and, except RandGaussianNoise, on
 * channel-first images [C, X, Y, Z] (statistics over the whole image, or per channel with `channelWise`). Statistics
 * (mean, std, percentiles) are computed in float64 over the float32 voxels and each result is rounded once to float32;
 * MONAI computes in float32, so values agree within float32 rounding.
 */
import { erf } from '../kernels/elementwise/cpu.js';
import { percentile } from './metrics.js';
import type { Rng } from './random.js';
import { voxelCount, type Shape3 } from './volume.js';
import {
  checkFinite, checkProb, keyList, readChannels, readImage, requireRng, withVolumes, type FloatImage, type SpatialVolume, type Transform,
} from './transforms.js';

/** Maps every voxel of the images under `keys` through `f` (x, its flat index, its channel); the shape stays. */
function mapImages<T extends object>(data: T, keys: readonly string[], name: string, f: (x: number, i: number, channel: number) => number): T {
  const images = keys.map((k) => readImage(data, k, name));
  return withVolumes(data, keys, images.map(({ image, channels }) => {
    const out = new Float32Array(image.data.length);
    const n = channels[0]!.length;
    for (let i = 0; i < out.length; i++) out[i] = f(image.data[i]!, i, Math.floor(i / n));
    return { data: out, shape: [...image.shape] } as FloatImage;
  }));
}

/**
 * Maps the image under each key through a function made from its statistics: of the whole image, or with
 * `channelWise` of each channel on its own (MONAI's `channel_wise`; its channel index `c` picks per-channel options).
 */
function mapByStatistics<T extends object>(data: T, keys: readonly string[], name: string, channelWise: boolean,
  make: (values: Float32Array, c: number, channels: number) => (x: number) => number): T {
  let out = data;
  for (const key of keys) {
    const { image, channels } = readImage(data, key, name);
    const fs = channelWise ? channels.map((values, c) => make(values, c, channels.length)) : [make(image.data, 0, channels.length)];
    out = mapImages(out, [key], name, (x, _, c) => fs[channelWise ? c : 0]!(x));
  }
  return out;
}

/** A per-channel option of a channel-wise transform: one number for every channel or one per channel. */
function optionOfChannel(value: number | readonly number[] | undefined, option: string, c: number, channels: number, name: string): number | undefined {
  if (value === undefined || typeof value === 'number') return value;
  if (value.length !== channels) throw new Error(`${name}: the image has ${channels} channels, but ${option} has ${value.length} values`);
  return value[c];
}

export interface NormalizeIntensityOptions {
  keys: string | readonly string[];
  /** Subtracted instead of the mean; with `channelWise` also one per channel. */
  subtrahend?: number | readonly number[];
  /** Divided by instead of the std (0 is replaced by 1, as MONAI does); with `channelWise` also one per channel. */
  divisor?: number | readonly number[];
  /** Statistics over the nonzero voxels only, and only they are normalized (zeros stay 0). Default false. */
  nonzero?: boolean;
  /** Statistics of each channel of a channel-first [C, X, Y, Z] image on its own (MONAI's `channel_wise`). Default false. */
  channelWise?: boolean;
}

/**
 * MONAI's `NormalizeIntensityd`: (x − mean) / std with the population std (ddof 0); a std of 0 becomes 1. With
 * `nonzero`, an all-zero volume (or channel) is returned unchanged.
 */
export class NormalizeIntensity implements Transform {
  readonly #keys: string[];
  readonly #opts: NormalizeIntensityOptions;

  constructor(opts: NormalizeIntensityOptions) {
    const name = 'NormalizeIntensity';
    this.#keys = keyList(opts.keys, name);
    for (const option of ['subtrahend', 'divisor'] as const) {
      const v = opts[option];
      if (v === undefined) continue;
      if (typeof v !== 'number' && !opts.channelWise) throw new Error(`${name}: ${option} is one number unless channelWise, got ${JSON.stringify(v)}`);
      (typeof v === 'number' ? [v] : v).forEach((x) => checkFinite(x, option, name));
    }
    this.#opts = { ...opts };
  }

  apply<T extends object>(data: T): T {
    const { subtrahend, divisor, nonzero = false, channelWise = false } = this.#opts;
    const name = 'NormalizeIntensity';
    return mapByStatistics(data, this.#keys, name, channelWise, (d, c, channels) => {
      let n = 0, sum = 0;
      for (let i = 0; i < d.length; i++) if (!nonzero || d[i] !== 0) { n++; sum += d[i]!; }
      const mean = sum / n;
      let sq = 0;
      for (let i = 0; i < d.length; i++) if (!nonzero || d[i] !== 0) sq += (d[i]! - mean) * (d[i]! - mean);
      const sub = optionOfChannel(subtrahend, 'subtrahend', c, channels, name) ?? mean;
      const div = (optionOfChannel(divisor, 'divisor', c, channels, name) ?? Math.sqrt(sq / n)) || 1;
      return (x) => (n === 0 || (nonzero && x === 0) ? x : (x - sub) / div);
    });
  }
}

export interface ScaleIntensityRangeOptions {
  keys: string | readonly string[];
  aMin: number;
  aMax: number;
  /** With bMax, the output range; without them the result is (x − aMin) / (aMax − aMin). */
  bMin?: number;
  bMax?: number;
  /** Clip the result to [bMin, bMax]. Default false. */
  clip?: boolean;
}

/** (x − aMin) / (aMax − aMin) · (bMax − bMin) + bMin, then optional clipping: the shared formula of both scalers. */
function scaleRange(aMin: number, aMax: number, bMin: number | undefined, bMax: number | undefined, clipMin: number | undefined, clipMax: number | undefined): (x: number) => number {
  return (x) => {
    let y: number;
    if (aMax - aMin === 0) y = bMin === undefined ? x - aMin : x - aMin + bMin; // MONAI: warn, shift only
    else {
      y = (x - aMin) / (aMax - aMin);
      if (bMin !== undefined && bMax !== undefined) y = y * (bMax - bMin) + bMin;
    }
    if (clipMin !== undefined && y < clipMin) y = clipMin;
    if (clipMax !== undefined && y > clipMax) y = clipMax;
    return y;
  };
}

function checkRangeOptions(opts: { bMin?: number; bMax?: number; clip?: boolean }, name: string): void {
  if (opts.bMin !== undefined) checkFinite(opts.bMin, 'bMin', name);
  if (opts.bMax !== undefined) checkFinite(opts.bMax, 'bMax', name);
  if ((opts.bMin === undefined) !== (opts.bMax === undefined)) throw new Error(`${name}: give both bMin and bMax or neither`);
}

/** MONAI's `ScaleIntensityRanged`: maps [aMin, aMax] linearly onto [bMin, bMax], optionally clipping to it. */
export class ScaleIntensityRange implements Transform {
  readonly #keys: string[];
  readonly #f: (x: number) => number;

  constructor(opts: ScaleIntensityRangeOptions) {
    const name = 'ScaleIntensityRange';
    this.#keys = keyList(opts.keys, name);
    checkFinite(opts.aMin, 'aMin', name);
    checkFinite(opts.aMax, 'aMax', name);
    checkRangeOptions(opts, name);
    const clip = opts.clip ?? false;
    this.#f = scaleRange(opts.aMin, opts.aMax, opts.bMin, opts.bMax, clip ? opts.bMin : undefined, clip ? opts.bMax : undefined);
  }

  apply<T extends object>(data: T): T {
    return mapImages(data, this.#keys, 'ScaleIntensityRange', this.#f);
  }
}

export interface ScaleIntensityRangePercentilesOptions {
  keys: string | readonly string[];
  /** Percentiles (0–100) of the volume that map to bMin and bMax (numpy's 'linear' percentile). */
  lower: number;
  upper: number;
  bMin?: number;
  bMax?: number;
  /** Clip the result to the target range (with `relative`, the relative one, as current MONAI). Default false. */
  clip?: boolean;
  /** Map to bMin + (bMax − bMin)·lower/100 … bMin + (bMax − bMin)·upper/100 instead (MONAI's `relative`). Default false. */
  relative?: boolean;
  /** Percentiles of each channel of a channel-first [C, X, Y, Z] image on its own (MONAI's `channel_wise`). Default false. */
  channelWise?: boolean;
}

/** MONAI's `ScaleIntensityRangePercentilesd`: ScaleIntensityRange with aMin, aMax the volume's percentiles. */
export class ScaleIntensityRangePercentiles implements Transform {
  readonly #keys: string[];
  readonly #opts: ScaleIntensityRangePercentilesOptions;

  constructor(opts: ScaleIntensityRangePercentilesOptions) {
    const name = 'ScaleIntensityRangePercentiles';
    this.#keys = keyList(opts.keys, name);
    if (!(opts.lower >= 0 && opts.lower <= 100)) throw new Error(`${name}: lower must be a percentile in [0, 100], got ${opts.lower}`);
    if (!(opts.upper >= 0 && opts.upper <= 100)) throw new Error(`${name}: upper must be a percentile in [0, 100], got ${opts.upper}`);
    if (opts.upper < opts.lower) throw new Error(`${name}: upper (${opts.upper}) must not be below lower (${opts.lower})`);
    checkRangeOptions(opts, name);
    if (opts.relative && opts.bMin === undefined) throw new Error(`${name}: relative needs bMin and bMax`);
    this.#opts = { ...opts };
  }

  apply<T extends object>(data: T): T {
    const { lower, upper, bMin: b0, bMax: b1, clip = false, relative = false, channelWise = false } = this.#opts;
    const bMin = relative ? (b1! - b0!) * (lower / 100) + b0! : b0;
    const bMax = relative ? (b1! - b0!) * (upper / 100) + b0! : b1;
    return mapByStatistics(data, this.#keys, 'ScaleIntensityRangePercentiles', channelWise, (d) =>
      scaleRange(percentile(d, lower), percentile(d, upper), bMin, bMax, clip ? bMin : undefined, clip ? bMax : undefined));
  }
}

export interface ScaleIntensityOptions {
  keys: string | readonly string[];
  /** The output's minimum (default 0); null with maxv null: scale by 1 + factor instead; null alone: (x − min)/(max − min). */
  minv?: number | null;
  /** The output's maximum (default 1), as minv. */
  maxv?: number | null;
  /** With minv and maxv null: x · (1 + factor); without it the image is unchanged. */
  factor?: number;
  /** Minimum and maximum of each channel of a channel-first [C, X, Y, Z] image on its own (MONAI's `channel_wise`). Default false. */
  channelWise?: boolean;
}

/**
 * MONAI's `ScaleIntensityd` (its `rescale_array`): (x − min)/(max − min) · (maxv − minv) + minv with the image's (or
 * each channel's) min and max; a constant image becomes x · minv (unchanged when minv is null).
 */
export class ScaleIntensity implements Transform {
  readonly #keys: string[];
  readonly #minv: number | null;
  readonly #maxv: number | null;
  readonly #factor: number | undefined;
  readonly #channelWise: boolean;

  constructor(opts: ScaleIntensityOptions) {
    const name = 'ScaleIntensity';
    this.#keys = keyList(opts.keys, name);
    this.#minv = opts.minv === undefined ? 0 : opts.minv === null ? null : checkFinite(opts.minv, 'minv', name);
    this.#maxv = opts.maxv === undefined ? 1 : opts.maxv === null ? null : checkFinite(opts.maxv, 'maxv', name);
    this.#factor = opts.factor === undefined ? undefined : checkFinite(opts.factor, 'factor', name);
    if (this.#factor !== undefined && (this.#minv !== null || this.#maxv !== null)) throw new Error(`${name}: factor needs minv and maxv null (MONAI ignores it otherwise)`);
    this.#channelWise = opts.channelWise ?? false;
  }

  apply<T extends object>(data: T): T {
    const name = 'ScaleIntensity';
    const [minv, maxv] = [this.#minv, this.#maxv];
    if (minv === null && maxv === null) {
      const factor = this.#factor;
      this.#keys.forEach((k) => readImage(data, k, name));
      return factor === undefined ? data : mapImages(data, this.#keys, name, (x) => x * (1 + factor));
    }
    return mapByStatistics(data, this.#keys, name, this.#channelWise, (d) => {
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < d.length; i++) { lo = Math.min(lo, d[i]!); hi = Math.max(hi, d[i]!); }
      if (lo === hi) return (x) => (minv === null ? x : x * minv);
      return (x) => {
        const norm = (x - lo) / (hi - lo);
        return minv === null || maxv === null ? norm : norm * (maxv - minv) + minv;
      };
    });
  }
}

export interface RandGaussianNoiseOptions {
  keys: string | readonly string[];
  /** Probability of adding noise. Default 0.1. */
  prob?: number;
  mean?: number;
  /** Default 0.1; with `sampleStd` the std is drawn uniformly from [0, std). */
  std?: number;
  /** Default true (MONAI's default). */
  sampleStd?: boolean;
}

/**
 * MONAI's `RandGaussianNoised`: with probability `prob`, adds N(mean, σ²) noise, one field drawn for the sample and
 * added to every key. Draws: u < prob, then σ (when sampled), then the voxels' normals in C order.
 */
export class RandGaussianNoise implements Transform {
  readonly #keys: string[];
  readonly #prob: number;
  readonly #mean: number;
  readonly #std: number;
  readonly #sampleStd: boolean;

  constructor(opts: RandGaussianNoiseOptions) {
    const name = 'RandGaussianNoise';
    this.#keys = keyList(opts.keys, name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
    this.#mean = checkFinite(opts.mean ?? 0, 'mean', name);
    this.#std = checkFinite(opts.std ?? 0.1, 'std', name);
    if (this.#std < 0) throw new Error(`${name}: std must be ≥ 0, got ${this.#std}`);
    this.#sampleStd = opts.sampleStd ?? true;
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const name = 'RandGaussianNoise';
    const r = requireRng(rng, name);
    // one noise field of the first image's whole shape (channels included) for every key, as MONAI's
    const shapes = this.#keys.map((k) => readImage(data, k, name).image.shape);
    const first = shapes[0]!;
    shapes.forEach((shape, i) => {
      if (shape.length !== first.length || shape.some((n, a) => n !== first[a])) {
        throw new Error(`${name}: key '${this.#keys[i]}' has shape [${shape.join(', ')}], key '${this.#keys[0]}' has [${first.join(', ')}]; the noise is drawn once for every key, so they must share one shape`);
      }
    });
    if (!(r.random() < this.#prob)) return data;
    const std = this.#sampleStd ? r.uniform(0, this.#std) : this.#std;
    const noise = new Float64Array(voxelCount(first));
    for (let i = 0; i < noise.length; i++) noise[i] = this.#mean + std * r.normal();
    return mapImages(data, this.#keys, 'RandGaussianNoise', (x, i) => x + noise[i]!);
  }
}

/** A `factors` / `offsets` option: v means [−v, v]. */
function checkRange(v: number | readonly [number, number], option: string, name: string): [number, number] {
  const r: [number, number] = typeof v === 'number' ? [-Math.abs(v), Math.abs(v)] : Array.isArray(v) && v.length === 2 ? [v[0], v[1]] : [NaN, NaN];
  if (!r.every(Number.isFinite) || r[0] > r[1]) throw new Error(`${name}: ${option} must be a number v (for [−v, v]) or [min, max], got ${JSON.stringify(v)}`);
  return r;
}

/**
 * The first draw of a random intensity transform, after checking the images under `keys`: u < prob gives the Rng to
 * draw the parameters from, else null (the sample stays as it is).
 */
export function drawGate(data: object, keys: readonly string[], rng: Rng | undefined, prob: number, name: string): Rng | null {
  keys.forEach((k) => readImage(data, k, name));
  const r = requireRng(rng, name);
  return r.random() < prob ? r : null;
}

/** Shared draw of the random scalar intensity transforms: u < prob, then a uniform from the range. */
function drawScalar(data: object, keys: readonly string[], rng: Rng | undefined, prob: number, range: [number, number], name: string): number | null {
  const r = drawGate(data, keys, rng, prob, name);
  return r === null ? null : r.uniform(range[0], range[1]);
}

export interface RandScaleIntensityOptions {
  keys: string | readonly string[];
  /** f draws the factor from [−f, f]; [min, max] from that range. */
  factors: number | readonly [number, number];
  prob?: number;
}

/** MONAI's `RandScaleIntensityd`: with probability `prob`, x · (1 + factor), one factor for all keys. */
export class RandScaleIntensity implements Transform {
  readonly #keys: string[];
  readonly #range: [number, number];
  readonly #prob: number;

  constructor(opts: RandScaleIntensityOptions) {
    const name = 'RandScaleIntensity';
    this.#keys = keyList(opts.keys, name);
    this.#range = checkRange(opts.factors, 'factors', name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const factor = drawScalar(data, this.#keys, rng, this.#prob, this.#range, 'RandScaleIntensity');
    return factor === null ? data : mapImages(data, this.#keys, 'RandScaleIntensity', (x) => x * (1 + factor));
  }
}

export interface RandShiftIntensityOptions {
  keys: string | readonly string[];
  /** o draws the offset from [−o, o]; [min, max] from that range. */
  offsets: number | readonly [number, number];
  prob?: number;
}

/** MONAI's `RandShiftIntensityd`: with probability `prob`, x + offset, one offset for all keys. */
export class RandShiftIntensity implements Transform {
  readonly #keys: string[];
  readonly #range: [number, number];
  readonly #prob: number;

  constructor(opts: RandShiftIntensityOptions) {
    const name = 'RandShiftIntensity';
    this.#keys = keyList(opts.keys, name);
    this.#range = checkRange(opts.offsets, 'offsets', name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const offset = drawScalar(data, this.#keys, rng, this.#prob, this.#range, 'RandShiftIntensity');
    return offset === null ? data : mapImages(data, this.#keys, 'RandShiftIntensity', (x) => x + offset);
  }
}

/** Maps each channel [X, Y, Z] of the images under `keys` through `f` (the channel's values, its spatial shape). */
function mapChannels<T extends object>(data: T, keys: readonly string[], name: string, f: (values: Float32Array, shape: Shape3) => ArrayLike<number>): T {
  return withVolumes(data, keys, keys.map((k) => {
    const { image, channels } = readImage(data, k, name);
    const shape = image.shape.slice(-3) as Shape3, n = channels[0]!.length;
    const out = new Float32Array(image.data.length);
    channels.forEach((values, c) => out.set(f(values, shape), c * n));
    return { data: out, shape: [...image.shape] } as FloatImage;
  }));
}

/** The whole image's minimum and maximum (all its channels), as MONAI's `img.min()`, `img.max()`. */
export function minMax(d: ArrayLike<number>): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < d.length; i++) { lo = Math.min(lo, d[i]!); hi = Math.max(hi, d[i]!); }
  return [lo, hi];
}

/** A [min, max] option, checked: two finite numbers (≥ 0 when `nonNegative`) with min ≤ max. */
function checkPair(v: readonly number[] | undefined, option: string, name: string, nonNegative = false): [number, number] {
  const ok = Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!nonNegative || x >= 0)) && v[0]! <= v[1]!;
  if (!ok) throw new Error(`${name}: ${option} must be [min, max], two finite${nonNegative ? ' non-negative' : ''} numbers with min ≤ max, got ${JSON.stringify(v)}`);
  return [v[0]!, v[1]!];
}

// ---------------------------------------------------------------------------------------------------------------------
// Gaussian filtering (MONAI's gaussian_1d and GaussianFilter: separable, zero padding, kernels truncated at 4 σ)

/** MONAI's discrete Gaussian kernel types: 'erf' (the default), 'sampled' and 'scalespace'. */
export type GaussianApprox = 'erf' | 'sampled' | 'scalespace';
const APPROXES: readonly GaussianApprox[] = ['erf', 'sampled', 'scalespace'];

function checkApprox(approx: unknown, name: string): GaussianApprox {
  if (!APPROXES.includes(approx as GaussianApprox)) throw new Error(`${name}: approx must be 'erf', 'sampled' or 'scalespace', got ${JSON.stringify(approx)}`);
  return approx as GaussianApprox;
}

/** e^(−t)·I_n(t), the modified Bessel function scaled, summed from its series in logs (no overflow for large t). */
function scaledBesselI(n: number, t: number): number {
  if (t === 0) return n === 0 ? 1 : 0;
  const lh = Math.log(t / 2);
  let log = n * lh - t;
  for (let i = 2; i <= n; i++) log -= Math.log(i);
  let sum = 0;
  for (let k = 0; ; k++) {
    const term = Math.exp(log);
    sum += term;
    if (k > t && term <= sum * 1e-17) return sum;
    log += 2 * lh - Math.log(k + 1) - Math.log(k + n + 1);
  }
}

/**
 * MONAI's `gaussian_1d(sigma, truncated, approx)` (not normalized): 2·tail + 1 taps, tail = ⌊max(σ·truncated, 0.5) +
 * 0.5⌋. 'erf' integrates the Gaussian over each tap's unit interval, ½(erf((x + ½)/(σ√2)) − erf((x − ½)/(σ√2))) (its
 * sum telescopes to erf((tail + ½)/(σ√2))); 'sampled' is the density e^(−x²/2σ²)/(σ√(2π)) at the taps; 'scalespace'
 * is the discrete Gaussian e^(−σ²)·I_|x|(σ²). In float64 (MONAI's in float32).
 */
export function gaussianKernel1d(sigma: number, approx: GaussianApprox = 'erf', truncated = 4): Float64Array {
  const name = 'gaussianKernel1d';
  if (!(typeof sigma === 'number' && sigma >= 0 && Number.isFinite(sigma))) throw new Error(`${name}: sigma must be a finite number ≥ 0, got ${sigma}`);
  if (approx === 'sampled' && sigma === 0) throw new Error(`${name}: sigma must be > 0 for the 'sampled' kernel (its density divides by σ)`);
  checkApprox(approx, name);
  if (!(truncated > 0 && Number.isFinite(truncated))) throw new Error(`${name}: truncated must be a positive number, got ${truncated}`);
  const tail = Math.floor(Math.max(sigma * truncated, 0.5) + 0.5);
  const k = new Float64Array(2 * tail + 1);
  for (let i = 0; i < k.length; i++) {
    const x = i - tail;
    if (approx === 'erf') {
      const t = Math.SQRT1_2 / sigma;
      k[i] = Math.max(0, 0.5 * (erf(t * (x + 0.5)) - erf(t * (x - 0.5))));
    } else if (approx === 'sampled') {
      k[i] = Math.exp((-0.5 * x * x) / (sigma * sigma)) / (Math.sqrt(2 * Math.PI) * sigma);
    } else {
      k[i] = scaledBesselI(Math.abs(x), sigma * sigma);
    }
  }
  return k;
}

/**
 * MONAI's `GaussianFilter` on one channel of any number of spatial axes (C order, the last axis fastest): the
 * 1-D kernel of each axis's σ along that axis (cut at `truncated` σ), zeros beyond the edges (MONAI's `separable_filtering`),
 * in float64.
 */
export function gaussianFilter(values: ArrayLike<number>, shape: readonly number[], sigma: number | readonly number[], approx: GaussianApprox = 'erf',
  truncated = 4): Float64Array {
  const name = 'gaussianFilter';
  if (!shape.every((s) => Number.isInteger(s) && s > 0) || voxelCount(shape) !== values.length) {
    throw new Error(`${name}: shape [${shape.join(', ')}] does not match ${values.length} values`);
  }
  const sigmas = typeof sigma === 'number' ? shape.map(() => sigma) : [...sigma];
  if (sigmas.length !== shape.length) throw new Error(`${name}: ${sigmas.length} sigmas for ${shape.length} spatial axes`);
  let cur = Float64Array.from(values);
  shape.forEach((len, axis) => {
    const k = gaussianKernel1d(sigmas[axis]!, approx, truncated), tail = (k.length - 1) / 2;
    const stride = voxelCount(shape.slice(axis + 1)), outer = cur.length / (len * stride);
    const next = new Float64Array(cur.length);
    for (let o = 0; o < outer; o++) {
      for (let s = 0; s < stride; s++) {
        const base = o * len * stride + s;
        for (let i = 0; i < len; i++) {
          let acc = 0;
          for (let j = Math.max(0, i - tail); j <= Math.min(len - 1, i + tail); j++) acc += k[j - i + tail]! * cur[base + j * stride]!;
          next[base + i * stride] = acc;
        }
      }
    }
    cur = next;
  });
  return cur;
}

/** A σ option: one number for the three axes or three, each finite and ≥ 0. */
function checkSigma(sigma: number | readonly number[], option: string, name: string): number | [number, number, number] {
  const list = typeof sigma === 'number' ? [sigma] : Array.isArray(sigma) && sigma.length === 3 ? sigma : null;
  if (!list || !list.every((s) => typeof s === 'number' && Number.isFinite(s) && s >= 0)) {
    throw new Error(`${name}: ${option} must be a number ≥ 0 or three (one per axis x, y, z), got ${JSON.stringify(sigma)}`);
  }
  return typeof sigma === 'number' ? sigma : [sigma[0]!, sigma[1]!, sigma[2]!];
}

export interface GaussianSmoothOptions {
  keys: string | readonly string[];
  /** σ of the Gaussian, one for the three axes or [σx, σy, σz]. Default 1. */
  sigma?: number | readonly [number, number, number];
  /** The discrete kernel. Default 'erf'. */
  approx?: GaussianApprox;
}

/** MONAI's `GaussianSmoothd`: each channel filtered by a separable Gaussian (zeros beyond the edges). */
export class GaussianSmooth implements Transform {
  readonly #keys: string[];
  readonly #sigma: number | [number, number, number];
  readonly #approx: GaussianApprox;

  constructor(opts: GaussianSmoothOptions) {
    const name = 'GaussianSmooth';
    this.#keys = keyList(opts.keys, name);
    this.#sigma = checkSigma(opts.sigma ?? 1, 'sigma', name);
    this.#approx = checkApprox(opts.approx ?? 'erf', name);
    if (this.#approx === 'sampled' && [this.#sigma].flat().includes(0)) throw new Error(`${name}: sigma must be > 0 for the 'sampled' kernel`);
  }

  apply<T extends object>(data: T): T {
    return mapChannels(data, this.#keys, 'GaussianSmooth', (values, shape) => gaussianFilter(values, shape, this.#sigma, this.#approx));
  }
}

export interface RandGaussianSmoothOptions {
  keys: string | readonly string[];
  /** The range σx is drawn from. Default [0.25, 1.5]; likewise sigmaY, sigmaZ. */
  sigmaX?: readonly [number, number];
  sigmaY?: readonly [number, number];
  sigmaZ?: readonly [number, number];
  /** Default 0.1. */
  prob?: number;
  approx?: GaussianApprox;
}

/** MONAI's `RandGaussianSmoothd`: with probability `prob`, GaussianSmooth with σx, σy, σz drawn (in that order) for all keys. */
export class RandGaussianSmooth implements Transform {
  readonly #keys: string[];
  readonly #ranges: [number, number][];
  readonly #prob: number;
  readonly #approx: GaussianApprox;

  constructor(opts: RandGaussianSmoothOptions) {
    const name = 'RandGaussianSmooth';
    this.#keys = keyList(opts.keys, name);
    this.#ranges = (['sigmaX', 'sigmaY', 'sigmaZ'] as const).map((o) => checkPair(opts[o] ?? [0.25, 1.5], o, name, true));
    this.#prob = checkProb(opts.prob ?? 0.1, name);
    this.#approx = checkApprox(opts.approx ?? 'erf', name);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const name = 'RandGaussianSmooth';
    const r = drawGate(data, this.#keys, rng, this.#prob, name);
    if (r === null) return data;
    const sigma = this.#ranges.map(([lo, hi]) => r.uniform(lo, hi)) as [number, number, number];
    return new GaussianSmooth({ keys: this.#keys, sigma, approx: this.#approx }).apply(data);
  }
}

export interface GaussianSharpenOptions {
  keys: string | readonly string[];
  /** σ of the first blur, one or [σx, σy, σz]. Default 3. */
  sigma1?: number | readonly [number, number, number];
  /** σ of the second blur (of the first's result). Default 1. */
  sigma2?: number | readonly [number, number, number];
  /** Weight of the detail added back. Default 30. */
  alpha?: number;
  approx?: GaussianApprox;
}

/** MONAI's `GaussianSharpend`: b = G(σ1)·x, then b + alpha·(b − G(σ2)·b), per channel (zeros beyond the edges). */
export class GaussianSharpen implements Transform {
  readonly #keys: string[];
  readonly #sigma1: number | [number, number, number];
  readonly #sigma2: number | [number, number, number];
  readonly #alpha: number;
  readonly #approx: GaussianApprox;

  constructor(opts: GaussianSharpenOptions) {
    const name = 'GaussianSharpen';
    this.#keys = keyList(opts.keys, name);
    this.#sigma1 = checkSigma(opts.sigma1 ?? 3, 'sigma1', name);
    this.#sigma2 = checkSigma(opts.sigma2 ?? 1, 'sigma2', name);
    this.#alpha = checkFinite(opts.alpha ?? 30, 'alpha', name);
    this.#approx = checkApprox(opts.approx ?? 'erf', name);
    if (this.#approx === 'sampled' && [this.#sigma1, this.#sigma2].flat().includes(0)) throw new Error(`${name}: sigma1 and sigma2 must be > 0 for the 'sampled' kernel`);
  }

  apply<T extends object>(data: T): T {
    return mapChannels(data, this.#keys, 'GaussianSharpen', (values, shape) => {
      const blurred = gaussianFilter(values, shape, this.#sigma1, this.#approx);
      const twice = gaussianFilter(blurred, shape, this.#sigma2, this.#approx);
      return blurred.map((b, i) => b + this.#alpha * (b - twice[i]!));
    });
  }
}

export interface RandGaussianSharpenOptions {
  keys: string | readonly string[];
  /** The range σ1 of axis x is drawn from. Default [0.5, 1]; likewise sigma1Y, sigma1Z. */
  sigma1X?: readonly [number, number];
  sigma1Y?: readonly [number, number];
  sigma1Z?: readonly [number, number];
  /** The range of σ2 of axis x, or one number s for [s, the drawn σ1 of that axis]. Default 0.5; likewise sigma2Y, sigma2Z. */
  sigma2X?: number | readonly [number, number];
  sigma2Y?: number | readonly [number, number];
  sigma2Z?: number | readonly [number, number];
  /** The range alpha is drawn from. Default [10, 30]. */
  alpha?: readonly [number, number];
  approx?: GaussianApprox;
  /** Default 0.1. */
  prob?: number;
}

/**
 * MONAI's `RandGaussianSharpend`: with probability `prob`, GaussianSharpen with drawn parameters, one draw for all
 * keys. Draws: u < prob, then σ1 of x, y, z, then σ2 of x, y, z (a one-number σ2 option s draws from [s, that axis's
 * σ1]), then alpha.
 */
export class RandGaussianSharpen implements Transform {
  readonly #keys: string[];
  readonly #sigma1: [number, number][];
  readonly #sigma2: (number | [number, number])[];
  readonly #alpha: [number, number];
  readonly #approx: GaussianApprox;
  readonly #prob: number;

  constructor(opts: RandGaussianSharpenOptions) {
    const name = 'RandGaussianSharpen';
    this.#keys = keyList(opts.keys, name);
    this.#sigma1 = (['sigma1X', 'sigma1Y', 'sigma1Z'] as const).map((o) => checkPair(opts[o] ?? [0.5, 1], o, name, true));
    this.#sigma2 = (['sigma2X', 'sigma2Y', 'sigma2Z'] as const).map((o) => {
      const v = opts[o] ?? 0.5;
      if (typeof v === 'number') {
        if (!(Number.isFinite(v) && v >= 0)) throw new Error(`${name}: ${o} must be a number ≥ 0 or [min, max], got ${v}`);
        return v;
      }
      return checkPair(v, o, name, true);
    });
    this.#alpha = checkPair(opts.alpha ?? [10, 30], 'alpha', name);
    this.#approx = checkApprox(opts.approx ?? 'erf', name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const name = 'RandGaussianSharpen';
    const r = drawGate(data, this.#keys, rng, this.#prob, name);
    if (r === null) return data;
    const sigma1 = this.#sigma1.map(([lo, hi]) => r.uniform(lo, hi)) as [number, number, number];
    const sigma2 = this.#sigma2.map((s, a) => (typeof s === 'number' ? r.uniform(s, sigma1[a]!) : r.uniform(s[0], s[1]))) as [number, number, number];
    const alpha = r.uniform(this.#alpha[0], this.#alpha[1]);
    return new GaussianSharpen({ keys: this.#keys, sigma1, sigma2, alpha, approx: this.#approx }).apply(data);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Contrast, histogram and bias field

export interface AdjustContrastOptions {
  keys: string | readonly string[];
  /** The exponent (> 0). */
  gamma: number;
  /** Negate the image before the gamma transform and the result after it (nnU-Net's). Default false. */
  invertImage?: boolean;
  /** Rescale the result to the input's mean and (Bessel-corrected, torch's) std (nnU-Net's). Default false. */
  retainStats?: boolean;
}

/** Mean and torch's unbiased std (ddof 1) of values, in float64. */
export function meanStd(d: ArrayLike<number>): [number, number] {
  let sum = 0;
  for (let i = 0; i < d.length; i++) sum += d[i]!;
  const mean = sum / d.length;
  let sq = 0;
  for (let i = 0; i < d.length; i++) sq += (d[i]! - mean) ** 2;
  return [mean, Math.sqrt(sq / (d.length - 1))];
}

/**
 * MONAI's AdjustContrast on one image's values: ((x − min) / (range + 1e-7))^γ · range + min over the whole image,
 * with MONAI's optional inversion and retained statistics. The denominator is MONAI's float32 sum (the 1e-7 vanishes
 * in it for a range above about 1); the rest in float64.
 */
function adjustContrast(values: Float32Array, gamma: number, invert: boolean, retainStats: boolean): Float64Array {
  const img = new Float64Array(values);
  if (invert) for (let i = 0; i < img.length; i++) img[i] = -img[i]!;
  const [mn, sd] = retainStats ? meanStd(img) : [0, 0];
  const [lo, hi] = minMax(img);
  const range = Math.fround(hi - lo), den = Math.fround(range + 1e-7);
  let ret = img.map((x) => ((x - lo) / den) ** gamma * range + lo);
  if (retainStats) {
    const [m2, s2] = meanStd(ret);
    ret = ret.map((x) => (sd * (x - m2)) / (s2 + 1e-8) + mn);
  }
  return invert ? ret.map((x) => -x) : ret;
}

/** Maps each whole image under `keys` (all its channels together) through `f` of its values. */
function mapWholeImages<T extends object>(data: T, keys: readonly string[], name: string, f: (values: Float32Array) => ArrayLike<number>): T {
  return withVolumes(data, keys, keys.map((k) => {
    const { image } = readImage(data, k, name);
    return { data: Float32Array.from(f(image.data)), shape: [...image.shape] } as FloatImage;
  }));
}

function checkGamma(gamma: number, name: string): number {
  if (!(typeof gamma === 'number' && Number.isFinite(gamma) && gamma > 0)) throw new Error(`${name}: gamma must be a finite number > 0, got ${gamma}`);
  return gamma;
}

/** MONAI's `AdjustContrastd`: the gamma transform of the intensities between the image's minimum and maximum. */
export class AdjustContrast implements Transform {
  readonly #keys: string[];
  readonly #gamma: number;
  readonly #invert: boolean;
  readonly #retain: boolean;

  constructor(opts: AdjustContrastOptions) {
    const name = 'AdjustContrast';
    this.#keys = keyList(opts.keys, name);
    this.#gamma = checkGamma(opts.gamma, name);
    this.#invert = opts.invertImage ?? false;
    this.#retain = opts.retainStats ?? false;
  }

  apply<T extends object>(data: T): T {
    return mapWholeImages(data, this.#keys, 'AdjustContrast', (v) => adjustContrast(v, this.#gamma, this.#invert, this.#retain));
  }
}

export interface RandAdjustContrastOptions {
  keys: string | readonly string[];
  /** Default 0.1. */
  prob?: number;
  /** The range γ is drawn from, or one number g > 0.5 for [0.5, g]. Default [0.5, 4.5]. */
  gamma?: number | readonly [number, number];
  invertImage?: boolean;
  retainStats?: boolean;
}

/** MONAI's `RandAdjustContrastd`: with probability `prob`, AdjustContrast with γ drawn once for all keys (u < prob, then γ). */
export class RandAdjustContrast implements Transform {
  readonly #keys: string[];
  readonly #prob: number;
  readonly #gamma: [number, number];
  readonly #invert: boolean;
  readonly #retain: boolean;

  constructor(opts: RandAdjustContrastOptions) {
    const name = 'RandAdjustContrast';
    this.#keys = keyList(opts.keys, name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
    const g = opts.gamma ?? [0.5, 4.5];
    if (typeof g === 'number') {
      if (!(Number.isFinite(g) && g > 0.5)) throw new Error(`${name}: a one-number gamma g must be > 0.5 (γ is drawn from [0.5, g]), got ${g}`);
      this.#gamma = [0.5, g];
    } else {
      // MONAI takes the pair in either order (its min and max)
      const pair = Array.isArray(g) && g.length === 2 ? [Math.min(g[0]!, g[1]!), Math.max(g[0]!, g[1]!)] : undefined;
      this.#gamma = checkPair(pair, 'gamma', name);
      checkGamma(this.#gamma[0], name);
    }
    this.#invert = opts.invertImage ?? false;
    this.#retain = opts.retainStats ?? false;
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const name = 'RandAdjustContrast';
    const gamma = drawScalar(data, this.#keys, rng, this.#prob, this.#gamma, name);
    return gamma === null ? data : mapWholeImages(data, this.#keys, name, (v) => adjustContrast(v, gamma, this.#invert, this.#retain));
  }
}

export interface RandHistogramShiftOptions {
  keys: string | readonly string[];
  /** The number of control points (≥ 3), or [min, max] to draw it from. Default 10. */
  numControlPoints?: number | readonly [number, number];
  /** Default 0.1. */
  prob?: number;
}

/** Piecewise-linear interpolation through (xp, fp), xp increasing, constant beyond its ends (numpy's `interp`). */
function interp(x: number, xp: readonly number[], fp: readonly number[]): number {
  if (x <= xp[0]!) return fp[0]!;
  if (x >= xp[xp.length - 1]!) return fp[fp.length - 1]!;
  let lo = 0, hi = xp.length - 1;
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (xp[mid]! <= x) lo = mid; else hi = mid; }
  return fp[lo]! + ((fp[hi]! - fp[lo]!) * (x - xp[lo]!)) / (xp[hi]! - xp[lo]!);
}

/**
 * MONAI's `RandHistogramShiftd`: with probability `prob`, a random monotone piecewise-linear map of the intensities.
 * n control points evenly spaced over [0, 1] (n drawn from the range, both ends included) stay fixed at the ends; each
 * inner one is moved to a uniform draw between its left neighbour's new place and its right neighbour's old one. Both
 * point sets are scaled to each image's [min, max] (all its channels); a constant image is left as it is. One draw for
 * all keys: u < prob, n, then the n − 2 places left to right.
 */
export class RandHistogramShift implements Transform {
  readonly #keys: string[];
  readonly #points: [number, number];
  readonly #prob: number;

  constructor(opts: RandHistogramShiftOptions) {
    const name = 'RandHistogramShift';
    this.#keys = keyList(opts.keys, name);
    const v = opts.numControlPoints ?? 10;
    const pair = typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? [Math.min(v[0]!, v[1]!), Math.max(v[0]!, v[1]!)] : [NaN, NaN];
    if (!pair.every((n) => Number.isInteger(n) && n >= 3)) throw new Error(`${name}: numControlPoints must be an integer ≥ 3 or two of them, got ${JSON.stringify(v)}`);
    this.#points = [pair[0]!, pair[1]!];
    this.#prob = checkProb(opts.prob ?? 0.1, name);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const name = 'RandHistogramShift';
    const r = drawGate(data, this.#keys, rng, this.#prob, name);
    if (r === null) return data;
    const n = r.intIn(this.#points[0], this.#points[1]);
    const reference = Array.from({ length: n }, (_, i) => i / (n - 1));
    const floating = [...reference];
    for (let i = 1; i < n - 1; i++) floating[i] = r.uniform(floating[i - 1]!, floating[i + 1]!);
    return mapWholeImages(data, this.#keys, name, (values) => {
      const [lo, hi] = minMax(values);
      if (lo === hi) return values;
      const xp = reference.map((p) => p * (hi - lo) + lo), fp = floating.map((p) => p * (hi - lo) + lo);
      return values.map((x) => interp(x, xp, fp));
    });
  }
}

export interface RandBiasFieldOptions {
  keys: string | readonly string[];
  /** The polynomials' total degree (≥ 1). Default 3. */
  degree?: number;
  /** The range the coefficients are drawn from. Default [0, 0.1]. */
  coeffRange?: readonly [number, number];
  /** Default 0.1. */
  prob?: number;
}

/** Legendre polynomials P_0 … P_degree at x (Bonnet's recursion). */
function legendre(x: number, degree: number): number[] {
  const p = [1, x];
  for (let n = 1; n < degree; n++) p.push(((2 * n + 1) * x * p[n]! - n * p[n - 1]!) / (n + 1));
  return p.slice(0, degree + 1);
}

/**
 * MONAI's `RandBiasFieldd`: with probability `prob`, x · exp(f) with the smooth field f(x, y, z) = Σ c_ijk P_i(x)
 * P_j(y) P_k(z) over i + j + k ≤ degree (Legendre polynomials, coordinates evenly spaced over [−1, 1] per axis, in
 * float32 as MONAI's), the same field for every channel. The (degree + 3 choose 3) coefficients are drawn once for all
 * keys, after u < prob, in the order of (i, j, k) counting up with k fastest.
 */
export class RandBiasField implements Transform {
  readonly #keys: string[];
  readonly #degree: number;
  readonly #range: [number, number];
  readonly #prob: number;

  constructor(opts: RandBiasFieldOptions) {
    const name = 'RandBiasField';
    this.#keys = keyList(opts.keys, name);
    this.#degree = opts.degree ?? 3;
    if (!(Number.isInteger(this.#degree) && this.#degree >= 1)) throw new Error(`${name}: degree must be an integer ≥ 1, got ${opts.degree}`);
    this.#range = checkPair(opts.coeffRange ?? [0, 0.1], 'coeffRange', name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const name = 'RandBiasField';
    const r = drawGate(data, this.#keys, rng, this.#prob, name);
    if (r === null) return data;
    const d = this.#degree, terms: [number, number, number, number][] = [];
    for (let i = 0; i <= d; i++) for (let j = 0; j <= d - i; j++) for (let k = 0; k <= d - i - j; k++) terms.push([i, j, k, r.uniform(this.#range[0], this.#range[1])]);
    return mapChannels(data, this.#keys, name, (values, shape) => {
      const [px, py, pz] = shape.map((len) => Array.from({ length: len }, (_, i) => legendre(Math.fround(len === 1 ? -1 : -1 + (2 * i) / (len - 1)), d))) as [number[][], number[][], number[][]];
      const [X, Y, Z] = shape, out = new Float64Array(values.length), m = d + 1;
      // the sum nested axis by axis: a[j·m + k] = Σ_i c_ijk P_i(x), then b[k] = Σ_j a[j·m + k] P_j(y), then Σ_k b[k] P_k(z)
      const a = new Float64Array(m * m), b = new Float64Array(m);
      for (let x = 0; x < X; x++) {
        a.fill(0);
        for (const [i, j, k, c] of terms) a[j * m + k]! += c * px[x]![i]!;
        for (let y = 0; y < Y; y++) {
          b.fill(0);
          for (let j = 0; j < m; j++) for (let k = 0; k < m - j; k++) b[k]! += a[j * m + k]! * py[y]![j]!;
          for (let z = 0; z < Z; z++) {
            let f = 0;
            for (let k = 0; k < m; k++) f += b[k]! * pz[z]![k]!;
            const at = (x * Y + y) * Z + z;
            out[at] = values[at]! * Math.exp(f);
          }
        }
      }
      return out;
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Thresholds, clipping, shifting and masking

export interface ThresholdIntensityOptions {
  keys: string | readonly string[];
  threshold: number;
  /** Keep the values above the threshold (default true) or below it. */
  above?: boolean;
  /** What the others become. Default 0. */
  cval?: number;
}

/** MONAI's `ThresholdIntensityd`: x where x > threshold (or x < threshold with above false), cval elsewhere. */
export class ThresholdIntensity implements Transform {
  readonly #keys: string[];
  readonly #f: (x: number) => number;

  constructor(opts: ThresholdIntensityOptions) {
    const name = 'ThresholdIntensity';
    this.#keys = keyList(opts.keys, name);
    const threshold = checkFinite(opts.threshold, 'threshold', name), cval = checkFinite(opts.cval ?? 0, 'cval', name);
    const above = opts.above ?? true;
    this.#f = (x) => ((above ? x > threshold : x < threshold) ? x : cval);
  }

  apply<T extends object>(data: T): T {
    return mapImages(data, this.#keys, 'ThresholdIntensity', this.#f);
  }
}

export interface ClipIntensityPercentilesOptions {
  keys: string | readonly string[];
  /** The lower percentile (0–100), or null for no lower clip. */
  lower: number | null;
  /** The upper percentile (0–100), or null for no upper clip. */
  upper: number | null;
  /** Soft clipping with this sharpness c > 0 (a null percentile then leaves that side alone). Default null: hard clipping. */
  sharpnessFactor?: number | null;
  /** Percentiles of each channel of a channel-first [C, X, Y, Z] image on its own (MONAI's `channel_wise`). Default false. */
  channelWise?: boolean;
}

/** log(1 + e^z) without overflow (MONAI's logaddexp(0, z)). */
function softplus(z: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
}

/**
 * MONAI's `ClipIntensityPercentilesd`: clips to the image's (or each channel's) lower and upper percentiles (numpy's
 * 'linear'); with `sharpnessFactor` c, the soft clip x + softplus(−c(x − lo))/c − softplus(c(x − hi))/c instead.
 */
export class ClipIntensityPercentiles implements Transform {
  readonly #keys: string[];
  readonly #lower: number | null;
  readonly #upper: number | null;
  readonly #sharpness: number | null;
  readonly #channelWise: boolean;

  constructor(opts: ClipIntensityPercentilesOptions) {
    const name = 'ClipIntensityPercentiles';
    this.#keys = keyList(opts.keys, name);
    const check = (v: number | null | undefined, option: string): number | null => {
      if (v === null || v === undefined) return null;
      if (!(typeof v === 'number' && v >= 0 && v <= 100)) throw new Error(`${name}: ${option} must be a percentile in [0, 100] or null, got ${v}`);
      return v;
    };
    this.#lower = check(opts.lower, 'lower');
    this.#upper = check(opts.upper, 'upper');
    if (this.#lower === null && this.#upper === null) throw new Error(`${name}: give lower or upper (or both); both are null`);
    if (this.#lower !== null && this.#upper !== null && this.#upper < this.#lower) throw new Error(`${name}: upper (${this.#upper}) must not be below lower (${this.#lower})`);
    const s = opts.sharpnessFactor ?? null;
    if (s !== null && !(typeof s === 'number' && Number.isFinite(s) && s > 0)) throw new Error(`${name}: sharpnessFactor must be a finite number > 0 or null, got ${s}`);
    this.#sharpness = s;
    this.#channelWise = opts.channelWise ?? false;
  }

  apply<T extends object>(data: T): T {
    const [lower, upper, c] = [this.#lower, this.#upper, this.#sharpness];
    return mapByStatistics(data, this.#keys, 'ClipIntensityPercentiles', this.#channelWise, (d) => {
      if (c !== null) {
        const lo = lower === null ? null : percentile(d, lower), hi = upper === null ? null : percentile(d, upper);
        return (x) => x + (lo === null ? 0 : softplus(-c * (x - lo)) / c) - (hi === null ? 0 : softplus(c * (x - hi)) / c);
      }
      const lo = percentile(d, lower ?? 0), hi = percentile(d, upper ?? 100);
      return (x) => Math.min(Math.max(x, lo), hi);
    });
  }
}

export interface ShiftIntensityOptions {
  keys: string | readonly string[];
  offset: number;
}

/** MONAI's `ShiftIntensityd`: x + offset. */
export class ShiftIntensity implements Transform {
  readonly #keys: string[];
  readonly #offset: number;

  constructor(opts: ShiftIntensityOptions) {
    this.#keys = keyList(opts.keys, 'ShiftIntensity');
    this.#offset = checkFinite(opts.offset, 'offset', 'ShiftIntensity');
  }

  apply<T extends object>(data: T): T {
    return mapImages(data, this.#keys, 'ShiftIntensity', (x) => x + this.#offset);
  }
}

export interface MaskIntensityOptions {
  keys: string | readonly string[];
  /** A fixed mask: a volume [X, Y, Z] (for every channel) or [C, X, Y, Z] (channel by channel), float or uint8. */
  maskData?: SpatialVolume | null;
  /** Or the key of the sample holding the mask (used when maskData is not given). */
  maskKey?: string | null;
  /** Which mask values keep the image's voxel. Default v > 0. */
  selectFn?: (value: number) => boolean;
}

/**
 * MONAI's `MaskIntensityd`: the image's voxels where the mask is selected stay, the others become 0. A one-channel mask
 * applies to every channel; a C-channel one must match the image's C channels.
 */
export class MaskIntensity implements Transform {
  readonly #keys: string[];
  readonly #maskData: SpatialVolume | null;
  readonly #maskKey: string | null;
  readonly #select: (value: number) => boolean;

  constructor(opts: MaskIntensityOptions) {
    const name = 'MaskIntensity';
    this.#keys = keyList(opts.keys, name);
    this.#maskData = opts.maskData ?? null;
    if (this.#maskData !== null) readChannels({ maskData: this.#maskData }, 'maskData', name);
    this.#maskKey = this.#maskData === null ? opts.maskKey ?? null : null;
    if (this.#maskData === null && this.#maskKey === null) throw new Error(`${name}: give maskData or maskKey`);
    if (this.#maskKey !== null && !(typeof this.#maskKey === 'string' && this.#maskKey.length > 0)) throw new Error(`${name}: maskKey must be a non-empty key, got ${JSON.stringify(this.#maskKey)}`);
    this.#select = opts.selectFn ?? ((v) => v > 0);
    if (typeof this.#select !== 'function') throw new Error(`${name}: selectFn must be a function (value) => boolean`);
  }

  apply<T extends object>(data: T): T {
    const name = 'MaskIntensity';
    const mask = this.#maskData === null ? readChannels(data, this.#maskKey!, name) : readChannels({ maskData: this.#maskData }, 'maskData', name);
    const what = this.#maskKey === null ? 'maskData' : `the mask '${this.#maskKey}'`;
    return withVolumes(data, this.#keys, this.#keys.map((k) => {
      const { image, channels } = readImage(data, k, name);
      const shape = image.shape.slice(-3);
      if (shape.some((s, a) => s !== mask.shape[a])) throw new Error(`${name}: ${what} has spatial shape [${mask.shape.join(', ')}], key '${k}' has [${shape.join(', ')}]`);
      if (mask.channels.length !== 1 && mask.channels.length !== channels.length) {
        throw new Error(`${name}: ${what} has ${mask.channels.length} channels, key '${k}' has ${channels.length}; a mask has one channel or as many as the image`);
      }
      const n = channels[0]!.length, m = mask.channels.map((c) => c.data);
      const out = image.data.map((x, i) => {
        const c = Math.floor(i / n);
        return x * (this.#select(m[m.length === 1 ? 0 : c]![i - c * n]!) ? 1 : 0);
      });
      return { data: out, shape: [...image.shape] } as FloatImage;
    }));
  }
}
