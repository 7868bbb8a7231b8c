/**
 * MONAI's resampling spatial transforms (dictionary form): `Affine`/`RandAffine` (rotate, shear, translate, scale
 * about the volume's centre), `Zoom`/`RandZoom` and `Rand3DElastic`. One geometry is drawn per sample and applied to
 * every key (every channel of a channel-first [C, X, Y, Z] key alike); the keys share one spatial shape.
 *
 * Geometry as MONAI's `AffineGrid` + `Resample` (torch `grid_sample`, align_corners=False): an output voxel k along an
 * axis of output size n sits at the centred coordinate k − (n − 1)/2; the 4x4 matrix maps it to a centred source
 * coordinate c, which is the source voxel index c + (d − 1)/2 for a source axis of size d ≥ 2 (c/2 when d = 1, as
 * grid_sample's normalisation by max(d, 2) gives). Values there are read 'bilinear' (trilinear in 3-D) or 'nearest'
 * (rounding half to even) with 'zeros', 'border' or 'reflection' padding, in float64.
 */
import type { Rng } from './random.js';
import { gaussianFilter } from './transforms-intensity.js';
import {
  checkProb, checkSpatialSize, invertRecords, keyList, nextTransformId, readSameSpatialShape, requireRng, resolveSize, withRecord, withVolumes,
  type Channels, type InverseOptions, type InvertibleTransform, type SpatialSize, type SpatialVolume, type Transform,
} from './transforms.js';
import {
  AFFINE_KEY, SPACING_KEY, cropOrPad, invertAffine4, invertResample, mapChannels, matmul4, modesFor, padOrCropRegion, resampleKeys, resizeVolume,
  roundHalfEven, scaleMap, shiftMap, skipRecord, withGeometry, type Matrix4, type PadMode, type ResizeMode,
} from './transforms-spatial.js';
import { allocLike, type Shape3, type Volume } from './volume.js';

const AXES = [0, 1, 2] as const;

/** A 4x4 matrix, row-major. */

export type GridSampleMode = 'bilinear' | 'nearest';
export type GridSamplePadMode = 'zeros' | 'border' | 'reflection';

const GRID_MODES: readonly GridSampleMode[] = ['bilinear', 'nearest'];
const PAD_MODES: readonly GridSamplePadMode[] = ['zeros', 'border', 'reflection'];

function identity4(): Matrix4 {
  return [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0)));
}


/**
 * MONAI's `create_rotate` (3-D): the rotation by radians[0] in the (1, 2) plane, then (multiplied on the right) by
 * radians[1] in the (0, 2) plane and radians[2] in the (0, 1) plane, as many as given.
 */
export function createRotate(radians: readonly number[]): Matrix4 {
  let m = identity4();
  const planes: [number, number, number][] = [[1, 2, 1], [0, 2, -1], [0, 1, 1]]; // (p, q, sign of the (p, q) sine)
  radians.slice(0, 3).forEach((t, i) => {
    const [p, q, sgn] = planes[i]!, r = identity4(), s = Math.sin(t), c = Math.cos(t);
    r[p]![p] = c;
    r[q]![q] = c;
    r[p]![q] = -sgn * s;
    r[q]![p] = sgn * s;
    m = matmul4(m, r);
  });
  return m;
}

/** MONAI's `create_shear` (3-D): off-diagonal entries (0,1) (0,2) (1,0) (1,2) (2,0) (2,1) from coefs, missing ones 0. */
export function createShear(coefs: readonly number[]): Matrix4 {
  const m = identity4();
  const cells = [[0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1]] as const;
  coefs.slice(0, 6).forEach((c, i) => { m[cells[i]![0]]![cells[i]![1]] = c; });
  return m;
}

/** MONAI's `create_translate`: shifts in voxels, missing ones 0. */
export function createTranslate(shift: readonly number[]): Matrix4 {
  const m = identity4();
  shift.slice(0, 3).forEach((s, i) => { m[i]![3] = s; });
  return m;
}

/** MONAI's `create_scale`: the diagonal, missing factors 1. */
export function createScale(factors: readonly number[]): Matrix4 {
  const m = identity4();
  factors.slice(0, 3).forEach((f, i) => { m[i]![i] = f; });
  return m;
}

/** The parameters of an affine, as MONAI's `AffineGrid` takes them (each optional, any length up to its full one). */
export interface AffineParams {
  /** Radians, the rotation of each plane (see createRotate). */
  rotateParams?: number | readonly number[];
  /** Up to six shear coefficients (see createShear). */
  shearParams?: number | readonly number[];
  /** Voxels, relative to the centre. */
  translateParams?: number | readonly number[];
  /** Scale factors (1 = unchanged); > 1 samples a wider source region, so the content shrinks. */
  scaleParams?: number | readonly number[];
}

const asList = (p: number | readonly number[] | undefined): number[] => (p === undefined ? [] : typeof p === 'number' ? [p] : [...p]);

