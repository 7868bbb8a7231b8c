import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DType } from '../../src/kernels/index.js';
import { typedArrayFor } from '../../src/kernels/backend.js';
import { cpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * The cpu matmul oracle (src/kernels/matmul/cpu.ts) on its own: matmul.test.ts compares WebGPU with it. Products
 * worked by hand (batches with their own and with broadcast operands, batch strides past the matrix, one rounding
 * per output element, int32 wrapping) and, on random sizes, each output as the dot product of a row of A and a
 * column of B taken from the storages here; the values are small integers, so the sums are exact.
 */

const up = (values: readonly number[], dtype: DType = 'float64') => { const a = typedArrayFor(dtype, values.length); a.set(values); return cpu.upload(a, dtype); };
const read = async (s: Parameters<typeof cpu.read>[0]) => Array.from(await cpu.read(s));

describe('cpu matmul by hand', () => {
  it('a known product, [2, 3]·[3, 2]', async () => {
    // [[1, 2, 3], [4, 5, 6]]·[[7, 8], [9, 10], [11, 12]] = [[58, 64], [139, 154]]
    expect(await read(cpu.matmul(up([1, 2, 3, 4, 5, 6]), up([7, 8, 9, 10, 11, 12]), 1, 2, 3, 2, 6, 6))).toEqual([58, 64, 139, 154]);
    // and [3, 2]·[2, 3] of the same storages: [[1, 2], [3, 4], [5, 6]]·[[7, 8, 9], [10, 11, 12]]
    expect(await read(cpu.matmul(up([1, 2, 3, 4, 5, 6]), up([7, 8, 9, 10, 11, 12]), 1, 3, 2, 3, 6, 6)))
      .toEqual([27, 30, 33, 61, 68, 75, 95, 106, 117]);
  });

  it('batches: each its own A and B, a broadcast A (stride 0), batch strides past the matrix', async () => {
    // batch 0: [1, 2]·[[1], [1]] = 3; batch 1: [3, 4]·[[2], [−1]] = 2
    expect(await read(cpu.matmul(up([1, 2, 3, 4]), up([1, 1, 2, -1]), 2, 1, 2, 1, 2, 2))).toEqual([3, 2]);
    // A = [1, 2] for both batches
    expect(await read(cpu.matmul(up([1, 2]), up([1, 1, 2, -1]), 2, 1, 2, 1, 0, 2))).toEqual([3, 0]);
    // B = [[1], [1]] for both
    expect(await read(cpu.matmul(up([1, 2, 3, 4]), up([1, 1]), 2, 1, 2, 1, 2, 0))).toEqual([3, 7]);
    // batch strides 3 and 4: A's batches at 0 and 3 (9 skipped), B's at 0 and 4 (two skipped)
    expect(await read(cpu.matmul(up([1, 2, 9, 3, 4]), up([1, 1, 9, 9, 2, -1]), 2, 1, 2, 1, 3, 4))).toEqual([3, 2]);
    // m = 2 rows in the second batch read rows 2 and 3 of A: [[5, 6], [7, 8]]·[[1, 0], [0, 1]]
    expect(await read(cpu.matmul(up([1, 2, 3, 4, 5, 6, 7, 8]), up([1, 0, 0, 1]), 2, 2, 2, 2, 4, 0))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('k = 0 gives zeros; m = 0 or n = 0 nothing', async () => {
    expect(await read(cpu.matmul(up([]), up([]), 2, 2, 0, 3, 0, 0))).toEqual(new Array(12).fill(0));
    expect((await read(cpu.matmul(up([1]), up([1]), 1, 0, 1, 2, 0, 0))).length).toBe(0);
  });

  it('sums in float64 and rounds each output to the dtype once; int32 wraps', async () => {
    // 1 + 2^−24 + 2^−24 = 1 + 2^−23 exactly (a float32); summed in float32 it would stay 1
    const c = cpu.matmul(up([1, 1, 1], 'float32'), up([1, 2 ** -24, 2 ** -24], 'float32'), 1, 1, 3, 1, 3, 3);
    expect(c.dtype).toBe('float32');
    expect(await read(c)).toEqual([1 + 2 ** -23]);
    const i = cpu.matmul(up([2 ** 30, 2 ** 30], 'int32'), up([1, 1], 'int32'), 1, 1, 2, 1, 2, 2);
    expect(i.dtype).toBe('int32');
    expect(await read(i)).toEqual([-(2 ** 31)]);
  });
});

const caseArb = fc.record({
  batch: fc.integer({ min: 1, max: 3 }), m: fc.integer({ min: 1, max: 6 }), k: fc.integer({ min: 1, max: 6 }), n: fc.integer({ min: 1, max: 6 }),
  padA: fc.nat(3), padB: fc.nat(3), broadcastA: fc.boolean(), broadcastB: fc.boolean(), seed: fc.integer({ min: 1, max: 1 << 30 }),
});

describe('cpu matmul on random sizes against row·column dot products', () => {
  it('every output of every batch', async () => {
    await fc.assert(fc.asyncProperty(caseArb, async (c) => {
      const sa = c.broadcastA ? 0 : c.m * c.k + c.padA, sb = c.broadcastB ? 0 : c.k * c.n + c.padB;
      let s = c.seed;
      const values = (n: number) => Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) % 2 ** 31; return (s % 19) - 9; });
      const A = values(sa * (c.batch - 1) + c.m * c.k), B = values(sb * (c.batch - 1) + c.k * c.n);
      const want: number[] = [];
      for (let t = 0; t < c.batch; t++) {
        for (let i = 0; i < c.m; i++) {
          const row = A.slice(t * sa + i * c.k, t * sa + (i + 1) * c.k);
          for (let j = 0; j < c.n; j++) {
            const column = row.map((_, p) => B[t * sb + p * c.n + j]);
            want.push(row.reduce((acc, a, p) => acc + a * column[p], 0));
          }
        }
      }
      expect(await read(cpu.matmul(up(A), up(B), c.batch, c.m, c.k, c.n, sa, sb)), JSON.stringify(c)).toEqual(want);
    }), propertyOptions(150));
  });
});
