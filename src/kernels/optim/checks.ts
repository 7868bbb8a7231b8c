import type { AdamDeviceSteps, AdamItem } from '../backend.js';
import { checkFoundInf } from '../amp/checks.js';

/** adamSteps' device steps: the flag, float32 counts, and each item's count index inside them */
export function checkDeviceSteps(what: string, items: readonly AdamItem[], deviceSteps: AdamDeviceSteps): void {
  checkFoundInf(what, deviceSteps.foundInf);
  const { counts } = deviceSteps;
  if (counts.dtype !== 'float32') throw new Error(`${what}: the step counts must be float32, got ${counts.dtype}`);
  const bad = items.find((it) => !(Number.isInteger(it.step) && it.step >= 0 && it.step < counts.length));
  if (bad) throw new Error(`${what}: step count index ${bad.step} outside the ${counts.length} counts`);
}
