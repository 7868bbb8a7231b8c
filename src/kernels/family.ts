import type { KernelMethod, KernelOps } from './backend.js';
import type { KernelBenchmark } from './benchmark.js';
import type { GpuRuntime } from './webgpu/runtime.js';

/** A WebGPU kernel entry point: the backend method's arguments, after the runtime that runs it. */
export type WebGPUKernel<M extends KernelMethod> = (rt: GpuRuntime, ...args: Parameters<KernelOps[M]>) => ReturnType<KernelOps[M]>;

/**
 * One kernel family, self-described: the Backend methods it provides, each with its cpu oracle and its WebGPU
 * implementation, and its microbenchmark cases. registry.ts lists every family; both backends take their kernel
 * methods from there, and bench/kernels.ts its cases. The argument checks both implementations call live beside
 * them in the family's folder (`checks.ts`).
 */
export interface KernelFamily<M extends KernelMethod = KernelMethod> {
  /** e.g. 'interpolate' */
  readonly name: string;
  readonly cpu: { readonly [K in M]: KernelOps[K] };
  readonly webgpu: { readonly [K in M]: WebGPUKernel<K> };
  readonly benchmarks: readonly KernelBenchmark[];
}

/** Declares a kernel family; the methods it provides are the keys of `cpu` and `webgpu`, which must agree. */
export function defineKernel<M extends KernelMethod>(family: KernelFamily<M>): KernelFamily<M> {
  return family;
}
