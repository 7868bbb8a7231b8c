import { describe, expect, it } from 'vitest';
import {
  CosineAnnealingLR, LambdaLR, LinearLR, Parameter, PolynomialLR, SGD, StepLR, cosineLr, cosineRampdown, linearRampup,
  type LRScheduler,
} from '../../src/models/index.js';
import { cpu, expectClose } from '../helpers/backends.js';

/**
 * The edges of the schedules and of PyTorch's lr_scheduler classes (torch/optim/lr_scheduler.py): the chainable
 * get_lr forms with an lr set by hand between steps, CosineAnnealingLR's step-up branch at every
 * (e − 1 − T) mod 2T = 0, `initial_lr` set once per optimizer, state round trips and the errors' wording.
 */

/** an SGD over one parameter per lr given (one group each), and a way to free both */
function sgd(...lrs: number[]): { opt: SGD; free: () => void } {
  const params = lrs.map(() => Parameter.fromHost([1], [1], { backend: cpu }));
  const opt = new SGD(params.map((p, k) => ({ params: [p], lr: lrs[k]! })), { lr: lrs[0]! });
  return { opt, free: () => { opt.dispose(); for (const p of params) p.dispose(); } };
}

/** the first group's lr after each step, the lr set by hand before the steps listed in `setBefore` */
function stepped(scheduler: LRScheduler, steps: number, setBefore: Record<number, number> = {}): number[] {
  const lrs: number[] = [];
  for (let e = 1; e <= steps; e++) {
    if (setBefore[e] !== undefined) scheduler.optimizer.lr = setBefore[e]!;
    scheduler.step();
    lrs.push(scheduler.optimizer.lr);
  }
  return lrs;
}

describe('schedule functions at their edges', () => {
  it('cosineLr halfway is the middle of [minLr, baseLr]; linearRampup is 1 from L on and for L = 0; cosineRampdown is 0 for L = 0', () => {
    expect(cosineLr(50, { baseLr: 0.1, maxIterations: 100, minLr: 0.02 })).toBeCloseTo(0.06, 15);
    expect(cosineLr(25, { baseLr: 1, maxIterations: 100, minLr: 0.5 })).toBeCloseTo(0.5 + 0.5 * (1 + Math.SQRT1_2) / 2, 15);
    expect(linearRampup(15, 10)).toBe(1);
    expect(linearRampup(-1, 0)).toBe(1);
    expect(cosineRampdown(3, 0)).toBe(0);
    expect(cosineRampdown(0, 0)).toBe(0);
  });
});