/**
 * MONAI's `AffineGrid` matrix: rotate · shear · translate · scale (each factor only when its parameters are given
 * and non-empty), mapping centred output coordinates to centred source ones.
 */
export function affineMatrix(p: AffineParams): Matrix4 {
  let m = identity4();
  const rotate = asList(p.rotateParams), shear = asList(p.shearParams), translate = asList(p.translateParams), scale = asList(p.scaleParams);
  if (rotate.length > 0) m = matmul4(m, createRotate(rotate));
  if (shear.length > 0) m = matmul4(m, createShear(shear));
  if (translate.length > 0) m = matmul4(m, createTranslate(translate));
  if (scale.length > 0) m = matmul4(m, createScale(scale));
  return m;
}

function checkParams(p: number | readonly number[] | undefined, max: number, option: string, name: string): void {
  if (p === undefined) return;
  const list = typeof p === 'number' ? [p] : Array.isArray(p) ? p : null;
  if (!list || list.length > max || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new Error(`${name}: ${option} must be a finite number or up to ${max} of them, got ${JSON.stringify(p)}`);
  }
}

function checkMatrix(m: unknown, option: string, name: string): Matrix4 {
  const ok = Array.isArray(m) && m.length === 4 && m.every((row) => Array.isArray(row) && row.length === 4 && row.every((x) => typeof x === 'number' && Number.isFinite(x)));
  if (!ok) throw new Error(`${name}: ${option} must be a 4x4 row-major matrix of finite numbers, got ${JSON.stringify(m)?.slice(0, 80)}`);
  return (m as number[][]).map((row) => [...row]);
}

/** The centred coordinate of output voxel k along an axis of size n (create_grid's linspace). */
const centred = (k: number, n: number): number => k - (n - 1) / 2;

/**
 * A centred source coordinate as a voxel index along an axis of size d: grid_sample's ((2c/max(d, 2) + 1)·d − 1)/2
 * (align_corners=False), written c + (d − 1)/2 for d ≥ 2 (exact in float64, so the identity keeps every voxel) and c/2
 * for d = 1.
 */
const toIndex = (c: number, d: number): number => (d >= 2 ? c + (d - 1) / 2 : c / 2);

/**
 * The source voxel coordinates (x, y, z of each output voxel, C order) of an output grid of `outShape`: centred
 * coordinates, plus `displacement` (3 fields of outShape, centred units) when given, mapped by `matrix`, as indices
 * into a source of `inShape`.
 */
function sourceCoordinates(matrix: readonly (readonly number[])[], inShape: Readonly<Shape3>, outShape: Readonly<Shape3>, displacement?: readonly Float64Array[]): Float64Array {
  const n = outShape[0] * outShape[1] * outShape[2];
  const out = new Float64Array(3 * n);
  let i = 0;
  for (let a = 0; a < outShape[0]; a++) {
    for (let b = 0; b < outShape[1]; b++) {
      for (let c = 0; c < outShape[2]; c++, i++) {
        let p = centred(a, outShape[0]), q = centred(b, outShape[1]), r = centred(c, outShape[2]);
        if (displacement) {
          p += displacement[0]![i]!;
          q += displacement[1]![i]!;
          r += displacement[2]![i]!;
        }
        for (const d of AXES) {
          const m = matrix[d]!;
          out[3 * i + d] = toIndex(m[0]! * p + m[1]! * q + m[2]! * r + m[3]!, inShape[d]);
        }
      }
    }
  }
  return out;
}

/** grid_sample's reflection about −0.5 and d − 0.5 (align_corners=False), then clipped into [0, d − 1]. */
function reflect(x: number, d: number): number {
  const span = d;
  let y = Math.abs(x + 0.5);
  const flips = Math.floor(y / span), extra = y - flips * span;
  y = flips % 2 === 0 ? extra - 0.5 : span - extra - 0.5;
  return Math.min(Math.max(y, 0), d - 1);
}

