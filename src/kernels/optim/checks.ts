import type { AdamDeviceSteps, AdamItem, RmspropItem, RmspropParams, Storage } from '../backend.js';
import { checkFoundInf } from '../amp/checks.js';

/** adamSteps' device steps: the flag, float32 counts, and each item's count index inside them */
export function checkDeviceSteps(what: string, items: readonly AdamItem[], deviceSteps: AdamDeviceSteps): void {
  checkFoundInf(what, deviceSteps.foundInf);
  const { counts } = deviceSteps;
  if (counts.dtype !== 'float32') throw new Error(`${what}: the step counts must be float32, got ${counts.dtype}`);
  const bad = items.find((it) => !(Number.isInteger(it.step) && it.step >= 0 && it.step < counts.length));
  if (bad) throw new Error(`${what}: step count index ${bad.step} outside the ${counts.length} counts`);
}

/** rmspropSteps' items: the state the options need (and no other), each storage of its parameter's length and dtype */
export function checkRmspropItems(what: string, items: readonly RmspropItem[], p: RmspropParams, foundInf: Storage | null | undefined): void {
  if (foundInf) checkFoundInf(what, foundInf);
  items.forEach((it, k) => {
    if ((it.gradAvg !== null) !== p.centered) throw new Error(`${what}: parameter ${k} ${p.centered ? 'lacks' : 'has'} a grad_avg ${p.centered ? 'centered' : 'not centered'}`);
    if ((it.momentumBuffer !== null) !== (p.momentum > 0)) {
      throw new Error(`${what}: parameter ${k} ${p.momentum > 0 ? 'lacks' : 'has'} a momentum_buffer with momentum ${p.momentum}`);
    }
    for (const s of [it.grad, it.squareAvg, it.gradAvg, it.momentumBuffer]) {
      if (s && (s.length !== it.param.length || s.dtype !== it.param.dtype)) {
        throw new Error(`${what}: parameter ${k} (${it.param.length} ${it.param.dtype}) has a gradient or state of ${s.length} ${s.dtype}`);
      }
    }
  });
}

/** advanceStepCounts' float32 counts, int32 indices (within them where `indices` are given: the cpu's) and flag */
export function checkStepCounts(what: string, counts: Storage, stepped: Storage | null, foundInf: Storage | null | undefined, indices?: ArrayLike<number>): void {
  if (foundInf) checkFoundInf(what, foundInf);
  if (counts.dtype !== 'float32') throw new Error(`${what}: the step counts must be float32, got ${counts.dtype}`);
  if (stepped && stepped.dtype !== 'int32') throw new Error(`${what}: the stepped indices must be int32, got ${stepped.dtype}`);
  const bad = indices ? Array.from(indices).find((i) => !(i >= 0 && i < counts.length)) : undefined;
  if (bad !== undefined) throw new Error(`${what}: step count index ${bad} outside the ${counts.length} counts`);
}
