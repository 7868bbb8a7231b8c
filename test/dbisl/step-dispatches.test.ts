import { describe, expect, it } from 'vitest';
import { add, backward, mean } from '../../src/autograd/index.js';
import { WebGPUBackend } from '../../src/kernels/index.js';
import { SGD } from '../../src/models/index.js';
import { dbislLoss, dbislLossConfig, type LossConfig } from '../../src/dbisl/losses.js';
import { VNetDualTask } from '../../src/dbisl/model.js';
import { dispose, fromArray, tidy } from '../../src/tensor/index.js';
import { randomArray, webgpu } from '../helpers/backends.js';

/**
 * The DBiSL step's dispatch budget on WebGPU: what it records beyond the V-Net step (the same forward, backward of
 * mean(z) + mean(R̂), SGD) and what each loss term adds. The host's cost on a GPU grows with the dispatches, and the
 * fused kernels (T_s2r one kernel each way, Ŷ and T_r2s in one kernel, the pseudo-label with its weight, every term's
 * row loss, weighted sums and gradients in one lossTotal) are what keep these numbers down: routing a term back through the
 * composed ops fails here. The budgets are this design's counts (dispatch counts are exact,
 * not timings); a change that needs more dispatches raises them on purpose.
 */
describe('the DBiSL step on WebGPU records few dispatches beyond the V-Net step', () => {
  it('the step, and each term', async () => {
    const backend = await webgpu() as WebGPUBackend;
    const rt = backend.rt;
    const model = new VNetDualTask({ nFilters: 2, seed: 3, backend });
    model.module.train();
    const opt = new SGD(model.module.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
    const patch = [16, 16, 16], voxels = 16 ** 3;
    const x = fromArray(randomArray(4 * voxels, 7, -1, 1), [4, 1, ...patch], { backend });
    const label = fromArray(Float32Array.from({ length: 2 * voxels }, (_, i) => ((i % voxels) > 1500 && (i % voxels) < 2600 ? 1 : 0)), [2, 1, ...patch], { backend });
    const cfg = dbislLossConfig({ radius: 3 });
    const dispatches = (lossConfig: LossConfig | null): number => {
      const before = rt.dispatchCount;
      tidy(() => {
        const out = model.forward(x);
        backward(lossConfig
          ? dbislLoss({ seg: out.seg, sdf: out.sdf, label, iteration: 6000, maxIterations: 6000 }, lossConfig).total
          : add(mean(out.seg), mean(out.sdf)));
      });
      opt.step();
      opt.zeroGrad();
      return rt.dispatchCount - before;
    };
    dispatches(cfg); // the first step allocates the momentum buffers
    const vnet = dispatches(null), dbisl = dispatches(cfg);
    const term = (off: Partial<LossConfig>) => dbisl - dispatches({ ...cfg, ...off });
    const terms = {
      ce: term({ ce: false }), supMse: term({ beta: 0 }), supCross: term({ supCross: false }), conR2S: term({ conR2S: false }),
      conS2R: term({ conS2R: false }), pse: term({ pse: false }), unc: term({ unc: false }),
    };
    // at 32³ with n_filters 16 (bench/dbisl-step.ts --host-only): +187 over the V-Net step and ce 23, supMse 12,
    // supCross 21, conR2S 10, conS2R 13, pse 61, unc 16 before the fused kernels; +63 and 5, 7, 13, 4, 4, 21, 5 with
    // them and slices' gradients added in place; +36 and 4, 4, 5, 4, 5, 12, 2 with Ŷ and T_r2s in one kernel read in
    // place, the pseudo-label (after the label's copy) and its weight in one, the mean uncertainty one fused reduction,
    // and the weighted sums of the terms (L_sup's, the total's) one dispatch each way. Here (16³, n_filters 2, ρ 3:
    // single-workgroup sums take one pass, not two) +175 before (545 − 370), +56 after the first fused kernels, +29 with
    // these; +27 (at 32³ +34 and conR2S 3, conS2R 4, pse 11) with L_con's and L_pse's sums in the total's dispatch
    // (weightedSums) instead of an add each. +2 (at 32³ +2: 406 − 404) with every term one item of one lossTotal (the
    // row losses, the group sums and the total in two dispatches forward, the gradients of Ŷ, T_r2s(R̂), T_s2r(Ŷ), z and
    // R̂ in one backward): what a term costs now is its inputs (ce: z's gradient joins σ's in an add; pse: the pseudo-label).
    // −1 (at 32³ −1: 403 − 404) with the three adds of the backward folded into the kernels before them (σ's backward
    // adds the loss's own gradient of z and of R̂, T_s2r's that of Ŷ): ce 0; conS2R −1, since without it T_s2r runs on
    // the labeled rows' slice of Ŷ, whose gradient is a slice's, added in place (one dispatch) instead of in the kernel.
    expect(dbisl - vnet, `${dbisl} − ${vnet} dispatches`).toBeLessThanOrEqual(-1);
    expect(terms).toEqual({ ce: 0, supMse: 0, supCross: 0, conR2S: 0, conS2R: -1, pse: 1, unc: 0 });
    dispose([x, label]);
    opt.dispose();
    model.module.dispose();
  });
});
