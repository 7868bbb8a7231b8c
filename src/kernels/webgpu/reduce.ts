import type { ReduceOp, Storage, View } from '../backend.js';
import type { GpuRuntime } from './runtime.js';

// placeholder until the real kernels land: every function throws

export function reduce(_rt: GpuRuntime, op: ReduceOp, x: View, axes: readonly number[]): Storage {
  throw new Error('webgpu: reduce is not implemented yet');
}

export function argmax(_rt: GpuRuntime, x: View, axis: number): Storage {
  throw new Error('webgpu: argmax is not implemented yet');
}
