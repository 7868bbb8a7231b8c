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

/** What `LRScheduler.stateDict()` holds, as PyTorch's: the epoch count, each group's base lr and its last lr. */
export interface LRSchedulerState { lastEpoch: number; baseLrs?: number[]; lastLr?: number[] }

/** optimizers whose groups' initialLr a scheduler has set (PyTorch's `group.setdefault('initial_lr', lr)`) */
const scheduledOptimizers = new WeakSet<Optimizer>();

/** the method SequentialLR restarts a scheduler with at a milestone (PyTorch's private `_update_lr(0)`) */
const restartAtZero = Symbol('restartAtZero');

/** loadStateDict's two halves, which a SequentialLR or ChainedScheduler runs on each of its schedulers: check all, then load all */
const checkState = Symbol('checkState');
const applyState = Symbol('applyState');

/**
 * torch.optim.lr_scheduler.LRScheduler. The first scheduler made on an optimizer sets each group's `initialLr` to
 * its lr at that moment, and every scheduler on it takes those as its `baseLrs`. `step()` (after
 * `optimizer.step()`) advances the epoch count and sets each group's lr by PyTorch's chainable form, from the
 * group's current lr: schedulers stepped one after another combine (a warm-up, then a decay), and an lr set by
 * hand between steps is carried on, as in PyTorch. The constructor applies epoch 0's lr (PyTorch's initial step).
 */
export abstract class LRScheduler {
  /** the epoch (or iteration) count: 0 after construction, +1 per step() */
  lastEpoch = 0;
  /** each group's lr when the first scheduler was made on the optimizer (PyTorch's base_lrs) */
  baseLrs: number[];
  protected lastLr: number[] = [];

  /** a subclass's constructor ends with `this.applyLr()`, once its settings are set */
  constructor(readonly optimizer: Optimizer) {
    if (!scheduledOptimizers.has(optimizer)) {
      for (const g of optimizer.paramGroups) g.initialLr = g.lr;
      scheduledOptimizers.add(optimizer);
    }
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr);
  }

  /** group k's lr at `epoch` from its current lr (PyTorch's get_lr); epoch 0 is the constructor's */
  protected abstract chainedLr(epoch: number, lr: number, group: number): number;

  protected applyLr(): void {
    this.lastLr = this.optimizer.paramGroups.map((g, k) => (g.lr = this.chainedLr(this.lastEpoch, g.lr, k)));
  }

  /** advances the epoch count by one and sets every group's lr */
  step(): void {
    this.lastEpoch++;
    this.applyLr();
  }

  /**
   * Epoch 0's lr from the base lrs, whatever the groups' lr: PyTorch's step(0), the closed form at epoch 0 (for every
   * schedule here the chainable form at epoch 0 applied to the base lr; MultiplicativeLR, which has none, overrides it).
   */
  [restartAtZero](): void {
    this.lastEpoch = 0;
    this.lastLr = this.optimizer.paramGroups.map((g, k) => (g.lr = this.chainedLr(0, this.baseLrs[k]!, k)));
  }

  /** each group's lr as last set by the scheduler (get_last_lr) */
  getLastLr(): number[] { return [...this.lastLr]; }

  stateDict(): LRSchedulerState { return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs], lastLr: [...this.lastLr] }; }

  /**
   * Resumes at the saved epoch count with the saved base lrs (also the groups' initialLr). As PyTorch's, it leaves
   * the groups' lr alone: the optimizer's state dict holds them. The whole state is checked first (a SequentialLR's
   * or ChainedScheduler's with every scheduler's): a refused one changes nothing.
   */
  loadStateDict(state: LRSchedulerState): void {
    this[checkState](state);
    this[applyState](state);
  }

  /** the schedulers whose states this one's holds (SequentialLR's, ChainedScheduler's) */
  protected heldSchedulers(): readonly LRScheduler[] { return []; }

  /** throws when `state` cannot be loaded (the held schedulers' states too), changing nothing */
  [checkState](state: LRSchedulerState): void {
    const name = `${this.constructor.name}.loadStateDict`, groups = this.optimizer.paramGroups.length;
    // −1: a SequentialLR's scheduler before its milestone (its initial step taken back)
    if (!Number.isInteger(state.lastEpoch) || state.lastEpoch < -1) throw new Error(`${name}: lastEpoch must be an integer ≥ -1, got ${state.lastEpoch}`);
    for (const key of ['baseLrs', 'lastLr'] as const) {
      const v = state[key];
      if (v !== undefined && (!Array.isArray(v) || v.length !== groups || !v.every((x) => typeof x === 'number' && Number.isFinite(x)))) {
        throw new Error(`${name}: ${key} must be ${groups} finite numbers (one per parameter group), got ${JSON.stringify(v)}`);
      }
    }
    const held = this.heldSchedulers();
    if (held.length === 0) return;
    const { schedulers: states } = state as Partial<{ schedulers: LRSchedulerState[] }>;
    if (!Array.isArray(states) || states.length !== held.length) {
      throw new Error(`${name}: schedulers must be ${held.length} scheduler states, got ${JSON.stringify(states)}`);
    }
    held.forEach((s, i) => s[checkState](states[i]!));
  }

  /** loads a checked state */
  [applyState](state: LRSchedulerState): void {
    this.lastEpoch = state.lastEpoch;
    if (state.baseLrs) {
      this.baseLrs = [...state.baseLrs];
      this.optimizer.paramGroups.forEach((g, k) => { g.initialLr = this.baseLrs[k]!; });
    }
    if (state.lastLr) this.lastLr = [...state.lastLr];
    const states = (state as Partial<{ schedulers: LRSchedulerState[] }>).schedulers;
    this.heldSchedulers().forEach((s, i) => s[applyState](states![i]!));
  }
}

