/**
 * Learning-rate schedules and ramp-up weights (la-protocol §4). Each is a pure function of the iteration; a
 * training loop sets `optimizer.lr = stepLr(iteration)` before the step.
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
