import { describe, expect, it } from 'vitest';
import { backward } from '../../src/autograd/index.js';
import type { WebGPUBackend } from '../../src/kernels/index.js';
import { backwardPasses } from '../../src/kernels/loss/webgpu.js';
import { dbislLoss, dbislLossConfig } from '../../src/dbisl/losses.js';
import { dispose, fromArray, tidy } from '../../src/tensor/index.js';
import { randomArray, webgpu } from '../helpers/backends.js';

/**
 * dbislLoss's one lossTotal binds 7 storages (Ŷ and T_r2s(R̂), z, R̂, T_s2r(Ŷ), S* with T_s2r(Ỹ), the label with Ỹ, w): its
 * forward fits WebGPU's default of 8 storage buffers per stage, and its backward splits into passes that fit. On an
 * adapter with 8, every term and gradient are those of one with more, bit for bit.
 */
describe('dbislLoss on an adapter with 8 storage buffers per stage (WebGPU\'s default limit)', () => {
  it('the same terms and gradients, the backward in passes that each bind at most 8', async () => {
    const gpu = await webgpu() as WebGPUBackend;
    const limits = gpu.rt.limits as { maxStorageBuffersPerShaderStage: number };
    const B = 4, L = 2, patch = [6, 5, 4], n = 6 * 5 * 4;
    const z = randomArray(B * n, 3, -3, 3), r = randomArray(B * n, 4, -0.5, 0.5);
    const labels = Float32Array.from({ length: L * n }, (_, i) => ((i % n) > 30 && (i % n) < 80 ? 1 : 0));
    const cfg = dbislLossConfig({ radius: 2, k: 4 });
    const run = async () => {
      const seg = fromArray(z, [B, 1, ...patch], { backend: gpu, requiresGrad: true });
      const sdf = fromArray(r, [B, 1, ...patch], { backend: gpu, requiresGrad: true });
      const label = fromArray(labels, [L, 1, ...patch], { backend: gpu });
      const d0 = gpu.rt.dispatchCount;
      const res = tidy(() => dbislLoss({ seg, sdf, label, iteration: 6000, maxIterations: 6000 }, cfg));
      backward(res.total);
      const dispatches = gpu.rt.dispatchCount - d0;
      const names = Object.keys(res.terms).sort();
      const values = await Promise.all(names.map((k) => res.terms[k]!.item()));
      const grads = [Array.from(await seg.grad!.toArray()), Array.from(await sdf.grad!.toArray())];
      dispose([seg, sdf, label, res.terms]);
      return { names, values, grads, dispatches };
    };
    const wide = await run();
    const saved = limits.maxStorageBuffersPerShaderStage;
    expect(saved).toBeGreaterThanOrEqual(15); // else `wide` was no wider
    limits.maxStorageBuffersPerShaderStage = 8;
    try {
      const narrow = await run();
      expect(narrow.names).toEqual(wide.names);
      expect(narrow.values).toEqual(wide.values);
      expect(narrow.grads).toEqual(wide.grads);
      expect(narrow.dispatches).toBeGreaterThan(wide.dispatches); // the backward in more than one pass
    } finally {
      limits.maxStorageBuffersPerShaderStage = saved;
    }
  });

  it('backwardPasses packs the wanted gradients in order within the limit, and refuses a gradient that cannot fit', () => {
    const s = (length: number) => ({ storage: { length, dtype: 'float32' } as never, offset: 0, length });
    const [a, b, c, d] = [s(4), s(4), s(4), s(4)];
    const mse = { kind: 'mse', scale: 0.25, eps: 0 } as const;
    // input 0 read with 1 (item 0) and with 2 (item 1), input 3 with 1 (item 2)
    const total = {
      inputs: [a, b, c, d], group: [0, 0, 0], weights: [1, 1, 1], groupWeights: [1],
      items: [
        { loss: mse, rows: 1, n: 4, operands: [{ input: 0, offset: 0, rowStride: 4 }, { input: 1, offset: 0, rowStride: 4 }, null] as const },
        { loss: mse, rows: 1, n: 4, operands: [{ input: 0, offset: 0, rowStride: 4 }, { input: 2, offset: 0, rowStride: 4 }, null] as const },
        { loss: mse, rows: 1, n: 4, operands: [{ input: 3, offset: 0, rowStride: 4 }, { input: 1, offset: 0, rowStride: 4 }, null] as const },
      ],
    };
    // storages bound in order of first use: 0, 1, 2, 3 for inputs 0, 1, 2, 3
    expect(backwardPasses(total, [0, 3], 16)).toEqual([{ inputs: [0, 3], bindings: [0, 1, 2, 3] }]);
    // input 0: 3 storages + sums, g, its gradient = 6; with input 3: 4 + 2 + 2 = 8 > 7
    expect(backwardPasses(total, [0, 3], 7)).toEqual([{ inputs: [0], bindings: [0, 1, 2] }, { inputs: [3], bindings: [1, 3] }]);
    expect(() => backwardPasses(total, [0], 5)).toThrow(/the gradient of input 0 reads 3 storages, more than the device's 5/);
  });
});
