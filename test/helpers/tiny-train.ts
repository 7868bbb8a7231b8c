import { defaultConfig, type TrainConfig } from '../../src/dbisl/config.js';

/** A tiny DBiSL configuration writing to `out` that trains in seconds on the cpu backend. */
export function tinyTrainConfig(out: string, overrides: Partial<TrainConfig> = {}): TrainConfig {
  const c = defaultConfig('synthetic', 'dbisl');
  return {
    ...c, out, backend: 'cpu', iterations: 4, batch: 2, labeledBatch: 1, labeled: 2,
    patch: [16, 16, 16], stride: [16, 16, 16], nFilters: 2, dropout: true, checkpointEvery: 2, evalBatch: 2, lr: 0.01,
    synthetic: { count: 4, testCount: 1, shape: [20, 18, 16], seed: 3 },
    loss: { ...c.loss, radius: 2, epochIterations: 1, rampupEpochs: 4 },
    workers: 0,
    ...overrides,
  };
}
