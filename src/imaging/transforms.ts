/**
 * MONAI-style dictionary transforms: a sample is an object of named volumes (`{ image, label }`, other entries pass
 * through untouched), each transform works on the volumes named by its `keys`, and `Compose` chains them. Randomness
 * comes only from the `Rng` handed to `apply`, so a pipeline is deterministic given a seed. A transform that draws
 * several patches (RandCropByPosNegLabel) returns a list, and the transforms after it in a `Compose` run on each
 * patch, as MONAI's Compose does.
 *
 * This file holds the shared machinery; the transforms are in transforms-intensity.ts and transforms-spatial.ts.
 */
import type { Rng } from './random.js';
import { allocLike, assertVolume, voxelCount, type MultiChannelVolume, type Shape3, type Volume } from './volume.js';

/** A volume of either element type: float images, uint8 labels. */
export type AnyVolume = Volume<Float32Array> | Volume<Uint8Array>;

/** One transform of a dictionary sample. `rng` is needed by the random (`Rand…`) transforms only. */
export interface Transform {
  /** The transformed sample (a new object; the input's volumes are not modified), or a list of samples. */
  apply<T extends object>(data: T, rng?: Rng): T | T[];
}

/** A transform that returns one sample for each sample (every built-in one but RandCropByPosNegLabel, which draws several). */
export interface SampleTransform extends Transform {
  apply<T extends object>(data: T, rng?: Rng): T;
}

/** The sample a `Compose<TOut>` makes of a sample T: T with the keys of TOut set to their types in TOut (T itself when TOut has no keys). */
export type Composed<T, TOut> = [keyof TOut] extends [never] ? T : Omit<T, keyof TOut> & TOut;

declare const maySplit: unique symbol;

/** A Compose as a step of another: its own TOut types its result, so only whether it may split is compared. */
export interface NestedCompose<MaySplit extends boolean = boolean> {
  apply(data: object, rng?: Rng): object;
  readonly [maySplit]: MaySplit;
}

/** What a Compose chains: transforms and Composes, those that return one sample when the Compose promises one (MaySplit false). */
export type ComposeStep<MaySplit extends boolean = boolean> = MaySplit extends false ? SampleTransform | NestedCompose<false> : Transform | NestedCompose;

/**
 * MONAI's `Compose`: applies the transforms in order, each to every sample the previous ones produced.
 *
 * Typing: `new Compose(transforms)` types its result as its input, one sample or a list. `TOut` types what the
 * transforms make: the whole output sample, or only the keys they add or change (`new Compose<{ tc: Volume<Uint8Array>
 * }>`); it is not checked against what they do. `MaySplit` false says no transform returns a list, checked: the
 * transforms must then be `SampleTransform`s or Composes with MaySplit false, and `apply` returns one sample (`new
 * Compose<Sample, false>([...])`). (TypeScript infers no type argument once one is given, so false is written, not
 * inferred.) A Compose nests in another as it is, whatever its TOut.
 */
export class Compose<TOut extends object = object, MaySplit extends boolean = boolean> {
  readonly transforms: readonly ComposeStep[];
  /** Type only, never set (its key is not exported): whether this Compose may return a list, for a Compose it is nested in. */
  declare readonly [maySplit]: MaySplit;

  constructor(transforms: readonly ComposeStep<MaySplit>[]) {
    if (!Array.isArray(transforms)) throw new Error('Compose: expected an array of transforms');
    transforms.forEach((t, i) => {
      if (typeof t?.apply !== 'function') throw new Error(`Compose: transforms[${i}] has no apply(data, rng) method`);
    });
    this.transforms = [...transforms];
  }

  /** One sample when no transform returned a list, else the list (MONAI's Compose output). */
  apply<T extends object>(data: T, rng?: Rng): MaySplit extends false ? Composed<T, TOut> : Composed<T, TOut> | Composed<T, TOut>[] {
    let current: object | object[] = data;
    for (const t of this.transforms) current = Array.isArray(current) ? current.flatMap((d) => t.apply(d, rng)) : t.apply(current, rng);
    return current as MaySplit extends false ? Composed<T, TOut> : Composed<T, TOut> | Composed<T, TOut>[];
  }

