import { describe, expect, it } from 'vitest';
import type { View } from '../../src/kernels/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * The WebGPU elementwise kernels cache a recipe (pipeline, parameters, workgroups) per spec, scalars, shape and
 * each view's offset and strides: each of these changed alone, right after the base call ran, must get its own
 * recipe (the cpu oracle's result).
 */
describe('elementwise: the recipe cache is keyed by the whole call', () => {
  it('a call differing only in op, scalars, shape, strides or offset is not served the cached recipe', async () => {
    const g = await webgpu();
    const data = randomArray(64, 11, -3, 3);
    const [gs, cs] = [g.upload(data, 'float32'), cpu.upload(data, 'float32')];
    interface Case { op: 'affine' | 'clamp'; params: number[]; shape: number[]; strides: number[]; offset: number }
    const base: Case = { op: 'affine', params: [2, 0.5], shape: [4, 6], strides: [6, 1], offset: 0 };
    const cases: Case[] = [
      base, { ...base, op: 'clamp' }, base, { ...base, params: [2, -0.5] }, base, { ...base, params: [4, 0.5] }, base,
      { ...base, shape: [6, 4], strides: [4, 1] }, base, { ...base, strides: [1, 4] }, base, { ...base, offset: 3 },
    ];
    for (const c of cases) {
      const v = (storage: typeof gs): View => ({ storage, shape: c.shape, strides: c.strides, offset: c.offset });
      const got = g.unary(c.op, v(gs), c.params), want = cpu.unary(c.op, v(cs), c.params);
      expect(Array.from(await g.read(got)), JSON.stringify(c)).toEqual(Array.from(await cpu.read(want)));
      g.free(got);
      cpu.free(want);
    }
    g.free(gs);
    cpu.free(cs);
  });

  it('fills of +0 and −0 (and of NaN) each keep their own bits', async () => {
    const g = await webgpu();
    for (const value of [0, -0, NaN, NaN, 0, -0]) {
      const s = g.fill(4, value, 'float32');
      for (const x of await g.read(s)) expect(Object.is(x, value), `fill(${Object.is(value, -0) ? '-0' : value}) gave ${x}`).toBe(true);
      g.free(s);
    }
  });
});
