import type { Optimizer } from './optim.js';

/**
 * Learning-rate schedules and ramp-up weights (la-protocol §4). Each is a pure function of the iteration; a
 * training loop sets `optimizer.lr = stepLr(iteration)` before the step. PyTorch's `lr_scheduler` classes
 * (`StepLR`, `CosineAnnealingLR`, …, `scheduler.step()` after `optimizer.step()`) are at the end.
 */

export interface StepLrOptions {
  baseLr?: number;
  /** multiply by gamma every stepSize iterations */
  gamma?: number;
  stepSize?: number;
}

/** lr = baseLr · gamma^⌊iteration / stepSize⌋ (LA default: 0.01 · 0.1^⌊it / 2500⌋). */
export function stepLr(iteration: number, options: StepLrOptions = {}): number {
  const { baseLr = 0.01, gamma = 0.1, stepSize = 2500 } = options;
  return baseLr * gamma ** Math.floor(Math.max(0, iteration) / stepSize);
}

export interface PolyLrOptions {
  baseLr: number;
  maxIterations: number;
  /** the exponent (nnU-Net: 0.9) */
  power?: number;
}

/** lr = baseLr · (1 − iteration / maxIterations)^power, 0 from maxIterations on. */
export function polyLr(iteration: number, options: PolyLrOptions): number {
  const t = Math.min(Math.max(iteration / options.maxIterations, 0), 1);
  return options.baseLr * (1 - t) ** (options.power ?? 0.9);
}

export interface CosineLrOptions {
  baseLr: number;
  maxIterations: number;
  minLr?: number;
}

/** lr = minLr + (baseLr − minLr) · (1 + cos(π · iteration / maxIterations)) / 2 (SGDR without restarts). */
export function cosineLr(iteration: number, options: CosineLrOptions): number {
  const t = Math.min(Math.max(iteration / options.maxIterations, 0), 1);
  const lo = options.minLr ?? 0;
  return lo + (options.baseLr - lo) * (1 + Math.cos(Math.PI * t)) / 2;
}

/** exp(−5 (1 − clip(t, 0, L)/L)²); 1 when L = 0 (UA-MT / DTC's sigmoid_rampup). */
export function sigmoidRampup(t: number, length: number): number {
  if (length === 0) return 1;
  const phase = 1 - Math.min(Math.max(t, 0), length) / length;
  return Math.exp(-5 * phase * phase);
}

/** clip(t, 0, L)/L; 1 when L = 0 or t ≥ L (UA-MT's linear_rampup). */
export function linearRampup(t: number, length: number): number {
  if (length === 0 || t >= length) return 1;
  return Math.max(t, 0) / length;
}

/** 0.5 (cos(π t/L) + 1) for t in [0, L] (UA-MT's cosine_rampdown). */
export function cosineRampdown(t: number, length: number): number {
  if (length === 0) return 0;
  const c = Math.min(Math.max(t, 0), length);
  return 0.5 * (Math.cos(Math.PI * c / length) + 1);
}

export interface ConsistencyWeightOptions {
  /** the final weight (UA-MT / DTC: 0.1) */
  weight?: number;
  /** ramp-up length in epochs of `every` iterations (40) */
  rampup?: number;
  /** iterations per ramp-up epoch (150) */
  every?: number;
}

/** weight · sigmoidRampup(⌊iteration / every⌋, rampup): the consistency weight of UA-MT / DTC. */
export function consistencyWeight(iteration: number, options: ConsistencyWeightOptions = {}): number {
  const { weight = 0.1, rampup = 40, every = 150 } = options;
  return weight * sigmoidRampup(Math.floor(iteration / every), rampup);
}

// ----------------------------------------------------------------------------- PyTorch's lr_scheduler classes

/** What `LRScheduler.stateDict()` holds: the epoch count (the schedule's settings are its constructor's). */
export interface LRSchedulerState { lastEpoch: number }

/**
 * torch.optim.lr_scheduler.LRScheduler: sets each parameter group's lr from its initial lr (`initialLr`) and the
 * epoch count, which starts at 0 (the constructor applies epoch 0's lr, as PyTorch) and which `step()` advances;
 * call it after `optimizer.step()`. Every subclass is PyTorch's closed form.
 */
export abstract class LRScheduler {
  /** the epoch (or iteration) count: 0 after construction, +1 per step() */
  lastEpoch = 0;
  private lastLr: number[] = [];

  /** a subclass's constructor ends with `this.apply()`, once its settings are set */
  constructor(readonly optimizer: Optimizer) {}

  /** the lr of a group whose initial lr is `initialLr` at `epoch` */
  protected abstract lrAt(epoch: number, initialLr: number, group: number): number;

  protected apply(): void {
    this.lastLr = this.optimizer.paramGroups.map((g, k) => (g.lr = this.lrAt(this.lastEpoch, g.initialLr, k)));
  }

  /** advances the epoch count by one and sets every group's lr */
  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  /** each group's lr as last set by the scheduler (get_last_lr) */
  getLastLr(): number[] { return [...this.lastLr]; }

