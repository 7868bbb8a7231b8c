import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { amax, amin, backward, gradcheck, max, min, permute, pow, powScalar, prelu, sum, type GradcheckOptions } from '../../src/autograd/index.js';
import { fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * Gradients at the edges where PyTorch's backward formulas pick a side: ties of max/min along a dim, zero
 * bases of pow, prelu at 0, clamp at NaN. Expected values by hand from PyTorch's derivatives.yaml and
 * FunctionsManual.cpp (value_selecting_reduction_backward, amax/amin's evenly_distribute_backward, …).
 */

const leaf = (data: number[], shape: number[]): Tensor => fromArray(data, shape, { backend: cpu, dtype: 'float64', requiresGrad: true });

async function gradOf(data: number[], shape: number[], f: (x: Tensor) => Tensor): Promise<number[]> {
  const x = leaf(data, shape);
  backward(sum(f(x)));
  return Array.from(await x.grad!.toArray());
}

async function expectGrad(fn: (...xs: Tensor[]) => Tensor, inputs: { data: ArrayLike<number>; shape: readonly number[] }[],
  options: GradcheckOptions = {}): Promise<void> {
  const r = await gradcheck(fn, inputs, { backend: cpu, ...options });
  expect(r.ok, r.message).toBe(true);
}

/** n distinct values (a shuffled even spacing in [−1, 1)): no ties */
function distinct(n: number, seed: number): number[] {
  const raw = Array.from(randomArray(n, seed));
  const out = new Array<number>(n);
  raw.map((_, i) => i).sort((i, j) => raw[i] - raw[j]).forEach((i, r) => { out[i] = -1 + (2 * r + 1) / n; });
  return out;
}

describe('max/min along one dim: the gradient goes to the index returned (torch.max(x, dim))', () => {
  const ties = [2, 2, 1, 0, 5, 5];

  it('ties: all of it to the first maximum / minimum', async () => {
    expect(await gradOf(ties, [2, 3], (x) => max(x, 1))).toEqual([1, 0, 0, 0, 1, 0]);
    expect(await gradOf(ties, [2, 3], (x) => max(x, -1, true))).toEqual([1, 0, 0, 0, 1, 0]);
    expect(await gradOf(ties, [2, 3], (x) => x.max(1))).toEqual([1, 0, 0, 0, 1, 0]);
    expect(await gradOf([1, 1, 2, 3, 0, 0], [2, 3], (x) => min(x, 1))).toEqual([1, 0, 0, 0, 1, 0]);
    // along axis 0 of [[5, 1], [5, 1]]: the first row takes both
    expect(await gradOf([5, 1, 5, 1], [2, 2], (x) => max(x, 0))).toEqual([1, 1, 0, 0]);
    expect(await gradOf([5, 1, 5, 1], [2, 2], (x) => min(x, 0))).toEqual([1, 1, 0, 0]);
  });

  it('a permuted view routes to the first maximum in its own order', async () => {
    // x = [[3, 3], [3, 0]]; its transpose's rows are [3, 3] (x[0][0], x[1][0]) and [3, 0]
    expect(await gradOf([3, 3, 3, 0], [2, 2], (x) => max(permute(x, [1, 0]), 1))).toEqual([1, 1, 0, 0]);
  });

  it('NaN is the maximum and the minimum, and its first occurrence takes the gradient', async () => {
    expect(await gradOf([1, NaN, NaN], [1, 3], (x) => max(x, 1))).toEqual([0, 1, 0]);
    expect(await gradOf([1, NaN, NaN], [1, 3], (x) => min(x, 1))).toEqual([0, 1, 0]);
  });

  it('amax/amin (and max/min over everything or over a list of dims) share it evenly', async () => {
    expect(await gradOf(ties, [2, 3], (x) => amax(x, 1))).toEqual([0.5, 0.5, 0, 0, 0.5, 0.5]);
    expect(await gradOf([1, 1, 2, 3, 0, 0], [2, 3], (x) => amin(x, 1))).toEqual([0.5, 0.5, 0, 0, 0.5, 0.5]);
    expect(await gradOf(ties, [2, 3], (x) => max(x, [1]))).toEqual([0.5, 0.5, 0, 0, 0.5, 0.5]);
    expect(await gradOf(ties, [2, 3], (x) => max(x))).toEqual([0, 0, 0, 0, 0.5, 0.5]);
    expect(await gradOf(ties, [2, 3], (x) => amax(x))).toEqual([0, 0, 0, 0, 0.5, 0.5]);
  });

  it('ties on WebGPU (float32): the first extremum along the dim, the even split for amax', async () => {
    const gpu = await webgpu();
    const grad = async (f: (x: Tensor) => Tensor, data: number[], shape: number[]): Promise<number[]> => {
      const x = fromArray(data, shape, { backend: gpu, requiresGrad: true });
      backward(sum(f(x)));
      return Array.from(await x.grad!.toArray());
    };
    expect(await grad((x) => max(x, 1), ties, [2, 3])).toEqual([1, 0, 0, 0, 1, 0]);
    expect(await grad((x) => min(x, 0, true), [5, 1, 5, 1], [2, 2])).toEqual([1, 1, 0, 0]);
    expect(await grad((x) => amax(x, 1), ties, [2, 3])).toEqual([0.5, 0.5, 0, 0, 0.5, 0.5]);
  });

  it('gradcheck without ties (float64, random shapes, dims and keepdim)', async () => {
    const arb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }).chain((shape) => fc.record({
      shape: fc.constant(shape), axis: fc.integer({ min: -shape.length, max: shape.length - 1 }), keepdim: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
    }));
    await fc.assert(fc.asyncProperty(arb, async ({ shape, axis, keepdim, seed }) => {
      const x = { data: distinct(sizeOf(shape), seed), shape };
      for (const f of [max, min, amax, amin]) await expectGrad((t) => f(t, axis, keepdim), [x]);
    }), { numRuns: 25 });
  });
});

