import { addScalar, add, checkFloat, checkSameBackend, flip, gridSample, mul, mulScalar, permute, type GridSampleMode, type GridSamplePaddingMode } from '../autograd/index.js';
import { formatShape, fromArray, tidy, type Tensor } from '../tensor/index.js';
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

/**
 * image sampled at the voxel positions reference + ddf: the reference grid (voxel indices [1, D, H, W, 3] in
 * gridSample's order w, h, d) and the scale to grid units, made once for a shape
 */
function sampler(ddf: Tensor): (image: Tensor, ddf: Tensor, mode: GridSampleMode, paddingMode: GridSamplePaddingMode) => Tensor {
  const [, , D, H, W] = ddf.shape, like = { backend: ddf.backend, dtype: ddf.dtype };
  const data = new Float64Array(D * H * W * 3);
  let i = 0;
  for (let d = 0; d < D; d++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++, i += 3) { data[i] = w; data[i + 1] = h; data[i + 2] = d; }
  const reference = fromArray(data, [1, D, H, W, 3], like);
  const scale = fromArray([2 / (W - 1), 2 / (H - 1), 2 / (D - 1)], [1, 1, 1, 1, 3], like);
  return (image, u, mode, paddingMode) => {
    // ddf channels (d, h, w) → the grid's last axis (x = w, y = h, z = d)
    const voxels = add(reference, permute(flip(u, 1), [0, 2, 3, 4, 1]));
    return gridSample(image, addScalar(mul(voxels, scale), -1), { mode, paddingMode, alignCorners: true });
  };
}

/**
 * The image [N, C, D, H, W] warped by the displacement ddf [N, 3, D, H, W] (voxels), as MONAI's Warp with PyTorch's
 * grid_sample: grid = (reference + ddf)·2/(extent − 1) − 1, sampled with alignCorners. Differentiable in both.
 */
export function warp(image: Tensor, ddf: Tensor, options: WarpOptions = {}): Tensor {
  const op = 'warp';
  const { mode, paddingMode } = checkWarpOptions(op, options);
  checkDdf(op, image, ddf);
  return tidy(() => sampler(ddf)(image, ddf, mode, paddingMode));
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
  const op = 'dvf2ddf';
  const { numSteps, mode, paddingMode } = checkDvf2DdfOptions(op, options);
  checkDdf(op, dvf, dvf);
  return tidy(() => {
    const sample = sampler(dvf);
    let ddf = mulScalar(dvf, 2 ** -numSteps);
    for (let s = 0; s < numSteps; s++) ddf = add(ddf, sample(ddf, ddf, mode, paddingMode));
    return ddf;
  });
}

/** MONAI's Warp block: `new Warp({ mode: 'nearest' }).forward(image, ddf)` is `warp(image, ddf, { mode: 'nearest' })`. */
export class Warp extends Module {
  readonly mode: GridSampleMode;
  readonly paddingMode: GridSamplePaddingMode;
  constructor(options: WarpOptions = {}) {
    super();
    ({ mode: this.mode, paddingMode: this.paddingMode } = checkWarpOptions('Warp', options));
  }
  forward(image: Tensor, ddf: Tensor): Tensor { return warp(image, ddf, { mode: this.mode, paddingMode: this.paddingMode }); }
  override extraRepr(): string { return `mode='${this.mode}', paddingMode='${this.paddingMode}'`; }
}

/** MONAI's DVF2DDF block: `new DVF2DDF({ numSteps: 7 }).forward(dvf)` is `dvf2ddf(dvf, { numSteps: 7 })`. */
export class DVF2DDF extends Module {
  readonly numSteps: number;
  readonly mode: GridSampleMode;
  readonly paddingMode: GridSamplePaddingMode;
  constructor(options: Dvf2DdfOptions = {}) {
    super();
    ({ numSteps: this.numSteps, mode: this.mode, paddingMode: this.paddingMode } = checkDvf2DdfOptions('DVF2DDF', options));
  }
  forward(dvf: Tensor): Tensor { return dvf2ddf(dvf, { numSteps: this.numSteps, mode: this.mode, paddingMode: this.paddingMode }); }
  override extraRepr(): string { return `numSteps=${this.numSteps}, mode='${this.mode}', paddingMode='${this.paddingMode}'`; }
}
