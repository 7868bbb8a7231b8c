import { describe, expect, it } from 'vitest';
import { DiceMetric, doMetricReduction } from '../../src/imaging/metric-classes.js';

/** The checks of metric-classes.ts that its value tests do not reach (Stryker's survivors of the refactored file). */
describe('doMetricReduction: its own name and an empty buffer', () => {
  it('names itself by default in the refusal of an unknown reduction', () => {
    expect(() => doMetricReduction([[1]], 'median' as never))
      .toThrow("doMetricReduction: reduction must be 'mean', 'sum', 'mean_batch', 'sum_batch', 'mean_channel', 'sum_channel' or 'none', got \"median\"");
  });

  it('reduces no case to empty per-class lists (there are no classes), a 0 mean of nothing', () => {
    expect(doMetricReduction([], 'mean_batch')).toEqual([[], []]);
    expect(doMetricReduction([], 'sum_batch')).toEqual([[], []]);
    expect(doMetricReduction([], 'mean')).toEqual([0, 0]);
  });
});

describe('callChannels: the shape must be a [C, X, Y, Z] array and both masks C·X·Y·Z long', () => {
  const metric = () => new DiceMetric({ numClasses: 2 });
  const masks = new Uint8Array(4);
  it.each([
    [[2, 2, 1], '[2,2,1]'],
    [[2, 2, 1, 1, 1], '[2,2,1,1,1]'],
    [Int32Array.from([2, 2, 1, 1]), '{"0":2,"1":2,"2":1,"3":1}'],
  ])('shape %j', (shape, shown) => {
    expect(() => metric().callChannels(masks, masks, shape as unknown as [number, number, number, number]))
      .toThrow(`DiceMetric.callChannels: shape must be [C, X, Y, Z] with C = numClasses 2, got ${shown}`);
  });

  it('a pred longer than C·X·Y·Z, gt right', () => {
    expect(() => metric().callChannels(new Uint8Array(5), masks, [2, 2, 1, 1]))
      .toThrow('DiceMetric.callChannels: pred (5 voxels) and gt (4) must match shape [2,2,1,1]');
  });
});
