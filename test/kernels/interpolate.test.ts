import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cpuData } from '../../src/kernels/cpu/storage.js';
import { interpolateFamily } from '../../src/kernels/interpolate/index.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { cpu, dot, expectClose, randomArray, runSmallBenchmarks, webgpu } from '../helpers/backends.js';

type Mode = 'nearest' | 'nearest-exact' | 'trilinear';

function run(x: number[], xShape: number[], out: [number, number, number], mode: Mode, align: boolean): number[] {
  return Array.from(cpuData(cpu.interpolate(cpu.upload(Float64Array.from(x), 'float64'), xShape, out, mode, align)));
}

/** f over the output grid [od][oh][ow] in C order */
function grid(out: [number, number, number], f: (d: number, h: number, w: number) => number): number[] {
  const r: number[] = [];
  for (let d = 0; d < out[0]; d++) for (let h = 0; h < out[1]; h++) for (let w = 0; w < out[2]; w++) r.push(f(d, h, w));
  return r;
}

describe('interpolate golden values (PyTorch definitions, by hand)', () => {
  const cube = [1, 1, 2, 2, 2];
  // x = 1 + 4d + 2h + w is linear, so trilinear interpolation returns it at the source coordinates exactly
  const linear = [1, 2, 3, 4, 5, 6, 7, 8];
  // the corner indicator: trilinear gives the product of the source coordinates
  const corner = [0, 0, 0, 0, 0, 0, 0, 1];

  it('trilinear 2³ → 3³, align_corners true: src = dst · (in−1)/(out−1) = 0, ½, 1', () => {
    const s = [0, 0.5, 1];
    expectClose(run(linear, cube, [3, 3, 3], 'trilinear', true), grid([3, 3, 3], (d, h, w) => 1 + 4 * s[d] + 2 * s[h] + s[w]), 1e-12, 0);
    expectClose(run(corner, cube, [3, 3, 3], 'trilinear', true), grid([3, 3, 3], (d, h, w) => s[d] * s[h] * s[w]), 1e-12, 0);
  });

  it('trilinear 2³ → 3³, align_corners false: src = max((dst+½)·⅔ − ½, 0) = 0, ½, 7/6 → clamped to 1', () => {
    const s = [0, 0.5, 1];
    expectClose(run(linear, cube, [3, 3, 3], 'trilinear', false), grid([3, 3, 3], (d, h, w) => 1 + 4 * s[d] + 2 * s[h] + s[w]), 1e-12, 0);
    expectClose(run(corner, cube, [3, 3, 3], 'trilinear', false), grid([3, 3, 3], (d, h, w) => s[d] * s[h] * s[w]), 1e-12, 0);
  });

  it('trilinear 2³ → 4³ tells the two alignments apart', () => {
    const t = [0, 1 / 3, 2 / 3, 1];          // align_corners true: dst/3
    const f = [0, 0.25, 0.75, 1];            // false: dst/2 − ¼, clamped to [0, 1]
    expectClose(run(corner, cube, [4, 4, 4], 'trilinear', true), grid([4, 4, 4], (d, h, w) => t[d] * t[h] * t[w]), 1e-7, 0);
    expectClose(run(corner, cube, [4, 4, 4], 'trilinear', false), grid([4, 4, 4], (d, h, w) => f[d] * f[h] * f[w]), 1e-12, 0);
  });

  it('nearest-exact: src = floor((dst + ½) · in/out), no copy cases (3 → 5, 5 → 3, 2 → 4)', () => {
    expect(run([10, 20, 30], [1, 1, 1, 1, 3], [1, 1, 5], 'nearest-exact', false)).toEqual([10, 10, 20, 30, 30]);
    expect(run([1, 2, 3, 4, 5], [1, 1, 1, 1, 5], [1, 1, 3], 'nearest-exact', false)).toEqual([1, 3, 5]);
    expect(run([7, 8], [1, 1, 1, 1, 2], [1, 1, 4], 'nearest-exact', false)).toEqual([7, 7, 8, 8]);
  });

  it('nearest: src = floor(dst · in/out)', () => {
    // 2 → 3: floor(0, ⅔, 4/3) = 0, 0, 1
    const n = [0, 0, 1];
    expect(run(linear, cube, [3, 3, 3], 'nearest', false)).toEqual(grid([3, 3, 3], (d, h, w) => 1 + 4 * n[d] + 2 * n[h] + n[w]));
    // 3 → 5: floor(0, 0.6, 1.2, 1.8, 2.4); 5 → 3: floor(0, 5/3, 10/3)
    expect(run([10, 20, 30], [1, 1, 1, 1, 3], [1, 1, 5], 'nearest', false)).toEqual([10, 10, 20, 20, 30]);
    expect(run([1, 2, 3, 4, 5], [1, 1, 1, 1, 5], [1, 1, 3], 'nearest', false)).toEqual([1, 2, 4]);
  });

  it('size 1 outputs: align_corners true takes the first voxel, false the centre', () => {
    // in 4 → out 1: true: src 0; false: src = ½·4 − ½ = 1.5
    expect(run([1, 2, 4, 8], [1, 1, 1, 1, 4], [1, 1, 1], 'trilinear', true)).toEqual([1]);
    expect(run([1, 2, 4, 8], [1, 1, 1, 1, 4], [1, 1, 1], 'trilinear', false)).toEqual([3]);
  });
});

