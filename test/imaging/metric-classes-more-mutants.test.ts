import { describe, expect, it } from 'vitest';
import { ConfusionMatrixMetric, GeneralizedDiceScore, SurfaceDiceMetric, getConfusionMatrix } from '../../src/imaging/metric-classes-more.js';

/** The checks and settings of metric-classes-more.ts that its value tests do not reach (Stryker's survivors). */
describe('getConfusionMatrix: refuses what is not two Uint8Array masks of one length', () => {
  const mask = Uint8Array.from([1, 0]);
  it('a plain array of the same length, as either argument', () => {
    const plain = [1, 0] as unknown as Uint8Array;
    const message = 'getConfusionMatrix: pred and gt must be Uint8Array masks of one length, got 2 and 2 voxels';
    expect(() => getConfusionMatrix(plain, mask)).toThrow(message);
    expect(() => getConfusionMatrix(mask, plain)).toThrow(message);
  });

  it('a missing argument is named in the message, not a TypeError', () => {
    expect(() => getConfusionMatrix(undefined as unknown as Uint8Array, mask))
      .toThrow('getConfusionMatrix: pred and gt must be Uint8Array masks of one length, got undefined and 2 voxels');
    expect(() => getConfusionMatrix(mask, undefined as unknown as Uint8Array))
      .toThrow('getConfusionMatrix: pred and gt must be Uint8Array masks of one length, got 2 and undefined voxels');
  });
});

describe('ConfusionMatrixMetric.aggregate: a reduction given to it is checked under its own name', () => {
  it('an unknown reduction, with or without computeSample', () => {
    const metric = new ConfusionMatrixMetric();
    metric.call(Uint8Array.from([1, 0]), Uint8Array.from([1, 1]), [2, 1, 1]);
    for (const computeSample of [false, true]) {
      expect(() => metric.aggregate(computeSample, 'median' as never)).toThrow(/^ConfusionMatrixMetric\.aggregate: reduction must be 'mean'/);
    }
  });
});

describe('GeneralizedDiceScore.aggregate', () => {
  it('before any case names the method', () => {
    expect(() => new GeneralizedDiceScore().aggregate()).toThrow('GeneralizedDiceScore.aggregate: no case added yet; call(pred, gt, shape) first');
  });
});

describe('SurfaceDiceMetric: every threshold is checked, and the settings it keeps', () => {
  it('one non-finite or negative threshold among finite ones', () => {
    expect(() => new SurfaceDiceMetric({ numClasses: 3, classThresholds: [1, Infinity] }))
      .toThrow('SurfaceDiceMetric: all class thresholds need to be finite, got ["1","Infinity"]');
    expect(() => new SurfaceDiceMetric({ numClasses: 3, classThresholds: [1, -1] }))
      .toThrow('SurfaceDiceMetric: all class thresholds need to be >= 0, got [1,-1]');
  });

  it("keeps MONAI's chamfer distance metrics by name", () => {
    expect(new SurfaceDiceMetric({ classThresholds: [1], distanceMetric: 'chessboard' }).distanceMetric).toBe('chessboard');
    expect(new SurfaceDiceMetric({ classThresholds: [1], distanceMetric: 'taxicab' }).distanceMetric).toBe('taxicab');
  });

  it("keeps MONAI's distance_metric 'euclidean' and use_subvoxels false", () => {
    const metric = new SurfaceDiceMetric({ classThresholds: [1] });
    expect(metric.distanceMetric).toBe('euclidean');
    expect(metric.useSubvoxels).toBe(false);
  });
});
