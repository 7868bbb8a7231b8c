import { describe, expect, it } from 'vitest';
import { backward, concat, sum } from '../../src/autograd/index.js';
import { weightedSum, weightedSums } from '../../src/autograd/losses.js';
import { dispose, fromArray, type Tensor } from '../../src/tensor/index.js';
import { cpu, valuesOf } from '../helpers/backends.js';

/**
 * An op that takes an array of tensors keeps what it was given: the caller may reuse or grow the array after the
 * call (a skip-connection list, PyTorch's `xs.append(y)` habit), and the backward still sees the original inputs.
 */

const leaf = (values: number[]) => fromArray(values, [values.length], { backend: cpu, requiresGrad: true });

describe('ops over arrays of tensors', () => {
  it('concat: growing and overwriting the array after the call changes neither the backward nor its inputs', async () => {
    const a = leaf([1, 2]), b = leaf([3]), other = leaf([9, 9, 9]);
    const xs: Tensor[] = [a, b];
    const y = concat(xs);
    xs.push(other);
    xs[0] = other;
    const loss = sum(y.mul(fromArray([1, 10, 100], [3], { backend: cpu })));
    backward(loss);
    expect(await valuesOf(a.grad!)).toEqual([1, 10]);
    expect(await valuesOf(b.grad!)).toEqual([100]);
    expect(other.grad).toBeNull();
    dispose([a, b, other, y, loss]);
  });

  it('weightedSum and weightedSums: the terms array reused after the call', async () => {
    const a = fromArray([2], [], { backend: cpu, requiresGrad: true }), b = fromArray([3], [], { backend: cpu, requiresGrad: true });
    const other = fromArray([5], [], { backend: cpu, requiresGrad: true });
    const terms: Tensor[] = [a, b];
    const s = weightedSum(terms, [4, 0.5]);
    terms.push(other);
    terms[1] = other;
    backward(s);
    expect(await valuesOf(a.grad!)).toEqual([4]);
    expect(await valuesOf(b.grad!)).toEqual([0.5]);
    expect(other.grad).toBeNull();

    const c = fromArray([1], [], { backend: cpu, requiresGrad: true }), d = fromArray([1], [], { backend: cpu, requiresGrad: true });
    const groupTerms: Tensor[] = [c, d];
    const { sums, total } = weightedSums([{ terms: groupTerms, weights: [2, 3] }], [10]);
    groupTerms.reverse();
    backward(total);
    expect(await valuesOf(c.grad!)).toEqual([20]);
    expect(await valuesOf(d.grad!)).toEqual([30]);
    dispose([a, b, other, s, c, d, total, ...sums]);
  });
});
