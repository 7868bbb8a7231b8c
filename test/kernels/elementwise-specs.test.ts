import { describe, expect, it } from 'vitest';
import type { Backend, Storage } from '../../src/kernels/index.js';
import { cpu, view, webgpu } from '../helpers/backends.js';

/**
 * The WebGPU elementwise kernels keep one spec (pipeline keys, operands, WGSL body) per op and dtypes: calls that
 * differ only in the op or a dtype, one right after another, each get their own (the cpu oracle's results).
 */
describe('elementwise: the specs are keyed by op and dtypes', () => {
  it('unary, binary, where and cast calls differing in one op or dtype are not served another\'s spec', async () => {
    const g = await webgpu();
    const data = [-2, -1, 0, 1, 3, 4];
    const both = (f: (b: Backend, s: (what: 'float32' | 'int32' | 'seven') => Storage) => Storage) => [g, cpu].map((b) => {
      const made: Storage[] = [];
      const up = (what: 'float32' | 'int32' | 'seven') => {
        const s = what === 'seven' ? b.fill(6, 7, 'float32') : b.upload(what === 'int32' ? Int32Array.from(data) : Float32Array.from(data), what);
        made.push(s);
        return s;
      };
      const out = f(b, up);
      return { b, out, made };
    });
    const cases: [string, (b: Backend, s: (what: 'float32' | 'int32' | 'seven') => Storage) => Storage][] = [
      ['add f32', (b, s) => b.binary('add', view(s('float32'), [6]), view(s('float32'), [6]))],
      ['sub f32', (b, s) => b.binary('sub', view(s('float32'), [6]), view(s('float32'), [6]))],
      ['add i32', (b, s) => b.binary('add', view(s('int32'), [6]), view(s('int32'), [6]))],
      ['relu f32', (b, s) => b.unary('relu', view(s('float32'), [6]))],
      ['neg f32', (b, s) => b.unary('neg', view(s('float32'), [6]))],
      ['relu i32', (b, s) => b.unary('relu', view(s('int32'), [6]))],
      ['cast f32 → i32', (b, s) => b.cast(view(s('float32'), [6]), 'int32')],
      ['cast i32 → f32', (b, s) => b.cast(view(s('int32'), [6]), 'float32')],
      ['where i32 cond', (b, s) => b.where(view(s('int32'), [6]), view(s('float32'), [6]), view(s('seven'), [6]))],
      ['where f32 cond', (b, s) => b.where(view(s('float32'), [6]), view(s('float32'), [6]), view(s('seven'), [6]))],
    ];
    for (const [what, f] of cases) {
      const [got, want] = both(f);
      expect(got.out.dtype, what).toBe(want.out.dtype);
      expect(Array.from(await g.read(got.out)), what).toEqual(Array.from(await cpu.read(want.out)));
      for (const { b, out, made } of [got, want]) for (const s of [out, ...made]) b.free(s);
    }
  });

  it('calls of one spec differing only in a view\'s shape, strides or offset or in a scalar each compute their own', async () => {
    const g = await webgpu();
    const data = Float32Array.from({ length: 12 }, (_, i) => i * i - 5);
    const [gs, cs] = [g.upload(data, 'float32'), cpu.upload(data, 'float32')];
    const v = (storage: Storage, shape: number[], strides: number[], offset = 0) => ({ storage, shape, strides, offset });
    const cases: [string, (b: Backend, s: Storage) => Storage][] = [
      ['affine 2, 1', (b, s) => b.unary('affine', v(s, [2, 3], [3, 1]), [2, 1])],
      ['affine 3, 1', (b, s) => b.unary('affine', v(s, [2, 3], [3, 1]), [3, 1])],
      ['affine 2, -0', (b, s) => b.unary('affine', v(s, [2, 3], [3, 1]), [2, -0])],
      ['affine 2, 1 again', (b, s) => b.unary('affine', v(s, [2, 3], [3, 1]), [2, 1])],
      ['neg [2, 3]', (b, s) => b.unary('neg', v(s, [2, 3], [3, 1]))],
      ['neg [3, 2]', (b, s) => b.unary('neg', v(s, [3, 2], [2, 1]))],
      ['neg transposed', (b, s) => b.unary('neg', v(s, [3, 2], [1, 3]))],
      ['neg offset 5', (b, s) => b.unary('neg', v(s, [3, 2], [2, 1], 5))],
      ['add', (b, s) => b.binary('add', v(s, [2, 3], [3, 1]), v(s, [2, 3], [3, 1]))],
      ['add, b transposed', (b, s) => b.binary('add', v(s, [2, 3], [3, 1]), v(s, [2, 3], [1, 2]))],
      ['add, b broadcast', (b, s) => b.binary('add', v(s, [2, 3], [3, 1]), v(s, [2, 3], [0, 1], 6))],
    ];
    for (const [what, f] of cases) {
      const got = f(g, gs), want = f(cpu, cs);
      expect(Array.from(await g.read(got)), what).toEqual(Array.from(await cpu.read(want)));
      g.free(got);
      cpu.free(want);
    }
    g.free(gs);
    cpu.free(cs);
  });
});
