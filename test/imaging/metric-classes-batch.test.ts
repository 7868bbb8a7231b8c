import { describe, expect, it } from 'vitest';
import {
  AsDiscrete, ConfusionMatrixMetric, DiceMetric, GeneralizedDiceScore, HausdorffDistanceMetric, MeanIoU, ROCAUCMetric, SurfaceDiceMetric,
} from '../../src/imaging.js';
import { argmax } from '../../src/autograd/index.js';
import { fromArray, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * `callBatch`: MONAI's `metric(y_pred, y)` on [B, C, X, Y, Z] tensors, the same rows as `callChannels` (or `call`)
 * case by case, from either backend; values other than 0/1 and wrong shapes are refused, and a refused batch adds
 * no case.
 */
const B = 3, C = 3, X = 4, Y = 3, Z = 5, N = X * Y * Z;

/** B one-hot cases of C classes from class-index maps made by a fixed rule (each case different) */
function oneHotCases(shift: number): Float32Array {
  const out = new Float32Array(B * C * N);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < N; i++) out[(b * C + ((i * 7 + b * 5 + shift) % 11) % C) * N + i] = 1;
  }
  return out;
}
const predData = oneHotCases(0), gtData = oneHotCases(2);

describe('callBatch', () => {
  it('gives the rows of callChannels, case by case, for every metric class', async () => {
    const makers = [
      () => new DiceMetric({ numClasses: C }), () => new HausdorffDistanceMetric({ numClasses: C, percentile: null }),
      () => new MeanIoU({ numClasses: C }), () => new GeneralizedDiceScore({ numClasses: C }),
      () => new ConfusionMatrixMetric({ numClasses: C, metricName: ['sensitivity', 'f1 score'] }),
      () => new SurfaceDiceMetric({ numClasses: C, classThresholds: [1, 1.5], distanceMetric: 'chessboard' }),
    ];
    const yPred = fromArray(predData, [B, C, X, Y, Z], { backend: cpu }), y = fromArray(gtData, [B, C, X, Y, Z], { backend: cpu });
    for (const make of makers) {
      const batched = make(), single = make();
      const rows = await batched.callBatch(yPred, y);
      const expected = Array.from({ length: B }, (_, b) => single.callChannels(
        Uint8Array.from(predData.subarray(b * C * N, (b + 1) * C * N)), Uint8Array.from(gtData.subarray(b * C * N, (b + 1) * C * N)), [C, X, Y, Z]));
      expect(rows, batched.constructor.name).toEqual(expected);
      expect(batched.buffer()).toEqual(single.buffer());
      expect(rows.length).toBe(B);
    }
    yPred.dispose();
    y.dispose();
  });

  it('a metric of binary masks takes C = 1 and passes the spacing on', async () => {
    const pred = predData.subarray(0, B * N), gt = gtData.subarray(0, B * N); // channel 0 of the layout as B binary cases
    const yPred = fromArray(pred, [B, 1, X, Y, Z], { backend: cpu }), y = fromArray(gt, [B, 1, X, Y, Z], { backend: cpu });
    const batched = new HausdorffDistanceMetric(), single = new HausdorffDistanceMetric();
    const rows = await batched.callBatch(yPred, y, [1, 2, 0.5]);
    const expected = Array.from({ length: B }, (_, b) => [single.call(
      Uint8Array.from(pred.subarray(b * N, (b + 1) * N)), Uint8Array.from(gt.subarray(b * N, (b + 1) * N)), [X, Y, Z], [1, 2, 0.5])]);
    expect(rows).toEqual(expected);
    expect(batched.aggregate()).toBe(single.aggregate());
  });

  it('reads WebGPU tensors back (int32 too)', async () => {
    const backend = await webgpu();
    const yPred = fromArray(predData, [B, C, X, Y, Z], { backend }), y = fromArray(Int32Array.from(gtData), [B, C, X, Y, Z], { backend });
    const onGpu = await new DiceMetric({ numClasses: C }).callBatch(yPred, y);
    const onCpu = await new DiceMetric({ numClasses: C }).callBatch(fromArray(predData, [B, C, X, Y, Z], { backend: cpu }), fromArray(Int32Array.from(gtData), [B, C, X, Y, Z], { backend: cpu }));
    expect(onGpu).toEqual(onCpu);
    yPred.dispose();
    y.dispose();
  });

  it('refuses values other than 0 and 1 (naming where), shapes that do not fit, and non-tensors; the buffer is unchanged', async () => {
    const metric = new DiceMetric({ numClasses: C });
    const y = fromArray(gtData, [B, C, X, Y, Z], { backend: cpu });
    const soft = Float32Array.from(predData);
    soft[(1 * C + 2) * N + (2 * Y + 1) * Z + 3] = 0.75;
    await expect(metric.callBatch(fromArray(soft, [B, C, X, Y, Z], { backend: cpu }), y))
      .rejects.toThrow(/^DiceMetric\.callBatch: yPred holds 0\.75 at \[1, 2, 2, 1, 3\]; binarize first \(a threshold, or argmax and one-hot\)$/);
    const other = Float32Array.from(predData);
    other[(2 * C + 0) * N + (3 * Y + 2) * Z + 4] = 2;
    await expect(metric.callBatch(fromArray(other, [B, C, X, Y, Z], { backend: cpu }), y)).rejects.toThrow(/yPred holds 2 at \[2, 0, 3, 2, 4\]/);
    const flat = fromArray(gtData.subarray(0, B * C * X * Y), [B, C, X, Y], { backend: cpu });
    await expect(metric.callBatch(flat, flat)).rejects.toThrow(/^DiceMetric\.callBatch: yPred \[3, 3, 4, 3\] and y \[3, 3, 4, 3\] must both be \[B, C, X, Y, Z\]/);
    soft[(1 * C + 2) * N + (2 * Y + 1) * Z + 3] = NaN;
    await expect(metric.callBatch(fromArray(soft, [B, C, X, Y, Z], { backend: cpu }), y)).rejects.toThrow(/yPred holds NaN at \[1, 2, 2, 1, 3\]/);
    await expect(metric.callBatch(fromArray(predData.subarray(0, 2 * C * N), [2, C, X, Y, Z], { backend: cpu }), y))
      .rejects.toThrow(/^DiceMetric\.callBatch: yPred \[2, 3, 4, 3, 5\] and y \[3, 3, 4, 3, 5\] must both be \[B, C, X, Y, Z\] with C = numClasses 3$/);
    await expect(new DiceMetric().callBatch(y, y)).rejects.toThrow(/must both be \[B, C, X, Y, Z\] with C = 1 \(binary masks; numClasses for more channels\)$/);
    await expect(metric.callBatch(predData as unknown as Tensor, y)).rejects.toThrow(/^DiceMetric\.callBatch: yPred and y must be tensors \[B, C, X, Y, Z\]$/);
    expect(metric.buffer()).toEqual([]);
  });

  it('a case that fails part-way through the batch takes the cases before it back out', async () => {
    class FailsOnSecondCase extends DiceMetric<'mean', false> {
      cases = 0;
      protected override compute(pred: Uint8Array, gt: Uint8Array): number {
        if (this.cases++ === C) throw new Error('the second case fails');
        return super.compute(pred, gt);
      }
    }
    const metric = new FailsOnSecondCase({ numClasses: C });
    const yPred = fromArray(predData, [B, C, X, Y, Z], { backend: cpu }), y = fromArray(gtData, [B, C, X, Y, Z], { backend: cpu });
    await expect(metric.callBatch(yPred, y)).rejects.toThrow(/^the second case fails$/);
    expect(metric.buffer()).toEqual([]);
  });
});

