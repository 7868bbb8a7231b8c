/**
 * MONAI's spatial transforms (dictionary form): padding, crops (centre, random, foreground, positive/negative label
 * centred), flips, 90° rotations and resampling. One geometry is drawn per sample and applied to every key, so the
 * keys must share one spatial shape. A key holds a volume [X, Y, Z] or a channel-first one [C, X, Y, Z] (MONAI's
 * layout, the channel counts free per key), whose every channel gets the same geometry. Axes are the spatial ones
 * [X, Y, Z] (MONAI's spatial axes, without the channel).
 */
import { adaptiveWindows } from '../autograd/nn.js';
import { affineToSpacing } from './transforms-io.js';
import type { Rng } from './random.js';
import {
  checkProb, checkSpatialSize, invertRecords, joinChannels, keyList, nextTransformId, notInvertible, readChannels, readSameSpatialShape, requireRng, resolveSize,
  splitChannels, withRecord, withVolumes, type Channels, type InverseOptions, type InvertibleTransform, type SpatialSize, type SpatialVolume, type Transform,
  type TransformRecord,
} from './transforms.js';
import { allocLike, type MultiChannelVolume, type Shape3, type Volume } from './volume.js';

const AXES = [0, 1, 2] as const;

/** The sample's entry holding its 4x4 voxel → world affine, row major (LoadImage's default `affineKey`). */
export const AFFINE_KEY = 'affine';
/** The sample's entry holding its voxel spacing [x, y, z] (LoadImage's default `spacingKey`, what Spacing reads). */
export const SPACING_KEY = 'spacing';

/** A 4x4 matrix, row major (an affine, or a map between voxel indices). */
export type Matrix4 = number[][];

/** a · b of two 4x4 matrices. */
export function matmul4(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): Matrix4 {
  return [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => a[i]![0]! * b[0]![j]! + a[i]![1]! * b[1]![j]! + a[i]![2]! * b[2]![j]! + a[i]![3]! * b[3]![j]!));
}

/** Where a sample keeps its geometry. */
interface GeometryKeys { affineKey: string; spacingKey: string }
const DEFAULT_GEOMETRY: GeometryKeys = { affineKey: AFFINE_KEY, spacingKey: SPACING_KEY };

/**
 * The sample's geometry after a transform whose output voxel index i reads input index T·i (T 4x4, last row 0 0 0 1):
 * the affine, when `data` has one, becomes affine · T, so every voxel keeps its world position, and the spacing, when
 * present, becomes the new affine's column lengths (MONAI's `affine_to_spacing`), or without an affine the column
 * lengths of diag(spacing) · T (permuted by a permutation, scaled by a zoom, unchanged by a shift or a flip). `out` is
 * the transform's result, `data` its input.
 */
export function withGeometry<T extends object>(name: string, data: T, out: T, t: readonly (readonly number[])[], keys: GeometryKeys = DEFAULT_GEOMETRY): T {
  const geometry: Record<string, unknown> = {};
  const affine = keys.affineKey in data ? matmul4(readAffine(data, keys.affineKey, name), t) : null;
  if (affine) geometry[keys.affineKey] = affine;
  const spacing = (data as Record<string, unknown>)[keys.spacingKey];
  if (Array.isArray(spacing) && spacing.length === 3 && spacing.every((x) => typeof x === 'number')) {
    const scaled = affine ?? matmul4(AXES.map((k) => [0, 1, 2, 3].map((j) => (j === k ? spacing[k] as number : 0))).concat([[0, 0, 0, 1]]), t);
    geometry[keys.spacingKey] = affineToSpacing(scaled);
  }
  return { ...out, ...geometry };
}

/** The index map T of an axis permutation with flips (output axis d reads input axis perm[d], reversed where flip[d]). */
function permutationMap(perm: Readonly<Shape3>, flip: readonly boolean[], shape: Readonly<Shape3>): number[][] {
  const t = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j): number => (i === 3 && j === 3 ? 1 : 0)));
  for (const d of AXES) {
    t[perm[d]]![d] = flip[d] ? -1 : 1;
    if (flip[d]) t[perm[d]]![3] = shape[perm[d]]! - 1;
  }
  return t;
}

/**
 * The index map T of a resize from `from` to `to` voxels per axis, as MONAI's `scale_affine` (centred): output voxel i
 * sits at input coordinate s·i + (s − 1)/2, s = from/to (the voxel centres of F.interpolate with align_corners=False).
 */
export function scaleMap(from: Readonly<Shape3>, to: Readonly<Shape3>): number[][] {
  const s = AXES.map((a) => from[a] / to[a]);
  return [[s[0]!, 0, 0, (s[0]! - 1) / 2], [0, s[1]!, 0, (s[1]! - 1) / 2], [0, 0, s[2]!, (s[2]! - 1) / 2], [0, 0, 0, 1]];
}

/** The index map T of a shift: output voxel i reads input voxel i + start. */
export function shiftMap(start: Readonly<Shape3>): number[][] {
  return [[1, 0, 0, start[0]], [0, 1, 0, start[1]], [0, 0, 1, start[2]], [0, 0, 0, 1]];
}

/** How a pad fills: numpy's 'constant' (zeros) or 'edge' (the nearest voxel inside). */
export type PadMode = 'constant' | 'edge';

/**
 * MONAI's array `SpatialCrop`/`SpatialPad` in one: the spatial region [start, start + size) of `v`, zero (padMode
 * 'constant', the default) or the nearest voxel's value ('edge') where it lies outside the volume, so a crop, a pad, or both (one copy routine for every crop and pad below). `v` is a volume
 * [X, Y, Z] or a channel-first one [C, X, Y, Z] (every channel cropped alike, the result channel-first too); `start`
 * and `size` are spatial [X, Y, Z].
 */
export function cropOrPad<T extends Float32Array | Uint8Array>(v: Volume<T>, start: Readonly<Shape3>, size: Readonly<Shape3>, padMode?: PadMode): Volume<T>;
export function cropOrPad<T extends Float32Array | Uint8Array>(v: MultiChannelVolume<T>, start: Readonly<Shape3>, size: Readonly<Shape3>, padMode?: PadMode): MultiChannelVolume<T>;
export function cropOrPad(v: SpatialVolume, start: Readonly<Shape3>, size: Readonly<Shape3>, padMode?: PadMode): SpatialVolume;
export function cropOrPad(
  v: Volume<Float32Array | Uint8Array> | MultiChannelVolume<Float32Array | Uint8Array>, start: Readonly<Shape3>, size: Readonly<Shape3>, padMode: PadMode = 'constant',
): Volume<Float32Array | Uint8Array> | MultiChannelVolume<Float32Array | Uint8Array> {
  const C = v.shape.length === 4 ? v.shape[0] : 1;
  const [X, Y, Z] = v.shape.slice(-3) as Shape3;
  const [P, Q, R] = size;
  const out = allocLike(v.data, C * P * Q * R);
  if (padMode === 'edge') {
    // numpy's 'edge': a voxel outside takes the nearest voxel inside (each index clamped to its axis)
    const clamp = (i: number, n: number): number => Math.min(Math.max(i, 0), n - 1);
    let o = 0;
    for (let c = 0; c < C; c++) {
      for (let a = 0; a < P; a++) {
        const x = clamp(start[0] + a, X);
        for (let b = 0; b < Q; b++) {
          const row = ((c * X + x) * Y + clamp(start[1] + b, Y)) * Z;
          for (let k = 0; k < R; k++) out[o++] = v.data[row + clamp(start[2] + k, Z)]!;
        }
      }
    }
    return v.shape.length === 4 ? { data: out, shape: [C, P, Q, R] } : { data: out, shape: [P, Q, R] };
  }
  const z0 = Math.max(0, start[2]), z1 = Math.min(Z, start[2] + R);
  for (let c = 0; c < C && z1 > z0; c++) {
    for (let a = 0; a < P; a++) {
      const x = start[0] + a;
      if (x < 0 || x >= X) continue;
      for (let b = 0; b < Q; b++) {
        const y = start[1] + b;
        if (y < 0 || y >= Y) continue;
        const src = ((c * X + x) * Y + y) * Z;
        out.set(v.data.subarray(src + z0, src + z1), ((c * P + a) * Q + b) * R + (z0 - start[2]));
      }
    }
  }
  return v.shape.length === 4 ? { data: out, shape: [C, P, Q, R] } : { data: out, shape: [P, Q, R] };
}

/** `f` applied to each channel, the result in the volume's form (channel-first or not). */
export function mapChannels(volume: Channels, f: (channel: Volume<Float32Array | Uint8Array>) => Volume<Float32Array | Uint8Array>): SpatialVolume {
  return joinChannels(volume.channels.map(f), volume.channelFirst) as SpatialVolume;
}

/** The sample's geometry entries every transform here may change (what its records keep). */
const GEOMETRY_KEYS = [AFFINE_KEY, SPACING_KEY];

/**
 * Applies one region to every key (zeros outside the volume, or `mode`'s padding); the sample's affine moves with the
 * region (output voxel 0 is input voxel `start`), so every voxel keeps its world position. With an `id` (an
 * invertible crop or pad), the region is recorded on every key.
 */
function cropKeys<T extends object>(name: string, data: T, keys: readonly string[], vols: readonly Channels[], start: Readonly<Shape3>,
  size: Readonly<Shape3>, mode?: PadMode, id?: number): T {
  const out = withGeometry(name, data, withVolumes(data, keys, vols.map((v) => cropOrPad(v.volume, start, size, mode))), shiftMap(start));
  return id === undefined ? out : withRecord(data, out, keys, { className: name, id, doTransform: true, extraInfo: { start: [...start], size: [...size] } }, GEOMETRY_KEYS);
}

