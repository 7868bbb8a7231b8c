import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  asd, caseMetrics, dice, hd95, jaccard, largestConnectedComponent, npMean, pairwiseSum, percentile,
  summarize, surface, type CaseMetrics,
} from '../../src/imaging/metrics.js';
import type { Shape3 } from '../../src/imaging/volume.js';
import { idx } from '../helpers/volumes.js';

function box(s: Shape3, lo: Shape3, hi: Shape3): Uint8Array {
  const m = new Uint8Array(s[0] * s[1] * s[2]);
  for (let x = lo[0]; x < hi[0]; x++) for (let y = lo[1]; y < hi[1]; y++) for (let z = lo[2]; z < hi[2]; z++) m[idx(s, x, y, z)] = 1;
  return m;
}

function ball(s: Shape3, c: Shape3, r: number): Uint8Array {
  const m = new Uint8Array(s[0] * s[1] * s[2]);
  for (let x = 0; x < s[0]; x++) for (let y = 0; y < s[1]; y++) for (let z = 0; z < s[2]; z++) {
    if ((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= r * r) m[idx(s, x, y, z)] = 1;
  }
  return m;
}

/** Oracle, written independently: surface points by the definition, brute-force distances. */
function oracle(a: Uint8Array, b: Uint8Array, s: Shape3, spacing: Shape3 = [1, 1, 1]): { hd95: number; asd: number; dice: number; jaccard: number } {
  const at = (m: Uint8Array, x: number, y: number, z: number): boolean =>
    x >= 0 && y >= 0 && z >= 0 && x < s[0] && y < s[1] && z < s[2] && m[idx(s, x, y, z)] !== 0;
  const surf = (m: Uint8Array): [number, number, number][] => {
    const out: [number, number, number][] = [];
    for (let x = 0; x < s[0]; x++) for (let y = 0; y < s[1]; y++) for (let z = 0; z < s[2]; z++) {
      if (!at(m, x, y, z)) continue;
      const nb = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]] as const;
      if (nb.some(([dx, dy, dz]) => !at(m, x + dx, y + dy, z + dz))) out.push([x, y, z]);
    }
    return out;
  };
  const sa = surf(a), sb = surf(b);
  const dist = (from: typeof sa, to: typeof sa): number[] =>
    from.map(([x, y, z]) => Math.sqrt(Math.min(...to.map(([p, q, r]) => ((x - p) * spacing[0]) ** 2 + ((y - q) * spacing[1]) ** 2 + ((z - r) * spacing[2]) ** 2))));
  const ab = dist(sa, sb), ba = dist(sb, sa);
  const pooled = [...ab, ...ba].sort((u, v) => u - v);
  const h = 0.95 * (pooled.length - 1), f = Math.floor(h);
  const hd = f + 1 < pooled.length ? pooled[f]! + (pooled[f + 1]! - pooled[f]!) * (h - f) : pooled[f]!;
  let inter = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { if (a[i]) na++; if (b[i]) nb++; if (a[i] && b[i]) inter++; }
  return { hd95: hd, asd: ab.reduce((p, q) => p + q, 0) / ab.length, dice: (2 * inter) / (na + nb), jaccard: inter / (na + nb - inter) };
}