/** One channel [X, Y, Z] sampled at `coords` (source voxel indices, 3 per output voxel), the result `outShape`. */
export function gridSample<T extends Float32Array | Uint8Array>(v: Volume<T>, coords: Float64Array, outShape: Readonly<Shape3>, mode: GridSampleMode, padding: GridSamplePadMode): Volume<T> {
  const [X, Y, Z] = v.shape, d = v.data;
  const n = coords.length / 3;
  const out = allocLike(d, n);
  const size = [X, Y, Z];
  const p = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    for (const a of AXES) {
      const x = coords[3 * i + a]!;
      p[a] = padding === 'border' ? Math.min(Math.max(x, 0), size[a]! - 1) : padding === 'reflection' ? reflect(x, size[a]!) : x;
    }
    if (mode === 'nearest') {
      const x = roundHalfEven(p[0]!), y = roundHalfEven(p[1]!), z = roundHalfEven(p[2]!);
      out[i] = x < 0 || y < 0 || z < 0 || x >= X || y >= Y || z >= Z ? 0 : d[(x * Y + y) * Z + z]!;
      continue;
    }
    const x0 = Math.floor(p[0]!), y0 = Math.floor(p[1]!), z0 = Math.floor(p[2]!);
    const wx = p[0]! - x0, wy = p[1]! - y0, wz = p[2]! - z0;
    let s = 0;
    for (let dx = 0; dx < 2; dx++) {
      const x = x0 + dx, fx = dx ? wx : 1 - wx;
      if (x < 0 || x >= X || fx === 0) continue;
      for (let dy = 0; dy < 2; dy++) {
        const y = y0 + dy, fy = dy ? wy : 1 - wy;
        if (y < 0 || y >= Y || fy === 0) continue;
        for (let dz = 0; dz < 2; dz++) {
          const z = z0 + dz, fz = dz ? wz : 1 - wz;
          if (z < 0 || z >= Z || fz === 0) continue;
          s += fx * fy * fz * d[(x * Y + y) * Z + z]!;
        }
      }
    }
    out[i] = s;
  }
  return { data: out, shape: [outShape[0], outShape[1], outShape[2]] };
}

/** Options every grid-resampling transform takes. */
export interface GridResampleOptions {
  keys: string | readonly string[];
  /** Output size (≤ 0 keeps that axis; default the input's). */
  spatialSize?: SpatialSize;
  /** 'bilinear' or 'nearest', once or per key. Default: 'bilinear' for Float32Array volumes, 'nearest' for Uint8Array labels. */
  mode?: GridSampleMode | readonly GridSampleMode[];
  /** Outside the volume: 'zeros', 'border' or 'reflection' (MONAI's default), once or per key. */
  paddingMode?: GridSamplePadMode | readonly GridSamplePadMode[];
}

/** The checked keys, modes, padding modes and output size of a grid-resampling transform. */
class GridResampler {
  readonly keys: string[];
  readonly #modes: (GridSampleMode | null)[];
  readonly #padding: (GridSamplePadMode | null)[];
  readonly #size: Shape3 | null;
  readonly #name: string;
  readonly #defaultPadding: GridSamplePadMode;

  /** `defaultPadding`: the padding of a key without one ('reflection', as MONAI's Affine; Rotate's is 'border'). */
  constructor(opts: GridResampleOptions, name: string, defaultPadding: GridSamplePadMode = 'reflection') {
    this.keys = keyList(opts.keys, name);
    this.#modes = modesFor(opts.mode, GRID_MODES, this.keys, name);
    this.#padding = modesFor(opts.paddingMode, PAD_MODES, this.keys, name, 'paddingMode');
    this.#size = opts.spatialSize === undefined ? null : checkSpatialSize(opts.spatialSize, 'spatialSize', name);
    this.#name = name;
    this.#defaultPadding = defaultPadding;
  }

