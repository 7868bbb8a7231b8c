import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** F.interpolate ('nearest', 'nearest-exact', 'trilinear') of NCDHW volumes and its adjoint. */
export const interpolateFamily = defineKernel({
  name: 'interpolate',
  cpu: { interpolate: cpu.interpolate, interpolateBackward: cpu.interpolateBackward },
  webgpu: { interpolate: webgpu.interpolate, interpolateBackward: webgpu.interpolateBackward },
  benchmarks: webgpu.benchmarks,
});
