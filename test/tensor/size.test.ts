import { describe, expect, it } from 'vitest';
import { fromArray, full } from '../../src/tensor/index.js';
import '../../src/autograd/index.js';

describe('numel() and size() as in PyTorch', () => {
  it('numel() is the element count; size() the shape; size(dim) one extent, negative from the end', () => {
    const x = full([2, 3, 4], 0);
    expect(x.numel()).toBe(24);
    expect(x.size()).toEqual([2, 3, 4]);
    expect(x.size(0)).toBe(2);
    expect(x.size(-1)).toBe(4);
    expect(() => x.size(3)).toThrow(/size: axis 3 is out of range for a tensor of rank 3/);
    const s = fromArray([5], []);
    expect(s.numel()).toBe(1);
    expect(s.size()).toEqual([]);
    expect(() => s.size(0)).toThrow(/size\(0\): the tensor is a scalar/);
    x.dispose();
    s.dispose();
  });
});
