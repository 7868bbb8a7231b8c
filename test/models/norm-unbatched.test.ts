import { describe, expect, it } from 'vitest';
import { backward, mul, sum } from '../../src/autograd/index.js';
import { BatchNorm3d, InstanceNorm3d, ReLU, Sequential } from '../../src/models/index.js';
import { fromArray, randn, tidy } from '../../src/tensor/index.js';
import { cpu, expectClose } from '../helpers/backends.js';

/**
 * The 3-D normalisation layers' input ranks, as PyTorch's _check_input_dim: InstanceNorm3d takes [N, C, D, H, W]
 * or one unbatched sample [C, D, H, W] (statistics per channel over D·H·W); BatchNorm3d takes only 5-D input, as
 * PyTorch's.
 */

describe('InstanceNorm3d on an unbatched [C, D, H, W] input', () => {
  it('normalises each channel over D·H·W (by hand: mean 4, biased variance 14)', async () => {
    const x = fromArray([0, 2, 4, 10], [1, 2, 1, 2], { backend: cpu });
    const y = new InstanceNorm3d(1).forward(x);
    expect(y.shape).toEqual([1, 2, 1, 2]);
    const s = Math.sqrt(14 + 1e-5);
    expectClose(await y.toArray(), [-4 / s, -2 / s, 0, 6 / s], 1e-6, 0);
  });

  it('equals the batched layer on x.unsqueeze(0), forward, gradients and fused ReLU', async () => {
    const x = randn([3, 2, 3, 4], 5, { backend: cpu, requiresGrad: true });
    const g = randn([3, 2, 3, 4], 6, { backend: cpu });
    const norm = new InstanceNorm3d(3, { affine: true, backend: cpu });
    const y = norm.forward(x);
    backward(sum(mul(y, g)));
    const gx = await x.grad!.toArray();
    x.grad = null;
    const xb = x.reshape(1, 3, 2, 3, 4);
    const yb = norm.forward(xb);
    expectClose(await y.toArray(), await yb.toArray(), 1e-6, 0);
    backward(sum(mul(yb, g.reshape(1, 3, 2, 3, 4))));
    expectClose(gx, await x.grad!.toArray(), 1e-6, 0);
    const fused = new Sequential(norm, new ReLU()).forward(x);
    expect(fused.shape).toEqual([3, 2, 3, 4]);
    expectClose(await fused.toArray(), (await y.toArray()).map((v) => Math.max(v, 0)), 1e-6, 0);
  });

  it('refuses other ranks, naming the shape', () => {
    tidy(() => {
      expect(() => new InstanceNorm3d(2).forward(randn([2, 3, 4], 1, { backend: cpu })))
        .toThrow(/InstanceNorm3d: expected a 4-D \[C, D, H, W\] or 5-D \[N, C, D, H, W\] input, got \[2, 3, 4\]/);
      expect(() => new InstanceNorm3d(2).forward(randn([1, 2, 3, 4, 5, 6], 1, { backend: cpu }))).toThrow(/got \[1, 2, 3, 4, 5, 6\]/);
    });
  });
});

describe('BatchNorm3d refuses all but a 5-D input', () => {
  it('refuses a 4-D input, naming the shape, in training and eval', () => {
    tidy(() => {
      const bn = new BatchNorm3d(2, { backend: cpu });
      const x = randn([2, 2, 3, 4], 1, { backend: cpu });
      expect(() => bn.forward(x)).toThrow(/BatchNorm3d: expected a 5-D \[N, C, D, H, W\] input, got \[2, 2, 3, 4\]/);
      bn.eval();
      expect(() => bn.forward(x)).toThrow(/expected a 5-D/);
      expect(() => new Sequential(bn, new ReLU()).forward(x)).toThrow(/expected a 5-D/);
    });
  });

  it('refuses [N, C] and [N, C, L] inputs as PyTorch ("expected 5D input"), naming the shape', () => {
    tidy(() => {
      const bn = new BatchNorm3d(2, { backend: cpu });
      expect(() => bn.forward(fromArray([1, 10, 3, 30], [2, 2], { backend: cpu }))).toThrow(/BatchNorm3d: expected a 5-D \[N, C, D, H, W\] input, got \[2, 2\]/);
      expect(() => bn.forward(randn([3, 2, 4], 2, { backend: cpu }))).toThrow(/BatchNorm3d: expected a 5-D \[N, C, D, H, W\] input, got \[3, 2, 4\]/);
      expect(() => bn.forward(randn([1, 2, 1, 1, 1, 1], 2, { backend: cpu }))).toThrow(/got \[1, 2, 1, 1, 1, 1\]/);
      expect(bn.batchesSinceLoad).toBe(0);
    });
  });
});