function checkPositive(owner: string, name: string, value: number, integer: boolean): void {
  if (!(value > 0) || (integer && !Number.isInteger(value))) {
    throw new Error(`${owner}: ${name} must be ${integer ? 'a positive integer' : '> 0'}, got ${value}`);
  }
}

type LrLambda = (epoch: number) => number;

/** one function per group: the one given for all, or the list checked against the groups */
function lambdasPerGroup(owner: string, optimizer: Optimizer, lrLambda: LrLambda | readonly LrLambda[]): LrLambda[] {
  const groups = optimizer.paramGroups.length;
  const lambdas = typeof lrLambda === 'function' ? optimizer.paramGroups.map(() => lrLambda) : [...lrLambda];
  if (lambdas.length !== groups) throw new Error(`${owner}: ${lambdas.length} lrLambda functions for ${groups} parameter groups`);
  return lambdas;
}

/** LambdaLR: lr = baseLr · lrLambda(epoch), one function for all groups or one per group (not chained, as PyTorch's). */
export class LambdaLR extends LRScheduler {
  private readonly lambdas: readonly LrLambda[];

  constructor(optimizer: Optimizer, lrLambda: LrLambda | readonly LrLambda[]) {
    super(optimizer);
    this.lambdas = lambdasPerGroup('LambdaLR', optimizer, lrLambda);
    this.applyLr();
  }

  protected chainedLr(epoch: number, _lr: number, group: number): number { return this.baseLrs[group]! * this.lambdas[group]!(epoch); }
}

/**
 * MultiplicativeLR: lr · lrLambda(epoch) at every step from epoch 1 (one function for all groups or one per group).
 * It has no closed form: restarted by SequentialLR at a milestone it multiplies the current lr by lrLambda(0), as
 * PyTorch's `_update_lr(0)` does.
 */
export class MultiplicativeLR extends LRScheduler {
  private readonly lambdas: readonly LrLambda[];

  constructor(optimizer: Optimizer, lrLambda: LrLambda | readonly LrLambda[]) {
    super(optimizer);
    this.lambdas = lambdasPerGroup('MultiplicativeLR', optimizer, lrLambda);
    this.applyLr();
  }

  protected chainedLr(epoch: number, lr: number, group: number): number { return epoch === 0 ? lr : lr * this.lambdas[group]!(epoch); }

  override [restartAtZero](): void {
    this.lastEpoch = 0;
    this.lastLr = this.optimizer.paramGroups.map((g, k) => (g.lr = g.lr * this.lambdas[k]!(0)));
  }
}

/** StepLR: lr · gamma at every stepSize-th epoch (gamma default 0.1); alone: baseLr · gamma^⌊epoch / stepSize⌋. */
export class StepLR extends LRScheduler {
  readonly gamma: number;

  constructor(optimizer: Optimizer, readonly stepSize: number, options: { gamma?: number } = {}) {
    super(optimizer);
    checkPositive('StepLR', 'stepSize', stepSize, true);
    this.gamma = options.gamma ?? 0.1;
    this.applyLr();
  }

  protected chainedLr(epoch: number, lr: number): number { return epoch === 0 || epoch % this.stepSize !== 0 ? lr : lr * this.gamma; }
}

/**
 * MultiStepLR: lr · gamma at each milestone epoch, gamma^k at one given k times (gamma default 0.1, as PyTorch's
 * Counter of them); alone: baseLr · gamma^(the number of milestones ≤ epoch).
 */
export class MultiStepLR extends LRScheduler {
  readonly gamma: number;
  readonly milestones: readonly number[];
  /** how many times each milestone was given */
  private readonly counts = new Map<number, number>();

  constructor(optimizer: Optimizer, milestones: readonly number[], options: { gamma?: number } = {}) {
    super(optimizer);
    if (!milestones.every((m) => Number.isInteger(m) && m >= 0)) {
      throw new Error(`MultiStepLR: milestones must be integers ≥ 0, got [${milestones.join(', ')}]`);
    }
    this.milestones = [...milestones].sort((a, b) => a - b);
    for (const m of this.milestones) this.counts.set(m, (this.counts.get(m) ?? 0) + 1);
    this.gamma = options.gamma ?? 0.1;
    this.applyLr();
  }

