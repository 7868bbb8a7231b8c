import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { oneHot } from '../../src/autograd/index.js';
import { scatterAdd, type ScatterMode } from '../../src/kernels/gather/webgpu.js';
import type { Storage, WebGPUBackend } from '../../src/kernels/index.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { dispose, fromArray } from '../../src/tensor/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * Out-of-range indices on WebGPU: the kernel skips the element (nothing is read or written out of bounds) and
 * records the first failure in the runtime's device-side error word; the next readback (read or sync) throws
 * naming the op, the index, the valid range and where it was, and clears the word, as CUDA reports a device-side
 * assert at the next synchronization. The cpu oracle throws at once with the same leading message.
 */

async function gpuBackend(): Promise<WebGPUBackend> {
  return (await webgpu()) as WebGPUBackend;
}

/** reads a good result after a failure: the word was cleared, so it reads back fine */
async function expectCleared(g: WebGPUBackend): Promise<void> {
  const x = g.upload(Float32Array.from([1, 2, 3]), 'float32'), i = g.upload(Int32Array.from([2, 0]), 'int32');
  const y = g.gather(x, [3], 0, i, [2]);
  expect(Array.from(await g.read(y))).toEqual([3, 1]);
  await g.sync();
  for (const s of [x, i, y]) g.free(s);
}

const deviceReport = /reported by the device at this readback/;

describe('out-of-range indices raise on WebGPU at the next readback', () => {
  it('gather: a negative and a too-large index, each reported with its value, range, axis and element', async () => {
    const g = await gpuBackend();
    const x = g.upload(randomArray(2 * 4 * 3, 1), 'float32');
    for (const [bad, at] of [[-1, 4], [4, 7], [1 << 30, 0]] as const) {
      const index = Int32Array.from({ length: 2 * 5 * 3 }, (_, k) => k % 4);
      index[at] = bad;
      const gi = g.upload(index, 'int32');
      const y = g.gather(x, [2, 4, 3], 1, gi, [2, 5, 3]);
      const read = g.read(y);
      await expect(read).rejects.toThrow(`gather: index ${bad} out of range [0, 4) along axis 1 at element ${at} of the index`);
      // reported once: the next read gives the result, 0 where the index was bad
      expect((await g.read(y))[at]).toBe(0);
      // the cpu oracle throws at once, with the same words
      expect(() => cpu.gather(cpu.upload(randomArray(24, 1), 'float32'), [2, 4, 3], 1, cpu.upload(index, 'int32'), [2, 5, 3]))
        .toThrow(`gather: index ${bad} out of range [0, 4) along axis 1 at element ${at} of the index`);
      g.free(gi);
      g.free(y);
    }
    await expect(g.read(x)).resolves.toHaveLength(24);
    g.free(x);
    await expectCleared(g);
  });

  it('scatterAdd: deterministic and atomic kernels report a bad index once, and write nothing for it', async () => {
    const g = await gpuBackend();
    for (const mode of ['deterministic', 'atomic'] as ScatterMode[]) {
      for (const bad of [-3, 5]) {
        const index = Int32Array.from([0, 1, bad, 2, 4, 4]);
        const src = g.upload(Float32Array.from([1, 2, 3, 4, 5, 6]), 'float32'), gi = g.upload(index, 'int32');
        const y = scatterAdd(g.rt, src, [6], 0, gi, [5], mode);
        await expect(g.read(y)).rejects.toThrow(new RegExp(`^scatterAdd: index ${bad} out of range \\[0, 5\\) along axis 0 at element 2 of the index \\(`));
        // the bad element was skipped: the result is the sum of the good ones
        expect(Array.from(await g.read(y))).toEqual([1, 2, 4, 0, 11]);
        expect(() => cpu.scatterAdd(cpu.upload(Float32Array.from([1, 2, 3, 4, 5, 6]), 'float32'), [6], 0, cpu.upload(index, 'int32'), [5]))
          .toThrow(`scatterAdd: index ${bad} out of range [0, 5) along axis 0 at element 2 of the index`);
        for (const s of [src, gi, y]) g.free(s);
      }
    }
    await expectCleared(g);
  });

  it('the first failure wins; a later read of any storage reports it, and so does sync', async () => {
    const g = await gpuBackend();
    const x = g.upload(Float32Array.from([1, 2, 3, 4]), 'float32');
    const first = g.upload(Int32Array.from([0, 9]), 'int32'), second = g.upload(Int32Array.from([-7, 0]), 'int32');
    const a = g.gather(x, [4], 0, first, [2]);
    const b = g.gather(x, [4], 0, second, [2]);
    const other = g.upload(Float32Array.from([5]), 'float32');
    await expect(g.read(other)).rejects.toThrow(/^gather: index 9 out of range \[0, 4\) along axis 0 at element 1 of the index \(reported by the device at this readback; 2 failed index checks since the last readback\)/);
    expect(Array.from(await g.read(a))).toEqual([1, 0]);
    const c = g.gather(x, [4], 0, second, [2]);
    await expect(g.sync()).rejects.toThrow(deviceReport);
    await g.sync();
    for (const s of [x, first, second, a, b, c, other]) g.free(s);
    await expectCleared(g);
  });

  it('oneHot: the cpu backend throws at once, WebGPU at the read; in-range values give the rows', async () => {
    const g = await gpuBackend();
    for (const bad of [-1, 3]) {
      const values = [0, 2, bad, 1];
      const onCpu = fromArray(values, [2, 2], { backend: cpu, dtype: 'int32' });
      expect(() => oneHot(onCpu, 3)).toThrow(`oneHot: index ${bad} out of range [0, 3) at element 2 of the index`);
      const onGpu = fromArray(values, [2, 2], { backend: g, dtype: 'int32' });
      const y = oneHot(onGpu, 3);
      expect(y.shape).toEqual([2, 2, 3]);
      await expect(y.toArray()).rejects.toThrow(`oneHot: index ${bad} out of range [0, 3) at element 2 of the index (reported by the device at this readback`);
      // the bad row holds zeros, the others their class
      expect(Array.from(await y.toArray())).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
      dispose([onCpu, onGpu, y]);
    }
    await expectCleared(g);
  });

  it('oneHot on WebGPU matches the cpu oracle on random shapes, in one dispatch', async () => {
    const g = await gpuBackend();
    const shapeArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 3 });
    await fc.assert(fc.asyncProperty(shapeArb, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1 }), async (shape, classes, seed) => {
      const n = sizeOf(shape);
      const values = Int32Array.from(randomArray(n, seed, 0, classes), (v) => Math.min(Math.floor(v), classes - 1));
      const gi = g.upload(values, 'int32');
      const before = g.rt.dispatchCount;
      const got: Storage = g.oneHot(gi, n, classes);
      expect(g.rt.dispatchCount - before).toBe(1);
      const want = await cpu.read(cpu.oneHot(cpu.upload(values, 'int32'), n, classes));
      expect(Array.from(await g.read(got))).toEqual(Array.from(want));
      g.free(gi);
      g.free(got);
    }), { numRuns: 30 });
  });
});
