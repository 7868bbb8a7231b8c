import type { Conv3dParams, Storage } from '../backend.js';

// placeholder until the real kernels land: every function throws

export function conv3d(x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], bias: Storage | null, p: Conv3dParams): Storage {
  throw new Error('cpu: conv3d is not implemented yet');
}

export function conv3dBackwardInput(gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[], xShape: readonly number[], p: Conv3dParams): Storage {
  throw new Error('cpu: conv3dBackwardInput is not implemented yet');
}

export function conv3dBackwardWeight(x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[], wShape: readonly number[], p: Conv3dParams): Storage {
  throw new Error('cpu: conv3dBackwardWeight is not implemented yet');
}
