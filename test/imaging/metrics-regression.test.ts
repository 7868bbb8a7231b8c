import { describe, expect, it } from 'vitest';
import { MAEMetric, MSEMetric, PSNRMetric, RMSEMetric, SSIMMetric } from '../../src/imaging/metrics-regression.js';
import { ssimLoss } from '../../src/models/losses-extra.js';
import { dispose, fromArray, liveTensorCount, ones, sizeOf, zeros } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, valuesOf as value } from '../helpers/backends.js';

/**
 * MONAI's regression metrics (metrics-regression.ts), as MONAI's tests/metrics/test_compute_regression_metrics.py checks
 * them: against the formulas written with plain loops on random batches of several ranks, identical inputs (0 and
 * +Infinity for PSNR), zeros against ones, the reductions' shapes, the cumulative buffer, and the refusals; SSIMMetric
 * by a one-window case computed from global moments and as 1 − SSIMLoss (whose own test checks every window).
 */

const f64 = { backend: cpu, dtype: 'float64' as const };

type AnyMetric = MSEMetric | MAEMetric | RMSEMetric | PSNRMetric;
const makers: [string, () => AnyMetric, (d: number[]) => number][] = [
  ['MSE', () => new MSEMetric(), (d) => d.reduce((a, v) => a + v * v, 0) / d.length],
  ['MAE', () => new MAEMetric(), (d) => d.reduce((a, v) => a + Math.abs(v), 0) / d.length],
  ['RMSE', () => new RMSEMetric(), (d) => Math.sqrt(d.reduce((a, v) => a + v * v, 0) / d.length)],
  ['PSNR', () => new PSNRMetric({ maxVal: 1 }), (d) => 20 * Math.log10(1) - 10 * Math.log10(d.reduce((a, v) => a + v * v, 0) / d.length)],
];

describe('MSEMetric, MAEMetric, RMSEMetric, PSNRMetric (MONAI)', () => {
  it('per-sample values and their mean against the formulas by loops, batches of rank 2 to 5', async () => {
    for (const shape of [[4, 7], [2, 3, 5], [3, 2, 4, 3], [1, 2, 3, 2, 4]]) {
      const a = Array.from(randomArray(sizeOf(shape), 3 + shape.length)), b = Array.from(randomArray(sizeOf(shape), 13 + shape.length));
      const [ta, tb] = [fromArray(a, shape, f64), fromArray(b, shape, f64)];
      const per = sizeOf(shape.slice(1));
      for (const [what, make, formula] of makers) {
        const metric = make();
        const rows = await metric.call(ta, tb);
        const want = Array.from({ length: shape[0] }, (_, s) => formula(b.slice(s * per, (s + 1) * per).map((v, i) => v - a[s * per + i])));
        expectClose(rows.flat(), want, 1e-14, 1e-12, `${what} ${shape.join('×')}`);
        expect(rows.every((r) => r.length === 1)).toBe(true);
        expectClose([metric.aggregate()], [want.reduce((x, y) => x + y) / want.length], 1e-14, 1e-12, `${what} mean`);
      }
      dispose([ta, tb]);
    }
  });

  it("MONAI's same-input (0, 0, 0, +Infinity) and zeros-against-ones (1, 1, 1, 0) values", async () => {
    const x = fromArray(randomArray(2 * 16 * 16, 5, 0, 1), [2, 16, 16], f64), z = zeros([4, 8, 8, 8], f64), o = ones([4, 8, 8, 8], f64);
    const same = [0, 0, 0, Infinity], diff = [1, 1, 1, 0];
    for (const [k, [what, make]] of makers.entries()) {
      const m = make();
      await m.call(x, x);
      expect(m.aggregate(), what).toBe(same[k]);
      const d = make();
      await d.call(z, o);
      expect(d.aggregate(), what).toBe(diff[k]);
    }
    dispose([x, z, o]);
  });

  it("reductions as MONAI's: 'mean' and 'sum' numbers, '_channel' one per sample, '_batch' one column; cumulative over calls", async () => {
    const a = fromArray(randomArray(24, 7), [3, 8], f64), b = fromArray(randomArray(24, 8), [3, 8], f64), c = fromArray(randomArray(16, 9), [2, 8], f64), d = fromArray(randomArray(16, 10), [2, 8], f64);
    const m = new MAEMetric({ reduction: 'sum' });
    const first = await m.call(a, b), second = await m.call(c, d);
    const all = [...first, ...second].flat();
    expect(m.buffer()).toEqual([...first, ...second]);
    expectClose([m.aggregate()], [all.reduce((x, y) => x + y)], 1e-14, 1e-12, 'sum');
    expectClose(m.aggregate('mean_channel'), all, 0, 0, 'mean_channel');
    expectClose(m.aggregate('sum_channel'), all, 0, 0, 'sum_channel');
    expectClose(m.aggregate('mean_batch'), [all.reduce((x, y) => x + y) / 5], 1e-14, 1e-12, 'mean_batch');
    expect(m.aggregate('none')).toEqual(m.buffer());
    const counted = new MSEMetric({ getNotNans: true });
    await counted.call(a, b);
    expect(counted.aggregate()[1]).toBe(3);
    m.reset();
    expect(m.buffer()).toEqual([]);
    expect(() => m.aggregate()).toThrow(/MAEMetric.aggregate: no case added yet; call\(yPred, y\) first/);
    dispose([a, b, c, d]);
  });

  it('a call leaves no tensor behind', async () => {
    const a = fromArray(randomArray(24, 31), [2, 1, 3, 4], f64), b = fromArray(randomArray(24, 32), [2, 1, 3, 4], f64);
    for (const [what, make] of [...makers, ['SSIM', () => new SSIMMetric({ spatialDims: 2, winSize: [3, 2] })] as const]) {
      const before = liveTensorCount();
      await make().call(a, b);
      expect(liveTensorCount() - before, what).toBe(0);
    }
    dispose([a, b]);
  });

  it('refuses what MONAI refuses, naming it, and adds nothing then', async () => {
    const m = new MSEMetric();
    await expect(m.call(ones([10], f64), ones([10], f64))).rejects.toThrow(/yPred \[10\] needs a channel or spatial axis after the batch axis/);
    await expect(m.call(ones([10], f64), ones([10, 10], f64))).rejects.toThrow(/MSEMetric.call: yPred \[10\] and y \[10, 10\] must have one shape/);
    await expect(m.call(ones([2, 2], f64), ones([2, 2], { backend: cpu }))).rejects.toThrow(/y \[2, 2\] float32 must have the dtype of yPred \[2, 2\] float64/);
    await expect(m.call(ones([2, 2], { backend: cpu, dtype: 'int32' }), ones([2, 2], { backend: cpu, dtype: 'int32' }))).rejects.toThrow(/float/);
    expect(m.buffer()).toEqual([]);
    expect(() => new MSEMetric({ reduction: 'median' as 'mean' })).toThrow(/MSEMetric: reduction must be 'mean', 'sum', 'mean_batch'/);
    expect(() => new PSNRMetric({ maxVal: 0 })).toThrow(/PSNRMetric: maxVal must be a positive number, got 0/);
    expect(() => new PSNRMetric({} as never)).toThrow(/PSNRMetric: maxVal must be a positive number, got undefined/);
  });
});

