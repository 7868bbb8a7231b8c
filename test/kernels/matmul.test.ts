import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, DType, WebGPUBackend } from '../../src/kernels/index.js';
import { matmul, matmulTiling, type Tiling } from '../../src/kernels/matmul/webgpu.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

interface Case { batch: number; m: number; k: number; n: number; broadcastA: boolean; broadcastB: boolean; seed: number }

async function check(g: Backend, c: Case, dtype: DType = 'float32', tiling?: Tiling): Promise<void> {
  const { batch, m, k, n, broadcastA, broadcastB, seed } = c;
  const aLen = (broadcastA ? 1 : batch) * m * k, bLen = (broadcastB ? 1 : batch) * k * n;
  const toType = (v: Float32Array) => (dtype === 'int32' ? Int32Array.from(v, (x) => Math.round(4 * x)) : v);
  const A = toType(randomArray(aLen, seed)), B = toType(randomArray(bLen, seed + 1));
  const sa = broadcastA ? 0 : m * k, sb = broadcastB ? 0 : k * n;
  const ga = g.upload(A, dtype), gb = g.upload(B, dtype), ca = cpu.upload(A, dtype), cb = cpu.upload(B, dtype);
  const got = tiling ? matmul((g as WebGPUBackend).rt, ga, gb, batch, m, k, n, sa, sb, tiling) : g.matmul(ga, gb, batch, m, k, n, sa, sb);
  const want = cpu.matmul(ca, cb, batch, m, k, n, sa, sb);
  const a = await g.read(got), e = await cpu.read(want);
  for (const s of [ga, gb, got]) g.free(s);
  for (const s of [ca, cb, want]) cpu.free(s);
  expect(a.length).toBe(batch * m * n);
  // |products| ≤ 1: f32 sums in a different order differ by a few ulps of k
  expectClose(a, e, dtype === 'int32' ? 0 : 1e-6 * k + 1e-6, dtype === 'int32' ? 0 : 1e-5, `matmul ${JSON.stringify(c)}`);
}

/** sizes around the tile edges (4, 16, 64) as well as arbitrary ones */
const dim = fc.oneof(fc.integer({ min: 1, max: 70 }), fc.constantFrom(1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 129));
const caseArb = fc.record({
  batch: fc.integer({ min: 1, max: 3 }), m: dim, k: dim, n: dim,
  broadcastA: fc.boolean(), broadcastB: fc.boolean(), seed: fc.integer({ min: 1 }),
});

describe('webgpu matmul against the cpu oracle', () => {
  it('random sizes (edges of any size), broadcast batches', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(caseArb, async (c) => { await check(g, c); }), { numRuns: 40 });
  });

  it('int32', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(caseArb, async (c) => { await check(g, c, 'int32'); }), { numRuns: 8 });
  });

  it('the 128×128 tiling (8×8 per invocation, BK 16) on ragged sizes and a broadcast operand', async () => {
    const g = await webgpu();
    const big: Case[] = [
      { batch: 3, m: 1201, k: 9, n: 1155, broadcastA: false, broadcastB: true, seed: 3 },
      { batch: 1, m: 2176, k: 21, n: 2050, broadcastA: false, broadcastB: false, seed: 4 },
    ];
    for (const c of big) {
      expect(matmulTiling(c.batch, c.m, c.n)).toBe('large');
      await check(g, c);
    }
    expect(matmulTiling(1, 256, 256)).toBe('small');
  });

  it('other tilings (deeper k steps, rectangular tiles) are right too', async () => {
    const g = await webgpu();
    const tilings: Tiling[] = [{ tm: 8, tn: 8, bk: 8 }, { tm: 4, tn: 4, bk: 32 }, { tm: 8, tn: 4, bk: 16 }, { tm: 4, tn: 8, bk: 16 }];
    await fc.assert(fc.asyncProperty(caseArb, fc.constantFrom(...tilings), async (c, t) => { await check(g, c, 'float32', t); }), { numRuns: 12 });
  });

  it('a known product and the degenerate sizes', async () => {
    const g = await webgpu();
    // [[1,2,3],[4,5,6]] · [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
    const a = g.upload(Float32Array.from([1, 2, 3, 4, 5, 6]), 'float32'), b = g.upload(Float32Array.from([7, 8, 9, 10, 11, 12]), 'float32');
    expect(Array.from(await g.read(g.matmul(a, b, 1, 2, 3, 2, 6, 6)))).toEqual([58, 64, 139, 154]);
    // k = 0: zeros
    expect(Array.from(await g.read(g.matmul(a, b, 2, 2, 0, 3, 0, 0)))).toEqual(new Array(12).fill(0));
    expect((await g.read(g.matmul(a, b, 1, 0, 3, 2, 0, 6))).length).toBe(0);
  });
});
