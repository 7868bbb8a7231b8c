import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/kernels/index.js';
import { crossEntropy, nllLoss } from '../../src/models/losses.js';
import { logSoftmax } from '../../src/autograd/index.js';
import { dispose, fromArray, tidy } from '../../src/tensor/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * A class target outside [0, C) (other than ignoreIndex) is named as PyTorch names it ("Target 5 is out of
 * bounds."): by the op and the target, not by the gather that picks the class. The cpu backend throws at the call;
 * WebGPU reports it from the device at the next readback (as CUDA's device-side assert).
 */

const backends: [string, () => Promise<Backend>][] = [['cpu', async () => cpu], ['webgpu', webgpu]];
const losses = [
  ['crossEntropy', crossEntropy],
  ['nllLoss', (x: Parameters<typeof nllLoss>[0], t: Parameters<typeof nllLoss>[1], o?: Parameters<typeof nllLoss>[2]) => tidy(() => nllLoss(logSoftmax(x, 1), t, o))],
] as const;

describe.each(backends)('a bad class target on %s', (name, get) => {
  it.each(losses)('%s names itself, the target, the class count and the element (with or without a class weight)', async (op, loss) => {
    const backend = await get();
    const logits = fromArray(randomArray(2 * 3 * 2, 5), [2, 3, 2], { backend });
    const weight = fromArray([1, 2, 0.5], [3], { backend });
    for (const [bad, at] of [[5, 2], [-1, 3]] as const) {
      const values = [0, 2, -100, 1];
      values[at] = bad;
      const target = fromArray(values, [2, 2], { backend, dtype: 'int32' });
      const message = `${op}: target ${bad} is out of bounds for 3 classes (element ${at} of the target)`;
      for (const options of [{}, { weight }]) {
        if (name === 'cpu') expect(() => loss(logits, target, options)).toThrow(message);
        else {
          const value = loss(logits, target, options);
          await expect(value.item()).rejects.toThrow(message);
          value.dispose();
        }
      }
      target.dispose();
    }
    // the device's report was cleared: a good target reads back
    const good = fromArray([0, 2, -100, 1], [2, 2], { backend, dtype: 'int32' });
    const value = loss(logits, good);
    expect(Number.isFinite(await value.item())).toBe(true);
    dispose([logits, weight, good, value]);
  });
});
