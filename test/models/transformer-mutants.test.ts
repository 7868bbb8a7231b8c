import { describe, expect, it } from 'vitest';
import {
  Linear, MultiheadAttention, TransformerEncoder, TransformerEncoderLayer, generateSquareSubsequentMask, manualSeed,
} from '../../src/models/index.js';
import { deriveSeed } from '../../src/models/module.js';
import { fromArray } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray } from '../helpers/backends.js';

/**
 * What the mutation run of src/models/transformer.ts found untested (stryker.config.mjs): the checks of
 * generateSquareSubsequentMask and TransformerEncoder's numLayers, the seeding (an explicit seed, the global
 * generator, each child's seed derived from its own name), the post-norm default, and the isCausal hint reaching
 * self_attn with needWeights false (so that it replaces srcMask, as in PyTorch's encoder layer).
 */

const t32 = (data: ArrayLike<number>, shape: number[]) => fromArray(data, shape, { dtype: 'float32', backend: cpu });
const values = async (t: { toArray(): Promise<ArrayLike<number>> }) => Array.from(await t.toArray());

describe('generateSquareSubsequentMask (mutation tests)', () => {
  it('gives [size, size] with −∞ above the diagonal, [0, 0] for 0, and refuses a negative or fractional size', async () => {
    expect(await values(generateSquareSubsequentMask(2, { backend: cpu }))).toEqual([0, -Infinity, 0, 0]);
    expect(generateSquareSubsequentMask(0, { backend: cpu }).shape).toEqual([0, 0]);
    expect(generateSquareSubsequentMask(2, { dtype: 'float64', backend: cpu }).dtype).toBe('float64');
    expect(() => generateSquareSubsequentMask(-1)).toThrow(/^generateSquareSubsequentMask: size must be an integer ≥ 0, got -1$/);
    expect(() => generateSquareSubsequentMask(2.5)).toThrow(/^generateSquareSubsequentMask: size must be an integer ≥ 0, got 2\.5$/);
  });
});

describe('TransformerEncoderLayer (mutation tests)', () => {
  it('an explicit seed fixes the weights whatever the global generator did; without one, the global generator does', async () => {
    manualSeed(1);
    const a = new TransformerEncoderLayer(4, 2, { dimFeedforward: 3, seed: 42, backend: cpu });
    manualSeed(2);
    const b = new TransformerEncoderLayer(4, 2, { dimFeedforward: 3, seed: 42, backend: cpu });
    expect(await values(b.linear1.weight)).toEqual(await values(a.linear1.weight));
    expect(await values(b.selfAttn.inProjWeight!)).toEqual(await values(a.selfAttn.inProjWeight!));
    manualSeed(3);
    const c = new TransformerEncoderLayer(4, 2, { dimFeedforward: 3, backend: cpu });
    manualSeed(3);
    const d = new TransformerEncoderLayer(4, 2, { dimFeedforward: 3, backend: cpu });
    expect(await values(d.linear2.weight)).toEqual(await values(c.linear2.weight));
    expect(await values(c.linear2.weight)).not.toEqual(await values(a.linear2.weight));
    [a, b, c, d].forEach((m) => m.dispose());
  });

  it("each child's seed derives from the layer's seed and the child's name (self_attn, linear1, linear2)", async () => {
    const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 4, seed: 9, backend: cpu });
    const attn = new MultiheadAttention(4, 2, { seed: deriveSeed(9, 'self_attn'), backend: cpu });
    const linear1 = new Linear(4, 4, { seed: deriveSeed(9, 'linear1'), backend: cpu });
    const linear2 = new Linear(4, 4, { seed: deriveSeed(9, 'linear2'), backend: cpu });
    expect(await values(layer.selfAttn.inProjWeight!)).toEqual(await values(attn.inProjWeight!));
    expect(await values(layer.selfAttn.outProj.weight)).toEqual(await values(attn.outProj.weight));
    expect(await values(layer.linear1.weight)).toEqual(await values(linear1.weight));
    expect(await values(layer.linear1.bias!)).toEqual(await values(linear1.bias!));
    expect(await values(layer.linear2.weight)).toEqual(await values(linear2.weight));
    // the two feed-forward layers of the same shape differ
    expect(await values(layer.linear2.weight)).not.toEqual(await values(layer.linear1.weight));
    [layer, attn, linear1, linear2].forEach((m) => m.dispose());
  });

  it('is post-norm by default (every output row has mean 0 and variance 1 under the initial norm2), pre-norm when asked', async () => {
    const x = t32(randomArray(24, 4, -2, 2), [2, 3, 4]);
    const rowStats = (v: number[]) => Array.from({ length: v.length / 4 }, (_, r) => {
      const row = v.slice(4 * r, 4 * r + 4), m = row.reduce((s, z) => s + z, 0) / 4;
      return [m, row.reduce((s, z) => s + (z - m) ** 2, 0) / 4];
    });
    const post = new TransformerEncoderLayer(4, 2, { dimFeedforward: 5, batchFirst: true, seed: 2, backend: cpu }).eval();
    expect(post.normFirst).toBe(false);
    for (const [m, v] of rowStats(await values(post.forward(x)))) {
      expect(Math.abs(m)).toBeLessThan(1e-6);
      expect(v).toBeCloseTo(1, 3);
    }
    const pre = new TransformerEncoderLayer(4, 2, { dimFeedforward: 5, batchFirst: true, normFirst: true, seed: 2, backend: cpu }).eval();
    expect(pre.normFirst).toBe(true);
    const preStats = rowStats(await values(pre.forward(x)));
    expect(preStats.some(([m, v]) => Math.abs(m) > 1e-3 || Math.abs(v - 1) > 1e-2)).toBe(true);
    [post, pre].forEach((m) => m.dispose());
  });

  it('the isCausal hint is given to self_attn without weights: the causal mask replaces srcMask (PyTorch\'s fast path)', async () => {
    const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 5, batchFirst: true, seed: 3, backend: cpu }).eval();
    const x = t32(randomArray(24, 5, -2, 2), [2, 3, 4]);
    const notCausal = fromArray([0, 0, 1, 0, 0, 0, 0, 0, 0], [3, 3], { dtype: 'int32', backend: cpu });
    const causal = await values(layer.forward(x, { srcMask: generateSquareSubsequentMask(3, { backend: cpu }) }));
    const given = await values(layer.forward(x, { srcMask: notCausal }));
    expect(given).not.toEqual(causal);
    expectClose(await values(layer.forward(x, { srcMask: notCausal, isCausal: true })), causal, 1e-6, 1e-5, 'the hint applied');
    layer.dispose();
  });
});

describe('TransformerEncoder (mutation tests)', () => {
  it('refuses numLayers that is not a positive integer, naming it', () => {
    const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 3, seed: 1, backend: cpu });
    expect(() => new TransformerEncoder(layer, 0)).toThrow(/^TransformerEncoder: numLayers must be a positive integer, got 0$/);
    expect(() => new TransformerEncoder(layer, 1.5)).toThrow(/^TransformerEncoder: numLayers must be a positive integer, got 1\.5$/);
    expect(() => new TransformerEncoder(layer, -2)).toThrow(/^TransformerEncoder: numLayers must be a positive integer, got -2$/);
    layer.dispose();
  });
});
