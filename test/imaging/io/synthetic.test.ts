import { describe, expect, it } from 'vitest';
import { SyntheticSource, generateSyntheticCase, insideGeometry } from '../../../src/imaging/io/synthetic.js';
import { foregroundRatio } from '../../../src/imaging/volume.js';
import { meanStd } from '../../helpers/stats.js';

describe('SyntheticSource', () => {
  it('has the LA-like defaults: 16 train + 4 test cases of [40, 40, 32], ids syn-NNN', () => {
    const s = new SyntheticSource();
    expect(s.name).toBe('synthetic');
    expect(s.trainIds()).toHaveLength(16);
    expect(s.testIds()).toEqual(['syn-016', 'syn-017', 'syn-018', 'syn-019']);
    expect(s.trainIds()[0]).toBe('syn-000');
    expect(s.labeledIds(4)).toEqual(['syn-000', 'syn-001', 'syn-002', 'syn-003']);
    expect(s.unlabeledIds(4)).toEqual(s.trainIds().slice(4));
    expect(s.shape).toEqual([40, 40, 32]);
  });

  it('is deterministic per seed, independent of load order, and differs between seeds', async () => {
    const a = new SyntheticSource({ seed: 1, count: 3, testCount: 1 });
    const b = new SyntheticSource({ seed: 1, count: 3, testCount: 1, cacheSize: 0 });
    const c = new SyntheticSource({ seed: 2, count: 3, testCount: 1 });
    const b2 = await b.load('syn-002'); // other order
    const a0 = await a.load('syn-000');
    const a2 = await a.load('syn-002');
    expect(Buffer.from(a2.image.data.buffer).equals(Buffer.from(b2.image.data.buffer))).toBe(true);
    expect(a2.label!.data).toEqual(b2.label!.data);
    const c0 = await c.load('syn-000');
    expect(c0.label!.data).not.toEqual(a0.label!.data);
    expect(await a.load('syn-000')).toBe(a0); // cached
    await expect(a.load('syn-999')).rejects.toThrow(/unknown case id/);
  });

  it('keeps the foreground ratio in [5 %, 20 %] and the image z-scored with a bright foreground', async () => {
    const s = new SyntheticSource();
    for (const id of [...s.trainIds(), ...s.testIds()]) {
      const c = await s.load(id);
      expect(c.image.shape).toEqual([40, 40, 32]);
      const r = foregroundRatio(c.label!);
      expect(r).toBeGreaterThanOrEqual(0.05);
      expect(r).toBeLessThanOrEqual(0.2);
      const d = c.image.data;
      const { mean, std } = meanStd(d);
      expect(Math.abs(mean)).toBeLessThan(1e-4);
      expect(Math.abs(std - 1)).toBeLessThan(1e-3);
      let fin = 0;
      let nin = 0;
      let fout = 0;
      c.label!.data.forEach((l, i) => {
        if (l) {
          fin += d[i]!;
          nin++;
        } else fout += d[i]!;
      });
      expect(fin / nin - fout / (d.length - nin)).toBeGreaterThan(1);
    }
  });

  it('the label is exactly the generator geometry (body of 2–3 ellipsoids + 2–4 tubes)', () => {
    for (const index of [0, 5]) {
      const r = generateSyntheticCase('x', index, { seed: 3 });
      const g = r.geometry;
      expect(g.ellipsoids.length).toBeGreaterThanOrEqual(2);
      expect(g.ellipsoids.length).toBeLessThanOrEqual(3);
      expect(g.tubes.length).toBeGreaterThanOrEqual(2);
      expect(g.tubes.length).toBeLessThanOrEqual(4);
      const [X, Y, Z] = g.shape;
      const lab = r.case.label!.data;
      let i = 0;
      let mismatches = 0;
      for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++, i++) if (lab[i] !== (insideGeometry(g, x, y, z) ? 1 : 0)) mismatches++;
      expect(mismatches).toBe(0);
      // every tube's start lies inside the body and its end voxel is labeled too
      for (const t of g.tubes) {
        const e = t.p2.map(Math.round) as [number, number, number];
        if (e.every((v, k) => v >= 0 && v < g.shape[k]!)) expect(insideGeometry(g, ...e)).toBe(true);
      }
    }
  });

  it('honours a custom shape and counts', async () => {
    const s = new SyntheticSource({ shape: [24, 28, 20], count: 2, testCount: 0, seed: 7 });
    expect(s.testIds()).toEqual([]);
    const c = await s.load('syn-001');
    expect(c.image.shape).toEqual([24, 28, 20]);
    expect(c.image.data.length).toBe(24 * 28 * 20);
    expect(() => new SyntheticSource({ count: -1 })).toThrow();
  });
});
