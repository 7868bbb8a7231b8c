import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/kernels/index.js';
import { binaryCrossEntropyWithLogits, crossEntropy, nllLoss } from '../../src/models/losses.js';
import { dispose, fromArray } from '../../src/tensor/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * The class-target losses' checks at their edges (found by mutation testing, stryker.config.mjs): the target C
 * itself is out of bounds (PyTorch's 0 <= t < C), and each check names the op and its operand.
 */

const backends: [string, () => Promise<Backend>][] = [['cpu', async () => cpu], ['webgpu', webgpu]];

describe.each(backends)('class targets on %s', (name, get) => {
  it('the target C is out of bounds for C classes; C − 1 and ignoreIndex are not', async () => {
    const backend = await get();
    const logits = fromArray(randomArray(2 * 3, 7), [2, 3], { backend });
    for (const [op, loss] of [['crossEntropy', crossEntropy], ['nllLoss', nllLoss]] as const) {
      const bad = fromArray([2, 3], [2], { backend, dtype: 'int32' });
      const message = `${op}: target 3 is out of bounds for 3 classes (element 1 of the target)`;
      if (name === 'cpu') expect(() => loss(logits, bad)).toThrow(message);
      else {
        const value = loss(logits, bad);
        await expect(value.item()).rejects.toThrow(message);
        value.dispose();
      }
      const good = fromArray([2, -100], [2], { backend, dtype: 'int32' });
      const value = loss(logits, good);
      expect(Number.isFinite(await value.item())).toBe(true);
      dispose([bad, good, value]);
    }
    logits.dispose();
  });
});

describe('loss argument checks name the op and the operand', () => {
  it('crossEntropy and nllLoss: target dtype, input rank, class weight', () => {
    const x = fromArray(randomArray(6, 1), [2, 3], { backend: cpu }), t = fromArray([0, 2], [2], { backend: cpu, dtype: 'int32' });
    const floatTarget = fromArray([0, 2], [2], { backend: cpu }), flat = fromArray([1, 2, 3], [3], { backend: cpu });
    const column = fromArray([1, 1, 1], [3, 1], { backend: cpu }), short = fromArray([1, 1], [2], { backend: cpu });
    expect(() => crossEntropy(x, floatTarget)).toThrow(/^crossEntropy: target \[2\] must hold int32 class indices, got float32$/);
    expect(() => nllLoss(flat, t)).toThrow(/^nllLoss: input must be \[N, C, …\], got \[3\]$/);
    expect(() => crossEntropy(flat, t)).toThrow(/^crossEntropy: logits must be \[N, C, …\], got \[3\]$/);
    for (const weight of [column, short]) {
      expect(() => nllLoss(x, t, { weight })).toThrow(`nllLoss: weight [${weight.shape.join(', ')}] must be [3] (one per class of input [2, 3])`);
    }
    dispose([x, t, floatTarget, flat, column, short]);
  });

  it('an element weight of another dtype than the input is named against the input', () => {
    const x = fromArray([0.5, -1], [2], { backend: cpu }), y = fromArray([1, 0], [2], { backend: cpu });
    const weight = fromArray([1, 2], [2], { backend: cpu, dtype: 'float64' });
    expect(() => binaryCrossEntropyWithLogits(x, y, { weight }))
      .toThrow('binaryCrossEntropyWithLogits: weight [2] float64 must have the dtype of input [2] float32; cast() it first');
    dispose([x, y, weight]);
  });
});
