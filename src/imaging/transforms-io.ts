/**
 * MONAI's IO transforms (dictionary form): `LoadImage` reads the NIfTI files named under its keys into volumes
 * (src/imaging/io/nifti.ts reads them) and writes the image geometry next to them; `EnsureChannelFirst` gives the
 * volumes their channel axis. They are the first steps of a Compose over samples of file paths,
 * `{ image: 'case1_t1.nii.gz', label: 'case1_seg.nii.gz' }`.
 *
 * The geometry (MONAI keeps it in the MetaTensor's meta dictionary; here it is the sample's own entries):
 * - `affine` (key 'affine' by default): the 4×4 voxel-to-world matrix, row major, number[][] (nifti.ts's `affine`:
 *   the sform, else the qform, else diag(pixdim)), what Orientation reads;
 * - `spacing` (key 'spacing' by default): the voxel size, three numbers, the norms of the affine's first three
 *   columns (MONAI's `affine_to_spacing`), what Spacing reads.
 * The keys of one LoadImage share these entries, so their files must agree on the affine; a second LoadImage with
 * `affineKey: null, spacingKey: null` loads files whose geometry is not to be checked or kept. Each key's file name
 * goes to `<key>_filename` (MONAI's `filename_or_obj`), where SaveImage finds it.
 */
import { readNiftiChannelsSync, type NiftiChannelsImage } from './io/nifti.js';
import { keyList, readChannels, withVolumes, type SampleTransform, type SpatialVolume } from './transforms.js';
import type { MultiChannelVolume, Shape3, Volume } from './volume.js';

/** The element type LoadImage gives the volumes: MONAI's default float32, or uint8 for labels. */
export type LoadImageDtype = 'float32' | 'uint8';

export interface LoadImageOptions {
  keys: string | readonly string[];
  /** 'float32' (MONAI's default) or 'uint8' (integer values 0..255 only, checked: labels) */
  dtype?: LoadImageDtype;
  /** give every volume its channel axis: a 3-D file becomes [1, X, Y, Z] (MONAI's ensure_channel_first; default false) */
  ensureChannelFirst?: boolean;
  /** where the affine goes (default 'affine'; null: not written) */
  affineKey?: string | null;
  /** where the voxel spacing goes (default 'spacing', what Spacing reads; null: not written) */
  spacingKey?: string | null;
  /**
   * each key's source file goes to `<key><filenamePostfix>` (default '_filename', what SaveImage reads; the first
   * file of a list of paths; null: not written). MONAI keeps it as the meta dictionary's `filename_or_obj`.
   */
  filenamePostfix?: string | null;
}

/** An entry of an affine may differ between the keys' files by this share of max(1, |entry|) (float32 headers). */
const AFFINE_TOLERANCE = 1e-4;

/** The voxel spacing of an affine: the norms of its first three columns. */
export function affineToSpacing(affine: readonly (readonly number[])[]): Shape3 {
  return [0, 1, 2].map((c) => Math.hypot(affine[0]![c]!, affine[1]![c]!, affine[2]![c]!)) as Shape3;
}

function sameAffine(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): boolean {
  return a.every((row, r) => row.every((v, c) => Math.abs(v - b[r]![c]!) <= AFFINE_TOLERANCE * Math.max(1, Math.abs(v))));
}

/** Float32 values as uint8, checked to be integers 0..255 (naming the file and the first bad voxel). */
function toUint8(data: Float32Array, what: string): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!(Number.isInteger(v) && v >= 0 && v <= 255)) throw new Error(`${what}: dtype 'uint8' needs integer values 0..255, voxel ${i} is ${v}`);
    out[i] = v;
  }
  return out;
}

/**
 * MONAI's `LoadImaged` for NIfTI (`.nii`, `.nii.gz`): each key's path (a string) becomes the file's volume, [X, Y, Z]
 * for a 3-D file ([1, X, Y, Z] with ensureChannelFirst) and [C, X, Y, Z] for channels on the 4th axis (our volumes
 * are channel first; MONAI's reader gives [X, Y, Z, C] and EnsureChannelFirst moves it). A list of paths is read as
 * the channels of one image, [C, X, Y, Z], all of one shape and affine (MONAI's multi-file stacking, e.g. the four
 * MRI sequences of a BraTS case). The affine and spacing entries are written (see the file's comment).
 */
export class LoadImage implements SampleTransform {
  readonly #keys: string[];
  readonly dtype: LoadImageDtype;
  readonly ensureChannelFirst: boolean;
  readonly affineKey: string | null;
  readonly spacingKey: string | null;
  readonly filenamePostfix: string | null;

  constructor(opts: LoadImageOptions) {
    this.#keys = keyList(opts.keys, 'LoadImage');
    this.dtype = opts.dtype ?? 'float32';
    if (this.dtype !== 'float32' && this.dtype !== 'uint8') throw new Error(`LoadImage: dtype must be 'float32' or 'uint8', got ${JSON.stringify(opts.dtype)}`);
    this.ensureChannelFirst = opts.ensureChannelFirst ?? false;
    const entryKey = (k: string | null | undefined, fallback: string, option: string): string | null => {
      if (k === undefined) return fallback;
      if (k === null || (typeof k === 'string' && k.length > 0)) return k;
      throw new Error(`LoadImage: ${option} must be a key or null, got ${JSON.stringify(k)}`);
    };
    this.affineKey = entryKey(opts.affineKey, 'affine', 'affineKey');
    this.spacingKey = entryKey(opts.spacingKey, 'spacing', 'spacingKey');
    const postfix = opts.filenamePostfix;
    if (postfix !== undefined && postfix !== null && (typeof postfix !== 'string' || postfix.length === 0)) {
      throw new Error(`LoadImage: filenamePostfix must be a non-empty string or null, got ${JSON.stringify(postfix)}`);
    }
    this.filenamePostfix = postfix === undefined ? '_filename' : postfix;
    const clash = this.#keys.find((k) => k === this.affineKey || k === this.spacingKey);
    if (clash !== undefined) throw new Error(`LoadImage: key '${clash}' is both loaded and where the ${clash === this.affineKey ? 'affine' : 'spacing'} goes`);
    const fileClash = this.filenamePostfix === null ? undefined : this.#keys.find((k) => this.#keys.includes(`${k}${this.filenamePostfix}`));
    if (fileClash !== undefined) throw new Error(`LoadImage: key '${fileClash}${this.filenamePostfix}' is both loaded and where the file name of '${fileClash}' goes`);
  }

