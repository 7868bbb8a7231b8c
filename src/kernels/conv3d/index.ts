import { defineKernel } from '../family.js';
import { benchmarks } from './benchmarks.js';
import * as cpu from './cpu.js';
import * as grouped from './grouped.js';
import { groupedBenchmarks } from './grouped-benchmarks.js';
import * as groupedCpu from './grouped-cpu.js';
import * as webgpu from './webgpu.js';

/**
 * conv3d and its two gradients (also convTranspose3d's forward). Its oracle is cpu.ts, its WebGPU entry points
 * webgpu.ts (the kernels, their choice and their tuner beside it, see webgpu.ts).
 */
export const conv3dFamily = defineKernel({
  name: 'conv3d',
  cpu: {
    conv3d: cpu.conv3d,
    conv3dBackwardInput: cpu.conv3dBackwardInput,
    conv3dBackwardWeight: cpu.conv3dBackwardWeight,
    conv3dGrouped: groupedCpu.conv3dGrouped,
    conv3dGroupedBackwardInput: groupedCpu.conv3dGroupedBackwardInput,
    conv3dGroupedBackwardWeight: groupedCpu.conv3dGroupedBackwardWeight,
  },
  webgpu: {
    conv3d: webgpu.conv3d,
    conv3dBackwardInput: webgpu.conv3dBackwardInput,
    conv3dBackwardWeight: webgpu.conv3dBackwardWeight,
    conv3dGrouped: grouped.conv3dGrouped,
    conv3dGroupedBackwardInput: grouped.conv3dGroupedBackwardInput,
    conv3dGroupedBackwardWeight: grouped.conv3dGroupedBackwardWeight,
  },
  benchmarks: [...benchmarks, ...groupedBenchmarks],
});
