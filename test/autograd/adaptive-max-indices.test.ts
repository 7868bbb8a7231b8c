import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adaptiveMaxPool3d, adaptiveWindows, gradcheck } from '../../src/autograd/index.js';
import { AdaptiveMaxPool3d } from '../../src/models/index.js';
import { dispose, fromArray, sizeOf } from '../../src/tensor/index.js';
import { cpu, distinctValues, randomArray, valuesOf, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * adaptiveMaxPool3d with returnIndices, as PyTorch's return_indices: each output's argmax, flat inside its (N, C)
 * input volume, the first maximum of its window in C order on ties (int32 where PyTorch's are int64).
 */

/** PyTorch's loops: per (N, C) and output voxel, the window's voxels in C order, a later one winning only if greater */
function reference(data: ArrayLike<number>, shape: readonly number[], size: readonly number[]): { values: number[]; indices: number[] } {
  const [n, c, D, H, W] = shape;
  const [wd, wh, ww] = [adaptiveWindows(D, size[0]), adaptiveWindows(H, size[1]), adaptiveWindows(W, size[2])];
  const values: number[] = [], indices: number[] = [];
  for (let plane = 0; plane < n * c; plane++) {
    for (const [d0, d1] of wd) for (const [h0, h1] of wh) for (const [w0, w1] of ww) {
      let best = -Infinity, at = -1;
      for (let d = d0; d < d1; d++) for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) {
        const i = (d * H + h) * W + w, v = data[plane * D * H * W + i];
        if (at < 0 || v > best) { best = v; at = i; }
      }
      values.push(best);
      indices.push(at);
    }
  }
  return { values, indices };
}

describe('adaptiveMaxPool3d returnIndices', () => {
  it('by hand: overlapping windows along W, ties → the first maximum', async () => {
    const x = fromArray([3, 1, 3, 2, 0], [1, 1, 1, 1, 5], { backend: cpu });
    const [y, i] = adaptiveMaxPool3d(x, [1, 1, 2], { returnIndices: true });
    expect(i.dtype).toBe('int32');
    expect(i.shape).toEqual([1, 1, 1, 1, 2]);
    expect(await valuesOf(y)).toEqual([3, 3]);
    expect(await valuesOf(i)).toEqual([0, 2]);
    x.dispose();
  });

  it('by hand: a tie across D and H picks the first in C order (d, then h, then w), not the smallest w', async () => {
    // [1, 1, 2, 2, 3]; the maximum 5 at (d 0, h 1, w 1) = flat 4 and at (d 1, h 0, w 0) = flat 6
    const data = [0, 1, 2, 3, 5, 1, 5, 0, 2, 1, 0, 3];
    const x = fromArray(data, [1, 1, 2, 2, 3], { backend: cpu });
    const [y, i] = adaptiveMaxPool3d(x, [1, 1, 2], { returnIndices: true }); // W windows [0, 2) and [1, 3)
    expect(await valuesOf(y)).toEqual([5, 5]);
    expect(await valuesOf(i)).toEqual([4, 4]);
    // tiling windows (maxPool3d's path): the same rule
    const [yt, it] = adaptiveMaxPool3d(x, [1, 1, 1], { returnIndices: true });
    expect(await valuesOf(yt)).toEqual([5]);
    expect(await valuesOf(it)).toEqual([4]);
    x.dispose();
  });

  it('equal a plain-loop reference on random shapes and output sizes, with many ties (cpu); values as without indices', async () => {
    const caseArb = fc.record({
      nc: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
      shape: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
      size: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })),
      levels: fc.integer({ min: 2, max: 6 }), seed: fc.integer({ min: 1, max: 1e6 }),
    });
    await fc.assert(fc.asyncProperty(caseArb, async (c) => {
      const label = JSON.stringify(c);
      const shape = [...c.nc, ...c.shape];
      const data = Array.from(randomArray(sizeOf(shape), c.seed), (v) => Math.floor(v * c.levels));
      const x = fromArray(data, shape, { backend: cpu });
      const [y, i] = adaptiveMaxPool3d(x, c.size, { returnIndices: true });
      const want = reference(data, shape, c.size);
      expect(y.shape, label).toEqual([...c.nc, ...c.size]);
      expect(await valuesOf(i), label).toEqual(want.indices);
      expect(await valuesOf(y), label).toEqual(want.values);
      expect(await valuesOf(adaptiveMaxPool3d(x, c.size)), label).toEqual(want.values);
      x.dispose();
    }), propertyOptions(60));
  }, 120_000);

  it('the same indices on WebGPU as on the cpu (tied values; overlapping and tiling windows)', async () => {
    const gpu = await webgpu();
    for (const [shape, size] of [[[2, 1, 3, 4, 5], [2, 3, 2]], [[1, 2, 4, 2, 6], [2, 1, 3]]] as const) {
      const data = Array.from(randomArray(sizeOf(shape), 11), (v) => Math.floor(v * 3));
      const got = adaptiveMaxPool3d(fromArray(data, shape, { backend: gpu }), size, { returnIndices: true });
      expect(await valuesOf(got[1]), JSON.stringify(shape)).toEqual(reference(data, shape, size).indices);
      dispose(got);
    }
  });

  it("AdaptiveMaxPool3d.forwardWithIndices is the function's; the values' gradient as without indices (gradcheck)", async () => {
    const x = fromArray(randomArray(2 * 3 * 4 * 5, 3), [1, 2, 3, 4, 5], { backend: cpu });
    const [y, i] = new AdaptiveMaxPool3d([2, null, 3]).forwardWithIndices(x);
    const want = adaptiveMaxPool3d(x, [2, null, 3], { returnIndices: true });
    expect(await valuesOf(y)).toEqual(await valuesOf(want[0]));
    expect(await valuesOf(i)).toEqual(await valuesOf(want[1]));
    x.dispose();
    const r = await gradcheck((t) => adaptiveMaxPool3d(t, [2, 3, 2], { returnIndices: true })[0], [{ data: distinctValues(24, 4), shape: [1, 1, 3, 4, 2] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
  });

  it('returnIndices must be a boolean', () => {
    const x = fromArray([1, 2], [1, 1, 1, 1, 2], { backend: cpu });
    expect(() => adaptiveMaxPool3d(x, 1, { returnIndices: 1 as unknown as true })).toThrow(/^adaptiveMaxPool3d: returnIndices must be a boolean, got 1$/);
    x.dispose();
  });
});
