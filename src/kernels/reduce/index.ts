import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** Reductions over axes of a strided view, and argmax. */
export const reduceFamily = defineKernel({
  name: 'reduce',
  cpu: { reduce: cpu.reduce, argmax: cpu.argmax },
  webgpu: { reduce: webgpu.reduce, argmax: webgpu.argmax },
  benchmarks: webgpu.benchmarks,
});
