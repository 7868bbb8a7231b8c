/**
 * MONAI's intensity transforms (dictionary form) on float volumes. Statistics (mean, std, percentiles) are computed in
 * float64 over the float32 voxels and each result is rounded once to float32; MONAI computes in float32, so values
 * agree within float32 rounding.
 */
import { percentile } from './metrics.js';
import type { Rng } from './random.js';
import { checkFinite, checkProb, keyList, readImage, readSameShape, requireRng, withVolumes, type Transform } from './transforms.js';
import type { Volume } from './volume.js';

/** Maps every voxel of the image volumes under `keys` through `f`. */
function mapImages<T extends object>(data: T, keys: readonly string[], name: string, f: (x: number, i: number) => number): T {
  const vols = keys.map((k) => readImage(data, k, name));
  return withVolumes(data, keys, vols.map((v): Volume<Float32Array> => {
    const out = new Float32Array(v.data.length);
    for (let i = 0; i < out.length; i++) out[i] = f(v.data[i]!, i);
    return { data: out, shape: [v.shape[0], v.shape[1], v.shape[2]] };
  }));
}

export interface NormalizeIntensityOptions {
  keys: string | readonly string[];
  /** Subtracted instead of the mean. */
  subtrahend?: number;
  /** Divided by instead of the std (0 is replaced by 1, as MONAI does). */
  divisor?: number;
  /** Statistics over the nonzero voxels only, and only they are normalized (zeros stay 0). Default false. */
  nonzero?: boolean;
}

/**
 * MONAI's `NormalizeIntensityd`: (x − mean) / std with the population std (ddof 0); a std of 0 becomes 1. With
 * `nonzero`, an all-zero volume is returned unchanged.
 */
export class NormalizeIntensity implements Transform {
  readonly #keys: string[];
  readonly #opts: NormalizeIntensityOptions;

  constructor(opts: NormalizeIntensityOptions) {
    const name = 'NormalizeIntensity';
    this.#keys = keyList(opts.keys, name);
    if (opts.subtrahend !== undefined) checkFinite(opts.subtrahend, 'subtrahend', name);
    if (opts.divisor !== undefined) checkFinite(opts.divisor, 'divisor', name);
    this.#opts = { ...opts };
  }

  apply<T extends object>(data: T): T {
    const { subtrahend, divisor, nonzero = false } = this.#opts;
    let out = data;
    for (const key of this.#keys) {
      const d = readImage(data, key, 'NormalizeIntensity').data;
      let n = 0, sum = 0;
      for (let i = 0; i < d.length; i++) if (!nonzero || d[i] !== 0) { n++; sum += d[i]!; }
      const mean = sum / n;
      let sq = 0;
      for (let i = 0; i < d.length; i++) if (!nonzero || d[i] !== 0) sq += (d[i]! - mean) * (d[i]! - mean);
      const sub = subtrahend ?? mean;
      const div = (divisor ?? Math.sqrt(sq / n)) || 1;
      out = mapImages(out, [key], 'NormalizeIntensity', (x) => (n === 0 || (nonzero && x === 0) ? x : (x - sub) / div));
    }
    return out;
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
    const { lower, upper, bMin: b0, bMax: b1, clip = false, relative = false } = this.#opts;
    let out = data;
    for (const key of this.#keys) {
      const d = readImage(data, key, 'ScaleIntensityRangePercentiles').data;
      const aMin = percentile(d, lower), aMax = percentile(d, upper);
      const bMin = relative ? (b1! - b0!) * (lower / 100) + b0! : b0;
      const bMax = relative ? (b1! - b0!) * (upper / 100) + b0! : b1;
      out = mapImages(out, [key], 'ScaleIntensityRangePercentiles', scaleRange(aMin, aMax, bMin, bMax, clip ? bMin : undefined, clip ? bMax : undefined));
    }
    return out;
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
    const r = requireRng(rng, 'RandGaussianNoise');
    const first = readSameShape(data, this.#keys, 'RandGaussianNoise')[0]!;
    if (!(r.random() < this.#prob)) return data;
    const std = this.#sampleStd ? r.uniform(0, this.#std) : this.#std;
    const noise = new Float64Array(first.data.length);
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
