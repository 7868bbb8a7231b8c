import { describe, expect, it } from 'vitest';
import { amax, amin, backward, chunk, gradcheck, logSoftmax, max, mean, min, roll, softmax, std, sum, variance } from '../../src/autograd/index.js';
import { fromArray, zeros, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose } from '../helpers/backends.js';

/**
 * Reductions at their edges, as PyTorch: variance/std with n − correction ≤ 0 (NaN, or ±Inf for a non-zero
 * sum of squares: Σ(x − x̄)²/max(0, n − correction)), the `correction` argument, and sum/mean over dim [] (all
 * dims, as torch.sum(x, dim=[])).
 */

const t = (data: number[], shape: number[], requiresGrad = false): Tensor =>
  fromArray(data, shape, { backend: cpu, dtype: 'float64', requiresGrad });
const values = async (x: Tensor): Promise<number[]> => Array.from(await x.toArray());

describe('variance and std', () => {
  it('one element per reduction with correction 1 (the default) is NaN', async () => {
    const x = t([3, 4], [2, 1], true);
    expect(await values(variance(x, 1))).toEqual([NaN, NaN]);
    expect(await values(std(x, 1))).toEqual([NaN, NaN]);
    expect(await values(variance(x, 1, { unbiased: false }))).toEqual([0, 0]);
    expect(await values(variance(x, 1, { correction: 0 }))).toEqual([0, 0]);
    backward(sum(variance(x, 1)));
    expect(await values(x.grad!)).toEqual([NaN, NaN]);
  });

  it('an empty reduction is NaN', async () => {
    expect(await values(variance(t([], [2, 0]), 1))).toEqual([NaN, NaN]);
    expect(await values(variance(t([], [2, 0]), 1, { correction: 0 }))).toEqual([NaN, NaN]);
  });

  it('correction c divides by max(0, n − c)', async () => {
    const x = t([1, 2, 3, 4], [4]); // Σ(x − 2.5)² = 5
    expectClose(await values(variance(x)), [5 / 3], 1e-15, 0);
    expect(await values(variance(x, 0, { correction: 0 }))).toEqual([5 / 4]);
    expect(await values(variance(x, undefined, { correction: 2 }))).toEqual([5 / 2]);
    expect(await values(variance(x, 0, { correction: 4 }))).toEqual([Infinity]);
    expect(await values(variance(x, 0, { correction: 5 }))).toEqual([Infinity]);
    expectClose(await values(variance(x, 0, { correction: 0.5 })), [5 / 3.5], 1e-15, 0);
    expectClose(await values(std(x, 0, { correction: 0, keepdim: true })), [Math.sqrt(5 / 4)], 1e-15, 0);
    expect(std(t([1, 2, 3, 4], [2, 2]), 1, { keepdim: true }).shape).toEqual([2, 1]);
  });

  it('refuses unbiased together with correction, and a correction that is not a finite number ≥ 0', () => {
    const x = t([1, 2], [2]);
    expect(() => variance(x, 0, { unbiased: true, correction: 1 })).toThrow(/var: give either unbiased or correction, not both/);
    expect(() => variance(x, 0, { correction: -1 })).toThrow(/var: correction must be a finite number ≥ 0, got -1/);
    expect(() => std(x, 0, { correction: NaN })).toThrow(/std: correction must be/);
  });

  it('gradcheck (float64): std and variance with corrections', async () => {
    const x = { data: [0.3, -1.2, 0.8, 2.1, -0.4, 0.9], shape: [2, 3] };
    for (const f of [
      (a: Tensor) => variance(a, 1, { correction: 2 }),
      (a: Tensor) => variance(a, [0, 1], { correction: 0 }),
      (a: Tensor) => std(a, 0),
      (a: Tensor) => std(a, undefined, { correction: 0, keepdim: true }),
    ]) {
      const r = await gradcheck(f, [x], { backend: cpu });
      expect(r.ok, r.message).toBe(true);
    }
  });
});

describe('sum, mean and variance over dim [] reduce over all dims (torch.sum(x, dim=[]))', () => {
  it('values and shapes', async () => {
    const x = t([1, 2, 3, 4], [2, 2]);
    expect(sum(x, []).shape).toEqual([]);
    expect(await values(sum(x, []))).toEqual([10]);
    expect(await values(mean(x, []))).toEqual([2.5]);
    expect(mean(x, [], true).shape).toEqual([1, 1]);
    expectClose(await values(variance(x, [])), [5 / 3], 1e-15, 0);
    expect(await values(x.sum([]))).toEqual([10]);
  });

  it('the gradient reaches every element', async () => {
    const x = t([1, 2, 3, 4], [2, 2], true);
    backward(mean(x, []));
    expect(await values(x.grad!)).toEqual([0.25, 0.25, 0.25, 0.25]);
  });
});

describe('empty axes', () => {
  it('chunk of an empty axis gives `chunks` empty pieces (torch.chunk)', () => {
    const pieces = chunk(zeros([0], { backend: cpu }), 3);
    expect(pieces.map((p) => p.shape)).toEqual([[0], [0], [0]]);
    expect(chunk(zeros([2, 0], { backend: cpu }), 2, 1).map((p) => p.shape)).toEqual([[2, 0], [2, 0]]);
    // a non-empty axis keeps ⌈n/chunks⌉ per piece (so possibly fewer pieces)
    expect(chunk(zeros([5], { backend: cpu }), 3).map((p) => p.shape)).toEqual([[2], [2], [1]]);
  });

  it('max/min/amax/amin over an empty axis raise, naming the axis and shape; other axes may be empty', async () => {
    const x = zeros([2, 0], { backend: cpu });
    expect(() => max(x, 1)).toThrow(/max: cannot reduce over axis 1 of size 0 \(input \[2, 0\]\)/);
    expect(() => min(x, -1, true)).toThrow(/min: cannot reduce over axis 1 of size 0/);
    expect(() => amax(x, [0, 1])).toThrow(/max: cannot reduce over axis 1 of size 0/);
    expect(() => amin(x)).toThrow(/min: cannot reduce over axis 1 of size 0/);
    expect(() => max(x)).toThrow(/max: cannot reduce over axis 1 of size 0/);
    expect(max(x, 0).shape).toEqual([0]);
    expect(amin(x, 0, true).shape).toEqual([1, 0]);
  });

  it('softmax and logSoftmax along an empty axis stay empty (they subtract no max)', () => {
    const x = zeros([2, 0], { backend: cpu });
    expect(softmax(x, 1).shape).toEqual([2, 0]);
    expect(logSoftmax(x, -1).shape).toEqual([2, 0]);
  });

  it('roll along a size-0 axis returns the empty tensor (also without dims)', async () => {
    const x = zeros([2, 0, 3], { backend: cpu });
    expect(roll(x, 1, 1).shape).toEqual([2, 0, 3]);
    expect(roll(x, [1, -2], [1, 2]).shape).toEqual([2, 0, 3]);
    expect(roll(x, 4).shape).toEqual([2, 0, 3]);
    expect(await values(roll(t([1, 2, 3], [3]), 1))).toEqual([3, 1, 2]);
  });
});
