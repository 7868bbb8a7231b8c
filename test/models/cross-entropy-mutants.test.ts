import { describe, expect, it } from 'vitest';
import { crossEntropy, nllLoss } from '../../src/models/losses.js';
import { dispose, fromArray, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose } from '../helpers/backends.js';

/**
 * crossEntropy's and nllLoss's edges the mutation run found unchecked (values by hand, as PyTorch defines them;
 * cross-entropy-options.test.ts checks the options on random inputs).
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const i32 = { backend: cpu, dtype: 'int32' as const };

async function value(t: Tensor): Promise<number[]> {
  const v = Array.from(await t.toArray());
  t.dispose();
  return v;
}

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
});
