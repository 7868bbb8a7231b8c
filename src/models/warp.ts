import { addScalar, add, checkFloat, checkSameBackend, flip, gridSample, mul, mulScalar, permute, type GridSampleMode, type GridSamplePaddingMode } from '../autograd/index.js';
import type { Backend, DType } from '../kernels/backend.js';
import { dispose, formatShape, fromArray, keep, sameShape, tidy, type Tensor } from '../tensor/index.js';
import { Module } from './module.js';

/**
 * MONAI's registration blocks (monai.networks.blocks.Warp and DVF2DDF) on `gridSample`, three spatial axes. A dense
 * displacement field (DDF) is [N, 3, D, H, W] in voxels, channel-first with channel i moving along spatial axis i
 * (D, H, W), as MONAI's; the image is sampled at voxel (d + u₀, h + u₁, w + u₂) with alignCorners.
 */

export interface WarpOptions {
  /** 'bilinear' (default; trilinear here) or 'nearest' */
  mode?: GridSampleMode;
  /** 'border' (default, as MONAI's Warp), 'zeros' or 'reflection' (mirrored about the first and last voxel) */
  paddingMode?: GridSamplePaddingMode;
}

const MODES: readonly string[] = ['bilinear', 'nearest'];
const PADDING_MODES: readonly string[] = ['zeros', 'border', 'reflection'];

function checkWarpOptions(op: string, options: WarpOptions): Required<WarpOptions> {
  const { mode = 'bilinear', paddingMode = 'border' } = options;
  if (!MODES.includes(mode)) throw new Error(`${op}: mode must be one of ${MODES.join(', ')}, got ${String(mode)}`);
  if (!PADDING_MODES.includes(paddingMode)) throw new Error(`${op}: paddingMode must be one of ${PADDING_MODES.join(', ')}, got ${String(paddingMode)}`);
  return { mode, paddingMode };
}

function checkDdf(op: string, image: Tensor, ddf: Tensor): void {
  checkFloat(op, image);
  checkSameBackend(op, image, ddf);
  if (image.rank !== 5) throw new Error(`${op}: image ${formatShape(image.shape)} must be [N, C, D, H, W] (three spatial axes)`);
  const [N, , D, H, W] = image.shape;
  if (ddf.rank !== 5 || ddf.shape[0] !== N || ddf.shape[1] !== 3 || ddf.shape[2] !== D || ddf.shape[3] !== H || ddf.shape[4] !== W) {
    throw new Error(`${op}: ddf ${formatShape(ddf.shape)} must be [${N}, 3, ${D}, ${H}, ${W}] for image ${formatShape(image.shape)}`);
  }
  if (ddf.dtype !== image.dtype) throw new Error(`${op}: ddf ${formatShape(ddf.shape)} ${ddf.dtype} must have the dtype of image ${image.dtype}`);
  if (Math.min(D, H, W) < 2) throw new Error(`${op}: every spatial extent of image ${formatShape(image.shape)} must be at least 2`);
}

/** The reference grid (voxel indices [1, D, H, W, 3] in gridSample's order w, h, d) and the scale to grid units. */
interface SamplingGrid {
  readonly reference: Tensor;
  readonly scale: Tensor;
}

/** The sampling grid of a DDF's spatial shape, on its backend and in its dtype. */
function samplingGrid(ddf: Tensor): SamplingGrid {
  const [, , D, H, W] = ddf.shape, like = { backend: ddf.backend, dtype: ddf.dtype };
  const data = new Float64Array(D * H * W * 3);
  let i = 0;
  for (let d = 0; d < D; d++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++, i += 3) { data[i] = w; data[i + 1] = h; data[i + 2] = d; }
  return { reference: fromArray(data, [1, D, H, W, 3], like), scale: fromArray([2 / (W - 1), 2 / (H - 1), 2 / (D - 1)], [1, 1, 1, 1, 3], like) };
}

/** image sampled at the voxel positions reference + u */
function sampleAt(grid: SamplingGrid, image: Tensor, u: Tensor, mode: GridSampleMode, paddingMode: GridSamplePaddingMode): Tensor {
  // ddf channels (d, h, w) → the grid's last axis (x = w, y = h, z = d)
  const voxels = add(grid.reference, permute(flip(u, 1), [0, 2, 3, 4, 1]));
  return gridSample(image, addScalar(mul(voxels, grid.scale), -1), { mode, paddingMode, alignCorners: true });
}

/**
 * A module's sampling grid for the spatial shape, backend and dtype of its last call: one entry, which a call with
 * another key replaces (freeing the old one), kept out of `tidy` scopes and freed by `dispose` (its module's).
 * A graph that saved the grid holds its own share of the storage, so replacing it before backward is safe.
 */
class SamplingGridCache {
  private entry: { shape: readonly number[]; backend: Backend; dtype: DType; grid: SamplingGrid } | null = null;

  get(ddf: Tensor): SamplingGrid {
    const e = this.entry, shape = ddf.shape.slice(2);
    if (e && e.backend === ddf.backend && e.dtype === ddf.dtype && sameShape(e.shape, shape)) return e.grid;
    this.dispose();
    const grid = samplingGrid(ddf);
    keep(grid.reference);
    keep(grid.scale);
    this.entry = { shape, backend: ddf.backend, dtype: ddf.dtype, grid };
    return grid;
  }

