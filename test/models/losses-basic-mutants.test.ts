import { describe, expect, it } from 'vitest';
import { backward } from '../../src/autograd/index.js';
import { binaryCrossEntropyWithLogits, diceLoss, focalLoss, smoothL1Loss } from '../../src/models/losses.js';
import { dispose, fromArray } from '../../src/tensor/index.js';
import { cpu, expectClose, valuesOf as value } from '../helpers/backends.js';

/** binaryCrossEntropyWithLogits, smoothL1Loss, focalLoss and diceLoss: edges the mutation run found unchecked (values by hand). */

const f64 = { backend: cpu, dtype: 'float64' as const };
const softplus = (v: number) => Math.log1p(Math.exp(v));

describe('losses: weights, bounds and messages', () => {
  it('binaryCrossEntropyWithLogits applies posWeight alone and weight alone with the mean', async () => {
    const xs = [0.5, -1, 2, 0.1], ys = [1, 0, 1, 0.25], pw = [2, 3, 0.5, 4], ws = [1, 0.5, 2, 3];
    const x = fromArray(xs, [4], f64), y = fromArray(ys, [4], f64), posWeight = fromArray(pw, [4], f64), weight = fromArray(ws, [4], f64);
    const term = (i: number, p: number) => p * ys[i] * softplus(-xs[i]) + (1 - ys[i]) * softplus(xs[i]);
    const mean = (f: (i: number) => number) => [0, 1, 2, 3].reduce((a, i) => a + f(i), 0) / 4;
    expectClose(await value(binaryCrossEntropyWithLogits(x, y, { posWeight })), [mean((i) => term(i, pw[i]))], 1e-15, 1e-14, 'posWeight');
    expectClose(await value(binaryCrossEntropyWithLogits(x, y, { weight })), [mean((i) => ws[i] * term(i, 1))], 1e-15, 1e-14, 'weight');
    dispose([x, y, posWeight, weight]);
  });

  it('smoothL1Loss: β = 0 has l1\'s gradient sign(x − y)/n; a bad β is named', async () => {
    const x = fromArray([1, -2, 3.5], [3], { ...f64, requiresGrad: true }), y = fromArray([0.5, 1, 2.3], [3], f64);
    const l = smoothL1Loss(x, y, { beta: 0 });
    backward(l);
    expectClose(Array.from(await x.grad!.toArray()), [1 / 3, -1 / 3, 1 / 3], 1e-15, 1e-15, 'gradient');
    expect(() => smoothL1Loss(x, y, { beta: -1 })).toThrow('smoothL1Loss: beta must be ≥ 0, got -1');
    expect(() => smoothL1Loss(x, y, { beta: NaN })).toThrow('smoothL1Loss: beta must be ≥ 0, got NaN');
    dispose([x, y, l]);
  });

  it('focalLoss with α = 0 weighs the negatives only: α_t = 1 − y', async () => {
    const xs = [-2, 0.4, 1.7], ys = [0, 1, 0.25];
    const x = fromArray(xs, [3], f64), y = fromArray(ys, [3], f64);
    const want = xs.map((v, i) => {
      const t = ys[i], p = 1 / (1 + Math.exp(-v));
      const ce = t * softplus(-v) + (1 - t) * softplus(v), miss = p + t - 2 * p * t;
      return (1 - t) * ce * miss * miss;
    });
    expectClose(await value(focalLoss(x, y, { alpha: 0 })), want, 1e-15, 1e-14, 'α 0');
    dispose([x, y]);
  });

  it('diceLoss: a per-element weight, one ratio per element of a [N] input, a batch axis needed for \'none\' and \'sum\', the weight named', async () => {
    const ps = [0.2, 0.9, 0.6], ys = [0, 1, 1], ws = [3, 0.5, 2], s = 1e-5;
    const p = fromArray(ps, [3], f64), y = fromArray(ys, [3], f64), w = fromArray(ws, [3], f64);
    const dot = (f: (i: number) => number) => [0, 1, 2].reduce((a, i) => a + f(i), 0);
    const weighted = 1 - (2 * dot((i) => ws[i] * ps[i] * ys[i]) + s) / (dot((i) => ws[i] * ps[i] * ps[i]) + dot((i) => ws[i] * ys[i] * ys[i]) + s);
    const mean = diceLoss(p, y, { weight: w });
    expect(mean.shape).toEqual([]);
    expectClose(await value(mean), [weighted], 1e-15, 1e-14, 'weight');
    const rows = ps.map((v, i) => 1 - (2 * v * ys[i] + s) / (v * v + ys[i] * ys[i] + s));
    expectClose(await value(diceLoss(p, y, { reduction: 'none' })), rows, 1e-15, 1e-14, 'none on [N]');
    const p0 = fromArray([0.5], [], f64), y0 = fromArray([1], [], f64);
    expect(() => diceLoss(p0, y0, { reduction: 'sum' })).toThrow("diceLoss: reduction 'sum' needs a batch axis, got input []");
    expect(() => diceLoss(p0, y0, { reduction: 'none' })).toThrow("diceLoss: reduction 'none' needs a batch axis, got input []");
    expect((await value(diceLoss(p0, y0)))[0]).toBeCloseTo(1 - (1 + s) / (1.25 + s), 14);
    const w2 = fromArray([1, 2], [2], f64);
    expect(() => diceLoss(p, y, { weight: w2 })).toThrow('diceLoss: weight [2] cannot be broadcast to the input [3]');
    dispose([p, y, w, p0, y0, w2]);
  });
});
