import { pcgHash } from '../kernels/random.js';

/**
 * The global generator (torch.manual_seed): layers built without an explicit seed, and rand/randn/uniform called
 * without one, draw their seeds from it, so a fixed order of construction and draws is reproducible.
 */

let seedCounter = 0;
let globalSeed = 0;

/** Sets the global generator's seed (torch.manual_seed). */
export function manualSeed(seed: number): void {
  globalSeed = seed >>> 0;
  seedCounter = 0;
}

/** The next seed of the global generator: reproducible for a fixed construction order after `manualSeed`. */
export function nextSeed(): number {
  return pcgHash((pcgHash(globalSeed) + seedCounter++) >>> 0);
}
