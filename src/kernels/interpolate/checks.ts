import { checkNcdhw, formatShape } from '../geometry.js';

/* What interpolate's cpu oracle and WebGPU kernels share: the argument checks and the per-axis scale. */

export type InterpolateMode = 'nearest' | 'trilinear';

/** The scale PyTorch uses along one axis (before rounding to the opmath type). */
export function axisRatio(inSize: number, outSize: number, mode: InterpolateMode, alignCorners: boolean): number {
  if (mode === 'nearest') return inSize / outSize;
  if (alignCorners) return outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
  return inSize / outSize;
}

/** interpolate's shapes: a non-empty NCDHW input and a size of three positive integers. */
export function checkInterpolateShapes(xShape: readonly number[], size: readonly number[], what: string): void {
  checkNcdhw(xShape, what);
  checkNcdhw([1, 1, ...size], `${what} (size)`);
}

/** interpolateBackward's shapes: x and gy non-empty NCDHW with the same N·C. */
export function checkInterpolateBackwardShapes(gyShape: readonly number[], xShape: readonly number[], what: string): void {
  checkNcdhw(xShape, what);
  checkNcdhw(gyShape, `${what} (gy)`);
  if (gyShape[0] * gyShape[1] !== xShape[0] * xShape[1]) throw new Error(`${what}: gy ${formatShape(gyShape)} and x ${formatShape(xShape)} differ in N·C`);
}
