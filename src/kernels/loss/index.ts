import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** Losses pooled per row in one fused reduction (Soft Dice, BCE with logits, MSE plain or weight-normalised) and their gradients in one pass; a weighted sum of scalar terms in one dispatch each way; a loss's total of row losses (lossTotal) in one reduction and one backward pass. */
export const lossFamily = defineKernel({
  name: 'loss',
  cpu: { rowLoss: cpu.rowLoss, rowLossBackward: cpu.rowLossBackward, weightedSum: cpu.weightedSum, weightedSums: cpu.weightedSums, weightedSumBackward: cpu.weightedSumBackward,
    lossTotal: cpu.lossTotal, lossTotalBackward: cpu.lossTotalBackward },
  webgpu: {
    rowLoss: webgpu.rowLoss, rowLossBackward: webgpu.rowLossBackward, weightedSum: webgpu.weightedSum, weightedSums: webgpu.weightedSums, weightedSumBackward: webgpu.weightedSumBackward,
    lossTotal: webgpu.lossTotal, lossTotalBackward: webgpu.lossTotalBackward,
  },
  benchmarks: webgpu.benchmarks,
});