  protected chainedLr(epoch: number, lr: number): number { return lr * this.gamma ** (this.counts.get(epoch) ?? 0); }
}

/**
 * CosineAnnealingLR (etaMin default 0), PyTorch's recursive form; alone: etaMin + (baseLr − etaMin)·(1 +
 * cos(π·epoch/tMax))/2, going on along the cosine past tMax.
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly etaMin: number;

  constructor(optimizer: Optimizer, readonly tMax: number, options: { etaMin?: number } = {}) {
    super(optimizer);
    checkPositive('CosineAnnealingLR', 'tMax', tMax, true);
    this.etaMin = options.etaMin ?? 0;
    this.applyLr();
  }

  protected chainedLr(epoch: number, lr: number, group: number): number {
    const { etaMin, tMax } = this;
    if (epoch === 0) return lr;
    // at the cosine's minimum the ratio below would divide by 0: PyTorch steps up by the first step's amount
    if ((epoch - 1 - tMax) % (2 * tMax) === 0) return lr + (this.baseLrs[group]! - etaMin) * (1 - Math.cos(Math.PI / tMax)) / 2;
    return (1 + Math.cos(Math.PI * epoch / tMax)) / (1 + Math.cos(Math.PI * (epoch - 1) / tMax)) * (lr - etaMin) + etaMin;
  }
}

/**
 * CosineAnnealingWarmRestarts (SGDR): etaMin + (baseLr − etaMin)·(1 + cos(π·tCur/tI))/2, tCur counting the epochs
 * since the last restart; a cycle lasts t0 epochs, each next one tMult times longer (tMult 1 and etaMin 0 by default).
 * As PyTorch's get_lr, from the base lr (not chainable).
 */
export class CosineAnnealingWarmRestarts extends LRScheduler {
  readonly tMult: number;
  readonly etaMin: number;

  constructor(optimizer: Optimizer, readonly t0: number, options: { tMult?: number; etaMin?: number } = {}) {
    super(optimizer);
    checkPositive('CosineAnnealingWarmRestarts', 't0', t0, true);
    this.tMult = options.tMult ?? 1;
    checkPositive('CosineAnnealingWarmRestarts', 'tMult', this.tMult, true);
    this.etaMin = options.etaMin ?? 0;
    this.applyLr();
  }

  /** the epochs since the last restart and the current cycle's length (PyTorch's T_cur, T_i: T_cur −= T_i, T_i ·= T_mult at a restart) */
  cycleAt(epoch: number): { tCur: number; tI: number } {
    if (this.tMult === 1) return { tCur: epoch % this.t0, tI: this.t0 };
    let tCur = epoch, tI = this.t0;
    while (tCur >= tI) {
      tCur -= tI;
      tI *= this.tMult;
    }
    return { tCur, tI };
  }

  protected chainedLr(epoch: number, _lr: number, group: number): number {
    const { tCur, tI } = this.cycleAt(epoch);
    return this.etaMin + (this.baseLrs[group]! - this.etaMin) * (1 + Math.cos(Math.PI * tCur / tI)) / 2;
  }
}

export interface OneCycleLROptions {
  /** the steps of the cycle; or epochs · stepsPerEpoch */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** the fraction of the cycle spent raising the lr (0.3) */
  pctStart?: number;
  annealStrategy?: 'cos' | 'linear';
  /** momentum (SGD, RMSprop) or β₁ (Adam) cycled inversely to the lr, between these (true, 0.85, 0.95) */
  cycleMomentum?: boolean;
  baseMomentum?: number | readonly number[];
  maxMomentum?: number | readonly number[];
  /** the initial lr is maxLr / divFactor (25), the final one that / finalDivFactor (1e4) */
  divFactor?: number;
  finalDivFactor?: number;
  /** the paper's three phases (up, down to the initial lr, down to the final one) instead of fastai's two */
  threePhase?: boolean;
}

/** one value per group from a number or a per-group list (PyTorch's _format_param) */
function perGroup(owner: string, name: string, optimizer: Optimizer, value: number | readonly number[]): number[] {
  const groups = optimizer.paramGroups.length;
  if (typeof value === 'number') return optimizer.paramGroups.map(() => value);
  if (value.length !== groups) throw new Error(`${owner}: ${name} has ${value.length} values, the optimizer ${groups} parameter groups`);
  return [...value];
}

