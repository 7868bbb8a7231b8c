import { describe, expect, it } from 'vitest';
import { Adam, ChainedScheduler, CyclicLR, MultiplicativeLR, OneCycleLR, ConstantLR, CosineAnnealingWarmRestarts, ExponentialLR, LinearLR, MultiStepLR, Parameter, ReduceLROnPlateau, SGD, SequentialLR, type LRScheduler } from '../../src/models/index.js';
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

/** the lr after each step(metric) */
function plateau(scheduler: ReduceLROnPlateau, metrics: readonly number[]): number[] {
  return metrics.map((m) => { scheduler.step(m); return scheduler.getLastLr()[0]!; });
}

describe('CosineAnnealingWarmRestarts as PyTorch\'s', () => {
  it('restarts at the base lr after t0 epochs, each cycle tMult times longer; etaMin is the floor', () => {
    const half = (f: number) => (1 + Math.cos(Math.PI * f)) / 2;
    // T_0 2, T_mult 2: cycles of 2, 4, 8 epochs
    expectClose(lrs(new CosineAnnealingWarmRestarts(sgd(1), 2, { tMult: 2 }), 7),
      [1, half(1 / 2), 1, half(1 / 4), half(2 / 4), half(3 / 4), 1, half(1 / 8)], 0, 1e-12);
    expectClose(lrs(new CosineAnnealingWarmRestarts(sgd(1), 3, { etaMin: 0.1 }), 4), [1, 0.775, 0.325, 1, 0.775], 0, 1e-12);
    expect(new CosineAnnealingWarmRestarts(sgd(1), 10, { tMult: 3 }).cycleAt(10 + 30 + 5)).toEqual({ tCur: 5, tI: 90 });
    expect(() => new CosineAnnealingWarmRestarts(sgd(1), 2, { tMult: 1.5 })).toThrow('CosineAnnealingWarmRestarts: tMult must be a positive integer, got 1.5');
  });

  it('after a warm-up in SequentialLR it starts its first cycle at the base lr', () => {
    const opt = sgd(1);
    const seq = new SequentialLR(opt, [new LinearLR(opt, { startFactor: 0.5, totalIters: 1 }), new CosineAnnealingWarmRestarts(opt, 2)], [2]);
    expectClose(lrs(seq, 4), [0.5, 1, 1, 0.5, 1], 0, 1e-12);
  });
});

describe('ChainedScheduler as PyTorch\'s', () => {
  it('steps each scheduler in turn: a ConstantLR and an ExponentialLR multiply; its state resumes both', () => {
    const opt = sgd(1);
    const chained = new ChainedScheduler([new ConstantLR(opt, { factor: 0.1, totalIters: 2 }), new ExponentialLR(opt, 0.9)]);
    // 0.1 (the constructors' initial steps), ×0.9, ×10·0.9 (ConstantLR ends), ×0.9
    expectClose(lrs(chained, 3), [0.1, 0.09, 0.81, 0.729], 0, 1e-12);
    const other = sgd(1);
    const resumed = new ChainedScheduler([new ConstantLR(other, { factor: 0.1, totalIters: 2 }), new ExponentialLR(other, 0.9)]);
    resumed.loadStateDict(JSON.parse(JSON.stringify(chained.stateDict())));
    other.lr = opt.lr;
    chained.step();
    resumed.step();
    expect(resumed.getLastLr()).toEqual(chained.getLastLr());
    expect(() => new ChainedScheduler([])).toThrow('ChainedScheduler: expects at least one scheduler, got none');
    expect(() => new ChainedScheduler([new ExponentialLR(other, 0.5)], opt)).toThrow(/schedulers\[0\] \(ExponentialLR\) belongs to another optimizer/);
    expect(() => new SequentialLR(opt, [new ExponentialLR(opt, 0.5), chained], [1])).toThrow('SequentialLR: schedulers[1] is a ChainedScheduler, which cannot restart at a milestone');
  });
});

