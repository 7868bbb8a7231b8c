import type { CdtParams, Storage } from '../backend.js';

// placeholder until the real kernels land: every function throws

export function cdt(p: Storage, shape: readonly number[], params: CdtParams): Storage {
  throw new Error('cpu: cdt is not implemented yet');
}

export function cdtBackward(p: Storage, out: Storage, gOut: Storage, shape: readonly number[], params: CdtParams): Storage {
  throw new Error('cpu: cdtBackward is not implemented yet');
}
