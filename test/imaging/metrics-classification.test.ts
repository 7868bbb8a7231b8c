import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeRocAuc, ROCAUCMetric } from '../../src/imaging.js';

/** AUC by its definition: over all (positive, negative) pairs, 1 when the positive scores higher, ½ when equal */
function pairwiseAuc(scores: readonly number[], labels: readonly number[]): number {
  let sum = 0, pairs = 0;
  scores.forEach((p, i) => {
    if (labels[i] !== 1) return;
    scores.forEach((q, j) => {
      if (labels[j] !== 0) return;
      sum += p > q ? 1 : p === q ? 0.5 : 0;
      pairs++;
    });
  });
  return sum / pairs;
}

const softmaxRows = (rows: number[][]): number[][] => rows.map((r) => {
  const e = r.map((v) => Math.exp(v)), s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
});

/** collects the warnings instead of printing them */
function warnings(): { warn: (m: string) => void; messages: string[] } {
  const messages: string[] = [];
  return { warn: (m) => messages.push(m), messages };
}

describe('computeRocAuc: binary scores, by hand', () => {
  it('a perfect ranking is 1, an inverted one 0, one swapped pair of four 0.75', () => {
    expect(computeRocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(computeRocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    // positives 0.35 and 0.8 against negatives 0.1 and 0.4: 0.35 beats one, 0.8 both: 3 of 4 pairs
    expect(computeRocAuc(Float32Array.of(0.1, 0.4, 0.35, 0.8), Uint8Array.of(0, 0, 1, 1))).toBe(0.75);
  });

  it('ties count half (the average rank): a tied pair among four is 0.875, all tied is 0.5', () => {
    // positives 0.5 and 8.3, negatives 0.5 and 0.2: 8.3 beats both, 0.5 beats 0.2 and ties 0.5: 3.5 of 4 (MONAI's test case)
    expect(computeRocAuc([0.5, 0.5, 0.2, 8.3], [0, 1, 0, 1])).toBe(0.875);
    expect(computeRocAuc([3, 3, 3, 3, 3], [1, 0, 0, 1, 0])).toBe(0.5);
    // a tie group of two positives and two negatives above one negative: each of those positives 1 below + 2 · ½ tied; 2 beats all 3
    expect(computeRocAuc([0, 1, 1, 1, 1, 2], [0, 1, 1, 0, 0, 1])).toBeCloseTo((2 * (1 + 1) + 3) / 9, 15);
  });

  it('[N, 1] is [N] (MONAI squeezes it), in either argument', () => {
    expect(computeRocAuc([[0.5], [0.5], [0.2], [8.3]], [[0], [1], [0], [1]])).toBe(0.875);
    expect(computeRocAuc([[0.5], [0.5], [0.2], [8.3]], [0, 1, 0, 1])).toBe(0.875);
    expect(computeRocAuc([0.5, 0.5, 0.2, 8.3], [[0], [1], [0], [1]], 'none')).toBe(0.875);
  });

  it('labels not both 0 and 1 give NaN with MONAI\'s warning', () => {
    const w = warnings();
    expect(computeRocAuc([0.1, 0.2, 0.3], [0, 0, 0], 'macro', w.warn)).toBeNaN();
    expect(computeRocAuc([0.1, 0.2, 0.3], [1, 1, 1], 'macro', w.warn)).toBeNaN();
    expect(computeRocAuc([0.1, 0.2, 0.3], [0, 2, 1], 'macro', w.warn)).toBeNaN();
    expect(w.messages).toEqual([
      'y values can not be all 0, skip AUC computation and return NaN',
      'y values can not be all 1, skip AUC computation and return NaN',
      'y values must be 0 or 1, but in [0, 1, 2], skip AUC computation and return NaN',
    ]);
  });
});

describe('computeRocAuc: [N, C] scores and the averages, by hand', () => {
  // class 0: scores 0.5 0.7 0.2 0.4, one positive (0.5) above two of three negatives: 2/3
  // class 1: scores 0.2 0.9 0.9 0.1, positives 0.9 0.9 above both negatives: 1
  // all entries (micro): positives 0.5, 0.9, 0.9 against negatives 0.2 0.7 0.2 0.4 0.1: (4 + 5 + 5) / 15
  const yPred = [[0.5, 0.2], [0.7, 0.9], [0.2, 0.9], [0.4, 0.1]];
  const y = [[1, 0], [0, 1], [0, 1], [0, 0]];

  it("'none' per class, 'macro' their mean, 'weighted' by positives (1 and 2), 'micro' all entries together", () => {
    const none = computeRocAuc(yPred, y, 'none') as number[];
    expect(none[0]).toBeCloseTo(2 / 3, 15);
    expect(none[1]).toBe(1);
    expect(computeRocAuc(yPred, y)).toBeCloseTo(5 / 6, 15);
    expect(computeRocAuc(yPred, y, 'macro')).toBeCloseTo(5 / 6, 15);
    expect(computeRocAuc(yPred, y, 'weighted')).toBeCloseTo(8 / 9, 15);
    expect(computeRocAuc(yPred, y, 'micro')).toBeCloseTo(14 / 15, 15);
  });

  it("MONAI's test values: softmax scores, weighted 0.56667 and micro 0.62", () => {
    const scores = softmaxRows([[0.1, 0.9], [0.3, 1.4], [0.2, 0.1], [0.1, 0.5], [0.1, 0.5]]);
    const labels = [[1, 0], [0, 1], [0, 0], [1, 1], [0, 1]];
    expect(computeRocAuc(scores, labels, 'weighted')).toBeCloseTo(0.56667, 5);
    expect(computeRocAuc(scores, labels, 'micro')).toBeCloseTo(0.62, 12);
  });

  it("a class without an AUC makes 'macro' and 'weighted' NaN (numpy's mean keeps it); 'none' keeps the others", () => {
    const w = warnings();
    const labels = [[1, 0], [0, 0], [1, 0], [0, 0]];
    // class 0: positives 0.5 and 0.2 against negatives 0.7 and 0.4: 1 of 4 pairs
    expect(computeRocAuc(yPred, labels, 'none', w.warn)).toEqual([0.25, NaN]);
    expect(computeRocAuc(yPred, labels, 'macro', w.warn)).toBeNaN();
    expect(computeRocAuc(yPred, labels, 'weighted', w.warn)).toBeNaN();
    expect(w.messages).toHaveLength(3);
    expect(() => computeRocAuc(yPred, [[0, 0], [0, 0], [0, 0], [0, 0]], 'weighted', w.warn))
      .toThrow("computeRocAuc: 'weighted' average: the classes' weights (positives per class) sum to 0");
  });
});

describe('computeRocAuc against the pairwise definition (float64)', () => {
  // few distinct scores, so that ties are common
  const labelled = (minN: number) => fc.integer({ min: minN, max: 40 }).chain((n) => fc.tuple(
    fc.array(fc.integer({ min: 0, max: 6 }).map((v) => v / 4 - 0.5), { minLength: n, maxLength: n }),
    fc.array(fc.integer({ min: 0, max: 1 }), { minLength: n, maxLength: n }),
  )).filter(([, labels]) => labels.includes(0) && labels.includes(1));

  it('binary: P(score₊ > score₋) + ½ P(score₊ = score₋)', () => {
    fc.assert(fc.property(labelled(2), ([scores, labels]) => {
      expect(computeRocAuc(scores, labels)).toBeCloseTo(pairwiseAuc(scores, labels), 12);
    }), { numRuns: 200 });
  });

  it('[N, C]: macro the mean of the columns, micro the pairwise AUC of all entries', () => {
    // rows 0 and 1 make every column hold both labels; the rest are random
    const matrices = fc.tuple(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 4, max: 30 })).chain(([C, N]) => fc.tuple(
      fc.array(fc.array(fc.integer({ min: 0, max: 4 }).map((v) => v / 4), { minLength: C, maxLength: C }), { minLength: N, maxLength: N }),
      fc.array(fc.array(fc.integer({ min: 0, max: 1 }), { minLength: C, maxLength: C }), { minLength: N - 2, maxLength: N - 2 })
        .map((rest) => [Array<number>(C).fill(1), Array<number>(C).fill(0), ...rest]),
    ));
    fc.assert(fc.property(matrices, ([scores, labels]) => {
      const C = scores[0]!.length;
      const column = (m: number[][], c: number) => m.map((r) => r[c]!);
      const perClass = Array.from({ length: C }, (_, c) => pairwiseAuc(column(scores, c), column(labels, c)));
      const none = computeRocAuc(scores, labels, 'none') as number[];
      perClass.forEach((v, c) => expect(none[c]).toBeCloseTo(v, 12));
      expect(computeRocAuc(scores, labels, 'macro')).toBeCloseTo(perClass.reduce((s, v) => s + v, 0) / C, 12);
      expect(computeRocAuc(scores, labels, 'micro')).toBeCloseTo(pairwiseAuc(scores.flat(), labels.flat()), 12);
    }), { numRuns: 100 });
  });
});

