import type { AmpScaleUpdate, Storage } from '../backend.js';

/** a found-inf flag (PyTorch's found_inf): one float32, 0 or 1 (a gradient was NaN or Inf) */
export function checkFoundInf(what: string, foundInf: Storage): void {
  if (foundInf.dtype !== 'float32' || foundInf.length !== 1) {
    throw new Error(`${what}: the found-inf flag must be one float32, got ${foundInf.length} ${foundInf.dtype}`);
  }
}

/** the gradients float32 (each its own storage), the flag and the scale one float32 each */
export function checkUnscale(what: string, grads: readonly Storage[], foundInf: Storage, scale: Storage): void {
  checkFoundInf(what, foundInf);
  if (scale.dtype !== 'float32' || scale.length !== 1) throw new Error(`${what}: the scale must be one float32, got ${scale.length} ${scale.dtype}`);
  const bad = grads.findIndex((g) => g.dtype !== 'float32');
  if (bad >= 0) throw new Error(`${what}: float32 gradients only, gradient ${bad} is ${grads[bad]!.dtype}`);
  if (new Set(grads).size !== grads.length) throw new Error(`${what}: a gradient storage appears twice (it would be unscaled twice)`);
}

export function checkScaleUpdate(what: string, scale: Storage, growthTracker: Storage, foundInf: readonly Storage[], p: AmpScaleUpdate): void {
  for (const f of foundInf) checkFoundInf(what, f);
  if (scale.dtype !== 'float32' || scale.length !== 1) throw new Error(`${what}: the scale must be one float32, got ${scale.length} ${scale.dtype}`);
  if (growthTracker.dtype !== 'int32' || growthTracker.length !== 1) {
    throw new Error(`${what}: the growth tracker must be one int32, got ${growthTracker.length} ${growthTracker.dtype}`);
  }
  if (!(Number.isInteger(p.growthInterval) && p.growthInterval >= 1)) throw new Error(`${what}: growthInterval must be a positive integer, got ${p.growthInterval}`);
}
