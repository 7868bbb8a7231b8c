import { describe, expect, it } from 'vitest';
import { gradcheck, interpolate, type InterpolateOptions } from '../../src/autograd/index.js';
import { Upsample } from '../../src/models/index.js';
import { fromArray } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray } from '../helpers/backends.js';

/**
 * interpolate with scaleFactor, as PyTorch's default (recompute_scale_factor None/False): the source coordinate
 * is mapped with 1/scaleFactor (compute_scales_value), not with in/out; in/out only with a size, with
 * recomputeScaleFactor, or with alignCorners (where PyTorch ignores the factor). Expected values by hand from
 * PyTorch's definitions (area_pixel_compute_source_index, nearest_idx with its out = in and out = 2·in copies).
 */

const row = (n: number) => fromArray(Array.from({ length: n }, (_, i) => i), [1, 1, 1, 1, n], { backend: cpu, dtype: 'float64' });
const along = (w: number): [number, number, number] => [1, 1, w];
const values = async (n: number, o: InterpolateOptions) => Array.from(await interpolate(row(n), o).toArray());

describe('interpolate scaleFactor maps coordinates with 1/scaleFactor (PyTorch default)', () => {
  it('trilinear ×0.5 on W = 5: src = (dst + ½)/0.5 − ½ = 0.5, 2.5', async () => {
    expectClose(await values(5, { scaleFactor: along(0.5), mode: 'trilinear' }), [0.5, 2.5], 1e-6, 0);
  });

  it('trilinear ×1.5 on W = 5 (out 7): src = max((dst + ½)/1.5 − ½, 0)', async () => {
    const want = [0, 0.5, 7 / 6, 11 / 6, 2.5, 19 / 6, 23 / 6];
    expectClose(await values(5, { scaleFactor: along(1.5), mode: 'trilinear' }), want, 1e-6, 0);
  });

  it('nearest ×0.75 on W = 9 (out 6): src = ⌊dst/0.75⌋', async () => {
    expect(await values(9, { scaleFactor: along(0.75) })).toEqual([0, 1, 2, 4, 5, 6]);
  });

  it("nearest keeps PyTorch's copies: out = in copies, out = 2·in halves the index", async () => {
    // ×1.1 on 5 → 5 (⌊dst/1.1⌋ would give 0, 0, 1, 2, 3); ×2.2 on 3 → 6 (⌊dst/2.2⌋ would give 0, 0, 0, 1, 1, 2)
    expect(await values(5, { scaleFactor: along(1.1) })).toEqual([0, 1, 2, 3, 4]);
    expect(await values(3, { scaleFactor: along(2.2) })).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it('recomputeScaleFactor: true maps by in/out (the size path)', async () => {
    expectClose(await values(5, { scaleFactor: along(0.5), mode: 'trilinear', recomputeScaleFactor: true }), [0.75, 3.25], 1e-6, 0);
    expect(await values(9, { scaleFactor: along(0.75), recomputeScaleFactor: true })).toEqual([0, 1, 3, 4, 6, 7]);
    expect(await values(9, { scaleFactor: along(0.75), recomputeScaleFactor: true }))
      .toEqual(await values(9, { size: along(6) }));
  });

  it('alignCorners ignores the factor, as PyTorch: (in − 1)/(out − 1)', async () => {
    expectClose(await values(5, { scaleFactor: along(1.5), mode: 'trilinear', alignCorners: true }),
      [0, 2 / 3, 4 / 3, 2, 8 / 3, 10 / 3, 4], 1e-6, 0);
  });

  it('nn.Upsample passes the factor on (and recomputeScaleFactor)', async () => {
    const x = row(5);
    expectClose(await new Upsample({ scaleFactor: along(0.5), mode: 'trilinear' }).forward(x).toArray(), [0.5, 2.5], 1e-6, 0);
    expectClose(await new Upsample({ scaleFactor: along(0.5), mode: 'trilinear', recomputeScaleFactor: true }).forward(x).toArray(),
      [0.75, 3.25], 1e-6, 0);
  });

  it('refuses recomputeScaleFactor with a size, as PyTorch', () => {
    expect(() => interpolate(row(5), { size: along(3), recomputeScaleFactor: true })).toThrow(/recomputeScaleFactor.*scaleFactor/);
  });

  it('gradcheck with non-integer factors (float64, cpu)', async () => {
    const x = { data: Array.from(randomArray(3 * 5 * 4, 7)), shape: [1, 1, 3, 5, 4] };
    for (const o of [
      { scaleFactor: [1.5, 0.5, 0.75], mode: 'trilinear' },
      { scaleFactor: [1.7, 0.6, 2.2], mode: 'nearest' },
      { scaleFactor: [0.7, 1.3, 1.5], mode: 'trilinear', alignCorners: true },
    ] as InterpolateOptions[]) {
      const r = await gradcheck((t) => interpolate(t, o), [x], { backend: cpu });
      expect(r.ok, `${JSON.stringify(o)} ${r.message}`).toBe(true);
    }
  });
});