describe('ROCAUCMetric.callBatch', () => {
  const scores = [[0.1, 0.7, 0.2], [0.8, 0.1, 0.1], [0.3, 0.3, 0.4], [0.2, 0.5, 0.3]];
  const labels = [[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1]];

  it('adds [B, C] and [B] tensors as call adds the arrays', async () => {
    const batched = new ROCAUCMetric({ average: 'none' }), arrays = new ROCAUCMetric({ average: 'none' });
    await batched.callBatch(fromArray(scores.flat(), [4, 3], { backend: cpu }), fromArray(labels.flat(), [4, 3], { backend: cpu }));
    arrays.call(scores.map((row) => row.map(Math.fround)), labels); // the tensor holds float32 scores
    expect(batched.buffer()).toEqual(arrays.buffer());
    expect(batched.aggregate()).toEqual(arrays.aggregate());
    const binary = new ROCAUCMetric();
    await binary.callBatch(fromArray([0.9, 0.2, 0.6], [3], { backend: cpu }), fromArray(Int32Array.from([1, 0, 0]), [3], { backend: cpu }));
    expect(binary.buffer()).toEqual({ yPred: [0.9, 0.2, 0.6].map(Math.fround), y: [1, 0, 0] });
    expect(binary.aggregate()).toBe(1);
  });

  it('reads scores back from WebGPU', async () => {
    const backend = await webgpu();
    const fromGpu = new ROCAUCMetric({ average: 'none' }), fromCpu = new ROCAUCMetric({ average: 'none' });
    await fromGpu.callBatch(fromArray(scores.flat(), [4, 3], { backend }), fromArray(labels.flat(), [4, 3], { backend }));
    await fromCpu.callBatch(fromArray(scores.flat(), [4, 3], { backend: cpu }), fromArray(labels.flat(), [4, 3], { backend: cpu }));
    expect(fromGpu.buffer()).toEqual(fromCpu.buffer());
  });

  it('refuses non-tensors, 3-D tensors and mismatched shapes, naming them', async () => {
    const metric = new ROCAUCMetric();
    const t = fromArray([0.5, 0.5], [2], { backend: cpu });
    await expect(metric.callBatch([0.5, 0.5] as unknown as Tensor, t)).rejects.toThrow(/^ROCAUCMetric\.callBatch: yPred and y must be tensors \[B\] or \[B, C\]$/);
    await expect(metric.callBatch(fromArray([1, 0], [1, 1, 2], { backend: cpu }), t)).rejects.toThrow(/^ROCAUCMetric\.callBatch: yPred \[1, 1, 2\] must be \[B\] or \[B, C\]$/);
    await expect(metric.callBatch(fromArray([1, 0, 1], [3], { backend: cpu }), t)).rejects.toThrow(/^ROCAUCMetric\.call: yPred \[3\] and y \[2\] must have the same shape/);
    expect(metric.buffer()).toEqual({ yPred: [], y: [] });
  });
});