describe('percentile = numpy.percentile (linear)', () => {
  it('reproduces numpy bit for bit on hand lists', () => {
    // values printed by numpy 2.x: repr(float(np.percentile(l, q)))
    const cases: [number[], number, number][] = [
      [[1, 2, 3, 4, 10], 95, 8.799999999999999],
      [[1, 2, 3, 4, 10], 50, 3.0],
      [[1, 2, 3, 4, 10], 12.5, 1.5],
      [[0, 1], 95, 0.95],
      [[0, 1], 12.5, 0.125],
      [[5], 95, 5],
      [[3, 1, 2], 95, 2.9],
      [[3, 1, 2], 12.5, 1.25],
      [[0.1, 0.7, 0.2, 0.9, 0.3, 0.35, 1.7], 95, 1.4599999999999995],
      [[0.1, 0.7, 0.2, 0.9, 0.3, 0.35, 1.7], 12.5, 0.17500000000000002],
      [Array.from({ length: 23 }, (_, i) => Math.sqrt(i)), 95, 4.5715317209602135],
      [Array.from({ length: 23 }, (_, i) => Math.sqrt(i)), 50, 3.3166247903554],
      [[2, 2, 2, 7], 95, 6.249999999999998],
    ];
    for (const [l, q, want] of cases) expect(percentile(l, q)).toBe(want);
  });

  it('pairwise summation and mean agree with the plain sum within rounding', () => {
    const a = Array.from({ length: 1000 }, (_, i) => Math.sqrt(i % 37));
    const plain = a.reduce((p, q) => p + q, 0);
    expect(pairwiseSum(a)).toBeCloseTo(plain, 9);
    expect(npMean([1, 2, 3, 4])).toBe(2.5);
  });
});

