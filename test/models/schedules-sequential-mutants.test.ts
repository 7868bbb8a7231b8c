import { describe, expect, it } from 'vitest';
import {
  ConstantLR, ExponentialLR, Parameter, SGD, SequentialLR, type LRScheduler, type LRSchedulerState,
} from '../../src/models/index.js';
import { cpu, expectClose } from '../helpers/backends.js';

/**
 * The edges of SequentialLR's and ConstantLR's checks that the other tests leave open (found by mutation testing),
 * against torch/optim/lr_scheduler.py: SequentialLR takes a single scheduler with no milestones and a milestone at
 * 1; ConstantLR takes factor 1 (its check is `factor > 1.0 or factor < 0`); a SequentialLR state without milestones
 * loads.
 */

function withOptimizer<T>(lr: number, body: (opt: SGD) => T): T {
  const param = Parameter.fromHost([1], [1], { backend: cpu });
  const opt = new SGD([param], { lr });
  try {
    return body(opt);
  } finally {
    opt.dispose();
    param.dispose();
  }
}

/** the lr at epochs 0 … n */
function lrs(scheduler: LRScheduler, epochs: number): number[] {
  const out = [scheduler.optimizer.lr];
  for (let e = 1; e <= epochs; e++) { scheduler.step(); out.push(scheduler.optimizer.lr); }
  return out;
}

describe('SequentialLR at the edges of its checks', () => {
  it('one scheduler and no milestones: the scheduler alone, from the initial lr', () => {
    withOptimizer(0.1, (opt) => {
      const scheduler = new SequentialLR(opt, [new ExponentialLR(opt, 0.5)], []);
      expectClose(lrs(scheduler, 3), [0.1, 0.05, 0.025, 0.0125], 1e-15, 1e-12, 'exponential alone');
      expect(scheduler.getLastLr()).toEqual([0.0125]);
    });
  });

  it('a milestone at 1: the second scheduler restarts at its base lr after one epoch of the first', () => {
    withOptimizer(1, (opt) => {
      const scheduler = new SequentialLR(opt, [new ConstantLR(opt, { factor: 0.5, totalIters: 2 }), new ExponentialLR(opt, 0.5)], [1]);
      expectClose(lrs(scheduler, 3), [0.5, 1, 0.5, 0.25], 1e-15, 1e-12, 'constant for one epoch, then exponential');
    });
  });

  it('refuses by name something that is not a scheduler, and milestones that are fractions or below 1', () => {
    withOptimizer(0.1, (opt) => {
      const a = new ExponentialLR(opt, 0.9), b = new ExponentialLR(opt, 0.8);
      expect(() => new SequentialLR(opt, [a, { optimizer: opt } as unknown as LRScheduler], [2])).toThrow('SequentialLR: schedulers[1] is not an LRScheduler');
      expect(() => new SequentialLR(opt, [a, b], [1.5])).toThrow('SequentialLR: milestones must be increasing integers ≥ 1, got [1.5]');
      expect(() => new SequentialLR(opt, [a, b], [0])).toThrow('SequentialLR: milestones must be increasing integers ≥ 1, got [0]');
      expect(() => new SequentialLR(opt, [a, b, a], [2, 1])).toThrow('SequentialLR: milestones must be increasing integers ≥ 1, got [2, 1]');
    });
  });

  it('loadStateDict: a state without milestones loads; too few scheduler states and other milestones are refused by name', () => {
    const run = (resumeAt: number | null): number[] => withOptimizer(1, (opt) => {
      const make = (): SequentialLR => new SequentialLR(opt, [new ConstantLR(opt, { factor: 0.5, totalIters: 2 }), new ExponentialLR(opt, 0.5), new ExponentialLR(opt, 0.25)], [2, 4]);
      let scheduler = make();
      const out: number[] = [opt.lr];
      for (let e = 1; e <= 6; e++) {
        if (e === resumeAt) {
          const { milestones: _milestones, ...state } = scheduler.stateDict();
          const lr = opt.lr;
          scheduler = make();
          opt.lr = lr;
          scheduler.loadStateDict(state);
        }
        scheduler.step();
        out.push(opt.lr);
      }
      return out;
    });
    const straight = run(null);
    // epochs 0–1: 0.5; 2: ExponentialLR(0.5) restarts at 1, 3: 0.5; 4: ExponentialLR(0.25) restarts at 1, then 0.25, 0.0625
    expectClose(straight, [0.5, 0.5, 1, 0.5, 1, 0.25, 0.0625], 1e-15, 1e-12, 'three schedulers');
    for (const at of [2, 3, 5]) expect(run(at), `resumed at ${at} from a state without milestones`).toEqual(straight);

    withOptimizer(1, (opt) => {
      const a = new ExponentialLR(opt, 0.9), b = new ExponentialLR(opt, 0.8), c = new ExponentialLR(opt, 0.7);
      const scheduler = new SequentialLR(opt, [a, b, c], [2, 4]);
      const state = scheduler.stateDict();
      expect(() => scheduler.loadStateDict({ ...state, schedulers: state.schedulers.slice(0, 2) } as LRSchedulerState))
        .toThrow('SequentialLR.loadStateDict: schedulers must be 3 scheduler states, got [');
      expect(() => scheduler.loadStateDict({ ...state, milestones: [2, 5] } as LRSchedulerState))
        .toThrow('SequentialLR.loadStateDict: the state\'s milestones [2,5] are not this scheduler\'s [2, 4]');
    });
  });
});

describe('ConstantLR at the ends of its factor range', () => {
  it('factor 1 (PyTorch accepts it) leaves the lr alone, also at totalIters; a factor above 1 is refused by name', () => {
    withOptimizer(0.2, (opt) => {
      expectClose(lrs(new ConstantLR(opt, { factor: 1, totalIters: 2 }), 3), [0.2, 0.2, 0.2, 0.2], 1e-15, 1e-12, 'factor 1');
      expect(() => new ConstantLR(opt, { factor: 1.5 })).toThrow('ConstantLR: factor must be in (0, 1], got 1.5');
    });
  });
});
