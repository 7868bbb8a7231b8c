import { describe, expect, it } from 'vitest';
import {
  ConfusionMatrixMetric, GeneralizedDiceScore, MeanIoU, SurfaceDiceMetric, checkConfusionMatrixMetricName,
  computeConfusionMatrixMetric, getConfusionMatrix,
} from '../../src/imaging/metric-classes-more.js';
import type { MetricReduction } from '../../src/imaging/metric-classes.js';
import type { Shape3 } from '../../src/imaging/volume.js';

/**
 * Hand values for MONAI's ConfusionMatrixMetric, MeanIoU, GeneralizedDiceScore and SurfaceDiceMetric. The class-index
 * case is the one of metric-classes-multiclass.test.ts, a line of 6 voxels (every voxel of a class is on its surface):
 * pred = [0, 1, 1, 2, 2, 0], gt = [0, 1, 2, 2, 2, 1]; the second case has only background in both.
 */
const LINE: Shape3 = [6, 1, 1];
const pred = Uint8Array.from([0, 1, 1, 2, 2, 0]);
const gt = Uint8Array.from([0, 1, 2, 2, 2, 1]);
const background = new Uint8Array(6);
const bits = (...v: number[]): Uint8Array => Uint8Array.from(v);

// binary case: tp at 0 and 4, fp at 1, fn at 2 and 5, tn at 3, 6, 7
const P8 = bits(1, 1, 0, 0, 1, 0, 0, 0), G8 = bits(1, 0, 1, 0, 1, 1, 0, 0);
/** every metric name of MONAI's docstring with its value on [tp, fp, tn, fn] = [2, 1, 3, 2] (p = n = 4) */
const HAND: [string, number][] = [
  ['sensitivity', 0.5], ['specificity', 0.75], ['precision', 2 / 3], ['negative predictive value', 0.6],
  ['miss rate', 0.5], ['fall out', 0.25], ['false discovery rate', 1 / 3], ['false omission rate', 0.4],
  // (√(tpr·(1 − tnr)) + tnr − 1) / (tpr + tnr − 1) = (√0.125 − 0.25) / 0.25
  ['prevalence threshold', Math.SQRT2 - 1], ['threat score', 0.4], ['accuracy', 5 / 8], ['balanced accuracy', 0.625],
  ['f1 score', 4 / 7], ['matthews correlation coefficient', 1 / Math.sqrt(15)], ['fowlkes mallows index', Math.sqrt(1 / 3)],
  ['informedness', 0.25], ['markedness', 4 / 15],
];

