import type { Storage } from '../backend.js';
import type { GpuRuntime } from './runtime.js';

// placeholder until the real kernels land: every function throws

export function matmul(_rt: GpuRuntime, a: Storage, b: Storage, batch: number, m: number, k: number, n: number, aBatchStride: number, bBatchStride: number): Storage {
  throw new Error('webgpu: matmul is not implemented yet');
}
