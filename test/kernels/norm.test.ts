import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, ChannelLayout, NormLayout, NormTerms, Storage } from '../../src/kernels/index.js';
import { benchmarks, channelChunks } from '../../src/kernels/norm/webgpu.js';
import { cpu, expectClose, randomArray, runSmallBenchmarks, webgpu } from '../helpers/backends.js';

/**
 * The normalisation kernels (moments, normalize, normSums, normBackward, updateRunningStats) on WebGPU against
 * the cpu oracle: random layouts of batch, instance and group norm (several channels per group, several samples
 * per parameter), every combination of the optional weight, bias, fused-ReLU mask and batch or fixed
 * statistics, the chunked two-dispatch path of the reductions, and statistics of data whose mean is far larger
 * than its spread.
 */

const layoutArb = fc.record({
  outer: fc.integer({ min: 1, max: 3 }), channels: fc.integer({ min: 1, max: 5 }), inner: fc.integer({ min: 1, max: 40 }),
});

/** [outer, samples·groups·perGroup, inner] with params = groups·perGroup */
const normLayoutArb = fc.record({
  outer: fc.integer({ min: 1, max: 3 }), samples: fc.integer({ min: 1, max: 2 }), groups: fc.integer({ min: 1, max: 3 }),
  perGroup: fc.integer({ min: 1, max: 3 }), inner: fc.integer({ min: 1, max: 30 }),
}).map(({ outer, samples, groups, perGroup, inner }): NormLayout =>
  ({ outer, channels: samples * groups * perGroup, inner, perGroup, params: groups * perGroup }));

const sizeOf = (l: ChannelLayout) => l.outer * l.channels * l.inner;

