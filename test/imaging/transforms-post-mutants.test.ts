import { describe, expect, it } from 'vitest';
import { softmax } from '../../src/autograd/index.js';
import { Activations, AsDiscrete, KeepLargestConnectedComponent } from '../../src/imaging.js';
import { fromArray, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/** The post transforms' edges on the cpu (the mutation runs skip the WebGPU tests): axes, dtypes, defaults, one-hot. */
const t = (values: number[], shape: number[], dtype: 'float32' | 'float64' | 'int32' = 'float32') => fromArray(values, shape, { backend: cpu, dtype });
const values = async (x: Tensor) => Array.from(await x.toArray());

describe('Activations and AsDiscrete: axes and dtypes', () => {
  it('a negative dim counts from the end, down to −rank; beyond it or fractional is refused', async () => {
    const x = t([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(await values(new Activations({ softmax: true, dim: -1 }).apply(x))).toEqual(await values(softmax(x, 1)));
    expect(await values(new Activations({ softmax: true, dim: -2 }).apply(x))).toEqual(await values(softmax(x, 0)));
    expect(() => new Activations({ softmax: true, dim: -3 }).apply(x)).toThrow(/^Activations: dim -3 is not an axis of \[2, 3\]$/);
    expect(() => new AsDiscrete({ argmax: true, dim: 0.5 }).apply(x)).toThrow(/^AsDiscrete: dim 0.5 is not an axis of \[2, 3\]$/);
    expect(await values(new AsDiscrete({ argmax: true, dim: -1, keepdim: false }).apply(t([0, 5, 1, 7, 2, 3], [2, 3])))).toEqual([1, 0]);
  });

  it('keeps float64, casts only int32; with nothing to do returns a new tensor of the same values', async () => {
    const x = t([-1, 2], [2], 'float64');
    const y = new Activations({ sigmoid: true }).apply(x);
    expect(y.dtype).toBe('float64');
    expect(await values(y)).toEqual([1 / (1 + Math.exp(1)), 1 / (1 + Math.exp(-2))]);
    const same = new Activations().apply(x);
    expect(same).not.toBe(x);
    same.dispose();
    expect(await values(x)).toEqual([-1, 2]);
    expect(() => new Activations().apply(x, { other: 'tanh' as never })).toThrow(/^Activations: other must be a function or null, got string$/);
  });

  it('no rounding unless asked (in the constructor or the call); one class is a valid one-hot', async () => {
    expect(await values(new AsDiscrete().apply(t([0.4, 1.6], [2])))).toEqual([0.4, 1.6].map(Math.fround));
    expect(await values(new AsDiscrete().apply(t([0.4, 1.6], [2]), { rounding: 'torchrounding' }))).toEqual([0, 2]);
    expect(await values(new AsDiscrete({ rounding: 'torchrounding' }).apply(t([0.4, 1.6], [2]), {}))).toEqual([0, 2]);
    expect(await values(new AsDiscrete({ toOnehot: 1 }).apply(t([0, 0], [1, 2])))).toEqual([1, 1]);
  });
});

describe('KeepLargestConnectedComponent on the cpu', () => {
  // [C, 2, 3, 2]: a class map with label 1 in two 6-connected pieces (3 voxels at y = 2, 2 at x = y = 0) and label 2 in one
  const map = [1, 1, 0, 2, 1, 1, 0, 0, 0, 2, 0, 1];
  const run = async (data: number[], shape: number[], options = {}, dtype: 'float32' | 'float64' | 'int32' = 'float32') => {
    const out = await new KeepLargestConnectedComponent(options).apply(t(data, shape, dtype));
    return { dtype: out.dtype, values: await values(out) };
  };

  it('a class map with Z > 1: the smaller piece of label 1 goes; int32 and float64 come back in their dtype', async () => {
    expect(await run(map, [1, 2, 3, 2], { connectivity: 1 }, 'int32')).toEqual({ dtype: 'int32', values: [0, 0, 0, 2, 1, 1, 0, 0, 0, 2, 0, 1] });
    expect((await run(map, [1, 2, 3, 2], { connectivity: 1 }, 'float64')).dtype).toBe('float64');
  });

  it('one-hot channels on the cpu (inferred labels, given labels, the union), Z > 1', async () => {
    const onehot = [0, 1, 2].flatMap((c) => map.map((v) => (v === c ? 1 : 0)));
    const byMap = (await run(map, [1, 2, 3, 2], { connectivity: 1 })).values;
    const want = [0, 1, 2].flatMap((c) => (c === 0 ? onehot.slice(0, 12) : byMap.map((v) => (v === c ? 1 : 0))));
    expect((await run(onehot, [3, 2, 3, 2], { connectivity: 1 })).values).toEqual(want);
    expect((await run(onehot, [3, 2, 3, 2], { connectivity: 1, appliedLabels: [1, 2] })).values).toEqual(want);
    // the union of 1 and 2 joins the pieces of label 1 through label 2's voxels: nothing goes
    const union = (await run(onehot, [3, 2, 3, 2], { connectivity: 1, independent: false })).values;
    const unionMap = (await run(map, [1, 2, 3, 2], { connectivity: 1, independent: false })).values;
    expect(union.slice(12)).toEqual([1, 2].flatMap((c) => unionMap.map((v) => (v === c ? 1 : 0))));
    expect((await run(onehot, [3, 2, 3, 2], { appliedLabels: [0] })).values.slice(12)).toEqual(onehot.slice(12)); // channel 0 is a valid label
    // a union that loses a voxel: labels 1, 2 side by side, a lone 1 at the end; only channel 1's lone voxel goes
    const lone = [1, 2, 0, 0, 0, 1];
    const loneHot = [0, 1, 2].flatMap((c) => lone.map((v) => (v === c ? 1 : 0)));
    expect((await run(loneHot, [3, 1, 6, 1], { independent: false })).values).toEqual([0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect((await run(lone, [1, 1, 6, 1], { independent: false })).values).toEqual([1, 2, 0, 0, 0, 0]);
  });

  it('the defaults: independent, 26-connected, isOnehot by the channel count (one channel given as one-hot is background)', async () => {
    const image = [0, 0, 1, 0, 0, 0, 2, 1, 1, 1, 1, 2, 1, 0, 0, 1, 2, 0, 1, 0, 2, 2, 0, 0, 2];
    const shape = [1, 5, 5, 1];
    expect((await run(image, shape)).values).toEqual((await run(image, shape, { independent: true, connectivity: 3 })).values);
    expect((await run(image, shape, { connectivity: 1 })).values).not.toEqual((await run(image, shape, { connectivity: 1, independent: false })).values);
    expect((await run([1, 0, 1, 1], [1, 4, 1, 1], { isOnehot: true })).values).toEqual([1, 0, 1, 1]);
    expect((await run([1, 0, 1, 1], [1, 4, 1, 1])).values).toEqual([0, 0, 1, 1]);
  });

  it('refuses one-hot labels that are not channels, a label that is not a number among numbers, and 0 components', async () => {
    const two = t([1, 0, 0, 1], [2, 2, 1, 1]);
    for (const label of [-1, 1.5, 2]) {
      await expect(new KeepLargestConnectedComponent({ appliedLabels: [label] }).apply(two)).rejects.toThrow(new RegExp(`^KeepLargestConnectedComponent: appliedLabels ${label} is not a channel`));
    }
    expect((await new KeepLargestConnectedComponent({ appliedLabels: [1] }).apply(two)).shape).toEqual([2, 2, 1, 1]);
    expect(() => new KeepLargestConnectedComponent({ appliedLabels: [1, NaN] })).toThrow(/^KeepLargestConnectedComponent: appliedLabels must be numbers, got \[1,null\]$/);
    expect(() => new KeepLargestConnectedComponent({ numComponents: 0 })).toThrow(/^KeepLargestConnectedComponent: numComponents must be a positive integer, got 0$/);
  });
});
