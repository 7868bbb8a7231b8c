import { describe, expect, it } from 'vitest';
import { avgPool3d, gradcheck, maxPool3d } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { MaxPool3d } from '../../src/models/layers.js';
import { AvgPool3d } from '../../src/models/pooling.js';
import { dispose, fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, distinctValues, numbersOf, randomArray, webgpu } from '../helpers/backends.js';

/**
 * maxPool3d/avgPool3d's ceilMode and avgPool3d's divisorOverride through autograd and the layers: output sizes by
 * PyTorch's rule, values by hand, gradcheck (the kernels themselves: test/kernels/pool.test.ts).
 */

const f64 = { backend: cpu, dtype: 'float64' as const };

describe('ceilMode and divisorOverride', () => {
  it('an odd size pooled by 2 keeps its last partial window in ceil mode (floor mode drops it)', async () => {
    const x = fromArray(Array.from({ length: 27 }, (_, i) => i), [1, 1, 3, 3, 3], f64);
    expect(maxPool3d(x, 2).shape).toEqual([1, 1, 1, 1, 1]);
    const y = maxPool3d(x, 2, { ceilMode: true });
    expect(y.shape).toEqual([1, 1, 2, 2, 2]);
    // windows [0, 2) and [2, 3) per axis: the maxima sit at the far corner of each clipped window
    expect(await numbersOf(y)).toEqual([13, 14, 16, 17, 22, 23, 25, 26]);
    // the average of the one-voxel corner window [2, 3)³ is x[26] itself (divisor clipped to the input)
    expect((await numbersOf(avgPool3d(x, 2, { ceilMode: true })))[7]).toBe(26);
    expect((await numbersOf(avgPool3d(x, 2, { ceilMode: true, divisorOverride: 8 })))[7]).toBe(26 / 8);
    dispose([x, y]);
  });

  it('with padding: ceilMode × countIncludePad × divisorOverride along one axis, by hand', async () => {
    // x = [1, 2, 3, 4], kernel 3, stride 2, padding 1, ceil: windows start at −1, 1, 3 (the last clipped to [3, 5))
    const x = fromArray([1, 2, 3, 4], [1, 1, 1, 1, 4], f64);
    const o = { stride: [1, 1, 2], padding: [0, 0, 1], ceilMode: true } as const;
    expect(await numbersOf(avgPool3d(x, [1, 1, 3], o))).toEqual([1, 3, 2]);
    expect(await numbersOf(avgPool3d(x, [1, 1, 3], { ...o, countIncludePad: false }))).toEqual([1.5, 3, 4]);
    // the override divides every window by it, whatever countIncludePad says
    expect(await numbersOf(avgPool3d(x, [1, 1, 3], { ...o, countIncludePad: false, divisorOverride: 2 }))).toEqual([1.5, 4.5, 2]);
    expect(await numbersOf(avgPool3d(x, [1, 1, 3], { stride: [1, 1, 2], padding: [0, 0, 1], divisorOverride: -3 }))).toEqual([-1, -3]);
    expect(() => avgPool3d(x, [1, 1, 3], { ...o, divisorOverride: 1.5 })).toThrow(/^avgPool3d: divisorOverride must be a nonzero integer, got 1.5$/);
    expect(() => maxPool3d(x, [1, 1, 3], { ceilMode: 1 as unknown as boolean })).toThrow(/^maxPool3d: ceilMode must be a boolean, got 1$/);
    x.dispose();
  });

  it('gradcheck (float64 on the cpu): clipped last windows, padding, both divisor rules and the override', async () => {
    const shape = [1, 2, 5, 4, 3];
    const check = async (fn: (x: Tensor) => Tensor, data: number[]) => {
      const r = await gradcheck(fn, [{ data, shape }], { backend: cpu });
      expect(r.ok, r.message).toBe(true);
    };
    await check((x) => maxPool3d(x, [2, 3, 2], { stride: 2, padding: [1, 1, 0], ceilMode: true }), distinctValues(sizeOf(shape), 3));
    const smooth = Array.from(randomArray(sizeOf(shape), 4));
    for (const countIncludePad of [true, false]) {
      await check((x) => avgPool3d(x, [2, 3, 2], { stride: 2, padding: [1, 1, 0], ceilMode: true, countIncludePad }), smooth);
    }
    await check((x) => avgPool3d(x, 3, { stride: 2, padding: 1, ceilMode: true, divisorOverride: 5 }), smooth);
  });

  it('WebGPU (float32) gives the cpu\'s values and gradient', async () => {
    const gpu = await webgpu();
    const shape = [2, 1, 5, 3, 4], data = Array.from(randomArray(sizeOf(shape), 9));
    const run = async (backend: Backend, dtype: 'float32' | 'float64') => {
      const x = fromArray(data, shape, { backend, dtype, requiresGrad: true });
      const y = avgPool3d(x, 2, { padding: [1, 0, 1], ceilMode: true, divisorOverride: 3 });
      y.sum().backward();
      const r = [await numbersOf(y), await numbersOf(x.grad!)];
      dispose([x, y]);
      return r;
    };
    const [want, got] = [await run(cpu, 'float64'), await run(gpu, 'float32')];
    for (let k = 0; k < 2; k++) got[k].forEach((v, i) => expect(Math.abs(v - want[k][i])).toBeLessThan(1e-6));
  });

  it('the layers take them: MaxPool3d({ ceilMode }), AvgPool3d({ ceilMode, divisorOverride }), and their reprs', async () => {
    const x = fromArray(randomArray(2 * 5 * 5 * 5, 5), [1, 2, 5, 5, 5], f64);
    const m = new MaxPool3d(2, { ceilMode: true });
    expect(await numbersOf(m.forward(x))).toEqual(await numbersOf(maxPool3d(x, 2, { ceilMode: true })));
    expect(m.forward(x).shape).toEqual([1, 2, 3, 3, 3]);
    expect(m.toString().split('\n')[0]).toBe('MaxPool3d(kernel_size=2, stride=2, padding=0, ceil_mode=True)');
    const a = new AvgPool3d(3, { stride: 2, padding: 1, ceilMode: true, divisorOverride: 4 });
    expect(await numbersOf(a.forward(x))).toEqual(await numbersOf(avgPool3d(x, 3, { stride: 2, padding: 1, ceilMode: true, divisorOverride: 4 })));
    expect(a.toString().split('\n')[0]).toBe('AvgPool3d(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=4)');
    expect(new MaxPool3d(2).toString().split('\n')[0]).toBe('MaxPool3d(kernel_size=2, stride=2, padding=0)');
    expect(() => new AvgPool3d(2, { divisorOverride: 0 })).toThrow(/^AvgPool3d: divisorOverride must be a nonzero integer, got 0$/);
    expect(() => new MaxPool3d(2, { ceilMode: 'yes' as unknown as boolean })).toThrow(/^MaxPool3d: ceilMode must be a boolean, got yes$/);
    x.dispose();
  });
});