/**
 * The inverse of a recorded crop or pad (`cropKeys` with an id): each key put back in its original shape, the
 * region where it was (a pad's border cut off, a crop's outside zeros, as MONAI's crop inverse pads with zeros).
 */
function invertCrop<T extends object>(data: T, keys: readonly string[], name: string, id: number): T {
  return invertRecords(data, keys, name, id, (v, record) => cropOrPad(v.volume, (record.extraInfo.start as Shape3).map((s) => -s) as Shape3, record.origSize));
}

/** A random transform's record when its prob skipped it: the sample as it was, the record saying so. */
export function skipRecord<T extends object>(data: T, keys: readonly string[], name: string, id: number): T {
  return withRecord(data, data, keys, { className: name, id, doTransform: false, extraInfo: {} }, []);
}

/** MONAI's `Crop.compute_slices(roi_center, roi_size)`: start max(c − ⌊s/2⌋, 0), end start + s clipped to the volume. */
function centeredRegion(center: Readonly<Shape3>, roi: Readonly<Shape3>, shape: Readonly<Shape3>): { start: Shape3; size: Shape3 } {
  const start = AXES.map((a) => Math.max(center[a] - Math.floor(roi[a] / 2), 0)) as Shape3;
  return { start, size: AXES.map((a) => Math.min(start[a] + roi[a], shape[a]) - start[a]) as Shape3 };
}

export interface BoundingBoxOptions {
  /** Which voxels are foreground. Default v > 0 (MONAI's `is_positive`). */
  selectFn?: (value: number) => boolean;
  /** Voxels added on each side, one number or one per axis. Default 0. */
  margin?: number | readonly [number, number, number];
  /**
   * Clip the box to the volume (true) or let the margin run past it (false, the default as in MONAI ≥ 1.5; the crop
   * then pads with zeros).
   */
  allowSmaller?: boolean;
}

function checkMargin(margin: number | readonly [number, number, number], name: string): Shape3 {
  const m = checkSpatialSize(margin, 'margin', name);
  if (m.some((x) => x < 0)) throw new Error(`${name}: margin must be ≥ 0, got ${JSON.stringify(margin)}`);
  return m;
}

/**
 * MONAI's `generate_spatial_bounding_box`: the half-open box [start, end) of the voxels `selectFn` accepts (in any
 * channel of a channel-first volume), grown by `margin`; start = end = [0, 0, 0] when there are none.
 */
export function generateSpatialBoundingBox(v: SpatialVolume, opts: BoundingBoxOptions = {}): { start: Shape3; end: Shape3 } {
  const select = opts.selectFn ?? ((x: number) => x > 0);
  const margin = checkMargin(opts.margin ?? 0, 'generateSpatialBoundingBox');
  const allowSmaller = opts.allowSmaller ?? false;
  const { shape, channels } = splitChannels(v);
  const { data, test: accept } = anyChannel(channels, select);
  const [X, Y, Z] = shape;
  const lo: Shape3 = [X, Y, Z];
  const hi: Shape3 = [-1, -1, -1];
  let i = 0;
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      for (let z = 0; z < Z; z++, i++) {
        if (!accept(data[i]!)) continue;
        if (x < lo[0]) lo[0] = x;
        if (x > hi[0]) hi[0] = x;
        if (y < lo[1]) lo[1] = y;
        if (y > hi[1]) hi[1] = y;
        if (z < lo[2]) lo[2] = z;
        if (z > hi[2]) hi[2] = z;
      }
    }
  }
  if (hi[0] < 0) return { start: [0, 0, 0], end: [0, 0, 0] };
  const start = AXES.map((a) => (allowSmaller ? Math.max(lo[a] - margin[a], 0) : lo[a] - margin[a])) as Shape3;
  const end = AXES.map((a) => (allowSmaller ? Math.min(hi[a] + margin[a] + 1, shape[a]) : hi[a] + margin[a] + 1)) as Shape3;
  return { start, end };
}

/** Throws unless (read and checked) `key`'s spatial shape is that of `reference`, the `role` (sourceKey, labelKey) a transform reads, naming both. */
function checkAgainst(data: object, key: string, reference: string, role: string, name: string): void {
  const shapeOf = (k: string): readonly number[] => (data as Record<string, SpatialVolume>)[k]!.shape;
  const shape = shapeOf(key), referenceShape = shapeOf(reference);
  if (shape.slice(-3).some((s, a) => s !== referenceShape.slice(-3)[a])) {
    throw new Error(`${name}: key '${key}' has shape [${shape.join(', ')}], ${role} '${reference}' has [${referenceShape.join(', ')}]`);
  }
}

/**
 * The voxels `test` accepts in any channel (MONAI's `any` over the channel axis), as data and the test that picks
 * them from it: one channel and `test` itself, or a 0/1 mask of the channels and "nonzero".
 */
function anyChannel(channels: readonly Volume<Float32Array | Uint8Array>[], test: (value: number) => boolean): { data: Float32Array | Uint8Array; test: (value: number) => boolean } {
  if (channels.length === 1) return { data: channels[0]!.data, test };
  const mask = new Uint8Array(channels[0]!.data.length);
  for (const { data } of channels) {
    for (let i = 0; i < mask.length; i++) if (mask[i] === 0 && test(data[i]!)) mask[i] = 1;
  }
  return { data: mask, test: (value) => value !== 0 };
}

export interface CropForegroundOptions extends BoundingBoxOptions {
  keys: string | readonly string[];
  /** The key whose foreground defines the box. */
  sourceKey: string;
}

/**
 * MONAI's `CropForegroundd`: crops every key to the bounding box of `sourceKey`'s foreground (plus `margin`). A source
 * without foreground is an error here (MONAI warns and returns an empty volume, which a `Volume` cannot be).
 */
