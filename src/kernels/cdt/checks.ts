import type { CdtParams, DType, Storage } from '../backend.js';

/* The argument checks of the cdt kernels, shared by the cpu oracle and the WebGPU kernels. */

export function cdtVolume(shape: readonly number[], what: string): { batch: number; D: number; H: number; W: number } {
  if (shape.length < 3 || shape.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new Error(`${what}: expected a [N, 1, D, H, W] shape, got [${shape.join(', ')}]`);
  }
  const r = shape.length;
  const batch = shape.slice(0, r - 3).reduce((a, b) => a * b, 1);
  return { batch, D: shape[r - 3], H: shape[r - 2], W: shape[r - 1] };
}

export function checkCdtParams(params: CdtParams, what: string): void {
  const { radius, h, eps } = params;
  if (!(Number.isInteger(radius) && radius >= 0)) throw new Error(`${what}: radius ${radius} must be an integer ≥ 0`);
  if (!(h > 0 && Number.isFinite(h))) throw new Error(`${what}: h ${h} must be a positive number`);
  if (!(eps > 0 && Number.isFinite(eps))) throw new Error(`${what}: eps ${eps} must be a positive number`);
}

/** the signed pair divides by ρ: ρ ≥ 1 */
export function checkCdtSignedParams(params: CdtParams, what: string): void {
  checkCdtParams(params, what);
  if (params.radius < 1) throw new Error(`${what}: radius ${params.radius} must be ≥ 1 (the map is divided by it)`);
}

/** cdtSignedBackward's addend: the volume's n elements of p's dtype */
export function checkAddend(addend: Storage | undefined, n: number, dtype: DType, what: string): void {
  if (!addend) return;
  if (addend.length < n) throw new Error(`${what}: the addend holds ${addend.length} elements, needs ${n}`);
  if (addend.dtype !== dtype) throw new Error(`${what}: the addend is ${addend.dtype}, p ${dtype}`);
}