describe("the README's callBatch example", () => {
  it('AsDiscrete of logits and int32 labels [B, 1, X, Y, Z] into callBatch score as callClasses scores the class maps', async () => {
    const b = 2, x = 3, y = 4, z = 2, n = x * y * z;
    const logits = fromArray(randomArray(b * 3 * n, 4, -1, 1), [b, 3, x, y, z], { backend: cpu });
    const labels = fromArray(Int32Array.from({ length: b * n }, (_, i) => (i * 5) % 3), [b, 1, x, y, z], { dtype: 'int32', backend: cpu });
    const dice = new DiceMetric({ numClasses: 3, includeBackground: false });
    const postPred = new AsDiscrete({ argmax: true, toOnehot: 3, dim: 1 });
    const postLabel = new AsDiscrete({ toOnehot: 3, dim: 1 });
    const rows = await dice.callBatch(postPred.apply(logits), postLabel.apply(labels));
    const classes = await argmax(logits, 1).toArray(), truth = await labels.toArray();
    const byMaps = new DiceMetric({ numClasses: 3, includeBackground: false });
    const expected = [0, 1].map((i) => byMaps.callClasses(Uint8Array.from(classes.subarray(i * n, (i + 1) * n)), Uint8Array.from(truth.subarray(i * n, (i + 1) * n)), [x, y, z]));
    expect(rows).toEqual(expected);
    expect(dice.aggregate()).toBe(byMaps.aggregate());
  });
});
