import { describe, expect, it } from 'vitest';
import type { ChannelLayout, NormLayout, NormTerms, Storage } from '../../src/kernels/index.js';
import { cpuData, storageFrom } from '../../src/kernels/cpu/storage.js';
import { moments, normalize, normBackward, normSums, updateRunningStats } from '../../src/kernels/norm/cpu.js';
import { randomArray } from '../helpers/backends.js';

/**
 * The cpu oracle of the normalisation kernels on its own, without WebGPU (the WebGPU tests compare against it, so
 * they cannot catch its own errors): exact statistics against hand-computed values (PyTorch's biased variance for
 * the normalisation, the unbiased one for running_var, eps inside the square root, the momentum update), the
 * forward against PyTorch's group-norm formula written out on [N][C][L] arrays, and the backward against float64
 * central differences of that forward.
 */

const f64 = (v: ArrayLike<number>): Storage => storageFrom('float64', Float64Array.from(v));
const values = (s: Storage): number[] => Array.from(cpuData(s));
const expectClose = (got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void => {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `${what} [${i}]: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol);
};

describe('the normalisation cpu oracle', () => {
  // [outer 2, channels 2, inner 2]: channel 0 holds {1, 2, 3, 6}, channel 1 {10, 10, 20, 30}
  const layout: ChannelLayout = { outer: 2, channels: 2, inner: 2 };
  const x = [1, 2, 10, 10, 3, 6, 20, 30];

  it('moments: the mean and the biased variance of each channel over outer and inner', () => {
    const s = moments(f64(x), layout);
    expect(values(s.mean)).toEqual([3, 17.5]);
    expect(values(s.variance)).toEqual([3.5, 68.75]);
  });

  it('moments with the running statistics: (1 − momentum)·running + momentum·stat, the variance unbiased (n / (n − 1))', () => {
    const rm = f64([1, -1]), rv = f64([2, 0.5]);
    moments(f64(x), layout, { mean: rm, variance: rv, momentum: 0.1, count: 4 });
    expectClose(values(rm), [0.9 * 1 + 0.1 * 3, 0.9 * -1 + 0.1 * 17.5], 1e-15, 'running mean');
    expectClose(values(rv), [0.9 * 2 + 0.1 * 3.5 * 4 / 3, 0.9 * 0.5 + 0.1 * 68.75 * 4 / 3], 1e-14, 'running var');
  });

  it('updateRunningStats updates either buffer alone and leaves the statistics as they were', () => {
    const stats = { mean: f64([3, 17.5]), variance: f64([3.5, 68.75]) };
    const rm = f64([1, -1]), rv = f64([2, 0.5]);
    updateRunningStats(rm, null, stats, 0.25, 5);
    updateRunningStats(null, rv, stats, 0.5, 5);
    expectClose(values(rm), [0.75 + 0.25 * 3, -0.75 + 0.25 * 17.5], 1e-15, 'mean only');
    expectClose(values(rv), [1 + 0.5 * 3.5 * 5 / 4, 0.25 + 0.5 * 68.75 * 5 / 4], 1e-14, 'var only');
    expect(values(stats.mean)).toEqual([3, 17.5]);
    expect(values(stats.variance)).toEqual([3.5, 68.75]);
  });

  it('normalize: rstd = 1/√(variance + eps), then weight and bias; weight 1 and bias 0 when absent', () => {
    // instance-norm-like: 4 channels (N 2 × C 2), one statistic each, parameters of channel k mod 2
    const l: NormLayout = { outer: 1, channels: 4, inner: 2, perGroup: 1, params: 2 };
    const terms: NormTerms = { mean: f64([1, 2, 3, 4]), variance: f64([3, 0, 8, 15]), weight: f64([2, 3]), bias: f64([10, 20]), eps: 1 };
    const xs = f64([3, -1, 4, 2, 0, 6, 8, 0]);
    // rstd 1/2, 1, 1/3, 1/4
    expect(values(normalize(xs, terms, l, false))).toEqual([12, 8, 26, 20, 8, 12, 23, 17]);
    expect(values(normalize(xs, { ...terms, weight: null, bias: null }, l, false))).toEqual([1, -1, 2, 0, -1, 1, 1, -1]);
    expect(values(normalize(xs, { ...terms, weight: null, bias: null }, l, true))).toEqual([1, 0, 2, 0, 0, 1, 1, 0]);
    expect(values(normalize(xs, { ...terms, bias: f64([-1, -5]) }, l, true))).toEqual([1, 0, 1, 0, 0, 1, 0, 0]);
  });

  it('normSums: Σg and rstd·Σg·(x − mean) per channel; a fused ReLU output masks where y ≤ 0, not where it is NaN', () => {
    const l: NormLayout = { outer: 1, channels: 2, inner: 4, perGroup: 1, params: 2 };
    const terms: NormTerms = { mean: f64([1, 0]), variance: f64([3, 0]), weight: null, bias: null, eps: 1 };
    const g = f64([1, 2, 3, 4, 5, 6, 7, 8]), xs = f64([1, 3, 5, -1, 1, 2, 3, 4]);
    const plain = normSums(g, xs, null, terms, l);
    expect(values(plain.sum)).toEqual([10, 26]);
    expect(values(plain.dot)).toEqual([(0 + 4 + 12 - 8) / 2, 5 + 12 + 21 + 32]);
    const y = f64([0, NaN, -1, 2, 1, -0, 3, 1e-300]);
    const masked = normSums(g, xs, y, terms, l);
    expect(values(masked.sum)).toEqual([2 + 4, 5 + 7 + 8]);
    expect(values(masked.dot)).toEqual([(4 - 8) / 2, 5 + 21 + 32]);
  });

  /** PyTorch's group norm written out: x [N][C][L], G groups, biased variance, eps inside the square root */
  function groupNormReference(xs: number[], n: number, c: number, l: number, groups: number, weight: number[], bias: number[], eps: number): number[] {
    const out = new Array<number>(xs.length), per = c / groups;
    for (let b = 0; b < n; b++) {
      for (let gi = 0; gi < groups; gi++) {
        const at: number[] = [];
        for (let ch = gi * per; ch < (gi + 1) * per; ch++) for (let i = 0; i < l; i++) at.push((b * c + ch) * l + i);
        const mean = at.reduce((s, a) => s + xs[a]!, 0) / at.length;
        const variance = at.reduce((s, a) => s + (xs[a]! - mean) ** 2, 0) / at.length;
        for (const a of at) {
          const ch = Math.floor(a / l) % c;
          out[a] = ((xs[a]! - mean) / Math.sqrt(variance + eps)) * weight[ch]! + bias[ch]!;
        }
      }
    }
    return out;
  }

  // group norm: N 2, C 4, G 2, L 3 as the kernels see it (channels N·C, groups of C/G, parameters of channel k mod C)
  const [N, C, G, L] = [2, 4, 2, 3];
  const groupLayout: NormLayout = { outer: 1, channels: N * C, inner: L, perGroup: C / G, params: C };
  const statsLayout: ChannelLayout = { outer: 1, channels: N * G, inner: (C / G) * L };
  const weight = [0.5, 1.5, -2, 3], bias = [0.25, -1, 2, 0.5], eps = 0.1;
  const forward = (xs: number[], w: number[], b: number[], relu: boolean): { terms: NormTerms; y: number[] } => {
    const s = moments(f64(xs), statsLayout);
    const terms = { ...s, weight: f64(w), bias: f64(b), eps };
    return { terms, y: values(normalize(f64(xs), terms, groupLayout, relu)) };
  };
  const xs = Array.from(randomArray(N * C * L, 41, -2, 2));
  const r = Array.from(randomArray(N * C * L, 42, -1, 1));

  it('moments then normalize give PyTorch\'s group norm', () => {
    expectClose(forward(xs, weight, bias, false).y, groupNormReference(xs, N, C, L, G, weight, bias, eps), 1e-12, 'group norm');
  });

  /** d/dv Σ r·y by central differences in float64, v one of x, weight, bias */
  function numeric(v: number[], loss: (v: number[]) => number): number[] {
    const h = 1e-6;
    return v.map((_, i) => {
      const plus = [...v], minus = [...v];
      plus[i]! += h; minus[i]! -= h;
      return (loss(plus) - loss(minus)) / (2 * h);
    });
  }
  const dotR = (y: number[]): number => y.reduce((s, v, i) => s + v * r[i]!, 0);

  for (const relu of [false, true]) {
    it(`normSums and normBackward with batch statistics are the gradients of Σ r·groupNorm(x)${relu ? ' with the fused ReLU' : ''}`, () => {
      const { terms, y } = forward(xs, weight, bias, relu);
      expect(relu ? y.filter((v) => v === 0).length : 1).toBeGreaterThan(0);
      const g = f64(r), yS = relu ? f64(y) : null;
      const sums = normSums(g, f64(xs), yS, terms, groupLayout);
      const dx = values(normBackward(g, f64(xs), yS, terms, sums, groupLayout));
      expectClose(dx, numeric(xs, (v) => dotR(forward(v, weight, bias, relu).y)), 1e-7, 'dx');
      // weight and bias gradients: the per-channel sums added over the channels of each parameter
      const perParam = (s: Storage): number[] => weight.map((_, p) => values(s).reduce((t, v, k) => t + (k % C === p ? v : 0), 0));
      expectClose(perParam(sums.dot), numeric(weight, (w) => dotR(forward(xs, w, bias, relu).y)), 1e-7, 'dweight');
      expectClose(perParam(sums.sum), numeric(bias, (b) => dotR(forward(xs, weight, b, relu).y)), 1e-7, 'dbias');
    });
  }

  it('normBackward with fixed statistics (no sums) is rstd·weight·g', () => {
    const { terms } = forward(xs, weight, bias, false);
    const fixed = (v: number[]): number[] => values(normalize(f64(v), terms, groupLayout, false));
    const dx = values(normBackward(f64(r), f64(xs), null, terms, null, groupLayout));
    expectClose(dx, numeric(xs, (v) => dotR(fixed(v))), 1e-7, 'dx with fixed statistics');
  });
  it('each kernel refuses, under its own name, operands that do not fill the layout and sums of the wrong length', () => {
    const l: NormLayout = { outer: 1, channels: 2, inner: 3, perGroup: 1, params: 2 };
    const full = f64([1, 2, 3, 4, 5, 6]), short = f64([1, 2, 3, 4, 5]), two = f64([0, 1]);
    const terms: NormTerms = { mean: two, variance: two, weight: null, bias: null, eps: 1e-5 };
    const fill = (what: string) => new RegExp(`^${what}: an operand of 5 elements does not fill \\[1, 2, 3\\]`);
    expect(() => normalize(short, terms, l, false)).toThrow(fill('normalize'));
    for (const [g, x, y] of [[short, full, null], [full, short, null], [full, full, short]]) {
      expect(() => normSums(g!, x!, y, terms, l)).toThrow(fill('normSums'));
      expect(() => normBackward(g!, x!, y, terms, null, l)).toThrow(fill('normBackward'));
    }
    expect(() => normBackward(full, full, null, terms, { sum: two, dot: full }, l)).toThrow(/^normBackward: a per-channel sum has 6 elements, expected 2/);
    expect(() => normBackward(full, full, null, terms, { sum: full, dot: two }, l)).toThrow(/^normBackward: a per-channel sum has 6 elements, expected 2/);
  });
});
