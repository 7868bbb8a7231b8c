import type { Conv3dParams, Storage } from '../backend.js';
import type { GpuRuntime } from './runtime.js';

// placeholder until the real kernels land: every function throws

export function conv3d(_rt: GpuRuntime, x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], bias: Storage | null, p: Conv3dParams): Storage {
  throw new Error('webgpu: conv3d is not implemented yet');
}

export function conv3dBackwardInput(_rt: GpuRuntime, gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[], xShape: readonly number[], p: Conv3dParams): Storage {
  throw new Error('webgpu: conv3dBackwardInput is not implemented yet');
}

export function conv3dBackwardWeight(_rt: GpuRuntime, x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[], wShape: readonly number[], p: Conv3dParams): Storage {
  throw new Error('webgpu: conv3dBackwardWeight is not implemented yet');
}
