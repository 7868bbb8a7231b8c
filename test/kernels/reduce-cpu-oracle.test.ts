import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DType, ReduceOp, View } from '../../src/kernels/index.js';
import { typedArrayFor } from '../../src/kernels/backend.js';
import { cpu } from '../helpers/backends.js';
import { layoutArb, place } from '../helpers/layouts.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * The cpu reduce and argmax oracle (src/kernels/reduce/cpu.ts) on its own: reduce.test.ts only compares WebGPU with
 * it. Hand-worked cases (strided views at an offset, NaN, empty reductions, int32 wrapping) and, on random strided
 * views, a reference that walks every element of the view in C order and files it under its output position
 * (the oracle instead enumerates the kept and the reduced offsets separately). The values are small integers, so
 * every sum is exact in any order and the comparisons are exact.
 */

const viewOf = (values: number[], dtype: DType, shape: number[], strides: number[], offset = 0): View => {
  const data = typedArrayFor(dtype, values.length);
  data.set(values);
  return { storage: cpu.upload(data, dtype), shape, strides, offset };
};
const f64 = (values: number[], shape: number[], strides: number[], offset = 0) => viewOf(values, 'float64', shape, strides, offset);
const read = async (s: Parameters<typeof cpu.read>[0]) => Array.from(await cpu.read(s));

describe('cpu reduce by hand', () => {
  // [[1, 5, −2], [4, −3, 0]]
  const m = f64([1, 5, -2, 4, -3, 0], [2, 3], [3, 1]);

  it('sum, max and min over each axis, both and none', async () => {
    expect(await read(cpu.reduce('sum', m, [1]))).toEqual([4, 1]);
    expect(await read(cpu.reduce('sum', m, [0]))).toEqual([5, 2, -2]);
    expect(await read(cpu.reduce('max', m, [1]))).toEqual([5, 4]);
    expect(await read(cpu.reduce('max', m, [0]))).toEqual([4, 5, 0]);
    expect(await read(cpu.reduce('min', m, [1]))).toEqual([-2, -3]);
    expect(await read(cpu.reduce('min', m, [0]))).toEqual([1, -3, -2]);
    expect(await read(cpu.reduce('sum', m, [0, 1]))).toEqual([5]);
    expect(await read(cpu.reduce('max', m, [1, 0]))).toEqual([5]);
    expect(await read(cpu.reduce('min', m, []))).toEqual([1, 5, -2, 4, -3, 0]);
  });

  it('a transposed view at an offset: element (i, j) at 2 + i + 4j', async () => {
    // storage 0…11; view [3, 2] = [[2, 6], [3, 7], [4, 8]]
    const v = f64(Array.from({ length: 12 }, (_, i) => i), [3, 2], [1, 4], 2);
    expect(await read(cpu.reduce('sum', v, [1]))).toEqual([8, 10, 12]);
    expect(await read(cpu.reduce('sum', v, [0]))).toEqual([9, 21]);
    expect(await read(cpu.reduce('max', v, [0]))).toEqual([4, 8]);
    expect(await read(cpu.reduce('min', v, [1]))).toEqual([2, 3, 4]);
    expect(await read(cpu.argmax(v, 0))).toEqual([2, 2]);
    expect(await read(cpu.argmax(v, 1))).toEqual([1, 1, 1]);
  });

  it('max and min are NaN where the reduced elements hold a NaN, wherever it sits', async () => {
    const v = f64([NaN, 1, 2, 3, NaN, 5, 6, 7, NaN, 1, 2, 3], [4, 3], [3, 1]);
    for (const op of ['max', 'min'] as const) {
      expect(await read(cpu.reduce(op, v, [1]))).toEqual([NaN, NaN, NaN, op === 'max' ? 3 : 1]);
      expect(await read(cpu.reduce(op, v, [0]))).toEqual([NaN, NaN, NaN]);
    }
    expect(await read(cpu.reduce('sum', v, [1]))).toEqual([NaN, NaN, NaN, 6]);
  });

  it('an empty reduction gives 0, −Inf and +Inf', async () => {
    const e = f64([], [3, 0], [0, 1]);
    expect(await read(cpu.reduce('sum', e, [1]))).toEqual([0, 0, 0]);
    expect(await read(cpu.reduce('max', e, [1]))).toEqual([-Infinity, -Infinity, -Infinity]);
    expect(await read(cpu.reduce('min', e, [1]))).toEqual([Infinity, Infinity, Infinity]);
  });

  it('keeps the dtype: int32 sums wrap, float32 sums round once', async () => {
    const i = viewOf([2 ** 31 - 1, 1, -5, 2], 'int32', [2, 2], [2, 1]);
    const s = cpu.reduce('sum', i, [1]);
    expect(s.dtype).toBe('int32');
    expect(await read(s)).toEqual([-(2 ** 31), -3]);
    // 1 + 2^−24 + 2^−24 in float64 is 1 + 2^−23, a float32; summed in float32 it would stay 1
    const f = viewOf([1, 2 ** -24, 2 ** -24], 'float32', [3], [1]);
    expect(await read(cpu.reduce('sum', f, [0]))).toEqual([1 + 2 ** -23]);
  });
});

