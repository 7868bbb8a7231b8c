import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeNonFinite, nonFiniteKind, nonFiniteProbe } from '../../src/models/finite.js';
import { fromArray, tidy } from '../../src/tensor/index.js';
import { cpu, webgpu } from '../helpers/backends.js';

/** The trainer's pre-checkpoint probe for NaN / ±Inf in model state, on both backends. */

const valueArb = fc.oneof(fc.constantFrom(NaN, Infinity, -Infinity, 3e38, -3e38, 0), fc.double({ min: -10, max: 10, noNaN: true }).map(Math.fround));

describe('nonFiniteProbe', () => {
  it('gives 0 for an all-finite tensor (even near the float32 limit) and NaN for one holding NaN or ±Inf, on both backends', async () => {
    const backends = [cpu, await webgpu()];
    await fc.assert(fc.asyncProperty(fc.array(fc.array(valueArb, { minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 5 }), async (arrays) => {
      for (const backend of backends) {
        const tensors = arrays.map((a) => fromArray(Float32Array.from(a), [a.length], { backend }));
        tensors.push(fromArray(Int32Array.from([1, -2]), [2], { backend, dtype: 'int32' }));
        const probe = tidy(() => nonFiniteProbe(tensors));
        const got = Array.from(await probe.toArray());
        const want = [...arrays.map((a) => (a.every((v) => Number.isFinite(Math.fround(v))) ? 0 : NaN)), 0];
        expect(got, `${backend.name}: ${JSON.stringify(arrays.map((a) => a.map(String)))}`).toEqual(want);
        probe.dispose();
        for (const t of tensors) t.dispose();
      }
    }), { numRuns: 30 });
  });

  it('describes what a tensor holds', () => {
    expect(describeNonFinite([1, 2])).toBeNull();
    expect(describeNonFinite([1, NaN, Infinity, NaN, -Infinity])).toBe('2 NaN, 1 +Inf, 1 -Inf of 5 elements (the first at element 1: NaN)');
    expect([NaN, Infinity, -Infinity, 1].map(nonFiniteKind)).toEqual(['NaN', '+Inf', '-Inf', null]);
  });
});
