import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Rng, hashSeed } from '../../src/imaging/random.js';

describe('Rng', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 16 }, () => a.nextU32());
    const sb = Array.from({ length: 16 }, () => b.nextU32());
    const sc = Array.from({ length: 16 }, () => c.nextU32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    expect(new Rng('abc').nextU32()).toBe(new Rng('abc').nextU32());
  });

  it('state round trip continues the stream exactly (through JSON)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 50 }), (seed, skip) => {
        const r = new Rng(seed);
        for (let i = 0; i < skip; i++) r.random();
        const saved = JSON.parse(JSON.stringify(r.state())) as number[];
        const next = [r.nextU32(), r.random(), r.int(7), r.normal()];
        const r2 = Rng.fromState(saved);
        expect([r2.nextU32(), r2.random(), r2.int(7), r2.normal()]).toEqual(next);
      }),
      { numRuns: 50 },
    );
  });

  it('rejects a bad state', () => {
    const r = new Rng(1);
    expect(() => r.setState([0, 0, 0, 0])).toThrow(/uint32/);
    expect(() => r.setState([1, 2, 3])).toThrow(/uint32/);
    expect(() => r.setState([1, 2, 3, -1])).toThrow(/uint32/);
  });

  it('random() in [0,1), int(n) in [0,n) and roughly uniform', () => {
    const r = new Rng(7);
    const counts = new Array<number>(5).fill(0);
    for (let i = 0; i < 10000; i++) {
      const u = r.random();
      expect(u >= 0 && u < 1).toBe(true);
      const k = r.int(5);
      counts[k] = counts[k]! + 1;
    }
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
    expect(() => r.int(0)).toThrow();
  });

  it('normal() has mean 0 and std 1', () => {
    const r = new Rng(3);
    let s = 0;
    let s2 = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const v = r.normal();
      s += v;
      s2 += v * v;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.abs(Math.sqrt(s2 / n - (s / n) ** 2) - 1)).toBeLessThan(0.03);
  });

  it('permutation() is a permutation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 40 }), (seed, n) => {
        const p = new Rng(seed).permutation(n);
        expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      }),
      { numRuns: 50 },
    );
  });

  it('hashSeed distinguishes numbers from strings and part boundaries', () => {
    expect(hashSeed(1, 2)).toBe(hashSeed(1, 2));
    expect(hashSeed(1, 2)).not.toBe(hashSeed(12));
    expect(hashSeed('1')).not.toBe(hashSeed(1));
    expect(hashSeed('a', 'bc')).not.toBe(hashSeed('ab', 'c'));
  });
});
