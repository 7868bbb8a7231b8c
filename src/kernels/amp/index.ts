import * as cpu from './cpu.js';
import { defineKernel } from '../family.js';
import * as webgpu from './webgpu.js';

/** The loss scaler's kernels: the fused non-finite check and unscale of many gradients, and the scale update. */
export const ampFamily = defineKernel({
  name: 'amp',
  cpu: { ampNonFiniteCheckAndUnscale: cpu.ampNonFiniteCheckAndUnscale, ampUpdateScale: cpu.ampUpdateScale },
  webgpu: { ampNonFiniteCheckAndUnscale: webgpu.ampNonFiniteCheckAndUnscale, ampUpdateScale: webgpu.ampUpdateScale },
  benchmarks: webgpu.benchmarks,
});