/** a scale factor: common ones (×½, ×1.5, ×2, …) or any in [0.3, 3.5] */
const scaleFactor = fc.oneof(fc.constantFrom(0.5, 0.75, 1.5, 2, 2.2, 1.1, 1 / 3),
  fc.double({ min: 0.3, max: 3.5, noNaN: true }).map((v) => Math.fround(v)));

/**
 * Random shapes, with 1-voxel edges, up- and downsampling by non-integer factors; half the cases give scale
 * factors (PyTorch's scales_d/h/w) and the output size ⌊in · scale⌋ (at least 1) that F.interpolate derives from them.
 */
const interpCase = fc.record({
  n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 3 }),
  in: fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 })),
  out: fc.tuple(fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: 11 })),
  scales: fc.option(fc.tuple(scaleFactor, scaleFactor, scaleFactor), { nil: undefined }),
  mode: fc.constantFrom<Mode>('nearest', 'nearest-exact', 'trilinear'),
  align: fc.boolean(),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
}).map((r) => (r.scales === undefined ? r
  : { ...r, out: [0, 1, 2].map((a) => Math.max(1, Math.floor(r.in[a] * r.scales![a]))) as [number, number, number] }));

describe("interpolate scales (the scale factors given, PyTorch's scales_d/h/w)", () => {
  it('map coordinates by 1/scale: trilinear ×0.5 on 5 → 2 samples 0.5 and 2.5; nearest ×0.75 on 9 → ⌊dst/0.75⌋', () => {
    expectClose(Array.from(cpuData(cpu.interpolate(cpu.upload(Float64Array.from([0, 1, 2, 3, 4]), 'float64'), [1, 1, 1, 1, 5], [1, 1, 2], 'trilinear', false, [1, 1, 0.5]))),
      [0.5, 2.5], 1e-6, 0);
    expect(run([0, 1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 1, 1, 9], [1, 1, 6], 'nearest', false)).toEqual([0, 1, 3, 4, 6, 7]);
    expect(Array.from(cpuData(cpu.interpolate(cpu.upload(Float64Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]), 'float64'), [1, 1, 1, 1, 9], [1, 1, 6], 'nearest', false, [1, 1, 0.75]))))
      .toEqual([0, 1, 2, 4, 5, 6]);
  });

  it('must be three positive finite numbers, on both backends', async () => {
    const gpu = await webgpu();
    const x = [1, 2, 3, 4];
    for (const scales of [[0, 1, 1], [1, -2, 1], [1, 1, Infinity]] as [number, number, number][]) {
      expect(() => cpu.interpolate(cpu.upload(Float32Array.from(x), 'float32'), [1, 1, 1, 1, 4], [1, 1, 2], 'nearest', false, scales))
        .toThrow(/interpolate: scales must be three positive numbers/);
      expect(() => cpu.interpolateBackward(cpu.upload(Float32Array.from([1, 2]), 'float32'), [1, 1, 1, 1, 2], [1, 1, 1, 1, 4], 'nearest', false, scales))
        .toThrow(/interpolateBackward: scales must be three positive numbers/);
      const xg = gpu.upload(Float32Array.from(x), 'float32');
      expect(() => gpu.interpolate(xg, [1, 1, 1, 1, 4], [1, 1, 2], 'trilinear', false, scales)).toThrow(/webgpu: interpolate: scales must be/);
      gpu.free(xg);
    }
  });
});

