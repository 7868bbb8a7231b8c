/**
 * What a run is made of, shared by the trainer and evaluate.ts: the data source and the network of a
 * configuration, and `--tune-convs`.
 */
import type { Backend } from '../kernels/backend.js';
import { recordConv3dProblems, tuneConv3dWithCache, WebGPUBackend, type Conv3dProblem } from '../kernels/index.js';
import { zeros } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import { backward } from '../autograd/backward.js';
import { noGrad } from '../autograd/graph.js';
import { add, sum } from '../autograd/ops.js';
import { hashSeed } from '../imaging/random.js';
import { SyntheticSource } from '../imaging/io/synthetic.js';
import { LASource } from '../imaging/io/la.js';
import { isLAPackRoot, LAPackSource } from '../imaging/io/la-pack.js';
import { BratsSource } from '../imaging/io/brats.js';
import type { CaseSource } from '../imaging/volume.js';
import type { TrainConfig } from './config.js';
import { VNetDualTask, type DualTaskModel } from './model.js';

/** The data source of a configuration. */
export function makeSource(c: TrainConfig): CaseSource {
  switch (c.preset) {
    case 'synthetic':
      return new SyntheticSource({ count: c.synthetic.count, testCount: c.synthetic.testCount, shape: c.synthetic.shape, seed: c.synthetic.seed });
    case 'la':
      if (!c.data) throw new Error('the la preset needs --data DIR');
      return isLAPackRoot(c.data) ? new LAPackSource(c.data) : new LASource(c.data);
    case 'brats':
      if (!c.data) throw new Error('the brats preset needs --data DIR');
      return new BratsSource(c.data);
  }
}

/** The configured network on a backend, initialised from the run's seed. */
export function createModel(c: TrainConfig, backend: Backend): DualTaskModel {
  return new VNetDualTask({ nFilters: c.nFilters, dropout: c.dropout, seed: hashSeed('vnet', c.seed), backend });
}

/**
 * --tune-convs (cuDNN's benchmark mode): records the conv3d problems of a test-time forward ([evalBatch, 1,
 * patch]) and, for `training`, of a training step (forward and both gradients at [batch, 1, patch]), on zeros in
 * eval mode, so no running statistic, parameter or gradient changes; takes the choices kept for this GPU (all
 * timed again for 'retune') and times every candidate kernel of the other problems (tuneConv3dWithCache, inside
 * that step where the GPU has timestamps, `reps` timed steps each); the fastest whose result agrees with the
 * default kernel's is used from then on and kept. Returns the problems (none on the cpu backend).
 */
export async function tuneConvolutions(model: DualTaskModel, backend: Backend, c: TrainConfig, print: (line: string) => void,
  what: 'training' | 'evaluation' = 'training', reps = 5): Promise<Conv3dProblem[]> {
  if (!(backend instanceof WebGPUBackend)) {
    print('--tune-convs: the cpu backend has one conv3d kernel per operation; nothing to tune');
    return [];
  }
  const wasTraining = model.module.training;
  model.module.eval();
  const step = (): void => tidy(() => {
    if (what === 'training') {
      const out = model.forward(zeros([c.batch, 1, ...c.patch], { backend }));
      backward(add(sum(out.seg), sum(out.sdf)));
    }
    noGrad(() => model.segment(zeros([c.evalBatch, 1, ...c.patch], { backend })));
  });
  try {
    const problems = await recordConv3dProblems(backend, step);
    const t0 = performance.now();
    const { rows, cached, file } = await tuneConv3dWithCache(backend, problems, { reps, step, retune: c.tuneConvs === 'retune', warn: print });
    if (cached.length > 0) print(`conv3d choices of ${cached.length} problems taken from ${file}`);
    const tuned = problems.length - cached.length;
    const changed = rows.filter((r) => r.chosen && r !== rows.find((d) => d.problem === r.problem)).length;
    const rejected = rows.filter((r) => r.rejected).length;
    const timing = [...new Set(rows.filter((r) => !r.rejected).map((r) => r.method))].join(', ');
    print(`tuned ${tuned} conv3d problems in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${changed} run another kernel than the default`
      + (rejected ? `; ${rejected} candidates rejected (results differ from the default kernel's)` : '')
      + (tuned ? `; timed by ${timing}; kept in ${file}` : ''));
    return problems;
  } finally {
    model.module.zeroGrad();
    model.module.train(wasTraining);
  }
}
