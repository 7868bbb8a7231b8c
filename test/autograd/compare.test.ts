import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  backward, eq, ge, gt, le, logicalAnd, logicalNot, logicalOr, logicalXor, lt, ne, relu, where,
} from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { dispose, fromArray, memory, tidy, zeros, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

const comparisons = { eq, ne, lt, le, gt, ge } as const;
type ComparisonName = keyof typeof comparisons;
const names = Object.keys(comparisons) as ComparisonName[];
/** IEEE comparison (JavaScript's operators are IEEE's: NaN compares false, except !==) */
const oracle: Record<ComparisonName, (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b, ne: (a, b) => a !== b, lt: (a, b) => a < b, le: (a, b) => a <= b, gt: (a, b) => a > b, ge: (a, b) => a >= b,
};

async function take(t: Tensor): Promise<number[]> {
  const v = Array.from(await t.toArray());
  t.dispose();
  return v;
}

const backends: [string, () => Promise<Backend>][] = [['cpu', async () => cpu], ['webgpu', webgpu]];

describe.each(backends)('comparisons on %s', (_, backendOf) => {
  it('hand values with NaN, ±Inf and ±0: false with NaN except ne, as PyTorch', async () => {
    const backend = await backendOf();
    const a = fromArray([NaN, NaN, 1, Infinity, -Infinity, 0, -0, Infinity, -Infinity, 2], [10], { backend });
    const b = fromArray([NaN, 1, NaN, Infinity, -Infinity, -0, 0, 3, 3, 2], [10], { backend });
    const want: Record<ComparisonName, number[]> = {
      eq: [0, 0, 0, 1, 1, 1, 1, 0, 0, 1],
      ne: [1, 1, 1, 0, 0, 0, 0, 1, 1, 0],
      lt: [0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
      le: [0, 0, 0, 1, 1, 1, 1, 0, 1, 1],
      gt: [0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
      ge: [0, 0, 0, 1, 1, 1, 1, 1, 0, 1],
    };
    for (const name of names) {
      const y = comparisons[name](a, b);
      expect(y.dtype, name).toBe('float32');
      expect(await take(y), name).toEqual(want[name]);
      expect(await take(a[name](b)), `${name} method`).toEqual(want[name]);
    }
    // a number operand: NaN is false for all but ne, ±Infinity compares as a value
    expect(await take(a.eq(NaN))).toEqual(Array(10).fill(0));
    expect(await take(a.ne(NaN))).toEqual(Array(10).fill(1));
    expect(await take(a.lt(Infinity))).toEqual([0, 0, 1, 0, 1, 1, 1, 0, 1, 1]);
    expect(await take(a.ge(-Infinity))).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    dispose([a, b]);
  });

  it('numbers and tensors broadcast; a number is compared in the tensor\'s dtype (float32 rounding, as PyTorch)', async () => {
    const backend = await backendOf();
    const x = fromArray([1, 2, 3, 4, 5, 6], [2, 1, 3], { backend });
    const t = fromArray([2, 5], [2, 1], { backend });
    const y = gt(x, t);
    expect(y.shape).toEqual([2, 2, 3]);
    expect(await take(y)).toEqual([0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1]);
    expect(await take(x.le(3))).toEqual([1, 1, 1, 0, 0, 0]);
    const tenth = fromArray([0.1], [1], { backend });
    expect(await take(tenth.eq(0.1))).toEqual([1]);
    dispose([x, t, tenth]);
  });

  it('an int32 tensor: an int32 result, compared exactly with fractional, huge, infinite and NaN numbers', async () => {
    const backend = await backendOf();
    const values = [-2147483648, -5, -1, 0, 1, 2, 3, 2147483647];
    const x = fromArray(Int32Array.from(values), [values.length], { backend });
    for (const c of [0.5, -0.5, 2.5, -1.0000001, 3, 1e20, -1e20, 2 ** 31, -(2 ** 31) - 0.5, Infinity, -Infinity, NaN]) {
      for (const name of names) {
        const y = x[name](c);
        expect(y.dtype).toBe('int32');
        expect(await take(y), `${name}(${c})`).toEqual(values.map((v) => (oracle[name](v, c) ? 1 : 0)));
      }
    }
    x.dispose();
  });

  it('logicalNot/And/Or/Xor: nonzero (NaN included) is true, with broadcasting and mixed dtypes', async () => {
    const backend = await backendOf();
    const a = fromArray([0, 1, NaN, -2], [4], { backend });
    const b = fromArray(Int32Array.from([0, 7]), [2, 1], { backend });
    expect(await take(logicalNot(a))).toEqual([1, 0, 0, 0]);
    const and = logicalAnd(a, b);
    expect([and.dtype, and.shape]).toEqual(['float32', [2, 4]]);
    expect(await take(and)).toEqual([0, 0, 0, 0, 0, 1, 1, 1]);
    expect(await take(logicalOr(a, b))).toEqual([0, 1, 1, 1, 1, 1, 1, 1]);
    expect(await take(logicalXor(a, b))).toEqual([0, 1, 1, 1, 1, 0, 0, 0]);
    expect(await take(b.logicalAnd(a))).toEqual([0, 0, 0, 0, 0, 1, 1, 1]);
    expect(await take(a.logicalNot())).toEqual([1, 0, 0, 0]);
    dispose([a, b]);
  });
});

describe('comparisons: webgpu against the cpu on random shapes', () => {
  /** values with ties, NaN and ±Inf: small integers, a few of them replaced */
  const specials = [NaN, Infinity, -Infinity];
  const data = (n: number, seed: number) => Float32Array.from(randomArray(n, seed, -3, 4),
    (v, i) => ((seed + i * 7) % 11 === 0 ? specials[i % 3] : Math.floor(v)));
  const dimArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 });

  it('every comparison with a broadcast tensor or a number operand gives the same 0/1', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(...names), dimArb, fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.integer({ min: 1 }),
      fc.constantFrom<number | null>(null, 0, 1.5, -2, NaN, Infinity),
      async (name, shape, broadcastAxes, seed, number) => {
        const other = shape.map((d, i) => (broadcastAxes[i] ? 1 : d)).slice(broadcastAxes[3] ? 1 : 0);
        const av = data(shape.reduce((p, d) => p * d, 1), seed), bv = data(other.reduce((p, d) => p * d, 1), seed + 1);
        const results = [];
        for (const backend of [cpu, g]) {
          const a = fromArray(av, shape, { backend }), b = fromArray(bv, other, { backend });
          results.push(await take(number === null ? comparisons[name](a, b) : comparisons[name](a, number)));
          dispose([a, b]);
        }
        expect(results[1], `${name} ${JSON.stringify(shape)} vs ${number ?? JSON.stringify(other)}`).toEqual(results[0]);
      }), propertyOptions(40));
  });
});

