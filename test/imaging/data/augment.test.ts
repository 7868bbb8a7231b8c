import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  applyAugment,
  centerCrop,
  centerParams,
  cropVolume,
  drawAugment,
  flipAxis,
  padAmounts,
  padVolume,
  randomRotFlipCrop,
  resolveAugment,
  rot90xy,
  type AugmentParams,
} from '../../../src/imaging/data/augment.js';
import { Rng } from '../../../src/imaging/random.js';
import type { Shape3, Volume } from '../../../src/imaging/volume.js';

/** A [X, Y, 1] float volume from a 2-D matrix written row by row (rows = x, columns = y). */
function mat(rows: number[][]): Volume<Float32Array> {
  return { data: Float32Array.from(rows.flat()), shape: [rows.length, rows[0]!.length, 1] };
}

function toRows(v: Volume<Float32Array | Uint8Array>): number[][] {
  const [X, Y, Z] = v.shape;
  expect(Z).toBe(1);
  return Array.from({ length: X }, (_, x) => Array.from({ length: Y }, (_, y) => v.data[x * Y + y]!));
}

function ramp(shape: Shape3): Volume<Float32Array> {
  const n = shape[0] * shape[1] * shape[2];
  return { data: Float32Array.from({ length: n }, (_, i) => i + 1), shape };
}

describe('rot90xy follows np.rot90(m, k, axes=(0, 1))', () => {
  // np.rot90([[1,2,3],[4,5,6]]) == [[3,6],[2,5],[1,4]]
  const m = mat([[1, 2, 3], [4, 5, 6]]);
  it('k = 0', () => expect(toRows(rot90xy(m, 0))).toEqual([[1, 2, 3], [4, 5, 6]]));
  it('k = 1', () => {
    const r = rot90xy(m, 1);
    expect(r.shape).toEqual([3, 2, 1]);
    expect(toRows(r)).toEqual([[3, 6], [2, 5], [1, 4]]);
  });
  it('k = 2', () => expect(toRows(rot90xy(m, 2))).toEqual([[6, 5, 4], [3, 2, 1]]));
  it('k = 3', () => {
    const r = rot90xy(m, 3);
    expect(r.shape).toEqual([3, 2, 1]);
    expect(toRows(r)).toEqual([[4, 1], [5, 2], [6, 3]]);
  });
  it('keeps z untouched', () => {
    // m[x, y, z] = 100x + 10y + z, shape [2, 3, 2]
    const v: Volume<Float32Array> = { data: new Float32Array(12), shape: [2, 3, 2] };
    for (let x = 0; x < 2; x++) for (let y = 0; y < 3; y++) for (let z = 0; z < 2; z++) v.data[(x * 3 + y) * 2 + z] = 100 * x + 10 * y + z;
    const r = rot90xy(v, 1); // out[a, b, z] = m[b, Y-1-a, z]
    for (let a = 0; a < 3; a++) for (let b = 0; b < 2; b++) for (let z = 0; z < 2; z++) {
      expect(r.data[(a * 2 + b) * 2 + z]).toBe(100 * b + 10 * (2 - a) + z);
    }
  });
  it('four quarter turns are the identity; k and 4-k invert each other', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 3 }), (X, Y, Z, k) => {
        const v = ramp([X, Y, Z]);
        let r = v;
        for (let i = 0; i < 4; i++) r = rot90xy(r, 1);
        expect(r).toEqual(v);
        expect(rot90xy(rot90xy(v, k), 4 - k)).toEqual(v);
      }),
      { numRuns: 40 },
    );
  });
});

