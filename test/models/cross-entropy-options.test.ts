import { describe, expect, it } from 'vitest';
import { backward, gradcheck } from '../../src/autograd/index.js';
import { crossEntropy, type CrossEntropyOptions } from '../../src/models/losses.js';
import { dispose, fromArray, sizeOf } from '../../src/tensor/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { cpu, expectClose, randomArray as randomFloats, webgpu, valuesOf as value } from '../helpers/backends.js';

/**
 * crossEntropy's labelSmoothing and class-probability targets against PyTorch's definitions
 * (cross_entropy_loss_label_smoothing, cross_entropy_loss_prob_target) written out here with plain arithmetic.
 */

const randomArray = (n: number, seed: number, lo = -1, hi = 1): number[] => Array.from(randomFloats(n, seed, lo, hi));
const f64 = { backend: cpu, dtype: 'float64' as const };
const i32 = { backend: cpu, dtype: 'int32' as const };


/** log_softmax of row n (logits [N, C] flat) */
function logSoftmaxRow(x: readonly number[], c: number, n: number): number[] {
  const row = x.slice(n * c, (n + 1) * c);
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
}

/** PyTorch's label-smoothed cross entropy on class indices, [N, C] logits: the two terms reduced, then combined */
function smoothedReference(x: number[], c: number, t: number[], eps: number, reduction: 'none' | 'sum' | 'mean', w: number[] | null, ignore = -100): number[] {
  const wc = (k: number) => (w ? w[k] : 1);
  const nll: number[] = [], smooth: number[] = [];
  let weightSum = 0;
  t.forEach((ti, n) => {
    const lp = logSoftmaxRow(x, c, n);
    if (ti === ignore) { nll.push(0); smooth.push(0); return; }
    nll.push(-wc(ti) * lp[ti]);
    smooth.push(-lp.reduce((s, v, k) => s + wc(k) * v, 0));
    weightSum += wc(ti);
  });
  const total = (a: number[]) => a.reduce((s, v) => s + v, 0);
  if (reduction === 'none') return nll.map((v, n) => (1 - eps) * v + (eps / c) * smooth[n]);
  const div = reduction === 'mean' ? weightSum : 1;
  return [(1 - eps) * (total(nll) / div) + (eps / c) * (total(smooth) / div)];
}

/** PyTorch's cross entropy with class-probability targets y [N, C]: −Σ_c w_c·y'_c·log p_c, y' = (1 − ε)·y + ε/C */
function probabilityReference(x: number[], c: number, y: number[], eps: number, reduction: 'none' | 'sum' | 'mean', w: number[] | null): number[] {
  const rows = x.length / c;
  const per = Array.from({ length: rows }, (_, n) => -logSoftmaxRow(x, c, n).reduce((s, v, k) => s + (w ? w[k] : 1) * ((1 - eps) * y[n * c + k] + eps / c) * v, 0));
  if (reduction === 'none') return per;
  const total = per.reduce((s, v) => s + v, 0);
  return [reduction === 'mean' ? total / rows : total];
}

