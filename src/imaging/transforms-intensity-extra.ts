/**
 * More of MONAI's intensity transforms (dictionary form) on float images [X, Y, Z] or channel-first [C, X, Y, Z]: the
 * MRI artefacts in k-space (Gibbs ringing, spikes) and Rician noise, coarse dropout and shuffling, histogram
 * normalization, median and Savitzky–Golay smoothing, std-relative shifts, mean-preserving scaling and foreground
 * masks. Computed in float64 and rounded once to float32 (MONAI computes in float32, so values agree within float32
 * rounding).
 *
 * Random transforms draw from the `Rng` given to `apply`, in MONAI's order: first u < prob for the whole sample
 * (MONAI's dictionary transform's own draw; the prob-1 draw of the array transform it wraps is not repeated), then
 * the parameters, one draw for every key unless a transform's comment says each key draws its own.
 */
import { fftn, fftshift, ifftn, type ComplexArray } from './fft.js';
import type { Rng } from './random.js';
import { drawGate, meanStd, minMax } from './transforms-intensity.js';
import {
  checkFinite, checkProb, checkSpatialSize, keyList, readChannels, readImage, requireRng, resolveSize, withVolumes, type FloatImage,
  type SampleTransform, type SpatialSize, type SpatialVolume, type Transform,
} from './transforms.js';
import { voxelIndex, type Shape3 } from './volume.js';

/** An image under a key as its channels (views of its data) and its spatial shape. */
interface ImageChannels { image: FloatImage; channels: Float32Array[]; shape: Shape3 }

function readImageChannels(data: object, key: string, name: string): ImageChannels {
  const { image, channels } = readImage(data, key, name);
  return { image, channels, shape: image.shape.slice(-3) as Shape3 };
}

/** A new float32 image of `image`'s shape made of per-channel values. */
function fromChannels(image: FloatImage, outs: readonly ArrayLike<number>[]): FloatImage {
  const data = new Float32Array(image.data.length), n = data.length / outs.length;
  outs.forEach((values, c) => data.set(values, c * n));
  return { data, shape: [...image.shape] } as FloatImage;
}

/** Maps every channel of the images under `keys` through `f` (its values, its spatial shape, its index and the channel count). */
function mapEachChannel<T extends object>(data: T, keys: readonly string[], name: string,
  f: (values: Float32Array, shape: Shape3, c: number, channels: number) => ArrayLike<number>): T {
  return withVolumes(data, keys, keys.map((k) => {
    const { image, channels, shape } = readImageChannels(data, k, name);
    return fromChannels(image, channels.map((values, c) => f(values, shape, c, channels.length)));
  }));
}

/** Maps each image under `keys` through `f` of its values: all its channels together, or with `channelWise` each channel on its own. */
function mapWholeOrChannels<T extends object>(data: T, keys: readonly string[], name: string, channelWise: boolean, f: (values: Float32Array) => ArrayLike<number>): T {
  if (channelWise) return mapEachChannel(data, keys, name, f);
  return withVolumes(data, keys, keys.map((k) => {
    const { image } = readImage(data, k, name);
    return { data: Float32Array.from(f(image.data)), shape: [...image.shape] } as FloatImage;
  }));
}