describe('pow at a zero base (pow_backward, pow_backward_self, pow_backward_exponent)', () => {
  it('exponent 0: the base gradient is 0, also at base 0 (not 0·0⁻¹ = NaN)', async () => {
    expect(await gradOf([0, 2], [2], (x) => powScalar(x, 0))).toEqual([0, 0]);
    expect(await gradOf([0, 3], [2], (x) => x.pow(0))).toEqual([0, 0]);
    expect(await gradOf([0, 2], [2], (x) => pow(x, fromArray([0, 0], [2], { backend: cpu, dtype: 'float64' })))).toEqual([0, 0]);
  });

  it('base 0 with exponent ≥ 0: the exponent gradient is 0 (not 0·log 0 = NaN)', async () => {
    const a = leaf([0, 2, 0], [3]), b = leaf([2, 2, 0], [3]);
    backward(sum(pow(a, b)));
    const gb = Array.from(await b.grad!.toArray());
    expect(gb[0]).toBe(0);
    expect(gb[1]).toBeCloseTo(4 * Math.log(2), 12);
    expect(gb[2]).toBe(0);
    expect(Array.from(await a.grad!.toArray())).toEqual([0, 4, 0]);
  });

  it('elsewhere the formulas are unchanged: base 0 with exponent < 0 stays infinite, as PyTorch', async () => {
    const a = leaf([0], [1]), b = leaf([-1], [1]);
    backward(sum(pow(a, b)));
    // d/da = b·a^(b−1) = −1·0⁻² = −∞; d/db = a^b·log a = ∞·(−∞) = −∞
    expect(Array.from(await a.grad!.toArray())).toEqual([-Infinity]);
    expect(Array.from(await b.grad!.toArray())).toEqual([-Infinity]);
  });

  it('gradcheck away from 0 (float64)', async () => {
    const a = { data: [0.5, 1.3, 2.1, 0.7], shape: [2, 2] }, b = { data: [1.5, -0.5, 2, 0], shape: [2, 2] };
    await expectGrad((x, y) => pow(x, y), [a, b]);
    await expectGrad((x) => powScalar(x, 0), [a]);
    await expectGrad((x) => powScalar(x, 2.5), [a]);
  });
});

describe('prelu at x = 0 (prelu_backward_kernel: x > 0 ? g : w·g)', () => {
  it('the input gradient at 0 is weight·g; the weight gradient x·g is 0 there', async () => {
    const x = leaf([0, 1, -1, 0], [4]), w = leaf([0.25], [1]);
    backward(sum(prelu(x, w)));
    expect(Array.from(await x.grad!.toArray())).toEqual([0.25, 1, 0.25, 0.25]);
    expect(Array.from(await w.grad!.toArray())).toEqual([-1]);
  });

  it('per channel, and the values are max(0, x) + w·min(0, x)', async () => {
    const x = leaf([0, -2, 0, 3], [1, 2, 2]), w = leaf([0.1, 0.5], [2]);
    const y = prelu(x, w);
    expect(Array.from(await y.toArray())).toEqual([0, -0.2, 0, 3]);
    backward(sum(y));
    expect(Array.from(await x.grad!.toArray())).toEqual([0.1, 0.1, 0.5, 1]);
    expect(Array.from(await w.grad!.toArray())).toEqual([-2, 0]);
  });

  it('gradcheck away from 0 (float64)', async () => {
    await expectGrad((x, w) => prelu(x, w), [{ data: [0.3, -0.7, 1.2, -0.4, 0.9, -1.1], shape: [1, 2, 3] }, { data: [0.2, -0.3], shape: [2] }]);
  });
});