describe('crossEntropy labelSmoothing (class indices)', () => {
  it('by hand: x = [0, ln 2, ln 5], target 1, ε = 0.3 → 0.7·2 ln 2 + 0.1·(8 ln 2 − ln 5)', async () => {
    // log p = [−3 ln 2, −2 ln 2, ln 5 − 3 ln 2]: nll = 2 ln 2, −Σ log p = 8 ln 2 − ln 5
    const x = fromArray([0, Math.log(2), Math.log(5)], [1, 3], f64), t = fromArray([1], [1], i32);
    expectClose(await value(crossEntropy(x, t, { labelSmoothing: 0.3 })), [2.2 * Math.LN2 - 0.1 * Math.log(5)], 1e-15, 1e-14, 'ε 0.3');
    // ε = 1: only the uniform term, (8 ln 2 − ln 5)/3
    expectClose(await value(crossEntropy(x, t, { labelSmoothing: 1 })), [(8 * Math.LN2 - Math.log(5)) / 3], 1e-15, 1e-14, 'ε 1');
    dispose([x, t]);
  });

  it('with weight and ignoreIndex: every reduction, mean divided by Σ w[t] over the kept targets', async () => {
    const c = 4, xs = randomArray(5 * c, 7, -2, 2), ts = [3, 0, -100, 2, 0], ws = [0.5, 2, 1.5, 0.25];
    const x = fromArray(xs, [5, c], f64), t = fromArray(ts, [5], i32), w = fromArray(ws, [c], f64);
    for (const reduction of ['none', 'sum', 'mean'] as const) {
      for (const weight of [null, w]) {
        const got = await value(crossEntropy(x, t, { labelSmoothing: 0.2, reduction, weight }));
        expectClose(got, smoothedReference(xs, c, ts, 0.2, reduction, weight ? ws : null), 1e-14, 1e-13, `${reduction} ${weight ? 'weighted' : ''}`);
      }
    }
    // another ignoreIndex, and a spatial [N, C, D] layout (the class axis second)
    const xs3 = randomArray(2 * 3 * 2, 8, -2, 2), ts3 = [1, 2, 0, 1];
    const x3 = fromArray(xs3, [2, 3, 2], f64), t3 = fromArray(ts3, [2, 2], i32);
    // [N, C, D] → rows (n, d) of C logits
    const rows = [0, 1].flatMap((n) => [0, 1].flatMap((d) => [0, 1, 2].map((k) => xs3[(n * 3 + k) * 2 + d])));
    expectClose(await value(crossEntropy(x3, t3, { labelSmoothing: 0.4, ignoreIndex: 1 })), smoothedReference(rows, 3, ts3, 0.4, 'mean', null, 1), 1e-14, 1e-13, 'spatial');
    dispose([x, t, w, x3, t3]);
  });

  it('ε = 0 is the plain loss, bit for bit; all targets ignored gives NaN with a zero gradient', async () => {
    const x = fromArray(randomArray(12, 9), [4, 3], { ...f64, requiresGrad: true }), t = fromArray([0, 2, 1, 1], [4], i32);
    expect(await value(crossEntropy(x, t, { labelSmoothing: 0 }))).toEqual(await value(crossEntropy(x, t)));
    const ignored = fromArray([-100, -100, -100, -100], [4], i32);
    const l = crossEntropy(x, ignored, { labelSmoothing: 0.1 });
    expect(Number.isNaN((await l.toArray())[0])).toBe(true);
    backward(l);
    expect(Array.from(await x.grad!.toArray())).toEqual(new Array<number>(12).fill(0));
    dispose([x, t, ignored, l]);
  });

  it('gradcheck in the logits and the weight, with an ignored target', async () => {
    const t = fromArray([0, 2, -100, 1, 1, 0], [2, 3], i32);
    for (const reduction of ['mean', 'none'] as const) {
      const inputs = [{ data: randomArray(18, 11, -2, 2), shape: [2, 3, 3] }, { data: randomArray(3, 12, 0.5, 2), shape: [3] }];
      const r = await gradcheck((x, w) => crossEntropy(x, t, { weight: w, labelSmoothing: 0.25, reduction }), inputs, { backend: cpu });
      expect(r.ok, r.message).toBe(true);
    }
    t.dispose();
  });

  it('refuses a smoothing outside [0, 1] or not a number (a JavaScript caller)', () => {
    const x = fromArray([0, 1], [1, 2], f64), t = fromArray([1], [1], i32);
    for (const bad of [-0.1, 1.5, NaN, null, '0.1']) {
      expect(() => crossEntropy(x, t, { labelSmoothing: bad as unknown as number })).toThrow(/^crossEntropy: labelSmoothing must be a number in \[0, 1\], got /);
    }
    dispose([x, t]);
  });
});

