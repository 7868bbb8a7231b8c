import type { AdamDeviceSteps, AdamItem, AdamParams, RmspropItem, RmspropParams, SgdItem, SgdParams, Storage } from '../backend.js';
import { checkFoundInf } from '../amp/checks.js';
import { cpuData } from '../cpu/storage.js';
import { oneMinusPower } from './bias-correction.js';
import { checkDeviceSteps, checkRmspropItems, checkStepCounts } from './checks.js';

/** PyTorch's SGD order: weight decay into the gradient, momentum buffer, (nesterov), parameter update. */
export function sgdStep(param: Storage, grad: Storage, momentumBuffer: Storage | null, p: SgdParams): void {
  const w = cpuData(param), g = cpuData(grad), buf = momentumBuffer ? cpuData(momentumBuffer) : null;
  for (let i = 0; i < w.length; i++) {
    let d = g[i] + p.weightDecay * w[i];
    if (buf && p.momentum !== 0) {
      buf[i] = p.firstStep ? d : p.momentum * buf[i] + (1 - p.dampening) * d;
      d = p.nesterov ? d + p.momentum * buf[i] : buf[i];
    }
    w[i] -= p.lr * d;
  }
}

/** with a found-inf flag that is set, nothing changes (PyTorch's fused optimizers' found_inf) */
export function sgdSteps(items: readonly SgdItem[], p: Omit<SgdParams, 'firstStep'>, foundInf?: Storage | null): void {
  if (foundInf) {
    checkFoundInf('cpu sgdSteps', foundInf);
    if (cpuData(foundInf)[0] !== 0) return;
  }
  for (const it of items) sgdStep(it.param, it.grad, it.momentumBuffer, { ...p, firstStep: it.firstStep });
}

/** one parameter's update; with maxExpAvgSq (amsgrad), PyTorch's max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq) divides instead of exp_avg_sq */
function adamUpdate(it: AdamItem, p: AdamParams, c1: number, c2: number): void {
  const w = cpuData(it.param), g = cpuData(it.grad), M = cpuData(it.expAvg), V = cpuData(it.expAvgSq);
  const maxV = it.maxExpAvgSq ? cpuData(it.maxExpAvgSq) : null;
  for (let i = 0; i < w.length; i++) {
    let d = g[i];
    if (p.decoupled) w[i] *= 1 - p.lr * p.weightDecay;
    else d += p.weightDecay * w[i];
    M[i] = p.beta1 * M[i] + (1 - p.beta1) * d;
    V[i] = p.beta2 * V[i] + (1 - p.beta2) * d * d;
    const second = maxV ? (maxV[i] = Math.max(maxV[i], V[i])) : V[i];
    w[i] -= (p.lr / c1) * M[i] / (Math.sqrt(second / c2) + p.eps);
  }
}

/**
 * PyTorch's Adam / AdamW, the bias corrections 1 − β₁ᵗ, 1 − β₂ᵗ in float64; with `deviceSteps`: each item's step count
 * read from its counts (+ 1), the bias corrections as the kernel's (bias-correction.ts), and nothing written when the
 * flag is set
 */
export function adamSteps(items: readonly AdamItem[], p: AdamParams, deviceSteps?: AdamDeviceSteps | null): void {
  if (!deviceSteps) {
    for (const it of items) adamUpdate(it, p, 1 - Math.pow(p.beta1, it.step), 1 - Math.pow(p.beta2, it.step));
    return;
  }
  checkDeviceSteps('cpu adamSteps', items, deviceSteps);
  if (cpuData(deviceSteps.foundInf)[0] !== 0) return;
  const counts = cpuData(deviceSteps.counts);
  for (const it of items) {
    const t = counts[it.step]! + 1;
    adamUpdate(it, p, oneMinusPower(p.beta1, t), oneMinusPower(p.beta2, t));
  }
}

/** PyTorch's RMSprop order (RmspropParams): weight decay, square_avg, (grad_avg), the denominator, (momentum), parameter */
export function rmspropSteps(items: readonly RmspropItem[], p: RmspropParams, foundInf?: Storage | null): void {
  checkRmspropItems('cpu rmspropSteps', items, p, foundInf);
  if (foundInf && cpuData(foundInf)[0] !== 0) return;
  for (const it of items) {
    const w = cpuData(it.param), g = cpuData(it.grad), v = cpuData(it.squareAvg);
    const avg = it.gradAvg ? cpuData(it.gradAvg) : null, buf = it.momentumBuffer ? cpuData(it.momentumBuffer) : null;
    for (let i = 0; i < w.length; i++) {
      const d = p.weightDecay !== 0 ? g[i] + p.weightDecay * w[i] : g[i];
      v[i] = p.alpha * v[i] + (1 - p.alpha) * d * d;
      let denom: number;
      if (avg) {
        avg[i] = p.alpha * avg[i] + (1 - p.alpha) * d;
        denom = Math.sqrt(v[i] - avg[i] * avg[i]) + p.eps;
      } else denom = Math.sqrt(v[i]) + p.eps;
      if (buf) {
        buf[i] = p.momentum * buf[i] + d / denom;
        w[i] -= p.lr * buf[i];
      } else w[i] -= p.lr * (d / denom);
    }
  }
}

export function advanceStepCounts(counts: Storage, stepped: Storage | null, foundInf?: Storage | null): void {
  const indices = stepped ? cpuData(stepped) : null;
  checkStepCounts('cpu advanceStepCounts', counts, stepped, foundInf, indices ?? undefined);
  const c = cpuData(counts), increment = 1 - (foundInf ? cpuData(foundInf)[0]! : 0);
  if (indices) for (const i of indices) c[i] += increment;
  else for (let i = 0; i < c.length; i++) c[i] += increment;
}
