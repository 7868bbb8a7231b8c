import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chamferDistanceToSet, distanceToSet, type ChamferMetric } from '../../src/imaging/edt.js';
import { HausdorffDistanceMetric, SurfaceDistanceMetric } from '../../src/imaging/metric-classes.js';
import { SurfaceDiceMetric } from '../../src/imaging/metric-classes-more.js';
import { surface, surfaceDistances } from '../../src/imaging/metrics.js';
import type { Shape3 } from '../../src/imaging/volume.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * MONAI's `distance_metric` 'chessboard' and 'taxicab' (scipy's `distance_transform_cdt`, in voxels) for the
 * surface-distance metrics, against brute force: the smallest L∞ or L1 distance to any site.
 */
const norms: Record<ChamferMetric, (dx: number, dy: number, dz: number) => number> = {
  chessboard: (dx, dy, dz) => Math.max(Math.abs(dx), Math.abs(dy), Math.abs(dz)),
  taxicab: (dx, dy, dz) => Math.abs(dx) + Math.abs(dy) + Math.abs(dz),
};

function bruteForce(sites: Uint8Array, [, Y, Z]: Shape3, metric: ChamferMetric): Float64Array {
  const out = new Float64Array(sites.length).fill(Infinity);
  const at = (i: number): [number, number, number] => [Math.floor(i / (Y * Z)), Math.floor(i / Z) % Y, i % Z];
  for (let i = 0; i < sites.length; i++) {
    const [x, y, z] = at(i);
    for (let j = 0; j < sites.length; j++) {
      if (sites[j] === 0) continue;
      const [a, b, c] = at(j);
      out[i] = Math.min(out[i]!, norms[metric](x - a, y - b, z - c));
    }
  }
  return out;
}

const volume = fc.record({
  shape: fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 })),
  density: fc.double({ min: 0.01, max: 0.5, noNaN: true }),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
}).map(({ shape, density, seed }) => {
  let state = seed || 1;
  const random = (): number => ((state = (Math.imul(state, 48271) % 2147483647 + 2147483647) % 2147483647) / 2147483647);
  const mask = Uint8Array.from({ length: shape[0] * shape[1] * shape[2] }, () => (random() < density ? 1 : 0));
  return { shape: shape as Shape3, mask };
});

describe('chamferDistanceToSet', () => {
  it('is the exact chessboard and taxicab distance to the nearest site, on random shapes', () => {
    fc.assert(fc.property(volume, ({ shape, mask }) => {
      for (const metric of ['chessboard', 'taxicab'] as const) {
        expect(Array.from(chamferDistanceToSet(mask, shape, metric))).toEqual(Array.from(bruteForce(mask, shape, metric)));
      }
    }), propertyOptions(60));
  });

  it('one site in the middle of a 5³ volume: a corner is 2 away on the chessboard, 6 by taxicab, √12 in Euclid', () => {
    const sites = new Uint8Array(125);
    sites[(2 * 5 + 2) * 5 + 2] = 1;
    expect(chamferDistanceToSet(sites, [5, 5, 5], 'chessboard')[124]).toBe(2);
    expect(chamferDistanceToSet(sites, [5, 5, 5], 'taxicab')[124]).toBe(6);
    expect(distanceToSet(sites, [5, 5, 5])[124]).toBe(Math.sqrt(12));
    expect(chamferDistanceToSet(sites, [5, 5, 5], 'taxicab')[(2 * 5 + 2) * 5 + 2]).toBe(0);
  });

  it('is +Infinity everywhere without a site, and names a bad metric or shape', () => {
    expect(Array.from(chamferDistanceToSet(new Uint8Array(8), [2, 2, 2], 'chessboard'))).toEqual(new Array(8).fill(Infinity));
    expect(() => chamferDistanceToSet(new Uint8Array(8), [2, 2, 2], 'manhattan' as never)).toThrow(/^chamferDistanceToSet: metric must be 'chessboard' or 'taxicab', got "manhattan"$/);
    expect(() => chamferDistanceToSet(new Uint8Array(7), [2, 2, 2], 'taxicab')).toThrow(/^chamferDistanceToSet: 7 voxels do not match shape \[2, 2, 2\]$/);
  });
});

