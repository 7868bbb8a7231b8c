import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** DBiSL's log-domain convolutional distance transform and its gradient. */
export const cdtFamily = defineKernel({
  name: 'cdt',
  cpu: { cdt: cpu.cdt, cdtBackward: cpu.cdtBackward },
  webgpu: { cdt: webgpu.cdt, cdtBackward: webgpu.cdtBackward },
  benchmarks: webgpu.benchmarks,
});
