import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sizeOf } from '../../src/kernels/layout.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * maxUnpool3d (F.max_unpool3d): zeros with each input value written at its index inside its (N, C) output volume,
 * the last input in C order winning where several name one voxel (PyTorch's cpu loop). The cpu oracle by hand,
 * WebGPU against it on random shapes (with many repeated indices), and the index errors on both backends.
 */

const ints = (a: number[]) => cpu.upload(Int32Array.from(a), 'int32');
const floats = (a: number[]) => cpu.upload(Float64Array.from(a), 'float64');

describe('maxUnpool3d: the cpu oracle by hand', () => {
  it('writes each value at its index, zeros elsewhere, per (N, C) volume', async () => {
    // x [1, 2, 1, 1, 2]: channel 0 writes 5 at 3 and 7 at 0, channel 1 writes 1 at 1 and 2 at 2 (of 4 each)
    const y = cpu.maxUnpool3d(floats([5, 7, 1, 2]), ints([3, 0, 1, 2]), [1, 2, 1, 1, 2], [1, 1, 4]);
    expect(Array.from(await cpu.read(y))).toEqual([7, 0, 0, 5, 0, 1, 2, 0]);
  });

  it('the last of several inputs naming one voxel wins', async () => {
    const y = cpu.maxUnpool3d(floats([5, 7, 9]), ints([1, 1, 2]), [1, 1, 1, 1, 3], [1, 2, 2]);
    expect(Array.from(await cpu.read(y))).toEqual([0, 7, 9, 0]);
  });

  it('refuses an index outside the output volume, and bad arguments', () => {
    expect(() => cpu.maxUnpool3d(floats([5, 7]), ints([0, 4]), [1, 1, 1, 1, 2], [1, 2, 2]))
      .toThrow('maxUnpool3d: invalid max index 4 at element 1 of the indices (output volumes are of size 1×2×2)');
    expect(() => cpu.maxUnpool3d(floats([5]), ints([-1]), [1, 1, 1, 1, 1], [1, 1, 2])).toThrow(/invalid max index -1 at element 0/);
    expect(() => cpu.maxUnpool3d(floats([5]), floats([0]), [1, 1, 1, 1, 1], [1, 1, 2])).toThrow('maxUnpool3d: indices must be int32, got float64');
    expect(() => cpu.maxUnpool3d(floats([5]), ints([0]), [1, 1, 1, 1, 1], [1, 0, 2])).toThrow('maxUnpool3d: output size [1, 0, 2] must be three positive integers');
    expect(() => cpu.maxUnpool3d(floats([5]), ints([0]), [1, 1, 1, 1, 2], [1, 1, 2])).toThrow(/fewer than the 2 elements/);
  });
});

const unpoolCase = fc.record({
  n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 3 }),
  in: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
  out: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

describe('maxUnpool3d on WebGPU against the cpu oracle', () => {
  it('random shapes and indices (repeats included): the same values', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(unpoolCase, async (r) => {
      const xShape = [r.n, r.c, ...r.in], outSize: [number, number, number] = [...r.out];
      const count = sizeOf(xShape), outVol = sizeOf(outSize);
      const x = randomArray(count, r.seed);
      // indices drawn from the output volume: with count often above outVol, many voxels are named several times
      const indices = Int32Array.from(randomArray(count, r.seed + 1, 0, outVol), (v) => Math.min(Math.floor(v), outVol - 1));
      const want = await cpu.read(cpu.maxUnpool3d(cpu.upload(x, 'float32'), cpu.upload(indices, 'int32'), xShape, outSize));
      const xg = gpu.upload(x, 'float32'), ig = gpu.upload(indices, 'int32');
      const yg = gpu.maxUnpool3d(xg, ig, xShape, outSize);
      expect(Array.from(await gpu.read(yg))).toEqual(Array.from(want));
      for (const s of [xg, ig, yg]) gpu.free(s);
    }), { numRuns: 40 });
  });

  it('an index outside the output volume raises at the next readback, with the cpu words', async () => {
    const gpu = await webgpu();
    const xg = gpu.upload(Float32Array.from([5, 7, 9]), 'float32'), ig = gpu.upload(Int32Array.from([0, 9, 1]), 'int32');
    const yg = gpu.maxUnpool3d(xg, ig, [1, 1, 1, 1, 3], [1, 2, 2]);
    await expect(gpu.read(yg)).rejects.toThrow('maxUnpool3d: invalid max index 9 at element 1 of the indices (output volumes are of size 1×2×2)');
    // reported once; the bad element was skipped
    expect(Array.from(await gpu.read(yg))).toEqual([5, 9, 0, 0]);
    for (const s of [xg, ig, yg]) gpu.free(s);
  });
});
