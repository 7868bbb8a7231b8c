import { describe, expect, it } from 'vitest';
import {
  CosineAnnealingLR, LambdaLR, LinearLR, Parameter, PolynomialLR, SGD, StepLR, consistencyWeight, cosineLr, cosineRampdown,
  linearRampup, polyLr, sigmoidRampup, stepLr, type LRScheduler,
} from '../../src/models/index.js';
import { cpu, expectClose } from '../helpers/backends.js';

describe('schedules (la-protocol §4)', () => {
  it('step: 0.01 · 0.1^⌊it/2500⌋', () => {
    expect(stepLr(0)).toBe(0.01);
    expect(stepLr(2499)).toBe(0.01);
    expect(stepLr(2500)).toBeCloseTo(0.001, 15);
    expect(stepLr(5999)).toBeCloseTo(0.0001, 15);
    expect(stepLr(100, { baseLr: 0.1, gamma: 0.5, stepSize: 50 })).toBeCloseTo(0.025, 15);
  });

  it('poly: base · (1 − it/max)^0.9', () => {
    expect(polyLr(0, { baseLr: 0.01, maxIterations: 1000 })).toBe(0.01);
    expect(polyLr(500, { baseLr: 0.01, maxIterations: 1000 })).toBeCloseTo(0.01 * 0.5 ** 0.9, 15);
    expect(polyLr(1000, { baseLr: 0.01, maxIterations: 1000 })).toBe(0);
    expect(polyLr(250, { baseLr: 1, maxIterations: 1000, power: 2 })).toBeCloseTo(0.5625, 15);
  });

  it('cosine: min + (base − min)(1 + cos(π it/max))/2', () => {
    expect(cosineLr(0, { baseLr: 0.1, maxIterations: 100 })).toBeCloseTo(0.1, 15);
    expect(cosineLr(50, { baseLr: 0.1, maxIterations: 100 })).toBeCloseTo(0.05, 15);
    expect(cosineLr(100, { baseLr: 0.1, maxIterations: 100, minLr: 0.001 })).toBeCloseTo(0.001, 15);
    expect(cosineLr(25, { baseLr: 1, maxIterations: 100 })).toBeCloseTo((1 + Math.SQRT1_2) / 2, 15);
  });

  it('sigmoid ramp-up exp(−5(1 − clip(t,0,L)/L)²), 1 when L = 0', () => {
    expect(sigmoidRampup(0, 40)).toBeCloseTo(Math.exp(-5), 15);
    expect(sigmoidRampup(20, 40)).toBeCloseTo(Math.exp(-1.25), 15);
    expect(sigmoidRampup(40, 40)).toBe(1);
    expect(sigmoidRampup(100, 40)).toBe(1);
    expect(sigmoidRampup(-3, 40)).toBeCloseTo(Math.exp(-5), 15);
    expect(sigmoidRampup(7, 0)).toBe(1);
  });

  it('linear ramp-up and cosine ramp-down (UA-MT ramps.py)', () => {
    expect(linearRampup(0, 10)).toBe(0);
    expect(linearRampup(2.5, 10)).toBe(0.25);
    expect(linearRampup(10, 10)).toBe(1);
    expect(linearRampup(3, 0)).toBe(1);
    expect(cosineRampdown(0, 10)).toBe(1);
    expect(cosineRampdown(5, 10)).toBeCloseTo(0.5, 15);
    expect(cosineRampdown(10, 10)).toBeCloseTo(0, 15);
  });

  it('consistency weight 0.1 · sigmoid_rampup(it // 150, 40)', () => {
    expect(consistencyWeight(0)).toBeCloseTo(0.1 * Math.exp(-5), 15);
    expect(consistencyWeight(149)).toBeCloseTo(0.1 * Math.exp(-5), 15);
    expect(consistencyWeight(150)).toBeCloseTo(0.1 * Math.exp(-5 * (1 - 1 / 40) ** 2), 15);
    expect(consistencyWeight(6000)).toBeCloseTo(0.1, 15);
    expect(consistencyWeight(3000, { weight: 1, rampup: 40, every: 150 })).toBeCloseTo(Math.exp(-5 * 0.25), 15);
  });
});

