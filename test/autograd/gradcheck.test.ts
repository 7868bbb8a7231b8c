import { describe, expect, it } from 'vitest';
import {
  add, assertGradcheck, backward, cast, conv3d, div, exp, gradcheck, matmul, maximum, mul, sub, sum, where,
} from '../../src/autograd/index.js';
import { fromArray, getBackend, memory, tidy, dispose } from '../../src/tensor/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { randomArray } from '../helpers/backends.js';

describe('gradcheck with constants made on the default backend', () => {
  it('a float32 constant closed over by fn just works in elementwise ops (shared cpu backend, float32 promoted to float64)', async () => {
    const w = fromArray([0.5, -1, 2], [3]); // default backend and dtype: cpu, float32
    const m = fromArray([1, 0, 2, -1, 0.5, 3], [3, 2]);
    const k = fromArray(randomArray(2 * 1 * 2 * 2 * 2, 3), [2, 1, 2, 2, 2]);
    const cond = fromArray([1, 0, 1], [3]);
    const x3 = { data: [0.3, -0.7, 1.1], shape: [3] };
    await assertGradcheck((x) => mul(x, w), [x3]);
    await assertGradcheck((x) => add(w, x), [x3]);
    await assertGradcheck((x) => sub(w, x), [x3]);
    await assertGradcheck((x) => div(x, add(w, fromArray([3, 3, 3], [3]))), [x3]);
    await assertGradcheck((x) => maximum(x, w), [x3]);
    await assertGradcheck((x) => where(cond, x, w), [x3]);
    // matmul and the convolutions do not promote (nor do PyTorch's): a constant for them is cast once
    expect(() => matmul(fromArray([1, 2, 3], [1, 3], { dtype: 'float64' }), m)).toThrow(/matmul: dtypes differ.*cast\(\) one first/);
    const m64 = cast(m, 'float64'), k64 = cast(k, 'float64');
    await assertGradcheck((x) => matmul(x.reshape(1, 3), m64), [x3]);
    await assertGradcheck((x) => conv3d(x, k64, null, { padding: 1 }), [{ data: randomArray(27, 5), shape: [1, 1, 3, 3, 3] }]);
    expect(getBackend().name).toBe('cpu');
    dispose([w, m, k, cond, m64, k64]);
  });

  it('a float32 input promoted against float64 gets a float32 gradient', async () => {
    const a = fromArray([1, 2], [2], { requiresGrad: true });
    const b = fromArray([3, 4], [2], { dtype: 'float64' });
    const y = tidy(() => sum(mul(a, b)));
    expect(y.dtype).toBe('float64');
    backward(y);
    expect(a.grad!.dtype).toBe('float32');
    expect(Array.from(await a.grad!.toArray())).toEqual([3, 4]);
    dispose([a, b, y]);
  });

  it('cast to the dtype a tensor already has keeps it on the graph', async () => {
    const a = fromArray([1, 2], [2], { requiresGrad: true });
    const y = tidy(() => sum(mul(a.cast('float32'), a)));
    backward(y);
    expect(Array.from(await a.grad!.toArray())).toEqual([2, 4]);
    dispose([a, y]);
  });

  it('int32 does not mix with floats (an error naming cast())', () => {
    const a = fromArray([1, 2], [2], { dtype: 'int32' });
    const b = fromArray([3, 4], [2], { dtype: 'float64' });
    expect(() => mul(a, b)).toThrow(/dtypes differ.*cast\(\) one first/);
    dispose([a, b]);
  });

  it('leaks no tensor that fn creates', async () => {
    const before = memory().liveTensors;
    const result = await gradcheck((x: Tensor) => {
      const c = fromArray([2, 2], [2], { dtype: 'float64' }); // a constant made inside fn, never disposed by fn
      return exp(mul(mul(x, c), x));
    }, [{ data: [0.1, -0.2], shape: [2] }]);
    expect(result.ok).toBe(true);
    expect(memory().liveTensors).toBe(before);
  });
});
