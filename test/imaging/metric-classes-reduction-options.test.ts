import { describe, expect, it } from 'vitest';
import { DiceMetric, HausdorffDistanceMetric, SurfaceDistanceMetric } from '../../src/imaging/metric-classes.js';
import type { Shape3 } from '../../src/imaging/volume.js';

/**
 * MONAI's constructor options `reduction` (the default of `aggregate()`) and `get_not_nans` (`aggregate()` returns
 * `[value, notNans]`) on DiceMetric, HausdorffDistanceMetric and SurfaceDistanceMetric. Hand values on the line of
 * metric-classes-multiclass.test.ts: pred = [0, 1, 1, 2, 2, 0], gt = [0, 1, 2, 2, 2, 1], then a case all background.
 */
const LINE: Shape3 = [6, 1, 1];
const pred = Uint8Array.from([0, 1, 1, 2, 2, 0]);
const gt = Uint8Array.from([0, 1, 2, 2, 2, 1]);
const background = new Uint8Array(6);

function addCases<M extends { callClasses(p: Uint8Array, g: Uint8Array, s: Shape3): number[] }>(m: M): M {
  m.callClasses(pred, gt, LINE);
  m.callClasses(background, background, LINE);
  return m;
}

describe('reduction and getNotNans of the older metric classes', () => {
  it("DiceMetric: the constructor's reduction is aggregate()'s default, getNotNans adds the counts, an argument still overrides", () => {
    // rows [[2/3, 0.5, 0.8], [1, NaN, NaN]]
    const d = addCases(new DiceMetric({ numClasses: 3, reduction: 'mean_batch', getNotNans: true }));
    expect([d.reduction, d.getNotNans]).toEqual(['mean_batch', true]);
    const [perClass, counts]: [number[], number[]] = d.aggregate();
    expect(perClass).toEqual([(2 / 3 + 1) / 2, 0.5, 0.8]);
    expect(counts).toEqual([2, 1, 1]);
    const [mean, cases]: [number, number] = d.aggregate('mean');
    expect(mean).toBeCloseTo(((2 / 3 + 0.5 + 0.8) / 3 + 1) / 2, 15);
    expect(cases).toBe(2);
    const sumOnly = addCases(new DiceMetric({ numClasses: 3, reduction: 'sum_channel' }));
    const perCase: number[] = sumOnly.aggregate();
    expect(perCase).toEqual([2 / 3 + 0.5 + 0.8, 1]);
  });

  it('HausdorffDistanceMetric: the classes 1 and 2 give maxima 3 and 1, the background case NaN', () => {
    const h = addCases(new HausdorffDistanceMetric({ numClasses: 3, percentile: null, reduction: 'sum_channel', getNotNans: true }));
    expect(h.buffer()).toEqual([[3, 1], [NaN, NaN]]);
    expect(h.aggregate()).toEqual([[4, 0], [2, 0]]);
    expect(h.aggregate('none')).toEqual([[[3, 1], [NaN, NaN]], [[1, 1], [0, 0]]]);
  });

  it('SurfaceDistanceMetric: mean distances 0.5 and 0; getNotNans with the default reduction gives the mean and the cases counted', () => {
    const s = addCases(new SurfaceDistanceMetric({ numClasses: 3, getNotNans: true }));
    expect(s.buffer()).toEqual([[0.5, 0], [NaN, NaN]]);
    expect(s.reduction).toBe('mean');
    expect(s.aggregate()).toEqual([0.25, 1]);
  });

  it('without the options, aggregate() is the mean alone, as before', () => {
    for (const m of [new DiceMetric({ numClasses: 3 }), new HausdorffDistanceMetric({ numClasses: 3 }), new SurfaceDistanceMetric({ numClasses: 3 })]) {
      addCases(m);
      expect([m.reduction, m.getNotNans]).toEqual(['mean', false]);
      const mean: number = m.aggregate();
      expect(mean).toBe(m.aggregate('mean'));
      expect(typeof mean).toBe('number');
    }
  });

  it('an unknown reduction is refused when the metric is made', () => {
    expect(() => new DiceMetric({ reduction: 'median' as never })).toThrow(/^DiceMetric: reduction must be 'mean', .* got "median"$/);
    expect(() => new HausdorffDistanceMetric({ reduction: 'max' as never })).toThrow(/^HausdorffDistanceMetric: reduction must be/);
    expect(() => new SurfaceDistanceMetric({ reduction: 'avg' as never })).toThrow(/^SurfaceDistanceMetric: reduction must be/);
  });
});
