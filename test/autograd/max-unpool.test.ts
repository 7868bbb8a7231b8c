import { describe, expect, it } from 'vitest';
import { backward, gradcheck, maxPool3d, maxUnpool3d, mul, sum } from '../../src/autograd/index.js';
import { MaxPool3d, MaxUnpool3d } from '../../src/models/index.js';
import { dispose, fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * maxPool3d's returnIndices and maxUnpool3d (F.max_pool3d(return_indices=True), F.max_unpool3d, nn.MaxUnpool3d):
 * values by hand, the round trip of PyTorch's documentation, outputSize's rule, the gradient (gathered at the
 * indices, as PyTorch's) by hand and by gradcheck, WebGPU against the cpu, and the refusals. The kernel: test/kernels/max-unpool.test.ts.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const values = async (t: Tensor): Promise<number[]> => Array.from(await t.toArray());

describe('maxPool3d returnIndices and maxUnpool3d', () => {
  // x[d, h, w] of shape [1, 1, 2, 2, 4], flat index d·8 + h·4 + w (test/kernels/pool.test.ts's golden)
  const xs = [1, 5, 2, 0, 3, 3, 7, 1, 4, 2, 6, 9, 8, 0, 1, 9];

  it('returns the flat argmax per (N, C) volume, and unpooling puts each maximum back, zeros elsewhere', async () => {
    const x = fromArray(xs, [1, 1, 2, 2, 4], f64);
    const [y, indices] = maxPool3d(x, 2, { returnIndices: true });
    expect(indices.dtype).toBe('int32');
    expect(await values(y)).toEqual([8, 9]);
    expect(await values(indices)).toEqual([12, 11]);
    const u = maxUnpool3d(y, indices, 2);
    expect(u.shape).toEqual([1, 1, 2, 2, 4]);
    expect(await values(u)).toEqual(xs.map((v, i) => (i === 12 || i === 11 ? v : 0)));
    // a plain call still returns the values alone
    const plain = maxPool3d(x, 2);
    expect(await values(plain)).toEqual([8, 9]);
    dispose([x, y, indices, u, plain]);
  });

  it('outputSize: 3 or 5 numbers strictly within a stride of the default, as PyTorch', async () => {
    const x = fromArray(randomArray(2 * 8, 3), [1, 2, 2, 2, 2], f64);
    const [y, indices] = maxPool3d(x, 2, { returnIndices: true, ceilMode: true });
    expect(y.shape).toEqual([1, 2, 1, 1, 1]);
    // default (1 − 1)·2 + 2 = 2; 3 is allowed (2 − 2 < 3 < 2 + 2)
    const u = maxUnpool3d(y, indices, 2, { outputSize: [3, 2, 3] });
    expect(u.shape).toEqual([1, 2, 3, 2, 3]);
    const v = maxUnpool3d(y, indices, 2, { outputSize: [1, 2, 3, 3, 3] });
    expect(v.shape).toEqual([1, 2, 3, 3, 3]);
    expect(() => maxUnpool3d(y, indices, 2, { outputSize: [4, 2, 2] })).toThrow(/^maxUnpool3d: invalid outputSize \[4, 2, 2\] \(axis 0 must be between 0 and 4, exclusive\)$/);
    expect(() => maxUnpool3d(y, indices, 2, { outputSize: [2, 2] })).toThrow(/^maxUnpool3d: outputSize must have 3 or 5 elements, got \[2, 2\]$/);
    dispose([x, y, indices, u, v]);
  });

  it('stride and padding set the default size: (in − 1)·stride − 2·padding + kernel', async () => {
    // pooled by 3 with stride 2 and padding 1 from 5: output 3; back: (3 − 1)·2 − 2 + 3 = 5
    const x = fromArray(randomArray(5 * 5 * 5, 4), [1, 1, 5, 5, 5], f64);
    const [y, indices] = maxPool3d(x, 3, { stride: 2, padding: 1, returnIndices: true });
    const u = maxUnpool3d(y, indices, 3, { stride: 2, padding: 1 });
    expect(u.shape).toEqual([1, 1, 5, 5, 5]);
    // every nonzero of u is x's value at that voxel (overlapping windows name a voxel with its own value)
    const xv = await values(x), uv = await values(u), at = new Set(await values(indices));
    expect(uv).toEqual(xv.map((v, i) => (at.has(i) ? v : 0)));
    dispose([x, y, indices, u]);
  });

  it('the gradient is the output gradient gathered at the indices (every input naming a voxel gets it, as PyTorch)', async () => {
    const x = fromArray([5, 7, 9], [1, 1, 1, 1, 3], { ...f64, requiresGrad: true });
    const indices = fromArray(Int32Array.from([1, 1, 2]), [1, 1, 1, 1, 3], { backend: cpu });
    const u = maxUnpool3d(x, indices, [1, 1, 2], { stride: 1 });
    expect(await values(u)).toEqual([0, 7, 9, 0]);
    const g = fromArray([10, 20, 30, 40], [1, 1, 1, 1, 4], f64);
    backward(sum(mul(u, g)));
    expect(await values(x.grad!)).toEqual([20, 20, 30]);
    dispose([x, indices, u, g]);
  });

  it('gradcheck (float64 on the cpu) with the indices of a non-overlapping pooling', async () => {
    const x = fromArray(randomArray(2 * 3 * 4 * 5 * 4, 7), [2, 3, 4, 5, 4], f64);
    const [y, indices] = maxPool3d(x, [2, 2, 3], { stride: [2, 3, 3], padding: [1, 1, 1], returnIndices: true });
    const r = await gradcheck((t: Tensor) => maxUnpool3d(t, indices, [2, 2, 3], { stride: [2, 3, 3], padding: [1, 1, 1], outputSize: [4, 5, 4] }),
      [{ data: randomArray(y.numel(), 8), shape: y.shape }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    dispose([x, y, indices]);
  });

  it('WebGPU: the same values and gradient as the cpu', async () => {
    const gpu = await webgpu();
    const shape = [2, 2, 5, 4, 6], xs5 = randomArray(sizeOf(shape), 9);
    const run = async (b: typeof gpu, dtype: 'float32' | 'float64') => {
      const x = fromArray(xs5, shape, { backend: b, dtype, requiresGrad: true });
      const [y, indices] = maxPool3d(x, 3, { stride: 2, padding: 1, returnIndices: true });
      const u = maxUnpool3d(y, indices, 3, { stride: 2, padding: 1, outputSize: shape });
      const g = fromArray(randomArray(u.numel(), 10), u.shape, { backend: b, dtype });
      backward(sum(mul(u, g)));
      const r = { u: await values(u), indices: await values(indices), gx: await values(x.grad!) };
      dispose([x, y, indices, u, g]);
      return r;
    };
    const [c, w] = [await run(cpu, 'float32'), await run(gpu, 'float32')];
    expect(w.indices).toEqual(c.indices);
    expect(w.u).toEqual(c.u);
    expect(w.gx).toEqual(c.gx);
  });

  it('MaxPool3d.forwardWithIndices and MaxUnpool3d, as nn.MaxPool3d(return_indices=True) and nn.MaxUnpool3d', async () => {
    const pool = new MaxPool3d(2), unpool = new MaxUnpool3d(2);
    expect(unpool.extraRepr()).toBe('kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0)');
    const x = fromArray(xs, [1, 1, 2, 2, 4], f64);
    const [y, indices] = pool.forwardWithIndices(x);
    const u = unpool.forward(y, indices), v = unpool.forward(y, indices, [2, 3, 4]);
    expect(await values(u)).toEqual(xs.map((val, i) => (i === 12 || i === 11 ? val : 0)));
    expect(v.shape).toEqual([1, 1, 2, 3, 4]);
    dispose([x, y, indices, u, v]);
  });

  it('refuses what PyTorch refuses', () => {
    const x = fromArray(randomArray(8, 1), [1, 1, 2, 2, 2], f64);
    const idx = fromArray(Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), [1, 1, 2, 2, 2], { backend: cpu });
    expect(() => maxUnpool3d(x, x, 2)).toThrow(/^maxUnpool3d: indices must be int32 \(as maxPool3d's returnIndices\), got float64$/);
    const short = fromArray(Int32Array.from([0, 1, 2, 3]), [1, 1, 1, 2, 2], { backend: cpu });
    expect(() => maxUnpool3d(x, short, 2)).toThrow(/^maxUnpool3d: indices \[1, 1, 1, 2, 2\] must have the input's shape \[1, 1, 2, 2, 2\]$/);
    expect(() => maxUnpool3d(x, idx, 0)).toThrow(/must be ≥ 1, ≥ 1 and ≥ 0$/);
    expect(() => maxPool3d(x, 2, { returnIndices: 'yes' as unknown as true })).toThrow(/^maxPool3d: returnIndices must be a boolean, got yes$/);
    // an index past the output volume (PyTorch: "Found an invalid max index")
    const far = fromArray(Int32Array.from([0, 1, 2, 3, 4, 5, 6, 64]), [1, 1, 2, 2, 2], { backend: cpu });
    expect(() => maxUnpool3d(x, far, 2)).toThrow(/^maxUnpool3d: invalid max index 64 at element 7 of the indices \(output volumes are of size 4×4×4\)$/);
    dispose([x, idx, short, far]);
  });
});
