import { describe, expect, it } from 'vitest';
import { add, amax, amin, argmax, backward, exp, logSoftmax, mul, relu, softmax, std, sum, variance } from '../../src/autograd/index.js';
import { dispose, fromArray, memory, tidy } from '../../src/tensor/index.js';
import { cpu, expectClose } from '../helpers/backends.js';
import type { Tensor } from '../../src/tensor/index.js';

const opts = { backend: cpu, dtype: 'float64' as const };

describe('tensor methods', () => {
  it('chained methods give the functional ops\' values and gradients', async () => {
    const x = fromArray([0.5, -1, 2, 3], [2, 2], { ...opts, requiresGrad: true });
    const w = fromArray([1.5, -0.5], [2], { ...opts, requiresGrad: true });
    const chained = tidy(() => x.mul(w).add(1).relu().exp().sum());
    chained.backward();
    const [gx1, gw1] = [await x.grad!.toArray(), await w.grad!.toArray()];
    x.grad!.dispose(); x.grad = null; w.grad!.dispose(); w.grad = null;
    const one = fromArray([1], [], opts);
    const functional = tidy(() => sum(exp(relu(add(mul(x, w), one)))));
    backward(functional);
    expectClose(await chained.toArray(), await functional.toArray(), 1e-12, 1e-12, 'value');
    expectClose(gx1, await x.grad!.toArray(), 1e-12, 1e-12, 'grad x');
    expectClose(gw1, await w.grad!.toArray(), 1e-12, 1e-12, 'grad w');
    dispose([x, w, one, chained, functional]);
  });

  it('views and reductions by method, and number operands leave nothing behind', async () => {
    const x = fromArray([1, 2, 3, 4, 5, 6], [2, 3], opts);
    const before = memory(cpu);
    const y = tidy(() => x.transpose().reshape(3, 2).sum(1).div(2).sub(0.5));
    expect(Array.from(await y.toArray())).toEqual([2, 3, 4]);
    y.dispose();
    expect(memory(cpu)).toEqual(before);
    expect(x.unsqueeze(0).shape).toEqual([1, 2, 3]);
    x.dispose();
  });

  it('softmax, logSoftmax and argmax over the class axis by method, as the functions', async () => {
    const x = fromArray([0.5, -1, 2, 3, 0, 1.5, -2, 4], [2, 2, 2], opts);
    for (const axis of [0, 1, 2]) {
      const pairs = tidy(() => [[x.softmax(axis), softmax(x, axis)], [x.logSoftmax(axis), logSoftmax(x, axis)], [x.argmax(axis), argmax(x, axis)], [x.argmax(axis, true), argmax(x, axis, true)]]);
      for (const [method, fn] of pairs) {
        expect(method!.shape).toEqual(fn!.shape);
        expect(method!.dtype).toBe(fn!.dtype);
        expect(Array.from(await method!.toArray())).toEqual(Array.from(await fn!.toArray()));
      }
      dispose(pairs.flat());
    }
    x.dispose();
  });

  it('amax, amin, var and std by method, as the functions (values and gradients)', async () => {
    const data = [0.5, -1, 2, 3, 0, 1.5, -2, 4, 2, 2, 0.25, -3];
    const cases: [string, (t: Tensor) => Tensor, (t: Tensor) => Tensor][] = [
      ['amax', (t) => t.amax([0, 2]), (t) => amax(t, [0, 2])],
      ['amin keepdim', (t) => t.amin(1, true), (t) => amin(t, 1, true)],
      ['var', (t) => t.var(1), (t) => variance(t, 1)],
      ['var correction 0 keepdim', (t) => t.var([0, 1], { correction: 0, keepdim: true }), (t) => variance(t, [0, 1], { correction: 0, keepdim: true })],
      ['std unbiased false', (t) => t.std(undefined, { unbiased: false }), (t) => std(t, undefined, { unbiased: false })],
    ];
    for (const [what, method, fn] of cases) {
      const results: [number[], number[]][] = [];
      for (const call of [method, fn]) {
        const x = fromArray(data, [2, 3, 2], { ...opts, requiresGrad: true });
        const y = call(x);
        const loss = tidy(() => y.mul(y).sum());
        loss.backward();
        results.push([Array.from(await y.toArray()), Array.from(await x.grad!.toArray())]);
        dispose([x, y, loss]);
      }
      expect(results[0], what).toEqual(results[1]);
    }
  });
});