describe('SSIMMetric (MONAI)', () => {
  it('one window covering the image: SSIM from the global moments (uniform window), per channel then averaged', async () => {
    const shape = [2, 2, 4, 5];
    const x = Array.from(randomArray(80, 21, 0, 1)), y = Array.from(randomArray(80, 22, 0, 1));
    const c1 = 0.01 ** 2, c2 = 0.03 ** 2;
    const want = [0, 1].map((b) => [0, 1].map((c) => {
      const xs = x.slice((b * 2 + c) * 20, (b * 2 + c + 1) * 20), ys = y.slice((b * 2 + c) * 20, (b * 2 + c + 1) * 20);
      const m = (v: number[]) => v.reduce((s, t) => s + t, 0) / v.length;
      const mx = m(xs), my = m(ys);
      const sx = m(xs.map((v) => v * v)) - mx * mx, sy = m(ys.map((v) => v * v)) - my * my, sxy = m(xs.map((v, i) => v * ys[i])) - mx * my;
      return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sx + sy + c2));
    }).reduce((s, v) => s + v / 2, 0));
    const [tx, ty] = [fromArray(x, shape, f64), fromArray(y, shape, f64)];
    const metric = new SSIMMetric({ spatialDims: 2, kernelType: 'uniform', winSize: [4, 5] });
    expectClose((await metric.call(tx, ty)).flat(), want, 1e-14, 1e-12, 'one window');
    expectClose([metric.aggregate()], [(want[0] + want[1]) / 2], 1e-14, 1e-12, 'mean');
    dispose([tx, ty]);
  });

  it('is 1 − SSIMLoss per sample (3-D, Gaussian); refuses a rank that does not match spatialDims', async () => {
    const shape = [2, 1, 6, 5, 7];
    const [a, b] = [fromArray(randomArray(sizeOf(shape), 23, 0, 2), shape, f64), fromArray(randomArray(sizeOf(shape), 24, 0, 2), shape, f64)];
    const options = { spatialDims: 3 as const, winSize: 5, kernelSigma: 1, dataRange: 2 };
    const rows = await new SSIMMetric(options).call(a, b);
    expectClose(rows.flat(), (await value(ssimLoss(a, b, { ...options, reduction: 'none' }))).map((v) => 1 - v), 1e-15, 1e-14, '1 − loss');
    await expect(new SSIMMetric({ spatialDims: 2 }).call(a, b)).rejects.toThrow(/SSIMMetric.call: with spatialDims 2 the images must be \[B, C, H, W\], got \[2, 1, 6, 5, 7\]/);
    expect(() => new SSIMMetric({ spatialDims: 3, k1: -1 })).toThrow(/SSIMMetric: k1 must be a positive number, got -1/);
    dispose([a, b]);
  });
});
