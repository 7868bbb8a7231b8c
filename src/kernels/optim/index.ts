import * as cpu from './cpu.js';
import { defineKernel } from '../family.js';
import * as webgpu from './webgpu.js';

/** The fused optimizer steps (SGD with momentum, one parameter or up to 8 per dispatch; Adam/AdamW), in place. */
export const optimFamily = defineKernel({
  name: 'optim',
  cpu: { sgdStep: cpu.sgdStep, sgdSteps: cpu.sgdSteps, adamStep: cpu.adamStep },
  webgpu: { sgdStep: webgpu.sgdStep, sgdSteps: webgpu.sgdSteps, adamStep: webgpu.adamStep },
  benchmarks: webgpu.benchmarks,
});
