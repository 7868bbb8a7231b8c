import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adaptiveMaxPool3d, adaptiveWindows, backward, gradcheck, sum } from '../../src/autograd/index.js';
import { AdaptiveMaxPool3d } from '../../src/models/index.js';
import { dispose, fromArray, sizeOf } from '../../src/tensor/index.js';
import { cpu, distinctValues, randomArray, valuesOf, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * adaptiveMaxPool3d with returnIndices, as PyTorch's return_indices: each output's argmax, flat inside its (N, C)
 * input volume, the first maximum of its window in C order on ties (int32 where PyTorch's are int64).
 */

/**
 * PyTorch's cpu loops (aten's adaptive_max_pool3d): per (N, C) and output voxel, the window's voxels in C order from
 * −∞ at the window's first voxel, a later one winning if greater or NaN (so a NaN window names its last NaN)
 */
function reference(data: ArrayLike<number>, shape: readonly number[], size: readonly number[]): { values: number[]; indices: number[] } {
  const [n, c, D, H, W] = shape;
  const [wd, wh, ww] = [adaptiveWindows(D, size[0]), adaptiveWindows(H, size[1]), adaptiveWindows(W, size[2])];
  const values: number[] = [], indices: number[] = [];
  for (let plane = 0; plane < n * c; plane++) {
    for (const [d0, d1] of wd) for (const [h0, h1] of wh) for (const [w0, w1] of ww) {
      let best = -Infinity, at = (d0 * H + h0) * W + w0;
      for (let d = d0; d < d1; d++) for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) {
        const i = (d * H + h) * W + w, v = data[plane * D * H * W + i]!;
        if (v > best || Number.isNaN(v)) { best = v; at = i; }
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

  it('a window holding NaN names its last NaN in C order, its value NaN (PyTorch\'s cpu rule), across D, H and W', async () => {
    // [1, 1, 2, 2, 3], W windows [0, 2) and [1, 3): NaN at flat 1 (d 0, h 0, w 1), 3 (d 0, h 1, w 0), 6 (d 1, h 0, w 0);
    // the second window holds only the first of them
    const data = [0, NaN, 2, NaN, 9, 1, NaN, 0, 2, 1, 0, 3];
    for (const backend of [cpu, await webgpu()]) {
      const x = fromArray(data, [1, 1, 2, 2, 3], { backend });
      const [y, i] = adaptiveMaxPool3d(x, [1, 1, 2], { returnIndices: true });
      expect(await valuesOf(i), backend.name).toEqual([6, 1]);
      expect((await valuesOf(y)).map(Number.isNaN), backend.name).toEqual([true, true]);
      // tiling windows (maxPool3d's path): the same rule
      const tiled = adaptiveMaxPool3d(x, [1, 1, 1], { returnIndices: true });
      expect(await valuesOf(tiled[1]), backend.name).toEqual([6]);
      dispose([x, y, i, ...tiled]);
    }
  });

  it('equal the reference with NaN among tied values on random shapes, on the cpu and WebGPU', async () => {
    const gpu = await webgpu();
    const caseArb = fc.record({
      shape: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 })),
      size: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
      seed: fc.integer({ min: 1, max: 1e6 }),
    });
    await fc.assert(fc.asyncProperty(caseArb, async (c) => {
      const shape = [1, ...c.shape];
      // levels 0..3, a quarter of the voxels NaN
      const data = Array.from(randomArray(sizeOf(shape), c.seed), (v) => (v < 0.25 ? NaN : Math.floor(v * 4)));
      const want = reference(data, shape, c.size);
      for (const backend of [cpu, gpu]) {
        const label = `${JSON.stringify(c)} ${backend.name}`;
        const got = adaptiveMaxPool3d(fromArray(data, shape, { backend }), c.size, { returnIndices: true });
        expect(await valuesOf(got[1]), label).toEqual(want.indices);
        expect(await valuesOf(got[0]), label).toEqual(want.values);
        dispose(got);
      }
    }), propertyOptions(25));
  }, 240_000);

  it('with returnIndices the values\' gradient goes to the indexed voxel on ties, as PyTorch\'s backward', async () => {
    // W windows [0, 2) and [1, 3) of [4, 5, 5]: both name voxel 1 (the second window's first maximum)
    const x = fromArray([4, 5, 5], [1, 1, 1, 1, 3], { backend: cpu, requiresGrad: true });
    const [y, i] = adaptiveMaxPool3d(x, [1, 1, 2], { returnIndices: true });
    expect(await valuesOf(i)).toEqual([1, 1]);
    const loss = sum(y);
    backward(loss);
    expect(await valuesOf(x.grad!)).toEqual([0, 2, 0]);
    dispose([x, y, i, loss]);
  });

  it('returnIndices must be a boolean', () => {
    const x = fromArray([1, 2], [1, 1, 1, 1, 2], { backend: cpu });
    expect(() => adaptiveMaxPool3d(x, 1, { returnIndices: 1 as unknown as true })).toThrow(/^adaptiveMaxPool3d: returnIndices must be a boolean, got 1$/);
    x.dispose();
  });
});
