import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** Dropout keep-masks, deterministic in (seed, element). */
export const dropoutFamily = defineKernel({
  name: 'dropout',
  cpu: { dropoutMask: cpu.dropoutMask },
  webgpu: { dropoutMask: webgpu.dropoutMask },
  benchmarks: webgpu.benchmarks,
});