describe('OneCycleLR as PyTorch\'s', () => {
  const cosine = (start: number, end: number, pct: number) => end + (start - end) / 2 * (Math.cos(Math.PI * pct) + 1);

  it('two phases: up from maxLr/25 to maxLr over 30 % of the steps, then down to maxLr/25/1e4; SGD momentum the other way', () => {
    const opt = new SGD([Parameter.fromHost([1], [1], { backend: cpu })], { lr: 0.5, momentum: 0.9 });
    const s = new OneCycleLR(opt, 1, { totalSteps: 10 });
    const momenta = [opt.paramGroups[0]!.momentum];
    const got = [s.getLastLr()[0]!];
    for (let i = 0; i < 10; i++) { s.step(); got.push(s.getLastLr()[0]!); momenta.push(opt.paramGroups[0]!.momentum); }
    // phase ends at step 3 − 1 = 2 and 10 − 1 = 9; step 10 goes on along the last cosine, as PyTorch's
    const min = 0.04 / 1e4;
    const expected = [0.04, 0.52, 1, ...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => cosine(1, min, i / 7))];
    expectClose(got, expected, 0, 1e-12);
    expectClose(momenta, [0.95, 0.9, 0.85, ...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => cosine(0.85, 0.95, i / 7))], 0, 1e-12);
    expect(got[9]).toBeCloseTo(min, 15);
    expect(opt.paramGroups[0]!.initialLr).toBe(0.04);
    expect(() => s.step()).toThrow('OneCycleLR: tried to step 11 times; the total number of steps is 10');
  });

  it('three phases, linear annealing, Adam\'s β₁ cycled (β₂ kept), epochs · stepsPerEpoch', () => {
    const opt = new Adam([Parameter.fromHost([1], [1], { backend: cpu })], { betas: [0.9, 0.99] });
    const s = new OneCycleLR(opt, 1, { epochs: 2, stepsPerEpoch: 5, threePhase: true, annealStrategy: 'linear' });
    const got = lrs(s, 6), min = 0.04 / 1e4;
    // phases end at 2, 4 and 9
    expectClose(got, [0.04, 0.52, 1, 0.52, 0.04, 0.04 + (min - 0.04) * 0.2, 0.04 + (min - 0.04) * 0.4], 0, 1e-12);
    expect(opt.paramGroups[0]!.betas).toEqual([0.95, 0.99]);
    expect(() => new OneCycleLR(opt, [1, 2], { totalSteps: 4 })).toThrow('OneCycleLR: maxLr has 2 values, the optimizer 1 parameter groups');
    expect(() => new OneCycleLR(opt, 1, {})).toThrow('OneCycleLR: give either totalSteps or epochs and stepsPerEpoch');
  });

  it('cycleMomentum false leaves momentum alone', () => {
    const opt = new SGD([Parameter.fromHost([1], [1], { backend: cpu })], { lr: 0.5 });
    lrs(new OneCycleLR(opt, 2, { totalSteps: 4, cycleMomentum: false }), 2);
    expect(opt.paramGroups[0]!.momentum).toBe(0);
  });
});

describe('MultiplicativeLR as PyTorch\'s', () => {
  it('multiplies the current lr by lrLambda(epoch) from epoch 1; restarted in SequentialLR, the current lr by lrLambda(0)', () => {
    expectClose(lrs(new MultiplicativeLR(sgd(1), () => 0.9), 2), [1, 0.9, 0.81], 0, 1e-12);
    expectClose(lrs(new MultiplicativeLR(sgd(1), (e) => 1 / (e + 1)), 2), [1, 0.5, 0.5 / 3], 0, 1e-12);
    const opt = sgd(1);
    const seq = new SequentialLR(opt, [new ConstantLR(opt, { factor: 0.5, totalIters: 10 }), new MultiplicativeLR(opt, () => 0.9)], [2]);
    // PyTorch's _update_lr(0) has no closed form to use: get_lr multiplies the lr the ConstantLR left (0.5)
    expectClose(lrs(seq, 3), [0.5, 0.5, 0.45, 0.405], 0, 1e-12);
    expect(() => new MultiplicativeLR(opt, [() => 1, () => 1])).toThrow('MultiplicativeLR: 2 lrLambda functions for 1 parameter groups');
  });
});

