import type { CdtParams, Storage } from '../backend.js';
import type { GpuRuntime } from './runtime.js';

// placeholder until the real kernels land: every function throws

export function cdt(_rt: GpuRuntime, p: Storage, shape: readonly number[], params: CdtParams): Storage {
  throw new Error('webgpu: cdt is not implemented yet');
}

export function cdtBackward(_rt: GpuRuntime, p: Storage, out: Storage, gOut: Storage, shape: readonly number[], params: CdtParams): Storage {
  throw new Error('webgpu: cdtBackward is not implemented yet');
}
