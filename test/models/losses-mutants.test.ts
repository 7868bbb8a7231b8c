import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/kernels/index.js';
import { cast, reshape } from '../../src/autograd/index.js';
import {
  diceCeLoss, diceFocalLoss, generalizedDiceLoss, multiClassDiceLoss, tverskyLoss,
} from '../../src/models/losses.js';
import { dispose, fromArray, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';

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
