import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DType } from '../../src/kernels/index.js';
import { uniformAt } from '../../src/kernels/random.js';
import { cpu, webgpu } from '../helpers/backends.js';

const shapeArb = fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 });

describe('webgpu dropout mask', () => {
  it('equals the cpu oracle bit for bit (any shape, p, seed, channelwise, dtype)', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      shapeArb, fc.oneof(fc.constantFrom(0, 0.1, 0.5, 0.9, 1), fc.double({ min: 0, max: 1, noNaN: true })),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.boolean(), fc.constantFrom<DType>('float32', 'int32'),
      async (shape, p, seed, channelwise, dtype) => {
        const got = await g.read(g.dropoutMask(shape, p, seed, channelwise, dtype));
        const want = await cpu.read(cpu.dropoutMask(shape, p, seed, channelwise, dtype));
        expect(got.constructor).toBe(want.constructor);
        expect(Array.from(got)).toEqual(Array.from(want));
      }), { numRuns: 60 });
  });

  it('an element whose draw equals p exactly is kept, one just above p dropped, as in the oracle', async () => {
    const g = await webgpu();
    const seed = 1234, n = 64;
    for (let c = 0; c < n; c++) {
      const u = uniformAt(seed, c);
      for (const p of [u, u + 1e-12, u - 1e-12]) {
        const got = await g.read(g.dropoutMask([n], p, seed, false, 'float32'));
        const want = await cpu.read(cpu.dropoutMask([n], p, seed, false, 'float32'));
        expect(got[c] !== 0).toBe(u >= p);
        expect(Array.from(got)).toEqual(Array.from(want));
      }
      if (c >= 3) break;
    }
  });

  it('p = 0.5 over 10⁵ elements: values 0 or 2, mean close to 1; channelwise masks are constant per (n, c)', async () => {
    const g = await webgpu();
    const m = await g.read(g.dropoutMask([4, 5, 5000], 0.5, 99, false, 'float32'));
    let sum = 0;
    for (const v of m) { expect(v === 0 || v === 2).toBe(true); sum += v; }
    expect(Math.abs(sum / m.length - 1)).toBeLessThan(0.02);
    const cw = await g.read(g.dropoutMask([4, 50, 500], 0.5, 7, true, 'float32'));
    let kept = 0;
    for (let nc = 0; nc < 200; nc++) {
      const first = cw[nc * 500];
      for (let i = 1; i < 500; i++) expect(cw[nc * 500 + i]).toBe(first);
      if (first !== 0) kept++;
    }
    expect(kept).toBeGreaterThan(70);
    expect(kept).toBeLessThan(130);
    // p = 0 keeps everything at scale 1, p = 1 drops everything; another seed gives another mask
    expect(Array.from(await g.read(g.dropoutMask([3, 3], 0, 1, false, 'float32')))).toEqual(new Array(9).fill(1));
    expect(Array.from(await g.read(g.dropoutMask([3, 3], 1, 1, false, 'float32')))).toEqual(new Array(9).fill(0));
    const other = await g.read(g.dropoutMask([4, 5, 5000], 0.5, 100, false, 'float32'));
    expect(Array.from(other)).not.toEqual(Array.from(m));
  });
});