describe('surface distances with a chamfer metric', () => {
  it("are each surface voxel's brute-force distance to the other surface, in C order", () => {
    fc.assert(fc.property(volume, volume, ({ shape, mask }, other) => {
      const b = other.mask.length === mask.length ? other.mask : mask.map((v) => 1 - v);
      const sa = surface(mask, shape), sb = surface(b, shape);
      if (!sa.includes(1) || !sb.includes(1)) return;
      for (const metric of ['chessboard', 'taxicab'] as const) {
        const all = bruteForce(sb, shape, metric);
        const expected = Array.from(all).filter((_, i) => sa[i] === 1);
        expect(Array.from(surfaceDistances(mask, b, shape, undefined, metric))).toEqual(expected);
      }
    }), propertyOptions(40));
  });

  it('refuse a spacing (MONAI would ignore it) and an unknown metric, naming them', () => {
    const a = new Uint8Array([1, 0, 0, 0]), b = new Uint8Array([0, 0, 0, 1]);
    expect(() => surfaceDistances(a, b, [4, 1, 1], [2, 1, 1], 'taxicab'))
      .toThrow(/^surfaceDistances: spacing \[2, 1, 1\] applies to distanceMetric 'euclidean' only; 'taxicab' counts voxels \(MONAI ignores the spacing there\): leave it out$/);
    expect(() => surfaceDistances(a, b, [4, 1, 1], undefined, 'cosine' as never))
      .toThrow(/^surfaceDistances: distanceMetric must be 'euclidean', 'chessboard' or 'taxicab', got "cosine"$/);
    expect(Array.from(surfaceDistances(a, b, [4, 1, 1], [2, 1, 1], 'euclidean'))).toEqual([6]);
  });
});

describe("MONAI's metric classes take distanceMetric", () => {
  // one voxel at (0, 0, 0), the other at (2, 1, 1): Euclid √6, chessboard 2, taxicab 4, in both directions
  const shape: Shape3 = [3, 3, 3];
  const pred = new Uint8Array(27), gt = new Uint8Array(27);
  pred[0] = 1;
  gt[(2 * 3 + 1) * 3 + 1] = 1;

  it('HausdorffDistanceMetric and SurfaceDistanceMetric, maximum, percentile and mean', () => {
    expect(new HausdorffDistanceMetric({ percentile: null }).call(pred, gt, shape)).toBe(Math.sqrt(6));
    expect(new HausdorffDistanceMetric({ percentile: null, distanceMetric: 'chessboard' }).call(pred, gt, shape)).toBe(2);
    expect(new HausdorffDistanceMetric({ distanceMetric: 'taxicab' }).call(pred, gt, shape)).toBe(4);
    expect(new SurfaceDistanceMetric({ distanceMetric: 'chessboard' }).call(pred, gt, shape)).toBe(2);
    expect(new SurfaceDistanceMetric({ distanceMetric: 'taxicab', symmetric: true }).call(pred, gt, shape)).toBe(4);
    expect(new SurfaceDistanceMetric().call(pred, gt, shape)).toBe(Math.sqrt(6));
  });

  it('SurfaceDiceMetric counts a surface voxel within the threshold by the chosen metric', () => {
    expect(new SurfaceDiceMetric({ classThresholds: [2], distanceMetric: 'chessboard' }).call(pred, gt, shape)).toBe(1);
    expect(new SurfaceDiceMetric({ classThresholds: [2], distanceMetric: 'taxicab' }).call(pred, gt, shape)).toBe(0);
    expect(new SurfaceDiceMetric({ classThresholds: [4], distanceMetric: 'taxicab' }).call(pred, gt, shape)).toBe(1);
    expect(new SurfaceDiceMetric({ classThresholds: [2] }).call(pred, gt, shape)).toBe(0);
  });

  it('a chamfer metric with a spacing is refused at every call, an empty case included; unknown names and medpy pooling too', () => {
    const empty = new Uint8Array(27);
    for (const metric of [
      new HausdorffDistanceMetric({ distanceMetric: 'chessboard' }), new SurfaceDistanceMetric({ distanceMetric: 'taxicab' }),
      new SurfaceDiceMetric({ classThresholds: [1], distanceMetric: 'chessboard' }),
    ]) {
      const name = metric.constructor.name;
      expect(() => metric.call(pred, gt, shape, [1, 1, 2])).toThrow(new RegExp(`^${name}\\.call: spacing \\[1, 1, 2\\] applies to distanceMetric 'euclidean' only`));
      expect(() => metric.call(empty, gt, shape, [1, 1, 2])).toThrow(new RegExp(`^${name}\\.call: spacing`));
    }
    expect(() => new HausdorffDistanceMetric({ distanceMetric: 'l2' as never })).toThrow(/^HausdorffDistanceMetric: distanceMetric must be 'euclidean', 'chessboard' or 'taxicab', got "l2"$/);
    expect(() => new SurfaceDistanceMetric({ distanceMetric: 'l1' as never })).toThrow(/^SurfaceDistanceMetric: distanceMetric must be/);
    expect(() => new HausdorffDistanceMetric({ pooled: true, distanceMetric: 'taxicab' })).toThrow(/^HausdorffDistanceMetric: pooled is medpy's hd95, Euclidean only, not distanceMetric 'taxicab'$/);
    expect(new HausdorffDistanceMetric({ pooled: true }).distanceMetric).toBe('euclidean');
  });
});