describe('crossEntropy with class-probability targets', () => {
  it('by hand: x = [0, ln 3], y = [0.25, 0.75] → −(0.25·ln ¼ + 0.75·ln ¾)', async () => {
    const x = fromArray([0, Math.log(3)], [1, 2], f64), y = fromArray([0.25, 0.75], [1, 2], f64);
    expectClose(await value(crossEntropy(x, y)), [-(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75))], 1e-15, 1e-14, 'soft');
    // ε = 0.5 mixes in the uniform ½: y' = [0.375, 0.625]
    expectClose(await value(crossEntropy(x, y, { labelSmoothing: 0.5 })), [-(0.375 * Math.log(0.25) + 0.625 * Math.log(0.75))], 1e-15, 1e-14, 'smoothed');
    dispose([x, y]);
  });

  it('every reduction with weight and smoothing; mean divides by the number of rows, not by Σw', async () => {
    const c = 3, xs = randomArray(4 * c, 13, -2, 2), ys = randomArray(4 * c, 14, 0, 1), ws = [0.5, 2, 1.25];
    const x = fromArray(xs, [4, c], f64), y = fromArray(ys, [4, c], f64), w = fromArray(ws, [c], f64);
    for (const reduction of ['none', 'sum', 'mean'] as const) {
      for (const [weight, eps] of [[null, 0], [w, 0], [w, 0.1]] as const) {
        const got = await value(crossEntropy(x, y, { reduction, weight, labelSmoothing: eps }));
        expectClose(got, probabilityReference(xs, c, ys, eps, reduction, weight ? ws : null), 1e-14, 1e-13, `${reduction} ε ${eps}`);
      }
    }
    // an empty batch: 'mean' is NaN (PyTorch fills it), 'sum' 0
    const e = fromArray([], [0, c], f64);
    expect(Number.isNaN((await value(crossEntropy(e, e)))[0])).toBe(true);
    expect(await value(crossEntropy(e, e, { reduction: 'sum' }))).toEqual([0]);
    dispose([x, y, w, e]);
  });

  it('gradcheck in the logits, the target and the weight ([N, C, D] layout)', async () => {
    const shapes = [[2, 3, 2], [2, 3, 2], [3]];
    const inputs = shapes.map((shape, i) => ({ data: randomArray(sizeOf(shape), 21 + i, i === 0 ? -2 : 0.1, i === 0 ? 2 : 1.5), shape }));
    const r = await gradcheck((x, y, w) => crossEntropy(x, y, { weight: w, labelSmoothing: 0.2 }), inputs, { backend: cpu });
    expect(r.ok, r.message).toBe(true);
  });

  it('the argument errors: ignoreIndex ≥ 0, a target of another dtype, a wrong weight', () => {
    const x = fromArray([0, 1, 2, 3], [2, 2], f64), y = fromArray([1, 0, 0, 1], [2, 2], f64);
    expect(() => crossEntropy(x, y, { ignoreIndex: 0 })).toThrow(/^crossEntropy: ignoreIndex 0 does not apply to class-probability targets/);
    const y32 = fromArray([1, 0, 0, 1], [2, 2], { backend: cpu, dtype: 'float32' });
    expect(() => crossEntropy(x, y32)).toThrow(/^crossEntropy: target \[2, 2\] float32 must have the dtype of logits \[2, 2\] float64/);
    const w = fromArray([1, 2, 3], [3], f64);
    expect(() => crossEntropy(x, y, { weight: w })).toThrow(/^crossEntropy: weight \[3\] must be \[2\]/);
    dispose([x, y, y32, w]);
  });
});

describe('crossEntropy options on WebGPU (float32) match the cpu (float64)', () => {
  it('label smoothing with weight and an ignored target, and probability targets', async () => {
    const c = 3, xs = randomArray(2 * c * 4, 31, -2, 2), ts = [0, 2, -100, 1, 1, 0, 2, 2], ys = randomArray(2 * c * 4, 32, 0, 1), ws = [0.5, 2, 1.25];
    const gpu = await webgpu();
    const run = async (backend: Backend, dtype: 'float32' | 'float64', options: CrossEntropyOptions, soft: boolean) => {
      const x = fromArray(xs, [2, c, 4], { backend, dtype }), w = fromArray(ws, [c], { backend, dtype });
      const t = soft ? fromArray(ys, [2, c, 4], { backend, dtype }) : fromArray(ts, [2, 4], { backend, dtype: 'int32' });
      const v = await value(crossEntropy(x, t, { ...options, weight: w }));
      dispose([x, w, t]);
      return v;
    };
    for (const [options, soft] of [[{ labelSmoothing: 0.3, reduction: 'none' }, false], [{ labelSmoothing: 0.3 }, false], [{ labelSmoothing: 0.1, reduction: 'none' }, true]] as const) {
      expectClose(await run(gpu, 'float32', options, soft), await run(cpu, 'float64', options, soft), 1e-5, 1e-5, JSON.stringify(options));
    }
  });
});
