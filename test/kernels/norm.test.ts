import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, ChannelAffineTerms, ChannelLayout, Storage } from '../../src/kernels/index.js';
import { benchmarks, channelChunks } from '../../src/kernels/webgpu/norm.js';
import { cpu, expectClose, randomArray, runSmallBenchmarks, webgpu } from '../helpers/backends.js';

/**
 * The normalisation kernels (moments, channelSums, channelAffine) on WebGPU against the cpu oracle: random
 * [outer, channels, inner] layouts, every combination of channelAffine's optional terms, the chunked two-dispatch
 * path of the reductions, and statistics of data whose mean is far larger than its spread.
 */

const layoutArb = fc.record({
  outer: fc.integer({ min: 1, max: 3 }), channels: fc.integer({ min: 1, max: 5 }), inner: fc.integer({ min: 1, max: 40 }),
});

const sizeOf = (l: ChannelLayout) => l.outer * l.channels * l.inner;

/** the same float32 data on both backends */
function both(g: Backend, data: Float32Array): { gpu: Storage; cpu: Storage; free(): void } {
  const gs = g.upload(data, 'float32'), cs = cpu.upload(data, 'float32');
  return { gpu: gs, cpu: cs, free() { g.free(gs); cpu.free(cs); } };
}

async function compare(g: Backend, gs: Storage, cs: Storage, atol: number, rtol: number, what: string): Promise<void> {
  const [a, e] = [await g.read(gs), await cpu.read(cs)];
  g.free(gs); cpu.free(cs);
  expectClose(a, e, atol, rtol, what);
}

async function checkMoments(g: Backend, data: Float32Array, layout: ChannelLayout, rtol: number, what: string): Promise<void> {
  const x = both(g, data);
  const got = g.moments(x.gpu, layout), want = cpu.moments(x.cpu, layout);
  const spread = Math.max(...data.map(Math.abs));
  await compare(g, got.mean, want.mean, 1e-6 * spread, rtol, `${what} mean`);
  await compare(g, got.variance, want.variance, 1e-6 * spread, rtol, `${what} variance`);
  x.free();
}

