import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cpuData } from '../../src/kernels/cpu/storage.js';
import type { Pool3dParams, Storage } from '../../src/kernels/index.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { poolFamily } from '../../src/kernels/pool/index.js';
import { cpu, dot, expectClose, expectMaxPoolLikeCpu, randomArray, runSmallBenchmarks, webgpu } from '../helpers/backends.js';

/**
 * Output extent of one axis, or 0 when the pooling is invalid (PyTorch's rules): in ceil mode one more window when the
 * last one would be partial, unless it would start past the input and its left padding.
 */
function outExtent(n: number, k: number, s: number, p: number, ceil = false): number {
  if (p > Math.floor(k / 2) || n + 2 * p < k) return 0;
  const round = ceil ? Math.ceil : Math.floor;
  const out = round((n + 2 * p - k) / s) + 1;
  return ceil && (out - 1) * s >= n + p ? out - 1 : out;
}

async function read(s: Storage): Promise<number[]> {
  return Array.from(await cpu.read(s));
}

describe('pooling golden values (PyTorch semantics, by hand)', () => {
  // x[d, h, w] of shape [1, 1, 2, 2, 4], flat index d·8 + h·4 + w
  const x = [1, 5, 2, 0, 3, 3, 7, 1, 4, 2, 6, 9, 8, 0, 1, 9];
  const xShape = [1, 1, 2, 2, 4];

  it('maxPool3d 2³ stride 2: values and flat indices, first max on ties', async () => {
    const { values, indices } = cpu.maxPool3d(cpu.upload(Float64Array.from(x), 'float64'), xShape,
      { kernel: [2, 2, 2], stride: [2, 2, 2], padding: [0, 0, 0] });
    expect(await read(values)).toEqual([8, 9]);
    // 9 sits at (1, 0, 3) = 11 and (1, 1, 3) = 15: the first wins
    expect(await read(indices)).toEqual([12, 11]);
  });

  it('maxPool3d with padding: −inf padding, indices inside the unpadded volume', async () => {
    const p: Pool3dParams = { kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1] };
    const a = cpu.maxPool3d(cpu.upload(Float64Array.from(x), 'float64'), xShape, p);
    // output [1, 1, 2, 1, 2]: windows h ∈ {0, 1}, w ∈ {0, 1} and {1, 2, 3}
    expect(await read(a.values)).toEqual([5, 7, 8, 9]);
    expect(await read(a.indices)).toEqual([1, 6, 12, 11]);
    // all negative: a zero padding would win; −inf padding does not
    const b = cpu.maxPool3d(cpu.upload(Float64Array.from(x, (v) => -v - 1), 'float64'), xShape, p);
    expect(await read(b.values)).toEqual([-2, -1, -1, -1]);
    // the last two windows overlap at w = 1 and both pick (1, 1, 1) = 13
    expect(await read(b.indices)).toEqual([0, 3, 13, 13]);
  });

  it('maxPool3dBackward sums overlapping windows that chose the same voxel', async () => {
    const xs = [1, 1, 1, 1, 5];
    const { indices } = cpu.maxPool3d(cpu.upload(Float64Array.from([0, 1, 9, 2, 3]), 'float64'), xs,
      { kernel: [1, 1, 3], stride: [1, 1, 1], padding: [0, 0, 0] });
    expect(await read(indices)).toEqual([2, 2, 2]);
    const gx = cpu.maxPool3dBackward(cpu.upload(Float64Array.from([1, 2, 4]), 'float64'), indices, [1, 1, 1, 1, 3], xs);
    expect(await read(gx)).toEqual([0, 0, 7, 0, 0]);
  });

  it('avgPool3d with padding counts the padded zeros (count_include_pad)', async () => {
    // x [1, 1, 1, 2, 2] = [[1, 2], [3, 4]], kernel [1, 2, 2], stride 1, padding [0, 1, 1] → 3 × 3, divisor 4
    const p: Pool3dParams = { kernel: [1, 2, 2], stride: [1, 1, 1], padding: [0, 1, 1] };
    const y = cpu.avgPool3d(cpu.upload(Float64Array.from([1, 2, 3, 4]), 'float64'), [1, 1, 1, 2, 2], p);
    expect(await read(y)).toEqual([0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1]);
    // backward: each input voxel is in four windows, each passing gy/4
    const gx = cpu.avgPool3dBackward(cpu.upload(Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), 'float64'), [1, 1, 1, 3, 3], [1, 1, 1, 2, 2], p);
    expect(await read(gx)).toEqual([(1 + 2 + 4 + 5) / 4, (2 + 3 + 5 + 6) / 4, (4 + 5 + 7 + 8) / 4, (5 + 6 + 8 + 9) / 4]);
  });

  it('ceil mode: a partial last window, clipped to the padded input, and none that would start past it', async () => {
    // x = [1, 2, 3, 4], kernel 3, stride 2, padding 1: floor gives 2 windows, ceil 3, starting at −1, 1, 3
    const x4 = cpu.upload(Float64Array.from([1, 2, 3, 4]), 'float64'), shape4 = [1, 1, 1, 1, 4];
    const p: Pool3dParams = { kernel: [1, 1, 3], stride: [1, 1, 2], padding: [0, 0, 1], ceilMode: true };
    // divisors: [−1, 2) → 3; [1, 4) → 3; [3, 6) clipped to the padded input [3, 5) → 2
    expect(await read(cpu.avgPool3d(x4, shape4, p))).toEqual([(1 + 2) / 3, (2 + 3 + 4) / 3, 4 / 2]);
    expect(await read(cpu.avgPool3d(x4, shape4, { ...p, divisorOverride: 2 }))).toEqual([1.5, 4.5, 2]);
    expect(await read(cpu.maxPool3d(x4, shape4, p).values)).toEqual([2, 4, 4]);
    expect(await read(cpu.avgPool3dBackward(cpu.upload(Float64Array.from([3, 6, 8]), 'float64'), [1, 1, 1, 1, 3], shape4, p))).toEqual([1, 3, 2, 6]);
    // [0, 1, 2, 3, 4], kernel 2, stride 2: ceil keeps the last lone element, divided by 1 (PyTorch: [0.5, 2.5, 4])
    const x5 = cpu.upload(Float64Array.from([0, 1, 2, 3, 4]), 'float64'), shape5 = [1, 1, 1, 1, 5];
    const p5: Pool3dParams = { kernel: [1, 1, 2], stride: [1, 1, 2], padding: [0, 0, 0], ceilMode: true };
    expect(await read(cpu.avgPool3d(x5, shape5, p5))).toEqual([0.5, 2.5, 4]);
    // with padding 1, ⌈(5 + 2 − 2)/2⌉ + 1 = 4 windows, but the fourth would start at 5 = in + pad: PyTorch drops it
    expect(await read(cpu.maxPool3d(x5, shape5, { ...p5, padding: [0, 0, 1] }).values)).toEqual([0, 2, 4]);
  });

  it('rejects what PyTorch rejects', () => {
    const x1 = cpu.upload(new Float64Array(8), 'float64');
    expect(() => cpu.avgPool3d(x1, [1, 1, 2, 2, 2], { kernel: [2, 2, 2], stride: [1, 1, 1], padding: [2, 0, 0] })).toThrow(/half/);
    expect(() => cpu.avgPool3d(x1, [1, 1, 2, 2, 2], { kernel: [3, 3, 3], stride: [1, 1, 1], padding: [0, 0, 0] })).toThrow(/too small/);
    expect(() => cpu.avgPool3d(x1, [1, 1, 2, 2, 2], { kernel: [2, 2, 2], stride: [1, 1, 1], padding: [0, 0, 0], divisorOverride: 0 })).toThrow(/^avgPool3d: divisor override must be a nonzero integer, got 0$/);
  });
});

