import type { Pool3dParams, Storage } from '../backend.js';
import type { GpuRuntime } from './runtime.js';

// placeholder until the real kernels land: every function throws

export function maxPool3d(_rt: GpuRuntime, x: Storage, xShape: readonly number[], p: Pool3dParams): { values: Storage; indices: Storage } {
  throw new Error('webgpu: maxPool3d is not implemented yet');
}

export function maxPool3dBackward(_rt: GpuRuntime, gy: Storage, indices: Storage, gyShape: readonly number[], xShape: readonly number[]): Storage {
  throw new Error('webgpu: maxPool3dBackward is not implemented yet');
}

export function avgPool3d(_rt: GpuRuntime, x: Storage, xShape: readonly number[], p: Pool3dParams): Storage {
  throw new Error('webgpu: avgPool3d is not implemented yet');
}

export function avgPool3dBackward(_rt: GpuRuntime, gy: Storage, gyShape: readonly number[], xShape: readonly number[], p: Pool3dParams): Storage {
  throw new Error('webgpu: avgPool3dBackward is not implemented yet');
}
