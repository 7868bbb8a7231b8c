import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  computeSdf, distanceToSet, edt, edtSquared, innerBoundary, sqDistanceToSet,
} from '../../src/imaging/edt.js';
import type { Shape3 } from '../../src/imaging/volume.js';
import { idx } from '../helpers/volumes.js';

/** O(n²) oracle: squared distance from every voxel to the nearest voxel where `target` holds. */
function bruteSq(shape: Shape3, target: (i: number) => boolean): Float64Array {
  const [X, Y, Z] = shape;
  const n = X * Y * Z;
  const pts: [number, number, number][] = [];
  for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
    if (target(idx(shape, x, y, z))) pts.push([x, y, z]);
  }
  const out = new Float64Array(n);
  for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
    let best = Infinity;
    for (const [a, b, c] of pts) best = Math.min(best, (x - a) ** 2 + (y - b) ** 2 + (z - c) ** 2);
    out[idx(shape, x, y, z)] = best;
  }
  return out;
}

/** Random shape (each side 1..7, so 1-voxel edges occur) and a mask with a random density. */
const maskArb = fc
  .tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 10 }))
  .chain(([X, Y, Z, level]) =>
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: X * Y * Z, maxLength: X * Y * Z }).map((v) => ({
      shape: [X, Y, Z] as Shape3,
      mask: Uint8Array.from(v, (t) => (t < level ? 1 : 0)),
    })),
  );

describe('edt', () => {
  it('matches a brute-force oracle on random masks (exact squared distances)', () => {
    fc.assert(
      fc.property(maskArb, ({ shape, mask }) => {
        const got = edtSquared(mask, shape);
        const hasBg = mask.some((v) => v === 0);
        if (hasBg) {
          const want = bruteSq(shape, (i) => mask[i] === 0);
          expect(Array.from(got)).toEqual(Array.from(want));
        } else {
          // scipy's convention without background: distance to the virtual point (-1, 0, 0)
          const [X, Y, Z] = shape;
          for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
            expect(got[idx(shape, x, y, z)]).toBe((x + 1) ** 2 + y * y + z * z);
          }
        }
        const d = edt(mask, shape);
        for (let i = 0; i < d.length; i++) expect(d[i]).toBe(Math.fround(Math.sqrt(got[i]!)));
      }),
      { numRuns: 300 },
    );
  });

  it('distance to a set matches the oracle, +Infinity for an empty set', () => {
    fc.assert(
      fc.property(maskArb, ({ shape, mask }) => {
        const got = sqDistanceToSet(mask, shape);
        const want = bruteSq(shape, (i) => mask[i] !== 0);
        expect(Array.from(got)).toEqual(Array.from(want)); // all Infinity when mask is empty
        const d = distanceToSet(mask, shape);
        for (let i = 0; i < d.length; i++) expect(d[i]).toBe(Math.sqrt(want[i]!));
      }),
      { numRuns: 200 },
    );
  });

  it('handles a long line and 1-voxel volumes', () => {
    const s: Shape3 = [1, 1, 9];
    const m = Uint8Array.from([1, 1, 1, 0, 1, 1, 1, 1, 1]);
    expect(Array.from(edt(m, s))).toEqual([3, 2, 1, 0, 1, 2, 3, 4, 5]);
    expect(Array.from(edt(Uint8Array.of(0), [1, 1, 1]))).toEqual([0]);
    expect(Array.from(edt(Uint8Array.of(1), [1, 1, 1]))).toEqual([1]); // scipy: distance to (-1,0,0)
    expect(() => edt(new Uint8Array(5), [2, 2, 2])).toThrow();
  });

  it('gives the exact distance on an LA-sized volume', () => {
    const s: Shape3 = [150, 140, 88];
    const m = new Uint8Array(s[0] * s[1] * s[2]);
    for (let x = 40; x < 110; x++) for (let y = 30; y < 100; y++) for (let z = 10; z < 81; z++) {
      if ((x - 75) ** 2 + (y - 65) ** 2 + (z - 45) ** 2 < 30 ** 2) m[idx(s, x, y, z)] = 1;
    }
    const d = edtSquared(m, s);
    expect(d[idx(s, 75, 65, 45)]).toBe(900); // background is r² ≥ 900, reached along an axis
  });
});

describe('innerBoundary (skimage find_boundaries mode="inner")', () => {
  it('touching the volume border alone does not make a boundary voxel', () => {
    const s: Shape3 = [3, 3, 3];
    const m = new Uint8Array(27);
    for (let x = 0; x < 2; x++) for (let y = 0; y < 3; y++) for (let z = 0; z < 3; z++) m[idx(s, x, y, z)] = 1;
    const b = innerBoundary(m, s);
    for (let x = 0; x < 3; x++) for (let y = 0; y < 3; y++) for (let z = 0; z < 3; z++) {
      expect(b[idx(s, x, y, z)]).toBe(x === 1 ? 1 : 0);
    }
    // all foreground: no boundary at all
    expect(innerBoundary(new Uint8Array(27).fill(1), s).every((v) => v === 0)).toBe(true);
  });
});

describe('computeSdf (DTC compute_sdf)', () => {
  it('hand case: 3×3×3 cube in a 5×5×5 volume', () => {
    const s: Shape3 = [5, 5, 5];
    const m = new Uint8Array(125);
    for (let x = 1; x <= 3; x++) for (let y = 1; y <= 3; y++) for (let z = 1; z <= 3; z++) m[idx(s, x, y, z)] = 1;
    const sdf = computeSdf(m, s);
    // posdis: centre 2 (max), cube faces 1; negdis: max √3 at the volume corners
    expect(sdf[idx(s, 2, 2, 2)]).toBe(-1); // 0 − 2/2
    for (let x = 1; x <= 3; x++) for (let y = 1; y <= 3; y++) for (let z = 1; z <= 3; z++) {
      if (x === 2 && y === 2 && z === 2) continue;
      expect(sdf[idx(s, x, y, z)]).toBe(0); // inner boundary
    }
    expect(sdf[idx(s, 0, 0, 0)]).toBe(1); // √3/√3
    expect(sdf[idx(s, 0, 2, 2)]).toBe(Math.fround(1 / Math.sqrt(3)));
    expect(sdf[idx(s, 0, 0, 2)]).toBe(Math.fround(Math.SQRT2 / Math.sqrt(3)));
    expect(Math.min(...sdf)).toBe(-1);
    expect(Math.max(...sdf)).toBe(1);
  });

  it('all background gives zeros', () => {
    expect(computeSdf(new Uint8Array(24), [2, 3, 4]).every((v) => v === 0)).toBe(true);
  });

  it('sign: negative inside, 0 on the inner boundary, positive outside, range [-1, 1]', () => {
    fc.assert(
      fc.property(maskArb, ({ shape, mask }) => {
        const fg = mask.some((v) => v !== 0), bg = mask.some((v) => v === 0);
        fc.pre(fg && bg);
        const sdf = computeSdf(mask, shape);
        const b = innerBoundary(mask, shape);
        for (let i = 0; i < mask.length; i++) {
          const v = sdf[i]!;
          expect(v).toBeGreaterThanOrEqual(-1);
          expect(v).toBeLessThanOrEqual(1);
          if (mask[i] === 0) expect(v).toBeGreaterThan(0);
          else if (b[i]) expect(v).toBe(0);
          else expect(v).toBeLessThan(0);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('all foreground: finite (DTC would produce NaN), non-positive', () => {
    const sdf = computeSdf(new Uint8Array(8).fill(1), [2, 2, 2]);
    expect(sdf.every((v) => Number.isFinite(v) && v <= 0)).toBe(true);
  });
});
