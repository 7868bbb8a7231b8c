import * as cpu from './cpu.js';
import { defineKernel } from '../family.js';
import * as webgpu from './webgpu.js';

/** The fused optimizer steps (SGD with momentum, Adam/AdamW and RMSprop, one parameter or up to 8 per dispatch), in place, and the device step counts' advance. */
export const optimFamily = defineKernel({
  name: 'optim',
  cpu: { sgdStep: cpu.sgdStep, sgdSteps: cpu.sgdSteps, adamStep: cpu.adamStep, adamSteps: cpu.adamSteps,
    rmspropSteps: cpu.rmspropSteps, advanceStepCounts: cpu.advanceStepCounts },
  webgpu: { sgdStep: webgpu.sgdStep, sgdSteps: webgpu.sgdSteps, adamStep: webgpu.adamStep, adamSteps: webgpu.adamSteps,
    rmspropSteps: webgpu.rmspropSteps, advanceStepCounts: webgpu.advanceStepCounts },
  benchmarks: webgpu.benchmarks,
});