  /**
   * MONAI's `Compose.inverse`: undoes the invertible steps in reverse order, each popping its records from the
   * sample's `<key>_transforms` lists; the steps without an `inverse` (intensity transforms, Lambda, …) are skipped,
   * as MONAI skips non-invertible ones. A multi-sample cropper's inverse throws (not invertible, as in MONAI).
   */
  inverse<T extends object>(data: T, opts?: InverseOptions): T {
    let current: object = data;
    for (const t of [...this.transforms].reverse()) {
      const step = t as { inverse?: (d: object, o?: InverseOptions) => object };
      if (typeof step.inverse === 'function') current = step.inverse(current, opts);
    }
    return current as T;
  }

  /** Always a list of samples (one element when no transform drew several). */
  applyAll<T extends object>(data: T, rng?: Rng): Composed<T, TOut>[] {
    const out: Composed<T, TOut> | Composed<T, TOut>[] = this.apply(data, rng);
    return Array.isArray(out) ? out : [out];
  }
}

/** What `Lambda`'s function takes and returns: a volume [X, Y, Z] or a channel-first one [C, X, Y, Z], float or uint8. */
export interface LambdaVolume {
  data: Float32Array | Uint8Array;
  shape: Shape3 | [number, number, number, number];
}

export interface LambdaOptions {
  keys: string | readonly string[];
  /**
   * The new volume of a key from its volume (all its channels). A method signature, so that a function written for
   * the [X, Y, Z] volumes Lambda took before (`(v: Volume<Float32Array | Uint8Array>) => …`) still type-checks.
   */
  func(volume: LambdaVolume, key: string): LambdaVolume;
}

/**
 * MONAI's `Lambdad`: `func` maps the whole volume under each key (all its channels: a channel-first [C, X, Y, Z] one
 * as it is, as MONAI's Lambda gets the whole array) to a new one, [X, Y, Z] or [C, X, Y, Z] (a custom step in a
 * `Compose` without writing a Transform class). It must not modify its argument.
 */
export class Lambda implements Transform {
  readonly #keys: string[];
  readonly #func: LambdaOptions['func'];

  constructor(opts: LambdaOptions) {
    this.#keys = keyList(opts.keys, 'Lambda');
    if (typeof opts.func !== 'function') throw new Error('Lambda: func must be a function (volume, key) => volume');
    this.#func = opts.func;
  }

  apply<T extends object>(data: T): T {
    return withVolumes(data, this.#keys, this.#keys.map((k) => {
      const out = this.#func(readChannels(data, k, 'Lambda').volume, k);
      return readChannels({ [k]: out }, k, 'Lambda (func\'s result)').volume;
    }));
  }
}

/** The `keys` option as a list, checked non-empty. */
export function keyList(keys: string | readonly string[], name: string): string[] {
  const list = typeof keys === 'string' ? [keys] : Array.isArray(keys) ? [...keys] : null;
  if (!list || list.length === 0 || !list.every((k) => typeof k === 'string' && k.length > 0)) {
    throw new Error(`${name}: keys must be a key or a non-empty list of keys, got ${JSON.stringify(keys)}`);
  }
  return list;
}

/** The volume under `key`, checked (present, `{ data, shape }`, data length = shape's product). */
export function readVolume(data: object, key: string, name: string): AnyVolume {
  const v = (data as Record<string, unknown>)[key];
  if (v === undefined) throw new Error(`${name}: key '${key}' is missing from the sample (it has ${Object.keys(data).map((k) => `'${k}'`).join(', ') || 'no keys'})`);
  const vol = v as Partial<AnyVolume> | null;
  if (vol === null || typeof vol !== 'object' || !(vol.data instanceof Float32Array || vol.data instanceof Uint8Array)) {
    throw new Error(`${name}: key '${key}' is not a volume { data: Float32Array | Uint8Array, shape: [X, Y, Z] }`);
  }
  assertVolume(vol as AnyVolume, `${name}: key '${key}'`);
  return vol as AnyVolume;
}

/** A float image: a volume [X, Y, Z] (one channel) or MONAI's channel-first image [C, X, Y, Z]. */
export type FloatImage = Volume<Float32Array> | MultiChannelVolume;

/** What a spatial transform moves: a volume [X, Y, Z] or a channel-first [C, X, Y, Z] one, float or uint8. */
export type SpatialVolume = AnyVolume | MultiChannelVolume<Float32Array> | MultiChannelVolume<Uint8Array>;

/**
 * A volume as its channels, each a volume [X, Y, Z] viewing its data (one channel for a volume [X, Y, Z]), its
 * spatial shape and whether it is channel-first; `joinChannels` puts transformed channels back in the same form.
 */
