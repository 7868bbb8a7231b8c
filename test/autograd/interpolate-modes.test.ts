import { describe, expect, it } from 'vitest';
import { adaptiveAvgPool3d, gradcheck, interpolate, type InterpolateOptions } from '../../src/autograd/index.js';
import { Upsample } from '../../src/models/index.js';
import { fromArray, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray, valuesOf } from '../helpers/backends.js';

/**
 * F.interpolate's 'nearest-exact' (PyTorch's nearest_exact_idx: src = ⌊(dst + ½)·scale⌋, scale = in/out or
 * 1/scaleFactor, no copy cases) and 'area' (adaptive_avg_pool3d to the output size). Expected values by hand.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const row = (n: number) => fromArray(Array.from({ length: n }, (_, i) => i), [1, 1, 1, 1, n], f64);
const along = (w: number): [number, number, number] => [1, 1, w];
const values = async (n: number, o: InterpolateOptions) => valuesOf(interpolate(row(n), o));

describe("interpolate mode 'nearest-exact'", () => {
  it('sizes: 3 → 5 and 5 → 3 (legacy nearest gives 0, 0, 1, 1, 2 and 0, 1, 3)', async () => {
    expect(await values(3, { size: along(5), mode: 'nearest-exact' })).toEqual([0, 0, 1, 2, 2]);
    expect(await values(5, { size: along(3), mode: 'nearest-exact' })).toEqual([0, 2, 4]);
  });

  it('scale factors map by 1/scaleFactor: ×0.75 on 9 → ⌊(dst + ½)/0.75⌋; ×1.1 on 5 and ×2.2 on 3', async () => {
    expect(await values(9, { scaleFactor: along(0.75), mode: 'nearest-exact' })).toEqual([0, 2, 3, 4, 6, 7]);
    expect(await values(5, { scaleFactor: along(1.1), mode: 'nearest-exact' })).toEqual([0, 1, 2, 3, 4]);
    expect(await values(3, { scaleFactor: along(2.2), mode: 'nearest-exact' })).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it('its gradient (each input gets the sum of the outputs that copy it)', async () => {
    const r = await gradcheck((x) => interpolate(x, { size: [3, 5, 2], mode: 'nearest-exact' }), [{ data: Array.from(randomArray(24, 3, -1, 1)), shape: [1, 2, 2, 3, 2] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
  });
});

describe("interpolate mode 'area'", () => {
  it('is adaptiveAvgPool3d to the output size: W 3 → 2 averages [0, 2) and [1, 3)', async () => {
    const x = fromArray([1, 2, 4], [1, 1, 1, 1, 3], f64);
    expect(await valuesOf(interpolate(x, { size: along(2), mode: 'area' }))).toEqual([1.5, 3]);
    // scaleFactor 0.7: the output size ⌊3·0.7⌋ = 2, the same windows
    expect(await valuesOf(interpolate(x, { scaleFactor: along(0.7), mode: 'area' }))).toEqual([1.5, 3]);
  });

  it('on a random volume, up and down, as adaptiveAvgPool3d; gradients', async () => {
    const x = fromArray(Array.from(randomArray(2 * 5 * 4 * 3, 8, -1, 1)), [1, 2, 5, 4, 3], f64);
    expect(await valuesOf(interpolate(x, { size: [3, 7, 3], mode: 'area' }))).toEqual(await valuesOf(adaptiveAvgPool3d(x, [3, 7, 3])));
    const r = await gradcheck((t: Tensor) => interpolate(t, { size: [3, 2, 4], mode: 'area' }), [{ data: Array.from(randomArray(60, 9, -1, 1)), shape: [1, 1, 5, 4, 3] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
  });

  it('nn.Upsample takes both modes', async () => {
    const x = fromArray([1, 2, 4], [1, 1, 1, 1, 3], f64);
    expect(await valuesOf(new Upsample({ size: [1, 1, 2], mode: 'area' }).forward(x))).toEqual([1.5, 3]);
    expect(await valuesOf(new Upsample({ size: [1, 1, 5], mode: 'nearest-exact' }).forward(x))).toEqual([1, 1, 2, 4, 4]);
  });
});

describe('interpolate argument errors', () => {
  it('alignCorners only with trilinear; unknown modes list the valid ones', () => {
    for (const mode of ['nearest-exact', 'area'] as const) {
      expect(() => interpolate(row(3), { size: along(2), mode, alignCorners: false })).toThrow(/alignCorners can only be set with mode 'trilinear'/);
    }
    expect(() => interpolate(row(3), { size: along(2), mode: 'bicubic' as 'area' })).toThrow(/valid: nearest, nearest-exact, trilinear, area/);
  });
});