describe('getConfusionMatrix and computeConfusionMatrixMetric (MONAI confusion_matrix.py)', () => {
  it('counts [tp, fp, tn, fn] of binary masks, nonzero = foreground', () => {
    expect(getConfusionMatrix(P8, G8)).toEqual([2, 1, 3, 2]);
    expect(getConfusionMatrix(P8.map((v) => v * 7), G8)).toEqual([2, 1, 3, 2]);
  });

  it('gives every metric name its hand value', () => {
    for (const [name, value] of HAND) expect(computeConfusionMatrixMetric(name, [2, 1, 3, 2]), name).toBeCloseTo(value, 14);
  });

  it("takes MONAI's aliases and abbreviations, spaces or underscores, any case", () => {
    const groups: [string, string[]][] = [
      ['tpr', ['Sensitivity', 'recall', 'hit rate', 'TRUE_POSITIVE_RATE', 'tpr']], ['tnr', ['specificity', 'selectivity', 'true negative rate', 'tnr']],
      ['ppv', ['precision', 'positive predictive value', 'ppv']], ['npv', ['negative_predictive_value', 'npv']],
      ['fnr', ['miss_rate', 'false negative rate', 'fnr']], ['fpr', ['fall out', 'false positive rate', 'fpr']],
      ['fdr', ['false discovery rate', 'fdr']], ['for', ['false omission rate', 'for']], ['pt', ['prevalence threshold', 'pt']],
      ['ts', ['threat score', 'critical success index', 'ts', 'csi']], ['acc', ['accuracy', 'acc']], ['ba', ['balanced accuracy', 'ba']],
      ['f1', ['f1 score', 'F1']], ['mcc', ['matthews correlation coefficient', 'mcc']], ['fm', ['fowlkes mallows index', 'fm']],
      ['bm', ['informedness', 'bookmaker informedness', 'bm', 'youden index', 'youden']], ['mk', ['markedness', 'deltap', 'mk']],
    ];
    for (const [short, names] of groups) {
      for (const n of names) {
        expect(checkConfusionMatrixMetricName(n), n).toBe(short);
        expect(computeConfusionMatrixMetric(n, [2, 1, 3, 2])).toBe(computeConfusionMatrixMetric(short, [2, 1, 3, 2]));
      }
    }
  });

  it('is NaN where a denominator is 0: empty prediction, empty reference, both empty (MONAI)', () => {
    const cases: [string, number[], (number | null)[]][] = [
      // tpr, tnr, ppv, npv, fnr, fpr, fdr, for, pt, ts, acc, ba, f1, mcc, fm, bm, mk (null: NaN)
      ['both empty', getConfusionMatrix(bits(0, 0, 0, 0), bits(0, 0, 0, 0)), [null, 1, null, 1, null, 0, null, 0, null, null, 1, null, null, null, null, null, null]],
      ['empty prediction', getConfusionMatrix(bits(0, 0, 0, 0), bits(1, 1, 0, 0)), [0, 1, null, 0.5, 1, 0, null, 0.5, null, 0, 0.5, 0.5, 0, null, null, 0, null]],
      ['empty reference', getConfusionMatrix(bits(1, 1, 0, 0), bits(0, 0, 0, 0)), [null, 0.5, 0, 1, null, 0.5, 1, 0, null, 0, 0.5, null, 0, null, null, null, 0]],
    ];
    expect(cases.map(([, cm]) => cm)).toEqual([[0, 0, 4, 0], [0, 0, 2, 2], [0, 2, 2, 0]]);
    for (const [what, cm, expected] of cases) {
      const got = HAND.map(([name]) => computeConfusionMatrixMetric(name, cm));
      expect(got.map((v) => (Number.isNaN(v) ? null : v)), what).toEqual(expected);
    }
  });

  it('names bad metric names and matrices', () => {
    expect(() => checkConfusionMatrixMetricName('dice')).toThrow(/^checkConfusionMatrixMetricName: metric "dice" is not implemented; one of sensitivity, recall/);
    expect(() => computeConfusionMatrixMetric('f1', [1, 2, 3])).toThrow(/^computeConfusionMatrixMetric: the confusion matrix must be \[tp, fp, tn, fn\], got 3 values$/);
    expect(() => getConfusionMatrix(bits(1, 0), bits(1))).toThrow(/^getConfusionMatrix: pred and gt must be Uint8Array masks of one length, got 2 and 1 voxels$/);
    expect(() => new ConfusionMatrixMetric({ metricName: ['f1', 'jaccard'] })).toThrow(/metric "jaccard" is not implemented/);
    expect(() => new ConfusionMatrixMetric({ metricName: [] })).toThrow(/^ConfusionMatrixMetric: metricName must name at least one metric$/);
    expect(() => new ConfusionMatrixMetric({ reduction: 'median' as never })).toThrow(/^ConfusionMatrixMetric: reduction must be 'mean', .* got "median"$/);
  });
});

