import { describe, expect, it } from 'vitest';
import {
  ConstantLR, CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR, Parameter, SGD, SequentialLR, StepLR, type LRScheduler, type LRSchedulerState,
} from '../../src/models/index.js';
import { cpu, expectClose } from '../helpers/backends.js';

/**
 * SequentialLR, ConstantLR and ExponentialLR against values worked out by hand from torch/optim/lr_scheduler.py:
 * SequentialLR's constructor (lr back to initial_lr, recursive_undo, the first scheduler's _initial_step), its step
 * (bisect_right over the milestones, `_update_lr(0)` = the closed form at a milestone, else the chainable step).
 */

function withOptimizer<T>(lrs: readonly number[], body: (opt: SGD) => T): T {
  const params = lrs.map(() => Parameter.fromHost([1], [1], { backend: cpu }));
  const opt = new SGD(params.map((p, i) => ({ params: [p], lr: lrs[i]! })), { lr: lrs[0]! });
  try {
    return body(opt);
  } finally {
    opt.dispose();
    for (const p of params) p.dispose();
  }
}

/** the first group's lr and getLastLr()[0] at epochs 0 … n */
function trace(scheduler: LRScheduler, opt: SGD, epochs: number): number[] {
  const lrs: number[] = [];
  for (let e = 0; e <= epochs; e++) {
    if (e > 0) scheduler.step();
    expect(scheduler.lastEpoch).toBe(e);
    expect(scheduler.getLastLr()).toEqual(opt.paramGroups.map((g) => g.lr));
    lrs.push(opt.lr);
  }
  return lrs;
}

describe('SequentialLR', () => {
  it('a LinearLR warm-up, then CosineAnnealingLR restarted at its base lr at the milestone (PyTorch\'s step(0))', () => {
    withOptimizer([0.1], (opt) => {
      const warmup = new LinearLR(opt, { startFactor: 0.1, totalIters: 3 });
      const cosine = new CosineAnnealingLR(opt, 5);
      const scheduler = new SequentialLR(opt, [warmup, cosine], [3]);
      const got = trace(scheduler, opt, 10);
      // epochs 0–2: LinearLR 0.1·(0.1 + 0.9·e/3); epoch 3: the cosine's closed form at 0 (its base lr); then
      // 0.1·(1 + cos(π·k/5))/2 for k = e − 3, through the minimum at k = 5 and up again (the step-up branch at k = 6)
      const cosineAt = (k: number) => 0.1 * (1 + Math.cos(Math.PI * k / 5)) / 2;
      const want = [0.01, 0.04, 0.07, 0.1, cosineAt(1), cosineAt(2), cosineAt(3), cosineAt(4), 0, cosineAt(6), cosineAt(7)];
      expectClose(got, want, 1e-15, 1e-12, 'warm-up then cosine');
      expect([warmup.lastEpoch, cosine.lastEpoch]).toEqual([2, 7]);
    });
  });

  it("PyTorch's documented example: ConstantLR(0.1, 20) then ExponentialLR(0.9) at 20 gives 0.005 … 0.005, 0.05, 0.045, 0.0405", () => {
    withOptimizer([0.05], (opt) => {
      const scheduler = new SequentialLR(opt, [new ConstantLR(opt, { factor: 0.1, totalIters: 20 }), new ExponentialLR(opt, 0.9)], [20]);
      const got = trace(scheduler, opt, 22);
      expectClose(got, [...new Array<number>(20).fill(0.005), 0.05, 0.045, 0.0405], 1e-15, 1e-12, 'constant then exponential');
    });
  });

  it('the constructor sets the lr back to initialLr and takes back the schedulers\' initial steps, per group', () => {
    withOptimizer([0.1, 0.02], (opt) => {
      // each constructor applied its epoch 0 to the lr: 0.1 · 0.5 · 0.25 before the SequentialLR
      const first = new ConstantLR(opt, { factor: 0.5, totalIters: 2 }), second = new LinearLR(opt, { startFactor: 0.25, totalIters: 2 });
      expectClose(opt.paramGroups.map((g) => g.lr), [0.1 * 0.5 * 0.25, 0.02 * 0.5 * 0.25], 1e-15, 1e-12, 'before');
      const scheduler = new SequentialLR(opt, [first, second], [3]);
      expect([first.lastEpoch, second.lastEpoch, scheduler.lastEpoch]).toEqual([0, -1, 0]);
      // ConstantLR alone from the initial lr: ·0.5 for epochs 0, 1, back at epoch 2; LinearLR from its base lr at 3
      const lrs: number[][] = [opt.paramGroups.map((g) => g.lr)];
      for (let e = 1; e <= 5; e++) { scheduler.step(); lrs.push(opt.paramGroups.map((g) => g.lr)); }
      const want = [0.5, 0.5, 1, 0.25, 0.625, 1].map((f) => [0.1 * f, 0.02 * f]);
      expectClose(lrs.flat(), want.flat(), 1e-15, 1e-12, 'two groups');
    });
  });

  it('a LambdaLR after a milestone restarts at baseLr · λ(0); three schedulers switch at each milestone', () => {
    withOptimizer([1], (opt) => {
      const scheduler = new SequentialLR(opt, [new ExponentialLR(opt, 0.5), new StepLR(opt, 2, { gamma: 0.1 }), new LambdaLR(opt, (e) => 0.3 + e)], [2, 5]);
      // exponential 1, 0.5; StepLR from 1 at 2 (its epoch 0), 1, ·0.1 at its epoch 2; LambdaLR 0.3 + k from 5 on
      expectClose(trace(scheduler, opt, 7), [1, 0.5, 1, 1, 0.1, 0.3, 1.3, 2.3], 1e-15, 1e-12, 'three schedulers');
    });
  });

  it('stateDict/loadStateDict: a fresh optimizer and schedulers loaded from both states (through JSON) go on with the same lrs', () => {
    const make = (opt: SGD) => new SequentialLR(opt, [new LinearLR(opt, { startFactor: 0.2, totalIters: 2 }), new CosineAnnealingLR(opt, 4, { etaMin: 0.01 })], [2]);
    const run = (resumeAt: number | null) => withOptimizer([0.1], (first) => {
      let opt = first, scheduler = make(opt);
      const lrs: number[] = [];
      for (let e = 1; e <= 8; e++) {
        scheduler.step();
        lrs.push(opt.lr);
        if (e === resumeAt) {
          const optState = opt.stateDict(), state = JSON.parse(JSON.stringify(scheduler.stateDict())) as ReturnType<SequentialLR['stateDict']>;
          expect(state.schedulers).toHaveLength(2);
          expect(state.milestones).toEqual([2]);
          opt = new SGD(opt.paramGroups.flatMap((g) => g.params), { lr: 0.1 });
          scheduler = make(opt); // (its constructor sets the lr: the optimizer's state is loaded after it, as in PyTorch)
          opt.loadStateDict(optState);
          scheduler.loadStateDict(state);
          expect(scheduler.lastEpoch).toBe(e);
          expect(scheduler.getLastLr()).toEqual([lrs[e - 1]]);
          expect(opt.lr).toBe(lrs[e - 1]);
        }
      }
      if (opt !== first) opt.dispose();
      return lrs;
    });
    for (const at of [1, 2, 3]) expect(run(at), `resumed at ${at}`).toEqual(run(null));
  });

  it('refuses by name: no scheduler, another optimizer\'s, a nested SequentialLR, a milestone count that does not fit, milestones not increasing, a state of another shape', () => {
    withOptimizer([0.1], (opt) => withOptimizer([0.1], (other) => {
      const a = new ExponentialLR(opt, 0.9), b = new ExponentialLR(opt, 0.8), foreign = new ExponentialLR(other, 0.9);
      expect(() => new SequentialLR(opt, [], [])).toThrow('SequentialLR: expects at least one scheduler, got none');
      expect(() => new SequentialLR(opt, [a, foreign], [2])).toThrow('SequentialLR: schedulers[1] (ExponentialLR) belongs to another optimizer');
      expect(() => new SequentialLR(opt, [a, b], [])).toThrow('SequentialLR: 2 schedulers need 1 milestones, got 0');
      expect(() => new SequentialLR(opt, [a, b, a], [3, 3])).toThrow('SequentialLR: milestones must be increasing integers ≥ 1, got [3, 3]');
      const scheduler = new SequentialLR(opt, [a, b], [2]);
      expect(() => new SequentialLR(opt, [scheduler, b], [4])).toThrow('SequentialLR: schedulers[0] is a SequentialLR; nesting them is not supported');
      expect(() => scheduler.loadStateDict({ lastEpoch: 1 })).toThrow('SequentialLR.loadStateDict: schedulers must be 2 scheduler states, got undefined');
      expect(() => scheduler.loadStateDict({ ...scheduler.stateDict(), milestones: [3] } as LRSchedulerState)).toThrow('SequentialLR.loadStateDict: the state\'s milestones [3] are not this scheduler\'s [2]');
    }));
  });
});

