/**
 * MONAI's utility transforms (dictionary form, monai/transforms/utility/dictionary.py and io/dictionary.py's
 * SaveImaged): copying, joining, deleting and selecting a sample's entries (`CopyItems`, `ConcatItems`,
 * `DeleteItems`, `SelectItems`), splitting and squeezing a volume's axes (`SplitDim`, `SqueezeDim`), the element type
 * (`CastToType`), `Identity`, a random custom step (`RandLambda`), a look at the data (`DataStats`) and writing
 * volumes to NIfTI files (`SaveImage`).
 *
 * Axes: a volume here is [X, Y, Z] (one channel) or channel first [C, X, Y, Z]. The transforms that take a `dim`
 * (ConcatItems, SplitDim, SqueezeDim) see every volume as channel first, [X, Y, Z] as [1, X, Y, Z] (the library's
 * convention, `readChannels`): dim 0 is the channel axis, 1–3 the spatial axes X, Y, Z (−4…−1 count from the end),
 * as MONAI's dims of a channel-first image.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, extname, join, normalize, relative } from 'node:path';
import { copySample } from './dataset.js';
import { writeNifti, type NiftiWritable } from './io/nifti.js';
import type { Rng } from './random.js';
import { readAffine, shiftMap, withGeometry } from './transforms-spatial.js';
import {
  checkProb, keyList, readChannels, requireRng, withVolumes, type LambdaVolume, type SampleTransform, type SpatialVolume, type Transform,
} from './transforms.js';

type Shape4 = [number, number, number, number];

/** The entry under `key`, which must be present. */
function readEntry(data: object, key: string, name: string): unknown {
  if (!(key in data)) throw new Error(`${name}: key '${key}' is missing from the sample (it has ${Object.keys(data).map((k) => `'${k}'`).join(', ') || 'no keys'})`);
  return (data as Record<string, unknown>)[key];
}

/** The volume under `key` seen channel first: its data and [C, X, Y, Z] (an [X, Y, Z] volume as [1, X, Y, Z]). */
function readChannelFirst(data: object, key: string, name: string): { data: Float32Array | Uint8Array; shape: Shape4 } {
  const { volume } = readChannels(data, key, name);
  return { data: volume.data, shape: (volume.shape.length === 4 ? [...volume.shape] : [1, ...volume.shape]) as Shape4 };
}

/** A dim of a channel-first volume, 0–3 (−4…−1 from the end), checked. */
function checkDim(dim: number, name: string): number {
  if (!Number.isInteger(dim) || dim < -4 || dim > 3) throw new Error(`${name}: dim must be an integer in [-4, 3] (0 the channel axis, 1–3 X, Y, Z of [C, X, Y, Z]), got ${dim}`);
  return dim < 0 ? dim + 4 : dim;
}

/** A per-key option: one value for all keys, or one per key. */
function perKey<V>(value: V | readonly V[], keys: readonly string[], ok: (v: V) => boolean, option: string, name: string): V[] {
  const list = Array.isArray(value) ? [...(value as readonly V[])] : keys.map(() => value as V);
  if (list.length !== keys.length) throw new Error(`${name}: ${option} has ${list.length} entries for ${keys.length} keys; give one value or one per key`);
  list.forEach((v, i) => {
    if (!ok(v)) throw new Error(`${name}: ${option}${Array.isArray(value) ? `[${i}]` : ''} is not valid, got ${JSON.stringify(v)}`);
  });
  return list;
}

/** A volume of channel-first shape `shape`, written [X, Y, Z] when it has one channel and `squeeze` is set. */
function asVolume(data: Float32Array | Uint8Array, shape: Shape4, squeeze: boolean): SpatialVolume {
  return (squeeze && shape[0] === 1 ? { data, shape: [shape[1], shape[2], shape[3]] } : { data, shape }) as SpatialVolume;
}

// ---------------------------------------------------------------------------------------------------------------
// CopyItems, ConcatItems, DeleteItems, SelectItems

export interface CopyItemsOptions {
  keys: string | readonly string[];
  /** how many copies of each key (default 1) */
  times?: number;
  /**
   * The copies' names, len(keys)·times of them, copy by copy: copy 1 of every key, then copy 2… (MONAI's order:
   * keys ['img', 'seg'], times 2: ['img_1', 'seg_1', 'img_2', 'seg_2']). Default: copy i of key k is `${k}_${i}`,
   * i from 0.
   */
  names?: string | readonly string[];
}

/**
 * MONAI's `CopyItemsd`: copies the entries under `keys` (volumes or any other value, deeply: the copy shares no array
 * with the original) `times` times under new names. A name that is already in the sample is an error.
 *
 * The default names are each copy's own key and index (MONAI builds its default list key by key but reads it copy by
 * copy, so that with several keys and times > 1 a copy can get another key's name; ours does not).
 */