describe('ConfusionMatrixMetric: reductions of the counts or of the per-case metrics', () => {
  // per class [tp, fp, tn, fn]: case 1: class 0 [1, 1, 4, 0], class 1 [1, 1, 3, 1], class 2 [2, 0, 3, 1];
  // case 2: class 0 [6, 0, 0, 0], classes 1, 2 [0, 0, 6, 0]
  const addCases = (m: ConfusionMatrixMetric<MetricReduction, boolean>): void => {
    expect(m.callClasses(pred, gt, LINE)).toEqual([[1, 1, 4, 0], [1, 1, 3, 1], [2, 0, 3, 1]]);
    expect(m.callClasses(background, background, LINE)).toEqual([[6, 0, 0, 0], [0, 0, 6, 0], [0, 0, 6, 0]]);
  };

  it("default: the mean confusion matrix (classes, then cases), then the metric; 'hit_rate' by default", () => {
    const m = new ConfusionMatrixMetric({ numClasses: 3 });
    m.callClasses(pred, gt, LINE);
    m.callClasses(background, background, LINE);
    // mean matrix [5/3, 1/3, 11/3, 1/3]: sensitivity 5/6
    const [tpr] = m.aggregate();
    expect(tpr).toBeCloseTo(5 / 6, 14);
    expect(m.buffer()[1]).toEqual([[6, 0, 0, 0], [0, 0, 6, 0], [0, 0, 6, 0]]);
  });

  it('computeSample: each case and class first (NaNs left out), in the options or in aggregate', () => {
    const m = new ConfusionMatrixMetric({ numClasses: 3, metricName: ['sensitivity', 'precision'], computeSample: true, getNotNans: true });
    addCases(m);
    // sensitivity: case 1 [1, 1/2, 2/3], case 2 [1, NaN, NaN]; precision: case 1 [1/2, 1/2, 1], case 2 [1, NaN, NaN]
    const [[sens, sensN], [prec, precN]] = m.aggregate();
    expect(sens).toBeCloseTo(((1 + 0.5 + 2 / 3) / 3 + 1) / 2, 14);
    expect(prec).toBeCloseTo((2 / 3 + 1) / 2, 14);
    expect([sensN, precN]).toEqual([2, 2]);
    const [[batch, batchN]] = m.aggregate(false, 'mean_batch') as [number[], number[]][];
    expect(batch).toEqual([1, 0.5, 2 / 3]);
    expect(batchN).toEqual([2, 1, 1]);
    const plain = new ConfusionMatrixMetric({ numClasses: 3 });
    addCases(plain);
    expect(plain.aggregate(true, 'mean')[0]).toBeCloseTo(((1 + 0.5 + 2 / 3) / 3 + 1) / 2, 14);
  });

  it("the counts' reductions: 'sum_batch' per class, 'none' per case and class; notNans has one more axis of 4", () => {
    const m = new ConfusionMatrixMetric({ numClasses: 3, getNotNans: true });
    addCases(m);
    const [[f, notNans]] = m.aggregate(false, 'sum_batch') as [number[], number[][]][];
    // class sums [7, 1, 4, 0], [1, 1, 9, 1], [2, 0, 9, 1]
    expect(f).toEqual([1, 0.5, 2 / 3]);
    expect(notNans).toEqual([[2, 2, 2, 2], [2, 2, 2, 2], [2, 2, 2, 2]]);
    const [[none, noneN]] = m.aggregate(false, 'none') as [number[][], number[][][]][];
    expect(none).toEqual([[1, 0.5, 2 / 3], [1, NaN, NaN]]);
    expect(noneN).toEqual([[[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]], [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]]);
    const [[mean, meanN]] = m.aggregate() as [number, number[]][];
    expect(mean).toBeCloseTo(5 / 6, 14);
    expect(meanN).toEqual([2, 2, 2, 2]);
    const [[sum]] = m.aggregate(false, 'sum') as [number, number[]][];
    expect(sum).toBeCloseTo(10 / 12, 14); // sums [10, 2, 22, 2]
    const [[channel]] = m.aggregate(false, 'mean_channel') as [number[], number[][]][];
    expect(channel).toEqual([(4 / 3) / 2, 1]); // case means [4/3, 2/3, 10/3, 2/3] and [2, 0, 4, 0]
  });

  it('binary masks: one class, includeBackground only with numClasses', () => {
    const m = new ConfusionMatrixMetric({ metricName: 'f1' });
    expect(m.call(P8, G8, [2, 2, 2])).toEqual([2, 1, 3, 2]);
    expect(m.aggregate()).toEqual([4 / 7]);
    m.reset();
    expect(() => m.aggregate()).toThrow(/^ConfusionMatrixMetric.aggregate: no case added yet/);
    expect(() => new ConfusionMatrixMetric({ includeBackground: false })).toThrow(/^ConfusionMatrixMetric: includeBackground needs numClasses/);
    expect(new ConfusionMatrixMetric({ numClasses: 3, includeBackground: false }).callClasses(pred, gt, LINE)).toEqual([[1, 1, 3, 1], [2, 0, 3, 1]]);
  });
});

