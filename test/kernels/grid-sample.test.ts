import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { affineGrid, gradcheck, gridSample, type GridSampleOptions } from '../../src/autograd/index.js';
import type { GridSampleParams } from '../../src/kernels/backend.js';
import { cpuData } from '../../src/kernels/cpu/storage.js';
import { gridSampleFamily } from '../../src/kernels/grid-sample/index.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { fromArray } from '../../src/tensor/index.js';
import { cpu, dot, expectClose, randomArray, runSmallBenchmarks, webgpu } from '../helpers/backends.js';

/**
 * gridSample and affineGrid: golden values from PyTorch's definitions on a 2×2×2 volume by hand, the input
 * gradient as the exact adjoint of the forward, every WGSL kernel against the cpu oracle on random shapes and
 * grids (inside and outside [−1, 1]), gradcheck in float64 on the input, the grid and theta.
 */

const bilinear = (paddingMode: GridSampleParams['paddingMode'], alignCorners: boolean): GridSampleParams =>
  ({ mode: 'bilinear', paddingMode, alignCorners });

/** x = 1 + 4d + 2h + w on [1, 1, 2, 2, 2]: linear, so trilinear sampling returns it at the voxel position exactly */
const linear = [1, 2, 3, 4, 5, 6, 7, 8];
const cube = [1, 1, 2, 2, 2];

function sample(points: number[][], p: GridSampleParams, x = linear): number[] {
  const gridShape = [1, 1, 1, points.length, 3];
  const y = cpu.gridSample(cpu.upload(Float64Array.from(x), 'float64'), cube, cpu.upload(Float64Array.from(points.flat()), 'float64'), gridShape, p);
  return Array.from(cpuData(y));
}

function gridGrad(points: number[][], p: GridSampleParams): number[] {
  const gridShape = [1, 1, 1, points.length, 3];
  const gy = cpu.upload(new Float64Array(points.length).fill(1), 'float64');
  const g = cpu.gridSampleBackwardGrid(gy, cpu.upload(Float64Array.from(linear), 'float64'), cube,
    cpu.upload(Float64Array.from(points.flat()), 'float64'), gridShape, p);
  return Array.from(cpuData(g));
}