export interface Channels {
  volume: SpatialVolume;
  shape: Shape3;
  channels: Volume<Float32Array | Uint8Array>[];
  channelFirst: boolean;
}

/** The volume under `key` as its channels: a volume [X, Y, Z] or a channel-first [C, X, Y, Z] one, checked. */
export function readChannels(data: object, key: string, name: string): Channels {
  const v = (data as Record<string, unknown>)[key] as Partial<SpatialVolume> | null | undefined;
  if (v !== null && typeof v === 'object' && Array.isArray(v.shape) && v.shape.length === 4) {
    const d = v.data, shape = v.shape;
    if (!shape.every((s) => Number.isInteger(s) && s > 0) || !(d instanceof Float32Array || d instanceof Uint8Array) || d.length !== voxelCount(shape)) {
      throw new Error(`${name}: key '${key}' is not a channel-first image { data: Float32Array | Uint8Array of C·X·Y·Z values, shape: [C, X, Y, Z] } (shape ${JSON.stringify(shape)})`);
    }
    return splitChannels(v as SpatialVolume);
  }
  return splitChannels(readVolume(data, key, name));
}

/** A volume's channels (unchecked; `readChannels` checks): views of a channel-first volume's data, or the volume itself. */
export function splitChannels(v: SpatialVolume): Channels {
  if (v.shape.length === 3) return { volume: v, shape: v.shape, channels: [v as Volume<Float32Array | Uint8Array>], channelFirst: false };
  const [C, X, Y, Z] = v.shape, n = X * Y * Z, d = v.data;
  const shape: Shape3 = [X, Y, Z];
  return { volume: v, shape, channels: Array.from({ length: C }, (_, c) => ({ data: d.subarray(c * n, (c + 1) * n), shape })), channelFirst: true };
}

/** Transformed channels (one spatial shape, one element type) in the form `readChannels` found them: the volume itself, or channel-first. */
export function joinChannels<T extends Float32Array | Uint8Array>(channels: readonly Volume<T>[], channelFirst: boolean): Volume<T> | MultiChannelVolume<T> {
  const first = channels[0]!;
  if (!channelFirst) return first;
  const n = first.data.length, data = allocLike(first.data, channels.length * n);
  channels.forEach((c, i) => data.set(c.data, i * n));
  return { data, shape: [channels.length, ...first.shape] };
}

/**
 * The float image under `key` (intensity transforms work on images, not on uint8 labels) and its channels, views of
 * its data: one for a volume [X, Y, Z], C for a channel-first [C, X, Y, Z] image.
 */
export function readImage(data: object, key: string, name: string): { image: FloatImage; channels: Float32Array[] } {
  const { volume, channels, channelFirst } = readChannels(data, key, name);
  if (!(volume.data instanceof Float32Array)) {
    throw new Error(`${name}: key '${key}' holds a Uint8Array ${channelFirst ? 'channel-first image' : 'volume'} (a label?); this transform needs a Float32Array image`);
  }
  return { image: volume as FloatImage, channels: channels.map((c) => c.data as Float32Array) };
}

/** Throws, naming the keys, unless the volumes' shapes (their last three entries: [C, X, Y, Z] has any C) are one. */
function checkSameShape(keys: readonly string[], shapes: readonly (readonly number[])[], name: string): void {
  const spatial = shapes.map((s) => s.slice(-3));
  spatial.forEach((s, i) => {
    if (s.some((n, a) => n !== spatial[0]![a])) {
      const aside = shapes[i]!.length === 4 || shapes[0]!.length === 4 ? ' [X, Y, Z] (the channel counts may differ)' : '';
      throw new Error(`${name}: key '${keys[i]}' has shape [${shapes[i]!.join(', ')}], key '${keys[0]}' has [${shapes[0]!.join(', ')}]; the keys must share one shape${aside}`);
    }
  });
}

/** The volumes under `keys`, all of one shape (a spatial transform applies one geometry to all of them). */
export function readSameShape(data: object, keys: readonly string[], name: string): AnyVolume[] {
  const vols = keys.map((k) => readVolume(data, k, name));
  checkSameShape(keys, vols.map((v) => v.shape), name);
  return vols;
}

/**
 * The volumes under `keys` as their channels (`readChannels`), all of one spatial shape [X, Y, Z] (the channel counts
 * may differ, a 4-channel image with a 3-channel label): what a spatial transform applies one geometry to.
 */
