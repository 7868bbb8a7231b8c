import { describe, expect, it } from 'vitest';
import type { DType, GridSampleParams } from '../../src/kernels/backend.js';
import { typedArrayFor } from '../../src/kernels/backend.js';
import { cpu } from '../helpers/backends.js';

/**
 * What grid-sample.test.ts and grid-sample-reflection.test.ts (float64 throughout) leave out of the cpu gridSample
 * oracle (src/kernels/grid-sample/cpu.ts): the voxel position computed in float32 for float32 data, as PyTorch's
 * kernels do, in the forward and both gradients, worked by hand at grid values where float32 and float64 part ways.
 */

const up = (values: readonly number[], dtype: DType) => { const a = typedArrayFor(dtype, values.length); a.set(values); return cpu.upload(a, dtype); };
const read = async (s: Parameters<typeof cpu.read>[0]) => Array.from(await cpu.read(s));

/** x = [10, 20] along W (D = H = 1), one grid point (g, 0, 0) */
const xShape = [1, 1, 1, 1, 2], gridShape = [1, 1, 1, 1, 3];
const sampleAt = (g: number, p: GridSampleParams, dtype: DType) => cpu.gridSample(up([10, 20], dtype), xShape, up([g, 0, 0], dtype), gridShape, p);

describe('the cpu gridSample oracle by hand', () => {
  it('nearest rounds half to even at odd and even voxels and at −½, and reads nothing outside with zeros', async () => {
    // x = [10, 20, 30, 40] along W, alignCorners false: pos = ((g + 1)·4 − 1)/2 = 2g + 1.5
    const gs = [0, 0.5, -0.5, -1, 1, 0.45, 0.55, -0.8];
    // pos 1.5 → 2, 2.5 → 2, 0.5 → 0, −0.5 → 0, 3.5 → 4 (outside: 0), 2.4 → 2, 2.6 → 3, −0.1 → 0
    const x = up([10, 20, 30, 40], 'float64'), shape = [1, 1, 1, 1, 4], grid = up(gs.flatMap((g) => [g, 0, 0]), 'float64');
    const p: GridSampleParams = { mode: 'nearest', paddingMode: 'zeros', alignCorners: false };
    expect(await read(cpu.gridSample(x, shape, grid, [1, 1, 1, gs.length, 3], p))).toEqual([30, 30, 10, 10, 0, 30, 40, 10]);
    // border clamps pos 3.5 to 3 first
    expect(await read(cpu.gridSample(x, shape, grid, [1, 1, 1, gs.length, 3], { ...p, paddingMode: 'border' }))).toEqual([30, 30, 10, 10, 40, 30, 40, 10]);
  });

  it('border counts a point exactly on the first or last voxel as clamped: no grid gradient there (PyTorch)', async () => {
    // alignCorners, W = 2: g = −1 → pos 0, g = 1 → pos 1 = W − 1; inside, the slope would be ½·(20 − 10) = 5
    const p: GridSampleParams = { mode: 'bilinear', paddingMode: 'border', alignCorners: true };
    const gg = cpu.gridSampleBackwardGrid(up([1, 1, 1], 'float64'), up([10, 20], 'float64'), xShape, up([-1, 0, 0, 1, 0, 0, 0, 0, 0], 'float64'), [1, 1, 1, 3, 3], p);
    expect(await read(gg)).toEqual([0, 0, 0, 0, 0, 0, 5, 0, 0]);
  });

  it('each function names itself in its shape errors', () => {
    const x = up([10, 20], 'float64'), badGrid = up([0, 0], 'float64'), p: GridSampleParams = { mode: 'bilinear', paddingMode: 'zeros', alignCorners: false };
    const badShape = [1, 1, 1, 1, 2];
    expect(() => cpu.gridSample(x, xShape, badGrid, badShape, p)).toThrow('gridSample: grid [1, 1, 1, 1, 2] must be [N, Do, Ho, Wo, 3]');
    expect(() => cpu.gridSampleBackwardInput(up([1], 'float64'), badGrid, badShape, xShape, p)).toThrow('gridSampleBackwardInput: grid [1, 1, 1, 1, 2] must be');
    expect(() => cpu.gridSampleBackwardGrid(up([1], 'float64'), x, xShape, badGrid, badShape, p)).toThrow('gridSampleBackwardGrid: grid [1, 1, 1, 1, 2] must be');
  });
});

describe('the cpu gridSample oracle computes the position in float32 for float32 data', () => {
  // alignCorners, W = 2: pos = (g + 1)/2; at g = 2^−30, float32 rounds g + 1 to 1 (pos ½ exactly), float64 keeps 1 + 2^−30
  const nearest: GridSampleParams = { mode: 'nearest', paddingMode: 'zeros', alignCorners: true };
  const g = 2 ** -30;

  it('forward: nearest rounds the float32 tie ½ to voxel 0, the float64 ½ + 2^−31 to voxel 1', async () => {
    expect(await read(sampleAt(g, nearest, 'float32'))).toEqual([10]);
    expect(await read(sampleAt(g, nearest, 'float64'))).toEqual([20]);
  });

  it('input gradient: the same point sends gy to voxel 0 in float32, to voxel 1 in float64', async () => {
    for (const [dtype, want] of [['float32', [3, 0]], ['float64', [0, 3]]] as const) {
      const gx = cpu.gridSampleBackwardInput(up([3], dtype), up([g, 0, 0], dtype), gridShape, xShape, nearest);
      expect(await read(gx), dtype).toEqual(want);
    }
  });

  it('grid gradient: at g = 1 − 2^−24 float32 puts the point on the last voxel (border clamps it: 0), float64 just before it', async () => {
    // float32: g + 1 = 2 − 2^−24 rounds (to even) to 2, pos = 1 = W − 1, clamped; float64: pos = 1 − 2^−25, slope
    // ∂pos/∂g = (W − 1)/2 = ½ times x[1] − x[0] = 10
    const p: GridSampleParams = { mode: 'bilinear', paddingMode: 'border', alignCorners: true };
    const at = 1 - 2 ** -24;
    for (const [dtype, want] of [['float32', [0, 0, 0]], ['float64', [5, 0, 0]]] as const) {
      const gg = cpu.gridSampleBackwardGrid(up([1], dtype), up([10, 20], dtype), xShape, up([at, 0, 0], dtype), gridShape, p);
      expect(await read(gg), dtype).toEqual(want);
    }
  });
});