/** the momenta a cyclic schedule moves between, per group, once checked that the optimizer has momentum or betas */
function cycledMomenta(owner: string, optimizer: Optimizer, base: number | readonly number[], max: number | readonly number[]): { base: number; max: number }[] {
  if (!optimizer.paramGroups.every((g) => 'betas' in g || 'momentum' in g)) {
    throw new Error(`${owner}: the optimizer must have momentum or betas to cycle momentum (cycleMomentum: false otherwise)`);
  }
  const maxima = perGroup(owner, 'maxMomentum', optimizer, max);
  return perGroup(owner, 'baseMomentum', optimizer, base).map((b, k) => ({ base: b, max: maxima[k]! }));
}

/** a group's momentum ← m, or its β₁ for Adam (PyTorch's use_beta1) */
function setMomentum(optimizer: Optimizer, group: number, m: number): void {
  const g = optimizer.paramGroups[group] as unknown as { betas?: [number, number]; momentum?: number };
  if (g.betas) g.betas = [m, g.betas[1]];
  else g.momentum = m;
}

type Phase = { endStep: number; lr: ['initial' | 'max' | 'min', 'initial' | 'max' | 'min']; momentum: ['base' | 'max', 'base' | 'max'] };

/**
 * torch.optim.lr_scheduler.OneCycleLR (1cycle, stepped after every batch): the lr rises from maxLr/divFactor to maxLr
 * over pctStart of the steps, then anneals to the initial lr / finalDivFactor; momentum (or Adam's β₁) moves the other
 * way. Not chainable: each group's lr follows from the step count. It sets each group's initialLr to the initial lr
 * (and, cycling momentum, its momentum or β₁ to maxMomentum), as PyTorch's; stepping past totalSteps is an error.
 */
export class OneCycleLR extends LRScheduler {
  readonly totalSteps: number;
  readonly annealStrategy: 'cos' | 'linear';
  readonly cycleMomentum: boolean;
  private readonly phases: Phase[];
  private readonly lrs: { initial: number; max: number; min: number }[];
  /** per group, when cycling momentum */
  private readonly momenta: { base: number; max: number }[] | null;

  constructor(optimizer: Optimizer, maxLr: number | readonly number[], options: OneCycleLROptions = {}) {
    super(optimizer);
    const { epochs, stepsPerEpoch, pctStart = 0.3, divFactor = 25, finalDivFactor = 1e4 } = options;
    if (options.totalSteps !== undefined) {
      checkPositive('OneCycleLR', 'totalSteps', options.totalSteps, true);
      this.totalSteps = options.totalSteps;
    } else if (epochs !== undefined && stepsPerEpoch !== undefined) {
      checkPositive('OneCycleLR', 'epochs', epochs, true);
      checkPositive('OneCycleLR', 'stepsPerEpoch', stepsPerEpoch, true);
      this.totalSteps = epochs * stepsPerEpoch;
    } else throw new Error('OneCycleLR: give either totalSteps or epochs and stepsPerEpoch');
    if (!(pctStart >= 0 && pctStart <= 1)) throw new Error(`OneCycleLR: pctStart must be in [0, 1], got ${pctStart}`);
    this.annealStrategy = options.annealStrategy ?? 'cos';
    if (this.annealStrategy !== 'cos' && this.annealStrategy !== 'linear') throw new Error(`OneCycleLR: annealStrategy must be 'cos' or 'linear', got ${String(this.annealStrategy)}`);
    const T = this.totalSteps;
    this.phases = options.threePhase
      ? [{ endStep: pctStart * T - 1, lr: ['initial', 'max'], momentum: ['max', 'base'] },
        { endStep: 2 * pctStart * T - 2, lr: ['max', 'initial'], momentum: ['base', 'max'] },
        { endStep: T - 1, lr: ['initial', 'min'], momentum: ['max', 'max'] }]
      : [{ endStep: pctStart * T - 1, lr: ['initial', 'max'], momentum: ['max', 'base'] },
        { endStep: T - 1, lr: ['max', 'min'], momentum: ['base', 'max'] }];
    this.lrs = perGroup('OneCycleLR', 'maxLr', optimizer, maxLr).map((max) => ({ initial: max / divFactor, max, min: max / divFactor / finalDivFactor }));
    this.baseLrs = this.lrs.map((l) => l.initial);
    optimizer.paramGroups.forEach((g, k) => { g.initialLr = this.lrs[k]!.initial; });
    this.cycleMomentum = options.cycleMomentum ?? true;
    this.momenta = this.cycleMomentum ? cycledMomenta('OneCycleLR', optimizer, options.baseMomentum ?? 0.85, options.maxMomentum ?? 0.95) : null;
    this.applyLr();
  }

  private anneal(start: number, end: number, pct: number): number {
    return this.annealStrategy === 'cos' ? end + (start - end) / 2 * (Math.cos(Math.PI * pct) + 1) : (end - start) * pct + start;
  }

