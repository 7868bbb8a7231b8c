import type fc from 'fast-check';

/**
 * fast-check options for the property tests: a fresh random seed on every run (fast-check prints the seed and
 * the counterexample's path when a property fails), unless the environment pins them to replay a failure:
 *
 *   VOXGRAD_FC_SEED=<seed> [VOXGRAD_FC_PATH=<path>] npx vitest run test/kernels/conv3d.test.ts
 *
 * VOXGRAD_FC_RUNS=<factor> multiplies every property's number of runs (e.g. 10 for a long local search).
 */
export function propertyOptions(numRuns: number): fc.Parameters<unknown> {
  const env = process.env;
  const factor = env.VOXGRAD_FC_RUNS === undefined ? 1 : Number(env.VOXGRAD_FC_RUNS);
  if (!(factor > 0)) throw new Error(`VOXGRAD_FC_RUNS must be a positive number, got '${env.VOXGRAD_FC_RUNS}'`);
  const options: fc.Parameters<unknown> = { numRuns: Math.max(1, Math.round(numRuns * factor)) };
  if (env.VOXGRAD_FC_SEED !== undefined) {
    const seed = Number(env.VOXGRAD_FC_SEED);
    if (!Number.isInteger(seed)) throw new Error(`VOXGRAD_FC_SEED must be an integer, got '${env.VOXGRAD_FC_SEED}'`);
    options.seed = seed;
    if (env.VOXGRAD_FC_PATH !== undefined) options.path = env.VOXGRAD_FC_PATH;
  }
  return options;
}