describe('caseMetrics on hand-derived shapes', () => {
  const s: Shape3 = [12, 10, 10];

  it('two identical cubes: dice 1, jaccard 1, hd95 0, asd 0', () => {
    const a = box(s, [2, 2, 2], [8, 8, 8]);
    expect(caseMetrics(a, a.slice(), s)).toEqual({ dice: 1, jaccard: 1, hd95: 0, asd: 0, empty: false });
  });

  /*
   * Cube A = [0, n)³ and B = A shifted by k along x (1 ≤ k < n), both clear of the volume border.
   * |A∩B| = n²(n − k), so dice = (n − k)/n and jaccard = n²(n−k) / (n²(n+k)) = (n − k)/(n + k).
   * Surface voxels s = (x, y, z) of A, distance to the nearest surface voxel of B:
   *  (1) y or z on A's extreme face: if x ≥ k, s lies on B's side face too → 0; else the nearest is
   *      (k, y, z) → k − x (every voxel of S(B) has x' ≥ k).
   *  (2) y, z interior and x = 0 → k (same argument).
   *  (3) y, z interior and x = n − 1: s is inside B; from inside a box the nearest surface voxel is
   *      on the nearest face: min(k, n − 1 − k, dy, dz) with dy = min(y, n − 1 − y), dz likewise.
   * The mirror x → n + k − 1 − x swaps A and B, so d(B → A) has the same multiset; the pool is
   * that multiset twice.
   *
   * n = 6, k = 2: |S(A)| = 6³ − 4³ = 152. (1): 20 (y,z) pairs × x∈{2..5} → 80 zeros; x = 0 → 20
   * twos; x = 1 → 20 ones. (2): 16 twos. (3): dy, dz ∈ {1, 2}; both 2 for 4 pairs → 4 twos, the
   * other 12 → ones. Directed: 80 zeros, 32 ones, 40 twos; ASD = (32 + 80)/152 = 14/19.
   * Pool: 160 zeros, 64 ones, 80 twos (304); numpy index 303·0.95 = 287.85 ≥ 224 → hd95 = 2.
   *
   * n = 4, k = 1: |S(A)| = 56; (1): 12 pairs × x∈{1..3} → 36 zeros, x = 0 → 12 ones; (2): 4 ones;
   * (3): min(1, 2, 1, 1) = 1 → 4 ones. ASD = 20/56 = 5/14; pool 72 zeros, 40 ones → hd95 = 1.
   */
  it('two cubes offset along one axis (n = 6, k = 2)', () => {
    const a = box(s, [2, 2, 2], [8, 8, 8]);
    const b = box(s, [4, 2, 2], [10, 8, 8]);
    const m = caseMetrics(a, b, s);
    expect(m.dice).toBeCloseTo(4 / 6, 14);
    expect(m.jaccard).toBeCloseTo(4 / 8, 14);
    expect(m.hd95).toBe(2);
    expect(m.asd).toBeCloseTo(14 / 19, 14);
    expect(m.empty).toBe(false);
    expect(dice(a, b)).toBe(m.dice);
    expect(jaccard(a, b)).toBe(m.jaccard);
    expect(hd95(a, b, s)).toBe(m.hd95);
    expect(asd(a, b, s)).toBe(m.asd);
    expect(asd(b, a, s)).toBeCloseTo(14 / 19, 14); // symmetric here by the mirror argument
  });

  it('two cubes offset along one axis (n = 4, k = 1), offset along z', () => {
    const a = box(s, [3, 3, 3], [7, 7, 7]);
    const b = box(s, [3, 3, 4], [7, 7, 8]);
    const m = caseMetrics(a, b, s);
    expect(m.dice).toBeCloseTo(3 / 4, 14);
    expect(m.jaccard).toBeCloseTo(3 / 5, 14);
    expect(m.hd95).toBe(1);
    expect(m.asd).toBeCloseTo(5 / 14, 14);
  });

  it('a sphere against a shifted sphere matches the brute-force oracle', () => {
    const t: Shape3 = [20, 18, 16];
    const a = ball(t, [9, 9, 8], 6);
    const b = ball(t, [11, 8, 8], 5.5);
    const m = caseMetrics(a, b, t);
    const o = oracle(a, b, t);
    expect(m.dice).toBeCloseTo(o.dice, 14);
    expect(m.jaccard).toBeCloseTo(o.jaccard, 14);
    expect(m.hd95).toBeCloseTo(o.hd95, 12);
    expect(m.asd).toBeCloseTo(o.asd, 12);
    expect(m.hd95).toBeGreaterThan(1);
  });

  it('random masks match the oracle', () => {
    const arb = fc
      .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }))
      .chain(([X, Y, Z]) => {
        const n = X * Y * Z;
        return fc.record({
          shape: fc.constant([X, Y, Z] as Shape3),
          a: fc.uint8Array({ minLength: n, maxLength: n, min: 0, max: 1 }),
          b: fc.uint8Array({ minLength: n, maxLength: n, min: 0, max: 1 }),
        });
      });
    fc.assert(
      fc.property(arb, ({ shape, a, b }) => {
        fc.pre(a.some((v) => v) && b.some((v) => v));
        const m = caseMetrics(a, b, shape);
        const o = oracle(a, b, shape);
        expect(m.dice).toBeCloseTo(o.dice, 12);
        expect(m.jaccard).toBeCloseTo(o.jaccard, 12);
        expect(m.hd95).toBeCloseTo(o.hd95, 12);
        expect(m.asd).toBeCloseTo(o.asd, 12);
      }),
      { numRuns: 150 },
    );
  });

  it('with a voxel spacing (medpy voxelspacing, a NIfTI pixdim): hd95 and asd in its units match the oracle; unit spacing changes nothing', () => {
    const arb = fc
      .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }))
      .chain(([X, Y, Z]) => {
        const n = X * Y * Z;
        const size = fc.double({ min: 0.25, max: 4, noNaN: true });
        return fc.record({
          shape: fc.constant([X, Y, Z] as Shape3),
          spacing: fc.tuple(size, size, size),
          a: fc.uint8Array({ minLength: n, maxLength: n, min: 0, max: 1 }),
          b: fc.uint8Array({ minLength: n, maxLength: n, min: 0, max: 1 }),
        });
      });
    fc.assert(
      fc.property(arb, ({ shape, spacing, a, b }) => {
        fc.pre(a.some((v) => v) && b.some((v) => v));
        const o = oracle(a, b, shape, spacing);
        const m = caseMetrics(a, b, shape, spacing);
        for (const [value, expected] of [[m.hd95, o.hd95], [m.asd, o.asd], [hd95(a, b, shape, spacing), o.hd95], [asd(a, b, shape, spacing), o.asd]]) {
          expect(Math.abs(value! - expected!)).toBeLessThanOrEqual(1e-12 * Math.max(1, expected!));
        }
        expect(hd95(a, b, shape, [1, 1, 1])).toBe(hd95(a, b, shape));
        expect(caseMetrics(a, b, shape, [1, 1, 1])).toEqual(caseMetrics(a, b, shape));
      }),
      { numRuns: 150 },
    );
    const s: Shape3 = [8, 8, 8], c1 = box(s, [1, 1, 1], [4, 4, 4]), c2 = box(s, [1, 1, 3], [4, 4, 6]);
    // a shift of 2 voxels along z, 2.5 mm apart: every distance scales by 2.5
    expect(hd95(c1, c2, s, [0.7, 0.7, 2.5])).toBeCloseTo(2.5 * hd95(c1, c2, s), 12);
    expect(() => hd95(c1, c2, s, [1, 0, 1])).toThrow(/^sqDistanceToSet: spacing must be three positive numbers, got \[1, 0, 1\]$/);
  });

  it('empty prediction or empty reference: all zeros, flagged', () => {
    const a = box(s, [2, 2, 2], [5, 5, 5]);
    const z = new Uint8Array(a.length);
    const want: CaseMetrics = { dice: 0, jaccard: 0, hd95: 0, asd: 0, empty: true };
    expect(caseMetrics(z, a, s)).toEqual(want);
    expect(caseMetrics(a, z, s)).toEqual(want);
    expect(caseMetrics(z, z, s)).toEqual(want);
  });

  it('single voxels', () => {
    const a = box(s, [3, 3, 3], [4, 4, 4]);
    expect(caseMetrics(a, a, s)).toEqual({ dice: 1, jaccard: 1, hd95: 0, asd: 0, empty: false });
    const b = box(s, [4, 5, 5], [5, 6, 6]); // offset (1, 2, 2): distance 3
    expect(caseMetrics(a, b, s)).toEqual({ dice: 0, jaccard: 0, hd95: 3, asd: 3, empty: false });
  });

  /*
   * Touching the border: prediction = the whole 3×3×3 volume, reference = its centre voxel.
   * With border_value 0 every voxel of the volume's border is surface: 26 voxels at distance 1
   * (6 faces), √2 (12 edges), √3 (8 corners) from the centre; d(centre → S(pred)) = 1.
   * ASD = (6 + 12√2 + 8√3)/26. Pool of 27: 7 ones, 12 √2, 8 √3; index 26·0.95 = 24.7 → √3.
   * Dice = 2/28, Jaccard = 1/27.
   */
  it('a prediction touching the volume border has its border voxels on the surface', () => {
    const t: Shape3 = [3, 3, 3];
    const full = new Uint8Array(27).fill(1);
    const c = box(t, [1, 1, 1], [2, 2, 2]);
    expect(surface(full, t).reduce((p, v) => p + v, 0)).toBe(26);
    const m = caseMetrics(full, c, t);
    expect(m.dice).toBeCloseTo(1 / 14, 15);
    expect(m.jaccard).toBeCloseTo(1 / 27, 15);
    expect(m.hd95).toBe(Math.sqrt(3));
    expect(m.asd).toBeCloseTo((6 + 12 * Math.SQRT2 + 8 * Math.sqrt(3)) / 26, 14);
    expect(caseMetrics(full, full, t)).toEqual({ dice: 1, jaccard: 1, hd95: 0, asd: 0, empty: false });
  });
});

