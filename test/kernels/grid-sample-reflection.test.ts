import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GridSampleParams } from '../../src/kernels/backend.js';
import { cpuData } from '../../src/kernels/cpu/storage.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * gridSample paddingMode 'reflection' (PyTorch's reflect_coordinates, then clip_coordinates): golden values by
 * hand on a row x = [10, 20, 40] along W, and the WGSL kernels against the cpu oracle on grids far outside
 * [−1, 1] (several mirrorings).
 */

const row = [10, 20, 40];
const reflection = (alignCorners: boolean, mode: GridSampleParams['mode'] = 'bilinear'): GridSampleParams => ({ mode, paddingMode: 'reflection', alignCorners });

/** samples and grid gradients (∂/∂g_x, gy = 1) at W coordinates gs of the row (y = z = 0: D = H = 1) */
function along(gs: number[], p: GridSampleParams): { y: number[]; dg: number[] } {
  const xShape = [1, 1, 1, 1, 3], gridShape = [1, 1, 1, gs.length, 3];
  const x = cpu.upload(Float64Array.from(row), 'float64'), grid = cpu.upload(Float64Array.from(gs.flatMap((g) => [g, 0, 0])), 'float64');
  const y = Array.from(cpuData(cpu.gridSample(x, xShape, grid, gridShape, p)));
  const gg = cpuData(cpu.gridSampleBackwardGrid(cpu.upload(new Float64Array(gs.length).fill(1), 'float64'), x, xShape, grid, gridShape, p));
  return { y, dg: gs.map((_, i) => gg[3 * i]) };
}

describe('reflection golden values (W = 3)', () => {
  it('alignCorners true: pos = g + 1 mirrored at 0 and 2', () => {
    // g 1.5 → 2.5 → 1.5; −1.5 → −0.5 → 0.5; 3.5 → 4.5 → 0.5 (two mirrorings); 2.2 → 3.2 → 0.8
    const { y, dg } = along([1.5, -1.5, 3.5, 2.2, 0.5], reflection(true));
    expectClose(y, [30, 15, 15, 18, 30], 1e-12, 0);
    // ∂pos/∂g = (S − 1)/2 = 1, times −1 per mirroring (the sign then stands for odd counts); slopes 20 on [1, 2], 10 on [0, 1]
    expectClose(dg, [-20, -10, 10, -10, 20], 1e-12, 0);
  });

  it('alignCorners false: pos = ((g + 1)·3 − 1)/2 mirrored at −½ and 2.5, then clamped to [0, 2]', () => {
    // g 1.6 → 3.4 → 1.6; −1.4 → −1.1 → 0.1; 1.2 → 2.8 → 2.2 → 2 (clamped); 3 → 5.5 → −0.5 → 0 (clamped)
    const { y, dg } = along([1.6, -1.4, 1.2, 3], reflection(false));
    expectClose(y, [32, 11, 40, 10], 1e-12, 0);
    // ∂pos/∂g = S/2 = 1.5: −1.5·20, −1.5·10, and 0 where it clamps
    expectClose(dg, [-30, -15, 0, 0], 1e-12, 0);
  });

  it('nearest rounds the mirrored position; one voxel along an axis reads it everywhere', () => {
    // g 5 → 8.5 → mirrored three times to 2.5 → 2; g 3 → 5.5 → twice to −0.5 → 0
    expect(along([1.6, -1.4, 5, 3], reflection(false, 'nearest')).y).toEqual([40, 10, 40, 10]);
    const one = cpu.gridSample(cpu.upload(Float64Array.from([7]), 'float64'), [1, 1, 1, 1, 1], cpu.upload(Float64Array.from([2.7, -3.1, 0.4]), 'float64'), [1, 1, 1, 1, 3], reflection(true));
    expect(Array.from(cpuData(one))).toEqual([7]);
  });
});

describe('reflection on WebGPU against the cpu oracle, grids in [−4, 4]', () => {
  it('forward, input gradient and grid gradient', async () => {
    const gpu = await webgpu();
    const cases = fc.record({
      c: fc.integer({ min: 1, max: 2 }),
      in: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
      out: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
      mode: fc.constantFrom<GridSampleParams['mode']>('bilinear', 'nearest'), alignCorners: fc.boolean(), seed: fc.integer({ min: 1, max: 1 << 30 }),
    });
    await fc.assert(fc.asyncProperty(cases, async (r) => {
      const p = reflection(r.alignCorners, r.mode);
      const xShape = [1, r.c, ...r.in], gridShape = [1, ...r.out, 3], gyShape = [1, r.c, ...r.out];
      const x = randomArray(sizeOf(xShape), r.seed), grid = randomArray(sizeOf(gridShape), r.seed + 1, -4, 4), gy = randomArray(sizeOf(gyShape), r.seed + 2);
      const what = `${r.mode} align=${r.alignCorners} x [${xShape}] grid [${gridShape}]`;
      const [xg, gridg, gyg] = [x, grid, gy].map((a) => gpu.upload(a, 'float32'));
      const [xc, gridc, gyc] = [x, grid, gy].map((a) => cpu.upload(a, 'float32'));
      const outs = [
        [gpu.gridSample(xg, xShape, gridg, gridShape, p), cpu.gridSample(xc, xShape, gridc, gridShape, p)],
        [gpu.gridSampleBackwardInput(gyg, gridg, gridShape, xShape, p), cpu.gridSampleBackwardInput(gyc, gridc, gridShape, xShape, p)],
        [gpu.gridSampleBackwardGrid(gyg, xg, xShape, gridg, gridShape, p), cpu.gridSampleBackwardGrid(gyc, xc, xShape, gridc, gridShape, p)],
      ];
      for (const [i, [g, c]] of outs.entries()) {
        expectClose(await gpu.read(g), await cpu.read(c), 1e-5, 1e-4, `${what} output ${i}`);
        gpu.free(g);
      }
      for (const s of [xg, gridg, gyg]) gpu.free(s);
    }), propertyOptions(60));
  });
});
