import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DiceMetric, HausdorffDistanceMetric, SurfaceDistanceMetric } from '../../src/imaging/metric-classes.js';
import type { Shape3 } from '../../src/imaging/volume.js';

/**
 * The metric classes on class-index maps with numClasses: MONAI's per-class rows ([B, C] with include_background)
 * and its reductions (do_metric_reduction). Hand values on a line of 6 voxels, where every voxel of a class is on its
 * surface: pred = [0, 1, 1, 2, 2, 0], gt = [0, 1, 2, 2, 2, 1], and a second case with both all background.
 */
const LINE: Shape3 = [6, 1, 1];
const pred = Uint8Array.from([0, 1, 1, 2, 2, 0]);
const gt = Uint8Array.from([0, 1, 2, 2, 2, 1]);
const background = new Uint8Array(6);

describe('DiceMetric with numClasses (MONAI: include_background true by default)', () => {
  // class 0: pred {0, 5}, gt {0} → 2·1/3; class 1: pred {1, 2}, gt {1, 5} → 2·1/4; class 2: pred {3, 4}, gt {2, 3, 4} → 2·2/5
  // second case: class 0 everywhere in both → 1; classes 1, 2 have an empty reference → NaN (ignoreEmpty)
  const metric = (): DiceMetric => {
    const d = new DiceMetric({ numClasses: 3 });
    expect(d.callClasses(pred, gt, LINE)).toEqual([2 / 3, 0.5, 0.8]);
    expect(d.callClasses(background, background, LINE)).toEqual([1, NaN, NaN]);
    return d;
  };

  it("gives one row per case and MONAI's reductions of the [cases, classes] buffer, NaNs left out", () => {
    const d = metric();
    expect(d.buffer()).toEqual([[2 / 3, 0.5, 0.8], [1, NaN, NaN]]);
    expect(d.aggregate('none')).toEqual(d.buffer());
    const firstCase = (2 / 3 + 0.5 + 0.8) / 3;
    expect(d.aggregate()).toBeCloseTo((firstCase + 1) / 2, 15);
    expect(d.aggregate('mean_channel')).toEqual([firstCase, 1]);
    expect(d.aggregate('mean_batch')).toEqual([(2 / 3 + 1) / 2, 0.5, 0.8]);
    expect(d.aggregate('sum_batch')).toEqual([2 / 3 + 1, 0.5, 0.8]);
    expect(d.aggregate('sum_channel')).toEqual([2 / 3 + 0.5 + 0.8, 1]);
    expect(d.aggregate('sum')).toBeCloseTo(2 / 3 + 0.5 + 0.8 + 1, 15);
    expect(d.notNans()).toBe(2);
  });

  it('without the background: the classes 1 and 2; a case with every class NaN leaves the mean and notNans', () => {
    const d = new DiceMetric({ numClasses: 3, includeBackground: false });
    expect(d.callClasses(pred, gt, LINE)).toEqual([0.5, 0.8]);
    expect(d.callClasses(background, background, LINE)).toEqual([NaN, NaN]);
    expect(d.aggregate()).toBeCloseTo(0.65, 15);
    expect(d.aggregate('mean_batch')).toEqual([0.5, 0.8]);
    expect(d.notNans()).toBe(1);
    const keepEmpty = new DiceMetric({ numClasses: 3, includeBackground: false, ignoreEmpty: false });
    expect(keepEmpty.callClasses(background, background, LINE)).toEqual([1, 1]);
    expect(keepEmpty.callClasses(background, Uint8Array.from([0, 0, 0, 0, 0, 2]), LINE)).toEqual([1, 0]);
  });
});