  /** The keys' volumes (checked, one spatial shape) and the output size. */
  read(data: object): { vols: Channels[]; inShape: Shape3; outShape: Shape3 } {
    const vols = readSameSpatialShape(data, this.keys, this.#name);
    const inShape = vols[0]!.shape;
    return { vols, inShape, outShape: this.#size ? resolveSize(this.#size, inShape) : [...inShape] };
  }

  /** Every key sampled at `coords`, each with its mode and padding. */
  sample<T extends object>(data: T, vols: readonly Channels[], coords: Float64Array, outShape: Readonly<Shape3>): T {
    return withVolumes(data, this.keys, vols.map((v, i) => this.#sampleKey(v, i, coords, outShape, false, this.#name)));
  }

  /** Key i's channels sampled at `coords` with its mode ('nearest' when `nearest`) and padding. */
  #sampleKey(v: Channels, i: number, coords: Float64Array, outShape: Readonly<Shape3>, nearest: boolean, name: string): SpatialVolume {
    const isLabel = v.channels[0]!.data instanceof Uint8Array;
    const mode = nearest ? 'nearest' : this.#modes[i] ?? (isLabel ? 'nearest' : 'bilinear');
    if (mode !== 'nearest' && isLabel) throw new Error(`${name}: key '${this.keys[i]}' is a Uint8Array volume (a label); resample it with mode 'nearest'`);
    const padding = this.#padding[i] ?? this.#defaultPadding;
    return mapChannels(v, (c) => gridSample(c, coords, outShape, mode, padding));
  }

  /**
   * Every key resampled with `matrix` onto `outShape`, the sample's affine (under `affineKey`) and spacing following
   * (`resampleMap`), the matrix recorded on every key for the inverse.
   */
  resample<T extends object>(data: T, vols: readonly Channels[], matrix: Matrix4, inShape: Readonly<Shape3>, outShape: Readonly<Shape3>, affineKey: string, id: number): T {
    const out = this.sample(data, vols, sourceCoordinates(matrix, inShape, outShape), outShape);
    const moved = withGeometry(this.#name, out, out, resampleMap(matrix, inShape, outShape), { affineKey, spacingKey: SPACING_KEY });
    return withRecord(data, moved, this.keys, { className: this.#name, id, doTransform: true, extraInfo: { matrix } }, [affineKey, SPACING_KEY]);
  }

  /**
   * MONAI's Affine.inverse: each key resampled back onto its recorded shape through the inverse matrix (original
   * voxel c reads the resampled volume at matrix⁻¹·c, centred coordinates), with the key's mode and padding ('nearest'
   * with `opts.nearest`); the affine and spacing as recorded.
   */
  invert<T extends object>(data: T, id: number, opts: InverseOptions | undefined): T {
    return invertRecords(data, this.keys, this.#name, id, (v, record, key) => this.#sampleKey(v, this.keys.indexOf(key),
      sourceCoordinates(invertAffine4(record.extraInfo.matrix as Matrix4), v.shape, record.origSize), record.origSize, opts?.nearest ?? false, `${this.#name}.inverse`));
  }
}

export interface AffineOptions extends GridResampleOptions, AffineParams {
  /** A 4x4 matrix (centred output → centred source coordinates) used instead of the parameters. */
  affine?: readonly (readonly number[])[];
  /**
   * The sample's key holding its 4x4 affine (voxel → world); when the sample has it, it is updated so that every
   * voxel keeps its world position (MONAI's meta-data affine). Default 'affine'.
   */
  affineKey?: string;
}

/**
 * The index map of resampling with `matrix` (MONAI's `Affine.compute_w_affine`): shift((in − 1)/2) · matrix ·
 * shift(−(out − 1)/2), which the sample's affine and spacing follow (`withGeometry`).
 */
function resampleMap(matrix: Matrix4, inShape: Readonly<Shape3>, outShape: Readonly<Shape3>): Matrix4 {
  return matmul4(matmul4(createTranslate(inShape.map((d) => (d - 1) / 2)), matrix), createTranslate(outShape.map((d) => -(d - 1) / 2)));
}

/**
 * MONAI's `Affined`: resamples every key through the affine made of `rotateParams`, `shearParams`,
 * `translateParams` and `scaleParams` (rotate · shear · translate · scale, about the volume's centre) or the given
 * `affine`, with bilinear/nearest sampling and zeros/border/reflection padding (reflection by default).
 */
export class Affine implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #grid: GridResampler;
  readonly #matrix: Matrix4;
  readonly #affineKey: string;

  constructor(opts: AffineOptions) {
    const name = 'Affine';
    this.#grid = new GridResampler(opts, name);
    checkParams(opts.rotateParams, 3, 'rotateParams', name);
    checkParams(opts.shearParams, 6, 'shearParams', name);
    checkParams(opts.translateParams, 3, 'translateParams', name);
    checkParams(opts.scaleParams, 3, 'scaleParams', name);
    this.#matrix = opts.affine === undefined ? affineMatrix(opts) : checkMatrix(opts.affine, 'affine', name);
    this.#affineKey = opts.affineKey ?? AFFINE_KEY;
  }

  /** The matrix it resamples with (centred output → centred source coordinates). */
  get matrix(): Matrix4 {
    return this.#matrix.map((row) => [...row]);
  }

  apply<T extends object>(data: T): T {
    const { vols, inShape, outShape } = this.#grid.read(data);
    return this.#grid.resample(data, vols, this.matrix, inShape, outShape, this.#affineKey, this.transformId);
  }

  /** Resamples back through the inverse matrix onto the recorded shape, affine and spacing. */
  inverse<T extends object>(data: T, opts?: InverseOptions): T {
    return this.#grid.invert(data, this.transformId, opts);
  }
}

/**
 * A MONAI range option (`RandRange`): per entry a half-width x (uniform in [−x, x)) or a pair [min, max]; a single
 * number is the first entry only (MONAI: "nothing for the remaining dimensions").
 */
export type RandRange = number | readonly (number | readonly [number, number])[];

function checkRange(range: RandRange | undefined, max: number, option: string, name: string): [number, number][] {
  if (range === undefined) return [];
  const list = typeof range === 'number' ? [range] : Array.isArray(range) ? range : null;
  const pairs = list?.map((e) => (typeof e === 'number' ? [-e, e] : Array.isArray(e) && e.length === 2 ? [e[0], e[1]] : [NaN, NaN]) as [number, number]);
  if (!pairs || pairs.length > max || !pairs.every(([lo, hi]) => Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi)) {
    throw new Error(`${name}: ${option} must be a number x (for [−x, x]) or up to ${max} entries, each x or [min, max] with min ≤ max, got ${JSON.stringify(range)}`);
  }
  return pairs;
}

export interface RandAffineRanges {
  /** Radians per plane (see createRotate). */
  rotateRange?: RandRange;
  /** Up to six shear coefficients. */
  shearRange?: RandRange;
  /** Voxels per axis. */
  translateRange?: RandRange;
  /** Per axis; 1 is added to the drawn value (0 = unchanged). */
  scaleRange?: RandRange;
}

/** MONAI's `RandAffineGrid` ranges, checked, and the draw of one set of parameters. */
class AffineRanges {
  readonly #ranges: [number, number][][];

  constructor(opts: RandAffineRanges, name: string) {
    this.#ranges = [
      checkRange(opts.rotateRange, 3, 'rotateRange', name), checkRange(opts.shearRange, 6, 'shearRange', name),
      checkRange(opts.translateRange, 3, 'translateRange', name), checkRange(opts.scaleRange, 3, 'scaleRange', name),
    ];
  }

  /** Draws, in MONAI's order: each rotate, shear, translate, then scale entry uniform in its range (scale + 1). */
  draw(r: Rng): Matrix4 {
    const [rotate, shear, translate, scale] = this.#ranges.map((ranges) => ranges.map(([lo, hi]) => r.uniform(lo, hi)));
    return affineMatrix({ rotateParams: rotate, shearParams: shear, translateParams: translate, scaleParams: scale!.map((s) => s + 1) });
  }
}

export interface RandAffineOptions extends GridResampleOptions, RandAffineRanges {
  /** Default 0.1. */
  prob?: number;
  /** As Affine's. Default 'affine'. */
  affineKey?: string;
}

/**
 * MONAI's `RandAffined`. Draws, in MONAI's order: u < prob, then the parameters (always, as MONAI's dictionary form
 * does). Without the transform and with the output size the input's, the sample is returned as it is; otherwise every
 * key is resampled (through the identity when not transformed, to change the size).
 */
export class RandAffine implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #grid: GridResampler;
  readonly #ranges: AffineRanges;
  readonly #prob: number;
  readonly #affineKey: string;

  constructor(opts: RandAffineOptions) {
    const name = 'RandAffine';
    this.#grid = new GridResampler(opts, name);
    this.#ranges = new AffineRanges(opts, name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
    this.#affineKey = opts.affineKey ?? AFFINE_KEY;
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const r = requireRng(rng, 'RandAffine');
    const { vols, inShape, outShape } = this.#grid.read(data);
    const doTransform = r.random() < this.#prob;
    const drawn = this.#ranges.draw(r);
    if (!doTransform && outShape.every((s, a) => s === inShape[a])) return skipRecord(data, this.#grid.keys, 'RandAffine', this.transformId);
    return this.#grid.resample(data, vols, doTransform ? drawn : identity4(), inShape, outShape, this.#affineKey, this.transformId);
  }

  /** Resamples back through the drawn matrix's inverse (or the identity's, when it only resized) when it resampled. */
  inverse<T extends object>(data: T, opts?: InverseOptions): T {
    return this.#grid.invert(data, this.transformId, opts);
  }
}

export interface RotateOptions extends Omit<GridResampleOptions, 'spatialSize'> {
  /** Radians, up to three (the planes of createRotate). */
  angle: number | readonly number[];
  /** Keep the input's size (true, the default) or grow the output to hold the whole rotated volume. */
  keepSize?: boolean;
  /** As Affine's. Default 'affine'. */
  affineKey?: string;
}

/**
 * The output size MONAI's Rotate gives without keepSize: the extent of the rotated box [0, d] per axis (its corners
 * through the rotation's 3x3 part), plus 0.5, truncated.
 */
function rotatedShape(matrix: Matrix4, shape: Readonly<Shape3>): Shape3 {
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (let c = 0; c < 8; c++) {
    const corner = AXES.map((a) => ((c >> a) & 1 ? shape[a] : 0));
    for (const i of AXES) {
      const v = matrix[i]![0]! * corner[0]! + matrix[i]![1]! * corner[1]! + matrix[i]![2]! * corner[2]!;
      lo[i] = Math.min(lo[i]!, v);
      hi[i] = Math.max(hi[i]!, v);
    }
  }
  return AXES.map((a) => Math.trunc(hi[a]! - lo[a]! + 0.5)) as Shape3;
}

/** What Rotate and RandRotate share: the grid, keepSize, and the rotation of a sample by given angles. */
class Rotator {
  readonly grid: GridResampler;
  readonly #keepSize: boolean;
  readonly #affineKey: string;

  constructor(opts: Omit<RotateOptions, 'angle'>, name: string) {
    this.grid = new GridResampler(opts, name, 'border');
    this.#keepSize = opts.keepSize ?? true;
    if (typeof this.#keepSize !== 'boolean') throw new Error(`${name}: keepSize must be true or false, got ${JSON.stringify(opts.keepSize)}`);
    this.#affineKey = opts.affineKey ?? AFFINE_KEY;
  }

  apply<T extends object>(data: T, angle: readonly number[], id: number): T {
    const { vols, inShape } = this.grid.read(data);
    const matrix = createRotate(angle);
    return this.grid.resample(data, vols, matrix, inShape, this.#keepSize ? inShape : rotatedShape(matrix, inShape), this.#affineKey, id);
  }
}

/**
 * MONAI's `Rotated`: every key rotated by `angle` about its centre (createRotate's planes; output voxel p reads the
 * source at R·p, centred coordinates), bilinear (nearest for labels) with 'border' padding by default, keeping the
 * input's size or growing to hold the whole volume; the sample's affine and spacing follow, as Affine's.
 */
export class Rotate implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #rotator: Rotator;
  readonly #angle: number[];

  constructor(opts: RotateOptions) {
    this.#rotator = new Rotator(opts, 'Rotate');
    checkParams(opts.angle, 3, 'angle', 'Rotate');
    this.#angle = asList(opts.angle);
  }

  apply<T extends object>(data: T): T {
    return this.#rotator.apply(data, this.#angle, this.transformId);
  }

  /** Rotates back onto the recorded shape, affine and spacing. */
  inverse<T extends object>(data: T, opts?: InverseOptions): T {
    return this.#rotator.grid.invert(data, this.transformId, opts);
  }
}

export interface RandRotateOptions extends Omit<RotateOptions, 'angle'> {
  /** The angle (radians) of each plane of createRotate: x (uniform in [−x, x)) or [min, max]. Default 0. */
  rangeX?: number | readonly [number, number];
  rangeY?: number | readonly [number, number];
  rangeZ?: number | readonly [number, number];
  /** Default 0.1. */
  prob?: number;
}

/**
 * MONAI's `RandRotated`. Draws, in MONAI's order: u < prob, then (always) the three angles, each uniform in its range;
 * a skipped rotation records that it did nothing.
 */
export class RandRotate implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #rotator: Rotator;
  readonly #ranges: [number, number][];
  readonly #prob: number;

  constructor(opts: RandRotateOptions) {
    const name = 'RandRotate';
    this.#rotator = new Rotator(opts, name);
    this.#ranges = (['rangeX', 'rangeY', 'rangeZ'] as const).map((option) => {
      const r = opts[option] ?? 0;
      // one number x is [−x, x] (MONAI's (min(−x, x), max(−x, x)))
      return typeof r === 'number' ? checkPair([Math.min(-r, r), Math.max(-r, r)], `${option} (x for [−x, x])`, name, false) : checkPair(r, option, name, false);
    });
    this.#prob = checkProb(opts.prob ?? 0.1, name);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const r = requireRng(rng, 'RandRotate');
    this.#rotator.grid.read(data);
    const doTransform = r.random() < this.#prob;
    const angle = this.#ranges.map(([lo, hi]) => r.uniform(lo, hi));
    return doTransform ? this.#rotator.apply(data, angle, this.transformId) : skipRecord(data, this.#rotator.grid.keys, 'RandRotate', this.transformId);
  }

  /** Rotates back by the drawn angles when it rotated. */
  inverse<T extends object>(data: T, opts?: InverseOptions): T {
    return this.#rotator.grid.invert(data, this.transformId, opts);
  }
}

const ZOOM_MODES: readonly ResizeMode[] = ['area', 'trilinear', 'nearest'];

export interface ZoomOptions {
  keys: string | readonly string[];
  /** Zoom factor, one for all axes or one per axis (> 1 enlarges the content). */
  zoom: number | readonly [number, number, number];
  /**
   * F.interpolate's mode, once or per key. Default: MONAI's 'area' for Float32Array volumes, 'nearest' for Uint8Array
   * labels (as Resize).
   */
  mode?: ResizeMode | readonly ResizeMode[];
  /** How keepSize pads a shrunk volume: numpy's 'edge' (MONAI's default) or 'constant' (zeros). */
  paddingMode?: PadMode;
  /** Pad or crop (centred, as ResizeWithPadOrCrop) back to the input's size. Default true. */
  keepSize?: boolean;
}

function checkZoom(z: unknown, option: string, name: string): number[] {
  const list = typeof z === 'number' ? [z] : Array.isArray(z) ? [...(z as unknown[])] : [];
  if (list.length < 1 || list.length > 3 || !list.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
    throw new Error(`${name}: ${option} must be a positive number or up to three of them (one per axis), got ${JSON.stringify(z)}`);
  }
  return list as number[];
}

/** Zoom's result of one channel: F.interpolate to `size`, then, when keepSize asks for it, `region` of that (pad or crop). */
function zoomVolume<T extends Float32Array | Uint8Array>(v: Volume<T>, size: Readonly<Shape3>, region: { start: Shape3; size: Shape3 } | null,
  mode: ResizeMode, padMode: PadMode): Volume<T> {
  const zoomed = resizeVolume(v, size, mode);
  return region ? cropOrPad(zoomed, region.start, region.size, padMode) : zoomed;
}

function checkPadMode(mode: unknown, name: string): PadMode {
  const m = mode ?? 'edge';
  if (m !== 'edge' && m !== 'constant') throw new Error(`${name}: paddingMode must be 'edge' or 'constant', got ${JSON.stringify(mode)}`);
  return m;
}

/** What Zoom and RandZoom share: keys, modes, padding, keepSize, and the zoom of a sample by given factors. */
class Zoomer {
  readonly keys: string[];
  readonly #modes: (ResizeMode | null)[];
  readonly #padMode: PadMode;
  readonly #keepSize: boolean;
  readonly #name: string;

