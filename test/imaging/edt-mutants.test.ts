import { describe, expect, it } from 'vitest';
import {
  computeSdf, computeSdfRows, distanceToSet, edtSquared, faceBoundary, innerBoundary, sqDistanceToSet,
} from '../../src/imaging/edt.js';
import type { Shape3 } from '../../src/imaging/volume.js';
import { idx } from '../helpers/volumes.js';

/** Checks that mutation testing found unchecked: spacing per axis, the shape and spacing errors, the SDF corner cases. */

const escape = (s: string): RegExp => new RegExp(`^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

describe('distance to a set with a voxel spacing', () => {
  it('weighs each axis by its own spacing: d² = Σ (spacing · Δ)²', () => {
    const s: Shape3 = [2, 3, 4];
    const site = new Uint8Array(24);
    site[0] = 1;
    const d2 = sqDistanceToSet(site, s, [1, 2, 3]);
    const d = distanceToSet(site, s, [1, 2, 3]);
    for (let x = 0; x < 2; x++) for (let y = 0; y < 3; y++) for (let z = 0; z < 4; z++) {
      const want = x * x + 4 * y * y + 9 * z * z;
      expect(d2[idx(s, x, y, z)]).toBe(want);
      expect(d[idx(s, x, y, z)]).toBe(Math.sqrt(want));
    }
  });

  it('refuses a spacing of two numbers or one that is not positive and finite, naming it', () => {
    const site = Uint8Array.of(1, 0);
    for (const sp of [[1, 1], [1, NaN, 1], [1, Infinity, 1], [-1, 1, 1]]) {
      expect(() => sqDistanceToSet(site, [1, 1, 2], sp as unknown as Shape3)).toThrow(
        escape(`sqDistanceToSet: spacing must be three positive numbers, got [${sp.join(', ')}]`),
      );
    }
  });
});

describe('shape checks', () => {
  it('name the function, a bad shape and a voxel count that does not match', () => {
    const fns: Array<[string, (m: Uint8Array, s: Shape3) => unknown]> = [
      ['edtSquared', edtSquared], ['sqDistanceToSet', sqDistanceToSet], ['innerBoundary', innerBoundary], ['computeSdf', computeSdf],
    ];
    for (const [name, fn] of fns) {
      expect(() => fn(new Uint8Array(0), [2, 0, 2])).toThrow(escape(`${name}: bad shape [2, 0, 2]`));
      expect(() => fn(new Uint8Array(3), [2, 1.5, 1])).toThrow(escape(`${name}: bad shape [2, 1.5, 1]`));
      expect(() => fn(new Uint8Array(5), [2, 2, 2])).toThrow(escape(`${name}: 5 voxels do not match shape [2, 2, 2]`));
    }
  });
});

describe('faceBoundary', () => {
  it("counts the outside as background in 'background' mode and as the border voxel in 'reflect' mode", () => {
    const s: Shape3 = [3, 3, 3];
    const full = new Uint8Array(27).fill(1);
    const bg = faceBoundary(full, s, 'background');
    for (let i = 0; i < 27; i++) expect(bg[i]).toBe(i === idx(s, 1, 1, 1) ? 0 : 1);
    expect(faceBoundary(full, s, 'reflect').every((v) => v === 0)).toBe(true);
  });
});

describe('computeSdf corner cases', () => {
  it('all foreground: −(posdis − min)/(max − min) with posdis² = (x + 1)² + y² + z², the background side 0', () => {
    const s: Shape3 = [2, 2, 2];
    const sdf = computeSdf(new Uint8Array(8).fill(1), s);
    const lo = 1, hi = Math.sqrt(6);
    for (let x = 0; x < 2; x++) for (let y = 0; y < 2; y++) for (let z = 0; z < 2; z++) {
      const d = Math.sqrt((x + 1) ** 2 + y * y + z * z);
      expect(sdf[idx(s, x, y, z)]).toBe(Math.fround(0 - (d - lo) / (hi - lo)));
    }
  });

  it('one foreground voxel: it is its own boundary (0), the background is negdis scaled to [0, 1]', () => {
    const s: Shape3 = [1, 1, 4];
    const sdf = computeSdf(Uint8Array.of(1, 0, 0, 0), s);
    // negdis = [0, 1, 2, 3] (background to the object), posdis = [1, 0, 0, 0]: d/3 − 0 off the boundary
    expect(Array.from(sdf)).toEqual([0, Math.fround(1 / 3), Math.fround(2 / 3), 1]);
  });
});

describe('computeSdfRows', () => {
  it('is computeSdf of each of the first rows, the rows after them ignored', () => {
    const s: Shape3 = [1, 2, 3];
    const label = Uint8Array.of(1, 0, 0, 0, 0, 0, /* row 1 */ 0, 1, 1, 0, 1, 0, /* row 2, ignored */ 1, 1, 1, 1, 1, 1);
    const out = computeSdfRows(label, 2, s);
    expect(out).toHaveLength(12);
    expect(Array.from(out.subarray(0, 6))).toEqual(Array.from(computeSdf(label.subarray(0, 6), s)));
    expect(Array.from(out.subarray(6))).toEqual(Array.from(computeSdf(label.subarray(6, 12), s)));
    expect(out.subarray(0, 6).some((v) => v !== 0) && out.subarray(6).some((v) => v !== 0)).toBe(true);
    expect(computeSdfRows(label.subarray(0, 12), 2, s)).toEqual(out); // exactly the rows
    expect(() => computeSdfRows(label.subarray(0, 11), 2, s)).toThrow(escape('computeSdfRows: 11 label values for 2 rows of [1, 2, 3]'));
  });
});
