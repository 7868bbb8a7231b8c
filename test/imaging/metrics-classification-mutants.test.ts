import { afterEach, describe, expect, it, vi } from 'vitest';
import { computeRocAuc, ROCAUCMetric } from '../../src/imaging.js';

/** The input checks and settings of metrics-classification.ts that its value tests do not reach (Stryker's survivors). */
function warnings(): { warn: (m: string) => void; messages: string[] } {
  const messages: string[] = [];
  return { warn: (m) => messages.push(m), messages };
}

describe('computeRocAuc: inputs that are not [N] or [N, C] numbers', () => {
  it.each([
    [null, 'computeRocAuc: yPred must be of shape [N] or [N, C], got null'],
    [5, 'computeRocAuc: yPred must be of shape [N] or [N, C], got number'],
    [{}, 'computeRocAuc: yPred must be of shape [N] or [N, C], got object'],
    [[[0.1, 0.2], null], "computeRocAuc: yPred's rows must all have 2 values (row 0's), row 1 has []"],
    [[[0.1, 0.2], 'ab'], "computeRocAuc: yPred's rows must all have 2 values (row 0's), row 1 has []"],
    [[[0.1, 0.2], [0.3, Number.NaN]], 'computeRocAuc: yPred holds NaN at [1][1]'],
  ] as const)('yPred %j', (yPred, message) => {
    expect(() => computeRocAuc(yPred as unknown as number[], [[0, 1], [1, 0]])).toThrow(message);
  });

  it('yPred and y of different lengths: an Error (vitest\'s toThrow also passes when undefined is thrown)', () => {
    let thrown: unknown;
    try { computeRocAuc([0.1, 0.2], [0, 1, 1]); } catch (e) { thrown = e; }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message).toBe('computeRocAuc: yPred [2] and y [3] must have the same shape ([N, 1] counts as [N])');
  });
});

describe("computeRocAuc: labels other than MONAI's 0 and 1 give NaN with its warning", () => {
  it.each([
    [[-1, 1, 1], 'y values must be 0 or 1, but in [-1, 1], skip AUC computation and return NaN'],
    [[0, 2, 2], 'y values must be 0 or 1, but in [0, 2], skip AUC computation and return NaN'],
  ])('y %j', (y, message) => {
    const { warn, messages } = warnings();
    expect(computeRocAuc([0.1, 0.5, 0.9], y, 'macro', warn)).toBeNaN();
    expect(messages).toEqual([message]);
  });

  it('a NaN label is not refused (only a NaN score is): no AUC, a warning', () => {
    const { warn, messages } = warnings();
    expect(computeRocAuc([0.1, 0.5, 0.9], [0, 1, Number.NaN], 'macro', warn)).toBeNaN();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^y values must be 0 or 1, but in \[/);
  });
});

describe('ROCAUCMetric: the checks of call and the default warning', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('names yPred and y in its refusals, the NaN score included', () => {
    const metric = new ROCAUCMetric();
    expect(() => metric.call([0.1, Number.NaN], [0, 1])).toThrow('ROCAUCMetric.call: yPred holds NaN at [1]');
    expect(() => metric.call(['a'] as unknown as number[], [1])).toThrow('ROCAUCMetric.call: yPred must be of shape [N] or [N, C] of numbers');
    expect(() => metric.call([0.1], ['1'] as unknown as number[])).toThrow('ROCAUCMetric.call: y must be of shape [N] or [N, C] of numbers');
    expect(() => metric.call([0.1, 0.2], [0])).toThrow('ROCAUCMetric.call: yPred [2] and y [1] must have the same shape ([B, 1] counts as [B])');
  });

  it('a [B, C] batch after [B] ones', () => {
    const metric = new ROCAUCMetric();
    metric.call([0.1, 0.9], [0, 1]);
    expect(() => metric.call([[0.1, 0.9]], [[0, 1]])).toThrow('ROCAUCMetric.call: this batch is [1, 2], the earlier ones [B]');
  });

  it('warns through console.warn without a warn option', () => {
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const metric = new ROCAUCMetric();
    metric.call([0.1, 0.9], [1, 1]);
    expect(metric.aggregate()).toBeNaN();
    expect(spy).toHaveBeenCalledWith('y values can not be all 1, skip AUC computation and return NaN');
  });
});