  constructor(opts: Omit<ZoomOptions, 'zoom'>, name: string) {
    this.keys = keyList(opts.keys, name);
    this.#modes = modesFor(opts.mode, ZOOM_MODES, this.keys, name);
    this.#padMode = checkPadMode(opts.paddingMode, name);
    this.#keepSize = opts.keepSize ?? true;
    this.#name = name;
  }

  apply<T extends object>(data: T, zoom: Readonly<Shape3>, id: number): T {
    // one zoomed size and keepSize region for every key (they share the spatial shape)
    const shape = readSameSpatialShape(data, this.keys, this.#name)[0]!.shape;
    const size = AXES.map((a) => Math.floor(shape[a] * zoom[a]!)) as Shape3;
    if (size.some((s) => s < 1)) throw new Error(`${this.#name}: zoom [${zoom.join(', ')}] shrinks the shape [${shape.join(', ')}] to [${size.join(', ')}], an empty volume`);
    const region = this.#keepSize && !size.every((s, a) => s === shape[a]) ? padOrCropRegion(size, shape) : null;
    const out = resampleKeys(data, this.keys, this.#modes, 'area', this.#name, (v, mode) => zoomVolume(v, size, region, mode, this.#padMode));
    const recorded = withRecord(data, out, this.keys, { className: this.#name, id, doTransform: true, extraInfo: { size, region } }, [AFFINE_KEY, SPACING_KEY]);
    // the geometry: Resize's scale_affine to the zoomed size, then keepSize's pad or crop (output voxel i is zoomed voxel i + start)
    return withGeometry(this.#name, data, recorded, matmul4(scaleMap(shape, size), shiftMap(region?.start ?? [0, 0, 0])));
  }

  /**
   * MONAI's Zoom.inverse: keepSize's pad or crop undone (back to the zoomed size, zeros where it had cropped), then
   * interpolated back to the recorded shape with the key's mode ('nearest' with `opts.nearest`).
   */
  invert<T extends object>(data: T, id: number, opts: InverseOptions | undefined): T {
    return invertResample(data, this.keys, this.#modes, 'area', this.#name, id, opts, (c, mode, record) => {
      const { size, region } = record.extraInfo as { size: Shape3; region: { start: Shape3; size: Shape3 } | null };
      return resizeVolume(region ? cropOrPad(c, region.start.map((s) => -s) as Shape3, size) : c, record.origSize, mode);
    });
  }
}

/** Factors as three: one for all axes, two as [a, a, b] (MONAI: the first for H and W, the second for D), or three. */
const zoom3 = (z: readonly number[]): Shape3 => (z.length === 1 ? [z[0]!, z[0]!, z[0]!] : z.length === 2 ? [z[0]!, z[0]!, z[1]!] : [z[0]!, z[1]!, z[2]!]);

/**
 * MONAI's `Zoomd`: F.interpolate by `zoom` (output ⌊size·zoom⌋ per axis, MONAI's `recompute_scale_factor`, so
 * Resize's arithmetic), then, with keepSize, ResizeWithPadOrCrop back to the input's size with 'edge' (or zero) padding.
 */
export class Zoom implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #zoomer: Zoomer;
  readonly #zoom: Shape3;

  constructor(opts: ZoomOptions) {
    this.#zoomer = new Zoomer(opts, 'Zoom');
    this.#zoom = zoom3(checkZoom(opts.zoom, 'zoom', 'Zoom'));
  }

  apply<T extends object>(data: T): T {
    return this.#zoomer.apply(data, this.#zoom, this.transformId);
  }

  /** Undoes keepSize's pad or crop and interpolates back to the recorded shape. */
  inverse<T extends object>(data: T, opts?: InverseOptions): T {
    return this.#zoomer.invert(data, this.transformId, opts);
  }
}

export interface RandZoomOptions extends Omit<ZoomOptions, 'zoom'> {
  /** Default 0.1. */
  prob?: number;
  /** Smallest factor, one (isotropic) or per axis. Default 0.9. */
  minZoom?: number | readonly number[];
  /** Largest factor, as minZoom. Default 1.1. */
  maxZoom?: number | readonly number[];
}

/**
 * MONAI's `RandZoomd`. Draws, in MONAI's order: u < prob, then one factor per (minZoom, maxZoom) pair, uniform in
 * [min, max) (always drawn); one pair zooms all axes alike.
 */
export class RandZoom implements InvertibleTransform {
  readonly transformId = nextTransformId();
  readonly #zoomer: Zoomer;
  readonly #ranges: [number, number][];
  readonly #prob: number;

  constructor(opts: RandZoomOptions) {
    const name = 'RandZoom';
    this.#zoomer = new Zoomer(opts, name);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
    const lo = checkZoom(opts.minZoom ?? 0.9, 'minZoom', name), hi = checkZoom(opts.maxZoom ?? 1.1, 'maxZoom', name);
    this.#ranges = lo.slice(0, Math.min(lo.length, hi.length)).map((l, i) => [l, hi[i]!]);
    if (this.#ranges.some(([l, h]) => l > h)) throw new Error(`${name}: minZoom ${JSON.stringify(opts.minZoom)} exceeds maxZoom ${JSON.stringify(opts.maxZoom)}`);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const r = requireRng(rng, 'RandZoom');
    readSameSpatialShape(data, this.#zoomer.keys, 'RandZoom');
    const doTransform = r.random() < this.#prob;
    const zoom = zoom3(this.#ranges.map(([l, h]) => r.uniform(l, h)));
    return doTransform ? this.#zoomer.apply(data, zoom, this.transformId) : skipRecord(data, this.#zoomer.keys, 'RandZoom', this.transformId);
  }

  /** Undoes the drawn zoom when it zoomed. */
  inverse<T extends object>(data: T, opts?: InverseOptions): T {
    return this.#zoomer.invert(data, this.transformId, opts);
  }
}

export interface Rand3DElasticOptions extends GridResampleOptions, RandAffineRanges {
  /** σ of the Gaussian that smooths the random offsets, drawn uniformly in [min, max). */
  sigmaRange: readonly [number, number];
  /** The smoothed offsets' scale (voxels), drawn uniformly in [min, max). */
  magnitudeRange: readonly [number, number];
  /** Default 0.1. */
  prob?: number;
}

function checkPair(p: unknown, option: string, name: string, positive: boolean): [number, number] {
  const ok = Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'number' && Number.isFinite(x) && (positive ? x > 0 : true)) && p[0] <= p[1];
  if (!ok) throw new Error(`${name}: ${option} must be [min, max] with min ≤ max${positive ? ', both > 0' : ''}, got ${JSON.stringify(p)}`);
  return [(p as number[])[0]!, (p as number[])[1]!];
}

/**
 * MONAI's `Rand3DElasticd`: random offsets uniform in [−1, 1) per output voxel and axis, smoothed by a Gaussian of σ
 * (truncated at 3σ, zeros outside) and scaled by the magnitude, are added to the centred output grid, which the
 * random affine (as RandAffine's) then maps to the source. Draws, in MONAI's order: u < prob, then (always) the
 * offsets (3 fields of the output shape, C order), the magnitude, σ and the affine parameters. Without the transform
 * and with the output size the input's, the sample is returned as it is.
 */
export class Rand3DElastic implements Transform {
  readonly #grid: GridResampler;
  readonly #ranges: AffineRanges;
  readonly #sigma: [number, number];
  readonly #magnitude: [number, number];
  readonly #prob: number;

  constructor(opts: Rand3DElasticOptions) {
    const name = 'Rand3DElastic';
    this.#grid = new GridResampler(opts, name);
    this.#ranges = new AffineRanges(opts, name);
    this.#sigma = checkPair(opts.sigmaRange, 'sigmaRange', name, true);
    this.#magnitude = checkPair(opts.magnitudeRange, 'magnitudeRange', name, false);
    this.#prob = checkProb(opts.prob ?? 0.1, name);
  }

  apply<T extends object>(data: T, rng?: Rng): T {
    const r = requireRng(rng, 'Rand3DElastic');
    const { vols, inShape, outShape } = this.#grid.read(data);
    const doTransform = r.random() < this.#prob;
    const n = outShape[0] * outShape[1] * outShape[2];
    const offsets = [0, 1, 2].map(() => Float64Array.from({ length: n }, () => r.uniform(-1, 1)));
    const magnitude = r.uniform(...this.#magnitude), sigma = r.uniform(...this.#sigma);
    const matrix = this.#ranges.draw(r);
    if (!doTransform) {
      if (outShape.every((s, a) => s === inShape[a])) return data;
      return this.#grid.sample(data, vols, sourceCoordinates(identity4(), inShape, outShape), outShape);
    }
    // MONAI's GaussianFilter(σ, truncated 3): erf taps, zeros outside
    const displacement = offsets.map((f) => gaussianFilter(f, outShape, sigma, 'erf', 3).map((x) => x * magnitude));
    return this.#grid.sample(data, vols, sourceCoordinates(matrix, inShape, outShape, displacement), outShape);
  }
}