  stateDict(): LRSchedulerState { return { lastEpoch: this.lastEpoch }; }

  /** resumes at the saved epoch count and sets every group's lr for it */
  loadStateDict(state: LRSchedulerState): void {
    if (!Number.isInteger(state.lastEpoch) || state.lastEpoch < 0) {
      throw new Error(`${this.constructor.name}.loadStateDict: lastEpoch must be an integer ≥ 0, got ${state.lastEpoch}`);
    }
    this.lastEpoch = state.lastEpoch;
    this.apply();
  }
}

function checkPositive(owner: string, name: string, value: number, integer: boolean): void {
  if (!(value > 0) || (integer && !Number.isInteger(value))) {
    throw new Error(`${owner}: ${name} must be ${integer ? 'a positive integer' : '> 0'}, got ${value}`);
  }
}

/** LambdaLR: lr = initialLr · lrLambda(epoch), one function for all groups or one per group. */
export class LambdaLR extends LRScheduler {
  private readonly lambdas: readonly ((epoch: number) => number)[];

  constructor(optimizer: Optimizer, lrLambda: ((epoch: number) => number) | readonly ((epoch: number) => number)[]) {
    super(optimizer);
    const groups = optimizer.paramGroups.length;
    this.lambdas = typeof lrLambda === 'function' ? optimizer.paramGroups.map(() => lrLambda) : [...lrLambda];
    if (this.lambdas.length !== groups) throw new Error(`LambdaLR: ${this.lambdas.length} lrLambda functions for ${groups} parameter groups`);
    this.apply();
  }

  protected lrAt(epoch: number, initialLr: number, group: number): number { return initialLr * this.lambdas[group]!(epoch); }
}

/** StepLR: lr = initialLr · gamma^⌊epoch / stepSize⌋ (gamma default 0.1). */
export class StepLR extends LRScheduler {
  readonly gamma: number;

  constructor(optimizer: Optimizer, readonly stepSize: number, options: { gamma?: number } = {}) {
    super(optimizer);
    checkPositive('StepLR', 'stepSize', stepSize, true);
    this.gamma = options.gamma ?? 0.1;
    this.apply();
  }

  protected lrAt(epoch: number, initialLr: number): number { return stepLr(epoch, { baseLr: initialLr, gamma: this.gamma, stepSize: this.stepSize }); }
}

/**
 * CosineAnnealingLR: lr = etaMin + (initialLr − etaMin)·(1 + cos(π·epoch/tMax))/2 (etaMin default 0); past tMax
 * the cosine goes on, as PyTorch's.
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly etaMin: number;

  constructor(optimizer: Optimizer, readonly tMax: number, options: { etaMin?: number } = {}) {
    super(optimizer);
    checkPositive('CosineAnnealingLR', 'tMax', tMax, true);
    this.etaMin = options.etaMin ?? 0;
    this.apply();
  }

  protected lrAt(epoch: number, initialLr: number): number {
    return this.etaMin + (initialLr - this.etaMin) * (1 + Math.cos(Math.PI * epoch / this.tMax)) / 2;
  }
}

/** PolynomialLR: lr = initialLr · (1 − min(epoch, totalIters)/totalIters)^power (defaults 5 and 1, as PyTorch; nnU-Net: power 0.9). */
export class PolynomialLR extends LRScheduler {
  readonly totalIters: number;
  readonly power: number;

  constructor(optimizer: Optimizer, options: { totalIters?: number; power?: number } = {}) {
    super(optimizer);
    this.totalIters = options.totalIters ?? 5;
    this.power = options.power ?? 1;
    checkPositive('PolynomialLR', 'totalIters', this.totalIters, true);
    this.apply();
  }

  protected lrAt(epoch: number, initialLr: number): number {
    return polyLr(epoch, { baseLr: initialLr, maxIterations: this.totalIters, power: this.power });
  }
}

/**
 * LinearLR (a warm-up): lr = initialLr · (startFactor + (endFactor − startFactor)·min(epoch, totalIters)/totalIters)
 * (defaults 1/3, 1 and 5, as PyTorch).
 */
export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;

  constructor(optimizer: Optimizer, options: { startFactor?: number; endFactor?: number; totalIters?: number } = {}) {
    super(optimizer);
    this.startFactor = options.startFactor ?? 1 / 3;
    this.endFactor = options.endFactor ?? 1;
    this.totalIters = options.totalIters ?? 5;
    checkPositive('LinearLR', 'startFactor', this.startFactor, false);
    checkPositive('LinearLR', 'totalIters', this.totalIters, true);
    if (!(this.startFactor <= 1 && this.endFactor >= 0 && this.endFactor <= 1)) {
      throw new Error(`LinearLR: startFactor must be in (0, 1] and endFactor in [0, 1], got ${this.startFactor} and ${this.endFactor}`);
    }
    this.apply();
  }

  protected lrAt(epoch: number, initialLr: number): number {
    return initialLr * (this.startFactor + (this.endFactor - this.startFactor) * Math.min(epoch, this.totalIters) / this.totalIters);
  }
}