describe('MeanIoU (MONAI meaniou.py)', () => {
  // case 1: class 0 |∩| 1, |∪| 2; class 1: 1 of 3; class 2: 2 of 3; case 2: class 0 all, classes 1 and 2 empty in both
  it('per class |P∩G| / |P∪G|; an empty reference is NaN with ignoreEmpty (default), else 1 or 0', () => {
    const m = new MeanIoU({ numClasses: 3, getNotNans: true });
    expect(m.callClasses(pred, gt, LINE)).toEqual([0.5, 1 / 3, 2 / 3]);
    expect(m.callClasses(background, background, LINE)).toEqual([1, NaN, NaN]);
    expect(m.aggregate()).toEqual([0.75, 2]);
    expect(m.aggregate('mean_batch')).toEqual([[0.75, 1 / 3, 2 / 3], [2, 1, 1]]);
    expect(m.aggregate('sum')[0]).toBeCloseTo(2.5, 14);
    expect(m.aggregate('sum')[1]).toBe(4);
    expect(m.aggregate('none')).toEqual([[[0.5, 1 / 3, 2 / 3], [1, NaN, NaN]], [[1, 1, 1], [1, 0, 0]]]);
    expect(m.aggregate('sum_channel')).toEqual([[0.5 + 1 / 3 + 2 / 3, 1], [3, 1]]);
    const keep = new MeanIoU({ ignoreEmpty: false });
    expect([keep.call(background, background, LINE), keep.call(bits(1, 0, 0, 0, 0, 0), background, LINE), keep.call(background, bits(1, 0, 0, 0, 0, 0), LINE)]).toEqual([1, 0, 0]);
    const ignore = new MeanIoU({ reduction: 'mean_channel' });
    expect([ignore.call(background, background, LINE), ignore.call(bits(1, 0, 0, 0, 0, 0), background, LINE), ignore.call(background, bits(1, 0, 0, 0, 0, 0), LINE)]).toEqual([NaN, NaN, 0]);
    expect(ignore.aggregate()).toEqual([0, 0, 0]); // MONAI: a case without a value that is not NaN reduces to 0
    expect(new MeanIoU({ numClasses: 3, includeBackground: false }).callClasses(pred, gt, LINE)).toEqual([1 / 3, 2 / 3]);
  });
});