export class CopyItems implements SampleTransform {
  readonly #keys: string[];
  readonly times: number;
  /** names[i][j]: the name of copy i of keys[j]. */
  readonly #names: string[][];

  constructor(opts: CopyItemsOptions) {
    const name = 'CopyItems';
    this.#keys = keyList(opts.keys, name);
    this.times = opts.times ?? 1;
    if (!Number.isInteger(this.times) || this.times < 1) throw new Error(`${name}: times must be an integer ≥ 1, got ${opts.times}`);
    const k = this.#keys.length;
    let flat: string[];
    if (opts.names === undefined) flat = Array.from({ length: this.times }, (_, i) => this.#keys.map((key) => `${key}_${i}`)).flat();
    else {
      flat = keyList(opts.names, `${name} (names)`);
      if (flat.length !== k * this.times) throw new Error(`${name}: names has ${flat.length} entries, but keys × times is ${k} × ${this.times} = ${k * this.times}`);
    }
    const twice = flat.find((n, i) => flat.indexOf(n) !== i);
    if (twice !== undefined) throw new Error(`${name}: the name '${twice}' is given to two copies`);
    this.#names = Array.from({ length: this.times }, (_, i) => flat.slice(i * k, (i + 1) * k));
  }

  apply<T extends object>(data: T): T {
    const out = { ...data } as Record<string, unknown>;
    const values = this.#keys.map((k) => readEntry(data, k, 'CopyItems'));
    for (const row of this.#names) {
      row.forEach((newKey, j) => {
        if (newKey in out) throw new Error(`CopyItems: key '${newKey}' (a copy of '${this.#keys[j]}') is already in the sample`);
        out[newKey] = copySample(values[j]);
      });
    }
    return out as T;
  }
}

export interface ConcatItemsOptions {
  keys: string | readonly string[];
  /** where the joined volume goes */
  name: string;
  /** the axis joined along, of [C, X, Y, Z] (default 0: the channels) */
  dim?: number;
}

/**
 * MONAI's `ConcatItemsd`: joins the volumes under `keys`, in order, along `dim` (default 0, the channels: image
 * channels and a prior as one input) and writes the result, channel first [C, X, Y, Z], under `name`. The volumes
 * must be of one element type (float or uint8) and one shape but along `dim`.
 */
export class ConcatItems implements SampleTransform {
  readonly #keys: string[];
  readonly name: string;
  readonly dim: number;

  constructor(opts: ConcatItemsOptions) {
    this.#keys = keyList(opts.keys, 'ConcatItems');
    if (typeof opts.name !== 'string' || opts.name.length === 0) throw new Error(`ConcatItems: name must be a key, got ${JSON.stringify(opts.name)}`);
    this.name = opts.name;
    this.dim = checkDim(opts.dim ?? 0, 'ConcatItems');
  }

  apply<T extends object>(data: T): T {
    const name = 'ConcatItems', d = this.dim;
    const parts = this.#keys.map((k) => readChannelFirst(data, k, name));
    const first = parts[0]!;
    parts.forEach((p, i) => {
      if (p.data.constructor !== first.data.constructor) {
        throw new Error(`${name}: key '${this.#keys[i]}' holds a ${p.data.constructor.name}, key '${this.#keys[0]}' a ${first.data.constructor.name}; the items must be of one type (CastToType first)`);
      }
      if (p.shape.some((s, a) => a !== d && s !== first.shape[a])) {
        throw new Error(`${name}: key '${this.#keys[i]}' is [${p.shape.join(', ')}] and key '${this.#keys[0]}' is [${first.shape.join(', ')}] (as [C, X, Y, Z]); they must agree but along dim ${d}`);
      }
    });
    const shape = [...first.shape] as Shape4;
    shape[d] = parts.reduce((s, p) => s + p.shape[d], 0);
    // each volume is outer × (its size along d × inner) in C order; the result interleaves those blocks
    const outer = first.shape.slice(0, d).reduce((a, b) => a * b, 1);
    const inner = first.shape.slice(d + 1).reduce((a, b) => a * b, 1);
    const out = first.data instanceof Uint8Array ? new Uint8Array(shape.reduce((a, b) => a * b, 1)) : new Float32Array(shape.reduce((a, b) => a * b, 1));
    let at = 0;
    for (let o = 0; o < outer; o++) {
      for (const p of parts) {
        const block = p.shape[d] * inner;
        out.set(p.data.subarray(o * block, (o + 1) * block), at);
        at += block;
      }
    }
    return { ...data, [this.name]: { data: out, shape } } as T;
  }
}

export interface DeleteItemsOptions {
  /** the entries to delete; 'a.b.c' (with sep '.') deletes c of the object under b of the object under a */
  keys: string | readonly string[];
  /** the separator of nested keys (default '.') */
  sep?: string;
  /** whether the last part of a key is a regular expression (searched, as Python's re.search), one or one per key (default false) */
  useRe?: boolean | readonly boolean[];
}

/**
 * MONAI's `DeleteItemsd`: a copy of the sample without the entries named by `keys` (nested keys through `sep`, the
 * last part a pattern with `useRe`). A key that is not there is no error (as MONAI's); a missing or non-object
 * entry on the way to a nested one is.
 */
export class DeleteItems implements SampleTransform {
  readonly #paths: string[][];
  readonly #useRe: boolean[];