describe("lr_scheduler's chainable forms (PyTorch's get_lr), alone and with an lr set by hand between steps", () => {
  it('CosineAnnealingLR alone follows ηmin + (base − ηmin)(1 + cos(πe/T))/2 through several periods: the step-up at e = T + 1, 3T + 1, 5T + 1', () => {
    const { opt, free } = sgd(1, 0.2);
    const cosine = new CosineAnnealingLR(opt, 2, { etaMin: 0.01 });
    const lrs: number[][] = [opt.paramGroups.map((g) => g.lr)];
    for (let e = 1; e <= 12; e++) { cosine.step(); lrs.push(opt.paramGroups.map((g) => g.lr)); }
    const closed = lrs.map((_, e) => [1, 0.2].map((base) => 0.01 + (base - 0.01) * (1 + Math.cos(Math.PI * e / 2)) / 2));
    expectClose(lrs.flat(), closed.flat(), 1e-14, 1e-12, 'cosine over three periods');
    free();
  });

  it("CosineAnnealingLR with an lr set by hand: the ratio form scales (lr − ηmin), the step-up adds the first step's amount of the base lr", () => {
    const { opt, free } = sgd(1);
    const cosine = new CosineAnnealingLR(opt, 4);
    // e = 2 from 0.5: (1 + cos(π/2))/(1 + cos(π/4))·0.5; e = 3: ·(1 + cos(3π/4))/(1 + cos(π/2)); e = 4: 0 (cos π = −1);
    // e = 5 = T + 1 from 0.2: 0.2 + (1 − 0)(1 − cos(π/4))/2
    const lrs = stepped(cosine, 5, { 2: 0.5, 5: 0.2 });
    const r = Math.SQRT1_2;
    expectClose(lrs, [(1 + r) / 2, 0.5 / (1 + r), 0.5 * (1 - r) / (1 + r), 0, 0.2 + (1 - r) / 2], 1e-15, 1e-13, 'cosine chained');
    expect(lrs[3]).toBe(0);
    free();
  });

  it('StepLR multiplies the current lr by γ at the non-zero multiples of stepSize only', () => {
    const { opt, free } = sgd(1);
    const lrs = stepped(new StepLR(opt, 3, { gamma: 0.5 }), 7, { 3: 0.4, 5: 0.9 });
    expectClose(lrs, [1, 1, 0.2, 0.2, 0.9, 0.45, 0.45], 1e-16, 1e-15, 'StepLR chained');
    free();
  });

  it('PolynomialLR: lr · ((1 − e/T)/(1 − (e − 1)/T))^power up to T, then the lr unchanged, also one set by hand', () => {
    const { opt, free } = sgd(1);
    const poly = new PolynomialLR(opt, { totalIters: 4, power: 2 });
    expect(opt.lr).toBe(1);
    const lrs = stepped(poly, 7, { 3: 0.8, 5: 0.3, 7: 0.6 });
    // alone (1 − e/4)²: 0.5625, 0.25; from 0.8 at e = 3: 0.8·(0.25/0.5)² = 0.2; then 0 at e = T; past T unchanged
    expectClose(lrs, [0.5625, 0.25, 0.2, 0, 0.3, 0.3, 0.6], 1e-16, 1e-14, 'PolynomialLR chained');
    free();
  });

  it('LinearLR: lr · startFactor at construction, lr · (1 + (end − start)/(T·start + (e − 1)(end − start))) up to T, then unchanged', () => {
    const warm = sgd(1);
    const up = new LinearLR(warm.opt, { startFactor: 0.5, totalIters: 2 });
    const lrs = [warm.opt.lr, ...stepped(up, 3, { 2: 0.3, 3: 0.7 })];
    // e = 1: 0.5·(1 + 0.5/1); from 0.3 at e = 2: 0.3·(1 + 0.5/1.5); past T the hand-set 0.7 stays
    expectClose(lrs, [0.5, 0.75, 0.4, 0.7], 1e-16, 1e-15, 'LinearLR warm-up chained');
    warm.free();
    // PyTorch's defaults: startFactor 1/3, endFactor 1, totalIters 5
    const defaults = sgd(0.3, 0.06);
    const linear = new LinearLR(defaults.opt);
    const trace = [defaults.opt.paramGroups.map((g) => g.lr)];
    for (let e = 1; e <= 6; e++) { linear.step(); trace.push(defaults.opt.paramGroups.map((g) => g.lr)); }
    const closed = trace.map((_, e) => [0.3, 0.06].map((base) => base * (1 / 3 + (2 / 3) * Math.min(e, 5) / 5)));
    expectClose(trace.flat(), closed.flat(), 1e-16, 1e-14, 'LinearLR defaults');
    defaults.free();
    // a decay to endFactor 0: the lr reaches 0 at T and stays there
    const decay = sgd(1);
    const toZero = new LinearLR(decay.opt, { startFactor: 1, endFactor: 0, totalIters: 2 });
    expect([decay.opt.lr, ...stepped(toZero, 3)]).toEqual([1, 0.5, 0, 0]);
    decay.free();
  });

  it('LambdaLR sets base_lr · λ(e) whatever the lr was (not chained)', () => {
    const { opt, free } = sgd(0.1, 0.02);
    const lambda = new LambdaLR(opt, (e) => 1 / (e + 1));
    opt.lr = 5;
    lambda.step();
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.1 / 2, 0.02 / 2]);
    expect(lambda.getLastLr()).toEqual([0.1 / 2, 0.02 / 2]);
    free();
  });
});

describe("initial_lr: set by the first scheduler made on an optimizer (PyTorch's setdefault), the base lr of every later one", () => {
  it('a second scheduler takes the first one\'s base lrs, not the lrs of the moment; another optimizer has its own', () => {
    const { opt, free } = sgd(0.1, 0.02);
    const step = new StepLR(opt, 2);
    expect(opt.paramGroups.map((g) => g.initialLr)).toEqual([0.1, 0.02]);
    opt.paramGroups[0]!.lr = 0.5;
    opt.paramGroups[1]!.lr = 0.7;
    const lambda = new LambdaLR(opt, (e) => 2 + e);
    expect(lambda.baseLrs).toEqual([0.1, 0.02]);
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.2, 0.04]);
    expect(opt.paramGroups.map((g) => g.initialLr)).toEqual([0.1, 0.02]);
    expect(step.baseLrs).toEqual([0.1, 0.02]);

    const other = sgd(0.3);
    other.opt.lr = 0.03;
    const own = new StepLR(other.opt, 1);
    expect(own.baseLrs).toEqual([0.03]);
    expect(other.opt.paramGroups[0]!.initialLr).toBe(0.03);
    other.free();
    free();
  });
});

