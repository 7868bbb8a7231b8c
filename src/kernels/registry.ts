import type { KernelOps } from './backend.js';
import { cdtFamily } from './cdt/index.js';
import { conv3dFamily } from './conv3d/index.js';
import { dropoutFamily } from './dropout/index.js';
import { elementwiseFamily } from './elementwise/index.js';
import type { KernelFamily } from './family.js';
import { gatherFamily } from './gather/index.js';
import { gridSampleFamily } from './grid-sample/index.js';
import { interpolateFamily } from './interpolate/index.js';
import { lossFamily } from './loss/index.js';
import { matmulFamily } from './matmul/index.js';
import { normFamily } from './norm/index.js';
import { optimFamily } from './optim/index.js';
import { poolFamily } from './pool/index.js';
import { reduceFamily } from './reduce/index.js';
import { ampFamily } from './amp/index.js';
import { dualTaskFamily } from './dualtask/index.js';
import type { GpuRuntime } from './webgpu/runtime.js';

/**
 * Every kernel family (see family.ts), in the order bench/kernels.ts runs their cases. Both backends take their
 * kernel methods from here, bound once when the backend is made, so that a call costs what a class method does.
 */
export const kernelFamilies = [
  elementwiseFamily, reduceFamily, normFamily, matmulFamily, gatherFamily, dropoutFamily, optimFamily, conv3dFamily,
  poolFamily, interpolateFamily, gridSampleFamily, cdtFamily, lossFamily,
  ampFamily, dualTaskFamily,
] as const;

type Families = typeof kernelFamilies;
type MethodsOf<F> = F extends KernelFamily<infer M> ? M : never;

/** The KernelOps methods some family provides: a backend whose kernels are these and lacks one fails `implements Backend`. */
export type ProvidedKernels = Pick<KernelOps, MethodsOf<Families[number]>>;

type KernelFunction = (...args: never[]) => unknown;

/** One backend's implementations of every family's methods, each made a method by `bind`. */
function bindAll(implementations: (family: Families[number]) => object, bind: (kernel: KernelFunction) => KernelFunction): ProvidedKernels {
  const methods: Record<string, KernelFunction> = {};
  for (const family of kernelFamilies) {
    for (const [method, kernel] of Object.entries(implementations(family)) as [string, KernelFunction][]) methods[method] = bind(kernel);
  }
  return methods as unknown as ProvidedKernels;
}

/** The cpu oracles as methods: `keep` receives every result (a storage, an object of storages, or nothing). */
export function cpuKernels(keep: (result: unknown) => void): ProvidedKernels {
  return bindAll((f) => f.cpu, (kernel) => (...args) => {
    const result = kernel(...args);
    keep(result);
    return result;
  });
}

/** The WebGPU kernels as methods running on `rt`. */
export function webgpuKernels(rt: GpuRuntime): ProvidedKernels {
  return bindAll((f) => f.webgpu, (kernel) => (kernel as (rt: GpuRuntime, ...args: never[]) => unknown).bind(null, rt));
}
