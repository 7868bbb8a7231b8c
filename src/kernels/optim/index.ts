import * as cpu from './cpu.js';
import { defineKernel } from '../family.js';
import * as webgpu from './webgpu.js';

/** The fused optimizer steps (SGD with momentum and Adam/AdamW, one parameter or up to 8 per dispatch), in place. */
export const optimFamily = defineKernel({
  name: 'optim',
  cpu: { sgdStep: cpu.sgdStep, sgdSteps: cpu.sgdSteps, adamStep: cpu.adamStep, adamSteps: cpu.adamSteps },
  webgpu: { sgdStep: webgpu.sgdStep, sgdSteps: webgpu.sgdSteps, adamStep: webgpu.adamStep, adamSteps: webgpu.adamSteps },
  benchmarks: webgpu.benchmarks,
});
