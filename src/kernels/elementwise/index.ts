import { defineKernel } from '../family.js';
import { benchmarks } from './benchmarks.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** Elementwise kernels on strided views: copies, in-place adds, casts, unary and binary maps, where. */
export const elementwiseFamily = defineKernel({
  name: 'elementwise',
  cpu: {
    copy: cpu.copy,
    copyInto: cpu.copyInto,
    addInto: cpu.addInto,
    cast: cpu.cast,
    unary: cpu.unary,
    binary: cpu.binary,
    where: cpu.where,
  },
  webgpu: {
    copy: webgpu.copy,
    copyInto: webgpu.copyInto,
    addInto: webgpu.addInto,
    cast: webgpu.cast,
    unary: webgpu.unary,
    binary: webgpu.binary,
    where: webgpu.where,
  },
  benchmarks: benchmarks,
});