describe('comparisons have no gradient', () => {
  it('the result never requires grad; a mask built from them passes gradients through where only', async () => {
    const x = fromArray([-1, 2, 0, 3], [4], { backend: cpu, dtype: 'float64', requiresGrad: true });
    const before = memory(cpu).liveTensors;
    for (const name of names) {
      const y = x[name](0);
      expect([y.requiresGrad, y.gradNode], name).toEqual([false, null]);
      y.dispose();
    }
    expect(memory(cpu).liveTensors).toBe(before);
    const z = zeros([4], { backend: cpu, dtype: 'float64' });
    const masked = tidy(() => where(x.gt(0), x, z).sum());
    backward(masked);
    expect(Array.from(await x.grad!.toArray())).toEqual([0, 1, 0, 1]);
    const r = relu(x);
    expect(await take(tidy(() => where(x.gt(0), x, z)))).toEqual(await take(r));
    dispose([x, z, masked]);
  });

  it('float32 against float64 promotes to float64, as the other elementwise ops', async () => {
    const a = fromArray([1, 2], [2], { backend: cpu });
    const b = fromArray([1, 3], [2], { backend: cpu, dtype: 'float64' });
    const y = lt(a, b);
    expect(y.dtype).toBe('float64');
    expect(await take(y)).toEqual([0, 1]);
    const ints = fromArray(Int32Array.from([1, 2]), [2], { backend: cpu });
    expect(() => eq(a, ints)).toThrow(/dtypes differ/);
    dispose([a, b, ints]);
  });
});
