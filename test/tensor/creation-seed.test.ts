import { describe, expect, it } from 'vitest';
import { manualSeed } from '../../src/models/index.js';
import { dispose, rand, randn, uniform, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/** torch.randn(shape) habits: rand, randn and uniform without a seed draw one from the global generator (manualSeed). */
describe('random creation without a seed', () => {
  const values = async (t: Tensor) => { const v = Array.from(await t.toArray()); t.dispose(); return v; };

  it('draws from the global generator: reproducible after manualSeed, different from call to call', async () => {
    manualSeed(3);
    const first = [await values(randn([6], { backend: cpu })), await values(rand([6], { backend: cpu })), await values(uniform([6], -2, 2, { backend: cpu }))];
    const next = await values(randn([6], { backend: cpu }));
    manualSeed(3);
    const again = [await values(randn([6], { backend: cpu })), await values(rand([6], { backend: cpu })), await values(uniform([6], -2, 2, { backend: cpu }))];
    expect(again).toEqual(first);
    expect(next).not.toEqual(first[0]);
    expect(first[1]!.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(first[2]!.every((v) => v >= -2 && v < 2)).toBe(true);
  });

  it('a seed given is used as before, and the options come with or without it', async () => {
    const seeded = randn([2, 3], 7, { backend: cpu, dtype: 'float64' });
    expect(seeded.dtype).toBe('float64');
    manualSeed(1);
    const a = await values(randn([6], 11, { backend: cpu }));
    manualSeed(2);
    expect(await values(randn([6], 11, { backend: cpu }))).toEqual(a);
    const plain = randn([4]);
    expect(plain.shape).toEqual([4]);
    dispose([seeded, plain]);
  });
});