  /** the lr at `epoch` from the phase it falls in; cycling momentum, sets the group's momentum or β₁ too (as PyTorch's get_lr) */
  protected chainedLr(epoch: number, _lr: number, group: number): number {
    if (epoch > this.totalSteps) throw new Error(`OneCycleLR: tried to step ${epoch} times; the total number of steps is ${this.totalSteps}`);
    let startStep = 0;
    const last = this.phases.length - 1;
    const k = this.phases.findIndex((p, i) => epoch <= p.endStep || i === last);
    if (k > 0) startStep = this.phases[k - 1]!.endStep;
    const phase = this.phases[k]!, pct = (epoch - startStep) / (phase.endStep - startStep);
    const momenta = this.momenta?.[group];
    if (momenta) setMomentum(this.optimizer, group, this.anneal(momenta[phase.momentum[0]], momenta[phase.momentum[1]], pct));
    const lrs = this.lrs[group]!;
    return this.anneal(lrs[phase.lr[0]], lrs[phase.lr[1]], pct);
  }
}

export interface CyclicLROptions {
  /** the steps from baseLr up to maxLr (2000), and back down (as many) */
  stepSizeUp?: number;
  stepSizeDown?: number;
  /** triangular: the same cycle; triangular2: its height halved each cycle; exp_range: gamma^step */
  mode?: 'triangular' | 'triangular2' | 'exp_range';
  gamma?: number;
  /** a scaling policy in place of the mode's, of the cycle number or of the step count (scaleMode 'cycle' by default) */
  scaleFn?: (x: number) => number;
  scaleMode?: 'cycle' | 'iterations';
  /** momentum (SGD, RMSprop) or β₁ (Adam) cycled inversely to the lr, between these (true, 0.8, 0.9) */
  cycleMomentum?: boolean;
  baseMomentum?: number | readonly number[];
  maxMomentum?: number | readonly number[];
}

/**
 * torch.optim.lr_scheduler.CyclicLR (stepped after every batch): the lr climbs from baseLr to maxLr in stepSizeUp steps
 * and falls back in stepSizeDown, the cycle's height scaled by the mode's policy; momentum (or Adam's β₁) moves the
 * other way. Not chainable; it sets each group's lr to baseLr (and its initialLr too when it is the optimizer's first
 * scheduler), as PyTorch's.
 */
export class CyclicLR extends LRScheduler {
  readonly totalSize: number;
  readonly stepRatio: number;
  readonly scaleMode: 'cycle' | 'iterations';
  private readonly maxLrs: number[];
  private readonly scaleFn: (x: number) => number;
  /** per group, when cycling momentum */
  private readonly momenta: { base: number; max: number }[] | null;

  constructor(optimizer: Optimizer, baseLr: number | readonly number[], maxLr: number | readonly number[], options: CyclicLROptions = {}) {
    const first = !scheduledOptimizers.has(optimizer);
    const baseLrs = perGroup('CyclicLR', 'baseLr', optimizer, baseLr);
    optimizer.paramGroups.forEach((g, k) => { g.lr = baseLrs[k]!; });
    super(optimizer);
    if (!first) this.baseLrs = baseLrs;
    this.maxLrs = perGroup('CyclicLR', 'maxLr', optimizer, maxLr);
    const up = options.stepSizeUp ?? 2000, down = options.stepSizeDown ?? up;
    checkPositive('CyclicLR', 'stepSizeUp', up, true);
    checkPositive('CyclicLR', 'stepSizeDown', down, true);
    this.totalSize = up + down;
    this.stepRatio = up / this.totalSize;
    const mode = options.mode ?? 'triangular', gamma = options.gamma ?? 1;
    if (options.scaleFn) {
      this.scaleFn = options.scaleFn;
      this.scaleMode = options.scaleMode ?? 'cycle';
    } else if (mode === 'triangular' || mode === 'triangular2') {
      this.scaleFn = mode === 'triangular' ? () => 1 : (x) => 1 / 2 ** (x - 1);
      this.scaleMode = 'cycle';
    } else if (mode === 'exp_range') {
      this.scaleFn = (x) => gamma ** x;
      this.scaleMode = 'iterations';
    } else throw new Error(`CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range' (or give scaleFn), got ${String(mode)}`);
    this.momenta = (options.cycleMomentum ?? true) ? cycledMomenta('CyclicLR', optimizer, options.baseMomentum ?? 0.8, options.maxMomentum ?? 0.9) : null;
    this.applyLr();
  }

  /** the lr at `epoch`; cycling momentum, sets the group's momentum or β₁ too (as PyTorch's get_lr) */
  protected chainedLr(epoch: number, _lr: number, group: number): number {
    const cycle = Math.floor(1 + epoch / this.totalSize), x = 1 + epoch / this.totalSize - cycle;
    const scaleFactor = x <= this.stepRatio ? x / this.stepRatio : (x - 1) / (this.stepRatio - 1);
    const scale = this.scaleFn(this.scaleMode === 'cycle' ? cycle : epoch);
    const momenta = this.momenta?.[group];
    if (momenta) setMomentum(this.optimizer, group, momenta.max - (momenta.max - momenta.base) * scaleFactor * scale);
    return this.baseLrs[group]! + (this.maxLrs[group]! - this.baseLrs[group]!) * scaleFactor * scale;
  }
}

