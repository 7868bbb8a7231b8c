import { describe, expect, it } from 'vitest';
import { backward, gradcheck, hardtanh, logSoftmax, relu6, softmax, sum } from '../../src/autograd/index.js';
import { Hardtanh, LogSoftmax, ReLU6 } from '../../src/models/index.js';
import { fromArray } from '../../src/tensor/index.js';
import { cpu, randomArray, valuesOf } from '../helpers/backends.js';

/**
 * F.hardtanh / F.relu6 (PyTorch: clamp forward; hardtanh_backward passes the gradient only where
 * minVal < x < maxVal, so 0 at the bounds) with their layers, nn.LogSoftmax, and softmax of rows of -∞
 * (PyTorch: NaN for an all -∞ row, exact 0 / -∞ entries otherwise).
 */

const f64 = { backend: cpu, dtype: 'float64' as const };

async function gradOfSum(fn: (x: ReturnType<typeof fromArray>) => ReturnType<typeof fromArray>, data: number[]): Promise<{ y: number[]; g: number[] }> {
  const x = fromArray(data, [data.length], { ...f64, requiresGrad: true });
  const y = fn(x);
  const values = Array.from(await y.toArray());
  backward(sum(y));
  return { y: values, g: Array.from(await x.grad!.toArray()) };
}

describe('hardtanh and relu6', () => {
  it('hardtanh: clamped values, gradient 0 at and past the bounds', async () => {
    const { y, g } = await gradOfSum((x) => hardtanh(x), [-2, -1, -0.5, 0, 0.5, 1, 2]);
    expect(y).toEqual([-1, -1, -0.5, 0, 0.5, 1, 1]);
    expect(g).toEqual([0, 0, 1, 1, 1, 0, 0]);
  });

  it('relu6: [0, 6], gradient 0 at 0 and 6', async () => {
    const { y, g } = await gradOfSum((x) => relu6(x), [-1, 0, 3, 6, 7]);
    expect(y).toEqual([0, 0, 3, 6, 6]);
    expect(g).toEqual([0, 0, 1, 0, 0]);
  });

  it('gradcheck away from the bounds, other bounds', async () => {
    const data = Array.from(randomArray(24, 4, -3, 3)).filter((v) => Math.abs(Math.abs(v) - 2) > 1e-3);
    const r = await gradcheck((x) => hardtanh(x, -2, 2), [{ data, shape: [data.length] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
  });

  it('the layers: forward, repr as PyTorch, bounds checked', async () => {
    const x = fromArray([-3, 0.25, 7], [3], f64);
    expect(await valuesOf(new Hardtanh(-2, 2).forward(x))).toEqual([-2, 0.25, 2]);
    expect(await valuesOf(new ReLU6().forward(x))).toEqual([0, 0.25, 6]);
    expect(new Hardtanh().extraRepr()).toBe('min_val=-1.0, max_val=1.0');
    expect(new ReLU6().extraRepr()).toBe('');
    expect(() => new Hardtanh(1, 1)).toThrow(/maxVal \(1\) must be greater than minVal \(1\)/);
  });
});

describe('softmax and logSoftmax of -∞ entries, as PyTorch', () => {
  const x = () => fromArray([-Infinity, -Infinity, 0, -Infinity], [2, 2], f64);
  it('an all -∞ row is NaN; a row with one finite entry is exact', async () => {
    const s = await valuesOf(softmax(x(), 1)), l = await valuesOf(logSoftmax(x(), 1));
    expect(s.slice(0, 2).every(Number.isNaN)).toBe(true);
    expect(s.slice(2)).toEqual([1, 0]);
    expect(l.slice(0, 2).every(Number.isNaN)).toBe(true);
    expect(l.slice(2)).toEqual([0, -Infinity]);
  });

  it('nn.LogSoftmax(dim) is F.logSoftmax', async () => {
    const t = fromArray(Array.from(randomArray(6, 2, -1, 1)), [2, 3], f64);
    expect(await valuesOf(new LogSoftmax(-1).forward(t))).toEqual(await valuesOf(logSoftmax(t, -1)));
    expect(new LogSoftmax(1).extraRepr()).toBe('dim=1');
  });
});
