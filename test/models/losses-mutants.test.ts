import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/kernels/index.js';
import { cast, reshape } from '../../src/autograd/index.js';
import {
  diceCeLoss, diceFocalLoss, generalizedDiceLoss, multiClassDiceLoss, tverskyLoss,
} from '../../src/models/losses.js';
import { dispose, fromArray, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, valuesOf as value } from '../helpers/backends.js';

/**
 * MONAI's region losses (multiClassDiceLoss, tverskyLoss, generalizedDiceLoss, diceCeLoss, diceFocalLoss): the input
 * checks their shared preparation makes, each naming the loss and the bad option or input (the mutation run's
 * findings; the values are checked against MONAI's formulas in losses-monai-options.test.ts and losses-weight.test.ts).
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const i32 = { backend: cpu, dtype: 'int32' as const };

const regionLosses = [
  ['multiClassDiceLoss', multiClassDiceLoss], ['tverskyLoss', tverskyLoss], ['generalizedDiceLoss', generalizedDiceLoss],
] as const;

describe('MONAI region losses: input checks', () => {
  it('refuses an unknown reduction, an int32 input, an input without spatial axes, tensors on two backends', () => {
    const x = fromArray(randomArray(12, 1, -2, 2), [2, 3, 2], f64), g = fromArray(randomArray(12, 2, 0, 1), [2, 3, 2], f64);
    const flat = fromArray(randomArray(6, 3, -2, 2), [2, 3], f64);
    const ints = fromArray([0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0], [2, 3, 2], i32);
    const other = new CpuBackend();
    const elsewhere = fromArray(randomArray(12, 2, 0, 1), [2, 3, 2], { backend: other, dtype: 'float64' });
    for (const [op, loss] of regionLosses) {
      expect(() => loss(x, g, { reduction: 'avg' as 'mean' }), op).toThrow(`${op}: unknown reduction 'avg'; valid: mean, sum, none`);
      expect(() => loss(ints, ints), op).toThrow(`${op}: needs a floating-point tensor, got [2, 3, 2] int32`);
      expect(() => loss(flat, flat), op).toThrow(`${op}: input must be [N, C, spatial…], got [2, 3]`);
      expect(() => loss(x, elsewhere), op).toThrow(`${op}: tensors live on different backends (two cpu backend instances)`);
    }
    dispose([x, g, flat, ints, elsewhere]);
    other.dispose();
  });

  it('names softmax and toOnehotY on a single channel, and a class-index target of the wrong shape or dtype', () => {
    const one = fromArray([0.5, -1, 2, 0.1], [2, 1, 2], f64), g = fromArray([1, 0, 1, 1], [2, 1, 2], f64);
    const labels = fromArray([0, 0, 0, 0], [2, 1, 2], i32);
    const x = fromArray(randomArray(12, 4, -2, 2), [2, 3, 2], f64);
    const wrongShape = fromArray([0, 1, 2, 0], [2, 2], i32), floatLabels = cast(fromArray([0, 1, 2, 0], [2, 1, 2], i32), 'float64');
    for (const [op, loss] of regionLosses) {
      expect(() => loss(one, g, { softmax: true }), op).toThrow(`${op}: softmax needs more than one channel, got input [2, 1, 2]`);
      expect(() => loss(one, labels, { toOnehotY: true }), op).toThrow(`${op}: toOnehotY needs more than one channel, got input [2, 1, 2]`);
      expect(() => loss(x, wrongShape, { toOnehotY: true }), op).toThrow(`${op}: with toOnehotY the target must be int32 class indices [2, 1, 2], got [2, 2] int32`);
      expect(() => loss(x, floatLabels, { toOnehotY: true }), op).toThrow(`${op}: with toOnehotY the target must be int32 class indices [2, 1, 2], got [2, 1, 2] float64`);
      // the single-channel input itself is fine
      expect(() => loss(one, g, { sigmoid: true }).dispose(), op).not.toThrow();
    }
    dispose([one, g, labels, x, wrongShape, floatLabels]);
  });

  it('otherAct: a result that is not a tensor, of another dtype or on another backend is named', () => {
    const x = fromArray(randomArray(12, 5, -2, 2), [2, 3, 2], f64), g = fromArray(randomArray(12, 6, 0, 1), [2, 3, 2], f64);
    const other = new CpuBackend();
    const elsewhere = fromArray(randomArray(12, 7, 0, 1), [2, 3, 2], { backend: other, dtype: 'float64' });
    const wording = "otherAct must return a tensor of the input's shape and dtype [2, 3, 2] float64 on its backend";
    for (const [op, loss] of regionLosses) {
      expect(() => loss(x, g, { otherAct: () => 3 as unknown as Tensor }), op).toThrow(`${op}: otherAct must return a Tensor, got number`);
      expect(() => loss(x, g, { otherAct: (z) => cast(z, 'float32') }), op).toThrow(`${op}: ${wording}, got [2, 3, 2] float32`);
      expect(() => loss(x, g, { otherAct: () => elsewhere }), op)
        .toThrow(`${op}: ${wording}, got [2, 3, 2] float64`);
      expect(() => loss(x, g, { otherAct: (z) => reshape(z, [2, 6, 1]) }), op).toThrow(`${op}: ${wording}, got [2, 6, 1] float64`);
      expect(() => loss(x, g, { otherAct: null }).dispose(), op).not.toThrow();
    }
    dispose([x, g, elsewhere]);
    other.dispose();
  });
});

const softplus = (v: number) => Math.log1p(Math.exp(v));
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

describe('MONAI region losses: option values at their bounds and defaults', () => {
  it('generalizedDiceLoss on a soft target: the overlap is Σp·g unless softLabel is given (MONAI\'s default soft_label=False)', async () => {
    // one sample, two classes, two voxels, no activation
    const p = fromArray([0.2, 0.7, 0.9, 0.4], [1, 2, 2], f64), g = fromArray([0.5, 0.25, 0.5, 0.75], [1, 2, 2], f64);
    const s = 1e-5;
    const plain = (tp: number[], sp: number[], sg: number[]) => {
      const w = sg.map((v) => 1 / (v * v));
      return 1 - (2 * (w[0] * tp[0] + w[1] * tp[1]) + s) / (w[0] * (sp[0] + sg[0]) + w[1] * (sp[1] + sg[1]) + s);
    };
    // Σp·g: 0.1 + 0.175 and 0.45 + 0.3; Σp 0.9, 1.3; Σg 0.75, 1.25
    const want = plain([0.275, 0.75], [0.9, 1.3], [0.75, 1.25]);
    expectClose(await value(generalizedDiceLoss(p, g)), [want], 1e-14, 0, 'default');
    expectClose(await value(generalizedDiceLoss(p, g, { softLabel: false })), [want], 1e-14, 0, 'softLabel false');
    // softLabel: tp = (Σ|p| + Σ|g| − Σ|p − g|)/2 = (1.65 − 0.75)/2 and (2.55 − 0.75)/2
    expectClose(await value(generalizedDiceLoss(p, g, { softLabel: true })), [plain([0.45, 0.9], [0.9, 1.3], [0.75, 1.25])], 1e-14, 0, 'softLabel');
    dispose([p, g]);
  });

  it('a class weight of 0 is allowed (the class drops out of the loss), as MONAI', async () => {
    const x = fromArray(randomArray(2 * 3 * 4, 8, -2, 2), [2, 3, 4], f64), t = fromArray([0, 1, 2, 2, 1, 1, 0, 2], [2, 1, 4], i32);
    const o = { softmax: true, toOnehotY: true };
    const perClass = await value(multiClassDiceLoss(x, t, { ...o, reduction: 'none' }));
    const weight = [0, 1, 2.5];
    const want = perClass.reduce((a, l, i) => a + weight[i % 3] * l, 0) / perClass.length;
    expectClose(await value(multiClassDiceLoss(x, t, { ...o, weight })), [want], 1e-14, 1e-14, 'weight with a 0');
    dispose([x, t]);
  });

  it('diceCeLoss: a negative labelSmoothing, a weight of the wrong length on a [N, C, S] input, a weight on an input without spatial axes', () => {
    const x = fromArray(randomArray(12, 9, -2, 2), [2, 3, 2], f64), t = fromArray([0, 1, 2, 2], [2, 1, 2], i32);
    expect(() => diceCeLoss(x, t, { toOnehotY: true, labelSmoothing: -0.1 })).toThrow('diceCeLoss: labelSmoothing must be a number in [0, 1], got -0.1');
    expect(() => diceCeLoss(x, t, { toOnehotY: true, weight: [1, 2] })).toThrow('diceCeLoss: weight has 2 values, must have 3 (one per channel of input [2, 3, 2])');
    const flat = fromArray(randomArray(6, 10, -2, 2), [2, 3], f64), flatTarget = fromArray([1, 0, 0, 0, 1, 0], [2, 3], f64);
    expect(() => diceCeLoss(flat, flatTarget, { weight: [1, 2] })).toThrow('multiClassDiceLoss: input must be [N, C, spatial…], got [2, 3]');
    dispose([x, t, flat, flatTarget]);
  });

  it('diceCeLoss with one channel: the BCE term takes the reduction and ceWeight as posWeight', async () => {
    const xs = [0.5, -1, 2, 0.1], ys = [1, 0, 1, 1];
    const x = fromArray(xs, [2, 1, 2], f64), y = fromArray(ys, [2, 1, 2], f64), ceWeight = fromArray([3], [1], f64);
    const s = 1e-5, p = xs.map(sigmoid);
    let dice = 0;
    for (const b of [0, 1]) {
      const [p0, p1, g0, g1] = [p[2 * b], p[2 * b + 1], ys[2 * b], ys[2 * b + 1]];
      dice += 1 - (2 * (p0 * g0 + p1 * g1) + s) / (p0 + p1 + g0 + g1 + s);
    }
    const bce = xs.reduce((a, v, i) => a + 3 * ys[i] * softplus(-v) + (1 - ys[i]) * softplus(v), 0);
    expectClose(await value(diceCeLoss(x, y, { sigmoid: true, reduction: 'sum', ceWeight })), [dice + bce], 1e-14, 1e-14, 'sum, posWeight 3');
    dispose([x, y, ceWeight]);
  });

  it('diceCeLoss names a ceWeight of another dtype than the input (class-probability targets)', () => {
    const x = fromArray(randomArray(12, 11, -2, 2), [2, 3, 2], f64), target = fromArray(randomArray(12, 12, 0, 1), [2, 3, 2], f64);
    const ceWeight = fromArray([1, 2, 3], [3], { backend: cpu });
    expect(() => diceCeLoss(x, target, { softmax: true, ceWeight }))
      .toThrow('diceCeLoss: ceWeight [3] float32 must have the dtype of input [2, 3, 2] float64; cast() it first');
    dispose([x, target, ceWeight]);
  });

  it('diceFocalLoss: alpha at its bounds 0 and 1 weighs only the negatives or only the positives; a negative alpha is refused', async () => {
    const x = fromArray(randomArray(12, 13, -2, 2), [2, 3, 2], f64);
    const zeros = fromArray(new Array<number>(12).fill(0), [2, 3, 2], f64), ones = fromArray(new Array<number>(12).fill(1), [2, 3, 2], f64);
    // α_t = α·t + (1 − α)(1 − t): 0 on every element of an all-negative target with α = 1, of an all-positive one with α = 0
    expect(await value(diceFocalLoss(x, zeros, { lambdaDice: 0, alpha: 1 }))).toEqual([0]);
    expect(await value(diceFocalLoss(x, ones, { lambdaDice: 0, alpha: 0 }))).toEqual([0]);
    expect((await value(diceFocalLoss(x, ones, { lambdaDice: 0, alpha: 1 })))[0]).toBeGreaterThan(0);
    expect(() => diceFocalLoss(x, ones, { alpha: -0.5 })).toThrow('diceFocalLoss: alpha must be in [0, 1] or null, got -0.5');
    dispose([x, zeros, ones]);
  });
});