describe('gridSample golden values on 2×2×2 (PyTorch definitions, by hand)', () => {
  it('bilinear, alignCorners true: pos = (g + 1)/2 · (S − 1), x at (px, py, pz) = 1 + px + 2py + 4pz', () => {
    // (0, 0, 0) → ½ each: 1 + ½ + 1 + 2; (0.5, −0.5, 1) → (¾, ¼, 1): 1 + ¾ + ½ + 4
    expectClose(sample([[-1, -1, -1], [1, 1, 1], [0, 0, 0], [0.5, -0.5, 1]], bilinear('zeros', true)), [1, 8, 4.5, 6.25], 1e-12, 0);
  });

  it('bilinear, alignCorners false: pos = ((g + 1)·S − 1)/2 = g + ½; zeros vs border outside the centres', () => {
    // (−1, −1, −1) → pos −½ each: zeros keeps only corner (0,0,0) with weight ⅛; border clamps to voxel 0
    // (1, 1, 1) → pos 1.5: zeros ⅛ · 8, border 8; (0, 0, 0) → ½ each: 4.5
    expectClose(sample([[-1, -1, -1], [1, 1, 1], [0, 0, 0]], bilinear('zeros', false)), [0.125, 1, 4.5], 1e-12, 0);
    expectClose(sample([[-1, -1, -1], [1, 1, 1], [0, 0, 0]], bilinear('border', false)), [1, 8, 4.5], 1e-12, 0);
    // entirely outside: zeros gives 0
    expectClose(sample([[3, 0, 0], [0, -2.5, 0]], bilinear('zeros', false)), [0, 0], 1e-12, 0);
  });

  it('nearest rounds half to even (nearbyint)', () => {
    // alignCorners false: (0.2, −0.3, 0.6) → pos (0.7, 0.2, 1.1) → voxel (1, 0, 1) = 1 + 1 + 0 + 4
    expect(sample([[0.2, -0.3, 0.6]], { mode: 'nearest', paddingMode: 'zeros', alignCorners: false })).toEqual([6]);
    // alignCorners true: 0 → pos ½ → 0 (half to even); 0.02 → 0.51 → 1
    expect(sample([[0, 0, 0], [0.02, 0.02, 0.02]], { mode: 'nearest', paddingMode: 'zeros', alignCorners: true })).toEqual([1, 8]);
  });

  it('grid gradient: ∂/∂g = (1, 2, 4) · ∂pos/∂g inside, 0 where border clamps', () => {
    // alignCorners true: ∂pos/∂g = (S − 1)/2 = ½; false: S/2 = 1
    expectClose(gridGrad([[0, 0, 0], [0.3, -0.2, 0.1]], bilinear('zeros', true)), [0.5, 1, 2, 0.5, 1, 2], 1e-12, 0);
    expectClose(gridGrad([[0, 0, 0]], bilinear('zeros', false)), [1, 2, 4], 1e-12, 0);
    // (1, 1, 1) → pos 1.5 clamped to 1 on every axis: no gradient; (0, 1, 0): only y clamps
    expectClose(gridGrad([[1, 1, 1], [0, 1, 0]], bilinear('border', false)), [0, 0, 0, 1, 0, 4], 1e-12, 0);
    expect(gridGrad([[0.2, 0.1, 0]], { mode: 'nearest', paddingMode: 'zeros', alignCorners: false })).toEqual([0, 0, 0]);
  });

  it('input gradient at the centre: ⅛ to each of the 8 voxels', () => {
    const g = cpu.gridSampleBackwardInput(cpu.upload(Float64Array.from([1]), 'float64'), cpu.upload(Float64Array.from([0, 0, 0]), 'float64'),
      [1, 1, 1, 1, 3], cube, bilinear('zeros', false));
    expect(Array.from(cpuData(g))).toEqual(new Array(8).fill(0.125));
  });
});

describe('affineGrid (PyTorch definitions)', () => {
  const identity = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0];

  it('the identity over 2×2×2: ±1 with alignCorners, ±½ without; x varies fastest (along W)', async () => {
    for (const [align, c] of [[true, 1], [false, 0.5]] as const) {
      const g = await affineGrid(fromArray(identity, [1, 3, 4], { backend: cpu, dtype: 'float64' }), [1, 1, 2, 2, 2], align).toArray();
      const expected: number[] = [];
      for (const z of [-c, c]) for (const y of [-c, c]) for (const x of [-c, c]) expected.push(x, y, z);
      expectClose(g, expected, 1e-12, 0);
    }
  });

  it('an affine theta: (2x + 0.1, y − z, 3) over a 1×1×3 size (one point along D and H gives 0 there)', async () => {
    const theta = [2, 0, 0, 0.1, 0, 1, -1, 0, 0, 0, 0, 3];
    const g = await affineGrid(fromArray(theta, [1, 3, 4], { backend: cpu, dtype: 'float64' }), [1, 2, 1, 1, 3], true).toArray();
    expectClose(g, [-1.9, 0, 3, 0.1, 0, 3, 2.1, 0, 3], 1e-12, 0);
  });

  it('gridSample at the identity affineGrid returns the input (both alignments)', async () => {
    const shape = [2, 3, 3, 4, 5];
    const x = fromArray(randomArray(sizeOf(shape), 7), shape, { backend: cpu, dtype: 'float64' });
    const theta = fromArray([...identity, ...identity], [2, 3, 4], { backend: cpu, dtype: 'float64' });
    for (const alignCorners of [true, false]) {
      const y = gridSample(x, affineGrid(theta, shape, alignCorners), { alignCorners });
      expectClose(await y.toArray(), await x.toArray(), 1e-12, 0);
    }
  });

  it('rejects bad arguments with a clear message', () => {
    const theta = fromArray(identity, [1, 3, 4], { backend: cpu });
    expect(() => affineGrid(theta, [1, 1, 2, 2])).toThrow(/size must be five positive integers/);
    expect(() => affineGrid(theta, [2, 1, 2, 2, 2])).toThrow(/theta \[1, 3, 4\] must be \[N, 3, 4\] with N = 2/);
    const x = fromArray(new Array(8).fill(0), cube, { backend: cpu });
    expect(() => gridSample(x, fromArray([0, 0], [1, 1, 1, 1, 2], { backend: cpu }))).toThrow(/must be \[N, Do, Ho, Wo, 3\]/);
    const grid = fromArray([0, 0, 0], [1, 1, 1, 1, 3], { backend: cpu });
    expect(() => gridSample(x, grid, { mode: 'bicubic' as GridSampleOptions['mode'] })).toThrow(/unknown mode 'bicubic'; valid: bilinear, nearest/);
    expect(() => gridSample(x, grid, { paddingMode: 'circular' as GridSampleOptions['paddingMode'] })).toThrow(/unknown paddingMode 'circular'; valid: zeros, border, reflection/);
  });
});

