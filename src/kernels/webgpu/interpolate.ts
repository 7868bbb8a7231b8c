import type { Storage } from '../backend.js';
import type { GpuRuntime } from './runtime.js';

// placeholder until the real kernels land: every function throws

export function interpolate(_rt: GpuRuntime, x: Storage, xShape: readonly number[], size: readonly [number, number, number], mode: 'nearest' | 'trilinear', alignCorners: boolean): Storage {
  throw new Error('webgpu: interpolate is not implemented yet');
}

export function interpolateBackward(_rt: GpuRuntime, gy: Storage, gyShape: readonly number[], xShape: readonly number[], mode: 'nearest' | 'trilinear', alignCorners: boolean): Storage {
  throw new Error('webgpu: interpolateBackward is not implemented yet');
}
