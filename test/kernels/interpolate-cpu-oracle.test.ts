import { describe, expect, it } from 'vitest';
import type { DType } from '../../src/kernels/index.js';
import { cpuData, storageFrom } from '../../src/kernels/cpu/storage.js';
import { interpolate, interpolateBackward } from '../../src/kernels/interpolate/cpu.js';

/**
 * The interpolate cpu oracle on what its golden and adjoint tests (test/kernels/interpolate.test.ts) leave open:
 * PyTorch's per-axis copy when an axis keeps its size (even when a scale factor is given), the float32 opmath of
 * float32 data, ±Inf and NaN copied by nearest (no 0·Inf from an unused neighbour) and each kernel's name in its
 * errors.
 */

type Mode = 'nearest' | 'nearest-exact' | 'trilinear';
const run = (x: number[], xShape: number[], out: [number, number, number], mode: Mode, align: boolean,
  scales?: [number, number, number], dtype: DType = 'float64'): number[] =>
  Array.from(cpuData(interpolate(storageFrom(dtype, Float64Array.from(x)), xShape, out, mode, align, scales)));

describe('the interpolate cpu oracle', () => {
  it('an axis that keeps its size is copied, as PyTorch does, even when its scale factor is not 1', () => {
    // W 5 → 5 with scale 1.1 (⌊5.5⌋ = 5): copied, where src = (dst + ½)/1.1 − ½ would blend neighbours
    const x = [0, 1, 4, 9, 16];
    expect(run(x, [1, 1, 1, 1, 5], [1, 1, 5], 'trilinear', false, [1, 1, 1.1])).toEqual(x);
    expect(run(x, [1, 1, 1, 1, 5], [1, 1, 5], 'trilinear', true, [1, 1, 1.1])).toEqual(x);
    const gx = interpolateBackward(storageFrom('float64', Float64Array.from(x)), [1, 1, 1, 1, 5], [1, 1, 1, 1, 5], 'trilinear', false, [1, 1, 1.1]);
    expect(Array.from(cpuData(gx))).toEqual(x);
  });

  it('float32 data interpolates in float32 (PyTorch\'s opmath): 3 → 5 weighs with 0.6f, not 0.6', () => {
    // dst 1: src = fl(fl(0.6f · 1.5) − 0.5) = 0.40000004, so λ1 · 10⁶ = 400000.04 → 400000.03125 in float32
    expect(run([0, 1e6, 3], [1, 1, 1, 1, 3], [1, 1, 5], 'trilinear', false, undefined, 'float32'))
      .toEqual([0, 400000.03125, 1e6, 400001.65625, 3]);
    const y64 = run([0, 1e6, 3], [1, 1, 1, 1, 3], [1, 1, 5], 'trilinear', false);
    expect(Math.abs(y64[1]! - 400000)).toBeLessThan(1e-6);
    expect(Math.abs(y64[3]! - 400001.8)).toBeLessThan(1e-6);
    // the backward of float32 gradients weighs the same way
    const gx = interpolateBackward(storageFrom('float32', Float64Array.from([0, 1e6, 0, 0, 0])), [1, 1, 1, 1, 5], [1, 1, 1, 1, 3], 'trilinear', false);
    expect(Array.from(cpuData(gx))).toEqual([Math.fround(1e6 * Math.fround(1 - 0.40000004)), Math.fround(1e6 * 0.40000004), 0].map(Math.fround));
  });

  it('nearest and nearest-exact copy ±Inf and NaN to the outputs that take them, on every axis', () => {
    const x = [Infinity, 1, -Infinity, 2, 3, NaN, 4, 5];
    for (const mode of ['nearest', 'nearest-exact'] as const) {
      // 2 → 4 on every axis: each source voxel fills a 2×2×2 block
      const y = run(x, [1, 1, 2, 2, 2], [4, 4, 4], mode, false);
      for (let d = 0; d < 4; d++) for (let h = 0; h < 4; h++) for (let w = 0; w < 4; w++) {
        expect(y[(d * 4 + h) * 4 + w], `${mode} (${d}, ${h}, ${w})`).toBe(x[(Math.floor(d / 2) * 2 + Math.floor(h / 2)) * 2 + Math.floor(w / 2)]);
      }
    }
  });

  it('each kernel names itself in its errors', () => {
    const x = storageFrom('float64', Float64Array.from([1, 2, 3, 4]));
    expect(() => interpolate(x, [1, 1, 1, 1, 4], [1, 1, 0], 'nearest', false)).toThrow(/^interpolate \(size\)/);
    expect(() => interpolateBackward(x, [1, 1, 1, 1, 4], [1, 1, 1, 0, 4], 'nearest', false)).toThrow(/^interpolateBackward: /);
  });
});