/** Random shapes and grids in [−1.3, 1.3] (some points outside, some corners out of the volume). */
const gridCase = fc.record({
  n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 3 }),
  in: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })),
  out: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
  mode: fc.constantFrom<GridSampleParams['mode']>('bilinear', 'nearest'),
  paddingMode: fc.constantFrom<GridSampleParams['paddingMode']>('zeros', 'border', 'reflection'),
  alignCorners: fc.boolean(),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

function caseData(r: { n: number; c: number; in: [number, number, number]; out: [number, number, number]; seed: number }) {
  const xShape = [r.n, r.c, ...r.in], gridShape = [r.n, ...r.out, 3], gyShape = [r.n, r.c, ...r.out];
  return {
    xShape, gridShape, gyShape,
    x: randomArray(sizeOf(xShape), r.seed), grid: randomArray(sizeOf(gridShape), r.seed + 1, -1.3, 1.3),
    gy: randomArray(sizeOf(gyShape), r.seed + 2),
  };
}

describe('gridSample adjoint in float64 on the cpu', () => {
  it('⟨gridSample(x), g⟩ = ⟨x, gridSampleBackwardInput(g)⟩', () => {
    fc.assert(fc.property(gridCase, (r) => {
      const d = caseData(r), p: GridSampleParams = r;
      const grid = cpu.upload(Float64Array.from(d.grid), 'float64');
      const y = cpuData(cpu.gridSample(cpu.upload(Float64Array.from(d.x), 'float64'), d.xShape, grid, d.gridShape, p));
      const gx = cpuData(cpu.gridSampleBackwardInput(cpu.upload(Float64Array.from(d.gy), 'float64'), grid, d.gridShape, d.xShape, p));
      const lhs = dot(y, d.gy), rhs = dot(d.x, gx);
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-12 * (1 + Math.abs(lhs)));
    }), { numRuns: 150 });
  });
});