describe('cpu argmax by hand', () => {
  it('the first index on ties, the first NaN wins over everything, a lone element is index 0', async () => {
    // rows: ties at 1 and 3; NaN at 2 before a larger 10; NaN first; NaN at 1 and 3; −Inf only
    const v = f64([1, 4, 2, 4, 9, 0, NaN, 10, NaN, 1, 1, 1, 3, NaN, 1, NaN, -Infinity, -Infinity, -Infinity, -Infinity], [5, 4], [4, 1]);
    expect(await read(cpu.argmax(v, 1))).toEqual([1, 2, 0, 1, 0]);
    const s = cpu.argmax(f64([7, 8, 9], [3, 1], [1, 1]), 1);
    expect(s.dtype).toBe('int32');
    expect(await read(s)).toEqual([0, 0, 0]);
  });

  it('along the first axis of a matrix', async () => {
    // [[3, 1], [5, 1], [5, 2]]: column 0 ties at rows 1 and 2, column 1 rises
    expect(await read(cpu.argmax(f64([3, 1, 5, 1, 5, 2], [3, 2], [2, 1]), 0))).toEqual([1, 2]);
  });
});

/** every element of the view in C order, filed under its output (kept axes in order); NaN-propagating max/min */
function reference(op: ReduceOp, values: ArrayLike<number>, v: View, axes: number[]): number[] {
  const keptShape = v.shape.filter((_, d) => !axes.includes(d));
  const size = keptShape.reduce((p, q) => p * q, 1);
  const out = new Array<number>(size).fill(op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity);
  const total = v.shape.reduce((p, q) => p * q, 1);
  for (let flat = 0; flat < total; flat++) {
    let rest = flat, at = v.offset, o = 0, scale = 1;
    for (let d = v.shape.length - 1; d >= 0; d--) {
      const i = rest % v.shape[d];
      rest = Math.floor(rest / v.shape[d]);
      at += i * v.strides[d];
      if (!axes.includes(d)) { o += i * scale; scale *= v.shape[d]; }
    }
    const x = values[at];
    out[o] = op === 'sum' ? out[o] + x : Number.isNaN(x) || Number.isNaN(out[o]) ? NaN : op === 'max' ? (x > out[o] ? x : out[o]) : (x < out[o] ? x : out[o]);
  }
  return out;
}

function argmaxReference(values: ArrayLike<number>, v: View, axis: number): number[] {
  const out: number[] = [];
  const kept = v.shape.map((_, d) => d).filter((d) => d !== axis);
  const size = kept.reduce((p, d) => p * v.shape[d], 1);
  for (let o = 0; o < size; o++) {
    let rest = o, base = v.offset;
    for (let k = kept.length - 1; k >= 0; k--) {
      const d = kept[k];
      base += (rest % v.shape[d]) * v.strides[d];
      rest = Math.floor(rest / v.shape[d]);
    }
    const line = Array.from({ length: v.shape[axis] }, (_, i) => values[base + i * v.strides[axis]]);
    const firstNaN = line.findIndex((x) => Number.isNaN(x));
    out.push(firstNaN >= 0 ? firstNaN : line.indexOf(Math.max(...line)));
  }
  return out;
}

const caseArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }).chain((shape) => fc.record({
  shape: fc.constant(shape), layout: layoutArb(shape.length), axes: fc.shuffledSubarray([...shape.keys()]),
  dtype: fc.constantFrom<DType>('float32', 'float64', 'int32'), nan: fc.boolean(), seed: fc.integer({ min: 1, max: 1 << 30 }),
}));

describe('cpu reduce and argmax on random strided views against a C-order walk', () => {
  it('sum, max, min over random axis lists (any order), argmax along every axis', async () => {
    await fc.assert(fc.asyncProperty(caseArb, async (c) => {
      const { strides, length } = place(c.shape, c.layout);
      // small integers with ties; a few NaN in float storage
      let s = c.seed;
      const values = Array.from({ length }, () => {
        s = (s * 1103515245 + 12345) % 2 ** 31;
        return c.nan && c.dtype !== 'int32' && s % 11 === 0 ? NaN : (s % 13) - 6;
      });
      const v = viewOf(values, c.dtype, c.shape, strides, c.layout.offset);
      const label = JSON.stringify(c);
      for (const op of ['sum', 'max', 'min'] as const) {
        const got = cpu.reduce(op, v, c.axes);
        expect(got.dtype, label).toBe(c.dtype);
        expect(await read(got), `${op} ${label}`).toEqual(reference(op, values, v, c.axes));
      }
      for (let axis = 0; axis < c.shape.length; axis++) {
        expect(await read(cpu.argmax(v, axis)), `argmax ${axis} ${label}`).toEqual(argmaxReference(values, v, axis));
      }
    }), propertyOptions(150));
  });
});