describe('interpolate adjoint in float64 on the cpu', () => {
  it('⟨interp(x), g⟩ = ⟨x, interp*(g)⟩', () => {
    fc.assert(fc.property(interpCase, (r) => {
      const xShape = [r.n, r.c, ...r.in], gyShape = [r.n, r.c, ...r.out];
      const x = Float64Array.from(randomArray(sizeOf(xShape), r.seed));
      const g = Float64Array.from(randomArray(sizeOf(gyShape), r.seed + 1));
      const y = cpuData(cpu.interpolate(cpu.upload(x, 'float64'), xShape, r.out, r.mode, r.align, r.scales));
      const gx = cpuData(cpu.interpolateBackward(cpu.upload(g, 'float64'), gyShape, xShape, r.mode, r.align, r.scales));
      const lhs = dot(y, g), rhs = dot(x, gx);
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-12 * (1 + Math.abs(lhs)));
    }), { numRuns: 150 });
  });

  it('a constant stays constant and the weights of every output sum to 1', () => {
    fc.assert(fc.property(interpCase, (r) => {
      const xShape = [r.n, r.c, ...r.in];
      const y = cpuData(cpu.interpolate(cpu.upload(new Float64Array(sizeOf(xShape)).fill(2.5), 'float64'), xShape, r.out, r.mode, r.align, r.scales));
      for (const v of y) expect(Math.abs(v - 2.5)).toBeLessThan(1e-12);
    }), { numRuns: 60 });
  });
});

describe('interpolate on WebGPU against the cpu oracle', () => {
  it('forward and gather-form backward', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(interpCase, async (r) => {
      const xShape = [r.n, r.c, ...r.in], gyShape = [r.n, r.c, ...r.out];
      const x = randomArray(sizeOf(xShape), r.seed), gy = randomArray(sizeOf(gyShape), r.seed + 2);
      const xg = gpu.upload(x, 'float32'), gyg = gpu.upload(gy, 'float32');
      const yg = gpu.interpolate(xg, xShape, r.out, r.mode, r.align, r.scales);
      expectClose(await gpu.read(yg), await cpu.read(cpu.interpolate(cpu.upload(x, 'float32'), xShape, r.out, r.mode, r.align, r.scales)), 2e-6, 1e-5, 'interpolate');
      const gxg = gpu.interpolateBackward(gyg, gyShape, xShape, r.mode, r.align, r.scales);
      expectClose(await gpu.read(gxg), await cpu.read(cpu.interpolateBackward(cpu.upload(gy, 'float32'), gyShape, xShape, r.mode, r.align, r.scales)), 1e-5, 1e-5, 'interpolateBackward');
      for (const s of [xg, gyg, yg, gxg]) gpu.free(s);
    }), { numRuns: 80 });
  });

  it('large factors: ×7.5 up and ÷5.5 down on one axis each (given as sizes, and as scales)', async () => {
    const gpu = await webgpu();
    const scaleChoices: ([number, number, number] | undefined)[] = [undefined, [7.5, 1 / 5.5, 7.5]];
    for (const mode of ['nearest', 'nearest-exact', 'trilinear'] as const) for (const align of [false, true]) for (const scales of scaleChoices) {
      const xShape = [1, 2, 2, 33, 4], out: [number, number, number] = [15, 6, 30];
      const gyShape = [1, 2, ...out];
      const what = `${mode} ${align} ${scales ? 'scales' : 'size'}`;
      const x = randomArray(sizeOf(xShape), 21), gy = randomArray(sizeOf(gyShape), 22);
      const xg = gpu.upload(x, 'float32'), gyg = gpu.upload(gy, 'float32');
      const yg = gpu.interpolate(xg, xShape, out, mode, align, scales);
      expectClose(await gpu.read(yg), await cpu.read(cpu.interpolate(cpu.upload(x, 'float32'), xShape, out, mode, align, scales)), 2e-6, 1e-5, what);
      const gxg = gpu.interpolateBackward(gyg, gyShape, xShape, mode, align, scales);
      expectClose(await gpu.read(gxg), await cpu.read(cpu.interpolateBackward(cpu.upload(gy, 'float32'), gyShape, xShape, mode, align, scales)), 1e-5, 1e-5, `${what} backward`);
      for (const s of [xg, gyg, yg, gxg]) gpu.free(s);
    }
  });

  it('the benchmark shapes run (small cases)', async () => {
    const gpu = await webgpu();
    expect(await runSmallBenchmarks(gpu, interpolateFamily.benchmarks)).toBe(4);
  });
});