describe('CyclicLR as PyTorch\'s', () => {
  it('triangular: baseLr up to maxLr in stepSizeUp steps and back; SGD momentum from 0.9 down to 0.8 and back', () => {
    const opt = new SGD([Parameter.fromHost([1], [1], { backend: cpu })], { lr: 5, momentum: 0.5 });
    const s = new CyclicLR(opt, 0.1, 1, { stepSizeUp: 2 });
    const momenta = [opt.paramGroups[0]!.momentum];
    const got = [s.getLastLr()[0]!];
    for (let i = 0; i < 5; i++) { s.step(); got.push(s.getLastLr()[0]!); momenta.push(opt.paramGroups[0]!.momentum); }
    expectClose(got, [0.1, 0.55, 1, 0.55, 0.1, 0.55], 0, 1e-12);
    expectClose(momenta, [0.9, 0.85, 0.8, 0.85, 0.9, 0.85], 0, 1e-12);
    expect(opt.paramGroups[0]!.initialLr).toBe(0.1);
  });

  it('triangular2 halves the height each cycle; exp_range scales by gamma^step; an asymmetric cycle; Adam\'s β₁', () => {
    expectClose(lrs(new CyclicLR(sgd(1), 0.1, 1, { stepSizeUp: 2, mode: 'triangular2', cycleMomentum: false }), 6), [0.1, 0.55, 1, 0.55, 0.1, 0.325, 0.55], 0, 1e-12);
    expectClose(lrs(new CyclicLR(sgd(1), 0.1, 1, { stepSizeUp: 2, mode: 'exp_range', gamma: 0.5, cycleMomentum: false }), 2), [0.1, 0.325, 0.325], 0, 1e-12);
    expectClose(lrs(new CyclicLR(sgd(1), 0.1, 1, { stepSizeUp: 1, stepSizeDown: 3, cycleMomentum: false }), 4), [0.1, 1, 0.7, 0.4, 0.1], 0, 1e-12);
    const adam = new Adam([Parameter.fromHost([1], [1], { backend: cpu })], { betas: [0.5, 0.99] });
    lrs(new CyclicLR(adam, 0.1, 1, { stepSizeUp: 2 }), 1);
    expect(adam.paramGroups[0]!.betas[0]).toBeCloseTo(0.85, 15);
    expect(adam.paramGroups[0]!.betas[1]).toBe(0.99);
    expect(() => new CyclicLR(sgd(1), 0.1, 1, { mode: 'sine' as 'triangular' })).toThrow(/CyclicLR: mode must be/);
  });
});

describe('ReduceLROnPlateau as PyTorch\'s', () => {
  it('reduces after more than `patience` epochs without an improvement by more than the relative threshold', () => {
    const s = new ReduceLROnPlateau(sgd(1), { factor: 0.5, patience: 1 });
    // 0.95 does not beat 0.9: bad, bad → halve; 0.5 is a new best; 0.6, 0.6 → halve again
    expectClose(plateau(s, [1, 0.9, 0.95, 0.95, 0.95, 0.5, 0.6, 0.6]), [1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25], 0, 1e-12);
    expect(s.stateDict()).toEqual({ lastEpoch: 8, best: 0.5, numBadEpochs: 0, cooldownCounter: 0, lastLr: [0.25] });
  });

  it('max mode, cooldown, minLr (a reduction below eps is not made), the absolute threshold and NaN as a bad epoch', () => {
    const s = new ReduceLROnPlateau(sgd(1), { mode: 'max', patience: 0, cooldown: 1, minLr: 0.05 });
    expectClose(plateau(s, [0.5, 0.4, 0.4, 0.4, 0.4, 0.4]), [1, 0.1, 0.1, 0.05, 0.05, 0.05], 0, 1e-12);
    expectClose(plateau(new ReduceLROnPlateau(sgd(1), { thresholdMode: 'abs', threshold: 0.1, patience: 0 }), [1, 0.95]), [1, 0.1], 0, 1e-12);
    expectClose(plateau(new ReduceLROnPlateau(sgd(1), { patience: 0 }), [1, NaN]), [1, 0.1], 0, 1e-12);
    expect(() => new ReduceLROnPlateau(sgd(1), { factor: 1 })).toThrow('ReduceLROnPlateau: factor must be < 1, got 1');
    expect(() => new ReduceLROnPlateau(sgd(1), { minLr: [0, 0] })).toThrow('ReduceLROnPlateau: 2 minLr values for 1 parameter groups');
  });

  it('a state dict resumes the counters; a best of null (JSON\'s Infinity) is none yet', () => {
    const a = new ReduceLROnPlateau(sgd(1), { patience: 2 });
    plateau(a, [1, 2, 3]);
    const b = new ReduceLROnPlateau(sgd(1), { patience: 2 });
    b.loadStateDict(a.stateDict());
    expect(plateau(b, [3])).toEqual(plateau(a, [3]));
    const fresh = new ReduceLROnPlateau(sgd(1));
    fresh.loadStateDict(JSON.parse(JSON.stringify(fresh.stateDict())));
    expect(fresh.best).toBe(Infinity);
    expect(() => fresh.loadStateDict({ ...fresh.stateDict(), numBadEpochs: -1 })).toThrow(/ReduceLROnPlateau.loadStateDict: expected/);
  });
});