describe('flipAxis follows np.flip', () => {
  const m = mat([[1, 2, 3], [4, 5, 6]]);
  it('axis 0 (x)', () => expect(toRows(flipAxis(m, 0))).toEqual([[4, 5, 6], [1, 2, 3]]));
  it('axis 1 (y)', () => expect(toRows(flipAxis(m, 1))).toEqual([[3, 2, 1], [6, 5, 4]]));
  it('works on uint8', () => {
    const u: Volume<Uint8Array> = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), shape: [2, 3, 1] };
    const f = flipAxis(u, 1);
    expect(f.data).toBeInstanceOf(Uint8Array);
    expect(toRows(f)).toEqual([[3, 2, 1], [6, 5, 4]]);
  });
});

describe('pad-if-needed (reference RandomCrop rule)', () => {
  it('pads every axis by max((patch - size)//2 + 3, 0) when any side <= patch', () => {
    expect(padAmounts([100, 100, 70], [112, 112, 80])).toEqual([9, 9, 8]);
    // size == patch counts ("not larger"): (0)//2 + 3 = 3
    expect(padAmounts([112, 200, 200], [112, 112, 80])).toEqual([3, 0, 0]);
    // Python floor division: (80 - 81)//2 + 3 = -1 + 3 = 2
    expect(padAmounts([112, 200, 81], [112, 112, 80])).toEqual([3, 0, 2]);
    // (80-84)//2 + 3 = 1; (80-85)//2 + 3 = floor(-2.5) + 3 = 0
    expect(padAmounts([111, 113, 84], [112, 112, 80])).toEqual([3, 2, 1]);
    expect(padAmounts([111, 113, 85], [112, 112, 80])).toEqual([3, 2, 0]);
  });
  it('no padding when every side is larger than the patch (LA: W >= 148, H >= 132, D = 88)', () => {
    expect(padAmounts([113, 113, 81], [112, 112, 80])).toEqual([0, 0, 0]);
    expect(padAmounts([148, 132, 88], [112, 112, 80])).toEqual([0, 0, 0]);
  });
  it('padVolume zero-pads both ends', () => {
    const v = mat([[1, 2], [3, 4]]);
    const p = padVolume(v, [1, 0, 1]);
    expect(p.shape).toEqual([4, 2, 3]);
    // [x][y] = [0, v, 0] along z
    const expected = [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0];
    expect(Array.from(p.data)).toEqual(expected);
  });
  it('after padding the crop range size - patch is always >= 1', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 30 })),
        fc.tuple(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 30 })),
        (shape, patch) => {
          const pad = padAmounts(shape, patch);
          for (let i = 0; i < 3; i++) expect(shape[i]! + 2 * pad[i]! - patch[i]!).toBeGreaterThanOrEqual(1);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('crop', () => {
  it('cropVolume takes [offset, offset + patch)', () => {
    const v = mat([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
    expect(toRows(cropVolume(v, [1, 1, 0], [2, 2, 1]))).toEqual([[5, 6], [8, 9]]);
    expect(() => cropVolume(v, [2, 0, 0], [2, 2, 1])).toThrow(/outside/);
  });
  it('offset = floor(u · (size - patch)), upper bound excluded', () => {
    const shape: Shape3 = [10, 9, 8];
    const patch: Shape3 = [6, 6, 6];
    const lo = resolveAugment({ k: 0, flipAxis: 0, u: [0, 0, 0] }, shape, patch);
    expect(lo.offset).toEqual([0, 0, 0]);
    const hi = resolveAugment({ k: 0, flipAxis: 0, u: [0.9999999, 0.9999999, 0.9999999] }, shape, patch);
    expect(hi.offset).toEqual([3, 2, 1]);
    // after k = 1 the (x, y) sizes swap
    const r = resolveAugment({ k: 1, flipAxis: 0, u: [0.9999999, 0.9999999, 0] }, shape, patch);
    expect(r.offset).toEqual([2, 3, 0]);
  });
  it('random offsets cover exactly [0, size - patch)', () => {
    const rng = new Rng(5);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(resolveAugment(drawAugment(rng), [7, 7, 7], [4, 4, 4]).offset[2]);
    expect([...seen].sort()).toEqual([0, 1, 2]);
  });
});

describe('fused augmentation', () => {
  it('applyAugment equals crop(pad(flip(rot90(v)))) for any shapes and draws', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 6 })),
        fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 6 })),
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom<0 | 1 | null>(0, 1, null),
        fc.tuple(fc.double({ min: 0, max: 0.999999, noNaN: true }), fc.double({ min: 0, max: 0.999999, noNaN: true }), fc.double({ min: 0, max: 0.999999, noNaN: true })),
        (shape, patch, k, flip, u) => {
          const v = ramp(shape as Shape3);
          const p = resolveAugment({ k: k as 0 | 1 | 2 | 3, flipAxis: flip, u }, shape as Shape3, patch as Shape3);
          let ref = rot90xy(v, k);
          if (flip !== null) ref = flipAxis(ref, flip);
          ref = cropVolume(padVolume(ref, p.pad), p.offset, patch as Shape3);
          expect(applyAugment(v, p)).toEqual(ref);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('applies the same transform to image and label', () => {
    const shape: Shape3 = [9, 7, 5];
    const img = ramp(shape);
    const lab: Volume<Uint8Array> = { data: Uint8Array.from(img.data, (v) => v % 256), shape };
    const rng = new Rng(11);
    for (let t = 0; t < 20; t++) {
      const r = randomRotFlipCrop(img, lab, [6, 8, 6], rng);
      expect(r.image.shape).toEqual([6, 8, 6]);
      for (let i = 0; i < r.image.data.length; i++) expect(r.label!.data[i]).toBe(r.image.data[i]! % 256);
    }
  });

  it('draws k uniformly in {0..3} and the flip axis uniformly in {x, y}', () => {
    const rng = new Rng(1);
    const ks = [0, 0, 0, 0];
    const fs = [0, 0];
    for (let i = 0; i < 4000; i++) {
      const d = drawAugment(rng);
      ks[d.k]!++;
      fs[d.flipAxis!]!++;
    }
    for (const c of ks) expect(Math.abs(c - 1000)).toBeLessThan(120);
    for (const c of fs) expect(Math.abs(c - 2000)).toBeLessThan(150);
  });

  it('is reproducible through the PRNG', () => {
    const v = ramp([10, 10, 10]);
    const a = randomRotFlipCrop(v, null, [5, 5, 5], new Rng(9));
    const b = randomRotFlipCrop(v, null, [5, 5, 5], new Rng(9));
    expect(a.params).toEqual(b.params);
    expect(a.image).toEqual(b.image);
    expect(a.label).toBeNull();
  });

  it('rejects mismatched image/label shapes and bad patches', () => {
    const v = ramp([4, 4, 4]);
    const l: Volume<Uint8Array> = { data: new Uint8Array(48), shape: [4, 4, 3] };
    expect(() => randomRotFlipCrop(v, l, [2, 2, 2], new Rng(0))).toThrow(/differs/);
    expect(() => centerCrop(v, null, [2, 0, 2])).toThrow(/patch/);
  });
});

describe('centre crop (no augmentation)', () => {
  it('is deterministic, unrotated and centred', () => {
    const v = mat([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]);
    const p: AugmentParams = centerParams(v.shape, [1, 2, 1]);
    // z (size 1 <= patch 1) triggers padding: x: (1-3)//2+3 = 2, y: (2-4)//2+3 = 2, z: 3
    expect(p.pad).toEqual([2, 2, 3]);
    expect(p.offset).toEqual([3, 3, 3]);
    const c = centerCrop(v, null, [1, 2, 1]);
    expect(toRows(c.image)).toEqual([[6, 7]]);
    const big = ramp([9, 9, 9]);
    const c2 = centerCrop(big, null, [5, 5, 5]);
    expect(c2.params.pad).toEqual([0, 0, 0]);
    expect(c2.params.offset).toEqual([2, 2, 2]);
    expect(c2.image).toEqual(cropVolume(big, [2, 2, 2], [5, 5, 5]));
  });
});