export function readSameSpatialShape(data: object, keys: readonly string[], name: string): Channels[] {
  const items = keys.map((k) => readChannels(data, k, name));
  checkSameShape(keys, items.map((c) => c.volume.shape), name);
  return items;
}

/** A copy of the sample with the given volumes replaced. */
export function withVolumes<T extends object>(data: T, keys: readonly string[], volumes: readonly (SpatialVolume | FloatImage)[]): T {
  const out = { ...data } as Record<string, unknown>;
  keys.forEach((k, i) => { out[k] = volumes[i]; });
  return out as T;
}

/** The Rng a random transform draws from. */
export function requireRng(rng: Rng | undefined, name: string): Rng {
  if (!rng || typeof rng.random !== 'function') throw new Error(`${name}: a random transform needs an Rng: apply(data, rng) with rng = new Rng(seed)`);
  return rng;
}

/** Checks `prob` ∈ [0, 1]. */
export function checkProb(prob: number, name: string): number {
  if (!(prob >= 0 && prob <= 1)) throw new Error(`${name}: prob must be in [0, 1], got ${prob}`);
  return prob;
}

/** Checks a finite number option. */
export function checkFinite(value: number, option: string, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${name}: ${option} must be a finite number, got ${value}`);
  return value;
}

/**
 * A spatial size option: one integer for all axes or three; entries ≤ 0 mean "the volume's size along that axis"
 * (MONAI's `fall_back_tuple` with −1). `resolveSize` fills them in for a shape.
 */
export type SpatialSize = number | readonly [number, number, number];

export function checkSpatialSize(size: SpatialSize, option: string, name: string): Shape3 {
  const s: Shape3 = typeof size === 'number' ? [size, size, size] : Array.isArray(size) && size.length === 3 ? [size[0], size[1], size[2]] : [NaN, NaN, NaN];
  if (!s.every((n) => Number.isInteger(n))) {
    throw new Error(`${name}: ${option} must be an integer or three integers (≤ 0 keeps that axis), got ${JSON.stringify(size)}`);
  }
  return s;
}

export function resolveSize(size: Readonly<Shape3>, shape: Readonly<Shape3>): Shape3 {
  return [0, 1, 2].map((a) => (size[a]! > 0 ? size[a]! : shape[a]!)) as Shape3;
}

/**
 * Where a sample keeps what the invertible transforms did to the volume under `key`: `<key>_transforms`, a list of
 * {@link TransformRecord}s, the last applied last (MONAI's old dictionary convention, before MetaTensor).
 */
export function transformsKey(key: string): string {
  return `${key}_transforms`;
}

/**
 * What an invertible transform did to one key: enough to undo it. `extraInfo` holds the parameters it drew or
 * computed (a crop or pad region `{ start, size }`, flips and permutations `{ perm, flip }`, a resampling's sizes,
 * ratios or matrix); `geometry` the sample's affine and spacing entries before it (those it had), restored by the
 * inverse.
 */
export interface TransformRecord {
  /** The transform's class name ('SpatialPad', 'RandFlip', …). */
  className: string;
  /**
   * The id of the transform instance that made it (its `transformId`; ids are per process, so a sample made in a
   * DataLoader worker or read back from a PersistentDataset carries another process's: the inverse matches records
   * by `className`, as MONAI's does for spawned workers).
   */
  id: number;
  /** The spatial shape [X, Y, Z] before the transform. */
  origSize: Shape3;
  /** The spatial shape [X, Y, Z] after it. */
  outSize: Shape3;
  /** False when a random transform's prob skipped it (the record then says it did nothing). */
  doTransform: boolean;
  extraInfo: Readonly<Record<string, unknown>>;
  /** The sample's geometry entries (affine, spacing) before the transform, by their keys. */
  geometry: Readonly<Record<string, unknown>>;
}

/** How an inverse resamples: `nearest` true (Invert's nearestInterp) makes every resampling inverse nearest-neighbour. */
export interface InverseOptions {
  nearest?: boolean;
}

/** A transform whose `inverse(sample)` undoes the last record it left on each of its keys (MONAI's InvertibleTransform). */
export interface InvertibleTransform extends Transform {
  readonly transformId: number;
  inverse<T extends object>(data: T, opts?: InverseOptions): T;
}

let lastTransformId = 0;
/** A fresh id for an invertible transform instance. */
export function nextTransformId(): number {
  return ++lastTransformId;
}

const cloneGeometry = (v: unknown): unknown => (Array.isArray(v) ? v.map(cloneGeometry) : v);

/** What a transform says of itself when it records: its class name, instance id, whether it acted and what it used. */
export interface RecordInfo {
  className: string;
  id: number;
  doTransform: boolean;
  extraInfo: Readonly<Record<string, unknown>>;
}

/**
 * `out` (a transform's result of `data`) with one record per key appended to its `<key>_transforms` (new lists: the
 * old ones are not modified): `info`, the key's spatial shape in `data` and in `out`, and `data`'s entries under
 * `geometryKeys` (those present).
 */
export function withRecord<T extends object>(data: T, out: T, keys: readonly string[], info: RecordInfo, geometryKeys: readonly string[]): T {
  const d = data as Record<string, unknown>;
  const geometry: Record<string, unknown> = {};
  for (const g of geometryKeys) if (g in d) geometry[g] = cloneGeometry(d[g]);
  const result = { ...out } as Record<string, unknown>;
  for (const k of keys) {
    // out's list: the records the transform's own steps left (a OneOf's chosen transform), else data's
    const list = transformsKey(k) in result ? result[transformsKey(k)] : d[transformsKey(k)];
    const record: TransformRecord = {
      ...info, origSize: readChannels(data, k, info.className).shape, outSize: readChannels(out, k, info.className).shape, geometry,
    };
    result[transformsKey(k)] = [...(Array.isArray(list) ? list : []), record];
  }
  return result as T;
}

/**
 * The inverse's first step: for each of `keys` present in `data` (a key missing is skipped, as MONAI's inverse with
 * missing keys allowed), the last record of `<key>_transforms`, checked to be one of the transform's class (`name`;
 * its `id` may be another process's) and the volume's spatial shape its `outSize`; the sample comes back with those records popped (new lists) and the
 * records' geometry restored.
 */
export function popRecords<T extends object>(data: T, keys: readonly string[], name: string, id: number): { sample: T; records: { key: string; record: TransformRecord }[] } {
  const d = data as Record<string, unknown>;
  const out = { ...d };
  const records: { key: string; record: TransformRecord }[] = [];
  for (const key of keys) {
    if (!(key in d)) continue;
    const tk = transformsKey(key);
    const list = d[tk];
    if (!Array.isArray(list) || list.length === 0) {
      throw new Error(`${name}.inverse: key '${key}' has no record left in '${tk}': apply ${name} to the sample before inverting it`);
    }
    const record = list[list.length - 1] as Partial<TransformRecord> | null;
    if (record?.className !== name) {
      throw new Error(`${name}.inverse: the last record in '${tk}' is ${record?.className ?? 'not a record'} (id ${record?.id}), not this ${name}'s (id ${id}): undo the transforms in reverse order`);
    }
    const shape = readChannels(d, key, `${name}.inverse`).shape;
    if (shape.some((s, a) => s !== record.outSize![a])) {
      throw new Error(`${name}.inverse: key '${key}' has spatial shape [${shape.join(', ')}], ${name} made [${record.outSize!.join(', ')}]`);
    }
    out[tk] = list.slice(0, -1);
    for (const [g, v] of Object.entries(record.geometry ?? {})) out[g] = cloneGeometry(v);
    records.push({ key, record: record as TransformRecord });
  }
  return { sample: out as T, records };
}

/**
 * The whole inverse of a transform that records: pops its records (`popRecords`) and replaces each key that it
 * acted on (`doTransform`) by `undo` of its volume; a skipped record only pops.
 */
export function invertRecords<T extends object>(data: T, keys: readonly string[], name: string, id: number,
  undo: (volume: Channels, record: TransformRecord, key: string, sample: T) => SpatialVolume): T {
  const { sample, records } = popRecords(data, keys, name, id);
  const done = records.filter((r) => r.record.doTransform);
  return withVolumes(sample, done.map((r) => r.key), done.map(({ key, record }) => undo(readChannels(sample, key, `${name}.inverse`), record, key, sample)));
}

/** What a multi-sample cropper's inverse says: one sample became several, so there is nothing to invert (as in MONAI). */
export function notInvertible(name: string): never {
  throw new Error(`${name}.inverse: not invertible: ${name} turns one sample into several patches (a multi-sample crop), which MONAI does not invert either; invert the transforms after it, or crop with an invertible one (RandSpatialCrop, CenterSpatialCrop)`);
}
