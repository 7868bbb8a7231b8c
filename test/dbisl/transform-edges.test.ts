import { afterEach, describe, expect, it, vi } from 'vitest';
import { backward, clamp, gradcheck, mulScalar, permute, sigmoid, slice, sum } from '../../src/autograd/index.js';
import { cdtDistance, defaultCdtEps, normalizedDistance, scaledSigmoid, scaledSigmoids, tS2R } from '../../src/dbisl/transform.js';
import { dispose, fromArray, liveTensorCount, tidy } from '../../src/tensor/index.js';
import { CpuBackend } from '../../src/kernels/index.js';
import { cpu, randomArray } from '../helpers/backends.js';

/**
 * The edges of the task transformer's host code (dbisl/transform.ts): defaultCdtEps's value and its memo (the window
 * sum is computed once per (ρ, h), a few windows are remembered, the memo stays bounded), scaledSigmoids' input check
 * and its dense copy of a strided input (released), normalizedDistance, and T_s2r of a contiguous view that does not
 * start at its storage's first element (the pseudo-label rows). Expected values: the formula by hand or the composed ops.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const values = async (t: { toArray(): Promise<ArrayLike<number>> }): Promise<number[]> => Array.from(await t.toArray());

describe('defaultCdtEps: e^(−ρ/h)/S, its window sum computed once per (ρ, h)', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('the value by hand for ρ = 1: S = 1 + 6e^(−1/h) + 12e^(−√2/h) + 8e^(−√3/h)', () => {
    const h = 0.7;
    const s = 1 + 6 * Math.exp(-1 / h) + 12 * Math.exp(-Math.SQRT2 / h) + 8 * Math.exp(-Math.sqrt(3) / h);
    expect(defaultCdtEps(1, h)).toBeCloseTo(Math.exp(-1 / h) / s, 17);
  });

  it('a window seen before takes no exponentials; two windows are remembered together; the memo is bounded', () => {
    // windows no other test uses (ρ = 1, odd temperatures): 27 exponentials and one for e^(−ρ/h) when first seen
    const exp = vi.spyOn(Math, 'exp');
    const a = defaultCdtEps(1, 0.123), b = defaultCdtEps(1, 0.456);
    expect(exp).toHaveBeenCalledTimes(2 * 28);
    exp.mockClear();
    expect([defaultCdtEps(1, 0.123), defaultCdtEps(1, 0.456), defaultCdtEps(1, 0.123)]).toEqual([a, b, a]);
    expect(exp).not.toHaveBeenCalled();
    // after a thousand other windows the first is computed again (the memo does not grow without bound), same value
    for (let i = 0; i < 1000; i++) defaultCdtEps(1, 1 + i / 1000);
    exp.mockClear();
    expect(defaultCdtEps(1, 0.123)).toBe(a);
    expect(exp).toHaveBeenCalledTimes(28);
  });
});

describe('scaledSigmoids: inputs, strided reads', () => {
  it('refuses inputs of different dtypes or backends, and an integer input, naming the op', () => {
    const x = fromArray([1, 2], [2], f64), y = fromArray([1, 2], [2], { backend: cpu, dtype: 'float32' });
    expect(() => scaledSigmoids([[x, 1], [y, -2]])).toThrow('scaledSigmoid: the inputs must share one backend and dtype');
    const other = fromArray([1, 2], [2], { backend: new CpuBackend(), dtype: 'float64' });
    expect(() => scaledSigmoids([[x, 1], [other, -2]])).toThrow('scaledSigmoid: the inputs must share one backend and dtype');
    expect(() => scaledSigmoid(fromArray([1, 2], [2], { backend: cpu, dtype: 'int32' }))).toThrow(/scaledSigmoid/);
  });

  it('a strided input (a permutation): σ(a·x) of its elements in its own order, its gradient to the right elements', async () => {
    const base = fromArray(randomArray(6, 3, -2, 2), [2, 3], { ...f64, requiresGrad: true });
    const xt = permute(base, [1, 0]);
    const y = scaledSigmoid(xt, -2);
    expect(await values(y)).toEqual(await values(sigmoid(mulScalar(xt, -2))));
    backward(tidy(() => sum(y)));
    // d/dx Σ σ(−2x) = −2·σ(−2x)(1 − σ(−2x)), at each element of the base
    const s = (await values(base)).map((v) => 1 / (1 + Math.exp(2 * v)));
    const grad = await values(base.grad!);
    grad.forEach((g, i) => expect(g).toBeCloseTo(-2 * s[i] * (1 - s[i]), 14));
  });

  it('the dense copy of a strided input is released', () => {
    const base = fromArray(randomArray(6, 3, -2, 2), [2, 3], f64);
    const before = liveTensorCount();
    const xt = permute(base, [1, 0]);
    const [y, t] = scaledSigmoids([[xt, 1], [base, -3]]);
    dispose([xt, y, t]);
    expect(liveTensorCount()).toBe(before);
  });
});

describe('normalizedDistance and T_s2r of an offset view', () => {
  const shape = [2, 1, 3, 3, 3];
  const p = () => fromArray(randomArray(54, 11, 0.02, 1), shape, { ...f64, requiresGrad: true });
  const o = { radius: 2, h: 0.5, eps: 1e-4 };

  it('normalizedDistance = clamp(D[p], 0, ρ)/ρ, the composed ops\' values, and passes gradcheck', async () => {
    const x = p();
    expect(await values(normalizedDistance(x, o))).toEqual(await values(mulScalar(clamp(cdtDistance(x, o), 0, 2), 0.5)));
    const r = await gradcheck((t) => normalizedDistance(t, o), [{ data: randomArray(27, 12, 0.05, 1), shape: [1, 1, 3, 3, 3] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
  });

  it('T_s2r of rows that start after the first element of their storage (a contiguous slice) reads those rows', async () => {
    const x = p();
    const second = slice(x, 0, 1, 2);
    expect(second.offset).toBe(27);
    const fromCopy = tS2R(fromArray(await second.toArray(), [1, 1, 3, 3, 3], f64), o);
    const got = tS2R(second, o);
    expect(await values(got)).toEqual(await values(fromCopy));
    // and the gradient reaches the second row only
    backward(tidy(() => sum(got)));
    const g = await values(x.grad!);
    expect(g.slice(0, 27).every((v) => v === 0)).toBe(true);
    expect(g.slice(27).some((v) => v !== 0)).toBe(true);
  });
});
