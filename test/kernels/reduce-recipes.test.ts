import { describe, expect, it } from 'vitest';
import type { ReduceOp, View } from '../../src/kernels/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * The WebGPU reductions cache a recipe (plan, pipeline, parameters) per mode, dtype, view and axes: each of
 * these changed alone, right after the base reduction ran, must get its own recipe (the cpu oracle's result).
 */
describe('reduce: the recipe cache is keyed by the whole reduction', () => {
  it('a reduction differing only in mode, dtype, shape, strides, offset or axes is not served the cached recipe', async () => {
    const g = await webgpu();
    const data = randomArray(64, 7, -3, 3).map(Math.round);
    const stores = { float32: [g.upload(data, 'float32'), cpu.upload(data, 'float32')], int32: [g.upload(Int32Array.from(data), 'int32'), cpu.upload(Int32Array.from(data), 'int32')] } as const;
    interface Case { op: ReduceOp; dtype: 'float32' | 'int32'; shape: number[]; strides: number[]; offset: number; axes: number[] }
    const base: Case = { op: 'sum', dtype: 'float32', shape: [4, 6], strides: [6, 1], offset: 0, axes: [1] };
    const cases: Case[] = [
      base, { ...base, op: 'max' }, base, { ...base, dtype: 'int32' }, base, { ...base, shape: [6, 4], strides: [4, 1] }, base,
      { ...base, strides: [1, 4] }, base, { ...base, offset: 3 }, base, { ...base, axes: [0] }, base, { ...base, axes: [0, 1] },
    ];
    for (const c of cases) {
      const [gs, cs] = stores[c.dtype];
      const v = (storage: typeof gs): View => ({ storage, shape: c.shape, strides: c.strides, offset: c.offset });
      const got = g.reduce(c.op, v(gs), c.axes), want = cpu.reduce(c.op, v(cs), c.axes);
      expect(Array.from(await g.read(got)), JSON.stringify(c)).toEqual(Array.from(await cpu.read(want)));
      g.free(got);
      cpu.free(want);
    }
    for (const [gs, cs] of Object.values(stores)) { g.free(gs); cpu.free(cs); }
  });
});