  constructor(opts: DeleteItemsOptions) {
    const name = 'DeleteItems';
    const keys = keyList(opts.keys, name);
    const sep = opts.sep ?? '.';
    if (typeof sep !== 'string' || sep.length === 0) throw new Error(`${name}: sep must be a non-empty string, got ${JSON.stringify(opts.sep)}`);
    this.#paths = keys.map((k) => k.split(sep));
    this.#useRe = perKey(opts.useRe ?? false, keys, (v) => typeof v === 'boolean', 'useRe', name);
    this.#paths.forEach((p, i) => {
      if (!this.#useRe[i]) return;
      try { new RegExp(p[p.length - 1]!); } catch (e) { throw new Error(`${name}: key '${keys[i]}': '${p[p.length - 1]}' is not a regular expression (${(e as Error).message})`); }
    });
  }

  apply<T extends object>(data: T): T {
    const remove = (obj: Record<string, unknown>, path: readonly string[], useRe: boolean, where: string): Record<string, unknown> => {
      const [head, ...rest] = path as [string, ...string[]];
      if (rest.length > 0) {
        const inner = obj[head];
        if (inner === null || typeof inner !== 'object' || Array.isArray(inner) || ArrayBuffer.isView(inner)) {
          throw new Error(`DeleteItems: '${where}${head}' is ${inner === undefined ? 'missing' : 'not an object of entries'}, so nothing under it can be deleted`);
        }
        return { ...obj, [head]: remove(inner as Record<string, unknown>, rest, useRe, `${where}${head}.`) };
      }
      const re = useRe ? new RegExp(head) : null;
      return Object.fromEntries(Object.entries(obj).filter(([k]) => (re ? !re.test(k) : k !== head)));
    };
    let out = { ...data } as Record<string, unknown>;
    this.#paths.forEach((p, i) => { out = remove(out, p, this.#useRe[i]!, ''); });
    return out as T;
  }
}

export interface SelectItemsOptions {
  keys: string | readonly string[];
}

/** MONAI's `SelectItemsd`: a sample of only the entries under `keys` (in that order), each of which must be present. */
export class SelectItems implements SampleTransform {
  readonly #keys: string[];

  constructor(opts: SelectItemsOptions) {
    this.#keys = keyList(opts.keys, 'SelectItems');
  }

