import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** DBiSL's elementwise maps of the two heads: σ(a·x) (Ŷ and T_r2s) and its gradient, the pseudo-label with its weight. */
export const dualTaskFamily = defineKernel({
  name: 'dualtask',
  cpu: { scaledSigmoid: cpu.scaledSigmoid, scaledSigmoidBackward: cpu.scaledSigmoidBackward, pseudoLabel: cpu.pseudoLabel },
  webgpu: { scaledSigmoid: webgpu.scaledSigmoid, scaledSigmoidBackward: webgpu.scaledSigmoidBackward, pseudoLabel: webgpu.pseudoLabel },
  benchmarks: webgpu.benchmarks,
});
