import { describe, expect, it } from 'vitest';
import { argmax, oneHot, permute, softmax, tanh } from '../../src/autograd/index.js';
import { Activations, AsDiscrete, DiceMetric } from '../../src/imaging.js';
import type { Backend } from '../../src/kernels/index.js';
import { fromArray, memory, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/** MONAI's post transforms `Activations` and `AsDiscrete` on tensors: MONAI's docstring examples, each step, errors. */
const t = (values: ArrayLike<number>, shape: number[], backend: Backend = cpu, dtype: 'float32' | 'int32' = 'float32') => fromArray(values, shape, { backend, dtype });
const values = async (x: Tensor) => Array.from(await x.toArray());

describe('AsDiscrete', () => {
  it("MONAI's docstring examples", async () => {
    const x = t([0, 1, 2, 3], [2, 1, 2]);
    const argmaxed = new AsDiscrete({ argmax: true }).apply(x);
    expect([argmaxed.shape, argmaxed.dtype, await values(argmaxed)]).toEqual([[1, 1, 2], 'float32', [1, 1]]);
    const thresholded = new AsDiscrete({ threshold: 0.6 }).apply(t([0, 0.5, 0.8, 3], [1, 2, 2]));
    expect(await values(thresholded)).toEqual([0, 0, 1, 1]);
    const all = new AsDiscrete({ argmax: true, toOnehot: 2, threshold: 0.5 }).apply(x);
    expect([all.shape, await values(all)]).toEqual([[2, 1, 2], [0, 0, 1, 1]]);
  });

  it('one-hot of a label map [1, X, Y, Z] (float labels truncated as .long()), of a map without its channel axis at dim ≥ rank, rounding half to even', async () => {
    const labels = new AsDiscrete({ toOnehot: 3 }).apply(t([0, 2, 1.7, 2.2], [1, 2, 2]));
    expect([labels.shape, await values(labels)]).toEqual([[3, 2, 2], [1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1]]);
    // dim 2 of a [2, 2] map: a trailing axis of size 1 is added first (MONAI's one_hot)
    const trailing = new AsDiscrete({ toOnehot: 2, dim: 2 }).apply(t([0, 1, 1, 0], [2, 2], cpu, 'int32'));
    expect([trailing.shape, await values(trailing)]).toEqual([[2, 2, 2], [1, 0, 0, 1, 0, 1, 1, 0]]);
    const rounded = new AsDiscrete({ rounding: 'torchrounding', dtype: 'float64' }).apply(t([0.5, 1.5, 2.5, -0.5, 2.6], [5]));
    expect([rounded.dtype, await values(rounded)]).toEqual(['float64', [0, 2, 2, -0, 3]]);
    const asInt = new AsDiscrete({ threshold: 0, dtype: 'int32' }).apply(t([-1, 0, 1], [3]));
    expect([asInt.dtype, await values(asInt)]).toEqual(['int32', [0, 1, 1]]);
  });

  it('a batch with dim 1: the one-hot of the arg-max over the channels, channel-first; call overrides; keepdim false', async () => {
    const [b, c, n] = [2, 3, 4];
    const logits = t(randomArray(b * c * n, 3, -2, 2), [b, c, 2, 2, 1]);
    const post = new AsDiscrete({ argmax: true, toOnehot: c, dim: 1 });
    const y = post.apply(logits);
    const want = tidy(() => permute(oneHot(argmax(logits, 1), c), [0, 4, 1, 2, 3]));
    expect(y.shape).toEqual([b, c, 2, 2, 1]);
    expect(await values(y)).toEqual(await values(want));
    // the call's overrides, MONAI's __call__ arguments: no one-hot this time
    expect((post.apply(logits, { toOnehot: null }).shape)).toEqual([b, c, 2, 2, 1]);
    const classes = new AsDiscrete({ argmax: true, dim: 1, keepdim: false }).apply(logits);
    expect([classes.shape, await values(classes)]).toEqual([[b, 2, 2, 1], await values(argmax(logits, 1))]);
  });

  it('leaves no tensor behind but its result, and the input untouched', async () => {
    const x = t([0.2, 0.9, 0.8, 0.1], [2, 2]);
    const before = memory().liveTensors;
    const y = new AsDiscrete({ argmax: true, toOnehot: 2, threshold: 0.5, rounding: 'torchrounding' }).apply(x);
    expect(memory().liveTensors).toBe(before + 1);
    expect(await values(x)).toEqual([0.2, 0.9, 0.8, 0.1].map(Math.fround));
    y.dispose();
  });

  it('names bad options and inputs', () => {
    expect(() => new AsDiscrete({ toOnehot: true as never })).toThrow(/^AsDiscrete: toOnehot true\/false is MONAI's old form; give the number of classes$/);
    expect(() => new AsDiscrete({ toOnehot: 0 })).toThrow(/^AsDiscrete: toOnehot must be the number of classes \(a positive integer\), got 0$/);
    expect(() => new AsDiscrete({ rounding: 'floor' as never })).toThrow(/^AsDiscrete: rounding must be 'torchrounding' \(MONAI's only option\), got "floor"$/);
    expect(() => new AsDiscrete({ dtype: 'uint8' as never })).toThrow(/^AsDiscrete: dtype must be 'float32', 'float64' or 'int32', got "uint8"$/);
    expect(() => new AsDiscrete({ threshold: '0.5' as never })).toThrow(/^AsDiscrete: threshold must be a number, got string$/);
    const x = t([0, 1, 2, 3], [2, 2]);
    expect(() => new AsDiscrete({ argmax: true, dim: 2 }).apply(x)).toThrow(/^AsDiscrete: dim 2 is not an axis of \[2, 2\]$/);
    expect(() => new AsDiscrete({ toOnehot: 4 }).apply(x)).toThrow(/^AsDiscrete: the labels \[2, 2\] must have size 1 at dim 0 for the one-hot/);
    expect(() => new AsDiscrete({ toOnehot: 4, dim: -1 }).apply(x)).toThrow(/^AsDiscrete: dim must be a non-negative axis for the one-hot \(MONAI's rule\), got -1$/);
    expect(() => new AsDiscrete().apply(x, { toOnehot: 1.5 })).toThrow(/^AsDiscrete: toOnehot must be the number of classes/);
    expect(() => new AsDiscrete().apply([1, 2] as never)).toThrow(/^AsDiscrete: expected a tensor, got object$/);
    expect(() => new AsDiscrete({ toOnehot: 2 }).apply(t([0, 2], [1, 2]))).toThrow(/oneHot/);
  });
});

describe('Activations', () => {
  it('sigmoid, softmax over dim (0 by default, 1 for a batch) and other, on a float copy of int32 input', async () => {
    const x = t([-1, 0, 2, 0.5, 1, -3], [2, 3]);
    expectClose(await values(new Activations({ sigmoid: true }).apply(x)), [-1, 0, 2, 0.5, 1, -3].map((v) => 1 / (1 + Math.exp(-v))), 1e-7, 1e-6, 'sigmoid');
    expect(await values(new Activations({ softmax: true }).apply(x))).toEqual(await values(softmax(x, 0)));
    expect(await values(new Activations({ softmax: true, dim: 1 }).apply(x))).toEqual(await values(softmax(x, 1)));
    expect(await values(new Activations({ softmax: true, other: tanh }).apply(x))).toEqual(await values(tanh(softmax(x, 0))));
    const fromInt = new Activations({ sigmoid: true }).apply(t([0, 1], [2], cpu, 'int32'));
    expect(fromInt.dtype).toBe('float32');
    expect(await values(fromInt)).toEqual([0.5, Math.fround(1 / (1 + Math.exp(-1)))]);
    const untouched = new Activations().apply(x);
    expect(await values(untouched)).toEqual(await values(x));
    expect(await values(new Activations({ sigmoid: true }).apply(x, { sigmoid: false, softmax: true }))).toEqual(await values(softmax(x, 0)));
  });

  it('names bad options and inputs', () => {
    const x = t([1, 2], [2]);
    expect(() => new Activations({ sigmoid: true, softmax: true }).apply(x)).toThrow(/^Activations: sigmoid and softmax together are incompatible$/);
    expect(() => new Activations({ other: 'tanh' as never })).toThrow(/^Activations: other must be a function or null, got string$/);
    expect(() => new Activations({ softmax: true, dim: 1 }).apply(x)).toThrow(/^Activations: dim 1 is not an axis of \[2\]$/);
    expect(() => new Activations().apply(null as never)).toThrow(/^Activations: expected a tensor, got null$/);
  });
});

describe('post transforms on WebGPU into callBatch', () => {
  it('softmax → arg-max → one-hot on the GPU give the cpu result, and DiceMetric.callBatch scores them', async () => {
    const g = await webgpu();
    const [b, c] = [2, 3];
    const data = randomArray(b * c * 8, 11, -2, 2), labels = Array.from({ length: b * 8 }, (_, i) => (i * 7) % c);
    const run = async (backend: Backend) => {
      const probabilities = new Activations({ softmax: true, dim: 1 }).apply(t(data, [b, c, 2, 2, 2], backend));
      const predicted = new AsDiscrete({ argmax: true, toOnehot: c, dim: 1 }).apply(probabilities);
      const truth = new AsDiscrete({ toOnehot: c, dim: 1 }).apply(t(labels, [b, 1, 2, 2, 2], backend, 'int32'));
      const metric = new DiceMetric({ numClasses: c });
      return { predicted: await values(predicted), rows: await metric.callBatch(predicted, truth) };
    };
    const [onGpu, onCpu] = [await run(g), await run(cpu)];
    expect(onGpu).toEqual(onCpu);
    expect(onCpu.rows.length).toBe(b);
  });
});
