import { describe, expect, it } from 'vitest';
import { gradcheck, maxPool3d } from '../../src/autograd/index.js';
import { MaxPool3d } from '../../src/models/index.js';
import { dispose, fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, distinctValues, numbersOf, randomArray } from '../helpers/backends.js';

/**
 * maxPool3d's dilation through autograd and MaxPool3d (PyTorch's max_pool3d(dilation=...)): output sizes by
 * pooling_output_shape, values by hand, gradcheck, the layer's print. The kernels: test/kernels/pool-dilation.test.ts.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };

describe('maxPool3d dilation', () => {
  it('output size ⌊(in + 2·pad − dilation·(kernel − 1) − 1)/stride⌋ + 1 and values by hand', async () => {
    const x = fromArray([1, 5, 2, 0, 3, 3, 7, 1], [1, 1, 1, 1, 8], f64);
    const [y, indices] = maxPool3d(x, [1, 1, 3], { stride: 1, dilation: [1, 1, 2], returnIndices: true });
    expect(y.shape).toEqual([1, 1, 1, 1, 4]);
    expect(await numbersOf(y)).toEqual([3, 5, 7, 3]);
    expect(await numbersOf(indices)).toEqual([4, 1, 6, 5]);
    // a cube: 7 pooled by 3 with dilation 2 and padding 1 → ⌊(7 + 2 − 4 − 1)/1⌋ + 1 = 5 per axis, 3 in ceil mode with stride 2
    const cube = fromArray(randomArray(343, 2), [1, 1, 7, 7, 7], f64);
    const a = maxPool3d(cube, 3, { stride: 1, padding: 1, dilation: 2 });
    const b = maxPool3d(cube, 3, { stride: 2, padding: 1, dilation: 2, ceilMode: true });
    expect(a.shape).toEqual([1, 1, 5, 5, 5]);
    expect(b.shape).toEqual([1, 1, 3, 3, 3]);
    dispose([x, y, indices, cube, a, b]);
  });

  it('gradcheck (float64, distinct values so the argmax is stable)', async () => {
    const shape = [1, 2, 5, 6, 7];
    const r = await gradcheck((t: Tensor) => maxPool3d(t, [2, 3, 2], { stride: [1, 2, 2], padding: [1, 1, 0], dilation: [2, 1, 3] }),
      [{ data: distinctValues(sizeOf(shape), 5), shape }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
  });

  it('MaxPool3d(dilation) prints it as PyTorch (between padding and ceil_mode) and pools with it', async () => {
    const m = new MaxPool3d(3, { dilation: 2, ceilMode: true });
    expect(m.extraRepr()).toBe('kernel_size=3, stride=3, padding=0, dilation=2, ceil_mode=True');
    expect(new MaxPool3d(2, { dilation: [1, 2, 1] }).extraRepr()).toBe('kernel_size=2, stride=2, padding=0, dilation=(1, 2, 1)');
    const x = fromArray(randomArray(2 * 9 * 9 * 9, 3), [1, 2, 9, 9, 9], f64);
    const y = m.forward(x), want = maxPool3d(x, 3, { dilation: 2, ceilMode: true });
    // ⌈(9 − 2·2 − 1)/3⌉ + 1 = 3 (the last window starts at 6 < 9)
    expect(y.shape).toEqual([1, 2, 3, 3, 3]);
    expect(await numbersOf(y)).toEqual(await numbersOf(want));
    dispose([x, y, want]);
    expect(() => new MaxPool3d(2, { dilation: -1 })).toThrow(/^MaxPool3d dilation must be non-negative integers/);
  });

  it('refuses dilation < 1 and a dilated kernel larger than the padded input', () => {
    const x = fromArray(randomArray(27, 1), [1, 1, 3, 3, 3], f64);
    expect(() => maxPool3d(x, 2, { dilation: 0 })).toThrow(/^maxPool3d: dilation must be ≥ 1, got \[0, 0, 0\]$/);
    expect(() => maxPool3d(x, 2, { dilation: 3 })).toThrow(/^maxPool3d: kernel \[2, 2, 2\] \(dilation \[3, 3, 3\]\) is larger than the padded input \[1, 1, 3, 3, 3\] \+ padding \[0, 0, 0\]$/);
    x.dispose();
  });
});
