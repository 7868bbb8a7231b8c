import { describe, expect, it } from 'vitest';
import { ChainedScheduler, ExponentialLR, Parameter, SGD, StepLR } from '../../src/models/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * loadStateDict's lastEpoch bound (found by mutation testing): −1 is the lowest count a state may hold (a SequentialLR's
 * scheduler before its milestone), −2 is refused, by the scheduler itself and through a ChainedScheduler holding it,
 * changing nothing.
 */
describe('loadStateDict: lastEpoch ≥ −1', () => {
  it('−1 loads, −2 is refused by name and changes nothing, also as a held scheduler\'s', () => {
    const param = Parameter.fromHost([1], [1], { backend: cpu });
    const opt = new SGD([param], { lr: 0.1 });
    try {
      const step = new StepLR(opt, 2), exponential = new ExponentialLR(opt, 0.5);
      const chained = new ChainedScheduler([step, exponential]);
      for (let e = 0; e < 3; e++) chained.step();
      const before = chained.stateDict();
      expect(() => step.loadStateDict({ ...step.stateDict(), lastEpoch: -2 })).toThrow(/^StepLR\.loadStateDict: lastEpoch must be an integer ≥ -1, got -2$/);
      const state = { ...before, schedulers: [before.schedulers[0]!, { ...before.schedulers[1]!, lastEpoch: -2 }] };
      expect(() => chained.loadStateDict(state)).toThrow(/^ExponentialLR\.loadStateDict: lastEpoch must be an integer ≥ -1, got -2$/);
      expect(chained.stateDict()).toEqual(before);
      step.loadStateDict({ ...step.stateDict(), lastEpoch: -1 });
      expect(step.lastEpoch).toBe(-1);
    } finally {
      opt.dispose();
      param.dispose();
    }
  });
});
