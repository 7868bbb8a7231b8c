import { describe, expect, it } from 'vitest';
import { cpu } from '../helpers/backends.js';

/**
 * The cpu gather, scatterAdd and oneHot (the oracle of the WebGPU kernels, and the class pick of crossEntropy and
 * nllLoss on the cpu backend) against their definitions, and their own wording of an index out of range (found by
 * mutation testing, stryker.config.mjs).
 */

describe('the cpu gather, scatterAdd and oneHot', () => {
  const ints = (v: number[]) => cpu.upload(Int32Array.from(v), 'int32');
  const floats = (v: number[]) => cpu.upload(Float32Array.from(v), 'float32');

  it('gather and scatterAdd along the last axis of [2, 3] (every outer row), against their definition', async () => {
    const x = floats([10, 11, 12, 20, 21, 22]), index = ints([2, 0, 1, 1]);
    // out[o][i] = x[o][index[o][i]]
    expect(Array.from(await cpu.read(cpu.gather(x, [2, 3], 1, index, [2, 2])))).toEqual([12, 10, 21, 21]);
    // out[o][index[o][i]] += src[o][i]
    expect(Array.from(await cpu.read(cpu.scatterAdd(floats([1, 2, 3, 4]), [2, 2], 1, index, [2, 3])))).toEqual([2, 0, 1, 0, 7, 0]);
  });

  it('an index out of range is named by the op, the bound, the axis and the element', () => {
    const x = floats([1, 2, 3, 4, 5, 6]);
    expect(() => cpu.gather(x, [2, 3], 1, ints([0, 3]), [2, 1])).toThrow('gather: index 3 out of range [0, 3) along axis 1 at element 1 of the index');
    expect(() => cpu.scatterAdd(floats([1, 1]), [2, 1], 1, ints([-1, 0]), [2, 3])).toThrow('scatterAdd: index -1 out of range [0, 3) along axis 1 at element 0 of the index');
  });

  it('oneHot: int32 rows of one 1; indices outside [0, C) and bad arguments refused by name', async () => {
    const out = cpu.oneHot(ints([2, 0]), 2, 3);
    expect(out.dtype).toBe('int32');
    expect(Array.from(await cpu.read(out))).toEqual([0, 0, 1, 1, 0, 0]);
    expect(() => cpu.oneHot(ints([0, 3]), 2, 3)).toThrow('oneHot: index 3 out of range [0, 3) at element 1 of the index');
    expect(() => cpu.oneHot(ints([-1]), 1, 3)).toThrow('oneHot: index -1 out of range [0, 3) at element 0 of the index');
    expect(() => cpu.oneHot(ints([0]), 1, 0)).toThrow('oneHot: numClasses must be a positive integer, got 0');
  });
});
