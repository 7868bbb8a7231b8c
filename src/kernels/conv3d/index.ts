import * as cpu from '../cpu/conv3d.js';
import { defineKernel } from '../family.js';
import * as webgpu from '../webgpu/conv3d.js';
import { benchmarks } from './benchmarks.js';

/**
 * conv3d and its two gradients (also convTranspose3d's forward). Its oracle is cpu/conv3d.ts, its WebGPU kernels
 * and their tuner webgpu/conv3d*.ts.
 */
export const conv3dFamily = defineKernel({
  name: 'conv3d',
  cpu: {
    conv3d: cpu.conv3d,
    conv3dBackwardInput: cpu.conv3dBackwardInput,
    conv3dBackwardWeight: cpu.conv3dBackwardWeight,
  },
  webgpu: {
    conv3d: webgpu.conv3d,
    conv3dBackwardInput: webgpu.conv3dBackwardInput,
    conv3dBackwardWeight: webgpu.conv3dBackwardWeight,
  },
  benchmarks,
});