describe('summarize', () => {
  it('mean and population std; empty cases enter as zeros', () => {
    const rows: CaseMetrics[] = [
      { dice: 0.9, jaccard: 0.8, hd95: 4, asd: 1, empty: false },
      { dice: 0.7, jaccard: 0.6, hd95: 8, asd: 3, empty: false },
      { dice: 0, jaccard: 0, hd95: 0, asd: 0, empty: true },
    ];
    const s = summarize(rows);
    expect(s.n).toBe(3);
    expect(s.nEmpty).toBe(1);
    expect(s.dice.mean).toBeCloseTo(1.6 / 3, 14);
    expect(s.hd95.mean).toBe(4);
    expect(s.hd95.std).toBeCloseTo(Math.sqrt((0 + 16 + 16) / 3), 14); // ddof = 0
    expect(s.asd.std).toBeCloseTo(Math.sqrt(((1 - 4 / 3) ** 2 + (3 - 4 / 3) ** 2 + (4 / 3) ** 2) / 3), 14);
  });
});

describe('largestConnectedComponent (26-connected)', () => {
  const s: Shape3 = [6, 6, 6];

  it('diagonal-only contact connects; the largest component wins', () => {
    const m = new Uint8Array(216);
    // component 1: a diagonal chain of 4 voxels, touching only at corners
    for (let i = 0; i < 4; i++) m[idx(s, i, i, i)] = 1;
    // component 2: a straight line of 3 voxels, far away
    for (let z = 0; z < 3; z++) m[idx(s, 5, 0, z)] = 1;
    const out = largestConnectedComponent(m, s);
    expect(out.reduce((p, v) => p + v, 0)).toBe(4);
    for (let i = 0; i < 4; i++) expect(out[idx(s, i, i, i)]).toBe(1);
    expect(out[idx(s, 5, 0, 0)]).toBe(0);
  });

  it('a tie goes to the component met first in C order; empty stays empty', () => {
    const m = new Uint8Array(216);
    m[idx(s, 0, 0, 5)] = 1; m[idx(s, 0, 1, 5)] = 1;
    m[idx(s, 4, 4, 0)] = 1; m[idx(s, 5, 5, 1)] = 1;
    const out = largestConnectedComponent(m, s);
    expect(Array.from(out.keys()).filter((i) => out[i])).toEqual([idx(s, 0, 0, 5), idx(s, 0, 1, 5)]);
    expect(largestConnectedComponent(new Uint8Array(216), s).every((v) => v === 0)).toBe(true);
  });

  it('matches a union-find oracle on random masks', () => {
    const arb = fc
      .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }))
      .chain(([X, Y, Z]) =>
        fc.record({
          shape: fc.constant([X, Y, Z] as Shape3),
          m: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: X * Y * Z, maxLength: X * Y * Z }).map((v) => Uint8Array.from(v, (t) => (t < 3 ? 1 : 0))),
        }),
      );
    fc.assert(
      fc.property(arb, ({ shape, m }) => {
        const [, Y, Z] = shape;
        const n = m.length;
        const parent = Int32Array.from({ length: n }, (_, i) => i);
        const find = (i: number): number => { while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!; return i; };
        const co = (i: number): [number, number, number] => [Math.floor(i / (Y * Z)), Math.floor(i / Z) % Y, i % Z];
        for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
          if (!m[i] || !m[j]) continue;
          const a = co(i), b = co(j);
          if (Math.max(Math.abs(a[0] - b[0]), Math.abs(a[1] - b[1]), Math.abs(a[2] - b[2])) <= 1) {
            const ra = find(i), rb = find(j);
            if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
          }
        }
        const size = new Map<number, number>();
        for (let i = 0; i < n; i++) if (m[i]) size.set(find(i), (size.get(find(i)) ?? 0) + 1);
        let best = -1, bestSize = 0;
        for (const [r, c] of [...size].sort((p, q) => p[0] - q[0])) if (c > bestSize) { best = r; bestSize = c; }
        const out = largestConnectedComponent(m, shape);
        for (let i = 0; i < n; i++) expect(out[i]).toBe(m[i] && find(i) === best ? 1 : 0);
      }),
      { numRuns: 200 },
    );
  });
});