describe('gridSample on WebGPU against the cpu oracle', () => {
  it('forward, input gradient (atomics) and grid gradient on random shapes', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(gridCase, async (r) => {
      const d = caseData(r), p: GridSampleParams = r;
      const what = `${r.mode} ${r.paddingMode} align=${r.alignCorners} x [${d.xShape}] grid [${d.gridShape}]`;
      const [xg, gridg, gyg] = [d.x, d.grid, d.gy].map((a) => gpu.upload(a, 'float32'));
      const [xc, gridc, gyc] = [d.x, d.grid, d.gy].map((a) => cpu.upload(a, 'float32'));
      const outs = [
        gpu.gridSample(xg, d.xShape, gridg, d.gridShape, p),
        gpu.gridSampleBackwardInput(gyg, gridg, d.gridShape, d.xShape, p),
        gpu.gridSampleBackwardGrid(gyg, xg, d.xShape, gridg, d.gridShape, p),
      ];
      expectClose(await gpu.read(outs[0]), cpuData(cpu.gridSample(xc, d.xShape, gridc, d.gridShape, p)), 1e-5, 1e-5, `forward ${what}`);
      expectClose(await gpu.read(outs[1]), cpuData(cpu.gridSampleBackwardInput(gyc, gridc, d.gridShape, d.xShape, p)), 1e-5, 1e-5, `input gradient ${what}`);
      expectClose(await gpu.read(outs[2]), cpuData(cpu.gridSampleBackwardGrid(gyc, xc, d.xShape, gridc, d.gridShape, p)), 1e-4, 1e-4, `grid gradient ${what}`);
      for (const s of [xg, gridg, gyg, ...outs]) gpu.free(s);
    }), { numRuns: 60 });
  });

  it('many points into one voxel: the atomic input gradient sums every contribution', async () => {
    const gpu = await webgpu();
    // 4096 points all at the centre of a 2×2×2 volume: each voxel receives 4096 · ⅛ · 1
    const gridShape = [1, 16, 16, 16, 3], xShape = [1, 1, 2, 2, 2];
    const grid = gpu.upload(new Float32Array(sizeOf(gridShape)), 'float32'), gy = gpu.upload(new Float32Array(4096).fill(1), 'float32');
    const gx = gpu.gridSampleBackwardInput(gy, grid, gridShape, xShape, bilinear('zeros', false));
    expect(Array.from(await gpu.read(gx))).toEqual(new Array(8).fill(512));
    for (const s of [grid, gy, gx]) gpu.free(s);
  });

  it('the benchmark shapes run (small cases)', async () => {
    const gpu = await webgpu();
    await runSmallBenchmarks(gpu, gridSampleFamily.benchmarks);
  });
});

describe('gridSample and affineGrid gradcheck (float64, cpu)', () => {
  const options: [string, GridSampleOptions][] = [
    ['bilinear zeros', {}], ['bilinear zeros aligned', { alignCorners: true }],
    ['bilinear border', { paddingMode: 'border' }], ['bilinear border aligned', { paddingMode: 'border', alignCorners: true }],
    ['bilinear reflection', { paddingMode: 'reflection' }], ['bilinear reflection aligned', { paddingMode: 'reflection', alignCorners: true }],
    ['nearest', { mode: 'nearest' }],
  ];
  for (const [name, o] of options) {
    it(`gridSample ${name}: the input and the grid`, async () => {
      const x = { data: Array.from(randomArray(2 * 2 * 3 * 3 * 2, 11)), shape: [2, 2, 3, 3, 2] };
      // gridSample is piecewise smooth in the grid; random positions land on a kink (an integer voxel position, the border's clamp) with probability 0
      const grid = { data: Array.from(randomArray(2 * 2 * 2 * 3 * 3, 12, -1.2, 1.2)), shape: [2, 2, 2, 3, 3] };
      const r = await gradcheck((xt, gt) => gridSample(xt, gt, o), [x, grid], { backend: cpu });
      expect(r.ok, r.message).toBe(true);
    });
  }

  it('affineGrid into gridSample: theta', async () => {
    const theta = { data: [0.9, 0.1, 0, 0.05, -0.1, 1.1, 0.05, 0, 0, 0.1, 0.95, -0.1], shape: [1, 3, 4] };
    const x = { data: Array.from(randomArray(3 * 4 * 3, 13)), shape: [1, 1, 3, 4, 3] };
    const r = await gradcheck((t, xt) => gridSample(xt, affineGrid(t, [1, 1, 2, 3, 2])), [theta, x], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
  });
});