describe('HausdorffDistanceMetric and SurfaceDistanceMetric with numClasses (MONAI: include_background false by default)', () => {
  it('hand values per class: the maximum distance and the mean surface distance', () => {
    // class 1: pred → gt distances [0, 1], gt → pred [0, 3]; class 2: pred → gt [0, 0], gt → pred [1, 0, 0]
    const h = new HausdorffDistanceMetric({ numClasses: 3, percentile: null });
    expect(h.callClasses(pred, gt, LINE)).toEqual([3, 1]);
    expect(h.callClasses(background, background, LINE)).toEqual([NaN, NaN]);
    expect(h.aggregate()).toBe(2);
    const h95 = new HausdorffDistanceMetric({ numClasses: 3 });
    // numpy's linear percentile: p95 of [0, 3] is 2.85, of [0, 0, 1] is 0.9
    const [c1, c2] = h95.callClasses(pred, gt, LINE);
    expect(c1).toBeCloseTo(2.85, 12);
    expect(c2).toBeCloseTo(0.9, 12);
    expect(new SurfaceDistanceMetric({ numClasses: 3 }).callClasses(pred, gt, LINE)).toEqual([0.5, 0]);
    expect(new SurfaceDistanceMetric({ numClasses: 3, symmetric: true }).callClasses(pred, gt, LINE)).toEqual([1, 0.2]);
    // a class present in one map only: +∞, kept in the mean
    const inf = new HausdorffDistanceMetric({ numClasses: 3, includeBackground: true, percentile: null });
    expect(inf.callClasses(Uint8Array.from([0, 0, 0, 1, 1, 1]), Uint8Array.from([0, 0, 0, 0, 0, 0]), LINE)).toEqual([3, Infinity, NaN]);
    expect(inf.aggregate()).toBe(Infinity);
  });

  it('each class equals the binary metric of its masks (pred = c against gt = c), on random class maps', () => {
    const S: Shape3 = [4, 3, 3], n = 36;
    const arbMap = fc.uint8Array({ minLength: n, maxLength: n, max: 3 });
    fc.assert(fc.property(arbMap, arbMap, fc.boolean(), (p, g, includeBackground) => {
      const make = [
        (o: { numClasses?: number; includeBackground?: boolean }) => new DiceMetric(o),
        (o: { numClasses?: number; includeBackground?: boolean }) => new HausdorffDistanceMetric(o),
        (o: { numClasses?: number; includeBackground?: boolean }) => new SurfaceDistanceMetric({ ...o, symmetric: true }),
      ];
      for (const m of make) {
        const row = m({ numClasses: 4, includeBackground }).callClasses(p, g, S, [1, 2, 0.5]);
        const classes = includeBackground ? [0, 1, 2, 3] : [1, 2, 3];
        expect(row).toEqual(classes.map((c) => m({}).call(p.map((v) => (v === c ? 1 : 0)), g.map((v) => (v === c ? 1 : 0)), S, [1, 2, 0.5])));
      }
    }));
  });
});

describe('binary masks keep their API; the modes and options are checked', () => {
  it('a binary metric is one class: buffer rows of one value, mean_batch its mean', () => {
    const d = new DiceMetric();
    d.call(Uint8Array.from([1, 1, 0, 0, 0, 0]), Uint8Array.from([1, 0, 0, 0, 0, 0]), LINE);
    d.call(background, background, LINE);
    expect(d.values()).toEqual([2 / 3, NaN]);
    expect(d.buffer()).toEqual([[2 / 3], [NaN]]);
    expect(d.aggregate('mean_batch')).toEqual([2 / 3]);
    expect(d.aggregate()).toBe(2 / 3);
  });

  it('refuses the other mode, classes ≥ numClasses, includeBackground without numClasses and unknown reductions', () => {
    expect(() => new DiceMetric().callClasses(pred, gt, LINE)).toThrow(/^DiceMetric.callClasses: needs the metric made with numClasses; score binary masks with call$/);
    expect(() => new DiceMetric({ numClasses: 3 }).call(pred, gt, LINE)).toThrow(/^DiceMetric.call: this metric has numClasses; score class-index maps with callClasses$/);
    expect(() => new SurfaceDistanceMetric({ numClasses: 2 }).callClasses(pred, gt, LINE)).toThrow(/^SurfaceDistanceMetric.callClasses: pred holds class 2 at voxel 3, not below numClasses 2$/);
    expect(() => new DiceMetric({ numClasses: 3 }).callClasses(pred, Uint8Array.from([0, 0, 0, 0, 0, 7]), LINE)).toThrow(/gt holds class 7 at voxel 5/);
    expect(() => new HausdorffDistanceMetric({ includeBackground: true })).toThrow(/^HausdorffDistanceMetric: includeBackground needs numClasses/);
    expect(() => new DiceMetric({ numClasses: 1 })).toThrow(/^DiceMetric: numClasses must be an integer in \[2, 256\], got 1$/);
    expect(() => new DiceMetric({ numClasses: 3 }).callClasses(pred, gt.subarray(1), LINE)).toThrow(/^DiceMetric.callClasses: pred \(6 voxels\) and gt \(5\) must match shape/);
    const d = new DiceMetric({ numClasses: 3 });
    d.callClasses(pred, gt, LINE);
    expect(() => d.values()).toThrow(/^DiceMetric.values: this metric scores 3 classes per case; use buffer\(\)$/);
    expect(() => d.aggregate('median' as never)).toThrow(/^DiceMetric.aggregate: reduction must be 'mean', .* got "median"$/);
    d.reset();
    expect(d.buffer()).toEqual([]);
  });
});
