import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DiceMetric, HausdorffDistanceMetric, SurfaceDistanceMetric } from '../../src/imaging/metric-classes.js';
import { asd, dice, hd95, percentile } from '../../src/imaging/metrics.js';
import type { Shape3 } from '../../src/imaging/volume.js';

const S: Shape3 = [6, 5, 4];
const N = S[0] * S[1] * S[2];

/** A mask with the voxels of `bits` (bit i ↔ voxel i mod 31) set; the empty mask when bits = 0. */
const mask = (bits: number): Uint8Array => Uint8Array.from({ length: N }, (_, i) => (bits >>> (i % 31)) & 1);

const arbMask = fc.integer({ min: 1, max: 2 ** 31 - 1 }).map(mask);
const arbCases = fc.array(fc.tuple(arbMask, arbMask), { minLength: 1, maxLength: 4 });
const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

/** Independent oracle: 6-connected surface (outside = background) and brute-force directed distances. */
function directed(a: Uint8Array, b: Uint8Array, spacing: Shape3 = [1, 1, 1]): number[] {
  const inside = (m: Uint8Array, x: number, y: number, z: number): boolean =>
    x >= 0 && y >= 0 && z >= 0 && x < S[0] && y < S[1] && z < S[2] && m[(x * S[1] + y) * S[2] + z] !== 0;
  const surf = (m: Uint8Array): Shape3[] => {
    const out: Shape3[] = [];
    for (let x = 0; x < S[0]; x++) for (let y = 0; y < S[1]; y++) for (let z = 0; z < S[2]; z++) {
      if (inside(m, x, y, z) && [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]].some(([dx, dy, dz]) => !inside(m, x + dx!, y + dy!, z + dz!))) out.push([x, y, z]);
    }
    return out;
  };
  const sb = surf(b);
  return surf(a).map((p) => Math.sqrt(Math.min(...sb.map((q) => [0, 1, 2].reduce((s, k) => s + ((p[k]! - q[k]!) * spacing[k]!) ** 2, 0)))));
}

describe('metric classes accumulate the functions of metrics.ts', () => {
  it('DiceMetric, HausdorffDistanceMetric({ pooled }) and SurfaceDistanceMetric aggregate to the means of dice, hd95 and asd', () => {
    fc.assert(fc.property(arbCases, fc.constantFrom<Shape3 | undefined>(undefined, [0.5, 1, 2]), (cases, spacing) => {
      const d = new DiceMetric(), h = new HausdorffDistanceMetric({ pooled: true }), s = new SurfaceDistanceMetric();
      for (const [p, g] of cases) {
        expect(d.call(p, g, S, spacing)).toBe(dice(p, g));
        h.call(p, g, S, spacing);
        s.call(p, g, S, spacing);
      }
      expect(d.aggregate()).toBeCloseTo(mean(cases.map(([p, g]) => dice(p, g))), 12);
      expect(h.values()).toEqual(cases.map(([p, g]) => hd95(p, g, S, spacing)));
      expect(h.aggregate()).toBeCloseTo(mean(h.values()), 12);
      expect(s.values()).toEqual(cases.map(([p, g]) => asd(p, g, S, spacing)));
      expect(s.aggregate()).toBeCloseTo(mean(s.values()), 12);
    }));
  });

  it("HausdorffDistanceMetric is MONAI's max of the two directions' percentiles (brute-force oracle), or the maximum with percentile null", () => {
    fc.assert(fc.property(arbMask, arbMask, (p, g) => {
      const ab = directed(p, g), ba = directed(g, p);
      const hd = new HausdorffDistanceMetric();
      expect(hd.call(p, g, S)).toBeCloseTo(Math.max(percentile(ab, 95), percentile(ba, 95)), 12);
      expect(new HausdorffDistanceMetric({ directed: true }).call(p, g, S)).toBeCloseTo(percentile(ab, 95), 12);
      expect(new HausdorffDistanceMetric({ percentile: null }).call(p, g, S)).toBeCloseTo(Math.max(...ab, ...ba), 12);
      // MONAI's `if not percentile: max`: 0 is the maximum too
      expect(new HausdorffDistanceMetric({ percentile: 0 }).call(p, g, S)).toBeCloseTo(Math.max(...ab, ...ba), 12);
      expect(new SurfaceDistanceMetric({ symmetric: true }).call(p, g, S, [2, 1, 1])).toBeCloseTo(mean([...directed(p, g, [2, 1, 1]), ...directed(g, p, [2, 1, 1])]), 12);
    }));
  });
});

describe("MONAI's empty cases", () => {
  const empty = mask(0), some = mask(0b1011), other = mask(0b110);

  it('DiceMetric: an empty reference is NaN and left out of the mean (ignoreEmpty), else 1 if the prediction is empty too', () => {
    const d = new DiceMetric();
    expect(d.call(some, empty, S)).toBeNaN();
    expect(d.call(empty, some, S)).toBe(0);
    d.call(some, other, S);
    expect(d.notNans()).toBe(2);
    expect(d.aggregate()).toBe(dice(some, other) / 2);
    const all = new DiceMetric({ ignoreEmpty: false });
    expect([all.call(empty, empty, S), all.call(some, empty, S)]).toEqual([1, 0]);
    const nan = new DiceMetric();
    nan.call(some, empty, S);
    expect(nan.aggregate()).toBe(0); // MONAI's reduction: 0 when no case counts
  });

  it('distances: both empty is NaN (left out), one empty is Infinity (kept, as MONAI)', () => {
    for (const m of [new HausdorffDistanceMetric(), new HausdorffDistanceMetric({ pooled: true }), new SurfaceDistanceMetric()]) {
      expect(m.call(empty, empty, S)).toBeNaN();
      m.call(some, other, S);
      expect(m.aggregate()).toBe(m.values()[1]);
      expect(m.call(empty, some, S)).toBe(Infinity);
      expect(m.call(some, empty, S)).toBe(Infinity);
      expect(m.aggregate()).toBe(Infinity);
      m.reset();
      expect(m.values()).toEqual([]);
      expect(() => m.aggregate()).toThrow(/aggregate: no case added yet/);
    }
  });

  it('check their inputs', () => {
    expect(() => new DiceMetric().call(some, new Uint8Array(3), S)).toThrow(/DiceMetric.call: pred \(120 voxels\) and gt \(3\) must match shape \[6,5,4\]/);
    expect(() => new SurfaceDistanceMetric().call(some, other, S, [1, 0, 1])).toThrow(/spacing must be three positive numbers, got \[1,0,1\]/);
    expect(() => new HausdorffDistanceMetric({ percentile: 101 })).toThrow(/percentile must be in \[0, 100\] or null, got 101/);
    expect(() => new HausdorffDistanceMetric({ pooled: true, percentile: 50 })).toThrow(/pooled is medpy's hd95/);
  });
});
