import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { oneHot } from '../../src/autograd/index.js';
import { scatterAdd, type ScatterMode } from '../../src/kernels/gather/webgpu.js';
import type { Storage, WebGPUBackend } from '../../src/kernels/index.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { crossEntropy } from '../../src/models/losses.js';
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

  it('on random shapes one bad index gives, at the read, the message the cpu oracle throws (all three ops)', async () => {
    const g = await gpuBackend();
    const caseArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }).chain((xShape) => fc.record({
      xShape: fc.constant(xShape), axis: fc.integer({ min: 0, max: xShape.length - 1 }), n: fc.integer({ min: 1, max: 6 }),
      seed: fc.integer({ min: 1 }), where: fc.nat(), tooLarge: fc.boolean(), mode: fc.constantFrom<ScatterMode>('deterministic', 'atomic'),
    }));
    await fc.assert(fc.asyncProperty(caseArb, async ({ xShape, axis, n, seed, where, tooLarge, mode }) => {
      const iShape = xShape.slice();
      iShape[axis] = n;
      const xn = xShape[axis], count = sizeOf(iShape);
      const index = Int32Array.from(randomArray(count, seed, 0, xn), (v) => Math.min(Math.floor(v), xn - 1));
      index[where % count] = tooLarge ? xn + (seed % 3) : -1 - (seed % 3);
      const x = randomArray(sizeOf(xShape), seed + 1), src = randomArray(count, seed + 2);
      const cpuMessage = (run: () => unknown): string => {
        try { run(); } catch (e) { return (e as Error).message; }
        throw new Error('the cpu oracle accepted a bad index');
      };
      const ci = cpu.upload(index, 'int32'), gi = g.upload(index, 'int32');
      const gx = g.upload(x, 'float32'), gs = g.upload(src, 'float32');
      const runs: [string, () => Storage, () => unknown][] = [
        ['gather', () => g.gather(gx, xShape, axis, gi, iShape), () => cpu.gather(cpu.upload(x, 'float32'), xShape, axis, ci, iShape)],
        ['scatterAdd', () => scatterAdd(g.rt, gs, iShape, axis, gi, xShape, mode),
          () => cpu.scatterAdd(cpu.upload(src, 'float32'), iShape, axis, ci, xShape)],
        ['oneHot', () => g.oneHot(gi, count, xn), () => cpu.oneHot(ci, count, xn)],
      ];
      for (const [op, onGpu, onCpu] of runs) {
        const want = cpuMessage(onCpu);
        expect(want.startsWith(`${op}: index ${index[where % count]} out of range [0, ${xn})`)).toBe(true);
        const y = onGpu();
        await expect(g.read(y)).rejects.toThrow(`${want} (reported by the device at this readback; 1 failed index check since the last readback)`);
        g.free(y);
      }
      for (const s of [gi, gx, gs]) g.free(s);
    }), { numRuns: 25 });
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

  it('crossEntropy with a class target out of range raises naming the target, as PyTorch (ignoreIndex passes)', async () => {
    const g = await gpuBackend();
    for (const backend of [cpu, g]) {
      const logits = fromArray(randomArray(2 * 3 * 2, 5), [2, 3, 2], { backend });
      const good = fromArray([0, 2, -100, 1], [2, 2], { backend, dtype: 'int32' });
      const loss = crossEntropy(logits, good);
      expect(Number.isFinite(await loss.item())).toBe(true);
      const bad = fromArray([0, 2, 3, 1], [2, 2], { backend, dtype: 'int32' });
      const message = 'crossEntropy: target 3 is out of bounds for 3 classes (element 2 of the target)';
      if (backend === cpu) expect(() => crossEntropy(logits, bad)).toThrow(message);
      else {
        const badLoss = crossEntropy(logits, bad);
        await expect(badLoss.item()).rejects.toThrow(message);
        badLoss.dispose();
      }
      dispose([logits, good, bad, loss]);
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

  it('the word rides on the readback: one submit and one mapped staging buffer per read or sync, no extra wait', async () => {
    const g = await gpuBackend();
    const device = g.rt.device;
    const submit = vi.spyOn(device.queue, 'submit');
    const createBuffer = vi.spyOn(device, 'createBuffer');
    const workDone = vi.spyOn(device.queue, 'onSubmittedWorkDone');
    const x = g.upload(Float32Array.from([1, 2, 3]), 'float32'), i = g.upload(Int32Array.from([2, 1, 0]), 'int32');
    submit.mockClear();
    const y = g.gather(x, [3], 0, i, [3]);
    expect(Array.from(await g.read(y))).toEqual([3, 2, 1]);
    await g.sync();
    expect(submit).toHaveBeenCalledTimes(2);
    const staging = createBuffer.mock.calls.filter(([d]) => (d.usage & GPUBufferUsage.MAP_READ) !== 0);
    expect(staging.map(([d]) => d.size)).toEqual([32 + 12, 32]);
    expect(workDone).not.toHaveBeenCalled();
    vi.restoreAllMocks();
    for (const s of [x, i, y]) g.free(s);
  });
});
