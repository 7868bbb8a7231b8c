import { describe, expect, it } from 'vitest';
import { backward, gradcheck, logSoftmax } from '../../src/autograd/index.js';
import {
  crossEntropy, diceCeLoss, focalLoss, l1Loss, mseLoss, multiClassDiceLoss, nllLoss, smoothL1Loss, tverskyLoss, type Reduction,
} from '../../src/models/losses.js';
import { dispose, fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, valuesOf as value } from '../helpers/backends.js';

/**
 * l1Loss, smoothL1Loss, nllLoss, focalLoss (torchvision's sigmoid_focal_loss), tverskyLoss and
 * multiClassDiceLoss (MONAI's TverskyLoss and DiceLoss): values from the documented formulas written out here
 * with plain arithmetic, gradients through gradcheck (float64 on the cpu).
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const i32 = { backend: cpu, dtype: 'int32' as const };


async function expectGrad(fn: (...xs: Tensor[]) => Tensor, shapes: number[][], ranges: [number, number][] = []): Promise<void> {
  const inputs = shapes.map((shape, i) => ({ data: randomArray(sizeOf(shape), 41 + i, ...(ranges[i] ?? [-1, 1])), shape }));
  const r = await gradcheck(fn, inputs, { backend: cpu });
  expect(r.ok, r.message).toBe(true);
}

describe('mseLoss', () => {
  it('gradcheck in x and y (the fused mean, and the weighted sum)', async () => {
    await expectGrad((a, b) => mseLoss(a, b), [[3, 4], [3, 4]]);
    await expectGrad((a, b, w) => mseLoss(a, b, { weight: w, reduction: 'sum' }), [[3, 4], [3, 4], [4]]);
  });

  it('the mean and the sum (one fused kernel each way): the closed forms Σ(x − y)²/n and 2(x − y)·g/n (float64)', async () => {
    const grads = async (reduction: 'mean' | 'sum') => {
      const x = fromArray(randomArray(60, 5), [3, 20], { ...f64, requiresGrad: true }), y = fromArray(randomArray(60, 6), [3, 20], { ...f64, requiresGrad: true });
      const l = mseLoss(x, y, { reduction });
      backward(l);
      const out = [await l.toArray(), await x.grad!.toArray(), await y.grad!.toArray(), await x.toArray(), await y.toArray()].map((v) => Array.from(v));
      dispose([x, y, l]);
      return out;
    };
    for (const [reduction, scale] of [['mean', 1 / 60], ['sum', 1]] as const) {
      const [loss, gx, gy, xs, ys] = await grads(reduction);
      const d = xs!.map((v, i) => v - ys![i]!);
      expectClose(loss!, [d.reduce((s, v) => s + v * v, 0) * scale], 1e-15, 1e-14, `${reduction}: value`);
      expectClose(gx!, d.map((v) => 2 * v * scale), 1e-15, 1e-14, `${reduction}: ∂/∂x`);
      expectClose(gy!, d.map((v) => -2 * v * scale), 1e-15, 1e-14, `${reduction}: ∂/∂y`);
    }
  });
});

describe('regression losses', () => {
  const x = fromArray([1, -2, 3, 0.2], [4], f64), y = fromArray([0.5, 1, 3, -1], [4], f64);
  const d = [0.5, 3, 0, 1.2];

  it('l1Loss: |x − y| with mean, sum, none', async () => {
    expectClose(await value(l1Loss(x, y)), [d.reduce((a, b) => a + b) / 4], 1e-15, 1e-14, 'mean');
    expectClose(await value(l1Loss(x, y, { reduction: 'sum' })), [4.7], 1e-15, 1e-14, 'sum');
    expectClose(await value(l1Loss(x, y, { reduction: 'none' })), d, 1e-15, 1e-14, 'none');
  });

  it('smoothL1Loss: 0.5·d²/β below β, |d| − β/2 above (β 1, 2 and 0)', async () => {
    const smooth = (beta: number) => d.map((v) => (v < beta ? (0.5 * v * v) / beta : v - 0.5 * beta));
    expectClose(await value(smoothL1Loss(x, y, { reduction: 'none' })), smooth(1), 1e-15, 1e-14, 'β 1');
    expectClose(await value(smoothL1Loss(x, y, { beta: 2, reduction: 'none' })), smooth(2), 1e-15, 1e-14, 'β 2');
    expectClose(await value(smoothL1Loss(x, y, { beta: 0 })), [4.7 / 4], 1e-15, 1e-14, 'β 0 is l1');
    expectClose(await value(smoothL1Loss(x, y)), [smooth(1).reduce((a, b) => a + b) / 4], 1e-15, 1e-14, 'mean');
    expect(() => smoothL1Loss(x, y, { beta: -1 })).toThrow(/beta must be ≥ 0/);
    expect(() => l1Loss(x, fromArray([1], [1], f64))).toThrow(/l1Loss: target \[1\] must have the shape of input \[4\]/);
  });

  it('gradcheck (differences kept away from 0 and from β)', async () => {
    await expectGrad((a, b) => l1Loss(a, b), [[3, 4], [3, 4]], [[0.2, 1], [-1, -0.2]]);
    await expectGrad((a, b) => smoothL1Loss(a, b, { beta: 0.7, reduction: 'sum' }), [[3, 4], [3, 4]]);
  });
});

describe('nllLoss', () => {
  const logits = [[0.2, -1, 0.5], [1.5, 0.3, -0.7], [0, 0.1, 0.2]];
  const logp = logits.map((row) => { const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0)); return row.map((v) => v - lse); });

  it('−w[t]·input[t], mean over Σ w of the kept targets, ignoreIndex', async () => {
    const input = fromArray(logp.flat(), [3, 3], f64);
    const target = fromArray([0, 2, -100], [3], i32), t2 = fromArray([1, 2, 1], [3], i32);
    const w = [0.5, 2, 1.5], weight = fromArray(w, [3], f64);
    expectClose(await value(nllLoss(input, target)), [-(logp[0][0] + logp[1][2]) / 2], 1e-15, 1e-14, 'ignoreIndex');
    expectClose(await value(nllLoss(input, t2, { weight })), [-(w[1] * logp[0][1] + w[2] * logp[1][2] + w[1] * logp[2][1]) / (w[1] + w[2] + w[1])], 1e-15, 1e-14, 'weight');
    expectClose(await value(nllLoss(input, t2, { reduction: 'none' })), [-logp[0][1], -logp[1][2], -logp[2][1]], 1e-15, 1e-14, 'none');
    expectClose(await value(nllLoss(input, t2, { ignoreIndex: 2, reduction: 'sum' })), [-logp[0][1] - logp[2][1]], 1e-15, 1e-14, 'sum');
    // crossEntropy is nllLoss of the log-softmax
    const x = fromArray(logits.flat(), [3, 3], f64);
    expectClose(await value(crossEntropy(x, t2, { weight })), await value(nllLoss(logSoftmax(x, 1), t2, { weight })), 1e-15, 1e-14, 'crossEntropy');
    expect(() => nllLoss(input, fromArray([0, 1], [2], i32))).toThrow(/nllLoss: target \[2\] must be \[3\]/);
    expect(() => nllLoss(input, fromArray([0, 1, 1], [3], f64))).toThrow(/must hold int32 class indices/);
    dispose([input, target, t2, weight, x]);
  });

  it('gradcheck with weight and an ignored target', async () => {
    const target = fromArray([0, 2, -100, 1, 1, 0], [2, 3], i32);
    await expectGrad((lp, w) => nllLoss(lp, target, { weight: w }), [[2, 3, 3], [3]], [[-3, -0.1], [0.5, 2]]);
    target.dispose();
  });
});

describe('focalLoss (torchvision sigmoid_focal_loss)', () => {
  const xs = [-2, -0.3, 0.4, 1.7, 3], ys = [0, 1, 0, 1, 0.3];
  const focal = (alpha: number, gamma: number) => xs.map((x, i) => {
    const y = ys[i], p = 1 / (1 + Math.exp(-x));
    const ce = -(y * Math.log(p) + (1 - y) * Math.log(1 - p));
    const pt = p * y + (1 - p) * (1 - y);
    const at = alpha >= 0 ? alpha * y + (1 - alpha) * (1 - y) : 1;
    return at * ce * (1 - pt) ** gamma;
  });

  it('ce·(1 − p_t)^γ·α_t; defaults α 0.25, γ 2, reduction none', async () => {
    const x = fromArray(xs, [5], f64), y = fromArray(ys, [5], f64);
    expectClose(await value(focalLoss(x, y)), focal(0.25, 2), 1e-14, 1e-13, 'defaults');
    expectClose(await value(focalLoss(x, y, { alpha: -1, gamma: 0 })), focal(-1, 0), 1e-14, 1e-13, 'plain BCE');
    expectClose(await value(focalLoss(x, y, { alpha: 0.6, gamma: 1.5, reduction: 'mean' })), [focal(0.6, 1.5).reduce((a, b) => a + b) / 5], 1e-14, 1e-13, 'mean');
    expect(() => focalLoss(x, y, { gamma: -1 })).toThrow(/gamma must be ≥ 0/);
    dispose([x, y]);
  });

  it('gradcheck in x and y', async () => {
    await expectGrad((x, y) => focalLoss(x, y, { reduction: 'sum' }), [[2, 5], [2, 5]], [[-3, 3], [0, 1]]);
    await expectGrad((x, y) => focalLoss(x, y, { alpha: 0.4, gamma: 1.5 }), [[2, 5], [2, 5]], [[-3, 3], [0, 1]]);
  });
});

/** MONAI's per-(sample, channel) sums of p·g, p and g over the spatial axes, after its preparation */
function monaiSums(logits: number[], shape: number[], labels: number[], o: { softmax: boolean; includeBackground: boolean; batch?: boolean }) {
  const [n, c] = shape, s = sizeOf(shape.slice(2));
  const first = o.includeBackground ? 0 : 1;
  const rows = o.batch ? 1 : n;
  const sums = Array.from({ length: rows * (c - first) }, () => ({ pg: 0, p: 0, g: 0, pp: 0, gg: 0 }));
  for (let b = 0; b < n; b++) for (let v = 0; v < s; v++) {
    const z = Array.from({ length: c }, (_, k) => logits[(b * c + k) * s + v]);
    const e = z.map((q) => Math.exp(q)), total = e.reduce((a, q) => a + q, 0);
    for (let k = first; k < c; k++) {
      const p = o.softmax ? e[k] / total : z[k], g = labels[b * s + v] === k ? 1 : 0;
      const at = sums[(o.batch ? 0 : b) * (c - first) + k - first];
      at.pg += p * g; at.p += p; at.g += g; at.pp += p * p; at.gg += g * g;
    }
  }
  return sums;
}