/** PolynomialLR (totalIters 5 and power 1 by default, as PyTorch; nnU-Net: power 0.9); alone: baseLr · (1 − min(epoch, totalIters)/totalIters)^power. */
export class PolynomialLR extends LRScheduler {
  readonly totalIters: number;
  readonly power: number;

  constructor(optimizer: Optimizer, options: { totalIters?: number; power?: number } = {}) {
    super(optimizer);
    this.totalIters = options.totalIters ?? 5;
    this.power = options.power ?? 1;
    checkPositive('PolynomialLR', 'totalIters', this.totalIters, true);
    this.applyLr();
  }

  protected chainedLr(epoch: number, lr: number): number {
    const T = this.totalIters;
    if (epoch === 0 || epoch > T) return lr;
    return lr * ((1 - epoch / T) / (1 - (epoch - 1) / T)) ** this.power;
  }
}

/**
 * LinearLR (a warm-up: startFactor 1/3, endFactor 1, totalIters 5 by default, as PyTorch); alone: baseLr ·
 * (startFactor + (endFactor − startFactor)·min(epoch, totalIters)/totalIters).
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
    this.applyLr();
  }

  protected chainedLr(epoch: number, lr: number): number {
    const { startFactor: s, endFactor: e, totalIters: T } = this;
    if (epoch === 0) return lr * s;
    if (epoch > T) return lr;
    return lr * (1 + (e - s) / (T * s + (epoch - 1) * (e - s)));
  }
}

/** ConstantLR: lr · factor from epoch 0 until totalIters, then the lr divided by it again (factor 1/3, totalIters 5 by default, as PyTorch). */
export class ConstantLR extends LRScheduler {
  readonly factor: number;
  readonly totalIters: number;

  constructor(optimizer: Optimizer, options: { factor?: number; totalIters?: number } = {}) {
    super(optimizer);
    this.factor = options.factor ?? 1 / 3;
    this.totalIters = options.totalIters ?? 5;
    // PyTorch accepts factor 0, which makes the lr 0·(1/0) = NaN at totalIters
    if (!(this.factor > 0 && this.factor <= 1)) throw new Error(`ConstantLR: factor must be in (0, 1], got ${this.factor}`);
    checkPositive('ConstantLR', 'totalIters', this.totalIters, true);
    this.applyLr();
  }

  protected chainedLr(epoch: number, lr: number): number {
    if (epoch === 0) return lr * this.factor;
    return epoch === this.totalIters ? lr * (1 / this.factor) : lr;
  }
}

/** ExponentialLR: lr · gamma every epoch; alone: baseLr · gamma^epoch. */
export class ExponentialLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly gamma: number) {
    super(optimizer);
    checkPositive('ExponentialLR', 'gamma', gamma, false);
    this.applyLr();
  }

  protected chainedLr(epoch: number, lr: number): number { return epoch === 0 ? lr : lr * this.gamma; }
}

/** SequentialLR's state: its own epoch count and last lrs, the milestones, and each scheduler's state (PyTorch's `_schedulers`). */
export interface SequentialLRState extends LRSchedulerState { milestones: number[]; schedulers: LRSchedulerState[] }

/**
 * torch.optim.lr_scheduler.SequentialLR: schedulers[i] runs from milestones[i − 1] on (a warm-up, then a decay). As
 * PyTorch's, the constructor sets every group's lr back to its initialLr, takes back the initial step of each
 * scheduler (their epoch counts go from 0 to −1) and makes the first scheduler's initial step again. `step()` advances the epoch count; at a milestone the next scheduler restarts at
 * its epoch 0 from the base lrs (PyTorch's `scheduler.step(0)`, the closed form: a cosine restarts at its base lr),
 * between milestones the current scheduler steps by its chainable form.
 */
export class SequentialLR extends LRScheduler {
  readonly schedulers: readonly LRScheduler[];
  readonly milestones: readonly number[];

