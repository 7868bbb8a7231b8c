import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** torch.gather along an axis and its adjoint, scatterAdd. */
export const gatherFamily = defineKernel({
  name: 'gather',
  cpu: { gather: cpu.gather, scatterAdd: cpu.scatterAdd },
  webgpu: { gather: webgpu.gather, scatterAdd: webgpu.scatterAdd },
  benchmarks: webgpu.benchmarks,
});
