import type { Storage } from '../backend.js';
import type { GpuRuntime } from './runtime.js';

// placeholder until the real kernels land: every function throws

export function gather(_rt: GpuRuntime, x: Storage, xShape: readonly number[], axis: number, index: Storage, indexShape: readonly number[]): Storage {
  throw new Error('webgpu: gather is not implemented yet');
}

export function scatterAdd(_rt: GpuRuntime, src: Storage, indexShape: readonly number[], axis: number, index: Storage, xShape: readonly number[]): Storage {
  throw new Error('webgpu: scatterAdd is not implemented yet');
}