/** A random valid pooling: odd sizes, 1-voxel edges, strides below the kernel (overlap) and padding. */
const poolCase = fc.record({
  n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 3 }),
  in: fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 })),
  k: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
  s: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  p: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
  ties: fc.boolean(),
  ceil: fc.boolean(),
  divisor: fc.option(fc.integer({ min: -3, max: 9 }).filter((d) => d !== 0), { nil: undefined }),
}).filter((r) => [0, 1, 2].every((a) => outExtent(r.in[a], r.k[a], r.s[a], r.p[a], r.ceil) >= 1));

function caseShapes(r: { n: number; c: number; in: number[]; k: number[]; s: number[]; p: number[]; ceil: boolean; divisor: number | undefined }) {
  const xShape = [r.n, r.c, ...r.in];
  const out = [0, 1, 2].map((a) => outExtent(r.in[a], r.k[a], r.s[a], r.p[a], r.ceil));
  const gyShape = [r.n, r.c, ...out];
  const p: Pool3dParams = {
    kernel: [r.k[0], r.k[1], r.k[2]], stride: [r.s[0], r.s[1], r.s[2]], padding: [r.p[0], r.p[1], r.p[2]],
    ceilMode: r.ceil, ...(r.divisor === undefined ? {} : { divisorOverride: r.divisor }),
  };
  return { xShape, gyShape, p };
}

