import { describe, expect, it } from 'vitest';
import { crossEntropy, nllLoss } from '../../src/models/losses.js';
import { dispose, fromArray } from '../../src/tensor/index.js';
import { cpu, expectClose, valuesOf as value } from '../helpers/backends.js';

/**
 * crossEntropy's and nllLoss's edges the mutation run found unchecked (values by hand, as PyTorch defines them;
 * cross-entropy-options.test.ts checks the options on random inputs).
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const i32 = { backend: cpu, dtype: 'int32' as const };

describe('crossEntropy and nllLoss edges', () => {
  it('a log-probability of −inf at a class other than the target leaves the unsmoothed loss finite, as PyTorch (no smoothing term is formed)', async () => {
    const logProbs = fromArray([Math.log(0.25), -Infinity, Math.log(0.75), Math.log(0.5), Math.log(0.5), -Infinity], [2, 3], f64);
    const t = fromArray([0, 1], [2], i32);
    expectClose(await value(nllLoss(logProbs, t)), [-(Math.log(0.25) + Math.log(0.5)) / 2], 1e-15, 1e-15, 'nllLoss');
    const logits = fromArray([0, -Infinity, Math.log(3), 1, 1, -Infinity], [2, 3], f64);
    expectClose(await value(crossEntropy(logits, t, { reduction: 'sum' })), [-(Math.log(0.25) + Math.log(0.5))], 1e-15, 1e-15, 'crossEntropy');
    expectClose(await value(crossEntropy(logits, t, { labelSmoothing: 0 })), [-(Math.log(0.25) + Math.log(0.5)) / 2], 1e-15, 1e-15, 'ε = 0');
    dispose([logProbs, t, logits]);
  });

  it('an int32 target of the logits\' shape is read as class indices (and refused for its shape), not as probabilities', () => {
    const logits = fromArray([0, 1, 2, 3, 4, 5], [2, 3], f64), t = fromArray([0, 1, 2, 0, 1, 2], [2, 3], i32);
    expect(() => crossEntropy(logits, t)).toThrow('crossEntropy: target [2, 3] must be [2] (logits [2, 3] without the class axis)');
    dispose([logits, t]);
  });

  it('class-probability targets: logits without a class axis, any ignoreIndex ≥ 0, a weight of the wrong size are named', () => {
    const flat = fromArray([0, 1, 2], [3], f64), flatTarget = fromArray([0.2, 0.3, 0.5], [3], f64);
    expect(() => crossEntropy(flat, flatTarget)).toThrow('crossEntropy: logits must be [N, C, …], got [3]');
    const x = fromArray([0, 1, 2, 3], [2, 2], f64), y = fromArray([0.5, 0.5, 0.25, 0.75], [2, 2], f64), w = fromArray([1, 2, 3], [3], f64);
    for (const ignoreIndex of [0, 2]) {
      expect(() => crossEntropy(x, y, { ignoreIndex })).toThrow(`crossEntropy: ignoreIndex ${ignoreIndex} does not apply to class-probability targets`);
    }
    expect(() => crossEntropy(x, y, { weight: w })).toThrow('crossEntropy: weight [3] must be [2] (one per class of logits [2, 2])');
    dispose([flat, flatTarget, x, y, w]);
  });
});
