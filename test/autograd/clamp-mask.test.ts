/**
 * clamp's gradient passes where lo ≤ x ≤ hi, the bounds included, and is 0 outside and at NaN (PyTorch's
 * clamp_backward: (x ≥ min) & (x ≤ max)), on both backends; step(x, t, true) is 1 where x ≥ t (0 at NaN, as
 * torch.ge). Both come from the one-dispatch 'inRange' kernel.
 */
import { describe, expect, it } from 'vitest';
import { backward, clamp, step, sum } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { dispose, fromArray, memory, tidy } from '../../src/tensor/index.js';
import { cpu, webgpu } from '../helpers/backends.js';

const xs = [-Infinity, -2, -0.5, -0, 0, 0.25, 0.5, 0.75, 3, Infinity, NaN];

describe.each([['cpu', async () => cpu], ['webgpu', webgpu]] as [string, () => Promise<Backend>][])('clamp gradient mask (%s)', (_, make) => {
  it('1 on [lo, hi], bounds included; 0 outside and at NaN', async () => {
    const backend = await make();
    const before = memory(backend).liveTensors;
    const x = fromArray(xs, [xs.length], { backend, dtype: 'float32', requiresGrad: true });
    const y = tidy(() => sum(clamp(x, -0.5, 0.5)));
    backward(y);
    expect(Array.from(await x.grad!.toArray())).toEqual([0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
    dispose([x.grad!, y, x]);
    expect(memory(backend).liveTensors).toBe(before);
  });

  it('one-sided bounds: clamp(x, 0) passes from 0 up, to +∞ included', async () => {
    const backend = await make();
    const x = fromArray(xs, [xs.length], { backend, dtype: 'float32', requiresGrad: true });
    const y = tidy(() => sum(clamp(x, 0)));
    backward(y);
    expect(Array.from(await x.grad!.toArray())).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0]);
    dispose([x.grad!, y, x]);
  });

  it('step(x, t, true) is 1 where x ≥ t; step(x, t) is 1 where x > t; both 0 at NaN', async () => {
    const backend = await make();
    const x = fromArray(xs, [xs.length], { backend, dtype: 'float32' });
    const inclusive = step(x, 0.5, true), strict = step(x, 0.5);
    expect(Array.from(await inclusive.toArray())).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0]);
    expect(Array.from(await strict.toArray())).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0]);
    dispose([inclusive, strict, x]);
  });
});