  dispose(): void {
    if (!this.entry) return;
    dispose([this.entry.grid.reference, this.entry.grid.scale]);
    this.entry = null;
  }
}

/**
 * The image [N, C, D, H, W] warped by the displacement ddf [N, 3, D, H, W] (voxels), as MONAI's Warp with PyTorch's
 * grid_sample: grid = (reference + ddf)·2/(extent − 1) − 1, sampled with alignCorners. Differentiable in both.
 */
export function warp(image: Tensor, ddf: Tensor, options: WarpOptions = {}): Tensor {
  const { mode, paddingMode } = checkWarpOptions('warp', options);
  return warpWith('warp', null, image, ddf, mode, paddingMode);
}

/** warp with the grid of `cache` (a module's), or a grid made for this call and freed after it */
function warpWith(op: string, cache: SamplingGridCache | null, image: Tensor, ddf: Tensor, mode: GridSampleMode, paddingMode: GridSamplePaddingMode): Tensor {
  checkDdf(op, image, ddf);
  return tidy(() => sampleAt(cache ? cache.get(ddf) : samplingGrid(ddf), image, ddf, mode, paddingMode));
}

export interface Dvf2DdfOptions extends WarpOptions {
  /** squarings (default 7, as MONAI); the velocity is scaled by 2^−numSteps first */
  numSteps?: number;
}

function checkDvf2DdfOptions(op: string, options: Dvf2DdfOptions): Required<Dvf2DdfOptions> {
  const { numSteps = 7, ...warpOptions } = options;
  if (!Number.isInteger(numSteps) || numSteps <= 0) throw new Error(`${op}: numSteps must be a positive integer, got ${String(numSteps)}`);
  return { numSteps, ...checkWarpOptions(op, { paddingMode: 'zeros', ...warpOptions }) };
}

/**
 * MONAI's DVF2DDF: the displacement of a stationary velocity field dvf [N, 3, D, H, W] by scaling and squaring,
 * ddf = dvf / 2^numSteps, then numSteps times ddf ← ddf + warp(ddf, ddf). Its warp defaults to paddingMode 'zeros'
 * (MONAI's DVF2DDF default, unlike Warp's 'border').
 */
export function dvf2ddf(dvf: Tensor, options: Dvf2DdfOptions = {}): Tensor {
  const { numSteps, mode, paddingMode } = checkDvf2DdfOptions('dvf2ddf', options);
  return dvf2ddfWith('dvf2ddf', null, dvf, numSteps, mode, paddingMode);
}

/** dvf2ddf with the grid of `cache` (a module's), or a grid made for this call and freed after it */
function dvf2ddfWith(op: string, cache: SamplingGridCache | null, dvf: Tensor, numSteps: number, mode: GridSampleMode, paddingMode: GridSamplePaddingMode): Tensor {
  checkDdf(op, dvf, dvf);
  return tidy(() => {
    const grid = cache ? cache.get(dvf) : samplingGrid(dvf);
    let ddf = mulScalar(dvf, 2 ** -numSteps);
    for (let s = 0; s < numSteps; s++) ddf = add(ddf, sampleAt(grid, ddf, ddf, mode, paddingMode));
    return ddf;
  });
}

/**
 * MONAI's Warp block: `new Warp({ mode: 'nearest' }).forward(image, ddf)` is `warp(image, ddf, { mode: 'nearest' })`,
 * the sampling grid kept for the next call of the same spatial shape, backend and dtype (freed by `dispose`).
 */
export class Warp extends Module {
  readonly mode: GridSampleMode;
  readonly paddingMode: GridSamplePaddingMode;
  private readonly grids = new SamplingGridCache();
  constructor(options: WarpOptions = {}) {
    super();
    ({ mode: this.mode, paddingMode: this.paddingMode } = checkWarpOptions('Warp', options));
  }
  forward(image: Tensor, ddf: Tensor): Tensor { return warpWith('Warp', this.grids, image, ddf, this.mode, this.paddingMode); }
  override dispose(): void {
    this.grids.dispose();
    super.dispose();
  }
  override extraRepr(): string { return `mode='${this.mode}', paddingMode='${this.paddingMode}'`; }
}

/**
 * MONAI's DVF2DDF block: `new DVF2DDF({ numSteps: 7 }).forward(dvf)` is `dvf2ddf(dvf, { numSteps: 7 })`, the sampling
 * grid kept as Warp's.
 */
export class DVF2DDF extends Module {
  readonly numSteps: number;
  readonly mode: GridSampleMode;
  readonly paddingMode: GridSamplePaddingMode;
  private readonly grids = new SamplingGridCache();
  constructor(options: Dvf2DdfOptions = {}) {
    super();
    ({ numSteps: this.numSteps, mode: this.mode, paddingMode: this.paddingMode } = checkDvf2DdfOptions('DVF2DDF', options));
  }
  forward(dvf: Tensor): Tensor { return dvf2ddfWith('DVF2DDF', this.grids, dvf, this.numSteps, this.mode, this.paddingMode); }
  override dispose(): void {
    this.grids.dispose();
    super.dispose();
  }
  override extraRepr(): string { return `numSteps=${this.numSteps}, mode='${this.mode}', paddingMode='${this.paddingMode}'`; }
}
