import { defineConfig } from 'vitest/config';

/**
 * The tests Stryker runs against each mutant (stryker.config.mjs): those that check the mutated files, not the
 * whole suite. MUTATE_TESTS (comma-separated paths) narrows them for a one-file run, MUTATE_NAMES (a test
 * name pattern) to some of their tests, e.g. the cpu ones: Stryker's workers find no WebGPU adapter here.
 */
const related = [
  'test/dbisl/losses-reference.test.ts',
  'test/dbisl/losses.test.ts',
  'test/dbisl/transform-golden.test.ts',
  'test/dbisl/transform.test.ts',
  'test/dbisl/losses-edges.test.ts',
  'test/dbisl/transform-edges.test.ts',
  'test/kernels/dualtask.test.ts',
  'test/kernels/dualtask-edges.test.ts',
  'test/kernels/loss.test.ts',
  'test/kernels/loss-edges.test.ts',
  'test/kernels/cdt.test.ts',
  'test/kernels/cdt-edges.test.ts',
  'test/models/safetensors-dtypes.test.ts',
  'test/models/checkpoint.test.ts',
  'test/imaging/metrics.test.ts',
  'test/imaging/metrics-edges.test.ts',
  'test/models/vnet.test.ts',
  'test/models/vnet-golden.test.ts',
  'test/models/vnet-options.test.ts',
  'test/models/optim.test.ts',
  'test/models/optim-groups.test.ts',
  'test/models/optim-device-steps.test.ts',
  'test/models/optim-edges.test.ts',
  'test/models/grad-scaler-optimizers.test.ts',
  'test/models/grad-scaler-edges.test.ts',
  'test/models/grad-scaler.test.ts',
  'test/models/grad-scaler-mutants.test.ts',
  'test/kernels/optim.test.ts',
  'test/kernels/optim-edges.test.ts',
  'test/models/losses.test.ts',
  'test/models/losses-extra.test.ts',
  'test/models/loss-targets.test.ts',
  'test/models/loss-targets-edges.test.ts',
  'test/kernels/gather-edges.test.ts',
  'test/imaging/transforms-intensity.test.ts',
  'test/imaging/transforms-spatial.test.ts',
  'test/imaging/transforms-intensity-edges.test.ts',
  'test/imaging/transforms-shared-edges.test.ts',
  'test/imaging/transforms-spatial-edges.test.ts',
  'test/imaging/metric-classes.test.ts',
  'test/imaging/metric-classes-edges.test.ts',
  'test/models/schedules.test.ts',
  'test/models/schedules-edges.test.ts',
  'test/models/segresnet.test.ts',
  'test/models/segresnet-edges.test.ts',
  'test/imaging/sliding-window.test.ts',
  'test/imaging/sliding-window-mutants.test.ts',
  'test/imaging/io/nifti.test.ts',
  'test/imaging/io/nifti-mutants.test.ts',
];

export default defineConfig({
  test: {
    include: process.env.MUTATE_TESTS ? process.env.MUTATE_TESTS.split(',') : related,
    ...(process.env.MUTATE_NAMES ? { testNamePattern: process.env.MUTATE_NAMES } : {}),
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
