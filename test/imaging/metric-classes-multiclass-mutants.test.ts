import { describe, expect, it } from 'vitest';
import { DiceMetric, SurfaceDistanceMetric } from '../../src/imaging/metric-classes.js';
import type { Shape3 } from '../../src/imaging/volume.js';

/**
 * The edges of the class-index mode that the other tests leave open (found by mutation testing): MONAI's
 * do_metric_reduction gives 0, not NaN, for a row ('mean_channel') or a column ('mean_batch') without a value that is
 * not NaN (its `torch.where(not_nans > 0, …, 0)`); numClasses 256 is the largest a Uint8Array map can hold; a class
 * out of range at voxel 0 and a map that is not a Uint8Array are named.
 */
const LINE: Shape3 = [4, 1, 1];
const background = new Uint8Array(4);

describe('class-index metrics at their edges', () => {
  it("'mean_channel' and 'mean_batch' give 0 for a case or a class whose values are all NaN, as MONAI", () => {
    const d = new DiceMetric({ numClasses: 3, includeBackground: false });
    // neither class 1 nor 2 in the reference: both NaN (ignoreEmpty)
    expect(d.callClasses(background, background, LINE)).toEqual([NaN, NaN]);
    expect(d.aggregate('mean_channel')).toEqual([0]);
    expect(d.aggregate('mean_batch')).toEqual([0, 0]);
    expect(d.aggregate()).toBe(0);
    // class 1: pred {0, 1}, gt {1} → 2·1/3; class 2 absent from both → NaN
    expect(d.callClasses(Uint8Array.from([1, 1, 0, 0]), Uint8Array.from([0, 1, 0, 0]), LINE)).toEqual([2 / 3, NaN]);
    expect(d.aggregate('mean_channel')).toEqual([0, 2 / 3]);
    expect(d.aggregate('mean_batch')).toEqual([2 / 3, 0]);
  });

  it('numClasses 256 is accepted and scores class 255; 257 is refused by name', () => {
    const d = new DiceMetric({ numClasses: 256, includeBackground: false });
    const row = d.callClasses(Uint8Array.from([255, 255, 0, 0]), Uint8Array.from([255, 0, 0, 0]), LINE);
    expect(row.length).toBe(255);
    expect(row[254]).toBeCloseTo(2 / 3, 15);
    expect(row[0]).toBeNaN();
    expect(() => new DiceMetric({ numClasses: 257 })).toThrow(/^DiceMetric: numClasses must be an integer in \[2, 256\], got 257$/);
  });

  it('names a class out of range at voxel 0, and maps that are not Uint8Array as class-index maps', () => {
    expect(() => new SurfaceDistanceMetric({ numClasses: 2 }).callClasses(Uint8Array.from([2, 0, 0, 0]), background, LINE))
      .toThrow(/^SurfaceDistanceMetric.callClasses: pred holds class 2 at voxel 0, not below numClasses 2$/);
    expect(() => new DiceMetric({ numClasses: 2 }).callClasses(new Float32Array(4) as never, background, LINE))
      .toThrow(/^DiceMetric.callClasses: pred and gt must be Uint8Array class-index maps$/);
  });
});
