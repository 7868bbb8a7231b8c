/**
 * Edges of src/imaging/metrics.ts that the Stryker run on it left untested: bad input, empty volumes,
 * percentile's argument range, the population std of summarize, and the largest 26-connected component
 * against a brute-force union of voxel pairs (coordinates compared directly, so no index wrap-around).
 */
import { describe, expect, it } from 'vitest';
import {
  asd, caseMetrics, dice, hd95, jaccard, largestConnectedComponent, percentile, summarize, surface, surfaceDistances,
  type CaseMetrics,
} from '../../src/imaging/metrics.js';
import type { Shape3 } from '../../src/imaging/volume.js';
import { randomArray } from '../helpers/backends.js';

const shape: Shape3 = [3, 4, 5];
const n = 60;
const blob = Uint8Array.from({ length: n }, (_, i) => (i % 7 < 3 ? 1 : 0));

describe('metrics: bad input and empty volumes', () => {
  it('arrays that do not match the shape or each other are errors naming the function', () => {
    const short = new Uint8Array(n - 1);
    expect(() => surface(short, shape)).toThrow(/^surface: arrays do not match shape \[3, 4, 5\] \(60 voxels\): lengths 59$/);
    expect(() => surfaceDistances(blob, short, shape)).toThrow(/^surfaceDistances: arrays do not match shape/);
    expect(() => surfaceDistances(short, blob, shape)).toThrow(/^surfaceDistances: arrays do not match shape/);
    expect(() => hd95(blob, short, shape)).toThrow(/^hd95: arrays do not match shape \[3, 4, 5\] \(60 voxels\): lengths 60 and 59$/);
    expect(() => caseMetrics(blob, short, shape)).toThrow(/^caseMetrics: arrays do not match shape/);
    expect(() => largestConnectedComponent(short, shape)).toThrow(/^largestConnectedComponent: arrays do not match shape/);
    expect(() => dice(blob, short)).toThrow(/^dice: length mismatch: 60 and 59 voxels$/);
    expect(() => jaccard(blob, short)).toThrow(/^jaccard: length mismatch: 60 and 59 voxels$/);
  });

  it('empty volumes: Dice and Jaccard 0, surface distances, HD95 and ASD errors', () => {
    const empty = new Uint8Array(n);
    expect(dice(empty, empty)).toBe(0);
    expect(jaccard(empty, empty)).toBe(0);
    expect(surfaceDistances(empty, blob, shape)).toHaveLength(0);
    expect(() => surfaceDistances(blob, empty, shape)).toThrow(/^surfaceDistances: the second volume has no foreground/);
    // the message names hd95 and which volume is empty
    expect(() => hd95(blob, empty, shape)).toThrow(/^hd95: the second volume has no foreground/);
    expect(() => hd95(empty, blob, shape)).toThrow(/^hd95: the first volume has no foreground/);
    expect(() => hd95(empty, empty, shape)).toThrow(/^hd95: both volumes are empty/);
    expect(() => asd(empty, blob, shape)).toThrow(/^asd: empty volume/);
  });
});

describe('percentile', () => {
  it('rejects an empty input and q outside [0, 100]; the ends are allowed; NaN propagates', () => {
    expect(() => percentile([], 50)).toThrow(/^percentile: empty input/);
    for (const q of [-1e-9, 100.000001, NaN, -Infinity, Infinity]) expect(() => percentile([1, 2], q), String(q)).toThrow(/^percentile: q must be in \[0, 100\]/);
    expect(percentile([3, 1, 2], 0)).toBe(1);
    expect(percentile([3, 1, 2], 100)).toBe(3);
    expect(percentile([3, NaN, 2], 10)).toBeNaN();
  });
});

describe('summarize', () => {
  const row = (d: number, empty = false): CaseMetrics => ({ dice: d, jaccard: d / 2, hd95: 10 * d, asd: d + 1, empty });
  it('means and population standard deviations, empty cases counted; no rows gives NaN', () => {
    const s = summarize([row(0, true), row(1), row(0.5)]);
    expect(s.n).toBe(3);
    expect(s.nEmpty).toBe(1);
    expect(s.dice.mean).toBeCloseTo(0.5, 15);
    expect(s.dice.std).toBeCloseTo(Math.sqrt((0.25 + 0.25 + 0) / 3), 15);
    expect(s.jaccard).toEqual({ mean: 0.25, std: s.dice.std / 2 });
    expect(s.hd95.mean).toBeCloseTo(5, 12);
    expect(s.asd.mean).toBeCloseTo(1.5, 15);
    const none = summarize([]);
    expect(none.n).toBe(0);
    expect(none.dice.mean).toBeNaN();
    expect(none.dice.std).toBeNaN();
  });
});

/** brute force: union every pair of foreground voxels at Chebyshev distance 1; largest, ties to the first met */
function largestReference(mask: Uint8Array, [, Y, Z]: Shape3): Uint8Array {
  const parent = Int32Array.from({ length: mask.length }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const at = (i: number) => [Math.floor(i / (Y * Z)), Math.floor(i / Z) % Y, i % Z] as const;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    for (let j = i + 1; j < mask.length; j++) {
      if (!mask[j]) continue;
      const a = at(i), b = at(j);
      if (Math.max(Math.abs(a[0] - b[0]), Math.abs(a[1] - b[1]), Math.abs(a[2] - b[2])) === 1) parent[find(j)] = find(i);
    }
  }
  const size = new Map<number, number>(), first = new Map<number, number>();
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const r = find(i);
    size.set(r, (size.get(r) ?? 0) + 1);
    if (!first.has(r)) first.set(r, i);
  }
  let best = -1;
  for (const [r, s] of size) if (best < 0 || s > size.get(best)! || (s === size.get(best)! && first.get(r)! < first.get(best)!)) best = r;
  return Uint8Array.from(mask, (v, i) => (v && find(i) === best ? 1 : 0));
}

describe('largestConnectedComponent', () => {
  it('= a brute-force 26-connected labelling on random masks of odd shapes', () => {
    for (const [s, density] of [[[3, 4, 5], 0.25], [[5, 3, 4], 0.3], [[4, 5, 3], 0.2], [[1, 6, 7], 0.35], [[6, 1, 5], 0.3]] as [Shape3, number][]) {
      for (let seed = 1; seed <= 12; seed++) {
        const size = s[0] * s[1] * s[2];
        const mask = Uint8Array.from(randomArray(size, seed * 31 + s[0], 0, 1), (v) => (v < density ? 1 : 0));
        expect(Array.from(largestConnectedComponent(mask, s)), `shape ${s} seed ${seed}`).toEqual(Array.from(largestReference(mask, s)));
      }
    }
  });

  it('voxels adjacent only through the index order (a row end and the next row start) are separate', () => {
    const s: Shape3 = [2, 3, 3];
    const m = new Uint8Array(18);
    m[(0 * 3 + 2) * 3 + 2] = 1; m[(1 * 3 + 0) * 3 + 0] = 1; // (0,2,2) and (1,0,0): indices 8 and 9
    const out = largestConnectedComponent(m, s);
    expect(Array.from(out).reduce((a, b) => a + b, 0)).toBe(1);
    expect(out[8]).toBe(1); // both of size 1: the first met
  });
});
