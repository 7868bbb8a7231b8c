import { describe, expect, it } from 'vitest';
import { dispose, fromArray, full } from '../../src/tensor/index.js';
import { internDims, sameShape } from '../../src/tensor/shape.js';
import { permute } from '../../src/autograd/index.js';

describe('interned shapes and strides', () => {
  it('tensors of one shape share one frozen array; the caller\'s array stays its own', () => {
    const shape = [2, 3, 4];
    const a = full(shape, 1), b = full([2, 3, 4], 2);
    shape[0] = 7;
    expect(a.shape).toEqual([2, 3, 4]);
    expect(a.shape).toBe(b.shape);
    expect(a.strides).toBe(b.strides);
    expect(Object.isFrozen(a.shape) && Object.isFrozen(a.strides)).toBe(true);
    expect(() => { (a.shape as number[])[0] = 5; }).toThrow();
    dispose([a, b]);
  });

  it('a view with other strides is not taken for contiguous; equal contents with another length differ', () => {
    const x = fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    const t = permute(x, [1, 0]);
    expect(t.shape).toEqual([3, 2]);
    expect(t.strides).toEqual([1, 3]);
    expect(t.isContiguous).toBe(false);
    expect(x.isContiguous).toBe(true);
    expect(internDims([3, 2]).dims).not.toBe(internDims([3, 2, 1]).dims);
    expect(sameShape(internDims([]).dims, [])).toBe(true);
    dispose([x, t]);
  });

  it('past the table\'s size it starts over and still hands out the right contents', () => {
    const first = internDims([5, 6, 7]).dims;
    for (let i = 0; i < 20_000; i++) expect(internDims([i, 1]).dims[0]).toBe(i);
    const again = internDims([5, 6, 7]).dims;
    expect(again).toEqual([5, 6, 7]);
    expect(sameShape(first, again)).toBe(true);
    const y = full([5, 6, 7], 0);
    expect(y.shape).toEqual([5, 6, 7]);
    expect(y.isContiguous).toBe(true);
    y.dispose();
  });
});