describe('GeneralizedDiceScore (MONAI generalized_dice.py)', () => {
  it("sums over the classes for 'mean' (the default): 2·Σ w·|P∩G| / Σ w·(|P| + |G|), each weight type", () => {
    // class 0: |P| 2, |G| 1, ∩ 1; class 1: 2, 2, 1; class 2: 2, 3, 2
    const square = new GeneralizedDiceScore({ numClasses: 3 });
    expect(square.callClasses(pred, gt, LINE)).toEqual([53 / 82]); // w = 1, 1/4, 1/9
    expect(new GeneralizedDiceScore({ numClasses: 3, weightType: 'simple' }).callClasses(pred, gt, LINE)[0]).toBeCloseTo(0.65, 14);
    expect(new GeneralizedDiceScore({ numClasses: 3, weightType: 'uniform' }).callClasses(pred, gt, LINE)).toEqual([8 / 12]);
    // case 2: classes 1, 2 absent (infinite weights → the largest finite one, 1/36): 2·6/36 / (12/36)
    expect(square.callClasses(background, background, LINE)).toEqual([1]);
    expect(square.aggregate()).toBeCloseTo((53 / 82 + 1) / 2, 14);
    expect(square.buffer()).toEqual([[53 / 82], [1]]);
  });

  it('an absent class takes the largest finite weight, not 0; every class absent: 1 for an empty prediction, else 0', () => {
    const m = new GeneralizedDiceScore({ numClasses: 3, includeBackground: false });
    // class 1: |P| 2, |G| 1, ∩ 1 (w 1); class 2: |P| 1, |G| 0 (w ∞ → 1): 2 / (3 + 1); with w 0 it would be 2/3
    expect(m.callClasses(bits(1, 1, 2, 0, 0, 0), bits(1, 0, 0, 0, 0, 0), LINE)).toEqual([0.5]);
    expect(m.callClasses(bits(1, 1, 0, 0, 0, 0), background, LINE)).toEqual([0]);
    expect(m.callClasses(background, background, LINE)).toEqual([1]);
    const perClass = new GeneralizedDiceScore({ numClasses: 3, includeBackground: false, reduction: 'none' });
    expect(perClass.callClasses(bits(1, 1, 0, 0, 0, 0), background, LINE)).toEqual([0, 1]);
    const binary = new GeneralizedDiceScore();
    expect([binary.call(background, background, LINE), binary.call(bits(1, 0, 0, 0, 0, 0), background, LINE), binary.call(bits(1, 1, 0, 0, 0, 0), bits(1, 0, 0, 0, 0, 0), LINE)]).toEqual([1, 0, 2 / 3]);
  });

  it("'mean_batch', 'sum_batch' and 'none' keep one score per class; the reduction is the metric's", () => {
    const m = new GeneralizedDiceScore({ numClasses: 3, reduction: 'mean_batch' });
    expect(m.sumOverClasses).toBe(false);
    // MONAI's (2·w·|P∩G|) / (w·(|P| + |G|)): Dice up to the weight's rounding (class 2: w = 1/9)
    const closeTo = (got: number[], want: number[]): void => want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 15));
    closeTo(m.callClasses(pred, gt, LINE), [2 / 3, 0.5, 0.8]);
    expect(m.callClasses(background, background, LINE)).toEqual([1, 1, 1]);
    closeTo(m.aggregate(), [(2 / 3 + 1) / 2, 0.75, 0.9]);
    const channel = new GeneralizedDiceScore({ numClasses: 3, reduction: 'sum_channel' });
    expect(channel.sumOverClasses).toBe(true);
    channel.callClasses(pred, gt, LINE);
    channel.callClasses(background, background, LINE);
    expect(channel.aggregate()).toEqual([53 / 82, 1]);
    expect(() => new GeneralizedDiceScore({ weightType: 'log' as never })).toThrow(/^GeneralizedDiceScore: weightType must be 'square', 'simple' or 'uniform', got "log"$/);
    expect(() => new GeneralizedDiceScore({ reduction: 'max' as never })).toThrow(/^GeneralizedDiceScore: reduction must be/);
  });
});

