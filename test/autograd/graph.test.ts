import { describe, expect, it } from 'vitest';
import {
  add, backward, gradcheck, mul, noGrad, record, relu, sum, exp,
} from '../../src/autograd/index.js';
import { fromArray, memory, tidy, dispose } from '../../src/tensor/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

const opts = { backend: cpu, dtype: 'float64' as const, requiresGrad: true };

describe('autograd graph', () => {
  it('diamond graph: both paths contribute', async () => {
    const x = fromArray([2, 3], [2], opts);
    const y = tidy(() => { const a = mul(x, x); const b = exp(x); return sum(add(a, b)); });
    backward(y);
    expect(Array.from(await x.grad!.toArray())).toEqual([4 + Math.exp(2), 6 + Math.exp(3)]);
    dispose([x, y]);
  });

  it('a tensor used twice gets the sum of its gradients, walked once', async () => {
    const x = fromArray([1.5], [1], opts);
    let calls = 0;
    const y = tidy(() => {
      const h = record('counted', mul(x, fromArray([3], [1], { backend: cpu, dtype: 'float64' })), [x], (g) => { calls++; return [mul(g, fromArray([3], [1], { backend: cpu, dtype: 'float64' }))]; });
      return sum(mul(h, h));
    });
    backward(y);
    expect(calls).toBe(1);
    // y = (3x)^2 → dy/dx = 18x
    expect((await x.grad!.toArray())[0]).toBeCloseTo(27, 12);
    dispose([x, y]);
  });

  it('a rule may return one tensor it made for two inputs, or pass g and its saved tensors through: each gradient is freed once', async () => {
    const f64 = { backend: cpu, dtype: 'float64' as const };
    const a = fromArray([1, 2], [2], opts), b = fromArray([3, 4], [2], opts), c = fromArray([5, 6], [2], opts);
    const before = memory(cpu);
    for (let round = 0; round < 2; round++) {
      const y = tidy(() => {
        // d/da = d/db = 2g (one tensor for both), d/dc = the saved input c itself
        const shared = record('shared', noGrad(() => mul(add(a, b), fromArray([2, 2], [2], f64))), [a, b], (g) => { const t = mul(g, fromArray([2, 2], [2], f64)); return [t, t]; });
        const passed = record('passed', noGrad(() => mul(c, fromArray([1, 1], [2], f64))), [c], (_g, [cs]) => [cs!], [c]);
        const through = record('through', noGrad(() => mul(shared, fromArray([1, 1], [2], f64))), [shared], (g) => [g]);
        return sum(add(through, passed));
      });
      backward(y);
      y.dispose();
    }
    expect(Array.from(await a.grad!.toArray())).toEqual([4, 4]);
    expect(Array.from(await b.grad!.toArray())).toEqual([4, 4]);
    expect(Array.from(await c.grad!.toArray())).toEqual([10, 12]);
    dispose([a.grad, b.grad, c.grad]);
    a.grad = b.grad = c.grad = null;
    expect(memory(cpu)).toEqual(before);
    expect(c.isDisposed).toBe(false);
    dispose([a, b, c]);
  });

  it('a second backward over a freed graph is a clear error unless retainGraph', () => {
    const x = fromArray([1, 2], [2], opts);
    const y = tidy(() => sum(mul(x, x)));
    backward(y, undefined, { retainGraph: true });
    backward(y);
    expect(() => backward(y)).toThrow(/second time.*retainGraph/);
    dispose([x, y]);
  });

  it('noGrad records nothing', () => {
    const x = fromArray([1], [1], opts);
    const y = noGrad(() => mul(x, x));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradNode).toBeNull();
    dispose([x, y]);
  });

  it('gradients of broadcast inputs are reduced back to their shapes', async () => {
    const a = fromArray([1, 2, 3, 4, 5, 6], [2, 3], opts);
    const b = fromArray([10, 20, 30], [3], opts);
    const y = tidy(() => sum(mul(a, b)));
    backward(y);
    expect(Array.from(await b.grad!.toArray())).toEqual([5, 7, 9]);
    expect(Array.from(await a.grad!.toArray())).toEqual([10, 20, 30, 10, 20, 30]);
    dispose([a, b, y]);
  });

  it('gradcheck fails loudly on a deliberately wrong backward rule', async () => {
    const wrongSquare = (x: Tensor) => record('wrongSquare', noGrad(() => mul(x, x)), [x], (g, [xs]) => [mul(g, xs)], [x]); // should be 2x
    const result = await gradcheck(wrongSquare, [{ data: [0.5, -1.25, 2], shape: [3] }]);
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(/FAILED: worst at input 0 element \[\d\]: analytic .* numeric/);
    const right = await gradcheck((x) => mul(x, x), [{ data: [0.5, -1.25, 2], shape: [3] }]);
    expect(right.ok).toBe(true);
  });

  it('a loop of 200 forward+backward steps leaves live tensors and buffers unchanged', async () => {
    const w = fromArray([0.1, -0.2, 0.3, 0.4], [2, 2], { backend: cpu, requiresGrad: true });
    const x = fromArray([1, 2, 3, 4, 5, 6], [3, 2], { backend: cpu });
    const step = () => {
      const loss = tidy(() => sum(relu(mul(x, sum(w, 0)))));
      backward(loss);
      loss.dispose();
      w.grad!.dispose();
      w.grad = null;
    };
    step();
    const before = memory(cpu);
    for (let i = 0; i < 200; i++) step();
    expect(memory(cpu)).toEqual(before);
    dispose([w, x]);
  });

  it('a recorded forward that never sees backward() is freed with its last tensor', () => {
    const w = fromArray([0.5, -1, 2, 0.25], [2, 2], { backend: cpu, requiresGrad: true });
    const x = fromArray([1, 2, 3, 4, 5, 6], [3, 2], { backend: cpu });
    const before = memory(cpu);
    for (let i = 0; i < 10; i++) {
      const y = tidy(() => relu(mul(exp(x), sum(w, 0))));
      expect(y.requiresGrad).toBe(true);
      y.dispose();
    }
    expect(memory(cpu)).toEqual(before);
    // and a graph kept alive by its output still backpropagates after its intermediates were disposed
    const z = tidy(() => sum(relu(mul(x, sum(w, 0)))));
    backward(z);
    expect(w.grad).not.toBeNull();
    dispose([w, x, z]);
  });

  it('bad input names the shapes', () => {
    const a = fromArray([1, 2, 3], [3], { backend: cpu });
    const b = fromArray([1, 2], [2], { backend: cpu });
    expect(() => add(a, b)).toThrow(/\[3\] and \[2\] cannot be broadcast/);
    const i = fromArray([1, 2], [2], { backend: cpu, dtype: 'int32' });
    expect(() => add(b, i)).toThrow(/dtypes differ.*\[2\] float32.*\[2\] int32/);
    a.dispose();
    expect(() => add(a, a)).toThrow(/used after dispose/);
    dispose([b, i]);
  });
});