  /** The volume of one key's path(s) and its affine. */
  #load(value: unknown, key: string): { volume: SpatialVolume; affine: number[][]; file: string } {
    const paths = typeof value === 'string' ? [value] : Array.isArray(value) ? (value as unknown[]) : null;
    if (!paths || paths.length === 0 || !paths.every((p): p is string => typeof p === 'string' && p.length > 0)) {
      throw new Error(`LoadImage: key '${key}' must hold a file path or a non-empty list of paths, got ${value === undefined ? 'nothing (the key is missing)' : JSON.stringify(value)}`);
    }
    let images: NiftiChannelsImage[];
    try {
      images = paths.map((p) => readNiftiChannelsSync(p));
    } catch (e) {
      throw new Error(`LoadImage: key '${key}': ${(e as Error).message}`);
    }
    const first = images[0]!;
    images.forEach((im, i) => {
      const [, X, Y, Z] = im.image.shape, [, X0, Y0, Z0] = first.image.shape;
      if (X !== X0 || Y !== Y0 || Z !== Z0) throw new Error(`LoadImage: key '${key}': ${paths[i]} is [${X}, ${Y}, ${Z}] but ${paths[0]} is [${X0}, ${Y0}, ${Z0}]; the files of one image must share a shape`);
      if (!sameAffine(im.info.affine, first.info.affine)) throw new Error(`LoadImage: key '${key}': the affines of ${paths[i]} and ${paths[0]} differ`);
    });
    const [, X, Y, Z] = first.image.shape;
    const channels = images.reduce((c, im) => c + im.image.shape[0], 0);
    let data = first.image.data;
    if (images.length > 1) {
      data = new Float32Array(channels * X * Y * Z);
      let at = 0;
      for (const im of images) { data.set(im.image.data, at); at += im.image.data.length; }
    }
    const typed = this.dtype === 'uint8' ? toUint8(data, `LoadImage: key '${key}' (${paths.join(', ')})`) : data;
    const shape: [number, number, number, number] = [channels, X, Y, Z];
    const fourD = this.ensureChannelFirst || paths.length > 1 || first.image.shape[0] > 1;
    const volume = (fourD ? { data: typed, shape } : { data: typed, shape: [X, Y, Z] }) as SpatialVolume;
    return { volume, affine: first.info.affine.map((row) => [...row]), file: paths[0]! };
  }

  apply<T extends object>(data: T): T {
    const sample = data as Record<string, unknown>;
    const loaded = this.#keys.map((k) => this.#load(sample[k], k));
    if (this.affineKey !== null || this.spacingKey !== null) {
      const ref = loaded[0]!;
      loaded.forEach((l, i) => {
        if (!sameAffine(l.affine, ref.affine)) {
          throw new Error(`LoadImage: the affines of key '${this.#keys[i]}' (${l.file}) and key '${this.#keys[0]}' (${ref.file}) differ, and they share '${this.affineKey ?? this.spacingKey}'; ` +
            'load them with two LoadImage transforms, the second with affineKey: null, spacingKey: null');
        }
      });
    }
    const out = withVolumes(data, this.#keys, loaded.map((l) => l.volume)) as Record<string, unknown>;
    if (this.affineKey !== null) out[this.affineKey] = loaded[0]!.affine;
    if (this.spacingKey !== null) out[this.spacingKey] = affineToSpacing(loaded[0]!.affine);
    if (this.filenamePostfix !== null) this.#keys.forEach((k, i) => { out[`${k}${this.filenamePostfix}`] = loaded[i]!.file; });
    return out as T;
  }
}

export interface EnsureChannelFirstOptions {
  keys: string | readonly string[];
}

/**
 * MONAI's `EnsureChannelFirstd`: a volume [X, Y, Z] (no channel) becomes [1, X, Y, Z]; a channel-first one [C, X, Y,
 * Z] is kept (a 4-D volume is channel first here: there are no channel-last volumes to move). The data are shared,
 * not copied.
 */
export class EnsureChannelFirst implements SampleTransform {
  readonly #keys: string[];

  constructor(opts: EnsureChannelFirstOptions) {
    this.#keys = keyList(opts.keys, 'EnsureChannelFirst');
  }

  apply<T extends object>(data: T): T {
    return withVolumes(data, this.#keys, this.#keys.map((k) => {
      const { volume, channelFirst } = readChannels(data, k, 'EnsureChannelFirst');
      if (channelFirst) return volume;
      const v = volume as Volume<Float32Array> | Volume<Uint8Array>;
      return { data: v.data, shape: [1, ...v.shape] } as MultiChannelVolume<Float32Array> | MultiChannelVolume<Uint8Array>;
    }));
  }
}
