import type { Backend } from './backend.js';

/**
 * One microbenchmark case, declared by its kernel family (family.ts) and run by bench/kernels.ts.
 * `flops` and `bytes` are the kernel's arithmetic and the bytes it must move at least (inputs read once,
 * outputs written once), so that the table can show GFLOP/s, GB/s and the fraction of a measured peak.
 */
export interface KernelBenchmark {
  /** the kernel family, e.g. 'conv3d' */
  group: string;
  /** the case, e.g. 'fwd 16→16 3³ 112×112×80 b4' */
  name: string;
  flops: number;
  bytes: number;
  /** true for the real V-Net shapes that a software adapter cannot run in reasonable time */
  large?: boolean;
  /** allocates inputs on the backend; run() records one execution (no sync), dispose() frees everything */
  setup(backend: Backend): { run(): void; dispose(): void };
}