/** the same float32 data on both backends */
interface Both { gpu: Storage; cpu: Storage; free(): void }
function both(g: Backend, data: Float32Array): Both {
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

/** random operands of a normalisation on both backends: x, g, y (a ReLU output: half of it 0), terms, sums */
function normOperands(g: Backend, l: NormLayout, seed: number) {
  const n = sizeOf(l), groups = l.channels / l.perGroup;
  const ops = {
    x: both(g, randomArray(n, seed, -2, 2)), g: both(g, randomArray(n, seed + 1, -1, 1)),
    y: both(g, randomArray(n, seed + 2, -1, 1).map((v) => Math.max(v, 0))),
    mean: both(g, randomArray(groups, seed + 3, -0.5, 0.5)), variance: both(g, randomArray(groups, seed + 4, 0.2, 2)),
    weight: both(g, randomArray(l.params, seed + 5, -1.5, 1.5)), bias: both(g, randomArray(l.params, seed + 6, -1, 1)),
    sum: both(g, randomArray(l.channels, seed + 7, -3, 3)), dot: both(g, randomArray(l.channels, seed + 8, -3, 3)),
  };
  return { ...ops, free() { for (const s of Object.values(ops)) s.free(); } };
}
type Operands = ReturnType<typeof normOperands>;

function termsOf(o: Operands, side: 'gpu' | 'cpu', withWeight: boolean, withBias: boolean): NormTerms {
  return { mean: o.mean[side], variance: o.variance[side], weight: withWeight ? o.weight[side] : null, bias: withBias ? o.bias[side] : null, eps: 1e-3 };
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

  it('normalize with and without weight, bias and the fused ReLU', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(normLayoutArb, fc.integer({ min: 1 }), fc.boolean(), fc.boolean(), fc.boolean(),
      async (layout, seed, withWeight, withBias, relu) => {
        const o = normOperands(g, layout, seed);
        const got = g.normalize(o.x.gpu, termsOf(o, 'gpu', withWeight, withBias), layout, relu);
        const want = cpu.normalize(o.x.cpu, termsOf(o, 'cpu', withWeight, withBias), layout, relu);
        await compare(g, got, want, 1e-5, 1e-5, `normalize ${JSON.stringify(layout)} weight ${withWeight} bias ${withBias} relu ${relu}`);
        o.free();
      }), { numRuns: 40 });
  });

  it('normSums with and without the ReLU mask', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(normLayoutArb, fc.integer({ min: 1 }), fc.boolean(), async (layout, seed, masked) => {
      const o = normOperands(g, layout, seed);
      const got = g.normSums(o.g.gpu, o.x.gpu, masked ? o.y.gpu : null, termsOf(o, 'gpu', false, false), layout);
      const want = cpu.normSums(o.g.cpu, o.x.cpu, masked ? o.y.cpu : null, termsOf(o, 'cpu', false, false), layout);
      const atol = 1e-5 * layout.outer * layout.inner, what = `${JSON.stringify(layout)} masked ${masked}`;
      await compare(g, got.sum, want.sum, atol, 1e-5, `Σg' ${what}`);
      await compare(g, got.dot, want.dot, atol, 1e-4, `Σg'·x̂ ${what}`);
      o.free();
    }), { numRuns: 40 });
  });

  it('normBackward with batch or fixed statistics, with and without weight and the ReLU mask', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(normLayoutArb, fc.integer({ min: 1 }), fc.boolean(), fc.boolean(), fc.boolean(),
      async (layout, seed, batchStats, withWeight, masked) => {
        const o = normOperands(g, layout, seed);
        const run = (b: Backend, side: 'gpu' | 'cpu') => b.normBackward(o.g[side], o.x[side], masked ? o.y[side] : null,
          termsOf(o, side, withWeight, false), batchStats ? { sum: o.sum[side], dot: o.dot[side] } : null, layout);
        const what = `${JSON.stringify(layout)} batch ${batchStats} weight ${withWeight} masked ${masked}`;
        await compare(g, run(g, 'gpu'), run(cpu, 'cpu'), 1e-4, 1e-4, `normBackward ${what}`);
        o.free();
      }), { numRuns: 40 });
  });

  it('updateRunningStats updates either or both buffers in place', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1 }), fc.boolean(), fc.boolean(),
      fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 2, max: 10000 }),
      async (channels, seed, withMean, withVar, momentum, count) => {
        const [mean, variance, rm, rv] = [0, 1, 2, 3].map((i) => both(g, randomArray(channels, seed + i, i === 1 || i === 3 ? 0.1 : -1, 2)));
        const run = (b: Backend, side: 'gpu' | 'cpu') =>
          b.updateRunningStats(withMean ? rm[side] : null, withVar ? rv[side] : null, { mean: mean[side], variance: variance[side] }, momentum, count);
        run(g, 'gpu');
        run(cpu, 'cpu');
        for (const [s, what] of [[rm, 'runningMean'], [rv, 'runningVar']] as const) {
          expectClose(await g.read(s.gpu), await cpu.read(s.cpu), 1e-6, 1e-6, `${what} ${channels} momentum ${momentum} count ${count}`);
        }
        for (const s of [mean, variance, rm, rv]) s.free();
      }), { numRuns: 20 });
    // the oracle itself: PyTorch's update with the unbiased variance
    const [rm, rv] = [cpu.upload(Float64Array.from([1, 2]), 'float64'), cpu.upload(Float64Array.from([3, 4]), 'float64')];
    const stats = { mean: cpu.upload(Float64Array.from([5, 6]), 'float64'), variance: cpu.upload(Float64Array.from([2, 8]), 'float64') };
    cpu.updateRunningStats(rm, rv, stats, 0.25, 5);
    expect(Array.from(await cpu.read(rm))).toEqual([0.75 * 1 + 0.25 * 5, 0.75 * 2 + 0.25 * 6]);
    expect(Array.from(await cpu.read(rv))).toEqual([0.75 * 3 + 0.25 * 2 * 5 / 4, 0.75 * 4 + 0.25 * 8 * 5 / 4]);
    for (const s of [rm, rv, stats.mean, stats.variance]) cpu.free(s);
  });

  it('long channels take the chunked two-dispatch path and stay right', async () => {
    const g = await webgpu();
    const layout: NormLayout = { outer: 2, channels: 3, inner: 16 * 16 * 40 + 7, perGroup: 1, params: 3 };
    expect(channelChunks(layout.channels, layout.outer * layout.inner).chunks).toBeGreaterThan(1);
    expect(channelChunks(64, 100).chunks).toBe(1);
    const n = sizeOf(layout);
    await checkMoments(g, randomArray(n, 5, -1, 3), layout, 1e-4, 'chunked moments');
    const o = normOperands(g, layout, 6);
    for (const masked of [false, true]) {
      const got = g.normSums(o.g.gpu, o.x.gpu, masked ? o.y.gpu : null, termsOf(o, 'gpu', false, false), layout);
      const want = cpu.normSums(o.g.cpu, o.x.cpu, masked ? o.y.cpu : null, termsOf(o, 'cpu', false, false), layout);
      await compare(g, got.sum, want.sum, 1e-2, 1e-5, `chunked Σg' masked ${masked}`);
      await compare(g, got.dot, want.dot, 1e-2, 1e-5, `chunked Σg'·x̂ masked ${masked}`);
    }
    o.free();
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

  it('rejects operands that do not fill the layout, wrong term lengths, mixed dtypes and bad layouts, on both backends', async () => {
    const g = await webgpu();
    for (const b of [cpu, g]) {
      const x = b.fill(12, 1, 'float32'), k = b.fill(3, 1, 'float32'), i = b.fill(12, 1, 'int32');
      const terms = { mean: k, variance: k, weight: null, bias: null, eps: 1e-5 };
      const layout: NormLayout = { outer: 1, channels: 3, inner: 4, perGroup: 1, params: 3 };
      expect(() => b.moments(x, { outer: 2, channels: 3, inner: 3 })).toThrow(/moments: an operand of 12 elements does not fill \[2, 3, 3\]/);
      expect(() => b.moments(i, { outer: 1, channels: 3, inner: 4 })).toThrow(/moments: operands must share one floating-point dtype/);
      expect(() => b.normalize(x, { ...terms, weight: x }, layout, false)).toThrow(/normalize: a weight or bias has 12 elements, expected 3/);
      expect(() => b.normSums(x, i, null, terms, layout)).toThrow(/normSums: operands must share one floating-point dtype/);
      expect(() => b.normBackward(x, x, k, terms, null, layout)).toThrow(/normBackward: an operand of 3 elements does not fill/);
      expect(() => b.normBackward(x, x, null, terms, { sum: x, dot: k }, layout)).toThrow(/normBackward: a per-channel sum has 12 elements, expected 3/);
      expect(() => b.normalize(x, terms, { ...layout, perGroup: 2 }, false)).toThrow(/groups must divide the parameters/);
      expect(() => b.updateRunningStats(k, x, { mean: k, variance: k }, 0.1, 4)).toThrow(/updateRunningStats: a statistic has 12 elements, expected 3/);
      expect(() => b.updateRunningStats(k, k, { mean: k, variance: k }, 0.1, 1)).toThrow(/count of the batch statistics must be > 1/);
      for (const s of [x, k, i]) b.free(s);
    }
  });

  it('small benchmark cases run', async () => {
    expect(await runSmallBenchmarks(await webgpu(), benchmarks)).toBe(4);
  });
});