describe('webgpu normalisation kernels against the cpu oracle', () => {
  it('moments on random layouts', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(layoutArb, fc.integer({ min: 1 }), fc.double({ min: -3, max: 3, noNaN: true }),
      async (layout, seed, offset) => {
        const data = randomArray(sizeOf(layout), seed, offset - 1, offset + 1);
        await checkMoments(g, data, layout, 1e-4, `moments ${JSON.stringify(layout)}`);
      }), { numRuns: 40 });
  });

  it('channelSums on random layouts', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(layoutArb, fc.integer({ min: 1 }), async (layout, seed) => {
      const n = sizeOf(layout);
      const u = both(g, randomArray(n, seed, -1, 1)), v = both(g, randomArray(n, seed + 1, -2, 2));
      const m = both(g, randomArray(layout.channels, seed + 2, -1, 1));
      const got = g.channelSums(u.gpu, v.gpu, m.gpu, layout), want = cpu.channelSums(u.cpu, v.cpu, m.cpu, layout);
      const atol = 1e-5 * layout.outer * layout.inner;
      await compare(g, got.sum, want.sum, atol, 1e-5, 'Σu');
      await compare(g, got.dot, want.dot, atol, 1e-5, 'Σu·(v − m)');
      for (const s of [u, v, m]) s.free();
    }), { numRuns: 40 });
  });

  it('channelAffine with every combination of its optional terms', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(layoutArb, fc.integer({ min: 1 }), fc.boolean(), fc.boolean(), fc.boolean(),
      async (layout, seed, withM, withV, withC) => {
        const n = sizeOf(layout), k = layout.channels;
        const u = both(g, randomArray(n, seed, -2, 2)), v = both(g, randomArray(n, seed + 1, -2, 2));
        const terms = [1, 2, 3, 4].map((i) => both(g, randomArray(k, seed + 2 + i, -1.5, 1.5)));
        const pick = (side: 'gpu' | 'cpu'): ChannelAffineTerms => ({
          a: terms[0][side], m: withM ? terms[1][side] : null, b: withV ? terms[2][side] : null, c: withC ? terms[3][side] : null,
        });
        const got = g.channelAffine(u.gpu, withV ? v.gpu : null, pick('gpu'), layout);
        const want = cpu.channelAffine(u.cpu, withV ? v.cpu : null, pick('cpu'), layout);
        await compare(g, got, want, 1e-5, 1e-5, `channelAffine ${JSON.stringify(layout)} m ${withM} v ${withV} c ${withC}`);
        for (const s of [u, v, ...terms]) s.free();
      }), { numRuns: 40 });
  });

  it('long channels take the chunked two-dispatch path and stay right', async () => {
    const g = await webgpu();
    const layout = { outer: 2, channels: 3, inner: 16 * 16 * 40 + 7 };
    expect(channelChunks(layout.channels, layout.outer * layout.inner).chunks).toBeGreaterThan(1);
    expect(channelChunks(64, 100).chunks).toBe(1);
    const n = sizeOf(layout);
    await checkMoments(g, randomArray(n, 5, -1, 3), layout, 1e-4, 'chunked moments');
    const u = both(g, randomArray(n, 6, -1, 1)), v = both(g, randomArray(n, 7, -1, 1)), m = both(g, Float32Array.from([0.1, -0.2, 0.3]));
    const got = g.channelSums(u.gpu, v.gpu, m.gpu, layout), want = cpu.channelSums(u.cpu, v.cpu, m.cpu, layout);
    await compare(g, got.sum, want.sum, 1e-2, 1e-5, 'chunked Σu');
    await compare(g, got.dot, want.dot, 1e-2, 1e-5, 'chunked Σu·(v − m)');
    for (const s of [u, v, m]) s.free();
  });

  it('the variance of data with mean 1000 and spread 1 keeps its digits (no E[x²] − E[x]² cancellation)', async () => {
    const g = await webgpu();
    // E[x²] − E[x]² in float32 would lose about ε·10⁶ ≈ 0.06 of a variance of 1/3
    for (const layout of [{ outer: 2, channels: 2, inner: 300 }, { outer: 2, channels: 2, inner: 20000 }]) {
      const data = randomArray(sizeOf(layout), 11, 999, 1001);
      const x = both(g, data);
      const got = g.moments(x.gpu, layout), want = cpu.moments(x.cpu, layout);
      await compare(g, got.variance, want.variance, 0, 1e-4, `variance ${JSON.stringify(layout)}`);
      await compare(g, got.mean, want.mean, 0, 1e-6, `mean ${JSON.stringify(layout)}`);
      x.free();
    }
  });

  it('rejects operands that do not fill the layout, mixed dtypes and a lone v or b, on both backends', async () => {
    const g = await webgpu();
    for (const b of [cpu, g]) {
      const x = b.fill(12, 1, 'float32'), k = b.fill(3, 1, 'float32'), i = b.fill(12, 1, 'int32');
      expect(() => b.moments(x, { outer: 2, channels: 3, inner: 3 })).toThrow(/moments: an operand of 12 elements does not fill \[2, 3, 3\]/);
      expect(() => b.moments(i, { outer: 1, channels: 3, inner: 4 })).toThrow(/moments: operands must share one floating-point dtype/);
      expect(() => b.channelSums(x, x, x, { outer: 1, channels: 3, inner: 4 })).toThrow(/channelSums: a per-channel term has 12 elements, expected 3/);
      expect(() => b.channelAffine(x, x, { a: k, m: null, b: null, c: null }, { outer: 1, channels: 3, inner: 4 })).toThrow(/v and the term b go together/);
      for (const s of [x, k, i]) b.free(s);
    }
  });

  it('small benchmark cases run', async () => {
    await runSmallBenchmarks(await webgpu(), benchmarks);
  });
});
