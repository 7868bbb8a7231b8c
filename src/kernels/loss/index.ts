import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** Losses pooled per row in one fused reduction (Soft Dice, BCE with logits, MSE plain or weight-normalised) and their gradients in one pass. */
export const lossFamily = defineKernel({
  name: 'loss',
  cpu: { rowLoss: cpu.rowLoss, rowLossBackward: cpu.rowLossBackward },
  webgpu: { rowLoss: webgpu.rowLoss, rowLossBackward: webgpu.rowLossBackward },
  benchmarks: webgpu.benchmarks,
});