describe('ConstantLR and ExponentialLR (chainable, as the other schedulers)', () => {
  it('ConstantLR alone: base · factor before totalIters, base from it on; ExponentialLR alone: base · γ^e', () => {
    withOptimizer([0.1, 0.02], (opt) => {
      const constant = new ConstantLR(opt, { factor: 0.25, totalIters: 3 });
      const lrs = trace(constant, opt, 5);
      expectClose(lrs, [0.025, 0.025, 0.025, 0.1, 0.1, 0.1], 1e-15, 1e-12, 'ConstantLR');
      expectClose(constant.getLastLr(), [0.1, 0.02], 1e-15, 1e-12, 'ConstantLR, both groups');
    });
    withOptimizer([0.1], (opt) => {
      expectClose(trace(new ExponentialLR(opt, 0.5), opt, 4), [0.1, 0.05, 0.025, 0.0125, 0.00625], 1e-15, 1e-12, 'ExponentialLR');
    });
  });

  it('combine with another scheduler stepped with them, and refuse their settings by name', () => {
    withOptimizer([1], (opt) => {
      const constant = new ConstantLR(opt, { factor: 0.5, totalIters: 2 }), exponential = new ExponentialLR(opt, 0.5);
      const lrs = [opt.lr];
      for (let e = 1; e <= 3; e++) { constant.step(); exponential.step(); lrs.push(opt.lr); }
      expectClose(lrs, [0.5, 0.25, 0.25, 0.125], 1e-15, 1e-12, 'chained');
      expect(() => new ConstantLR(opt, { factor: 0 })).toThrow('ConstantLR: factor must be in (0, 1], got 0');
      expect(() => new ConstantLR(opt, { totalIters: 1.5 })).toThrow('ConstantLR: totalIters must be a positive integer, got 1.5');
      expect(() => new ExponentialLR(opt, -0.5)).toThrow('ExponentialLR: gamma must be > 0, got -0.5');
    });
  });
});
