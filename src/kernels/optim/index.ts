import * as cpu from './cpu.js';
import { defineKernel } from '../family.js';
import * as webgpu from './webgpu.js';

/** The fused optimizer steps (SGD with momentum, Adam/AdamW and RMSprop: up to 8 parameters per dispatch, SGD also one), in place, and the device step counts' advance. */
export const optimFamily = defineKernel({
  name: 'optim',
  cpu: { sgdStep: cpu.sgdStep, sgdSteps: cpu.sgdSteps, adamSteps: cpu.adamSteps,
    rmspropSteps: cpu.rmspropSteps, advanceStepCounts: cpu.advanceStepCounts },
  webgpu: { sgdStep: webgpu.sgdStep, sgdSteps: webgpu.sgdSteps, adamSteps: webgpu.adamSteps,
    rmspropSteps: webgpu.rmspropSteps, advanceStepCounts: webgpu.advanceStepCounts },
  benchmarks: webgpu.benchmarks,
});
