import { describe, expect, it } from 'vitest';
import { LinearLR, MultiStepLR, Parameter, SGD, SequentialLR, type LRScheduler } from '../../src/models/index.js';
import { cpu, expectClose } from '../helpers/backends.js';

/** the lr after the constructor and after each of `steps` steps (PyTorch's get_last_lr()[0] in its loop) */
function lrs(scheduler: LRScheduler, steps: number): number[] {
  const out = [scheduler.getLastLr()[0]!];
  for (let i = 0; i < steps; i++) {
    scheduler.step();
    out.push(scheduler.getLastLr()[0]!);
  }
  return out;
}

const sgd = (lr: number) => new SGD([Parameter.fromHost([1], [1], { backend: cpu })], { lr });

describe('lr_scheduler classes as PyTorch\'s', () => {
  it('MultiStepLR: lr · gamma at each milestone, gamma^k at a milestone given k times (PyTorch counts them)', () => {
    expectClose(lrs(new MultiStepLR(sgd(0.05), [2, 5]), 6), [0.05, 0.05, 0.005, 0.005, 0.005, 0.0005, 0.0005], 0, 1e-12);
    expectClose(lrs(new MultiStepLR(sgd(1), [3, 1, 3], { gamma: 0.5 }), 4), [1, 0.5, 0.5, 0.125, 0.125], 0, 1e-12);
    expect(() => new MultiStepLR(sgd(1), [1.5])).toThrow('MultiStepLR: milestones must be integers ≥ 0, got [1.5]');
  });

  it('MultiStepLR after a warm-up in SequentialLR restarts at its base lr (closed form at epoch 0) and counts its own epochs', () => {
    const opt = sgd(0.1);
    const warm = new LinearLR(opt, { startFactor: 0.5, totalIters: 2 }), decay = new MultiStepLR(opt, [2], { gamma: 0.1 });
    const seq = new SequentialLR(opt, [warm, decay], [3]);
    // 0.05, 0.075, 0.1, then the decay's epochs 0, 1, 2 (× 0.1), 3
    expectClose(lrs(seq, 6), [0.05, 0.075, 0.1, 0.1, 0.1, 0.01, 0.01], 0, 1e-12);
  });
});