/** MONAI's `factors` of the random shifts and scales: f gives (min(−f, f), max(−f, f)), a pair is taken in either order. */
function factorRange(v: number | readonly number[], option: string, name: string): [number, number] {
  const pair = typeof v === 'number' ? [-v, v] : Array.isArray(v) && v.length === 2 ? [v[0]!, v[1]!] : [NaN, NaN];
  if (!pair.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new Error(`${name}: ${option} must be a number f (for [−f, f]) or a pair [a, b], got ${JSON.stringify(v)}`);
  return [Math.min(pair[0]!, pair[1]!), Math.max(pair[0]!, pair[1]!)];
}

// ---------------------------------------------------------------------------------------------------------------------
// k-space: Gibbs ringing and spikes

/** The centred spectrum of one channel (MONAI's `shift_fourier`: fftshift(fftn(x))). */
function centredSpectrum(values: ArrayLike<number>, shape: Readonly<Shape3>): ComplexArray {
  return fftshift(fftn({ re: Float64Array.from(values), im: new Float64Array(values.length) }, shape), shape);
}

/** The real part of the image of a centred spectrum (MONAI's `inv_shift_fourier`: real(ifftn(ifftshift(k)))). */
function imageOfSpectrum(k: ComplexArray, shape: Readonly<Shape3>): Float64Array {
  return ifftn(fftshift(k, shape, true), shape).re;
}

/**
 * One channel low-passed as MONAI's GibbsNoise: the centred spectrum kept within the ball of radius (1 − α)·max(shape)·√2/2
 * about the array's centre (shape − 1)/2, zero outside. (For an odd shape α = 1 keeps the zero frequency alone: the mean.)
 */
function gibbsChannel(values: Float32Array, shape: Readonly<Shape3>, alpha: number): Float64Array {
  const k = centredSpectrum(values, shape);
  const r = ((1 - alpha) * Math.max(...shape) * Math.SQRT2) / 2, c = shape.map((s) => (s - 1) / 2);
  for (let x = 0; x < shape[0]; x++) {
    for (let y = 0; y < shape[1]; y++) {
      for (let z = 0; z < shape[2]; z++) {
        if (Math.sqrt((x - c[0]!) ** 2 + (y - c[1]!) ** 2 + (z - c[2]!) ** 2) > r) { const i = voxelIndex(shape, x, y, z); k.re[i] = 0; k.im[i] = 0; }
      }
    }
  }
  return imageOfSpectrum(k, shape);
}

function checkAlpha(alpha: number, option: string, name: string): number {
  if (!(typeof alpha === 'number' && alpha >= 0 && alpha <= 1)) throw new Error(`${name}: ${option} must be in [0, 1], got ${alpha}`);
  return alpha;
}

export interface GibbsNoiseOptions {
  keys: string | readonly string[];
  /** The strength in [0, 1]: the fraction of k-space's radius cut away. Default 0.5 (MONAI's GibbsNoised; its array GibbsNoise has 0.1). */
  alpha?: number;
}

/**
 * MONAI's `GibbsNoised`: Gibbs ringing, each channel's centred 3-D spectrum cut to a ball of radius (1 − α)·max(X, Y, Z)·√2/2
 * about the centre ((shape − 1)/2 in shifted indices), then transformed back (its real part).
 */
export class GibbsNoise implements Transform {
  readonly #keys: string[];
  readonly #alpha: number;

  constructor(opts: GibbsNoiseOptions) {
    this.#keys = keyList(opts.keys, 'GibbsNoise');
    this.#alpha = checkAlpha(opts.alpha ?? 0.5, 'alpha', 'GibbsNoise');
  }

  apply<T extends object>(data: T): T {
    return mapEachChannel(data, this.#keys, 'GibbsNoise', (values, shape) => gibbsChannel(values, shape, this.#alpha));
  }
}

export interface RandGibbsNoiseOptions {
  keys: string | readonly string[];
  /** Default 0.1. */
  prob?: number;
  /** The range α is drawn from, 0 ≤ a ≤ b ≤ 1, or one number a for [0, a]. Default [0, 1]. */
  alpha?: number | readonly [number, number];
}

/** MONAI's `RandGibbsNoised`: with probability `prob`, GibbsNoise with α drawn uniformly once for all keys (u < prob, then α). */
export class RandGibbsNoise implements Transform {
  readonly #keys: string[];
  readonly #prob: number;
  readonly #alpha: [number, number];

  constructor(opts: RandGibbsNoiseOptions) {
    const name = 'RandGibbsNoise';
    this.#keys = keyList(opts.keys, name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
    const a = opts.alpha ?? [0, 1];
    const pair = typeof a === 'number' ? [0, a] : Array.isArray(a) && a.length === 2 ? [a[0]!, a[1]!] : null;
    if (pair === null) throw new Error(`${name}: alpha must be a number a (for [0, a]) or a pair [a, b], got ${JSON.stringify(a)}`);
    pair.forEach((v) => checkAlpha(v, 'alpha', name));
    if (pair[0]! > pair[1]!) throw new Error(`${name}: alpha [a, b] needs a ≤ b, got ${JSON.stringify(a)}`);
    this.#alpha = [pair[0]!, pair[1]!];
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const r = drawGate(data, this.#keys, rng, this.#prob, 'RandGibbsNoise');
    if (r === null) return data;
    const alpha = r.uniform(this.#alpha[0], this.#alpha[1]);
    return new GibbsNoise({ keys: this.#keys, alpha }).apply(data);
  }
}

/** A spike's place: [x, y, z] in every channel, or [c, x, y, z] in channel c (indices of the centred spectrum). */
export type SpikeLocation = readonly [number, number, number] | readonly [number, number, number, number];

/** One spike of a channel: its flat index in the centred spectrum and its log-magnitude (null: the channel's default). */
interface Spike { index: number; value: number | null }

/**
 * One channel with spikes set in its centred spectrum, as MONAI's KSpaceSpikeNoise: log(|k| + 1e-10) and the phase,
 * the spikes' log-magnitudes written in (a null value takes 2.5 × the mean log-magnitude), then exp(log)·e^(iφ) back to
 * the image (every voxel moves by the 1e-10, as MONAI's). `spikes` gets that mean (MONAI's default intensity).
 */
function spikeChannel(values: Float32Array, shape: Readonly<Shape3>, spikes: (meanLog: number) => readonly Spike[]): Float64Array {
  const k = centredSpectrum(values, shape), n = values.length;
  const logAbs = new Float64Array(n), phase = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    logAbs[i] = Math.log(Math.hypot(k.re[i]!, k.im[i]!) + 1e-10);
    phase[i] = Math.atan2(k.im[i]!, k.re[i]!);
    sum += logAbs[i]!;
  }
  const meanLog = sum / n;
  for (const s of spikes(meanLog)) logAbs[s.index] = s.value ?? 2.5 * meanLog;
  for (let i = 0; i < n; i++) {
    const m = Math.exp(logAbs[i]!);
    k.re[i] = m * Math.cos(phase[i]!); k.im[i] = m * Math.sin(phase[i]!);
  }
  return imageOfSpectrum(k, shape);
}

export interface KSpaceSpikeNoiseOptions {
  keys: string | readonly string[];
  /** One place ([x, y, z] for every channel, [c, x, y, z] for channel c) or a list of them, in the centred spectrum's indices. */
  loc: SpikeLocation | readonly SpikeLocation[];
  /**
   * The spikes' log-magnitude: one number for one place, one per place for a list. Default: 2.5 × the mean
   * log-magnitude of the channel the spike is in (MONAI's default).
   */
  kIntensity?: number | readonly number[] | null;
}

function isLocation(v: unknown): v is SpikeLocation {
  return Array.isArray(v) && (v.length === 3 || v.length === 4) && v.every((i) => Number.isInteger(i) && i >= 0);
}

/**
 * MONAI's `KSpaceSpikeNoised`: spike (herringbone) artefacts, each channel's centred 3-D spectrum given the
 * log-magnitude `kIntensity` at the places `loc` (the phase kept), then transformed back (its real part). Where MONAI
 * gives a list of places without intensities, it pairs place i with channel i's default; here each spike takes the
 * default of the channel it is in (the same for RandKSpaceSpikeNoise's places, one per channel in channel order).
 */
export class KSpaceSpikeNoise implements Transform {
  readonly #keys: string[];
  readonly #locs: SpikeLocation[];
  readonly #values: (number | null)[];

  constructor(opts: KSpaceSpikeNoiseOptions) {
    const name = 'KSpaceSpikeNoise';
    this.#keys = keyList(opts.keys, name);
    const loc = opts.loc as unknown;
    const many = Array.isArray(loc) && loc.length > 0 && Array.isArray(loc[0]);
    const locs = (many ? loc : [loc]) as unknown[];
    locs.forEach((l) => {
      if (!isLocation(l)) throw new Error(`${name}: loc must be [x, y, z] or [c, x, y, z] (non-negative integers) or a list of them, got ${JSON.stringify(l)}`);
    });
    this.#locs = locs as SpikeLocation[];
    const k = opts.kIntensity ?? null;
    if (Array.isArray(k)) {
      if (!many) throw new Error(`${name}: a list of kIntensity values needs a list of locations in loc`);
      if (k.length !== locs.length) throw new Error(`${name}: ${k.length} kIntensity values for ${locs.length} locations; give one per location`);
      this.#values = k.map((v) => checkFinite(v, 'kIntensity', name));
    } else if (typeof k === 'number') {
      if (many) throw new Error(`${name}: a list of ${locs.length} locations needs a list of ${locs.length} kIntensity values, got one number`);
      this.#values = [checkFinite(k, 'kIntensity', name)];
    } else {
      if (k !== null) throw new Error(`${name}: kIntensity must be a number, a list of numbers or null, got ${JSON.stringify(k)}`);
      this.#values = locs.map(() => null);
    }
  }

  apply<T extends object>(data: T): T {
    const name = 'KSpaceSpikeNoise';
    return withVolumes(data, this.#keys, this.#keys.map((key) => {
      const { image, channels, shape } = readImageChannels(data, key, name);
      const perChannel: Spike[][] = channels.map(() => []);
      this.#locs.forEach((loc, i) => {
        const full = loc.length === 4 ? loc : null, xyz = loc.slice(-3);
        const bound = full ? [channels.length, ...shape] : shape, idx = full ?? xyz;
        idx.forEach((v, a) => {
          if (v >= bound[a]!) throw new Error(`${name}: loc ${JSON.stringify(loc)} is out of bounds for key '${key}' of ${channels.length} channel(s) and spatial shape [${shape.join(', ')}] (index ${a})`);
        });
        const spike = { index: voxelIndex(shape, xyz[0]!, xyz[1]!, xyz[2]!), value: this.#values[i]! };
        if (full) perChannel[full[0]]!.push(spike);
        else perChannel.forEach((list) => list.push(spike));
      });
      return fromChannels(image, channels.map((values, c) => spikeChannel(values, shape, () => perChannel[c]!)));
    }));
  }
}

export interface RandKSpaceSpikeNoiseOptions {
  keys: string | readonly string[];
  /** Default 0.1. */
  prob?: number;
  /**
   * The range the spikes' log-magnitude is drawn from: [a, b] for every channel, or one [a, b] per channel. Default:
   * [0.95 x, 1.1 x] per channel, x = 2.5 × the channel's mean log-magnitude.
   */
  intensityRange?: readonly [number, number] | readonly (readonly [number, number])[] | null;
  /** One place and intensity drawn for each channel (default true), or one place for all channels. */
  channelWise?: boolean;
}

/**
 * MONAI's `RandKSpaceSpikeNoised`: with probability `prob` (one u for the sample), one spike per channel. Each key
 * draws its own: with `channelWise`, for each channel its place (x, y, z, each uniform over the axis) then its
 * intensity; without, one place for all channels, then each channel's intensity (MONAI repeats a single range once per
 * channel, so each channel draws its own there too).
 */
export class RandKSpaceSpikeNoise implements Transform {
  readonly #keys: string[];
  readonly #prob: number;
  readonly #range: [number, number] | [number, number][] | null;
  readonly #channelWise: boolean;

  constructor(opts: RandKSpaceSpikeNoiseOptions) {
    const name = 'RandKSpaceSpikeNoise';
    this.#keys = keyList(opts.keys, name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
    this.#channelWise = opts.channelWise ?? true;
    const r = opts.intensityRange ?? null;
    const pair = (v: unknown): [number, number] => {
      if (!(Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x)))) {
        throw new Error(`${name}: intensityRange must be [a, b] or one [a, b] per channel, got ${JSON.stringify(r)}`);
      }
      return [v[0] as number, v[1] as number];
    };
    if (r === null) this.#range = null;
    else if (Array.isArray(r) && r.length > 0 && Array.isArray(r[0])) {
      if (!this.#channelWise) throw new Error(`${name}: with channelWise false, intensityRange must be one [a, b] (or null), got ${JSON.stringify(r)}`);
      this.#range = (r as readonly unknown[]).map(pair);
    } else this.#range = pair(r);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const name = 'RandKSpaceSpikeNoise';
    const perChannel = Array.isArray(this.#range?.[0]) ? this.#range as [number, number][] : null;
    if (perChannel) {
      this.#keys.forEach((key) => {
        const c = readImageChannels(data, key, name).channels.length;
        if (c !== perChannel.length) throw new Error(`${name}: key '${key}' has ${c} channel(s), intensityRange has ${perChannel.length} ranges; give one per channel`);
      });
    }
    const r = drawGate(data, this.#keys, rng, this.#prob, name);
    if (r === null) return data;
    return withVolumes(data, this.#keys, this.#keys.map((key) => {
      const { image, channels, shape } = readImageChannels(data, key, name);
      const place = (): number => voxelIndex(shape, r.int(shape[0]), r.int(shape[1]), r.int(shape[2]));
      const rangeOf = (c: number, meanLog: number): [number, number] => perChannel?.[c] ?? (this.#range as [number, number] | null) ?? [0.95 * 2.5 * meanLog, 1.1 * 2.5 * meanLog];
      const shared = this.#channelWise ? null : place();
      return fromChannels(image, channels.map((values, c) => spikeChannel(values, shape, (meanLog) => {
        const index = shared ?? place();
        const [a, b] = rangeOf(c, meanLog);
        return [{ index, value: r.uniform(a, b) }];
      })));
    }));
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Rician noise

export interface RandRicianNoiseOptions {
  keys: string | readonly string[];
  /** Default 0.1. */
  prob?: number;
  /** The Gaussians' mean; with `channelWise` also one per channel. Default 0. */
  mean?: number | readonly number[];
  /** Their std (or its upper bound with `sampleStd`); with `channelWise` also one per channel. Default 1. */
  std?: number | readonly number[];
  /** Noise of each channel drawn on its own (its own σ, `relative` to its own std). Default false. */
  channelWise?: boolean;
  /** std times the image's (or channel's) std (torch's, Bessel-corrected). Default false. */
  relative?: boolean;
  /** σ drawn uniformly from [0, std) (default true), else σ = std. */
  sampleStd?: boolean;
}

/** A per-channel option of RandRicianNoise: its value for channel c of `channels`. */
function channelValue(v: number | readonly number[], option: string, c: number, channels: number, key: string, name: string): number {
  if (typeof v === 'number') return v;
  if (v.length !== channels) throw new Error(`${name}: key '${key}' has ${channels} channel(s), ${option} has ${v.length} values; give one number or one per channel`);
  return v[c]!;
}

/**
 * MONAI's `RandRicianNoised`: with probability `prob` (one u for the sample), √((x + n1)² + n2²) with n1, n2 two
 * fields of N(mean, σ²) noise (float32, as MONAI's). Each key draws its own noise: σ (uniform on [0, std) with
 * `sampleStd`), then n1's voxels, then n2's in C order: once for the whole image, or with `channelWise` for each
 * channel in turn.
 */
export class RandRicianNoise implements Transform {
  readonly #keys: string[];
  readonly #prob: number;
  readonly #mean: number | number[];
  readonly #std: number | number[];
  readonly #channelWise: boolean;
  readonly #relative: boolean;
  readonly #sampleStd: boolean;

  constructor(opts: RandRicianNoiseOptions) {
    const name = 'RandRicianNoise';
    this.#keys = keyList(opts.keys, name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
    this.#channelWise = opts.channelWise ?? false;
    const option = (v: number | readonly number[], label: string): number | number[] => {
      if (typeof v === 'number') return checkFinite(v, label, name);
      if (!this.#channelWise) throw new Error(`${name}: ${label} must be one number unless channelWise, got ${JSON.stringify(v)}`);
      if (!Array.isArray(v) || v.length === 0) throw new Error(`${name}: ${label} must be a number or a non-empty list of numbers, got ${JSON.stringify(v)}`);
      return v.map((x) => checkFinite(x, label, name));
    };
    this.#mean = option(opts.mean ?? 0, 'mean');
    this.#std = option(opts.std ?? 1, 'std');
    if ([this.#std].flat().some((s) => s < 0)) throw new Error(`${name}: std must be ≥ 0, got ${JSON.stringify(opts.std)}`);
    this.#relative = opts.relative ?? false;
    this.#sampleStd = opts.sampleStd ?? true;
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const name = 'RandRicianNoise';
    const r = drawGate(data, this.#keys, rng, this.#prob, name);
    if (r === null) return data;
    const noisy = (values: Float32Array, mean: number, std: number): Float64Array => {
      const sigma = this.#sampleStd ? r.uniform(0, std) : std;
      const n1 = new Float32Array(values.length), n2 = new Float32Array(values.length);
      for (let i = 0; i < n1.length; i++) n1[i] = mean + sigma * r.normal();
      for (let i = 0; i < n2.length; i++) n2[i] = mean + sigma * r.normal();
      const out = new Float64Array(values.length);
      for (let i = 0; i < out.length; i++) out[i] = Math.hypot(values[i]! + n1[i]!, n2[i]!);
      return out;
    };
    return withVolumes(data, this.#keys, this.#keys.map((key) => {
      const { image, channels } = readImageChannels(data, key, name);
      if (!this.#channelWise) {
        const std = (this.#std as number) * (this.#relative ? meanStd(image.data)[1] : 1);
        return { data: Float32Array.from(noisy(image.data, this.#mean as number, std)), shape: [...image.shape] } as FloatImage;
      }
      return fromChannels(image, channels.map((values, c) => {
        const mean = channelValue(this.#mean, 'mean', c, channels.length, key, name);
        const std = channelValue(this.#std, 'std', c, channels.length, key, name) * (this.#relative ? meanStd(values)[1] : 1);
        return noisy(values, mean, std);
      }));
    }));
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Coarse dropout and shuffling

/** A box of a volume: its first voxel and its size per axis. */
interface Hole { start: Shape3; size: Shape3 }

export interface RandCoarseOptions {
  keys: string | readonly string[];
  /** The number of regions (≥ 1), or the least number when `maxHoles` is given. */
  holes: number;
  /** The regions' size (or their least size with `maxSpatialSize`); an entry ≤ 0 takes the image's size on that axis. */
  spatialSize: SpatialSize;
  /** The most regions: their number is drawn from [holes, maxHoles]. Default: exactly `holes`. */
  maxHoles?: number | null;
  /** The largest size: each region's size is drawn per axis from [spatialSize, maxSpatialSize] (≤ 0: the image's size). */
  maxSpatialSize?: SpatialSize | null;
  /** Default 0.1. */
  prob?: number;
}

/** The checked options of the coarse transforms and MONAI's `RandCoarseTransform.randomize`. */
class CoarseHoles {
  readonly keys: string[];
  readonly prob: number;
  readonly #holes: number;
  readonly #maxHoles: number | null;
  readonly #size: Shape3;
  readonly #maxSize: Shape3 | null;

  constructor(opts: RandCoarseOptions, readonly name: string) {
    this.keys = keyList(opts.keys, name);
    if (!(Number.isInteger(opts.holes) && opts.holes >= 1)) throw new Error(`${name}: holes must be an integer ≥ 1, got ${opts.holes}`);
    this.#holes = opts.holes;
    const maxHoles = opts.maxHoles ?? null;
    if (maxHoles !== null && !(Number.isInteger(maxHoles) && maxHoles >= opts.holes)) throw new Error(`${name}: maxHoles must be an integer ≥ holes (${opts.holes}), got ${maxHoles}`);
    this.#maxHoles = maxHoles;
    this.#size = checkSpatialSize(opts.spatialSize, 'spatialSize', name);
    this.#maxSize = opts.maxSpatialSize === undefined || opts.maxSpatialSize === null ? null : checkSpatialSize(opts.maxSpatialSize, 'maxSpatialSize', name);
    this.prob = checkProb(opts.prob ?? 0.1, name);
  }

  /**
   * The images under the keys (one spatial shape for all, as the regions are drawn once), then u < prob, then the
   * regions: their number (when `maxHoles`), then for each its size per axis (when `maxSpatialSize`; each region from
   * [spatialSize, maxSpatialSize], as MONAI's documentation says — its code narrows the range to the previous region's
   * size) and its corner per axis (uniform where the region is smaller than the image, else 0). Null when u ≥ prob.
   */
  draw(data: object, rng: Rng | undefined): { r: Rng; holes: Hole[]; images: ImageChannels[] } | null {
    const images = this.keys.map((k) => readImageChannels(data, k, this.name)), shape = images[0]!.shape;
    images.forEach((im, i) => {
      if (im.shape.some((s, a) => s !== shape[a])) {
        throw new Error(`${this.name}: key '${this.keys[i]}' has spatial shape [${im.shape.join(', ')}], key '${this.keys[0]}' has [${shape.join(', ')}]; the regions are drawn once for every key`);
      }
    });
    const r = requireRng(rng, this.name);
    if (!(r.random() < this.prob)) return null;
    const min = resolveSize(this.#size, shape), max = this.#maxSize === null ? null : resolveSize(this.#maxSize, shape);
    if (max !== null && max.some((m, a) => m < min[a]!)) {
      throw new Error(`${this.name}: maxSpatialSize [${max.join(', ')}] is below spatialSize [${min.join(', ')}] on some axis (for spatial shape [${shape.join(', ')}])`);
    }
    const count = this.#maxHoles === null ? this.#holes : r.intIn(this.#holes, this.#maxHoles);
    const holes: Hole[] = [];
    for (let h = 0; h < count; h++) {
      const drawn = max === null ? min : min.map((m, a) => r.intIn(m, max[a]!)) as Shape3;
      const size = drawn.map((s, a) => Math.min(s, shape[a]!)) as Shape3;
      const start = size.map((s, a) => (shape[a]! > s ? r.int(shape[a]! - s + 1) : 0)) as Shape3;
      holes.push({ start, size });
    }
    return { r, holes, images };
  }
}

/** Calls f with the flat index (within one channel) of every voxel of a box, in C order. */
function forEachInHole(shape: Readonly<Shape3>, hole: Hole, f: (index: number) => void): void {
  const { start, size } = hole;
  for (let x = start[0]; x < start[0] + size[0]; x++) {
    for (let y = start[1]; y < start[1] + size[1]; y++) {
      for (let z = start[2]; z < start[2] + size[2]; z++) f(voxelIndex(shape, x, y, z));
    }
  }
}

export interface RandCoarseDropoutOptions extends RandCoarseOptions {
  /** Fill the regions (default true), or keep them and fill everything else. */
  dropoutHoles?: boolean;
  /** A constant, or [min, max) to draw each voxel's value from; default null: the image's [min, max). */
  fillValue?: number | readonly [number, number] | null;
}

/**
 * MONAI's `RandCoarseDropoutd`: with probability `prob`, boxes drawn once for all keys (see the coarse options) are
 * filled with `fillValue` in every channel, or with `dropoutHoles` false everything but the boxes is. A range fill
 * draws each key's values after the boxes, uniformly in C order over [C, box] (for every box in turn), or over the
 * whole [C, X, Y, Z] image when the outside is filled.
 */
export class RandCoarseDropout implements Transform {
  readonly #holes: CoarseHoles;
  readonly #dropoutHoles: boolean;
  readonly #fill: number | [number, number] | null;

  constructor(opts: RandCoarseDropoutOptions) {
    const name = 'RandCoarseDropout';
    this.#holes = new CoarseHoles(opts, name);
    this.#dropoutHoles = opts.dropoutHoles ?? true;
    const f = opts.fillValue ?? null;
    if (Array.isArray(f)) {
      if (!(f.length === 2 && f.every((v) => typeof v === 'number' && Number.isFinite(v)))) throw new Error(`${name}: fillValue must be a number, [min, max] or null, got ${JSON.stringify(f)}`);
      this.#fill = [f[0]!, f[1]!];
    } else this.#fill = f === null ? null : checkFinite(f as number, 'fillValue', name);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const drawn = this.#holes.draw(data, rng);
    if (drawn === null) return data;
    const { r, holes, images } = drawn;
    return withVolumes(data, this.#holes.keys, images.map(({ image, channels, shape }) => {
      let fill = this.#fill;
      if (fill === null) {
        fill = minMax(image.data);
      }
      const value = typeof fill === 'number' ? () => fill : () => r.uniform(fill[0], fill[1]);
      const n = channels[0]!.length;
      if (this.#dropoutHoles) {
        const out = Float32Array.from(image.data);
        for (const hole of holes) channels.forEach((_, c) => forEachInHole(shape, hole, (i) => { out[c * n + i] = value(); }));
        return { data: out, shape: [...image.shape] } as FloatImage;
      }
      const out = Float32Array.from({ length: image.data.length }, value);
      for (const hole of holes) channels.forEach((values, c) => forEachInHole(shape, hole, (i) => { out[c * n + i] = values[i]!; }));
      return { data: out, shape: [...image.shape] } as FloatImage;
    }));
  }
}

/**
 * MONAI's `RandCoarseShuffled`: with probability `prob`, boxes drawn once for all keys (see the coarse options), and
 * each key's voxels within each box shuffled, each channel on its own (a Fisher–Yates shuffle of the box's values in
 * C order, as numpy's; for every key, box and channel in that order).
 */
export class RandCoarseShuffle implements Transform {
  readonly #holes: CoarseHoles;

  constructor(opts: RandCoarseOptions) {
    this.#holes = new CoarseHoles(opts, 'RandCoarseShuffle');
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const drawn = this.#holes.draw(data, rng);
    if (drawn === null) return data;
    const { r, holes, images } = drawn;
    return withVolumes(data, this.#holes.keys, images.map(({ image, channels, shape }) => {
      const out = Float32Array.from(image.data), n = channels[0]!.length;
      for (const hole of holes) {
        channels.forEach((_, c) => {
          const places: number[] = [];
          forEachInHole(shape, hole, (i) => places.push(c * n + i));
          const values = r.shuffle(places.map((i) => out[i]!));
          places.forEach((i, j) => { out[i] = values[j]!; });
        });
      }
      return { data: out, shape: [...image.shape] } as FloatImage;
    }));
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Histogram normalization

export interface HistogramNormalizeOptions {
  keys: string | readonly string[];
  /** The histogram's bins. Default 256. */
  numBins?: number;
  /** The output range [min, max]. Defaults 0 and 255. */
  min?: number;
  max?: number;
  /** Only the voxels where a mask is nonzero make the histogram: a fixed volume ([X, Y, Z] for every channel or [C, X, Y, Z]). */
  mask?: SpatialVolume | null;
  /** Or the key of the sample holding the mask (used when `mask` is not given). */
  maskKey?: string | null;
}

/**
 * numpy's `histogram(values, bins)`: equal bins over [min, max] of the values ([v − 0.5, v + 0.5] when they are all v),
 * the last bin closed; the counts and the bins' centres.
 */
function histogram(values: ArrayLike<number>, bins: number): { counts: Float64Array; centres: Float64Array } {
  let [lo, hi] = minMax(values);
  if (lo === hi) { lo -= 0.5; hi += 0.5; }
  // numpy's linspace edges (start + i·step, the last one exactly hi) and its bin index ((v − lo)/(hi − lo))·bins
  const step = (hi - lo) / bins, edges = Float64Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : i * step + lo));
  const counts = new Float64Array(bins);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let b = Math.min(Math.floor(((v - lo) / (hi - lo)) * bins), bins - 1);
    // numpy's correction of the computed bin against the edges themselves
    if (v < edges[b]!) b--;
    else if (b < bins - 1 && v >= edges[b + 1]!) b++;
    counts[b]!++;
  }
  return { counts, centres: Float64Array.from({ length: bins }, (_, i) => (edges[i]! + edges[i + 1]!) / 2) };
}

/**
 * MONAI's `equalize_hist`: the image's values (all channels; only the masked ones with a mask) binned, the cumulative
 * counts rescaled to [min, max] (MONAI's `rescale_array`: constant counts become count · min), and every voxel mapped
 * by piecewise-linear interpolation through (bin centre, rescaled count), constant beyond the first and last centres.
 */
function equalizeHistogram(values: Float32Array, selected: ArrayLike<number>, bins: number, min: number, max: number): Float64Array {
  const { counts, centres } = histogram(selected, bins);
  for (let i = 1; i < bins; i++) counts[i]! += counts[i - 1]!;
  const c0 = counts[0]!, c1 = counts[bins - 1]!;
  const cum = counts.map((c) => (c0 === c1 ? c * min : ((c - c0) / (c1 - c0)) * (max - min) + min));
  const first = centres[0]!, last = centres[bins - 1]!, width = bins > 1 ? centres[1]! - first : 1;
  return Float64Array.from(values, (x) => {
    if (x <= first) return cum[0]!;
    if (x >= last) return cum[bins - 1]!;
    // the centres are equally spaced: the segment holding x by its offset (moved by one where rounding put it past an end)
    let j = Math.min(Math.floor((x - first) / width), bins - 2);
    if (x < centres[j]!) j--;
    else if (x > centres[j + 1]!) j++;
    return cum[j]! + ((cum[j + 1]! - cum[j]!) * (x - centres[j]!)) / (centres[j + 1]! - centres[j]!);
  });
}

/**
 * MONAI's `HistogramNormalized`: histogram equalization of each image (all its channels together) onto [min, max],
 * the histogram made of the masked voxels when a mask is given (a one-channel mask applies to every channel).
 */
export class HistogramNormalize implements Transform {
  readonly #keys: string[];
  readonly #bins: number;
  readonly #min: number;
  readonly #max: number;
  readonly #mask: SpatialVolume | null;
  readonly #maskKey: string | null;

  constructor(opts: HistogramNormalizeOptions) {
    const name = 'HistogramNormalize';
    this.#keys = keyList(opts.keys, name);
    this.#bins = opts.numBins ?? 256;
    if (!(Number.isInteger(this.#bins) && this.#bins >= 1)) throw new Error(`${name}: numBins must be an integer ≥ 1, got ${opts.numBins}`);
    this.#min = checkFinite(opts.min ?? 0, 'min', name);
    this.#max = checkFinite(opts.max ?? 255, 'max', name);
    this.#mask = opts.mask ?? null;
    if (this.#mask !== null) readChannels({ mask: this.#mask }, 'mask', name);
    this.#maskKey = this.#mask === null ? opts.maskKey ?? null : null;
    if (this.#maskKey !== null && !(typeof this.#maskKey === 'string' && this.#maskKey.length > 0)) throw new Error(`${name}: maskKey must be a non-empty key, got ${JSON.stringify(this.#maskKey)}`);
  }

  apply<T extends object>(data: T): T {
    const name = 'HistogramNormalize';
    const mask = this.#mask !== null ? readChannels({ mask: this.#mask }, 'mask', name) : this.#maskKey !== null ? readChannels(data, this.#maskKey, name) : null;
    const what = this.#maskKey === null ? 'the mask' : `the mask '${this.#maskKey}'`;
    return withVolumes(data, this.#keys, this.#keys.map((k) => {
      const { image, channels, shape } = readImageChannels(data, k, name);
      let selected: ArrayLike<number> = image.data;
      if (mask !== null) {
        if (shape.some((s, a) => s !== mask.shape[a])) throw new Error(`${name}: ${what} has spatial shape [${mask.shape.join(', ')}], key '${k}' has [${shape.join(', ')}]`);
        if (mask.channels.length !== 1 && mask.channels.length !== channels.length) {
          throw new Error(`${name}: ${what} has ${mask.channels.length} channels, key '${k}' has ${channels.length}; a mask has one channel or as many as the image`);
        }
        const picked: number[] = [];
        channels.forEach((values, c) => {
          const m = mask.channels[mask.channels.length === 1 ? 0 : c]!.data;
          for (let i = 0; i < values.length; i++) if (m[i] !== 0) picked.push(values[i]!);
        });
        if (picked.length === 0) throw new Error(`${name}: ${what} selects no voxel of key '${k}'; the histogram would be empty`);
        selected = picked;
      }
      return { data: Float32Array.from(equalizeHistogram(image.data, selected, this.#bins, this.#min, this.#max)), shape: [...image.shape] } as FloatImage;
    }));
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Median and Savitzky–Golay smoothing

export interface MedianSmoothOptions {
  keys: string | readonly string[];
  /** The window's radius, one for the three axes or [rx, ry, rz] (integers ≥ 0): a (2r + 1)-voxel window per axis. Default 1. */
  radius?: number | readonly [number, number, number];
}

/** MONAI's `MedianSmoothd`: each channel's voxel the median of its window, the edges padded by replication (MONAI's median_filter). */
export class MedianSmooth implements Transform {
  readonly #keys: string[];
  readonly #radius: Shape3;

  constructor(opts: MedianSmoothOptions) {
    const name = 'MedianSmooth';
    this.#keys = keyList(opts.keys, name);
    const r = opts.radius ?? 1;
    const list = typeof r === 'number' ? [r, r, r] : Array.isArray(r) && r.length === 3 ? [...r] : null;
    if (!list || !list.every((v) => Number.isInteger(v) && v >= 0)) throw new Error(`${name}: radius must be an integer ≥ 0 or three of them, got ${JSON.stringify(r)}`);
    this.#radius = list as Shape3;
  }

  apply<T extends object>(data: T): T {
    const [rx, ry, rz] = this.#radius;
    return mapEachChannel(data, this.#keys, 'MedianSmooth', (values, shape) => {
      const [X, Y, Z] = shape, out = new Float32Array(values.length);
      const window = new Float32Array((2 * rx + 1) * (2 * ry + 1) * (2 * rz + 1)), mid = (window.length - 1) / 2;
      const clamp = (v: number, n: number) => (v < 0 ? 0 : v >= n ? n - 1 : v);
      for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
        let w = 0;
        for (let i = -rx; i <= rx; i++) for (let j = -ry; j <= ry; j++) for (let l = -rz; l <= rz; l++) window[w++] = values[voxelIndex(shape, clamp(x + i, X), clamp(y + j, Y), clamp(z + l, Z))]!;
        out[voxelIndex(shape, x, y, z)] = window.sort()[mid]!;
      }
      return out;
    });
  }
}

/** How SavitzkyGolaySmooth pads an axis (torch's padding modes). */
export type SavitzkyGolayPadMode = 'zeros' | 'reflect' | 'replicate' | 'circular';
const SG_MODES: readonly SavitzkyGolayPadMode[] = ['zeros', 'reflect', 'replicate', 'circular'];

export interface SavitzkyGolaySmoothOptions {
  keys: string | readonly string[];
  /** The window's length, odd. */
  windowLength: number;
  /** The fitted polynomial's order, below windowLength. */
  order: number;
  /** The axis, MONAI's numbering with the channel first: 1 = x (the default), 2 = y, 3 = z. */
  axis?: number;
  /** The padding beyond the ends: 'zeros' (the default), 'reflect' (mirrored without the edge), 'replicate' or 'circular'. */
  mode?: SavitzkyGolayPadMode;
}

/**
 * The Savitzky–Golay smoothing weights of a window: the value at the centre of the least-squares polynomial of the
 * given order through the window, c = Aᵀ(A Aᵀ)⁻¹ e₀ with A[p][j] = t_j^p, t_j = half − j (MONAI's minimum-norm lstsq
 * solution of A c = e₀), in float64.
 */
export function savitzkyGolayCoefficients(windowLength: number, order: number): Float64Array {
  const half = (windowLength - 1) / 2, p = order + 1;
  const a = Array.from({ length: p }, (_, i) => Array.from({ length: windowLength }, (_, j) => (half - j) ** i));
  // the Gram matrix A Aᵀ augmented with e₀, solved by Gauss–Jordan elimination with partial pivoting
  const g = a.map((row, i) => [...a.map((other) => row.reduce((s, v, j) => s + v * other[j]!, 0)), i === 0 ? 1 : 0]);
  for (let col = 0; col < p; col++) {
    let pivot = col;
    for (let r = col + 1; r < p; r++) if (Math.abs(g[r]![col]!) > Math.abs(g[pivot]![col]!)) pivot = r;
    [g[col], g[pivot]] = [g[pivot]!, g[col]!];
    for (let r = 0; r < p; r++) {
      if (r === col) continue;
      const f = g[r]![col]! / g[col]![col]!;
      for (let c = col; c <= p; c++) g[r]![c]! -= f * g[col]![c]!;
    }
  }
  const u = g.map((row, i) => row[p]! / row[i]!);
  return Float64Array.from({ length: windowLength }, (_, j) => u.reduce((s, ui, i) => s + ui * a[i]![j]!, 0));
}

/**
 * MONAI's `SavitzkyGolaySmoothd`: each channel filtered along one axis by the Savitzky–Golay weights (a polynomial
 * least-squares fit over the window, evaluated at its centre), the ends padded by `mode`.
 */
export class SavitzkyGolaySmooth implements Transform {
  readonly #keys: string[];
  readonly #coeffs: Float64Array;
  readonly #axis: 0 | 1 | 2;
  readonly #mode: SavitzkyGolayPadMode;

  constructor(opts: SavitzkyGolaySmoothOptions) {
    const name = 'SavitzkyGolaySmooth';
    this.#keys = keyList(opts.keys, name);
    const { windowLength, order } = opts;
    if (!(Number.isInteger(windowLength) && windowLength >= 1 && windowLength % 2 === 1)) throw new Error(`${name}: windowLength must be a positive odd integer, got ${windowLength}`);
    if (!(Number.isInteger(order) && order >= 0 && order < windowLength)) throw new Error(`${name}: order must be an integer in [0, windowLength), got ${order}`);
    const axis = opts.axis ?? 1;
    if (!(axis === 1 || axis === 2 || axis === 3)) throw new Error(`${name}: axis must be 1, 2 or 3 (the spatial axes x, y, z; 0 is the channel), got ${axis}`);
    this.#axis = (axis - 1) as 0 | 1 | 2;
    const mode = opts.mode ?? 'zeros';
    if (!SG_MODES.includes(mode)) throw new Error(`${name}: mode must be 'zeros', 'reflect', 'replicate' or 'circular', got ${JSON.stringify(mode)}`);
    this.#mode = mode;
    this.#coeffs = savitzkyGolayCoefficients(windowLength, order);
  }

  apply<T extends object>(data: T): T {
    const name = 'SavitzkyGolaySmooth', k = this.#coeffs, half = (k.length - 1) / 2, axis = this.#axis, mode = this.#mode;
    return mapEachChannel(data, this.#keys, name, (values, shape) => {
      const len = shape[axis];
      if ((mode === 'reflect' && half >= len) || (mode === 'circular' && half > len)) {
        throw new Error(`${name}: the window's half length ${half} is too long for '${mode}' padding of an axis of ${len} voxels`);
      }
      // the index a padded position reads, or −1 for a zero
      const source = (i: number): number => {
        if (i >= 0 && i < len) return i;
        if (mode === 'zeros') return -1;
        if (mode === 'replicate') return i < 0 ? 0 : len - 1;
        if (mode === 'circular') return ((i % len) + len) % len;
        return i < 0 ? -i : 2 * (len - 1) - i;
      };
      const stride = axis === 2 ? 1 : axis === 1 ? shape[2] : shape[1] * shape[2];
      const out = new Float64Array(values.length);
      for (let base = 0; base < values.length; base++) {
        const i = Math.floor(base / stride) % len, lineStart = base - i * stride;
        let acc = 0;
        for (let j = 0; j < k.length; j++) {
          const s = source(i + j - half);
          if (s >= 0) acc += k[j]! * values[lineStart + s * stride]!;
        }
        out[base] = acc;
      }
      return out;
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Std-relative shifts and mean-preserving scaling

export interface StdShiftIntensityOptions {
  keys: string | readonly string[];
  /** v + factor · std(v). */
  factor: number;
  /** Only the nonzero voxels make the std and are shifted. Default false. */
  nonzero?: boolean;
  /** The std of each channel on its own. Default false. */
  channelWise?: boolean;
}

/** MONAI's StdShiftIntensity on some values: v + factor · std(v) (population std) over the selected (nonzero) ones. */
function stdShift(values: Float32Array, factor: number, nonzero: boolean): Float64Array {
  const out = Float64Array.from(values);
  let n = 0, sum = 0;
  for (const v of values) if (!nonzero || v !== 0) { n++; sum += v; }
  if (n === 0) return out;
  const mean = sum / n;
  let sq = 0;
  for (const v of values) if (!nonzero || v !== 0) sq += (v - mean) ** 2;
  const offset = factor * Math.sqrt(sq / n);
  for (let i = 0; i < out.length; i++) if (!nonzero || out[i] !== 0) out[i]! += offset;
  return out;
}

/**
 * MONAI's `StdShiftIntensityd`: v + factor · std(v), the population std of the whole image or with `channelWise` of
 * each channel, of the nonzero voxels only with `nonzero` (then only they move; an all-zero image stays).
 */
export class StdShiftIntensity implements Transform {
  readonly #keys: string[];
  readonly #factor: number;
  readonly #nonzero: boolean;
  readonly #channelWise: boolean;

  constructor(opts: StdShiftIntensityOptions) {
    const name = 'StdShiftIntensity';
    this.#keys = keyList(opts.keys, name);
    this.#factor = checkFinite(opts.factor, 'factor', name);
    this.#nonzero = opts.nonzero ?? false;
    this.#channelWise = opts.channelWise ?? false;
  }

  apply<T extends object>(data: T): T {
    return mapWholeOrChannels(data, this.#keys, 'StdShiftIntensity', this.#channelWise, (values) => stdShift(values, this.#factor, this.#nonzero));
  }
}

export interface RandStdShiftIntensityOptions {
  keys: string | readonly string[];
  /** f draws the factor from [−f, f], a pair [a, b] from [min, max]. */
  factors: number | readonly [number, number];
  /** Default 0.1. */
  prob?: number;
  /** As StdShiftIntensity's. Default false. */
  nonzero?: boolean;
  /** As StdShiftIntensity's. Default false. */
  channelWise?: boolean;
}

/**
 * A random transform of one factor (MONAI's random shift and scale of the intensities): u < prob, then the factor
 * uniform on its range, once for all keys, then the transform `make` builds of it.
 */
class RandFactorTransform implements Transform {
  readonly #keys: string[];
  readonly #range: [number, number];
  readonly #prob: number;

  constructor(opts: { keys: string | readonly string[]; factors: number | readonly [number, number]; prob?: number }, readonly name: string,
    readonly make: (keys: string[], factor: number) => SampleTransform) {
    this.#keys = keyList(opts.keys, name);
    this.#range = factorRange(opts.factors, 'factors', name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const r = drawGate(data, this.#keys, rng, this.#prob, this.name);
    if (r === null) return data;
    return this.make(this.#keys, r.uniform(this.#range[0], this.#range[1])).apply(data);
  }
}

/** MONAI's `RandStdShiftIntensityd`: with probability `prob`, StdShiftIntensity with the factor drawn once for all keys (u < prob, then the factor). */
export class RandStdShiftIntensity extends RandFactorTransform {
  constructor(opts: RandStdShiftIntensityOptions) {
    const { nonzero = false, channelWise = false } = opts;
    super(opts, 'RandStdShiftIntensity', (keys, factor) => new StdShiftIntensity({ keys, factor, nonzero, channelWise }));
  }
}

export interface ScaleIntensityFixedMeanOptions {
  keys: string | readonly string[];
  /** v · (1 + factor) about the mean. Default 0. */
  factor?: number;
  /** Scale about the image's mean, which stays (default true), else about 0. */
  fixedMean?: boolean;
  /** Clip the result to the input's [min, max]. Default false. */
  preserveRange?: boolean;
  /** The mean and range of each channel on its own. Default false. */
  channelWise?: boolean;
}

/** (v − mean)·(1 + factor) + mean of some values (mean 0 unless `fixedMean`), clipped to their [min, max] with `preserveRange`. */
function scaleAboutMean(d: Float32Array, factor: number, fixedMean: boolean, preserveRange: boolean): Float64Array {
  let sum = 0, lo = Infinity, hi = -Infinity;
  for (const v of d) { sum += v; lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const mean = fixedMean ? sum / d.length : 0;
  return Float64Array.from(d, (v) => {
    const y = (v - mean) * (1 + factor) + mean;
    return preserveRange ? Math.min(Math.max(y, lo), hi) : y;
  });
}

/**
 * MONAI's `ScaleIntensityFixedMean` (an array transform in MONAI, here in dictionary form): (v − mean)·(1 + factor) +
 * mean over the whole image or with `channelWise` each channel, so the mean stays, optionally clipped to the input's
 * range.
 */
export class ScaleIntensityFixedMean implements Transform {
  readonly #keys: string[];
  readonly #factor: number;
  readonly #fixedMean: boolean;
  readonly #preserveRange: boolean;
  readonly #channelWise: boolean;

  constructor(opts: ScaleIntensityFixedMeanOptions) {
    const name = 'ScaleIntensityFixedMean';
    this.#keys = keyList(opts.keys, name);
    this.#factor = checkFinite(opts.factor ?? 0, 'factor', name);
    this.#fixedMean = opts.fixedMean ?? true;
    this.#preserveRange = opts.preserveRange ?? false;
    this.#channelWise = opts.channelWise ?? false;
  }

  apply<T extends object>(data: T): T {
    return mapWholeOrChannels(data, this.#keys, 'ScaleIntensityFixedMean', this.#channelWise,
      (values) => scaleAboutMean(values, this.#factor, this.#fixedMean, this.#preserveRange));
  }
}

export interface RandScaleIntensityFixedMeanOptions {
  keys: string | readonly string[];
  /** f draws the factor from [−f, f], a pair [a, b] from [min, max]. */
  factors: number | readonly [number, number];
  /** As ScaleIntensityFixedMean's. Default true. */
  fixedMean?: boolean;
  /** As ScaleIntensityFixedMean's. Default false. */
  preserveRange?: boolean;
  /** Default 0.1. */
  prob?: number;
}

/**
 * MONAI's `RandScaleIntensityFixedMeand`: with probability `prob`, ScaleIntensityFixedMean over each whole image (all
 * channels: MONAI's random form does not pass channel_wise on) with the factor drawn once for all keys (u < prob, then it).
 */
export class RandScaleIntensityFixedMean extends RandFactorTransform {
  constructor(opts: RandScaleIntensityFixedMeanOptions) {
    const { fixedMean = true, preserveRange = false } = opts;
    super(opts, 'RandScaleIntensityFixedMean', (keys, factor) => new ScaleIntensityFixedMean({ keys, factor, fixedMean, preserveRange }));
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Foreground mask

/** A threshold of ForegroundMask: a number, skimage's 'otsu' or 'mean' of the channel, or a function of the channel's values. */
export type ForegroundThreshold = number | 'otsu' | 'mean' | ((values: Float32Array) => number);
/** Thresholds by colour channel: red, green, blue of the image, or hue, saturation, value of its HSV form. */
export type ForegroundThresholds = Partial<Record<'R' | 'G' | 'B' | 'H' | 'S' | 'V', ForegroundThreshold | null>>;

export interface ForegroundMaskOptions {
  keys: string | readonly string[];
  /** Foreground where a channel is ≤ its threshold: one for R, G and B, or by channel. Default 'otsu'; null for none. */
  threshold?: ForegroundThreshold | ForegroundThresholds | null;
  /** Foreground where H, S or V is > its threshold (the image is RGB, 3 channels): one for all three, or by channel. Default null. */
  hsvThreshold?: ForegroundThreshold | ForegroundThresholds | null;
  /** Use 1 − x (skimage's invert of a float image) for images whose foreground is bright. Default false. */
  invert?: boolean;
  /** Write the mask to prefix + key instead of replacing the image. Default null. */
  newKeyPrefix?: string | null;
}

/**
 * skimage's `threshold_otsu` (256 bins, numpy's histogram over the values' range): the bin centre that maximizes the
 * between-class variance; the value itself for a constant channel.
 */
export function thresholdOtsu(values: ArrayLike<number>, bins = 256): number {
  if (values.length === 0) throw new Error('thresholdOtsu: no values');
  let constant = true;
  for (let i = 1; i < values.length && constant; i++) constant = values[i] === values[0];
  if (constant) return values[0]!;
  const { counts, centres } = histogram(values, bins);
  const w1 = new Float64Array(bins), m1 = new Float64Array(bins), w2 = new Float64Array(bins), m2 = new Float64Array(bins);
  for (let i = 0, w = 0, s = 0; i < bins; i++) { w += counts[i]!; s += counts[i]! * centres[i]!; w1[i] = w; m1[i] = s / w; }
  for (let i = bins - 1, w = 0, s = 0; i >= 0; i--) { w += counts[i]!; s += counts[i]! * centres[i]!; w2[i] = w; m2[i] = s / w; }
  let best = -Infinity, at = 0;
  for (let i = 0; i < bins - 1; i++) {
    const v = w1[i]! * w2[i + 1]! * (m1[i]! - m2[i + 1]!) ** 2;
    // numpy's argmax: the first maximum (no side is ever empty: the first bin holds the minimum, the last the maximum)
    if (v > best) { best = v; at = i; }
  }
  return centres[at]!;
}

/** skimage's `rgb2hsv` of one voxel: hue in [0, 1), saturation and value (max of r, g, b). */
function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const v = Math.max(r, g, b), delta = v - Math.min(r, g, b);
  if (delta === 0) return [0, 0, v];
  // as skimage assigns: red, then green, then blue where each is the maximum (the last one wins a tie)
  let h = b === v ? 4 + (r - g) / delta : g === v ? 2 + (b - r) / delta : (g - b) / delta;
  h = (((h / 6) % 1) + 1) % 1;
  return [h, delta / v, v];
}

const RGB = ['R', 'G', 'B'] as const, HSV = ['H', 'S', 'V'] as const;

/**
 * MONAI's `ForegroundMaskd` (for RGB or grey images, foreground dark by default): a [1, X, Y, Z] float mask (or [X, Y,
 * Z] for a volume [X, Y, Z]), 1 where the voxel is foreground: any of R, G, B (the image's channels 0, 1, 2, as many as
 * it has) ≤ its threshold and, with HSV thresholds, any of H, S, V > its threshold. As MONAI's, a threshold that is 0
 * is skipped (it tests the threshold's truth), and at least one threshold must be set.
 */
export class ForegroundMask implements Transform {
  readonly #keys: string[];
  readonly #thresholds: ForegroundThresholds;
  readonly #invert: boolean;
  readonly #prefix: string | null;

  constructor(opts: ForegroundMaskOptions) {
    const name = 'ForegroundMask';
    this.#keys = keyList(opts.keys, name);
    const thresholds: ForegroundThresholds = {};
    const set = (v: ForegroundThreshold | ForegroundThresholds | null | undefined, modes: readonly string[]) => {
      if (v === null || v === undefined) return;
      const entries: [string, unknown][] = typeof v === 'object' ? Object.entries(v).map(([m, t]) => [m.toUpperCase(), t]) : modes.map((m) => [m, v]);
      for (const [mode, t] of entries) {
        if (!'RGBHSV'.includes(mode) || mode.length !== 1) throw new Error(`${name}: threshold channels are R, G, B, H, S and V, got '${mode}'`);
        if (t === null || t === undefined) continue;
        if (!(typeof t === 'function' || t === 'otsu' || t === 'mean' || (typeof t === 'number' && Number.isFinite(t)))) {
          throw new Error(`${name}: a threshold is a finite number, 'otsu', 'mean' or a function (values) => number, got ${JSON.stringify(t)} for ${mode}`);
        }
        thresholds[mode as keyof ForegroundThresholds] = t as ForegroundThreshold;
      }
    };
    set(opts.threshold === undefined ? 'otsu' : opts.threshold, RGB);
    set(opts.hsvThreshold, HSV);
    if (Object.keys(thresholds).length === 0) throw new Error(`${name}: set a threshold for at least one of R, G, B, H, S or V`);
    this.#thresholds = thresholds;
    this.#invert = opts.invert ?? false;
    const prefix = opts.newKeyPrefix ?? null;
    if (prefix !== null && typeof prefix !== 'string') throw new Error(`${name}: newKeyPrefix must be a string or null, got ${JSON.stringify(prefix)}`);
    this.#prefix = prefix;
  }

  apply<T extends object>(data: T): T {
    const name = 'ForegroundMask';
    const masks = this.#keys.map((k) => {
      const { image, channels, shape } = readImageChannels(data, k, name);
      const cs = this.#invert ? channels.map((c) => c.map((x) => 1 - x)) : channels;
      const n = cs[0]!.length, groups: Uint8Array[] = [];
      const level = (mode: keyof ForegroundThresholds, values: Float32Array): number => {
        const t = this.#thresholds[mode]!;
        if (typeof t === 'number') return t;
        if (t === 'otsu') return thresholdOtsu(values);
        if (t === 'mean') return values.reduce((s, x) => s + x, 0) / values.length;
        return t(values);
      };
      const collect = (modes: readonly (keyof ForegroundThresholds)[], values: readonly Float32Array[], test: (x: number, t: number) => boolean) => {
        const fg = new Uint8Array(n);
        values.forEach((v, c) => {
          const mode = modes[c];
          if (mode === undefined || this.#thresholds[mode] === undefined) return;
          const t = level(mode, v);
          if (!t) return;
          for (let i = 0; i < n; i++) if (test(v[i]!, t)) fg[i] = 1;
        });
        groups.push(fg);
      };
      if (RGB.some((m) => m in this.#thresholds)) collect(RGB, cs, (x, t) => x <= t);
      if (HSV.some((m) => m in this.#thresholds)) {
        if (cs.length !== 3) throw new Error(`${name}: HSV thresholds need an RGB image of 3 channels; key '${k}' has ${cs.length}`);
        const hsv = HSV.map(() => new Float32Array(n));
        for (let i = 0; i < n; i++) {
          const [h, s, v] = rgbToHsv(cs[0]![i]!, cs[1]![i]!, cs[2]![i]!);
          hsv[0]![i] = h; hsv[1]![i] = s; hsv[2]![i] = v;
        }
        collect(HSV, hsv, (x, t) => x > t);
      }
      const out = Float32Array.from({ length: n }, (_, i) => (groups.every((g) => g[i] === 1) ? 1 : 0));
      return { data: out, shape: image.shape.length === 4 ? [1, ...shape] : [...shape] } as FloatImage;
    });
    if (this.#prefix === null) return withVolumes(data, this.#keys, masks);
    return withVolumes(data, this.#keys.map((k) => this.#prefix + k), masks);
  }
}
