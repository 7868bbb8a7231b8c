import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** 3-D max and average pooling with their gradients, and max unpooling. */
export const poolFamily = defineKernel({
  name: 'pool',
  cpu: {
    maxPool3d: cpu.maxPool3d,
    maxPool3dBackward: cpu.maxPool3dBackward,
    maxUnpool3d: cpu.maxUnpool3d,
    avgPool3d: cpu.avgPool3d,
    avgPool3dBackward: cpu.avgPool3dBackward,
  },
  webgpu: {
    maxPool3d: webgpu.maxPool3d,
    maxPool3dBackward: webgpu.maxPool3dBackward,
    maxUnpool3d: webgpu.maxUnpool3d,
    avgPool3d: webgpu.avgPool3d,
    avgPool3dBackward: webgpu.avgPool3dBackward,
  },
  benchmarks: webgpu.benchmarks,
});
