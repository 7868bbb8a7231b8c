import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** The normalisations (batch, instance, group) as statistics, one forward pass, backward sums, one backward pass. */
export const normFamily = defineKernel({
  name: 'norm',
  cpu: {
    moments: cpu.moments,
    normalize: cpu.normalize,
    normSums: cpu.normSums,
    normBackward: cpu.normBackward,
    updateRunningStats: cpu.updateRunningStats,
  },
  webgpu: {
    moments: webgpu.moments,
    normalize: webgpu.normalize,
    normSums: webgpu.normSums,
    normBackward: webgpu.normBackward,
    updateRunningStats: webgpu.updateRunningStats,
  },
  benchmarks: webgpu.benchmarks,
});
