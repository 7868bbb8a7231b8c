import { describe, expect, it } from 'vitest';
import { expand, gradcheck } from '../../src/autograd/index.js';
import { dispose, fromArray } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';

/** expand's −1 ("keep this axis' size"), as torch.Tensor.expand. */

const f64 = { backend: cpu, dtype: 'float64' as const };

describe('expand with −1', () => {
  it('keeps the size of that axis; new axes go in front (function and method)', async () => {
    const x = fromArray([1, 2, 3], [3, 1], f64);
    const y = expand(x, [-1, 4]);
    expect(y.shape).toEqual([3, 4]);
    expect(Array.from(await y.toArray())).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    expect(x.expand(-1, 4).shape).toEqual([3, 4]);
    expect(x.expand(2, -1, -1).shape).toEqual([2, 3, 1]);
    expect(x.expand(2, -1, 5).shape).toEqual([2, 3, 5]);
    dispose([x, y]);
  });

  it('refuses −1 in a new leading axis and sizes that do not broadcast, as PyTorch', () => {
    const x = fromArray([1, 2, 3], [3, 1], f64);
    expect(() => expand(x, [-1, 3, 4])).toThrow(/^expand: size -1 is not allowed in the new leading axis 0 of \[-1, 3, 4\] \(x \[3, 1\]\)$/);
    expect(() => expand(x, [2, -1])).toThrow(/cannot be broadcast|cannot be expanded/);
    x.dispose();
  });

  it('gradcheck: the gradient sums over the expanded axes only', async () => {
    const r = await gradcheck((x) => expand(x, [2, -1, 3, -1]), [{ data: randomArray(4 * 2, 5), shape: [4, 1, 2] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
  });
});