  constructor(optimizer: Optimizer, schedulers: readonly LRScheduler[], milestones: readonly number[]) {
    super(optimizer);
    if (schedulers.length < 1) throw new Error('SequentialLR: expects at least one scheduler, got none');
    schedulers.forEach((s, i) => {
      if (!(s instanceof LRScheduler)) throw new Error(`SequentialLR: schedulers[${i}] is not an LRScheduler`);
      // PyTorch steps a nested one's schedulers out of their initial mode with its epoch count one ahead: not mirrored
      if (s instanceof SequentialLR) throw new Error(`SequentialLR: schedulers[${i}] is a SequentialLR; nesting them is not supported (give the inner one's schedulers and milestones to one SequentialLR)`);
      // PyTorch's fails at the milestone (ChainedScheduler has no get_lr for step(0))
      if (s instanceof ChainedScheduler) throw new Error(`SequentialLR: schedulers[${i}] is a ChainedScheduler, which cannot restart at a milestone`);
      if (s.optimizer !== optimizer) throw new Error(`SequentialLR: schedulers[${i}] (${s.constructor.name}) belongs to another optimizer; all must belong to the optimizer given`);
    });
    if (milestones.length !== schedulers.length - 1) {
      throw new Error(`SequentialLR: ${schedulers.length} schedulers need ${schedulers.length - 1} milestones, got ${milestones.length}`);
    }
    milestones.forEach((m, i) => {
      if (!Number.isInteger(m) || m < 1 || (i > 0 && m <= milestones[i - 1]!)) {
        throw new Error(`SequentialLR: milestones must be increasing integers ≥ 1, got [${milestones.join(', ')}]`);
      }
    });
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
    for (const g of optimizer.paramGroups) g.lr = g.initialLr;
    for (const s of this.schedulers) s.lastEpoch--;
    this.schedulers[0]!.step();
    this.lastLr = this.schedulers[0]!.getLastLr();
  }

  /** the scheduler in charge at `epoch`: the number of milestones ≤ epoch (PyTorch's bisect_right) */
  private schedulerAt(epoch: number): number { return this.milestones.filter((m) => m <= epoch).length; }

  override step(): void {
    this.lastEpoch++;
    const index = this.schedulerAt(this.lastEpoch), scheduler = this.schedulers[index]!;
    if (index > 0 && this.milestones[index - 1] === this.lastEpoch) scheduler[restartAtZero]();
    else scheduler.step();
    this.lastLr = scheduler.getLastLr();
  }

  /** never called: step() is its own, and a SequentialLR is not nested in another (PyTorch's get_lr raises NotImplementedError) */
  protected chainedLr(): number {
    throw new Error('SequentialLR: has no chainable form of its own');
  }

