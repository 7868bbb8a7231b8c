import { describe, expect, it } from 'vitest';
import { attentionWeights, causalMask } from '../../src/autograd/attention.js';
import { scaledDotProductAttention } from '../../src/autograd/index.js';
import { fromArray } from '../../src/tensor/index.js';
import { manualSeed, nextSeed } from '../../src/tensor/seed.js';
import { cpu, randomArray } from '../helpers/backends.js';

/**
 * What the mutation run of src/autograd/attention.ts found untested (stryker.config.mjs): the key's and value's rank
 * errors, attentionWeights' own name in its errors, a mask that would add leading axes, a float mask of the wrong
 * dtype named as attnMask, dropoutP's range at both ends, and dropoutP 0 drawing no seed from the global generator.
 */

const t = (shape: number[], dtype: 'float64' | 'float32' = 'float64') =>
  fromArray(randomArray(shape.reduce((p, x) => p * x, 1), shape.length + 3, -1, 1), shape, { dtype, backend: cpu });

describe('scaledDotProductAttention (mutation tests)', () => {
  it('names the key and the value, with S, when they have fewer than 2 dimensions', () => {
    expect(() => scaledDotProductAttention(t([2, 4]), t([4]), t([3, 4]))).toThrow(/^scaledDotProductAttention: key must be \[\.\.\., S, E\] \(at least 2 dimensions\), got \[4\]$/);
    expect(() => scaledDotProductAttention(t([2, 4]), t([3, 4]), t([3]))).toThrow(/^scaledDotProductAttention: value must be \[\.\.\., S, E\] \(at least 2 dimensions\), got \[3\]$/);
  });

  it('refuses a mask with more axes than the scores, even of size 1 (it would add an axis to the output)', () => {
    expect(() => scaledDotProductAttention(t([2, 4]), t([3, 4]), t([3, 4]), { attnMask: t([1, 2, 3]) }))
      .toThrow(/attnMask \[1, 2, 3\] does not broadcast to the scores \[2, 3\] \(\[\.\.\., L, S\]\)/);
    // the same mask is accepted where the scores have that axis
    expect(scaledDotProductAttention(t([1, 2, 4]), t([1, 3, 4]), t([1, 3, 4]), { attnMask: t([1, 2, 3]) }).shape).toEqual([1, 2, 4]);
  });

  it('names attnMask when a float mask is not of the query\'s dtype', () => {
    expect(() => scaledDotProductAttention(t([2, 4], 'float32'), t([3, 4], 'float32'), t([3, 4], 'float32'), { attnMask: t([2, 3]) }))
      .toThrow(/^scaledDotProductAttention: a float attnMask must have the query's dtype float32 \(PyTorch's rule\), got float64; int32 for a yes\/no mask$/);
  });

  it('checks dropoutP itself: below 0 (which would otherwise skip dropout) and NaN are refused, 1 drops every weight', async () => {
    const [q, k, v] = [t([2, 4]), t([3, 4]), t([3, 4])];
    expect(() => scaledDotProductAttention(q, k, v, { dropoutP: -0.1 })).toThrow(/^scaledDotProductAttention: dropoutP must be in \[0, 1\], got -0\.1$/);
    expect(() => scaledDotProductAttention(q, k, v, { dropoutP: Number.NaN })).toThrow(/^scaledDotProductAttention: dropoutP must be in \[0, 1\], got NaN$/);
    expect(() => scaledDotProductAttention(q, k, v, { dropoutP: 2 })).toThrow(/^scaledDotProductAttention: dropoutP must be in \[0, 1\], got 2$/);
    const y = scaledDotProductAttention(q, k, v, { dropoutP: 1, dropoutSeed: 3 });
    expect(y.shape).toEqual([2, 4]);
    expect(Array.from(await y.toArray())).toEqual(new Array(8).fill(0));
  });

  it('draws no seed from the global generator when dropoutP is 0 (PyTorch applies no dropout then), one when it is > 0', () => {
    const [q, k, v] = [t([2, 4]), t([3, 4]), t([3, 4])];
    manualSeed(123);
    const first = nextSeed();
    manualSeed(123);
    scaledDotProductAttention(q, k, v, { dropoutP: 0 });
    scaledDotProductAttention(q, k, v);
    expect(nextSeed()).toBe(first);
    manualSeed(123);
    scaledDotProductAttention(q, k, v, { dropoutP: 0.5 });
    expect(nextSeed()).not.toBe(first);
  });
});

describe('attentionWeights (mutation tests)', () => {
  it('names itself in its errors when called without an op name', () => {
    expect(() => attentionWeights(t([2, 4]), t([3, 4]), { attnMask: t([2, 3]), isCausal: true }))
      .toThrow(/^attentionWeights: give either attnMask or isCausal, not both/);
    expect(() => attentionWeights(t([2, 4]), t([3, 4]), { attnMask: t([4, 3]) }))
      .toThrow(/^attentionWeights: attnMask \[4, 3\] does not broadcast to the scores \[2, 3\]/);
  });

  it('returns rows that sum to 1 over the keys, [..., L, S]', async () => {
    const w = attentionWeights(t([2, 2, 4]), t([2, 3, 4]));
    expect(w.shape).toEqual([2, 2, 3]);
    const a = await w.toArray();
    for (let r = 0; r < 4; r++) expect(a[3 * r] + a[3 * r + 1] + a[3 * r + 2]).toBeCloseTo(1, 14);
  });
});

describe('causalMask (mutation tests)', () => {
  it('is 0 on and below the diagonal and −∞ above it, for L < S and L > S', async () => {
    expect(Array.from(await causalMask(2, 3).toArray())).toEqual([0, -Infinity, -Infinity, 0, 0, -Infinity]);
    expect(Array.from(await causalMask(3, 2, { dtype: 'float64' }).toArray())).toEqual([0, -Infinity, 0, 0, 0, 0]);
    expect(causalMask(3, 2).dtype).toBe('float32');
  });
});