describe('computeRocAuc: errors name the shapes', () => {
  it.each([
    [[[0.1, 0.9], [0.2, 0.8]], [[0, 1, 0], [1, 0, 0]], 'computeRocAuc: yPred [2, 2] and y [2, 3] must have the same shape ([N, 1] counts as [N])'],
    [[0.1, 0.2, 0.3], [0, 1], 'computeRocAuc: yPred [3] and y [2] must have the same shape ([N, 1] counts as [N])'],
    [[0.1, 0.2], [[0, 1], [1, 0]], 'computeRocAuc: yPred [2] and y [2, 2] must have the same shape ([N, 1] counts as [N])'],
    [[[[0.1]], [[0.2]]], [0, 1], 'computeRocAuc: yPred must be of shape [N] or [N, C], got [2, 1, 1]'],
    [[[0.1, 0.2], [0.3]], [[0, 1], [1, 0]], "computeRocAuc: yPred's rows must all have 2 values (row 0's), row 1 has [1]"],
    [[0.1, Number.NaN], [0, 1], 'computeRocAuc: yPred holds NaN at [1]'],
    [[0.1, 0.2], ['0', '1'] as unknown as number[], 'computeRocAuc: y must be of shape [N] or [N, C] of numbers, got shape [2] ([0] is string)'],
  ] as const)('%j against %j', (yPred, y, message) => {
    expect(() => computeRocAuc(yPred as unknown as number[], y as unknown as number[])).toThrow(message);
  });

  it('an unknown average', () => {
    expect(() => computeRocAuc([0, 1], [0, 1], 'samples' as 'macro'))
      .toThrow("computeRocAuc: average must be one of 'macro', 'weighted', 'micro', 'none', got \"samples\"");
  });
});

