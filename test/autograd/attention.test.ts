import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backward, dropout, gradcheck, mul, scaledDotProductAttention, softmax, sum, matmul, transpose, mulScalar } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { fromArray, tidy } from '../../src/tensor/index.js';
import { refAttention, refErf } from '../helpers/attention-reference.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * F.scaled_dot_product_attention as scaledDotProductAttention: against explicit float64 loops (random shapes, the
 * masks' meanings, causal), the fully masked row, dropout from the seeded generator, gradients, errors, WebGPU.
 */

const f64 = (data: ArrayLike<number>, shape: number[], dtype: 'float64' | 'float32' = 'float64', backend: Backend = cpu) => fromArray(data, shape, { dtype, backend });

describe('scaledDotProductAttention', () => {
  it('equals softmax(q·kᵀ/√E)·v written out with loops, on random shapes (batch and head axes, S ≠ L, Ev ≠ E)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 1000 }),
      async (b, h, l, s, d, dv, seed) => {
        const qd = randomArray(b * h * l * d, seed, -2, 2), kd = randomArray(b * h * s * d, seed + 1, -2, 2), vd = randomArray(b * h * s * dv, seed + 2, -2, 2);
        const y = scaledDotProductAttention(f64(qd, [b, h, l, d]), f64(kd, [b, h, s, d]), f64(vd, [b, h, s, dv]));
        expect(y.shape).toEqual([b, h, l, dv]);
        expectClose(await y.toArray(), refAttention(qd, kd, vd, { b, h, l, s, d, dv }, 1 / Math.sqrt(d)).out, 1e-12, 1e-10, 'output');
        y.dispose();
      }), propertyOptions(25));
  });

  it('an int32 mask attends where it is nonzero; a float mask is added (PyTorch\'s bool and float masks); scale overrides 1/√E', async () => {
    const [l, s, d] = [3, 4, 2];
    const qd = randomArray(l * d, 1, -1, 1), kd = randomArray(s * d, 2, -1, 1), vd = randomArray(s * d, 3, -1, 1);
    const keep = [1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1];
    const bool = scaledDotProductAttention(f64(qd, [l, d]), f64(kd, [s, d]), f64(vd, [s, d]), { attnMask: fromArray(keep, [l, s], { dtype: 'int32', backend: cpu }), scale: 0.7 });
    const want = refAttention(qd, kd, vd, { b: 1, h: 1, l, s, d, dv: d }, 0.7, (_b, _h, i, j) => (keep[i * s + j] ? 0 : -Infinity)).out;
    expectClose(await bool.toArray(), want, 1e-12, 1e-10, 'int32 mask');
    const additive = randomArray(s, 4, -3, 3); // [S], broadcast over the queries
    const float = scaledDotProductAttention(f64(qd, [l, d]), f64(kd, [s, d]), f64(vd, [s, d]), { attnMask: f64(additive, [s]) });
    expectClose(await float.toArray(), refAttention(qd, kd, vd, { b: 1, h: 1, l, s, d, dv: d }, 1 / Math.sqrt(d), (_b, _h, _i, j) => additive[j]).out, 1e-12, 1e-10, 'float mask');
    // a float 0/1 mask is added as numbers, not read as yes/no (PyTorch's float semantics)
    const zeroOne = scaledDotProductAttention(f64(qd, [l, d]), f64(kd, [s, d]), f64(vd, [s, d]), { attnMask: f64(keep, [l, s]) });
    expectClose(await zeroOne.toArray(), refAttention(qd, kd, vd, { b: 1, h: 1, l, s, d, dv: d }, 1 / Math.sqrt(d), (_b, _h, i, j) => keep[i * s + j]).out, 1e-12, 1e-10, 'float 0/1 mask');
  });

  it('isCausal lets query i attend keys j ≤ i (top-left aligned for L ≠ S, as tril(ones(L, S)))', async () => {
    for (const [l, s] of [[4, 4], [3, 5], [5, 3]]) {
      const d = 2;
      const qd = randomArray(l * d, l, -1, 1), kd = randomArray(s * d, s, -1, 1), vd = randomArray(s * d, 9, -1, 1);
      const y = scaledDotProductAttention(f64(qd, [1, l, d]), f64(kd, [1, s, d]), f64(vd, [1, s, d]), { isCausal: true });
      expectClose(await y.toArray(), refAttention(qd, kd, vd, { b: 1, h: 1, l, s, d, dv: d }, 1 / Math.sqrt(d), (_b, _h, i, j) => (j <= i ? 0 : -Infinity)).out, 1e-12, 1e-10, `causal ${l}×${s}`);
    }
  });

  it("a query whose keys are all masked out gets a zero row and zero gradients (PyTorch's safe softmax); the other rows are unaffected", async () => {
    const qd = randomArray(4, 1, -1, 1), kd = randomArray(4, 2, -1, 1), vd = randomArray(4, 3, -1, 1), upstream = randomArray(4, 9, -1, 1);
    const grads = async (rows: number, mask?: number[]) => {
      const q = fromArray(qd.slice(4 - 2 * rows), [rows, 2], { dtype: 'float64', backend: cpu, requiresGrad: true });
      const k = fromArray(kd, [2, 2], { dtype: 'float64', backend: cpu, requiresGrad: true });
      const v = fromArray(vd, [2, 2], { dtype: 'float64', backend: cpu, requiresGrad: true });
      const y = scaledDotProductAttention(q, k, v, mask ? { attnMask: fromArray(mask, [rows, 2], { dtype: 'int32', backend: cpu }) } : {});
      backward(sum(mul(y, fromArray(upstream.slice(4 - 2 * rows), [rows, 2], { dtype: 'float64', backend: cpu }))));
      return { y: Array.from(await y.toArray()), q: Array.from(await q.grad!.toArray()), k: Array.from(await k.grad!.toArray()), v: Array.from(await v.grad!.toArray()) };
    };
    const masked = await grads(2, [0, 0, 1, 1]);
    expect(masked.y.slice(0, 2)).toEqual([0, 0]);
    expect(masked.q.slice(0, 2)).toEqual([0, 0]);
    expectClose(masked.y.slice(2), refAttention(qd.slice(2), kd, vd, { b: 1, h: 1, l: 1, s: 2, d: 2, dv: 2 }, Math.SQRT1_2).out, 1e-12, 1e-10, 'unmasked row');
    // the unmasked query alone, with the upstream gradient of its row: the same gradients for it, k and v
    const alone = await grads(1);
    expect(alone.y).toEqual(masked.y.slice(2));
    expect(masked.q.slice(2)).toEqual(alone.q);
    expect(masked.k).toEqual(alone.k);
    expect(masked.v).toEqual(alone.v);
    // a float mask of −∞ and the causal mask's rows behave the same
    const floatMasked = scaledDotProductAttention(f64(qd, [2, 2]), f64(kd, [2, 2]), f64(vd, [2, 2]), { attnMask: f64([-Infinity, -Infinity, 0, 0], [2, 2]) });
    expect(Array.from(await floatMasked.toArray())).toEqual(masked.y);
  });

  it('dropout drops the weights with F.dropout\'s mask for the given seed (the same seed, the same mask) and is off at dropoutP 0', async () => {
    const q = f64(randomArray(24, 5, -1, 1), [2, 3, 4]), k = f64(randomArray(32, 6, -1, 1), [2, 4, 4]), v = f64(randomArray(16, 7, -1, 1), [2, 4, 2]);
    const got = await scaledDotProductAttention(q, k, v, { dropoutP: 0.4, dropoutSeed: 77 }).toArray();
    const want = await tidy(() => matmul(dropout(softmax(mulScalar(matmul(q, transpose(k)), 0.5), -1), 0.4, true, 77), v)).toArray();
    expect(Array.from(got)).toEqual(Array.from(want));
    const plain = await scaledDotProductAttention(q, k, v).toArray();
    expect(Array.from(got)).not.toEqual(Array.from(plain));
    expect(Array.from(await scaledDotProductAttention(q, k, v, { dropoutP: 0 }).toArray())).toEqual(Array.from(plain));
  });

  it('passes the float64 gradient check in query, key, value and a float mask (batched, with a causal variant)', async () => {
    const [b, l, s, d] = [2, 3, 4, 2];
    const inputs = [
      { data: randomArray(b * l * d, 11, -1, 1), shape: [b, l, d] }, { data: randomArray(b * s * d, 12, -1, 1), shape: [b, s, d] },
      { data: randomArray(b * s * 3, 13, -1, 1), shape: [b, s, 3] }, { data: randomArray(l * s, 14, -1, 1), shape: [l, s] },
    ];
    const r = await gradcheck((q, k, v, m) => scaledDotProductAttention(q, k, v, { attnMask: m }), inputs, { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    const causal = await gradcheck((q, k, v) => scaledDotProductAttention(q, k, v, { isCausal: true, scale: 0.9 }), inputs.slice(0, 3), { backend: cpu });
    expect(causal.ok, causal.message).toBe(true);
  });

  it('refuses wrong ranks, mismatched sizes, a mask that does not broadcast, a mask with isCausal, a bad dropoutP, naming the shapes', () => {
    const t = (shape: number[]) => f64(new Float64Array(shape.reduce((p, x) => p * x, 1)), shape);
    expect(() => scaledDotProductAttention(t([4]), t([3, 4]), t([3, 4]))).toThrow('scaledDotProductAttention: query must be [..., L, E] (at least 2 dimensions), got [4]');
    expect(() => scaledDotProductAttention(t([2, 4]), t([3, 5]), t([3, 4]))).toThrow('key [3, 5] must end in the query\'s embedding size 4 (query [2, 4])');
    expect(() => scaledDotProductAttention(t([2, 4]), t([3, 4]), t([2, 4]))).toThrow('value [2, 4] must have as many rows as key [3, 4] has (3)');
    expect(() => scaledDotProductAttention(t([2, 4]), t([3, 4]), t([3, 4]), { attnMask: t([2, 2]) })).toThrow('attnMask [2, 2] does not broadcast to the scores [2, 3]');
    expect(() => scaledDotProductAttention(t([2, 4]), t([3, 4]), t([3, 4]), { attnMask: t([2, 3]), isCausal: true })).toThrow('give either attnMask or isCausal');
    expect(() => scaledDotProductAttention(t([2, 4]), t([3, 4]), t([3, 4]), { dropoutP: 1.5 })).toThrow('dropoutP must be in [0, 1], got 1.5');
  });

  it('the reference erf is exact enough for the GELU references (erf(1), erf(3.5), erf(−0.3) as Python’s math.erf to 1e-15)', () => {
    expect(refErf(1)).toBeCloseTo(0.8427007929497149, 15);
    expect(refErf(3.5)).toBeCloseTo(0.9999992569016276, 15);
    expect(refErf(-0.3)).toBeCloseTo(-0.3286267594591274, 15); // Python's math.erf
  });
});

