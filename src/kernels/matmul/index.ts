import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** Batched matrix products. */
export const matmulFamily = defineKernel({
  name: 'matmul',
  cpu: { matmul: cpu.matmul },
  webgpu: { matmul: webgpu.matmul },
  benchmarks: webgpu.benchmarks,
});
