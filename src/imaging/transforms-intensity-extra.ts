/**
 * More of MONAI's intensity transforms (dictionary form) on float images [X, Y, Z] or channel-first [C, X, Y, Z]: the
 * MRI artefacts in k-space (Gibbs ringing, spikes) and Rician noise, coarse dropout and shuffling, histogram
 * normalization, median and Savitzky–Golay smoothing, std-relative shifts and mean-preserving scaling. Computed in
 * float64 and rounded once to float32 (MONAI computes in float32, so values agree within float32 rounding).
 *
 * Random transforms draw from the `Rng` given to `apply`, in MONAI's order: first u < prob for the whole sample
 * (MONAI's dictionary transform's own draw; the prob-1 draw of the array transform it wraps is not repeated), then
 * the parameters, one draw for every key unless a transform's comment says each key draws its own.
 */
import { fftn, fftshift, ifftn, type ComplexArray } from './fft.js';
import type { Rng } from './random.js';
import {
  checkFinite, checkProb, keyList, readImage, requireRng, withVolumes, type FloatImage, type Transform,
} from './transforms.js';
import type { Shape3 } from './volume.js';

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

/** Checks the images under `keys`, then draws u < prob: the Rng to draw the parameters from, or null (the sample stays). */
function openGate(data: object, keys: readonly string[], rng: Rng | undefined, prob: number, name: string): Rng | null {
  keys.forEach((k) => readImage(data, k, name));
  const r = requireRng(rng, name);
  return r.random() < prob ? r : null;
}

/** The C-order index of (x, y, z) in a spatial shape. */
function at(shape: Readonly<Shape3>, x: number, y: number, z: number): number {
  return (x * shape[1] + y) * shape[2] + z;
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
        if (Math.sqrt((x - c[0]!) ** 2 + (y - c[1]!) ** 2 + (z - c[2]!) ** 2) > r) { const i = at(shape, x, y, z); k.re[i] = 0; k.im[i] = 0; }
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
    const r = openGate(data, this.#keys, rng, this.#prob, 'RandGibbsNoise');
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
        const spike = { index: at(shape, xyz[0]!, xyz[1]!, xyz[2]!), value: this.#values[i]! };
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
    const r = openGate(data, this.#keys, rng, this.#prob, name);
    if (r === null) return data;
    return withVolumes(data, this.#keys, this.#keys.map((key) => {
      const { image, channels, shape } = readImageChannels(data, key, name);
      const place = (): number => at(shape, r.int(shape[0]), r.int(shape[1]), r.int(shape[2]));
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

/** The Bessel-corrected std (torch's `std()`) of values, in float64. */
function unbiasedStd(d: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < d.length; i++) sum += d[i]!;
  const mean = sum / d.length;
  let sq = 0;
  for (let i = 0; i < d.length; i++) sq += (d[i]! - mean) ** 2;
  return Math.sqrt(sq / (d.length - 1));
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
    const r = openGate(data, this.#keys, rng, this.#prob, name);
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
        const std = (this.#std as number) * (this.#relative ? unbiasedStd(image.data) : 1);
        return { data: Float32Array.from(noisy(image.data, this.#mean as number, std)), shape: [...image.shape] } as FloatImage;
      }
      return fromChannels(image, channels.map((values, c) => {
        const mean = channelValue(this.#mean, 'mean', c, channels.length, key, name);
        const std = channelValue(this.#std, 'std', c, channels.length, key, name) * (this.#relative ? unbiasedStd(values) : 1);
        return noisy(values, mean, std);
      }));
    }));
  }
}