describe('scaledDotProductAttention on WebGPU', () => {
  it('equals the cpu backend within float32 rounding (masks, causal)', async () => {
    const gpu = await webgpu();
    const [b, h, l, s, d] = [2, 2, 3, 5, 4];
    const data = [randomArray(b * h * l * d, 21, -1, 1), randomArray(b * h * s * d, 22, -1, 1), randomArray(b * h * s * d, 23, -1, 1)];
    const maskData = randomArray(l * s, 24, -2, 2), keep = Array.from({ length: l * s }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const run = async (backend: Backend) => {
      const [q, k, v] = [[b, h, l, d], [b, h, s, d], [b, h, s, d]].map((shape, i) => f64(data[i], shape, 'float32', backend));
      return [
        await scaledDotProductAttention(q, k, v).toArray(),
        await scaledDotProductAttention(q, k, v, { attnMask: f64(maskData, [l, s], 'float32', backend) }).toArray(),
        await scaledDotProductAttention(q, k, v, { attnMask: fromArray(keep, [l, s], { dtype: 'int32', backend }) }).toArray(),
        await scaledDotProductAttention(q, k, v, { isCausal: true }).toArray(),
      ];
    };
    const [got, want] = [await run(gpu), await run(cpu)];
    want.forEach((w, i) => expectClose(got[i], w, 2e-6, 2e-5, `case ${i}`));
  });
});
