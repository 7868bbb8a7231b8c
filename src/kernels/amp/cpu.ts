import type { AmpScaleUpdate, Storage } from '../backend.js';
import { cpuData } from '../cpu/storage.js';
import { checkScaleUpdate, checkUnscale } from './checks.js';

/**
 * The loss scaler's oracles. The inverse scale is 1/scale rounded to float32 (PyTorch's reciprocal in float64,
 * then float32); a gradient counts as non-finite when its incoming (scaled) value is, as in PyTorch: a finite value
 * that the unscale overflows (a scale below 1) becomes ±Inf without setting the flag.
 */
export function ampNonFiniteCheckAndUnscale(grads: readonly Storage[], foundInf: Storage, scale: Storage): void {
  checkUnscale('cpu ampNonFiniteCheckAndUnscale', grads, foundInf, scale);
  const inverse = Math.fround(1 / cpuData(scale)[0]!), found = cpuData(foundInf);
  for (const grad of grads) {
    const g = cpuData(grad);
    for (let i = 0; i < g.length; i++) {
      if (!Number.isFinite(g[i])) found[0] = 1;
      g[i] = g[i]! * inverse;
    }
  }
}

/**
 * After a step: any flag set → scale × backoffFactor and the tracker 0; else the tracker + 1, and when it reaches
 * growthInterval the scale × growthFactor (kept if finite, as PyTorch) and the tracker 0. The factors are float32
 * (the products rounded to float32 once).
 */
export function ampUpdateScale(scale: Storage, growthTracker: Storage, foundInf: readonly Storage[], p: AmpScaleUpdate): void {
  checkScaleUpdate('cpu ampUpdateScale', scale, growthTracker, foundInf, p);
  const s = cpuData(scale), tracker = cpuData(growthTracker);
  if (foundInf.some((f) => cpuData(f)[0] !== 0)) {
    s[0] = s[0]! * Math.fround(p.backoffFactor);
    tracker[0] = 0;
  } else if (tracker[0]! + 1 >= p.growthInterval) {
    const grown = Math.fround(s[0]! * Math.fround(p.growthFactor));
    if (Number.isFinite(grown)) s[0] = grown;
    tracker[0] = 0;
  } else tracker[0] = tracker[0]! + 1;
}