describe('MONAI region losses', () => {
  const shape = [2, 3, 2, 3, 2];
  const logits = Array.from(randomArray(sizeOf(shape), 7, -2, 2));
  const labels = Array.from(randomArray(2 * 12, 8, 0, 3), (v) => Math.floor(v));
  const nr = 1e-5, dr = 1e-5;
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

  it('multiClassDiceLoss (DiceLoss(softmax=True, to_onehot_y=True)): 1 − (2·Σpg + 1e-5)/(Σg + Σp + 1e-5) per sample and channel', async () => {
    const x = fromArray(logits, shape, f64), t = fromArray(labels, [2, 1, 2, 3, 2], i32);
    for (const includeBackground of [true, false]) {
      for (const reduction of ['none', 'mean', 'sum'] as Reduction[]) {
        const dice = monaiSums(logits, shape, labels, { softmax: true, includeBackground }).map((q) => 1 - (2 * q.pg + nr) / (q.g + q.p + dr));
        const expected = reduction === 'none' ? dice : reduction === 'mean' ? [mean(dice)] : [dice.reduce((a, b) => a + b)];
        const y = multiClassDiceLoss(x, t, { softmax: true, toOnehotY: true, includeBackground, reduction });
        if (reduction === 'none') expect(y.shape).toEqual([2, includeBackground ? 3 : 2]);
        expectClose(await value(y), expected, 1e-14, 1e-13, `includeBackground ${includeBackground} ${reduction}`);
      }
    }
    const squared = monaiSums(logits, shape, labels, { softmax: true, includeBackground: true, batch: true }).map((q) => 1 - (2 * q.pg + nr) / (q.gg + q.pp + dr));
    expectClose(await value(multiClassDiceLoss(x, t, { softmax: true, toOnehotY: true, squaredPred: true, batch: true, reduction: 'none' })), squared, 1e-14, 1e-13, 'squared, batch');
    dispose([x, t]);
  });

  it('tverskyLoss: 1 − (TP + 1e-5)/(TP + α·FP + β·FN + 1e-5); α = β = 0.5 equals Dice without squares (unsmoothed)', async () => {
    const x = fromArray(logits, shape, f64), t = fromArray(labels, [2, 1, 2, 3, 2], i32);
    const tversky = (alpha: number, beta: number, includeBackground: boolean) => monaiSums(logits, shape, labels, { softmax: true, includeBackground })
      .map((q) => 1 - (q.pg + nr) / (q.pg + alpha * (q.p - q.pg) + beta * (q.g - q.pg) + dr));
    expectClose(await value(tverskyLoss(x, t, { softmax: true, toOnehotY: true, alpha: 0.3, beta: 0.7, reduction: 'none' })), tversky(0.3, 0.7, true), 1e-14, 1e-13, 'α 0.3 β 0.7');
    expectClose(await value(tverskyLoss(x, t, { softmax: true, toOnehotY: true, includeBackground: false })), [mean(tversky(0.5, 0.5, false))], 1e-14, 1e-13, 'no background');
    // a float target of the input's shape, probabilities given directly (no activation)
    const p = fromArray(randomArray(2 * 2 * 4, 3, 0, 1), [2, 2, 4], f64), g = fromArray(randomArray(2 * 2 * 4, 4, 0, 1), [2, 2, 4], f64);
    const [pv, gv] = [await p.toArray(), await g.toArray()];
    const direct: number[] = [];
    for (let r = 0; r < 4; r++) {
      let tp = 0, sp = 0, sg = 0;
      for (let v = 0; v < 4; v++) { tp += pv[r * 4 + v] * gv[r * 4 + v]; sp += pv[r * 4 + v]; sg += gv[r * 4 + v]; }
      direct.push(1 - (tp + nr) / (tp + 0.5 * (sp - tp) + 0.5 * (sg - tp) + dr));
    }
    expectClose(await value(tverskyLoss(p, g, { reduction: 'none' })), direct, 1e-14, 1e-13, 'float target');
    const unsmoothed = { reduction: 'none', smoothNr: 0, smoothDr: 0 } as const;
    expectClose(await value(tverskyLoss(p, g, unsmoothed)), await value(multiClassDiceLoss(p, g, unsmoothed)), 1e-14, 1e-13, 'α = β = 0.5 is Dice');
    dispose([x, t, p, g]);
  });

  it('errors name the problem', () => {
    const x = fromArray(logits, shape, f64), t = fromArray(labels, [2, 1, 2, 3, 2], i32);
    expect(() => multiClassDiceLoss(x, t, { softmax: true })).toThrow(/multiClassDiceLoss: target \[2, 1, 2, 3, 2\] int32 must have the dtype of input/);
    expect(() => tverskyLoss(x, x, { toOnehotY: true })).toThrow(/with toOnehotY the target must be int32 class indices \[2, 1, 2, 3, 2\]/);
    expect(() => tverskyLoss(x, t, { softmax: true, sigmoid: true, toOnehotY: true })).toThrow(/mutually exclusive/);
    const one = fromArray(new Float64Array(12), [1, 1, 12], f64);
    expect(() => multiClassDiceLoss(one, one, { includeBackground: false })).toThrow(/includeBackground: false needs more than one channel/);
    dispose([x, t, one]);
  });

  it('gradcheck: Dice from softmax with one-hot labels, Tversky with sigmoid and a float target', async () => {
    const t = fromArray([0, 1, 2, 2, 1, 0, 0, 2], [2, 1, 4], i32);
    await expectGrad((x) => multiClassDiceLoss(x, t, { softmax: true, toOnehotY: true, includeBackground: false }), [[2, 3, 4]]);
    await expectGrad((x, g) => tverskyLoss(x, g, { sigmoid: true, alpha: 0.3, beta: 0.7, batch: true }), [[2, 2, 3], [2, 2, 3]], [[-2, 2], [0, 1]]);
    t.dispose();
  });

  /** −log softmax(x)[label] per voxel, times the label's class weight: the cross entropy of each voxel */
  const voxelCe = (w: number[]) => {
    const [n, c] = shape, s = sizeOf(shape.slice(2));
    const out: { loss: number; weight: number }[] = [];
    for (let b = 0; b < n; b++) for (let v = 0; v < s; v++) {
      const z = Array.from({ length: c }, (_, k) => logits[(b * c + k) * s + v]);
      const logTotal = Math.log(z.reduce((a, q) => a + Math.exp(q), 0));
      const k = labels[b * s + v];
      out.push({ loss: -w[k] * (z[k] - logTotal), weight: w[k] });
    }
    return out;
  };
  const total = (v: number[]) => v.reduce((a, b) => a + b, 0);

  it('diceCeLoss (DiceCELoss(to_onehot_y=True, softmax=True)): λ_dice·Dice + λ_ce·CE on the logits, mean and sum', async () => {
    const x = fromArray(logits, shape, f64), t = fromArray(labels, [2, 1, 2, 3, 2], i32);
    const dice = monaiSums(logits, shape, labels, { softmax: true, includeBackground: true }).map((q) => 1 - (2 * q.pg + nr) / (q.g + q.p + dr));
    const ce = voxelCe([1, 1, 1]).map((q) => q.loss);
    expectClose(await value(diceCeLoss(x, t, { softmax: true, toOnehotY: true })), [mean(dice) + mean(ce)], 1e-14, 1e-13, 'defaults');
    expectClose(await value(diceCeLoss(x, t, { softmax: true, toOnehotY: true, lambdaDice: 0.3, lambdaCe: 2, reduction: 'sum' })),
      [0.3 * total(dice) + 2 * total(ce)], 1e-13, 1e-13, 'sum, lambdas');
    // a class weight for the cross entropy only: PyTorch's weighted mean Σ w_t·ℓ / Σ w_t
    const w = [0.5, 2, 1], weighted = voxelCe(w), ceWeight = fromArray(w, [3], f64);
    expectClose(await value(diceCeLoss(x, t, { softmax: true, toOnehotY: true, ceWeight })),
      [mean(dice) + total(weighted.map((q) => q.loss)) / total(weighted.map((q) => q.weight))], 1e-14, 1e-13, 'ceWeight');
    dispose([x, t, ceWeight]);
  });

  it('diceCeLoss with a float target: one-hot labels give the class-index value; class probabilities −Σ w·y·log softmax; one channel: Dice + BCE', async () => {
    const x = fromArray(logits, shape, f64), t = fromArray(labels, [2, 1, 2, 3, 2], i32);
    const [n, c] = shape, s = sizeOf(shape.slice(2));
    const hot = new Float64Array(sizeOf(shape));
    for (let b = 0; b < n; b++) for (let v = 0; v < s; v++) hot[(b * c + labels[b * s + v]) * s + v] = 1;
    const oneHotTarget = fromArray(hot, shape, f64);
    expectClose(await value(diceCeLoss(x, oneHotTarget, { softmax: true })), await value(diceCeLoss(x, t, { softmax: true, toOnehotY: true })), 1e-14, 1e-13, 'one-hot');
    const probs = Array.from(randomArray(sizeOf(shape), 9, 0, 1)), soft = fromArray(probs, shape, f64), w = [0.5, 2, 1], ceWeight = fromArray(w, [3], f64);
    let ce = 0;
    for (let b = 0; b < n; b++) for (let v = 0; v < s; v++) {
      const z = Array.from({ length: c }, (_, k) => logits[(b * c + k) * s + v]);
      const logTotal = Math.log(z.reduce((a, q) => a + Math.exp(q), 0));
      for (let k = 0; k < c; k++) ce -= w[k] * probs[(b * c + k) * s + v] * (z[k] - logTotal);
    }
    const dice = await value(multiClassDiceLoss(x, soft, { softmax: true }));
    expectClose(await value(diceCeLoss(x, soft, { softmax: true, ceWeight, lambdaDice: 0 })), [ce / (n * s)], 1e-14, 1e-13, 'probabilities, Dice off');
    expectClose(await value(diceCeLoss(x, soft, { softmax: true, ceWeight })), [dice[0] + ce / (n * s)], 1e-14, 1e-13, 'probabilities');
    const one = fromArray(logits.slice(0, 12), [1, 1, 12], f64), g = fromArray(labels.slice(0, 12).map((k) => (k === 1 ? 1 : 0)), [1, 1, 12], f64);
    const bce = logits.slice(0, 12).map((z, i) => { const y = labels[i] === 1 ? 1 : 0; return Math.log1p(Math.exp(-Math.abs(z))) + Math.max(z, 0) - y * z; });
    const sigmoidDice = await value(multiClassDiceLoss(one, g, { sigmoid: true }));
    expectClose(await value(diceCeLoss(one, g, { sigmoid: true })), [sigmoidDice[0] + mean(bce)], 1e-14, 1e-13, 'one channel');
    dispose([x, t, oneHotTarget, soft, ceWeight, one, g]);
  });

  it('diceCeLoss errors name the input', () => {
    const x = fromArray(logits, shape, f64), t = fromArray(labels, [2, 1, 2, 3, 2], i32), w = fromArray([1, 2], [2], f64);
    const hot = fromArray(new Float64Array(sizeOf(shape)), shape, f64);
    expect(() => diceCeLoss(x, t, { softmax: true })).toThrow(/diceCeLoss: target \[2, 1, 2, 3, 2\] holds int32 class indices, which needs toOnehotY: true/);
    expect(() => diceCeLoss(x, t, { toOnehotY: true, reduction: 'none' as 'mean' })).toThrow(/diceCeLoss: reduction must be 'mean' or 'sum', got 'none'/);
    expect(() => diceCeLoss(x, t, { toOnehotY: true, lambdaCe: -1 })).toThrow(/diceCeLoss: lambdaCe must be ≥ 0, got -1/);
    expect(() => diceCeLoss(x, hot, { ceWeight: w })).toThrow(/diceCeLoss: ceWeight \[2\] must be \[3\], one weight per channel of input \[2, 3, 2, 3, 2\]/);
    dispose([x, t, w, hot]);
  });

  it('gradcheck: diceCeLoss with class indices and a class weight, and with class probabilities', async () => {
    const t = fromArray([0, 1, 2, 2, 1, 0, 0, 2], [2, 1, 4], i32), ceWeight = fromArray([0.5, 2, 1], [3], f64);
    await expectGrad((x) => diceCeLoss(x, t, { softmax: true, toOnehotY: true, ceWeight, lambdaDice: 0.7 }), [[2, 3, 4]]);
    await expectGrad((x, g) => diceCeLoss(x, g, { softmax: true, includeBackground: false, reduction: 'sum' }), [[2, 3, 4], [2, 3, 4]], [[-2, 2], [0, 1]]);
    dispose([t, ceWeight]);
  });
});
