/**
 * MONAI's intensity transforms (dictionary form) on float volumes [X, Y, Z] and, except RandGaussianNoise, on
 * channel-first images [C, X, Y, Z] (statistics over the whole image, or per channel with `channelWise`). Statistics
 * (mean, std, percentiles) are computed in float64 over the float32 voxels and each result is rounded once to float32;
 * MONAI computes in float32, so values agree within float32 rounding.
 */
import { percentile } from './metrics.js';
import type { Rng } from './random.js';
import { voxelCount } from './volume.js';
import {
  checkFinite, checkProb, keyList, readImage, requireRng, withVolumes, type FloatImage, type Transform,
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

/** Shared draw of the two random scalar intensity transforms: u < prob, then a uniform from the range. */
function drawScalar(rng: Rng | undefined, prob: number, range: [number, number], name: string): number | null {
  const r = requireRng(rng, name);
  if (!(r.random() < prob)) return null;
  return r.uniform(range[0], range[1]);
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
    this.#keys.forEach((k) => readImage(data, k, 'RandScaleIntensity'));
    const factor = drawScalar(rng, this.#prob, this.#range, 'RandScaleIntensity');
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
    this.#keys.forEach((k) => readImage(data, k, 'RandShiftIntensity'));
    const offset = drawScalar(rng, this.#prob, this.#range, 'RandShiftIntensity');
    return offset === null ? data : mapImages(data, this.#keys, 'RandShiftIntensity', (x) => x + offset);
  }
}