  override stateDict(): SequentialLRState {
    return { lastEpoch: this.lastEpoch, lastLr: this.getLastLr(), milestones: [...this.milestones], schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  protected override heldSchedulers(): readonly LRScheduler[] { return this.schedulers; }

  /** also checks that the state's milestones, when it has them, are this one's */
  override [checkState](state: LRSchedulerState): void {
    super[checkState](state);
    const { milestones } = state as Partial<SequentialLRState>;
    if (milestones !== undefined && (!Array.isArray(milestones) || milestones.join() !== this.milestones.join())) {
      throw new Error(`SequentialLR.loadStateDict: the state's milestones ${JSON.stringify(milestones)} are not this scheduler's [${this.milestones.join(', ')}]`);
    }
  }
}

/** ChainedScheduler's state: its step count and last lrs, and each scheduler's state. */
export interface ChainedSchedulerState extends LRSchedulerState { schedulers: LRSchedulerState[] }

/**
 * torch.optim.lr_scheduler.ChainedScheduler: `step()` steps every scheduler in turn, so that their chainable forms
 * multiply (a ConstantLR warm-up and an ExponentialLR decay at once). It takes no initial step of its own; the
 * optimizer defaults to the first scheduler's.
 */
export class ChainedScheduler extends LRScheduler {
  readonly schedulers: readonly LRScheduler[];

  constructor(schedulers: readonly LRScheduler[], optimizer: Optimizer | undefined = schedulers[0]?.optimizer) {
    if (!optimizer) throw new Error('ChainedScheduler: expects at least one scheduler, got none');
    super(optimizer);
    schedulers.forEach((s, i) => {
      if (!(s instanceof LRScheduler)) throw new Error(`ChainedScheduler: schedulers[${i}] is not an LRScheduler`);
      if (s.optimizer !== optimizer) throw new Error(`ChainedScheduler: schedulers[${i}] (${s.constructor.name}) belongs to another optimizer; all must belong to the optimizer given`);
    });
    this.schedulers = [...schedulers];
    this.lastLr = optimizer.paramGroups.map((g) => g.lr);
  }

  override step(): void {
    this.lastEpoch++;
    for (const s of this.schedulers) s.step();
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** never called: step() is its own, and SequentialLR refuses a ChainedScheduler */
  protected chainedLr(): number {
    throw new Error('ChainedScheduler: has no chainable form of its own');
  }

  override stateDict(): ChainedSchedulerState {
    return { lastEpoch: this.lastEpoch, lastLr: this.getLastLr(), schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  protected override heldSchedulers(): readonly LRScheduler[] { return this.schedulers; }
}

export interface ReduceLROnPlateauOptions {
  /** 'min': the metric should fall (a loss); 'max': rise (a Dice score) */
  mode?: 'min' | 'max';
  /** new lr = lr · factor (< 1; default 0.1) */
  factor?: number;
  /** epochs without improvement tolerated before the lr is reduced (10) */
  patience?: number;
  /** what counts as an improvement: by more than threshold (1e-4), relative to the best ('rel') or absolute ('abs') */
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  /** epochs after a reduction during which bad epochs are not counted (0) */
  cooldown?: number;
  /** a lower bound on the lr, for every group or one per group (0) */
  minLr?: number | readonly number[];
  /** a reduction smaller than this is not made (1e-8) */
  eps?: number;
}

/**
 * What ReduceLROnPlateau.stateDict() holds: its counters and the best metric (PyTorch's names in camelCase); `best`
 * null loads as none yet (JSON writes ±Infinity so).
 */
export interface ReduceLROnPlateauState { lastEpoch: number; best: number | null; numBadEpochs: number; cooldownCounter: number; lastLr: number[] }

/**
 * torch.optim.lr_scheduler.ReduceLROnPlateau: `step(metric)` once per validation; when the metric has not improved
 * for more than `patience` epochs, every group's lr becomes max(lr · factor, minLr). As PyTorch's it is no
 * chainable scheduler (SequentialLR refuses it) and leaves the groups' initialLr alone.
 */
export class ReduceLROnPlateau {
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly minLrs: readonly number[];
  readonly eps: number;
  lastEpoch = 0;
  /** the best metric so far (±Infinity before the first) */
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;
  private lastLr: number[];

  constructor(readonly optimizer: Optimizer, options: ReduceLROnPlateauOptions = {}) {
    this.mode = options.mode ?? 'min';
    this.factor = options.factor ?? 0.1;
    this.patience = options.patience ?? 10;
    this.threshold = options.threshold ?? 1e-4;
    this.thresholdMode = options.thresholdMode ?? 'rel';
    this.cooldown = options.cooldown ?? 0;
    this.eps = options.eps ?? 1e-8;
    if (this.mode !== 'min' && this.mode !== 'max') throw new Error(`ReduceLROnPlateau: mode must be 'min' or 'max', got ${String(this.mode)}`);
    if (this.thresholdMode !== 'rel' && this.thresholdMode !== 'abs') throw new Error(`ReduceLROnPlateau: thresholdMode must be 'rel' or 'abs', got ${String(this.thresholdMode)}`);
    if (!(this.factor < 1)) throw new Error(`ReduceLROnPlateau: factor must be < 1, got ${this.factor}`);
    const groups = optimizer.paramGroups.length, minLr = options.minLr ?? 0;
    if (typeof minLr !== 'number' && minLr.length !== groups) throw new Error(`ReduceLROnPlateau: ${minLr.length} minLr values for ${groups} parameter groups`);
    this.minLrs = typeof minLr === 'number' ? optimizer.paramGroups.map(() => minLr) : [...minLr];
    this.best = this.mode === 'min' ? Infinity : -Infinity;
    this.lastLr = optimizer.paramGroups.map((g) => g.lr);
  }

  /** whether `metric` improves on the best by more than the threshold (NaN never does) */
  private isBetter(metric: number): boolean {
    const { best, threshold } = this;
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? metric < best * (1 - threshold) : metric < best - threshold;
    return this.thresholdMode === 'rel' ? metric > best * (1 + threshold) : metric > best + threshold;
  }

  /** counts an epoch with this metric, and reduces every group's lr after more than `patience` bad epochs */
  step(metric: number): void {
    this.lastEpoch++;
    if (this.isBetter(metric)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else this.numBadEpochs++;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      this.optimizer.paramGroups.forEach((g, k) => {
        const lr = Math.max(g.lr * this.factor, this.minLrs[k]!);
        if (g.lr - lr > this.eps) g.lr = lr;
      });
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  getLastLr(): number[] { return [...this.lastLr]; }

  stateDict(): ReduceLROnPlateauState {
    const { lastEpoch, best, numBadEpochs, cooldownCounter } = this;
    return { lastEpoch, best, numBadEpochs, cooldownCounter, lastLr: this.getLastLr() };
  }

  /** Resumes the counters and the best metric (the groups' lr are the optimizer state's, as in PyTorch). */
  loadStateDict(state: ReduceLROnPlateauState): void {
    const count = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
    if (!count(state.lastEpoch) || !count(state.numBadEpochs) || !count(state.cooldownCounter) || (state.best !== null && typeof state.best !== 'number')
      || !Array.isArray(state.lastLr) || state.lastLr.length !== this.optimizer.paramGroups.length) {
      throw new Error(`ReduceLROnPlateau.loadStateDict: expected { lastEpoch, numBadEpochs, cooldownCounter } as integers ≥ 0, best as a number or null and one lastLr per group, got ${JSON.stringify(state)}`);
    }
    ({ lastEpoch: this.lastEpoch, numBadEpochs: this.numBadEpochs, cooldownCounter: this.cooldownCounter } = state);
    this.best = state.best ?? (this.mode === 'min' ? Infinity : -Infinity);
    this.lastLr = [...state.lastLr];
  }
}
