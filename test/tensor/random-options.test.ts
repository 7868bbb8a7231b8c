import { describe, expect, it } from 'vitest';
import { manualSeed } from '../../src/models/index.js';
import { rand, randint, randn, uniform, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

const values = async (t: Tensor): Promise<number[]> => { const v = Array.from(await t.toArray()); t.dispose(); return v; };

/** torch.randn(shape, generator=…, dtype=…) habits: the seed also goes in the options object. */
describe('random creation with { seed, ...options }', () => {
  it('{ seed } gives the positional seed\'s values, whatever the global generator did', async () => {
    const positional = [await values(randn([5], 7, { backend: cpu })), await values(rand([5], 7, { backend: cpu })),
      await values(uniform([5], -1, 3, 7, { backend: cpu }))];
    manualSeed(123);
    const byOption = [await values(randn([5], { seed: 7, backend: cpu })), await values(rand([5], { seed: 7, backend: cpu })),
      await values(uniform([5], -1, 3, { seed: 7, backend: cpu }))];
    expect(byOption).toEqual(positional);
  });

  it('the other options come along: dtype, backend, requiresGrad', () => {
    const t = randn([2, 2], { seed: 1, dtype: 'float64', backend: cpu, requiresGrad: true });
    expect([t.dtype, t.backend, t.requiresGrad]).toEqual(['float64', cpu, true]);
    t.dispose();
  });

  it('without a seed in the options, the global generator: reproducible after manualSeed', async () => {
    manualSeed(5);
    const a = await values(randn([4], { backend: cpu }));
    manualSeed(5);
    expect(await values(randn([4], { dtype: 'float32', backend: cpu }))).toEqual(a);
  });
});

describe('randint', () => {
  it('integers in [low, high) as int32, reproducible per seed, both of torch.randint\'s forms', async () => {
    const t = randint(-3, 4, [1000], { seed: 9, backend: cpu });
    expect(t.dtype).toBe('int32');
    const v = await values(t);
    expect(v.every((x) => Number.isInteger(x) && x >= -3 && x < 4)).toBe(true);
    expect(new Set(v).size).toBe(7);
    expect(await values(randint(-3, 4, [1000], { seed: 9, backend: cpu }))).toEqual(v);
    const fromZero = await values(randint(5, [200], { seed: 2, backend: cpu }));
    expect(fromZero.every((x) => x >= 0 && x < 5)).toBe(true);
    expect(await values(randint(0, 5, [200], { seed: 2, backend: cpu }))).toEqual(fromZero);
    expect((await values(randint(2, [3], { seed: 2, backend: cpu, dtype: 'float32' }))).every((x) => x === 0 || x === 1)).toBe(true);
  });

  it('refuses low ≥ high, fractional bounds and a missing shape', () => {
    expect(() => randint(3, 3, [2])).toThrow(/low < high/);
    expect(() => randint(0.5, [2])).toThrow(/integers/);
    // @ts-expect-error: randint(low, high) without a shape is also a type error
    expect(() => randint(0, 3)).toThrow(/shape is missing/);
  });
});