describe("PyTorch's lr_scheduler classes: each group's lr from its initial lr, epoch 0 at construction, +1 per step()", () => {
  /** an SGD with two groups (initial lr 0.1 and 0.02), the scheduler on it, and each group's lr at epochs 0 … n */
  function trace(make: (opt: SGD) => LRScheduler, epochs: number): { lrs: number[][]; last: number[][] } {
    const a = Parameter.fromHost([1], [1], { backend: cpu }), b = Parameter.fromHost([1], [1], { backend: cpu });
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.02 }], { lr: 0.1 });
    const scheduler = make(opt);
    const lrs: number[][] = [], last: number[][] = [];
    for (let e = 0; e <= epochs; e++) {
      if (e > 0) scheduler.step();
      expect(scheduler.lastEpoch).toBe(e);
      lrs.push(opt.paramGroups.map((g) => g.lr));
      last.push(scheduler.getLastLr());
    }
    opt.dispose(); a.dispose(); b.dispose();
    return { lrs, last };
  }
  const expectSchedule = (make: (opt: SGD) => LRScheduler, factor: (e: number, base: number) => number, epochs: number, what: string) => {
    const { lrs, last } = trace(make, epochs);
    const expected = lrs.map((_, e) => [factor(e, 0.1), factor(e, 0.02)]);
    expectClose(lrs.flat(), expected.flat(), 1e-15, 1e-12, what);
    expect(last).toEqual(lrs);
  };

  it('StepLR: base · γ^⌊e/stepSize⌋', () => {
    expectSchedule((opt) => new StepLR(opt, 2), (e, base) => base * 0.1 ** Math.floor(e / 2), 6, 'StepLR(2)');
    expectSchedule((opt) => new StepLR(opt, 3, { gamma: 0.5 }), (e, base) => base * 0.5 ** Math.floor(e / 3), 7, 'StepLR(3, 0.5)');
  });

  it('CosineAnnealingLR: ηmin + (base − ηmin)(1 + cos(πe/T))/2, on past T', () => {
    expectSchedule((opt) => new CosineAnnealingLR(opt, 4, { etaMin: 0.001 }), (e, base) => 0.001 + (base - 0.001) * (1 + Math.cos(Math.PI * e / 4)) / 2, 6, 'cosine');
    const { lrs } = trace((opt) => new CosineAnnealingLR(opt, 4), 4);
    expect(lrs[2]![0]).toBeCloseTo(0.05, 15);
    expect(lrs[4]![0]).toBeCloseTo(0, 15);
  });

  it('PolynomialLR, LinearLR (warm-up) and LambdaLR (one function or one per group)', () => {
    expectSchedule((opt) => new PolynomialLR(opt, { totalIters: 4, power: 0.9 }), (e, base) => base * (1 - Math.min(e, 4) / 4) ** 0.9, 6, 'poly');
    expectSchedule((opt) => new PolynomialLR(opt), (e, base) => base * (1 - Math.min(e, 5) / 5), 6, 'poly defaults');
    expectSchedule((opt) => new LinearLR(opt, { startFactor: 0.25, totalIters: 3 }), (e, base) => base * (0.25 + 0.75 * Math.min(e, 3) / 3), 5, 'linear');
    expectSchedule((opt) => new LambdaLR(opt, (e) => 0.9 ** e), (e, base) => base * 0.9 ** e, 4, 'lambda');
    expectSchedule((opt) => new LambdaLR(opt, [(e) => 1 / (e + 1), (e) => e]), (e, base) => (base === 0.1 ? base / (e + 1) : base * e), 3, 'lambda per group');
  });

  it('stateDict/loadStateDict: a fresh optimizer and scheduler loaded from both states go on with the same lrs; bad states and settings are named', () => {
    const run = (resumeAt: number | null) => {
      const a = Parameter.fromHost([1], [1], { backend: cpu });
      let opt = new SGD([a], { lr: 0.1 });
      let scheduler: LRScheduler = new CosineAnnealingLR(opt, 6, { etaMin: 0.01 });
      const lrs: number[] = [];
      for (let e = 1; e <= 9; e++) {
        scheduler.step();
        lrs.push(opt.lr);
        if (e === resumeAt) {
          const [optState, schedulerState] = [opt.stateDict(), scheduler.stateDict()];
          opt.dispose();
          opt = new SGD([a], { lr: 0.1 });
          opt.loadStateDict(optState);
          scheduler = new CosineAnnealingLR(opt, 6, { etaMin: 0.01 });
          scheduler.loadStateDict(schedulerState);
          expect(scheduler.lastEpoch).toBe(e);
          expect(scheduler.getLastLr()).toEqual([lrs[e - 1]]);
          expect(opt.lr).toBe(lrs[e - 1]);
        }
      }
      opt.dispose(); a.dispose();
      return lrs;
    };
    expect(run(4)).toEqual(run(null));
    const a = Parameter.fromHost([1], [1], { backend: cpu });
    const opt = new SGD([a], { lr: 0.1 });
    const resumed = new StepLR(opt, 2);
    expect(() => resumed.loadStateDict({ lastEpoch: -2 })).toThrow(/StepLR.loadStateDict: lastEpoch must be an integer ≥ -1, got -2/);
    expect(() => resumed.loadStateDict({ lastEpoch: 2, baseLrs: [0.1, 0.2] })).toThrow('StepLR.loadStateDict: baseLrs must be 1 finite numbers (one per parameter group), got [0.1,0.2]');
    expect(() => new StepLR(opt, 0)).toThrow(/StepLR: stepSize must be a positive integer, got 0/);
    expect(() => new CosineAnnealingLR(opt, 2.5)).toThrow(/CosineAnnealingLR: tMax must be a positive integer, got 2.5/);
    expect(() => new LinearLR(opt, { startFactor: 2 })).toThrow(/LinearLR: startFactor must be in \(0, 1\] and endFactor in \[0, 1\], got 2 and 1/);
    expect(() => new LambdaLR(opt, [(e) => e, (e) => e])).toThrow(/LambdaLR: 2 lrLambda functions for 1 parameter groups/);
    opt.dispose(); a.dispose();
  });

  it("as PyTorch's: the base lr is the lr when the first scheduler is made; schedulers stepped together combine; an lr set by hand is carried on", () => {
    const a = Parameter.fromHost([1], [1], { backend: cpu });
    const opt = new SGD([a], { lr: 0.1 });
    opt.lr = 0.01;
    const step = new StepLR(opt, 1, { gamma: 0.5 });
    expect(opt.paramGroups[0]!.initialLr).toBe(0.01);
    step.step();
    expect(opt.lr).toBeCloseTo(0.005, 15);
    opt.dispose();

    // LinearLR(0.5, 2) then CosineAnnealingLR(4) on lr 1, stepped in that order: PyTorch's get_lr forms by hand
    const chained = new SGD([a], { lr: 1 });
    const warm = new LinearLR(chained, { startFactor: 0.5, totalIters: 2 }), cosine = new CosineAnnealingLR(chained, 4);
    const lrs = [chained.lr];
    for (let e = 1; e <= 6; e++) { warm.step(); cosine.step(); lrs.push(chained.lr); }
    expectClose(lrs, [0.5, 0.6401650429449552, 0.5, 0.14644660940672624, 0, 0.1464466094067262, 0.5], 1e-15, 1e-12, 'warm-up then cosine');
    expect(cosine.baseLrs).toEqual([1]);
    chained.dispose();

    const manual = new SGD([a], { lr: 1 });
    const decay = new StepLR(manual, 2);
    decay.step();
    manual.lr = 0.5;
    decay.step();
    expect(manual.lr).toBeCloseTo(0.05, 15);
    manual.dispose(); a.dispose();
  });
});