describe('stateDict/loadStateDict round trips', () => {
  it("a fresh scheduler's state (lastEpoch 0) loads; a state of lastEpoch alone keeps the base lrs and the last lrs", () => {
    const { opt, free } = sgd(0.1, 0.02);
    const a = new StepLR(opt, 2);
    const fresh = a.stateDict();
    expect(fresh).toEqual({ lastEpoch: 0, baseLrs: [0.1, 0.02], lastLr: [0.1, 0.02] });
    a.step();
    a.loadStateDict(fresh);
    expect(a.lastEpoch).toBe(0);
    a.step();
    a.step();
    expect(a.getLastLr()).toEqual([0.1 * 0.1, 0.02 * 0.1]);
    a.loadStateDict({ lastEpoch: 3 });
    expect(a.stateDict()).toEqual({ lastEpoch: 3, baseLrs: [0.1, 0.02], lastLr: [0.1 * 0.1, 0.02 * 0.1] });
    free();
  });

  it('the loaded last lrs are what getLastLr returns; the loaded base lrs become the groups\' initialLr and the base of the schedule', () => {
    const { opt, free } = sgd(1, 0.5);
    const lambda = new LambdaLR(opt, (e) => 1 / (e + 1));
    lambda.loadStateDict({ lastEpoch: 2, baseLrs: [0.6, 0.3], lastLr: [0.2, 0.1] });
    expect(lambda.getLastLr()).toEqual([0.2, 0.1]);
    // as PyTorch's, loading leaves the groups' lr alone
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([1, 0.5]);
    expect(opt.paramGroups.map((g) => g.initialLr)).toEqual([0.6, 0.3]);
    lambda.step();
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.6 / 4, 0.3 / 4]);
    // a scheduler made later on the same optimizer starts from the loaded base lrs
    const later = new StepLR(opt, 5);
    expect(later.baseLrs).toEqual([0.6, 0.3]);
    free();
  });

  it('bad states are refused by name: lastEpoch not an integer ≥ 0, lists of the wrong length or with a non-finite or non-number entry', () => {
    const { opt, free } = sgd(0.1, 0.02);
    const cosine = new CosineAnnealingLR(opt, 3);
    const name = 'CosineAnnealingLR.loadStateDict';
    expect(() => cosine.loadStateDict({ lastEpoch: 1.5 })).toThrow(`${name}: lastEpoch must be an integer ≥ -1, got 1.5`);
    expect(() => cosine.loadStateDict({ lastEpoch: Number.NaN })).toThrow(`${name}: lastEpoch must be an integer ≥ -1, got NaN`);
    expect(() => cosine.loadStateDict({ lastEpoch: 1, baseLrs: [0.1, Number.NaN] }))
      .toThrow(`${name}: baseLrs must be 2 finite numbers (one per parameter group), got [0.1,null]`);
    expect(() => cosine.loadStateDict({ lastEpoch: 1, lastLr: [Number.POSITIVE_INFINITY, 0.1] }))
      .toThrow(`${name}: lastLr must be 2 finite numbers (one per parameter group), got [null,0.1]`);
    expect(() => cosine.loadStateDict({ lastEpoch: 1, lastLr: ['0.1', 0.1] as unknown as number[] }))
      .toThrow(`${name}: lastLr must be 2 finite numbers (one per parameter group), got ["0.1",0.1]`);
    expect(() => cosine.loadStateDict({ lastEpoch: 1, lastLr: [0.1] })).toThrow(`${name}: lastLr must be 2 finite numbers (one per parameter group), got [0.1]`);
    expect(() => cosine.loadStateDict({ lastEpoch: 1, baseLrs: { 0: 0.1, 1: 0.2, length: 2 } as unknown as number[] }))
      .toThrow(`${name}: baseLrs must be 2 finite numbers (one per parameter group), got {"0":0.1,"1":0.2,"length":2}`);
    // a refused state changes nothing
    expect(cosine.stateDict()).toEqual({ lastEpoch: 0, baseLrs: [0.1, 0.02], lastLr: [0.1, 0.02] });
    free();
  });
});

describe("the schedulers' settings are checked, with PyTorch's ranges", () => {
  it('refuses by name what is out of range, and accepts the ends PyTorch accepts', () => {
    const { opt, free } = sgd(0.1);
    expect(() => new StepLR(opt, 1.5)).toThrow('StepLR: stepSize must be a positive integer, got 1.5');
    expect(() => new CosineAnnealingLR(opt, 0)).toThrow('CosineAnnealingLR: tMax must be a positive integer, got 0');
    expect(() => new PolynomialLR(opt, { totalIters: 0 })).toThrow('PolynomialLR: totalIters must be a positive integer, got 0');
    expect(() => new PolynomialLR(opt, { totalIters: 2.5 })).toThrow('PolynomialLR: totalIters must be a positive integer, got 2.5');
    expect(() => new LinearLR(opt, { startFactor: 0 })).toThrow('LinearLR: startFactor must be > 0, got 0');
    expect(() => new LinearLR(opt, { totalIters: 1.5 })).toThrow('LinearLR: totalIters must be a positive integer, got 1.5');
    expect(() => new LinearLR(opt, { endFactor: -0.5 })).toThrow('LinearLR: startFactor must be in (0, 1] and endFactor in [0, 1], got 0.3333333333333333 and -0.5');
    expect(() => new LinearLR(opt, { endFactor: 1.5 })).toThrow('LinearLR: startFactor must be in (0, 1] and endFactor in [0, 1], got 0.3333333333333333 and 1.5');
    // the ends of the ranges: startFactor 1 and endFactor 0 are PyTorch's allowed bounds
    const ends = new LinearLR(opt, { startFactor: 1, endFactor: 0, totalIters: 1 });
    expect(ends.getLastLr()).toEqual([0.1]);
    free();
  });
});