describe('ROCAUCMetric', () => {
  it('aggregates the AUC of all batches together (not the mean of the batches\' AUCs), then reset empties it', () => {
    const metric = new ROCAUCMetric();
    metric.call([0.9, 0.1], [1, 0]);
    metric.call([0.2, 0.8], [1, 0]);
    // each batch alone: 1 and 0 (mean 0.5); together: positives 0.9, 0.2 against negatives 0.1, 0.8: 3 of 4
    expect(metric.aggregate()).toBe(0.75);
    expect(metric.aggregate()).toBe(computeRocAuc([0.9, 0.1, 0.2, 0.8], [1, 0, 1, 0]));
    expect(metric.buffer()).toEqual({ yPred: [0.9, 0.1, 0.2, 0.8], y: [1, 0, 1, 0] });
    metric.reset();
    expect(() => metric.aggregate()).toThrow('ROCAUCMetric.aggregate: no batch added yet; call(yPred, y) first');
    metric.call([0.2, 0.8], [0, 1]);
    expect(metric.aggregate()).toBe(1);
  });

  it('[B, C] batches with its average, or another given to aggregate', () => {
    const metric = new ROCAUCMetric({ average: 'none' });
    metric.call([[0.5, 0.2], [0.7, 0.9]], [[1, 0], [0, 1]]);
    metric.call([[0.2, 0.9], [0.4, 0.1]], [[0, 1], [0, 0]]);
    const none = metric.aggregate() as number[];
    expect(none[0]).toBeCloseTo(2 / 3, 15);
    expect(none[1]).toBe(1);
    expect(metric.aggregate('weighted')).toBeCloseTo(8 / 9, 15);
    expect(metric.buffer().y).toEqual([[1, 0], [0, 1], [0, 1], [0, 0]]);
  });

  it('refuses a batch of other columns than the earlier ones, mismatched shapes and an unknown average', () => {
    const metric = new ROCAUCMetric();
    metric.call([[0.5, 0.5]], [[1, 0]]);
    expect(() => metric.call([0.5], [1])).toThrow('ROCAUCMetric.call: this batch is [1], the earlier ones [B, 2]');
    expect(() => metric.call([[0.5, 0.5]], [[1, 0, 0]])).toThrow('ROCAUCMetric.call: yPred [1, 2] and y [1, 3] must have the same shape ([B, 1] counts as [B])');
    expect(() => new ROCAUCMetric({ average: 'mean' as 'macro' })).toThrow("ROCAUCMetric: average must be one of 'macro', 'weighted', 'micro', 'none', got \"mean\"");
  });
});
