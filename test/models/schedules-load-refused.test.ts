import { describe, expect, it } from 'vitest';
import {
  ChainedScheduler, CosineAnnealingLR, ExponentialLR, LinearLR, Parameter, SGD, SequentialLR, StepLR, type LRScheduler, type LRSchedulerState,
} from '../../src/models/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * A scheduler's loadStateDict checks the whole state (its own and every sub-scheduler's) before it changes anything:
 * a refused state leaves the groups' lr and initialLr, the epoch counts and every sub-scheduler bit for bit as they were.
 */

function withOptimizer<T>(body: (opt: SGD) => T): T {
  const params = [Parameter.fromHost([1], [1], { backend: cpu }), Parameter.fromHost([2], [1], { backend: cpu })];
  const opt = new SGD([{ params: [params[0]!], lr: 0.1 }, { params: [params[1]!], lr: 0.03 }]);
  try {
    return body(opt);
  } finally {
    opt.dispose();
    for (const p of params) p.dispose();
  }
}

/** everything a load could change: the groups' lr and initialLr, the scheduler's and its sub-schedulers' states */
function snapshot(opt: SGD, scheduler: LRScheduler, subs: readonly LRScheduler[]) {
  return {
    lr: opt.paramGroups.map((g) => g.lr), initialLr: opt.paramGroups.map((g) => g.initialLr),
    lastEpoch: scheduler.lastEpoch, baseLrs: [...scheduler.baseLrs], lastLr: scheduler.getLastLr(), state: scheduler.stateDict(),
    subs: subs.map((s) => ({ lastEpoch: s.lastEpoch, baseLrs: [...s.baseLrs], lastLr: s.getLastLr(), state: s.stateDict() })),
  };
}

/** a state saved from another run (other epoch counts, base lrs and last lrs), its second sub-scheduler's `lastEpoch` spoiled */
function spoiled<S extends { schedulers: LRSchedulerState[] }>(state: S): S {
  const other = JSON.parse(JSON.stringify(state)) as S & LRSchedulerState;
  other.lastEpoch += 3;
  other.lastLr = other.lastLr?.map((x) => x / 7);
  other.schedulers = other.schedulers.map((s, i) => ({ ...s, lastEpoch: i === 1 ? ('x' as unknown as number) : s.lastEpoch + 3, baseLrs: [0.5, 0.25], lastLr: [0.5, 0.25] }));
  return other;
}

describe('loadStateDict of a scheduler holding others: all or nothing', () => {
  it('SequentialLR: its second scheduler\'s state refused leaves its own epoch count, the first scheduler and the groups unchanged', () => {
    withOptimizer((opt) => {
      const subs = [new LinearLR(opt, { totalIters: 2 }), new CosineAnnealingLR(opt, 4, { etaMin: 0.01 })];
      const scheduler = new SequentialLR(opt, subs, [2]);
      for (let e = 0; e < 3; e++) scheduler.step();
      const before = snapshot(opt, scheduler, subs);
      expect(() => scheduler.loadStateDict(spoiled(scheduler.stateDict()))).toThrow('CosineAnnealingLR.loadStateDict: lastEpoch must be an integer ≥ -1, got x');
      expect(snapshot(opt, scheduler, subs)).toEqual(before);
    });
  });

  it('ChainedScheduler: likewise, and through a SequentialLR it holds', () => {
    withOptimizer((opt) => {
      const subs = [new StepLR(opt, 2), new ExponentialLR(opt, 0.9)];
      const scheduler = new ChainedScheduler(subs);
      for (let e = 0; e < 3; e++) scheduler.step();
      const before = snapshot(opt, scheduler, subs);
      expect(() => scheduler.loadStateDict(spoiled(scheduler.stateDict()))).toThrow('ExponentialLR.loadStateDict: lastEpoch must be an integer ≥ -1, got x');
      expect(snapshot(opt, scheduler, subs)).toEqual(before);
    });
    withOptimizer((opt) => {
      const inner = [new LinearLR(opt, { totalIters: 2 }), new StepLR(opt, 2)];
      const sequential = new SequentialLR(opt, inner, [2]), exponential = new ExponentialLR(opt, 0.9);
      const scheduler = new ChainedScheduler([exponential, sequential]);
      for (let e = 0; e < 3; e++) scheduler.step();
      const before = snapshot(opt, scheduler, [exponential, sequential, ...inner]);
      const state = JSON.parse(JSON.stringify(scheduler.stateDict())) as ReturnType<ChainedScheduler['stateDict']>;
      state.schedulers[0] = { ...state.schedulers[0]!, lastEpoch: 9, baseLrs: [0.5, 0.25] };
      state.schedulers[1] = spoiled(state.schedulers[1] as ReturnType<SequentialLR['stateDict']>);
      expect(() => scheduler.loadStateDict(state)).toThrow('StepLR.loadStateDict: lastEpoch must be an integer ≥ -1, got x');
      expect(snapshot(opt, scheduler, [exponential, sequential, ...inner])).toEqual(before);
    });
  });

  it('a state that passes loads every part, as before', () => {
    withOptimizer((opt) => {
      const subs = [new LinearLR(opt, { totalIters: 2 }), new CosineAnnealingLR(opt, 4)];
      const scheduler = new SequentialLR(opt, subs, [2]);
      for (let e = 0; e < 3; e++) scheduler.step();
      const saved = JSON.parse(JSON.stringify(scheduler.stateDict())) as ReturnType<SequentialLR['stateDict']>;
      scheduler.step();
      scheduler.loadStateDict(saved);
      expect(scheduler.stateDict()).toEqual(saved);
      expect(subs.map((s) => s.lastEpoch)).toEqual(saved.schedulers.map((s) => s.lastEpoch));
    });
  });
});
