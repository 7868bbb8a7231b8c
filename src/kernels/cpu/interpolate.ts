import type { Storage } from '../backend.js';

// placeholder until the real kernels land: every function throws

export function interpolate(x: Storage, xShape: readonly number[], size: readonly [number, number, number], mode: 'nearest' | 'trilinear', alignCorners: boolean): Storage {
  throw new Error('cpu: interpolate is not implemented yet');
}

export function interpolateBackward(gy: Storage, gyShape: readonly number[], xShape: readonly number[], mode: 'nearest' | 'trilinear', alignCorners: boolean): Storage {
  throw new Error('cpu: interpolateBackward is not implemented yet');
}