describe('SurfaceDiceMetric (MONAI surface_dice.py, use_subvoxels false)', () => {
  it('per class the share of surface distances within the threshold; NaN in neither volume, 0 in one', () => {
    // class 1: pred → gt [0, 1], gt → pred [0, 3]; class 2: pred → gt [0, 0], gt → pred [1, 0, 0]
    const m = new SurfaceDiceMetric({ numClasses: 3, classThresholds: [1, 0], getNotNans: true });
    expect(m.callClasses(pred, gt, LINE)).toEqual([0.75, 0.8]);
    expect(m.callClasses(background, background, LINE)).toEqual([NaN, NaN]);
    expect(m.aggregate()).toEqual([0.775, 1]);
    expect(m.aggregate('none')).toEqual([[[0.75, 0.8], [NaN, NaN]], [[1, 1], [0, 0]]]);
    expect(new SurfaceDiceMetric({ numClasses: 3, classThresholds: [0, 1] }).callClasses(pred, gt, LINE)).toEqual([0.5, 1]);
    const withBackground = new SurfaceDiceMetric({ numClasses: 3, includeBackground: true, classThresholds: [0, 0, 0] });
    // class 0: pred {0, 5}, gt {0}: pred → gt [0, 5], gt → pred [0]
    expect(withBackground.callClasses(pred, gt, LINE)).toEqual([2 / 3, 0.5, 0.8]);
    const binary = new SurfaceDiceMetric({ classThresholds: [2] });
    expect([binary.call(background, background, LINE), binary.call(bits(1, 0, 0, 0, 0, 0), background, LINE), binary.call(background, bits(1, 0, 0, 0, 0, 0), LINE)]).toEqual([NaN, 0, 0]);
  });

  it('measures in spacing\'s units, axis by axis (anisotropic)', () => {
    const S: Shape3 = [2, 1, 2];
    const p = bits(1, 0, 0, 0), g = bits(0, 0, 1, 0); // one voxel each, one step apart along x
    const thr = (t: number, spacing?: Shape3): number => new SurfaceDiceMetric({ classThresholds: [t] }).call(p, g, S, spacing);
    expect([thr(1), thr(0.9)]).toEqual([1, 0]);
    expect([thr(1.9, [2, 1, 0.5]), thr(2, [2, 1, 0.5])]).toEqual([0, 1]);
    expect(thr(0.5, [0.5, 1, 2])).toBe(1);
    const diag = bits(0, 0, 0, 1); // one step along x and one along z: √(2² + 0.5²)
    const d = new SurfaceDiceMetric({ classThresholds: [Math.sqrt(4.25)] });
    expect(d.call(p, diag, S, [2, 1, 0.5])).toBe(1);
    expect(new SurfaceDiceMetric({ classThresholds: [2.06] }).call(p, diag, S, [2, 1, 0.5])).toBe(0);
  });

  it('compares distance and threshold in float32, as MONAI: √2 is within 1.4142135 but not 1.4142134', () => {
    const S: Shape3 = [2, 1, 2];
    const p = bits(1, 0, 0, 0), g = bits(0, 0, 0, 1);
    expect(1.4142135 < Math.SQRT2).toBe(true);
    expect(new SurfaceDiceMetric({ classThresholds: [1.4142135] }).call(p, g, S)).toBe(1);
    expect(new SurfaceDiceMetric({ classThresholds: [1.4142134] }).call(p, g, S)).toBe(0);
  });

  it('names bad thresholds, distance metrics and useSubvoxels', () => {
    expect(() => new SurfaceDiceMetric({ numClasses: 3, classThresholds: [1, 1, 1] })).toThrow(/^SurfaceDiceMetric: classThresholds needs one threshold per scored class \(2\), got \[1,1,1\]$/);
    expect(() => new SurfaceDiceMetric({ classThresholds: [Infinity] })).toThrow(/^SurfaceDiceMetric: all class thresholds need to be finite, got \["Infinity"\]$/);
    expect(() => new SurfaceDiceMetric({ classThresholds: [NaN] })).toThrow(/need to be finite/);
    expect(() => new SurfaceDiceMetric({ classThresholds: [-1] })).toThrow(/^SurfaceDiceMetric: all class thresholds need to be >= 0, got \[-1\]$/);
    expect(() => new SurfaceDiceMetric({ classThresholds: [1], distanceMetric: 'cosine' as never })).toThrow(/^SurfaceDiceMetric: distanceMetric must be 'euclidean', 'chessboard' or 'taxicab', got "cosine"$/);
    expect(() => new SurfaceDiceMetric({ classThresholds: [1], useSubvoxels: true as never })).toThrow(/^SurfaceDiceMetric: useSubvoxels true \(DeepMind's surface areas\) is not implemented/);
    expect(() => new SurfaceDiceMetric({ classThresholds: [1] }).call(pred, gt.subarray(1), LINE)).toThrow(/^SurfaceDiceMetric.call: pred \(6 voxels\) and gt \(5\) must match shape \[6,1,1\]$/);
    expect(() => new SurfaceDiceMetric({ classThresholds: [1] }).call(pred, gt, LINE, [1, 0, 1])).toThrow(/^SurfaceDiceMetric.call: spacing must be three positive numbers/);
    expect(() => new SurfaceDiceMetric({ classThresholds: [1], reduction: 'avg' as never })).toThrow(/^SurfaceDiceMetric: reduction must be/);
    expect(() => new MeanIoU({ numClasses: 2 }).callClasses(pred, gt, LINE)).toThrow(/^MeanIoU.callClasses: pred holds class 2 at voxel 3, not below numClasses 2$/);
  });
});