describe('pooling adjoints and gradients in float64 on the cpu', () => {
  it('avgPool3d: ⟨avg(x), g⟩ = ⟨x, avg*(g)⟩', () => {
    fc.assert(fc.property(poolCase, (r) => {
      const { xShape, gyShape, p } = caseShapes(r);
      const x = Float64Array.from(randomArray(sizeOf(xShape), r.seed));
      const g = Float64Array.from(randomArray(sizeOf(gyShape), r.seed + 1));
      const y = cpu.avgPool3d(cpu.upload(x, 'float64'), xShape, p);
      const gx = cpu.avgPool3dBackward(cpu.upload(g, 'float64'), gyShape, xShape, p);
      const lhs = dot(cpuData(y), g);
      const rhs = dot(x, cpuData(gx));
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-12 * (1 + Math.abs(lhs)));
    }), { numRuns: 60 });
  });

  it('maxPool3d: backward = central differences (distinct values, so the argmax is stable)', () => {
    fc.assert(fc.property(poolCase, (r) => {
      const { xShape, gyShape, p } = caseShapes(r);
      const n = sizeOf(xShape);
      // a random permutation of well separated values (i + k/8, k < 4): no ties, no argmax change under the step.
      // Values, gradients (multiples of 1/64) and the step (2^-10) are dyadic with few bits, so every product and
      // sum below is exact in float64 and the central difference of this piecewise-linear loss must equal the
      // backward exactly (a tolerance would only have to absorb rounding, which depends on the case's size)
      const x = Float64Array.from(randomArray(n, r.seed)).map((v, i) => i + Math.floor((v + 1) * 2) / 8);
      for (let i = n - 1; i > 0; i--) { const j = (r.seed * 7919 + i * 104729) % (i + 1); [x[i], x[j]] = [x[j], x[i]]; }
      const g = Float64Array.from(randomArray(sizeOf(gyShape), r.seed + 2)).map((v) => Math.round(v * 64) / 64);
      const loss = (v: Float64Array): number => dot(cpuData(cpu.maxPool3d(cpu.upload(v, 'float64'), xShape, p).values), g);
      const { indices } = cpu.maxPool3d(cpu.upload(x, 'float64'), xShape, p);
      const gx = cpuData(cpu.maxPool3dBackward(cpu.upload(g, 'float64'), indices, gyShape, xShape));
      const step = 2 ** -10;
      for (let i = 0; i < n; i++) {
        const plus = x.slice(); plus[i] += step;
        const minus = x.slice(); minus[i] -= step;
        expect((loss(plus) - loss(minus)) / (2 * step)).toBe(gx[i]);
      }
    }), { numRuns: 25 });
  });
});