export class CropForeground implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #opts: CropForegroundOptions;

  constructor(opts: CropForegroundOptions) {
    this.#keys = keyList(opts.keys, 'CropForeground');
    if (typeof opts.sourceKey !== 'string') throw new Error(`CropForeground: sourceKey must be a key, got ${JSON.stringify(opts.sourceKey)}`);
    if (opts.selectFn !== undefined && typeof opts.selectFn !== 'function') throw new Error('CropForeground: selectFn must be a function (value) => boolean');
    checkMargin(opts.margin ?? 0, 'CropForeground');
    this.#opts = { ...opts };
  }

  apply<T extends object>(data: T): T {
    const source = readChannels(data, this.#opts.sourceKey, 'CropForeground').volume;
    const vols = readSameSpatialShape(data, this.#keys, 'CropForeground');
    checkAgainst(data, this.#keys[0]!, this.#opts.sourceKey, 'sourceKey', 'CropForeground');
    const { start, end } = generateSpatialBoundingBox(source, this.#opts);
    if (end[0] === 0) throw new Error(`CropForeground: sourceKey '${this.#opts.sourceKey}' has no foreground voxel (selectFn accepts none)`);
    return cropKeys('CropForeground', data, this.#keys, vols, start, AXES.map((a) => end[a] - start[a]) as Shape3, undefined, this.transformId);
  }

  /** Puts the crop back where it was in the original shape, zeros outside it. */
  inverse<T extends object>(data: T): T {
    return invertCrop(data, this.#keys, 'CropForeground', this.transformId);
  }
}

export interface SpatialPadOptions {
  keys: string | readonly string[];
  /** Minimum size per axis (≤ 0 keeps the axis); larger axes are left as they are. */
  spatialSize: SpatialSize;
  /** 'symmetric' (the default: ⌊d/2⌋ before, the rest after) or 'end' (all after). */
  method?: 'symmetric' | 'end';
}

/** MONAI's `SpatialPadd` with zeros (`mode="constant"`). */
export class SpatialPad implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #size: Shape3;
  readonly #method: 'symmetric' | 'end';

  constructor(opts: SpatialPadOptions) {
    this.#keys = keyList(opts.keys, 'SpatialPad');
    this.#size = checkSpatialSize(opts.spatialSize, 'spatialSize', 'SpatialPad');
    this.#method = padMethod(opts.method, 'SpatialPad');
  }

  apply<T extends object>(data: T): T {
    const vols = readSameSpatialShape(data, this.#keys, 'SpatialPad');
    const { start, size } = padRegion(vols[0]!.shape, resolveSize(this.#size, vols[0]!.shape), this.#method);
    return cropKeys('SpatialPad', data, this.#keys, vols, start, size, undefined, this.transformId);
  }

  /** Cuts the padding off. */
  inverse<T extends object>(data: T): T {
    return invertCrop(data, this.#keys, 'SpatialPad', this.transformId);
  }
}

/** The pad method of SpatialPad and ResizeWithPadOrCrop: 'symmetric' unless given. */
function padMethod(method: unknown, name: string): 'symmetric' | 'end' {
  const m = method ?? 'symmetric';
  if (m !== 'symmetric' && m !== 'end') throw new Error(`${name}: method must be 'symmetric' or 'end', got ${JSON.stringify(method)}`);
  return m;
}

/** SpatialPad's region: each axis padded to at least `size` (symmetric: ⌊d/2⌋ before, the rest after). */
function padRegion(shape: Readonly<Shape3>, size: Readonly<Shape3>, method: 'symmetric' | 'end'): { start: Shape3; size: Shape3 } {
  const padded = AXES.map((a) => Math.max(size[a], shape[a])) as Shape3;
  return { start: AXES.map((a) => (method === 'symmetric' ? -Math.floor((padded[a] - shape[a]) / 2) : 0)) as Shape3, size: padded };
}

/** CenterSpatialCrop's region: the roi centred at ⌊size/2⌋, an axis smaller than it kept whole. */
function centerRegion(shape: Readonly<Shape3>, roi: Readonly<Shape3>): { start: Shape3; size: Shape3 } {
  return centeredRegion(AXES.map((a) => Math.floor(shape[a] / 2)) as Shape3, roi, shape);
}

export interface CenterSpatialCropOptions {
  keys: string | readonly string[];
  /** Crop size per axis (≤ 0 keeps the axis); an axis smaller than it is kept whole. */
  roiSize: SpatialSize;
}

/** MONAI's `CenterSpatialCropd`: the roi centred at ⌊size/2⌋. */
export class CenterSpatialCrop implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #roi: Shape3;

  constructor(opts: CenterSpatialCropOptions) {
    this.#keys = keyList(opts.keys, 'CenterSpatialCrop');
    this.#roi = checkSpatialSize(opts.roiSize, 'roiSize', 'CenterSpatialCrop');
  }

  apply<T extends object>(data: T): T {
    const vols = readSameSpatialShape(data, this.#keys, 'CenterSpatialCrop');
    const { start, size } = centerRegion(vols[0]!.shape, resolveSize(this.#roi, vols[0]!.shape));
    return cropKeys('CenterSpatialCrop', data, this.#keys, vols, start, size, undefined, this.transformId);
  }

  /** Puts the crop back where it was in the original shape, zeros outside it. */
  inverse<T extends object>(data: T): T {
    return invertCrop(data, this.#keys, 'CenterSpatialCrop', this.transformId);
  }
}

export interface ResizeWithPadOrCropOptions {
  keys: string | readonly string[];
  /** The size per axis (≤ 0 keeps the axis). */
  spatialSize: SpatialSize;
  /** How a smaller axis is padded: 'symmetric' (the default) or 'end', as SpatialPad. */
  method?: 'symmetric' | 'end';
}

/**
 * MONAI's `ResizeWithPadOrCropd` with zeros: SpatialPad to `spatialSize`, then CenterSpatialCrop to it, so every
 * key comes out with that spatial size (one crop-or-pad of each volume).
 */
export class ResizeWithPadOrCrop implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #size: Shape3;
  readonly #method: 'symmetric' | 'end';

  constructor(opts: ResizeWithPadOrCropOptions) {
    const name = 'ResizeWithPadOrCrop';
    this.#keys = keyList(opts.keys, name);
    this.#size = checkSpatialSize(opts.spatialSize, 'spatialSize', name);
    this.#method = padMethod(opts.method, name);
  }

  apply<T extends object>(data: T): T {
    const vols = readSameSpatialShape(data, this.#keys, 'ResizeWithPadOrCrop');
    const { start, size } = padOrCropRegion(vols[0]!.shape, resolveSize(this.#size, vols[0]!.shape), this.#method);
    return cropKeys('ResizeWithPadOrCrop', data, this.#keys, vols, start, size, undefined, this.transformId);
  }

  /** Undoes the pad and the crop: the original shape, the kept region where it was, zeros where the crop cut. */
  inverse<T extends object>(data: T): T {
    return invertCrop(data, this.#keys, 'ResizeWithPadOrCrop', this.transformId);
  }
}

/** ResizeWithPadOrCrop's region of a volume of `shape`: SpatialPad to `target`, then CenterSpatialCrop to it. */
export function padOrCropRegion(shape: Readonly<Shape3>, target: Readonly<Shape3>, method: 'symmetric' | 'end' = 'symmetric'): { start: Shape3; size: Shape3 } {
  const pad = padRegion(shape, target, method), crop = centerRegion(pad.size, target);
  return { start: AXES.map((a) => pad.start[a] + crop.start[a]) as Shape3, size: crop.size };
}

export interface RandSpatialCropOptions {
  keys: string | readonly string[];
  /** Crop size (the smallest one with `randomSize`); ≤ 0 keeps the axis; an axis smaller than it is kept whole. */
  roiSize: SpatialSize;
  /** Largest size with `randomSize` (default the volume's shape). */
  maxRoiSize?: SpatialSize;
  /** Random position (true, the default) or the centre. */
  randomCenter?: boolean;
  /** Draw the size per axis uniformly in [roiSize, maxRoiSize]. Default false. */
  randomSize?: boolean;
}

/**
 * MONAI's `RandSpatialCropd`. Draws: with `randomSize` the size per axis (uniform integer in [roi, max]), then with
 * `randomCenter` the start per axis (uniform integer in [0, size − roi], 0 where the roi covers the axis).
 */
export class RandSpatialCrop implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #roi: Shape3;
  readonly #max: Shape3 | null;
  readonly #randomCenter: boolean;
  readonly #randomSize: boolean;

  constructor(opts: RandSpatialCropOptions) {
    const name = 'RandSpatialCrop';
    this.#keys = keyList(opts.keys, name);
    this.#roi = checkSpatialSize(opts.roiSize, 'roiSize', name);
    this.#max = opts.maxRoiSize === undefined ? null : checkSpatialSize(opts.maxRoiSize, 'maxRoiSize', name);
    this.#randomCenter = opts.randomCenter ?? true;
    this.#randomSize = opts.randomSize ?? false;
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const name = 'RandSpatialCrop';
    const r = requireRng(rng, name);
    const vols = readSameSpatialShape(data, this.#keys, name);
    const shape = vols[0]!.shape;
    let roi = resolveSize(this.#roi, shape);
    if (this.#randomSize) {
      const max = this.#max ? resolveSize(this.#max, shape) : shape;
      if (roi.some((s, a) => s > max[a]!)) throw new Error(`${name}: roiSize [${roi.join(', ')}] exceeds maxRoiSize [${max.join(', ')}]`);
      roi = AXES.map((a) => r.intIn(roi[a], max[a])) as Shape3;
    }
    const size = AXES.map((a) => Math.min(roi[a], shape[a])) as Shape3;
    if (!this.#randomCenter) {
      const c = centeredRegion(AXES.map((a) => Math.floor(shape[a] / 2)) as Shape3, size, shape);
      return cropKeys('RandSpatialCrop', data, this.#keys, vols, c.start, c.size, undefined, this.transformId);
    }
    const start = AXES.map((a) => (shape[a] > size[a] ? r.int(shape[a] - size[a] + 1) : 0)) as Shape3;
    return cropKeys('RandSpatialCrop', data, this.#keys, vols, start, size, undefined, this.transformId);
  }

  /** Puts the drawn crop back where it was in the original shape, zeros outside it. */
  inverse<T extends object>(data: T): T {
    return invertCrop(data, this.#keys, 'RandSpatialCrop', this.transformId);
  }
}

/**
 * MONAI's `correct_crop_centers` (allow_smaller false): moves a centre so that the crop [c − ⌊s/2⌋, c − ⌊s/2⌋ + s)
 * fits: c ∈ [⌊s/2⌋, trunc(L + 1 − s/2) − 1] (the upper end one higher when the two ends meet).
 */
function correctCropCenter(center: Readonly<Shape3>, size: Readonly<Shape3>, shape: Readonly<Shape3>): Shape3 {
  return AXES.map((a) => {
    const lo = Math.floor(size[a] / 2);
    let hi = Math.trunc(shape[a] + 1 - size[a] / 2);
    if (lo === hi) hi += 1;
    return Math.min(Math.max(center[a], lo), hi - 1);
  }) as Shape3;
}

/** The inputs of a label-centred crop (RandCropByPosNegLabel, RandCropByLabelClasses): label, keys, optional image, the crop size, all checked. */
function readLabelCrop(data: object, keys: readonly string[], opts: { labelKey: string; imageKey?: string; allowSmaller?: boolean }, spatialSize: Readonly<Shape3>, name: string): {
  label: Channels; shape: Shape3; vols: Channels[]; image: Channels | null; size: Shape3;
} {
  const { labelKey, imageKey } = opts;
  const label = readChannels(data, labelKey, name);
  const shape = label.shape;
  const vols = readSameSpatialShape(data, keys, name);
  const image = imageKey === undefined ? null : readChannels(data, imageKey, name);
  checkAgainst(data, keys[0]!, labelKey, 'labelKey', name);
  if (image) checkAgainst(data, imageKey!, labelKey, 'labelKey', name);
  let size = resolveSize(spatialSize, shape);
  if (size.some((s, a) => s > shape[a])) {
    if (!opts.allowSmaller) throw new Error(`${name}: spatialSize [${size.join(', ')}] is larger than the label's shape [${shape.join(', ')}] (allowSmaller: true shrinks the crop)`);
    size = AXES.map((a) => Math.min(size[a], shape[a])) as Shape3;
  }
  return { label, shape, vols, image, size };
}

/** The crop of every key centred on voxel `idx` (C order) of `shape`, the centre moved so the crop fits (correct_crop_centers). */
function cropAtVoxel<T extends object>(name: string, data: T, keys: readonly string[], vols: readonly Channels[], idx: number, size: Readonly<Shape3>, shape: Readonly<Shape3>): T {
  const [, Y, Z] = shape;
  const center = correctCropCenter([Math.floor(idx / (Y * Z)), Math.floor(idx / Z) % Y, idx % Z], size, shape);
  const c = centeredRegion(center, size, shape);
  return cropKeys(name, data, keys, vols, c.start, c.size);
}

/** A numSamples option: a positive integer, 1 by default. */
function checkNumSamples(n: number | undefined, name: string, fallback: number | null = 1): number {
  const v = n ?? fallback;
  if (v === null || !Number.isInteger(v) || v < 1) throw new Error(`${name}: numSamples must be a positive integer, got ${n}`);
  return v;
}

export interface RandCropByPosNegLabelOptions {
  keys: string | readonly string[];
  /** The label whose nonzero voxels are foreground. */
  labelKey: string;
  /** Crop size (≤ 0 keeps the axis). */
  spatialSize: SpatialSize;
  /** A centre is foreground with probability pos / (pos + neg). Defaults 1 and 1. */
  pos?: number;
  neg?: number;
  /** Crops per sample. Default 1. */
  numSamples?: number;
  /** With it, only voxels where this image is > `imageThreshold` are candidates (foreground and background). */
  imageKey?: string;
  imageThreshold?: number;
  /** Shrink the crop to an axis smaller than it instead of failing. Default false. */
  allowSmaller?: boolean;
}

/**
 * MONAI's `RandCropByPosNegLabeld`: `numSamples` crops (a list of samples), each centred on a voxel drawn from the
 * foreground with probability pos / (pos + neg), else from the background, the centre moved so the crop fits
 * (`correct_crop_centers`). Without foreground (or background) every centre comes from the other set, as MONAI does
 * (it warns). Draws per crop: u < ratio, then the index into that set's voxels (C order).
 */
export class RandCropByPosNegLabel implements Transform {
  /** Not invertible (one sample became several): always throws, naming why, as MONAI has no inverse for it. */
  inverse(): never {
    return notInvertible('RandCropByPosNegLabel');
  }

  readonly #keys: string[];
  readonly #opts: RandCropByPosNegLabelOptions;
  readonly #size: Shape3;
  readonly #ratio: number;
  readonly #numSamples: number;

  constructor(opts: RandCropByPosNegLabelOptions) {
    const name = 'RandCropByPosNegLabel';
    this.#keys = keyList(opts.keys, name);
    if (typeof opts.labelKey !== 'string') throw new Error(`${name}: labelKey must be a key, got ${JSON.stringify(opts.labelKey)}`);
    this.#size = checkSpatialSize(opts.spatialSize, 'spatialSize', name);
    const pos = opts.pos ?? 1, neg = opts.neg ?? 1;
    if (!(pos >= 0 && neg >= 0 && pos + neg > 0 && Number.isFinite(pos + neg))) throw new Error(`${name}: pos and neg must be ≥ 0 and not both 0, got pos ${pos}, neg ${neg}`);
    this.#ratio = pos / (pos + neg);
    this.#numSamples = checkNumSamples(opts.numSamples, name);
    this.#opts = { ...opts };
  }

  apply<T extends object>(data: T, rng?: Rng): T[] {
    const name = 'RandCropByPosNegLabel';
    const r = requireRng(rng, name);
    const { label, shape, vols, image, size } = readLabelCrop(data, this.#keys, this.#opts, this.#size, name);
    const threshold = this.#opts.imageThreshold ?? 0;
    // MONAI's map_binary_to_indices: a voxel is foreground where any label channel is nonzero, a candidate where any image channel is above the threshold
    const { data: labels, test: isForeground } = anyChannel(label.channels, (v) => v !== 0);
    const candidates = image && anyChannel(image.channels, (v) => v > threshold);
    const fg: number[] = [], bg: number[] = [];
    for (let i = 0; i < labels.length; i++) {
      if (candidates && !candidates.test(candidates.data[i]!)) continue;
      (isForeground(labels[i]!) ? fg : bg).push(i);
    }
    if (fg.length === 0 && bg.length === 0) throw new Error(`${name}: no voxel to centre a crop on (imageKey '${this.#opts.imageKey}' has none above imageThreshold ${threshold})`);
    const ratio = fg.length === 0 ? 0 : bg.length === 0 ? 1 : this.#ratio;
    const out: T[] = [];
    for (let n = 0; n < this.#numSamples; n++) {
      const set = r.random() < ratio ? fg : bg;
      out.push(cropAtVoxel('RandCropByPosNegLabel', data, this.#keys, vols, set[r.int(set.length)]!, size, shape));
    }
    return out;
  }
}

/**
 * Reorients a volume: output axis d runs along source axis perm[d], reversed where flip[d]. Flips and 90° rotations
 * are this one mapping.
 */
function orient<T extends Float32Array | Uint8Array>(v: Volume<T>, perm: Readonly<Shape3>, flip: readonly boolean[]): Volume<T> {
  const shape = AXES.map((d) => v.shape[perm[d]]) as Shape3;
  const srcStride = [v.shape[1] * v.shape[2], v.shape[2], 1];
  const step = AXES.map((d) => (flip[d] ? -1 : 1) * srcStride[perm[d]]!);
  let base = 0;
  for (const d of AXES) if (flip[d]) base += (shape[d] - 1) * srcStride[perm[d]]!;
  const out = allocLike(v.data, v.data.length);
  let i = 0;
  for (let a = 0; a < shape[0]; a++) {
    for (let b = 0; b < shape[1]; b++) {
      let s = base + a * step[0]! + b * step[1]!;
      for (let c = 0; c < shape[2]; c++, s += step[2]!) out[i++] = v.data[s]!;
    }
  }
  return { data: out, shape };
}

function checkAxes(axes: number | readonly number[] | undefined, name: string, option: string): number[] {
  const list = axes === undefined ? [0, 1, 2] : typeof axes === 'number' ? [axes] : [...axes];
  if (!list.every((a) => a === 0 || a === 1 || a === 2) || new Set(list).size !== list.length) {
    throw new Error(`${name}: ${option} must be distinct axes among 0, 1, 2, got ${JSON.stringify(axes)}`);
  }
  return list;
}

/** `np.rot90(v, k, axes)` as an axis map: k = 1 is transpose(flip(v, axes[1])) with axes[0] and axes[1] swapped. */
function rot90Map(k: number, axes: readonly [number, number]): { perm: Shape3; flip: boolean[] } {
  const kk = ((k % 4) + 4) % 4;
  const [p, q] = axes;
  const perm: Shape3 = [0, 1, 2], flip = [false, false, false];
  if (kk === 2) flip[p] = flip[q] = true;
  if (kk === 1 || kk === 3) {
    perm[p] = q;
    perm[q] = p;
    flip[kk === 1 ? p : q] = true;
  }
  return { perm, flip };
}

function checkRotAxes(axes: readonly [number, number] | undefined, name: string): [number, number] {
  const list = checkAxes(axes ?? [0, 1], name, 'spatialAxes');
  if (list.length !== 2) throw new Error(`${name}: spatialAxes must be two distinct axes, got ${JSON.stringify(axes)}`);
  return [list[0]!, list[1]!];
}

/**
 * Every channel of every key permuted and flipped (Orientation, Flip, Rotate90), the sample's affine and spacing
 * following the axes (`withGeometry`).
 */
function orientKeys<T extends object>(name: string, id: number, data: T, keys: readonly string[], perm: Readonly<Shape3>, flip: readonly boolean[],
  geometry: GeometryKeys = DEFAULT_GEOMETRY): T {
  const vols = readSameSpatialShape(data, keys, name);
  const out = withGeometry(name, data, withVolumes(data, keys, vols.map((v) => mapChannels(v, (c) => orient(c, perm, flip)))), permutationMap(perm, flip, vols[0]!.shape), geometry);
  return withRecord(data, out, keys, { className: name, id, doTransform: true, extraInfo: { perm: [...perm], flip: [...flip] } }, [geometry.affineKey, geometry.spacingKey]);
}

/** The inverse of a recorded permutation with flips (Flip, Rotate90, Orientation): original axis e reads axis perm⁻¹[e], flipped alike. */
function invertOrient<T extends object>(data: T, keys: readonly string[], name: string, id: number): T {
  return invertRecords(data, keys, name, id, (v, record) => {
    const perm = record.extraInfo.perm as Shape3, flip = record.extraInfo.flip as boolean[];
    const back = AXES.map((e) => perm.indexOf(e)) as Shape3;
    return mapChannels(v, (c) => orient(c, back, AXES.map((e) => flip[back[e]]!)));
  });
}

export interface FlipOptions {
  keys: string | readonly string[];
  /** Axis or axes to flip; default all three (MONAI's None). */
  spatialAxis?: number | readonly number[];
}

/** MONAI's `Flipd`. */
export class Flip implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #axes: number[];

  constructor(opts: FlipOptions) {
    this.#keys = keyList(opts.keys, 'Flip');
    this.#axes = checkAxes(opts.spatialAxis, 'Flip', 'spatialAxis');
  }

  apply<T extends object>(data: T): T {
    return orientKeys('Flip', this.transformId, data, this.#keys, [0, 1, 2], AXES.map((a) => this.#axes.includes(a)));
  }

  /** Flips back. */
  inverse<T extends object>(data: T): T {
    return invertOrient(data, this.#keys, 'Flip', this.transformId);
  }
}

/**
 * MONAI's `RandFlipd`: with probability `prob` (default 0.1) flips every key along `spatialAxis`. Draw: u < prob. A
 * skipped flip still records (doTransform false), so `inverse` knows there is nothing to undo.
 */
export class RandFlip implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #axes: number[];
  readonly #prob: number;

  constructor(opts: FlipOptions & { prob?: number }) {
    this.#keys = keyList(opts.keys, 'RandFlip');
    this.#axes = checkAxes(opts.spatialAxis, 'RandFlip', 'spatialAxis');
    this.#prob = checkProb(opts.prob ?? 0.1, 'RandFlip');
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const r = requireRng(rng, 'RandFlip');
    readSameSpatialShape(data, this.#keys, 'RandFlip');
    return r.random() < this.#prob
      ? orientKeys('RandFlip', this.transformId, data, this.#keys, [0, 1, 2], AXES.map((a) => this.#axes.includes(a)))
      : skipRecord(data, this.#keys, 'RandFlip', this.transformId);
  }

  /** Flips back when it flipped. */
  inverse<T extends object>(data: T): T {
    return invertOrient(data, this.#keys, 'RandFlip', this.transformId);
  }
}

export interface Rotate90Options {
  keys: string | readonly string[];
  /** Quarter turns (numpy's `rot90` direction). Default 1. */
  k?: number;
  /** The plane, as two axes. Default [0, 1]. */
  spatialAxes?: readonly [number, number];
}

/** MONAI's `Rotate90d`: `np.rot90(v, k, spatialAxes)` of every key. */
export class Rotate90 implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #k: number;
  readonly #axes: [number, number];

  constructor(opts: Rotate90Options) {
    this.#keys = keyList(opts.keys, 'Rotate90');
    this.#k = opts.k ?? 1;
    if (!Number.isInteger(this.#k)) throw new Error(`Rotate90: k must be an integer, got ${opts.k}`);
    this.#axes = checkRotAxes(opts.spatialAxes, 'Rotate90');
  }

  apply<T extends object>(data: T): T {
    const { perm, flip } = rot90Map(this.#k, this.#axes);
    return orientKeys('Rotate90', this.transformId, data, this.#keys, perm, flip);
  }

  /** Turns back. */
  inverse<T extends object>(data: T): T {
    return invertOrient(data, this.#keys, 'Rotate90', this.transformId);
  }
}

export interface RandRotate90Options {
  keys: string | readonly string[];
  /** Default 0.1. */
  prob?: number;
  /** k is drawn uniformly from 1 … maxK. Default 3. */
  maxK?: number;
  spatialAxes?: readonly [number, number];
}

/** MONAI's `RandRotate90d`. Draws, in MONAI's order: k = 1 + int(maxK), then u < prob. */
export class RandRotate90 implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #prob: number;
  readonly #maxK: number;
  readonly #axes: [number, number];

  constructor(opts: RandRotate90Options) {
    const name = 'RandRotate90';
    this.#keys = keyList(opts.keys, name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
    this.#maxK = opts.maxK ?? 3;
    if (!Number.isInteger(this.#maxK) || this.#maxK < 1) throw new Error(`${name}: maxK must be a positive integer, got ${opts.maxK}`);
    this.#axes = checkRotAxes(opts.spatialAxes, name);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const r = requireRng(rng, 'RandRotate90');
    readSameSpatialShape(data, this.#keys, 'RandRotate90');
    const k = 1 + r.int(this.#maxK);
    if (!(r.random() < this.#prob)) return skipRecord(data, this.#keys, 'RandRotate90', this.transformId);
    const { perm, flip } = rot90Map(k, this.#axes);
    return orientKeys('RandRotate90', this.transformId, data, this.#keys, perm, flip);
  }

  /** Turns back by the drawn k when it turned. */
  inverse<T extends object>(data: T): T {
    return invertOrient(data, this.#keys, 'RandRotate90', this.transformId);
  }
}

export type InterpolationMode = 'trilinear' | 'nearest';
/** Resize's modes: PyTorch's F.interpolate 'area' (adaptive average pooling) besides trilinear and nearest */
export type ResizeMode = InterpolationMode | 'area';

/** Per output index along one axis: the two source neighbours and the weight of the second. */
interface AxisTable { i0: Int32Array; i1: Int32Array; w1: Float64Array; }

/**
 * PyTorch's `F.interpolate` source indices (float32 arithmetic, as its CPU kernels): 'trilinear' with
 * align_corners=False, s = max(scale·(j + 0.5) − 0.5, 0), scale = in/out; 'nearest', min(⌊j·scale⌋, in − 1).
 */
function interpolateTable(inSize: number, outSize: number, mode: InterpolationMode): AxisTable {
  const t: AxisTable = { i0: new Int32Array(outSize), i1: new Int32Array(outSize), w1: new Float64Array(outSize) };
  const f = Math.fround;
  const scale = f(inSize / outSize);
  for (let j = 0; j < outSize; j++) {
    if (mode === 'nearest') {
      const i = inSize === outSize ? j : Math.min(Math.floor(f(j * scale)), inSize - 1);
      t.i0[j] = t.i1[j] = i;
      continue;
    }
    const s = Math.max(f(f(scale * f(j + 0.5)) - 0.5), 0);
    const i0 = Math.min(Math.floor(s), inSize - 1);
    t.i0[j] = i0;
    t.i1[j] = i0 < inSize - 1 ? i0 + 1 : i0;
    t.w1[j] = Math.min(Math.max(f(s - i0), 0), 1);
  }
  return t;
}

/**
 * MONAI's `Spacing` grid (diagonal affines): output voxel j sits at source coordinate j·out/in spacing, clamped to
 * the volume (padding_mode 'border'); 'nearest' rounds half to even, as grid_sample does.
 */
function spacingTable(inSize: number, outSize: number, ratio: number, mode: InterpolationMode): AxisTable {
  const t: AxisTable = { i0: new Int32Array(outSize), i1: new Int32Array(outSize), w1: new Float64Array(outSize) };
  for (let j = 0; j < outSize; j++) {
    const s = Math.min(Math.max(j * ratio, 0), inSize - 1);
    if (mode === 'nearest') {
      t.i0[j] = t.i1[j] = roundHalfEven(s);
      continue;
    }
    const i0 = Math.floor(s);
    t.i0[j] = i0;
    t.i1[j] = i0 < inSize - 1 ? i0 + 1 : i0;
    t.w1[j] = s - i0;
  }
  return t;
}

/** Separable trilinear resampling through three axis tables; 'nearest' copies the i0 voxel (so ±Inf stays). */
function resample<T extends Float32Array | Uint8Array>(v: Volume<T>, tables: readonly [AxisTable, AxisTable, AxisTable], mode: InterpolationMode): Volume<T> {
  const [, Y, Z] = v.shape;
  const shape = tables.map((t) => t.i0.length) as Shape3;
  const out = allocLike(v.data, shape[0] * shape[1] * shape[2]);
  const [tx, ty, tz] = tables;
  const d = v.data;
  let o = 0;
  for (let a = 0; a < shape[0]; a++) {
    const wx = tx.w1[a]!, x0 = tx.i0[a]! * Y, x1 = tx.i1[a]! * Y;
    for (let b = 0; b < shape[1]; b++) {
      const wy = ty.w1[b]!, y0 = ty.i0[b]!, y1 = ty.i1[b]!;
      const r00 = (x0 + y0) * Z, r01 = (x0 + y1) * Z, r10 = (x1 + y0) * Z, r11 = (x1 + y1) * Z;
      if (mode === 'nearest') {
        for (let c = 0; c < shape[2]; c++) out[o++] = d[r00 + tz.i0[c]!]!;
        continue;
      }
      for (let c = 0; c < shape[2]; c++) {
        const wz = tz.w1[c]!, z0 = tz.i0[c]!, z1 = tz.i1[c]!;
        const v00 = (1 - wz) * d[r00 + z0]! + wz * d[r00 + z1]!, v01 = (1 - wz) * d[r01 + z0]! + wz * d[r01 + z1]!;
        const v10 = (1 - wz) * d[r10 + z0]! + wz * d[r10 + z1]!, v11 = (1 - wz) * d[r11 + z0]! + wz * d[r11 + z1]!;
        out[o++] = (1 - wx) * ((1 - wy) * v00 + wy * v01) + wx * ((1 - wy) * v10 + wy * v11);
      }
    }
  }
  return { data: out, shape };
}

/**
 * PyTorch's 'area' (F.adaptive_avg_pool3d): output voxel j of each axis is the mean of the input's window
 * [⌊j·in/out⌋, ⌈(j + 1)·in/out⌉) (adaptiveWindows); a box mean is separable, so one pass per resized axis, in float64.
 */
function areaResample(v: Volume<Float32Array>, size: Readonly<Shape3>): Volume<Float32Array> {
  let data = Float64Array.from(v.data);
  const shape: Shape3 = [...v.shape];
  for (const axis of AXES) {
    const n = shape[axis], m = size[axis];
    if (n === m) continue;
    const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1), inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const windows = adaptiveWindows(n, m);
    const next = new Float64Array(outer * m * inner);
    for (let o = 0; o < outer; o++) {
      windows.forEach(([start, end], j) => {
        const to = (o * m + j) * inner;
        for (let k = start; k < end; k++) {
          const from = (o * n + k) * inner;
          for (let i = 0; i < inner; i++) next[to + i] += data[from + i]!;
        }
        for (let i = 0; i < inner; i++) next[to + i] /= end - start;
      });
    }
    data = next;
    shape[axis] = m;
  }
  return { data: Float32Array.from(data), shape };
}

/** A mode option (`option`, 'mode' by default) of each key: given once or per key, among `valid`; null where not given (the element type decides). */
export function modesFor<M extends string>(mode: M | readonly M[] | undefined, valid: readonly M[], keys: readonly string[], name: string, option = 'mode'): (M | null)[] {
  const list: (M | null)[] = mode === undefined ? keys.map(() => null) : typeof mode === 'string' ? keys.map(() => mode as M) : Array.isArray(mode) ? [...(mode as readonly M[])] : [];
  if (list.length !== keys.length || !list.every((m) => m === null || valid.includes(m))) {
    throw new Error(`${name}: ${option} must be ${valid.map((m) => `'${m}'`).join(', ')} or one of them per key (${keys.length} keys), got ${JSON.stringify(mode)}`);
  }
  return list;
}

/**
 * Resamples each key (every channel of it) with its mode; a key without one: `imageMode` for Float32Array volumes,
 * 'nearest' for Uint8Array labels.
 */
export function resampleKeys<T extends object, M extends ResizeMode>(
  data: T, keys: readonly string[], modes: readonly (M | null)[], imageMode: M, name: string,
  resampleVolume: (v: Volume<Float32Array | Uint8Array>, mode: M | 'nearest') => Volume<Float32Array | Uint8Array>,
): T {
  return withVolumes(data, keys, keys.map((k, i) => resampleChannels(readChannels(data, k, name), k, modes[i] ?? null, imageMode, name, resampleVolume)));
}

/** One key's channels resampled with its mode (`resampleKeys`' rule: none given, `imageMode` for a float volume, 'nearest' for a label). */
function resampleChannels<M extends ResizeMode>(v: Channels, key: string, keyMode: M | null, imageMode: M, name: string,
  resampleVolume: (v: Volume<Float32Array | Uint8Array>, mode: M | 'nearest') => Volume<Float32Array | Uint8Array>): SpatialVolume {
  const isLabel = v.channels[0]!.data instanceof Uint8Array;
  const mode = keyMode ?? (isLabel ? 'nearest' : imageMode);
  if (mode !== 'nearest' && isLabel) throw new Error(`${name}: key '${key}' is a Uint8Array volume (a label); resample it with mode 'nearest'`);
  return mapChannels(v, (c) => resampleVolume(c, mode));
}

/**
 * The inverse of a recorded resampling: each key it acted on resampled by `resampleVolume` with the key's forward
 * mode (`modes`, indexed as `keys`), or 'nearest' when `opts.nearest` (Invert's nearestInterp).
 */
export function invertResample<T extends object, M extends ResizeMode>(
  data: T, keys: readonly string[], modes: readonly (M | null)[], imageMode: M, name: string, id: number, opts: InverseOptions | undefined,
  resampleVolume: (v: Volume<Float32Array | Uint8Array>, mode: M | 'nearest', record: TransformRecord) => Volume<Float32Array | Uint8Array>,
): T {
  return invertRecords(data, keys, name, id, (v, record, key) => resampleChannels(v, key, opts?.nearest ? 'nearest' : modes[keys.indexOf(key)] ?? null,
    imageMode, `${name}.inverse`, (c, mode) => resampleVolume(c, mode, record)));
}

export interface ResizeOptions {
  keys: string | readonly string[];
  /** Output size (≤ 0 keeps the axis). */
  spatialSize: SpatialSize;
  /**
   * Default: MONAI's 'area' for Float32Array volumes, 'nearest' for Uint8Array labels (MONAI's 'area' would average
   * a label's classes into a float volume; a label takes 'nearest' only).
   */
  mode?: ResizeMode | readonly ResizeMode[];
}

const RESIZE_MODES: readonly ResizeMode[] = ['area', 'trilinear', 'nearest'];

/**
 * MONAI's `Resized` (`size_mode="all"`, no anti-aliasing) as `F.interpolate`: 'area' (adaptive average pooling),
 * 'trilinear' (align_corners=False) or PyTorch's 'nearest' (source ⌊j·in/out⌋); the trilinear and nearest source
 * indices follow PyTorch's float32 arithmetic. A key already of the output size keeps its values in every mode, as MONAI's.
 * The sample's affine and spacing, when it has them, follow MONAI's `scale_affine` (voxel centres kept in place).
 */
export class Resize implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #size: Shape3;
  readonly #modes: (ResizeMode | null)[];

  constructor(opts: ResizeOptions) {
    this.#keys = keyList(opts.keys, 'Resize');
    this.#size = checkSpatialSize(opts.spatialSize, 'spatialSize', 'Resize');
    this.#modes = modesFor(opts.mode, RESIZE_MODES, this.#keys, 'Resize');
  }

  apply<T extends object>(data: T): T {
    const resized = resampleKeys(data, this.#keys, this.#modes, 'area', 'Resize', (v, mode) => resizeVolume(v, resolveSize(this.#size, v.shape), mode));
    const out = withRecord(data, resized, this.#keys, { className: 'Resize', id: this.transformId, doTransform: true, extraInfo: {} }, GEOMETRY_KEYS);
    if (!(AFFINE_KEY in data) && !(SPACING_KEY in data)) return out;
    // the geometry needs the keys' one input shape
    const shape = readSameSpatialShape(data, this.#keys, 'Resize')[0]!.shape;
    return withGeometry('Resize', data, out, scaleMap(shape, resolveSize(this.#size, shape)));
  }

  /** MONAI's Resize.inverse: resized back to the recorded shape with the key's mode ('nearest' with `opts.nearest`). */
  inverse<T extends object>(data: T, opts?: InverseOptions): T {
    return invertResample(data, this.#keys, this.#modes, 'area', 'Resize', this.transformId, opts, (c, mode, record) => resizeVolume(c, record.origSize, mode));
  }
}

/** One channel resized to `size` as F.interpolate does (Resize's computation): 'area', 'trilinear' or 'nearest'. */
export function resizeVolume<T extends Float32Array | Uint8Array>(v: Volume<T>, size: Readonly<Shape3>, mode: ResizeMode): Volume<T> {
  if (mode === 'area') return areaResample(v as Volume<Float32Array>, size) as Volume<T>;
  return resample(v, [interpolateTable(v.shape[0], size[0], mode), interpolateTable(v.shape[1], size[1], mode), interpolateTable(v.shape[2], size[2], mode)], mode);
}

const SPACING_MODES: readonly InterpolationMode[] = ['trilinear', 'nearest'];

export interface SpacingOptions {
  keys: string | readonly string[];
  /** The output voxel spacing [x, y, z]. */
  pixdim: readonly [number, number, number];
  /** The sample's key that holds its voxel spacing (a NIfTI's `info.pixdim`). Default 'spacing'. */
  spacingKey?: string;
  /**
   * The sample's key holding its 4x4 voxel → world affine (as Orientation reads it); when the sample has one, its
   * columns are scaled by the spacing ratios so that every voxel keeps its world position. Default 'affine'.
   */
  affineKey?: string;
  mode?: InterpolationMode | readonly InterpolationMode[];
}

/**
 * MONAI's `Spacingd` for axis-aligned volumes: output shape round((n − 1)·in/out + 1) per axis (numpy's round, half
 * to even), output voxel j sampled at source coordinate j·out/in with border padding (MONAI's grid from the first
 * voxel's centre), trilinear for images and nearest for labels by default. The sample's spacing entry is updated, and
 * its affine when it has one.
 */
export class Spacing implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #pixdim: Shape3;
  readonly #spacingKey: string;
  readonly #affineKey: string;
  readonly #modes: (InterpolationMode | null)[];

  constructor(opts: SpacingOptions) {
    this.#keys = keyList(opts.keys, 'Spacing');
    const p = opts.pixdim;
    if (!Array.isArray(p) || p.length !== 3 || !p.every((x) => Number.isFinite(x) && x > 0)) throw new Error(`Spacing: pixdim must be three positive numbers, got ${JSON.stringify(p)}`);
    this.#pixdim = [p[0], p[1], p[2]];
    this.#spacingKey = opts.spacingKey ?? SPACING_KEY;
    this.#affineKey = opts.affineKey ?? AFFINE_KEY;
    this.#modes = modesFor(opts.mode, SPACING_MODES, this.#keys, 'Spacing');
  }

  apply<T extends object>(data: T): T {
    const src = (data as Record<string, unknown>)[this.#spacingKey] as unknown;
    if (!Array.isArray(src) || src.length !== 3 || !src.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
      throw new Error(`Spacing: key '${this.#spacingKey}' must hold the sample's voxel spacing, three positive numbers, got ${JSON.stringify(src)}`);
    }
    const ratio = AXES.map((a) => this.#pixdim[a] / (src[a] as number));
    const affine = this.#affineKey in data ? readAffine(data, this.#affineKey, 'Spacing') : null;
    const table = (inSize: number, r: number, mode: InterpolationMode): AxisTable => spacingTable(inSize, Math.max(1, roundHalfEven((inSize - 1) / r + 1)), r, mode);
    const result = resampleKeys(data, this.#keys, this.#modes, 'trilinear', 'Spacing', (v, mode) => resample(v, [
      table(v.shape[0], ratio[0]!, mode), table(v.shape[1], ratio[1]!, mode), table(v.shape[2], ratio[2]!, mode),
    ], mode));
    const out: Record<string, unknown> = { ...result, [this.#spacingKey]: [...this.#pixdim] };
    // output voxel j sits at source voxel j·ratio: the voxel → world map takes the ratios into its columns
    if (affine) out[this.#affineKey] = affine.map((row) => row.map((x, j) => (j < 3 ? x * ratio[j]! : x)));
    return withRecord(data, out as T, this.#keys, { className: 'Spacing', id: this.transformId, doTransform: true, extraInfo: { ratio } }, [this.#affineKey, this.#spacingKey]);
  }

  /**
   * Back onto the recorded grid: original voxel j reads the resampled volume at j / ratio (the forward's grid run
   * backwards, border padding), with the key's mode ('nearest' with `opts.nearest`); the affine and spacing as recorded.
   */
  inverse<T extends object>(data: T, opts?: InverseOptions): T {
    return invertResample(data, this.#keys, this.#modes, 'trilinear', 'Spacing', this.transformId, opts, (c, mode, record) => {
      const ratio = record.extraInfo.ratio as number[];
      return resample(c, AXES.map((a) => spacingTable(c.shape[a], record.origSize[a], 1 / ratio[a]!, mode)) as [AxisTable, AxisTable, AxisTable], mode);
    });
  }
}

/** A 4x4 affine as the sample holds it (row-major number[][], as nifti.ts's `affine`), checked. */
export function readAffine(data: object, key: string, name: string): number[][] {
  const a = (data as Record<string, unknown>)[key];
  const ok = Array.isArray(a) && a.length === 4 && a.every((row) => Array.isArray(row) && row.length === 4 && row.every((x) => typeof x === 'number' && Number.isFinite(x)));
  if (!ok) throw new Error(`${name}: key '${key}' must hold the sample's affine, a 4x4 row-major number[][] (as readNifti's info.affine), got ${JSON.stringify(a)?.slice(0, 80)}`);
  return (a as number[][]).map((row) => [...row]);
}

function det3(m: readonly (readonly number[])[]): number {
  return m[0]![0]! * (m[1]![1]! * m[2]![2]! - m[1]![2]! * m[2]![1]!) - m[0]![1]! * (m[1]![0]! * m[2]![2]! - m[1]![2]! * m[2]![0]!)
    + m[0]![2]! * (m[1]![0]! * m[2]![1]! - m[1]![1]! * m[2]![0]!);
}

/** The inverse transpose of a 3x3 matrix (its cofactors over the determinant). */
function invTranspose3(m: readonly (readonly number[])[]): number[][] {
  const d = det3(m);
  const c = (r: number, k: number): number => {
    const rs = [0, 1, 2].filter((i) => i !== r), ks = [0, 1, 2].filter((i) => i !== k);
    const minor = m[rs[0]!]![ks[0]!]! * m[rs[1]!]![ks[1]!]! - m[rs[0]!]![ks[1]!]! * m[rs[1]!]![ks[0]!]!;
    return ((r + k) % 2 === 0 ? minor : -minor) / d;
  };
  return [0, 1, 2].map((r) => [0, 1, 2].map((k) => c(r, k)));
}

/** The inverse of a 4x4 affine map (last row 0 0 0 1): [A⁻¹, −A⁻¹·t]. Throws on a singular 3x3 part. */
export function invertAffine4(m: readonly (readonly number[])[]): Matrix4 {
  const a = AXES.map((i) => AXES.map((j) => m[i]![j]!));
  if (!(Math.abs(det3(a)) > 1e-12)) throw new Error(`invertAffine4: the matrix's 3x3 part is singular (${JSON.stringify(m)})`);
  const t = invTranspose3(a);
  const inv = AXES.map((i) => AXES.map((j) => t[j]![i]!));
  return [...AXES.map((i) => [...inv[i]!, -(inv[i]![0]! * m[0]![3]! + inv[i]![1]! * m[1]![3]! + inv[i]![2]! * m[2]![3]!)]), [0, 0, 0, 1]];
}

/**
 * nibabel's `io_orientation` (what MONAI's Orientation reads an affine with): for each voxel axis, the world axis it
 * runs along and its sign, from the orthogonal polar factor of the affine's column-normalised 3x3 part (Newton's
 * iteration R ← (R + R⁻ᵀ)/2, the SVD's U·Vᵀ), each voxel axis in turn taking the world axis of its largest entry
 * still free.
 */
export function affineOrientation(affine: readonly (readonly number[])[]): { axis: Shape3; sign: Shape3 } {
  const cols = AXES.map((j) => Math.hypot(affine[0]![j]!, affine[1]![j]!, affine[2]![j]!));
  if (cols.some((n) => !(n > 0))) throw new Error(`affineOrientation: the affine's 3x3 part has a zero column (${JSON.stringify(affine)})`);
  let r = AXES.map((i) => AXES.map((j) => affine[i]![j]! / cols[j]!));
  if (!(Math.abs(det3(r)) > 1e-12)) throw new Error(`affineOrientation: the affine's 3x3 part is singular (${JSON.stringify(affine)})`);
  for (let it = 0; it < 100; it++) {
    const t = invTranspose3(r);
    const next = r.map((row, i) => row.map((x, j) => (x + t[i]![j]!) / 2));
    const change = Math.max(...next.flat().map((x, k) => Math.abs(x - r.flat()[k]!)));
    r = next;
    if (change < 1e-15) break;
  }
  const axis: Shape3 = [0, 0, 0], sign: Shape3 = [1, 1, 1];
  for (const j of AXES) {
    let best = -1;
    for (const i of AXES) if (best < 0 || Math.abs(r[i]![j]!) > Math.abs(r[best]![j]!)) best = i;
    axis[j] = best;
    sign[j] = r[best]![j]! < 0 ? -1 : 1;
    for (const k of AXES) r[best]![k] = 0;
  }
  return { axis, sign };
}

/** MONAI's default orientation labels: world axis w runs from labels[w][0] to labels[w][1]. */
const ORIENTATION_LABELS = [['L', 'R'], ['P', 'A'], ['I', 'S']] as const;

/** An axcodes string as world axis and sign per output axis ('RAS' → x to the right, y to anterior, z to superior). */
function parseAxcodes(axcodes: unknown, name: string): { axis: Shape3; sign: Shape3 } {
  const fail = (): never => {
    throw new Error(`${name}: axcodes must be three letters, one of L/R, one of P/A and one of I/S (e.g. 'RAS'), got ${JSON.stringify(axcodes)}`);
  };
  if (typeof axcodes !== 'string' || axcodes.length !== 3) return fail();
  const axis: Shape3 = [0, 0, 0], sign: Shape3 = [1, 1, 1];
  [...axcodes.toUpperCase()].forEach((c, d) => {
    const w = ORIENTATION_LABELS.findIndex((pair) => (pair as readonly string[]).includes(c));
    if (w < 0) fail();
    axis[d] = w;
    sign[d] = c === ORIENTATION_LABELS[w]![1] ? 1 : -1;
  });
  if (new Set(axis).size !== 3) fail();
  return { axis, sign };
}

/** The letters of an orientation ('RAS', 'LPS', …). */
export function orientationCodes(o: { axis: Readonly<Shape3>; sign: Readonly<Shape3> }): string {
  return AXES.map((d) => ORIENTATION_LABELS[o.axis[d]]![o.sign[d] > 0 ? 1 : 0]).join('');
}

export interface OrientationOptions {
  keys: string | readonly string[];
  /** The target orientation: three letters, one of L/R, P/A, I/S, each naming where its axis runs to (MONAI's 'RAS' convention). */
  axcodes: string;
  /** The sample's key holding its 4x4 row-major affine (voxel → world, as readNifti gives it). Default 'affine'. */
  affineKey?: string;
  /** The sample's key holding its voxel spacing, permuted alike when present. Default 'spacing'. */
  spacingKey?: string;
}

/**
 * MONAI's `Orientationd`: permutes and flips the axes of every key so that they run as `axcodes` says, reading the
 * current orientation from the sample's affine (nibabel's io_orientation); the affine becomes affine · T, T the map
 * from new voxel indices to old ones (so every voxel keeps its world position), and the spacing entry, when present,
 * is permuted with the axes.
 */
export class Orientation implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #target: { axis: Shape3; sign: Shape3 };
  readonly #affineKey: string;
  readonly #spacingKey: string;

  constructor(opts: OrientationOptions) {
    this.#keys = keyList(opts.keys, 'Orientation');
    this.#target = parseAxcodes(opts.axcodes, 'Orientation');
    this.#affineKey = opts.affineKey ?? AFFINE_KEY;
    this.#spacingKey = opts.spacingKey ?? SPACING_KEY;
  }

  apply<T extends object>(data: T): T {
    const name = 'Orientation';
    const affine = readAffine(data, this.#affineKey, name);
    let src: { axis: Shape3; sign: Shape3 };
    try {
      src = affineOrientation(affine);
    } catch (e) {
      throw new Error(`${name}: key '${this.#affineKey}': ${(e as Error).message}`);
    }
    // output axis d runs along the source voxel axis whose world axis is the target's, flipped where the signs differ
    const perm = AXES.map((d) => src.axis.indexOf(this.#target.axis[d]!)) as Shape3;
    const flip = AXES.map((d) => src.sign[perm[d]] !== this.#target.sign[d]);
    return orientKeys(name, this.transformId, data, this.#keys, perm, flip, { affineKey: this.#affineKey, spacingKey: this.#spacingKey });
  }

  /** Back to the original axes (and the recorded affine and spacing). */
  inverse<T extends object>(data: T): T {
    return invertOrient(data, this.#keys, 'Orientation', this.transformId);
  }
}

function checkPadMode(mode: unknown, name: string): PadMode {
  const m = mode ?? 'constant';
  if (m !== 'constant' && m !== 'edge') throw new Error(`${name}: mode must be 'constant' (zeros) or 'edge', got ${JSON.stringify(mode)}`);
  return m;
}

export interface DivisiblePadOptions {
  keys: string | readonly string[];
  /** Each axis is padded up to a multiple of k (one k or one per axis; k ≤ 0 leaves the axis). */
  k: SpatialSize;
  /** 'constant' (zeros, MONAI's default) or numpy's 'edge'. */
  mode?: PadMode;
  /** 'symmetric' (the default: ⌊d/2⌋ before, the rest after) or 'end'. */
  method?: 'symmetric' | 'end';
}

/** MONAI's `DivisiblePadd`: pads every key so that each spatial size is the next multiple of k (⌈n/k⌉·k). */
export class DivisiblePad implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #k: Shape3;
  readonly #mode: PadMode;
  readonly #method: 'symmetric' | 'end';

  constructor(opts: DivisiblePadOptions) {
    const name = 'DivisiblePad';
    this.#keys = keyList(opts.keys, name);
    this.#k = checkSpatialSize(opts.k, 'k', name);
    this.#mode = checkPadMode(opts.mode, name);
    this.#method = padMethod(opts.method, name);
  }

  apply<T extends object>(data: T): T {
    const vols = readSameSpatialShape(data, this.#keys, 'DivisiblePad');
    const shape = vols[0]!.shape;
    const target = AXES.map((a) => (this.#k[a] > 0 ? Math.ceil(shape[a] / this.#k[a]) * this.#k[a] : shape[a])) as Shape3;
    const { start, size } = padRegion(shape, target, this.#method);
    return cropKeys('DivisiblePad', data, this.#keys, vols, start, size, this.#mode, this.transformId);
  }

  /** Cuts the padding off. */
  inverse<T extends object>(data: T): T {
    return invertCrop(data, this.#keys, 'DivisiblePad', this.transformId);
  }
}

export interface BorderPadOptions {
  keys: string | readonly string[];
  /**
   * Voxels added: one number (every side), three (both sides of each axis) or six ([x before, x after, y before,
   * y after, z before, z after]); all ≥ 0.
   */
  spatialBorder: number | readonly number[];
  /** 'constant' (zeros, MONAI's default) or numpy's 'edge'. */
  mode?: PadMode;
}

/** MONAI's `BorderPadd`: pads every key by the given border on each side. */
export class BorderPad implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #keys: string[];
  readonly #before: Shape3;
  readonly #after: Shape3;
  readonly #mode: PadMode;

  constructor(opts: BorderPadOptions) {
    const name = 'BorderPad';
    this.#keys = keyList(opts.keys, name);
    const b = opts.spatialBorder;
    const list = typeof b === 'number' ? [b] : Array.isArray(b) ? [...b] : [];
    if (![1, 3, 6].includes(list.length) || !list.every((x) => Number.isInteger(x) && x >= 0)) {
      throw new Error(`${name}: spatialBorder must be one, three or six integers ≥ 0 (all sides, each axis, or before/after per axis), got ${JSON.stringify(b)}`);
    }
    const per = (a: number, after: number): number => (list.length === 1 ? list[0]! : list.length === 3 ? list[a]! : list[2 * a + after]!);
    this.#before = AXES.map((a) => per(a, 0)) as Shape3;
    this.#after = AXES.map((a) => per(a, 1)) as Shape3;
    this.#mode = checkPadMode(opts.mode, name);
  }

  apply<T extends object>(data: T): T {
    const vols = readSameSpatialShape(data, this.#keys, 'BorderPad');
    const shape = vols[0]!.shape;
    const start = AXES.map((a) => -this.#before[a]) as Shape3, size = AXES.map((a) => shape[a] + this.#before[a] + this.#after[a]) as Shape3;
    return cropKeys('BorderPad', data, this.#keys, vols, start, size, this.#mode, this.transformId);
  }

  /** Cuts the border off. */
  inverse<T extends object>(data: T): T {
    return invertCrop(data, this.#keys, 'BorderPad', this.transformId);
  }
}

export interface RandSpatialCropSamplesOptions extends RandSpatialCropOptions {
  /** Crops per sample. */
  numSamples: number;
}

/**
 * MONAI's `RandSpatialCropSamplesd`: `numSamples` independent RandSpatialCrops of every key (a list of samples), each
 * drawing as RandSpatialCrop does, one after the other.
 */
export class RandSpatialCropSamples implements Transform {
  /** Not invertible (one sample became several): always throws, naming why, as MONAI has no inverse for it. */
  inverse(): never {
    return notInvertible('RandSpatialCropSamples');
  }

  readonly #crop: RandSpatialCrop;
  readonly #numSamples: number;

  constructor(opts: RandSpatialCropSamplesOptions) {
    const name = 'RandSpatialCropSamples';
    this.#numSamples = checkNumSamples(opts.numSamples, name, null);
    this.#crop = new RandSpatialCrop(opts);
  }

  apply<T extends object>(data: T, rng?: Rng): T[] {
    const r = requireRng(rng, 'RandSpatialCropSamples');
    return Array.from({ length: this.#numSamples }, () => this.#crop.apply(data, r));
  }
}

export interface RandCropByLabelClassesOptions {
  keys: string | readonly string[];
  /** The label: one channel of class indices (with numClasses), or one-hot channels (one per class). */
  labelKey: string;
  /** Crop size (≤ 0 keeps the axis). */
  spatialSize: SpatialSize;
  /** The weight of each class (background included) as a crop centre. Default 1 for every class. */
  ratios?: readonly number[];
  /** The number of classes of a one-channel label (required for one). */
  numClasses?: number;
  /** Crops per sample. Default 1. */
  numSamples?: number;
  /** With it, only voxels where this image is > `imageThreshold` (any channel) are candidates. */
  imageKey?: string;
  imageThreshold?: number;
  /** Shrink the crop to an axis smaller than it instead of failing. Default false. */
  allowSmaller?: boolean;
  /** At most this many candidate voxels per class, evenly spaced over its list (MONAI's max_samples_per_class). */
  maxSamplesPerClass?: number;
}

/** numpy's round and std::nearbyint: to the nearest integer, a half to the even one. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x), frac = x - f;
  return frac > 0.5 || (frac === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/**
 * MONAI's `RandCropByLabelClassesd`: `numSamples` crops, each centred on a voxel of a class drawn with probability
 * ratio / Σ ratios (a class without voxels gets ratio 0, as MONAI does with a warning), the centre moved so the crop
 * fits. Draws, in MONAI's order: the class of every crop first (one u each, numpy's `choice`), then the voxel index of
 * each crop within its class's voxels (C order).
 */
export class RandCropByLabelClasses implements Transform {
  /** Not invertible (one sample became several): always throws, naming why, as MONAI has no inverse for it. */
  inverse(): never {
    return notInvertible('RandCropByLabelClasses');
  }

  readonly #keys: string[];
  readonly #opts: RandCropByLabelClassesOptions;
  readonly #size: Shape3;
  readonly #numSamples: number;

  constructor(opts: RandCropByLabelClassesOptions) {
    const name = 'RandCropByLabelClasses';
    this.#keys = keyList(opts.keys, name);
    if (typeof opts.labelKey !== 'string') throw new Error(`${name}: labelKey must be a key, got ${JSON.stringify(opts.labelKey)}`);
    this.#size = checkSpatialSize(opts.spatialSize, 'spatialSize', name);
    if (opts.ratios !== undefined && (!Array.isArray(opts.ratios) || !opts.ratios.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0))) {
      throw new Error(`${name}: ratios must be finite numbers ≥ 0, one per class, got ${JSON.stringify(opts.ratios)}`);
    }
    if (opts.numClasses !== undefined && !(Number.isInteger(opts.numClasses) && opts.numClasses >= 1)) throw new Error(`${name}: numClasses must be a positive integer, got ${opts.numClasses}`);
    this.#numSamples = checkNumSamples(opts.numSamples, name);
    if (opts.maxSamplesPerClass !== undefined && !(Number.isInteger(opts.maxSamplesPerClass) && opts.maxSamplesPerClass >= 1)) {
      throw new Error(`${name}: maxSamplesPerClass must be a positive integer, got ${opts.maxSamplesPerClass}`);
    }
    this.#opts = { ...opts };
  }

  /** MONAI's `map_classes_to_indices`: each class's candidate voxels (C-order indices). */
  #classIndices(label: Channels, image: Channels | null): number[][] {
    const name = 'RandCropByLabelClasses';
    const { labelKey, numClasses } = this.#opts;
    const oneHot = label.channels.length > 1;
    if (!oneHot && numClasses === undefined) throw new Error(`${name}: key '${labelKey}' has one channel (class indices), so numClasses must be given (or give a one-hot label)`);
    const n = oneHot ? label.channels.length : numClasses!;
    if (oneHot && numClasses !== undefined && numClasses !== n) throw new Error(`${name}: key '${labelKey}' is one-hot with ${n} channels, numClasses is ${numClasses}`);
    const threshold = this.#opts.imageThreshold ?? 0;
    const candidates = image && anyChannel(image.channels, (v) => v > threshold);
    const indices: number[][] = Array.from({ length: n }, () => []);
    const size = label.channels[0]!.data.length;
    for (let i = 0; i < size; i++) {
      if (candidates && !candidates.test(candidates.data[i]!)) continue;
      if (oneHot) {
        for (let c = 0; c < n; c++) if (label.channels[c]!.data[i] !== 0) indices[c]!.push(i);
      } else {
        const c = label.channels[0]!.data[i]!;
        if (c >= 0 && c < n && Number.isInteger(c)) indices[c]!.push(i);
      }
    }
    const max = this.#opts.maxSamplesPerClass;
    return !max ? indices : indices.map((list) => (list.length > max && list.length > 1
      ? Array.from({ length: max }, (_, j) => list[roundHalfEven(max === 1 ? 0 : (j * (list.length - 1)) / (max - 1))]!) : list));
  }

  apply<T extends object>(data: T, rng?: Rng): T[] {
    const name = 'RandCropByLabelClasses';
    const r = requireRng(rng, name);
    const { label, shape, vols, image, size } = readLabelCrop(data, this.#keys, this.#opts, this.#size, name);
    const indices = this.#classIndices(label, image);
    const ratios = this.#opts.ratios ? [...this.#opts.ratios] : indices.map(() => 1);
    if (ratios.length !== indices.length) throw new Error(`${name}: ratios has ${ratios.length} entries, the label has ${indices.length} classes`);
    indices.forEach((list, c) => { if (list.length === 0) ratios[c] = 0; });
    const total = ratios.reduce((a, b) => a + b, 0);
    if (!(total > 0)) throw new Error(`${name}: no class with a nonzero ratio has a candidate voxel in key '${this.#opts.labelKey}'`);
    const classes = Array.from({ length: this.#numSamples }, () => {
      const u = r.random() * total;
      let acc = 0;
      for (let c = 0; c < ratios.length; c++) {
        acc += ratios[c]!;
        if (u < acc && ratios[c]! > 0) return c;
      }
      return ratios.findLastIndex((x) => x > 0);
    });
    return classes.map((c) => cropAtVoxel('RandCropByLabelClasses', data, this.#keys, vols, indices[c]![r.int(indices[c]!.length)]!, size, shape));
  }
}
