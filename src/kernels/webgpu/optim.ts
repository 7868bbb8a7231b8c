import type { AdamParams, SgdParams, Storage } from '../backend.js';
import type { GpuRuntime } from './runtime.js';

// placeholder until the real kernels land: every function throws

export function sgdStep(_rt: GpuRuntime, param: Storage, grad: Storage, momentumBuffer: Storage | null, p: SgdParams): void {
  throw new Error('webgpu: sgdStep is not implemented yet');
}

export function adamStep(_rt: GpuRuntime, param: Storage, grad: Storage, m: Storage, v: Storage, p: AdamParams): void {
  throw new Error('webgpu: adamStep is not implemented yet');
}
