import { describe, expect, it } from 'vitest';
import type { Storage } from '../../src/kernels/index.js';
import { cpu } from '../helpers/backends.js';

const f32 = (...v: number[]): Storage => cpu.upload(Float32Array.from(v), 'float32');
const i32 = (...v: number[]): Storage => cpu.upload(Int32Array.from(v), 'int32');
const p = { growthFactor: 2, backoffFactor: 0.5, growthInterval: 2 };

describe('the loss scaler kernels refuse malformed operands, naming the kernel and what they got', () => {
  it('unscale: the flag and the scale one float32 each', () => {
    const unscale = (flag: Storage, scale: Storage) => () => cpu.ampNonFiniteCheckAndUnscale([f32(1)], flag, scale);
    const flagError = (got: string) => `cpu ampNonFiniteCheckAndUnscale: the found-inf flag must be one float32, got ${got}`;
    expect(unscale(i32(0), f32(2))).toThrow(flagError('1 int32'));
    expect(unscale(f32(0, 0), f32(2))).toThrow(flagError('2 float32'));
    const scaleError = (got: string) => `cpu ampNonFiniteCheckAndUnscale: the scale must be one float32, got ${got}`;
    expect(unscale(f32(0), i32(2))).toThrow(scaleError('1 int32'));
    expect(unscale(f32(0), f32(2, 2))).toThrow(scaleError('2 float32'));
    expect(unscale(f32(0), f32())).toThrow(scaleError('0 float32'));
    expect(() => cpu.ampNonFiniteCheckAndUnscale([f32(1), i32(1)], f32(0), f32(2)))
      .toThrow('cpu ampNonFiniteCheckAndUnscale: float32 gradients only, gradient 1 is int32');
    const g = f32(1);
    expect(() => cpu.ampNonFiniteCheckAndUnscale([f32(1), g, g], f32(0), f32(2)))
      .toThrow('cpu ampNonFiniteCheckAndUnscale: a gradient storage appears twice (it would be unscaled twice)');
  });

  it('update: every flag, the scale one float32, the tracker one int32, growthInterval a positive integer', () => {
    const update = (scale: Storage, tracker: Storage, flags: Storage[], q = p) => () => cpu.ampUpdateScale(scale, tracker, flags, q);
    const error = (what: string) => `cpu ampUpdateScale: ${what}`;
    expect(update(f32(2), i32(0), [f32(0), i32(0)])).toThrow(error('the found-inf flag must be one float32, got 1 int32'));
    expect(update(f32(2), i32(0), [f32(0, 1)])).toThrow(error('the found-inf flag must be one float32, got 2 float32'));
    expect(update(i32(2), i32(0), [f32(0)])).toThrow(error('the scale must be one float32, got 1 int32'));
    expect(update(f32(2, 2), i32(0), [f32(0)])).toThrow(error('the scale must be one float32, got 2 float32'));
    expect(update(f32(2), f32(0), [f32(0)])).toThrow(error('the growth tracker must be one int32, got 1 float32'));
    expect(update(f32(2), i32(0, 0), [f32(0)])).toThrow(error('the growth tracker must be one int32, got 2 int32'));
    for (const growthInterval of [0, -1, 1.5, NaN, Infinity]) {
      expect(update(f32(2), i32(0), [f32(0)], { ...p, growthInterval }))
        .toThrow(error(`growthInterval must be a positive integer, got ${growthInterval}`));
    }
  });

  it('a refused call writes nothing', async () => {
    const scale = f32(2), tracker = i32(1), flag = f32(0);
    expect(() => cpu.ampUpdateScale(scale, tracker, [flag], { ...p, growthInterval: 0 })).toThrow();
    const g = f32(4);
    expect(() => cpu.ampNonFiniteCheckAndUnscale([g], flag, f32(2, 2))).toThrow();
    expect([...await cpu.read(scale), ...await cpu.read(tracker), ...await cpu.read(g)]).toEqual([2, 1, 4]);
  });
});