  apply<T extends object>(data: T): T {
    return Object.fromEntries(this.#keys.map((k) => [k, readEntry(data, k, 'SelectItems')])) as T;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// SplitDim, SqueezeDim, CastToType, Identity

export interface SplitDimOptions<ListOutput extends boolean = false> {
  keys: string | readonly string[];
  /** the names' endings, `${key}_${postfix}`, one per part (default the part's index 0, 1, …); not with listOutput */
  outputPostfixes?: readonly string[];
  /** the axis split, of [C, X, Y, Z] (default 0: the channels) */
  dim?: number;
  /** keep the split axis as size 1 (default true); false is for dim 0 only: each channel becomes [X, Y, Z] */
  keepdim?: boolean;
  /**
   * give each part of a spatial split its own affine, the sample's shifted to the part's first voxel (default true).
   * With listOutput each sample's affine (and spacing) entry is the part's; without it a sample has one affine for all
   * its keys, so a spatial split of a sample with an affine asks for listOutput or updateMeta false.
   */
  updateMeta?: boolean;
  /** a list of samples, the i-th with part i under each key, the other entries copied (default false) */
  listOutput?: ListOutput;
  /** where the sample's affine is (default 'affine') */
  affineKey?: string;
  /** where the sample's spacing is (default 'spacing'); a part's spacing is the sample's */
  spacingKey?: string;
}

/**
 * MONAI's `SplitDimd`: splits each volume under `keys` along `dim` into its slabs of size 1: a channel-first image
 * into its channels (`image_0`, `image_1`, … or the postfixes), or with `listOutput` into a list of samples (the
 * parts of a volume along one axis as samples). The parts are copies.
 */
export class SplitDim<ListOutput extends boolean = false> implements Transform {
  readonly #keys: string[];
  readonly dim: number;
  readonly keepdim: boolean;
  readonly updateMeta: boolean;
  readonly listOutput: boolean;
  readonly #postfixes: readonly string[] | undefined;
  readonly #affineKey: string;
  readonly #spacingKey: string;

  constructor(opts: SplitDimOptions<ListOutput>) {
    const name = 'SplitDim';
    this.#keys = keyList(opts.keys, name);
    this.dim = checkDim(opts.dim ?? 0, name);
    this.keepdim = opts.keepdim ?? true;
    this.updateMeta = opts.updateMeta ?? true;
    this.listOutput = opts.listOutput ?? false;
    if (!this.keepdim && this.dim !== 0) throw new Error(`${name}: keepdim false is for dim 0 only (a volume without the split axis is [X, Y, Z]); splitting dim ${this.dim} with keepdim false would make 2-D images`);
    if (opts.outputPostfixes !== undefined) {
      if (this.listOutput) throw new Error(`${name}: outputPostfixes name new keys, but listOutput keeps the keys; give one of them`);
      this.#postfixes = keyList(opts.outputPostfixes, `${name} (outputPostfixes)`);
    }
    this.#affineKey = opts.affineKey ?? 'affine';
    this.#spacingKey = opts.spacingKey ?? 'spacing';
  }

  /** The parts of one volume. */
  #split(data: object, key: string): SpatialVolume[] {
    const v = readChannelFirst(data, key, 'SplitDim'), d = this.dim, n = v.shape[d];
    const outer = v.shape.slice(0, d).reduce((a, b) => a * b, 1), inner = v.shape.slice(d + 1).reduce((a, b) => a * b, 1);
    const shape = [...v.shape] as Shape4;
    shape[d] = 1;
    return Array.from({ length: n }, (_, i) => {
      const part = v.data instanceof Uint8Array ? new Uint8Array(outer * inner) : new Float32Array(outer * inner);
      for (let o = 0; o < outer; o++) part.set(v.data.subarray((o * n + i) * inner, (o * n + i + 1) * inner), o * inner);
      return asVolume(part, shape, !this.keepdim);
    });
  }

  apply<T extends object>(data: T): ListOutput extends true ? T[] : T {
    type Out = ListOutput extends true ? T[] : T;
    const name = 'SplitDim';
    const parts = this.#keys.map((k) => this.#split(data, k));
    const spatialMeta = this.dim > 0 && this.updateMeta && this.#affineKey in data;
    if (this.listOutput) {
      const n = parts[0]!.length;
      parts.forEach((p, j) => {
        if (p.length !== n) throw new Error(`${name}: key '${this.#keys[j]}' splits into ${p.length} parts, key '${this.#keys[0]}' into ${n}; with listOutput they must split alike`);
      });
      return Array.from({ length: n }, (_, i) => {
        const rest = copySample(Object.fromEntries(Object.entries(data).filter(([k]) => !this.#keys.includes(k))));
        const sample = { ...rest, ...Object.fromEntries(this.#keys.map((k, j) => [k, parts[j]![i]])) } as T;
        if (!spatialMeta) return sample;
        const start: [number, number, number] = [0, 0, 0];
        start[this.dim - 1] = i;
        return withGeometry(name, data, sample, shiftMap(start), { affineKey: this.#affineKey, spacingKey: this.#spacingKey });
      }) as Out;
    }
    if (spatialMeta) {
      throw new Error(`${name}: the parts of a split along dim ${this.dim} each have their own affine, but the sample has one ('${this.#affineKey}'); ` +
        'use listOutput: true (a sample per part, each with its affine) or updateMeta: false (keep the sample\'s)');
    }
    const out = { ...data } as Record<string, unknown>;
    this.#keys.forEach((k, j) => {
      const list = parts[j]!;
      if (this.#postfixes && this.#postfixes.length !== list.length) {
        throw new Error(`${name}: key '${k}' splits into ${list.length} parts but outputPostfixes has ${this.#postfixes.length} entries`);
      }
      list.forEach((part, i) => {
        const newKey = `${k}_${this.#postfixes ? this.#postfixes[i] : i}`;
        if (newKey in out) throw new Error(`${name}: key '${newKey}' (part ${i} of '${k}') is already in the sample`);
        out[newKey] = part;
      });
    });
    return out as Out;
  }
}

export interface SqueezeDimOptions {
  keys: string | readonly string[];
  /** the axis removed, of [C, X, Y, Z]: 0 (or −4), the channel axis (MONAI's default), the only one a volume here can lose */
  dim?: number;
}

/**
 * MONAI's `SqueezeDimd` for the channel axis: a one-channel image [1, X, Y, Z] becomes [X, Y, Z] (the data shared).
 * The axis must be of size 1; a spatial axis cannot be removed (our volumes are 3-D), nor can a volume [X, Y, Z]
 * lose one.
 */
export class SqueezeDim implements SampleTransform {
  readonly #keys: string[];
  readonly dim: number;

  constructor(opts: SqueezeDimOptions) {
    this.#keys = keyList(opts.keys, 'SqueezeDim');
    this.dim = checkDim(opts.dim ?? 0, 'SqueezeDim');
    if (this.dim !== 0) throw new Error(`SqueezeDim: only dim 0 (the channel axis of [C, X, Y, Z]) can be squeezed; removing dim ${this.dim} would make a 2-D image`);
  }

  apply<T extends object>(data: T): T {
    return withVolumes(data, this.#keys, this.#keys.map((k) => {
      const { volume, channelFirst } = readChannels(data, k, 'SqueezeDim');
      if (!channelFirst) throw new Error(`SqueezeDim: key '${k}' is [${volume.shape.join(', ')}], a volume without a channel axis to squeeze`);
      if (volume.shape[0] !== 1) throw new Error(`SqueezeDim: key '${k}' is [${volume.shape.join(', ')}]; only an axis of size 1 can be squeezed, dim 0 is ${volume.shape[0]}`);
      return asVolume(volume.data, volume.shape as Shape4, true);
    }));
  }
}

/** The element types a volume can have. */
export type VolumeDtype = 'float32' | 'uint8';

/**
 * Values as `dtype`: uint8 → float32 exactly; float32 → uint8 truncated toward zero (numpy's and torch's cast), each
 * value, once truncated, in 0..255 (a NaN or a value out of range, which those casts wrap or leave undefined, is an
 * error naming `what` and the first such voxel). The same type: the array itself.
 */
export function castVolumeData(data: Float32Array | Uint8Array, dtype: VolumeDtype, what: string): Float32Array | Uint8Array {
  if (dtype === 'float32') return data instanceof Float32Array ? data : Float32Array.from(data);
  if (data instanceof Uint8Array) return data;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const t = Math.trunc(data[i]!);
    if (!(t >= 0 && t <= 255)) throw new Error(`${what}: casting to uint8 needs values in (-1, 256) (truncated to 0..255), voxel ${i} is ${data[i]}`);
    out[i] = t;
  }
  return out;
}

export interface CastToTypeOptions {
  keys: string | readonly string[];
  /** 'float32' (MONAI's default) or 'uint8', one for all keys or one per key */
  dtype?: VolumeDtype | readonly VolumeDtype[];
}

/** MONAI's `CastToTyped`: each volume's values as float32 or uint8 (see `castVolumeData`: float → uint8 truncates, checked). */
export class CastToType implements SampleTransform {
  readonly #keys: string[];
  readonly #dtypes: VolumeDtype[];

  constructor(opts: CastToTypeOptions) {
    this.#keys = keyList(opts.keys, 'CastToType');
    this.#dtypes = perKey<VolumeDtype>(opts.dtype ?? 'float32', this.#keys, (v) => v === 'float32' || v === 'uint8', "dtype ('float32' or 'uint8')", 'CastToType');
  }

  apply<T extends object>(data: T): T {
    return withVolumes(data, this.#keys, this.#keys.map((k, i) => {
      const { volume } = readChannels(data, k, 'CastToType');
      return { data: castVolumeData(volume.data, this.#dtypes[i]!, `CastToType: key '${k}'`), shape: volume.shape } as SpatialVolume;
    }));
  }
}

export interface IdentityOptions {
  keys: string | readonly string[];
}

/** MONAI's `Identityd`: the sample as it is (a copy of the object, the entries shared); the keys must be present. */
export class Identity implements SampleTransform {
  readonly #keys: string[];

  constructor(opts: IdentityOptions) {
    this.#keys = keyList(opts.keys, 'Identity');
  }

  apply<T extends object>(data: T): T {
    this.#keys.forEach((k) => readEntry(data, k, 'Identity'));
    return { ...data };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// RandLambda

export interface RandLambdaOptions {
  keys: string | readonly string[];
  /** the new volume of a key, from its volume (all its channels), its key and the Rng to draw from; must not modify its argument */
  func(volume: LambdaVolume, key: string, rng: Rng): LambdaVolume;
  /** the probability of applying func (default 1; one draw for all keys) */
  prob?: number;
  /** where func's result goes: true (default) the key itself, false nowhere, a string that key; one or one per key */
  overwrite?: boolean | string | readonly (boolean | string)[];
}

/**
 * MONAI's `RandLambdad`: `Lambda` for a function that draws random numbers (from the Rng handed to it), or that is
 * applied with probability `prob`. Draws: u < prob (always drawn), then whatever func draws, key by key. Its name
 * marks it random, so `CacheDataset` does not cache it.
 */
export class RandLambda implements SampleTransform {
  readonly #keys: string[];
  readonly #func: RandLambdaOptions['func'];
  readonly prob: number;
  readonly #overwrite: (boolean | string)[];

  constructor(opts: RandLambdaOptions) {
    const name = 'RandLambda';
    this.#keys = keyList(opts.keys, name);
    if (typeof opts.func !== 'function') throw new Error(`${name}: func must be a function (volume, key, rng) => volume`);
    this.#func = opts.func;
    this.prob = checkProb(opts.prob ?? 1, name);
    this.#overwrite = perKey<boolean | string>(opts.overwrite ?? true, this.#keys, (v) => typeof v === 'boolean' || (typeof v === 'string' && v.length > 0), 'overwrite (true, false or a key)', name);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const r = requireRng(rng, 'RandLambda');
    this.#keys.forEach((k) => readChannels(data, k, 'RandLambda'));
    if (!(r.random() < this.prob)) return { ...data };
    const out = { ...data } as Record<string, unknown>;
    this.#keys.forEach((k, i) => {
      const result = this.#func(readChannels(data, k, 'RandLambda').volume, k, r);
      const volume = readChannels({ [k]: result }, k, "RandLambda (func's result)").volume;
      const target = this.#overwrite[i]!;
      if (target !== false) out[target === true ? k : target] = volume;
    });
    return out as T;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// DataStats

export interface DataStatsOptions {
  keys: string | readonly string[];
  /** the line's start, `${prefix} statistics` (default 'Data'; one or one per key) */
  prefix?: string | readonly string[];
  /** show the entry's type (default true) */
  dataType?: boolean;
  /** show a volume's shape (default true) */
  dataShape?: boolean;
  /** show a volume's range, min and max (default true) */
  valueRange?: boolean;
  /** show a volume's mean and standard deviation (the population's, ddof 0; default true; not in MONAI's DataStats) */
  meanStd?: boolean;
  /** show the entry's value (JSON, at most 200 characters; default false) */
  dataValue?: boolean;
  /** a text to add, from the entry and its key */
  additionalInfo?: (value: unknown, key: string) => string;
  /** where each line goes (default console.log: MONAI's logger writes INFO to stdout) */
  logger?: (line: string) => void;
}

/** What DataStats says about a volume's values, in float64: min, max, mean, std (NaN when a value is NaN). */
function volumeStats(values: Float32Array | Uint8Array): { min: number; max: number; mean: number; std: number } {
  let min = Infinity, max = -Infinity, sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) return { min: NaN, max: NaN, mean: NaN, std: NaN };
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const mean = sum / values.length;
  let sq = 0;
  for (let i = 0; i < values.length; i++) sq += (values[i]! - mean) ** 2;
  return { min, max, mean, std: Math.sqrt(sq / values.length) };
}

const g6 = (v: number): string => String(Number(v.toPrecision(6)));

/**
 * MONAI's `DataStatsd`: says, for each key, in one line through `logger`, what the entry is: for a volume its type,
 * shape, range, mean and std; for anything else its type (and value with dataValue). The sample is returned as it
 * is (a copy of the object). A line: `Data statistics: 'image' type Float32Array, shape [1, 4, 4, 4], range [0, 1],
 * mean 0.5, std 0.25`.
 */
export class DataStats implements SampleTransform {
  readonly #keys: string[];
  readonly #prefix: string[];
  readonly #opts: Required<Pick<DataStatsOptions, 'dataType' | 'dataShape' | 'valueRange' | 'meanStd' | 'dataValue'>>;
  readonly #additionalInfo: DataStatsOptions['additionalInfo'];
  readonly #logger: (line: string) => void;

  constructor(opts: DataStatsOptions) {
    const name = 'DataStats';
    this.#keys = keyList(opts.keys, name);
    this.#prefix = perKey(opts.prefix ?? 'Data', this.#keys, (v) => typeof v === 'string', 'prefix', name);
    const flag = (v: boolean | undefined, fallback: boolean, option: string): boolean => {
      if (v !== undefined && typeof v !== 'boolean') throw new Error(`${name}: ${option} must be true or false, got ${JSON.stringify(v)}`);
      return v ?? fallback;
    };
    this.#opts = {
      dataType: flag(opts.dataType, true, 'dataType'), dataShape: flag(opts.dataShape, true, 'dataShape'), valueRange: flag(opts.valueRange, true, 'valueRange'),
      meanStd: flag(opts.meanStd, true, 'meanStd'), dataValue: flag(opts.dataValue, false, 'dataValue'),
    };
    if (opts.additionalInfo !== undefined && typeof opts.additionalInfo !== 'function') throw new Error(`${name}: additionalInfo must be a function (value, key) => string`);
    this.#additionalInfo = opts.additionalInfo;
    if (opts.logger !== undefined && typeof opts.logger !== 'function') throw new Error(`${name}: logger must be a function (line) => void`);
    this.#logger = opts.logger ?? ((line) => console.log(line));
  }

  /** The line about one key (what `apply` logs). */
  describe(data: object, key: string, prefix = 'Data'): string {
    const value = readEntry(data, key, 'DataStats');
    const o = this.#opts, parts: string[] = [];
    const isVolume = value !== null && typeof value === 'object' && 'data' in value && 'shape' in value;
    const volume = isVolume ? readChannels(data, key, 'DataStats').volume : null;
    const type = volume ? volume.data.constructor.name : Array.isArray(value) ? 'Array' : value === null ? 'null' : typeof value;
    if (o.dataType) parts.push(`type ${type}`);
    if (volume) {
      if (o.dataShape) parts.push(`shape [${volume.shape.join(', ')}]`);
      if (o.valueRange || o.meanStd) {
        const s = volumeStats(volume.data);
        if (o.valueRange) parts.push(`range [${g6(s.min)}, ${g6(s.max)}]`);
        if (o.meanStd) parts.push(`mean ${g6(s.mean)}, std ${g6(s.std)}`);
      }
    }
    if (o.dataValue) {
      const text = volume ? `[${Array.from(volume.data.subarray(0, 20), g6).join(', ')}${volume.data.length > 20 ? ', …' : ''}]` : JSON.stringify(value) ?? String(value);
      parts.push(`value ${text.length > 200 ? `${text.slice(0, 199)}…` : text}`);
    }
    if (this.#additionalInfo) parts.push(`additional info ${this.#additionalInfo(value, key)}`);
    return `${prefix} statistics: '${key}' ${parts.join(', ')}`.trimEnd();
  }

  apply<T extends object>(data: T): T {
    const lines = this.#keys.map((k, i) => this.describe(data, k, this.#prefix[i]));
    lines.forEach((l) => this.#logger(l));
    return { ...data };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// SaveImage

export interface SaveImageOptions {
  keys: string | readonly string[];
  /** the folder written into (default './', MONAI's) */
  outputDir?: string;
  /** added to the file's name, `${name}_${postfix}` (default 'trans', MONAI's; '' adds nothing) */
  outputPostfix?: string;
  /** '.nii.gz' (default) or '.nii' */
  outputExt?: '.nii.gz' | '.nii';
  /** each file in a folder of its name, `<outputDir>/<name>/<name>_<postfix>.nii.gz` (default true) */
  separateFolder?: boolean;
  /** keep the source's folders below this one: `/data/a/case.nii` with dataRootDir '/data' goes to `<outputDir>/a/…` (default '': none) */
  dataRootDir?: string;
  /** the stored type: 'float32' (MONAI's default) or 'uint8' (labels; float values truncated, checked 0..255) */
  outputDtype?: VolumeDtype;
  /** where the sample's affine is (default 'affine', what LoadImage writes); null: the identity */
  affineKey?: string | null;
  /**
   * where the path of the file each key's volume came from is (its name names the output): one entry for all keys or
   * one per key (default `${key}_filename` for each key).
   */
  filenameKeys?: string | readonly string[];
  /** replace a file that is there (default false: an error) */
  overwrite?: boolean;
  /** log `file written: <path>.` (default true, MONAI's print_log) */
  printLog?: boolean;
  /** where the log lines go (default console.log) */
  logger?: (line: string) => void;
}

/**
 * MONAI's `SaveImaged` for NIfTI: writes each volume under `keys` (channel first [C, X, Y, Z] as [X, Y, Z, C], one
 * channel as [X, Y, Z], MONAI's squeeze_end_dims) with the sample's affine to `outputPath(source)`: MONAI's folder
 * layout, `<outputDir>/[<rel>/][<name>/]<name>_<postfix><ext>`, the name being the source file's without its extension
 * (`.nii.gz` counts as one). The write is atomic (writeNifti's); a file that is already there is an error unless
 * `overwrite` (two keys that would write one file are always one). The sample is returned as it is.
 *
 * The source path comes from the sample (`filenameKeys`): LoadImage replaces the path under a key by the volume and
 * does not keep it, so copy it first, e.g. `new CopyItems({ keys: 'image', names: 'image_filename' })` before
 * LoadImage, then `new SaveImage({ keys: 'pred', filenameKeys: 'image_filename' })`. Not here: MONAI's resampling to
 * the original geometry (use `Invert`-like transforms first), patch indices, PNG/DICOM.
 */
export class SaveImage implements SampleTransform {
  readonly #keys: string[];
  readonly outputDir: string;
  readonly outputPostfix: string;
  readonly outputExt: '.nii.gz' | '.nii';
  readonly separateFolder: boolean;
  readonly dataRootDir: string;
  readonly outputDtype: VolumeDtype;
  readonly affineKey: string | null;
  readonly #filenameKeys: string[];
  readonly overwrite: boolean;
  readonly printLog: boolean;
  readonly #logger: (line: string) => void;

  constructor(opts: SaveImageOptions) {
    const name = 'SaveImage';
    this.#keys = keyList(opts.keys, name);
    const str = (v: string | undefined, fallback: string, option: string): string => {
      if (v !== undefined && typeof v !== 'string') throw new Error(`${name}: ${option} must be a string, got ${JSON.stringify(v)}`);
      return v ?? fallback;
    };
    const bool = (v: boolean | undefined, fallback: boolean, option: string): boolean => {
      if (v !== undefined && typeof v !== 'boolean') throw new Error(`${name}: ${option} must be true or false, got ${JSON.stringify(v)}`);
      return v ?? fallback;
    };
    this.outputDir = str(opts.outputDir, './', 'outputDir');
    if (this.outputDir.length === 0) throw new Error(`${name}: outputDir must be a folder, got ''`);
    this.outputPostfix = str(opts.outputPostfix, 'trans', 'outputPostfix');
    if (/[/\\]/.test(this.outputPostfix)) throw new Error(`${name}: outputPostfix must not contain a path separator, got '${this.outputPostfix}'`);
    this.outputExt = opts.outputExt ?? '.nii.gz';
    if (this.outputExt !== '.nii.gz' && this.outputExt !== '.nii') throw new Error(`${name}: outputExt must be '.nii.gz' or '.nii' (NIfTI is the format written here), got ${JSON.stringify(opts.outputExt)}`);
    this.separateFolder = bool(opts.separateFolder, true, 'separateFolder');
    this.dataRootDir = str(opts.dataRootDir, '', 'dataRootDir');
    this.outputDtype = opts.outputDtype ?? 'float32';
    if (this.outputDtype !== 'float32' && this.outputDtype !== 'uint8') throw new Error(`${name}: outputDtype must be 'float32' or 'uint8', got ${JSON.stringify(opts.outputDtype)}`);
    if (opts.affineKey !== undefined && opts.affineKey !== null && (typeof opts.affineKey !== 'string' || opts.affineKey.length === 0)) {
      throw new Error(`${name}: affineKey must be a key or null, got ${JSON.stringify(opts.affineKey)}`);
    }
    this.affineKey = opts.affineKey === undefined ? 'affine' : opts.affineKey;
    this.#filenameKeys = opts.filenameKeys === undefined ? this.#keys.map((k) => `${k}_filename`)
      : perKey(opts.filenameKeys, this.#keys, (v) => typeof v === 'string' && v.length > 0, 'filenameKeys', name);
    this.overwrite = bool(opts.overwrite, false, 'overwrite');
    this.printLog = bool(opts.printLog, true, 'printLog');
    if (opts.logger !== undefined && typeof opts.logger !== 'function') throw new Error(`${name}: logger must be a function (line) => void`);
    this.#logger = opts.logger ?? ((line) => console.log(line));
  }

  /** Where the volume of a source file goes (MONAI's `create_file_basename` with this transform's options). */
  outputPath(source: string): string {
    let name = basename(source);
    if (extname(name).toLowerCase() === '.gz') name = name.slice(0, -3);
    name = name.slice(0, name.length - extname(name).length);
    const dir = dirname(source);
    const rel = this.dataRootDir !== '' && source.includes('/') ? relative(this.dataRootDir, dir) : '';
    const folder = this.separateFolder ? join(this.outputDir, rel, name) : join(this.outputDir, rel);
    return normalize(join(folder, `${name}${this.outputPostfix === '' ? '' : `_${this.outputPostfix}`}${this.outputExt}`));
  }

  apply<T extends object>(data: T): T {
    const name = 'SaveImage';
    const affine = this.affineKey === null ? undefined : readAffine(data, this.affineKey, name);
    const jobs = this.#keys.map((k, i) => {
      const fk = this.#filenameKeys[i]!;
      const source = (data as Record<string, unknown>)[fk];
      if (typeof source !== 'string' || source.length === 0) {
        throw new Error(`${name}: key '${k}' needs the path of its source file under '${fk}', which ${source === undefined ? 'is missing' : `holds ${JSON.stringify(source)?.slice(0, 60)}`}; ` +
          `keep the path before LoadImage replaces it (CopyItems({ keys: '${k}', names: '${fk}' })) or name the entry with filenameKeys`);
      }
      const { volume } = readChannels(data, k, name);
      const path = this.outputPath(source);
      return { key: k, path, volume: { data: castVolumeData(volume.data, this.outputDtype, `${name}: key '${k}'`), shape: volume.shape } as SpatialVolume };
    });
    jobs.forEach((j, i) => {
      const other = jobs.findIndex((o) => o.path === j.path);
      if (other !== i) throw new Error(`${name}: keys '${jobs[other]!.key}' and '${j.key}' would both be written to ${j.path}; give them different sources or postfixes`);
      if (!this.overwrite && existsSync(j.path)) throw new Error(`${name}: key '${j.key}': ${j.path} is already there; set overwrite: true to replace it`);
    });
    for (const j of jobs) {
      mkdirSync(dirname(j.path), { recursive: true });
      writeNifti(j.path, j.volume as NiftiWritable, affine ? { affine } : {});
      if (this.printLog) this.#logger(`file written: ${j.path}.`);
    }
    return { ...data };
  }
}
