import type { DType, Storage } from '../backend.js';
import type { GpuRuntime } from './runtime.js';

// placeholder until the real kernels land: every function throws

export function dropoutMask(_rt: GpuRuntime, shape: readonly number[], p: number, seed: number, channelwise: boolean, dtype: DType): Storage {
  throw new Error('webgpu: dropoutMask is not implemented yet');
}
