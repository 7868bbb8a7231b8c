import type { Pool3dParams, Storage } from '../backend.js';

// placeholder until the real kernels land: every function throws

export function maxPool3d(x: Storage, xShape: readonly number[], p: Pool3dParams): { values: Storage; indices: Storage } {
  throw new Error('cpu: maxPool3d is not implemented yet');
}

export function maxPool3dBackward(gy: Storage, indices: Storage, gyShape: readonly number[], xShape: readonly number[]): Storage {
  throw new Error('cpu: maxPool3dBackward is not implemented yet');
}

export function avgPool3d(x: Storage, xShape: readonly number[], p: Pool3dParams): Storage {
  throw new Error('cpu: avgPool3d is not implemented yet');
}

export function avgPool3dBackward(gy: Storage, gyShape: readonly number[], xShape: readonly number[], p: Pool3dParams): Storage {
  throw new Error('cpu: avgPool3dBackward is not implemented yet');
}