describe('pooling on WebGPU against the cpu oracle', () => {
  it('maxPool3d values and indices, and its backward', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(poolCase, async (r) => {
      const { xShape, gyShape, p } = caseShapes(r);
      await expectMaxPoolLikeCpu(gpu, xShape, gyShape, p, r.seed, r.ties);
    }), { numRuns: 40 });
  });

  it('maxPool3d with NaN: a window holding one gives NaN at its last NaN\'s index (PyTorch\'s rule), as the oracle', async () => {
    // a guard for GPUs: a compiler that assumes finite floats may fold a NaN test written as v != v (llvmpipe never does)
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(poolCase, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), async (r, at) => {
      const { xShape, p } = caseShapes(r);
      const x = randomArray(sizeOf(xShape), r.seed);
      for (const i of at) x[i % x.length] = NaN;
      const c = cpu.maxPool3d(cpu.upload(x, 'float32'), xShape, p);
      const w = gpu.maxPool3d(gpu.upload(x, 'float32'), xShape, p);
      expect(Array.from(await gpu.read(w.indices))).toEqual(Array.from(await cpu.read(c.indices)));
      expect(Array.from(await gpu.read(w.values))).toEqual(Array.from(await cpu.read(c.values)));
    }), { numRuns: 30 });
  });

  it('avgPool3d and its backward', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(poolCase, async (r) => {
      const { xShape, gyShape, p } = caseShapes(r);
      const x = randomArray(sizeOf(xShape), r.seed);
      const gy = randomArray(sizeOf(gyShape), r.seed + 4);
      const xg = gpu.upload(x, 'float32'), gyg = gpu.upload(gy, 'float32');
      const yg = gpu.avgPool3d(xg, xShape, p);
      expectClose(await gpu.read(yg), await cpu.read(cpu.avgPool3d(cpu.upload(x, 'float32'), xShape, p)), 1e-6, 1e-5, 'avgPool3d');
      const gxg = gpu.avgPool3dBackward(gyg, gyShape, xShape, p);
      expectClose(await gpu.read(gxg), await cpu.read(cpu.avgPool3dBackward(cpu.upload(gy, 'float32'), gyShape, xShape, p)), 1e-6, 1e-5, 'avgPool3dBackward');
      for (const s of [xg, gyg, yg, gxg]) gpu.free(s);
    }), { numRuns: 40 });
  });

  it('maxPool3dBackward with several extent chunks and overlapping windows', async () => {
    const gpu = await webgpu();
    const xShape = [2, 16, 7, 30, 26], gyShape = [2, 16, 4, 15, 13];
    const p: Pool3dParams = { kernel: [3, 3, 3], stride: [2, 2, 2], padding: [1, 1, 1] };
    const x = randomArray(sizeOf(xShape), 11).map((v) => Math.round(v * 3));
    const gy = randomArray(sizeOf(gyShape), 12);
    const c = cpu.maxPool3d(cpu.upload(x, 'float32'), xShape, p);
    const xg = gpu.upload(x, 'float32'), gyg = gpu.upload(gy, 'float32');
    const w = gpu.maxPool3d(xg, xShape, p);
    expect(Array.from(await gpu.read(w.indices))).toEqual(Array.from(await cpu.read(c.indices)));
    const gxg = gpu.maxPool3dBackward(gyg, w.indices, gyShape, xShape);
    expectClose(await gpu.read(gxg), await cpu.read(cpu.maxPool3dBackward(cpu.upload(gy, 'float32'), c.indices, gyShape, xShape)), 1e-6, 1e-6, 'maxPool3dBackward');
    for (const s of [xg, gyg, w.values, w.indices, gxg]) gpu.free(s);
  });

  it('the benchmark shapes run (small cases)', async () => {
    const gpu = await webgpu();
    expect(await runSmallBenchmarks(gpu, poolFamily.benchmarks)).toBe(10);
  });
});
