import { checkNcdhw, formatShape } from '../geometry.js';

/* What interpolate's cpu oracle and WebGPU kernels share: the argument checks and the per-axis scale. */

/** 'nearest' is PyTorch's legacy nearest (src = ⌊dst·scale⌋), 'nearest-exact' its pixel-centre form (src = ⌊(dst + ½)·scale⌋) */
export type InterpolateMode = 'nearest' | 'nearest-exact' | 'trilinear';

/** Per-axis scale factors given to interpolate, as PyTorch's scales_d/h/w (absent: the output size was given). */
export type InterpolateScales = readonly [number, number, number];

/**
 * The source step per output step PyTorch uses along one axis (before rounding to the opmath type):
 * align_corners (trilinear only) (in − 1)/(out − 1); else 1/scale when a scale factor is given (compute_scales_value), in/out
 * without. Legacy nearest copies when out = in and halves the index when out = 2·in (nearest_idx), whatever the scale;
 * nearest-exact has no such cases (nearest_exact_idx).
 */
export function axisRatio(inSize: number, outSize: number, mode: InterpolateMode, alignCorners: boolean, scale?: number): number {
  if (mode === 'nearest') {
    if (outSize === inSize) return 1;
    if (outSize === 2 * inSize) return 0.5;
  } else if (mode === 'trilinear' && alignCorners) return outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
  return scale !== undefined ? 1 / scale : inSize / outSize;
}

/** interpolate's shapes: a non-empty NCDHW input, a size of three positive integers, and positive scales if any. */
export function checkInterpolateShapes(xShape: readonly number[], size: readonly number[], what: string, scales?: InterpolateScales): void {
  checkNcdhw(xShape, what);
  checkNcdhw([1, 1, ...size], `${what} (size)`);
  checkScales(scales, what);
}

function checkScales(scales: InterpolateScales | undefined, what: string): void {
  if (scales !== undefined && (scales.length !== 3 || !scales.every((s) => s > 0 && Number.isFinite(s)))) {
    throw new Error(`${what}: scales must be three positive numbers, got [${scales.join(', ')}]`);
  }
}

/** interpolateBackward's shapes: x and gy non-empty NCDHW with the same N·C (and positive scales if any). */
export function checkInterpolateBackwardShapes(gyShape: readonly number[], xShape: readonly number[], what: string, scales?: InterpolateScales): void {
  checkNcdhw(xShape, what);
  checkScales(scales, what);
  checkNcdhw(gyShape, `${what} (gy)`);
  if (gyShape[0] * gyShape[1] !== xShape[0] * xShape[1]) throw new Error(`${what}: gy ${formatShape(gyShape)} and x ${formatShape(xShape)} differ in N·C`);
}
