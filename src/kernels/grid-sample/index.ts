import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** F.grid_sample (3-D) and its gradients w.r.t. the input and the grid. */
export const gridSampleFamily = defineKernel({
  name: 'gridSample',
  cpu: {
    gridSample: cpu.gridSample,
    gridSampleBackwardInput: cpu.gridSampleBackwardInput,
    gridSampleBackwardGrid: cpu.gridSampleBackwardGrid,
  },
  webgpu: {
    gridSample: webgpu.gridSample,
    gridSampleBackwardInput: webgpu.gridSampleBackwardInput,
    gridSampleBackwardGrid: webgpu.gridSampleBackwardGrid,
  },
  benchmarks: webgpu.benchmarks,
});
