import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** torch.gather along an axis, its adjoint scatterAdd, and F.one_hot (the ops that read class or element indices). */
export const gatherFamily = defineKernel({
  name: 'gather',
  cpu: { gather: cpu.gather, scatterAdd: cpu.scatterAdd, oneHot: cpu.oneHot },
  webgpu: { gather: webgpu.gather, scatterAdd: webgpu.scatterAdd, oneHot: webgpu.oneHot },
  benchmarks: webgpu.benchmarks,
});