describe('the fused normalisation + ReLU propagates NaN and ±Inf as PyTorch (relu(norm(x)), threshold_backward)', () => {
  /** a channel's worth of values among which NaN and ±Inf are frequent */
  const specialArb = fc.oneof(fc.constantFrom(NaN, Infinity, -Infinity, 0), fc.double({ min: -3, max: 3, noNaN: true }).map(Math.fround));
  const relu = (v: number) => (Number.isNaN(v) ? NaN : Math.max(v, 0));
  const layout: NormLayout = { outer: 2, channels: 3, inner: 5, perGroup: 1, params: 3 };
  const n = sizeOf(layout);
  const valuesArb = fc.array(specialArb, { minLength: n, maxLength: n }).map((v) => Float32Array.from(v));

  it('normalize with the fused ReLU equals PyTorch relu of normalize on both backends', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(valuesArb, fc.integer({ min: 1 }), async (values, seed) => {
      for (const b of [cpu, g]) {
        const x = b.upload(values, 'float32');
        const [mean, variance, weight, bias] = [[1, -0.5, 0.5], [1, 0.2, 2], [3, -1.5, 1.5], [3, -1, 1]]
          .map(([len, lo, hi]) => b.upload(randomArray(len!, seed, lo!, hi!), 'float32'));
        const terms: NormTerms = { mean: mean!, variance: variance!, weight: weight!, bias: bias!, eps: 1e-3 };
        const plain = await b.read(b.normalize(x, terms, { ...layout, perGroup: 3 }, false));
        const fused = await b.read(b.normalize(x, terms, { ...layout, perGroup: 3 }, true));
        expectClose(fused, Float32Array.from(plain, relu), 0, 0, `fused ReLU on ${b.name} of [${[...values]}]`);
      }
    }), { numRuns: 25 });
  });

  it('normSums and normBackward pass the gradient where the ReLU output is NaN (only y ≤ 0 masks)', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(valuesArb, fc.integer({ min: 1 }), async (yValues, seed) => {
      const masked = Float32Array.from(randomArray(n, seed, -1, 1), (gi, i) => (yValues[i]! <= 0 ? 0 : gi));
      for (const b of [cpu, g]) {
        const up = (a: Float32Array) => b.upload(a, 'float32');
        const gs = up(randomArray(n, seed, -1, 1)), x = up(randomArray(n, seed + 1, -2, 2)), y = up(yValues), gm = up(masked);
        const terms: NormTerms = { mean: up(randomArray(3, seed + 2, -0.5, 0.5)), variance: up(randomArray(3, seed + 3, 0.2, 2)), weight: null, bias: null, eps: 1e-3 };
        const viaMask = b.normSums(gs, x, y, terms, layout), viaMasked = b.normSums(gm, x, null, terms, layout);
        expectClose(await b.read(viaMask.sum), await b.read(viaMasked.sum), 1e-6, 1e-6, `Σg' on ${b.name}`);
        expectClose(await b.read(viaMask.dot), await b.read(viaMasked.dot), 1e-6, 1e-6, `Σg'·x̂ on ${b.name}`);
        const back = b.normBackward(gs, x, y, terms, viaMask, layout), backMasked = b.normBackward(gm, x, null, terms, viaMasked, layout);
        expectClose(await b.read(back), await b.read(backMasked), 1e-6, 1e-6, `normBackward on ${b.name} with y [${[...yValues]}]`);
      }
    }), { numRuns: 25 });
  });
});
