import { describe, expect, it } from 'vitest';
import { backward, gradcheck, sum } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { diceCeLoss, multiClassDiceLoss, type Reduction } from '../../src/models/losses.js';
import { dispose, fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu, valuesOf as value } from '../helpers/backends.js';

/**
 * MONAI ≥ 1.3's `weight` of DiceLoss and DiceCELoss: multiClassDiceLoss's per-class weight and diceCeLoss's weight
 * of both terms, against the formulas written out here with plain arithmetic, against golden numbers (the review's
 * example, and numpy's float64 values of it), through gradcheck (float64 on the cpu) and on WebGPU.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const i32 = { backend: cpu, dtype: 'int32' as const };
const sumOf = (v: number[]) => v.reduce((a, b) => a + b, 0);


/** MONAI's Dice loss from logits (softmax, one-hot labels) per sample and class in the loss, times the class weights. */
function weightedDice(logits: number[], shape: number[], labels: number[], includeBackground: boolean, weight: number[]): number[] {
  const [n, c] = shape, s = sizeOf(shape.slice(2)), first = includeBackground ? 0 : 1;
  const losses: number[] = [];
  for (let b = 0; b < n; b++) {
    for (let k = first; k < c; k++) {
      let pg = 0, p = 0, g = 0;
      for (let v = 0; v < s; v++) {
        const e = Array.from({ length: c }, (_, j) => Math.exp(logits[(b * c + j) * s + v]));
        const pk = e[k] / sumOf(e), gk = labels[b * s + v] === k ? 1 : 0;
        pg += pk * gk; p += pk; g += gk;
      }
      losses.push((1 - (2 * pg + 1e-5) / (p + g + 1e-5)) * weight[k - first]);
    }
  }
  return losses;
}

/** PyTorch's cross entropy with class indices and a class weight, 'mean': Σ −w[t]·log softmax[t] / Σ w[t]. */
function weightedCrossEntropy(logits: number[], shape: number[], labels: number[], weight: number[]): number {
  const [n, c] = shape, s = sizeOf(shape.slice(2));
  let total = 0, weights = 0;
  for (let b = 0; b < n; b++) {
    for (let v = 0; v < s; v++) {
      const z = Array.from({ length: c }, (_, j) => logits[(b * c + j) * s + v]);
      const t = labels[b * s + v], w = weight[t];
      total -= w * (z[t] - Math.log(sumOf(z.map(Math.exp))));
      weights += w;
    }
  }
  return total / weights;
}

function reduced(losses: number[], reduction: Reduction): number[] {
  return reduction === 'none' ? losses : reduction === 'sum' ? [sumOf(losses)] : [sumOf(losses) / losses.length];
}

// the review's example: one sample, three classes, four voxels
const exampleLogits = [0.3, -1.2, 0.8, 2.0, 0.1, 0.5, -0.7, 1.1, -0.4, 0.9, 0.2, -1.5];
const exampleLabels = [0, 2, 1, 2];
const exampleWeight = [0.2, 1, 3];

describe('multiClassDiceLoss weight (MONAI ≥ 1.3 DiceLoss(weight=...))', () => {
  const shape = [2, 3, 2, 3, 2];
  const logits = Array.from(randomArray(sizeOf(shape), 21, -2, 2));
  const labels = Array.from(randomArray(2 * 12, 22, 0, 3), (v) => Math.floor(v));

  it('each class loss times its weight, then the reduction; without the background the weight has C − 1 values', async () => {
    const x = fromArray(logits, shape, f64), t = fromArray(labels, [2, 1, 2, 3, 2], i32);
    for (const [includeBackground, weight] of [[true, [0.2, 1, 3]], [false, [1, 3]]] as const) {
      for (const reduction of ['none', 'mean', 'sum'] as Reduction[]) {
        const expected = reduced(weightedDice(logits, shape, labels, includeBackground, [...weight]), reduction);
        const y = multiClassDiceLoss(x, t, { softmax: true, toOnehotY: true, includeBackground, reduction, weight });
        if (reduction === 'none') expect(y.shape).toEqual([2, includeBackground ? 3 : 2]);
        expectClose(await value(y), expected, 1e-14, 1e-13, `includeBackground ${includeBackground} ${reduction}`);
      }
    }
    // the weights change the value: unweighted is the weight of ones
    const ones = reduced(weightedDice(logits, shape, labels, true, [1, 1, 1]), 'mean');
    expectClose(await value(multiClassDiceLoss(x, t, { softmax: true, toOnehotY: true })), ones, 1e-14, 1e-13, 'unweighted');
    expect(Math.abs(ones[0] - reduced(weightedDice(logits, shape, labels, true, [0.2, 1, 3]), 'mean')[0])).toBeGreaterThan(0.1);
    dispose([x, t]);
  });

  it('the review example (numpy float64): mean 0.96677697950… with the background, 1.38145680826… without', async () => {
    const x = fromArray(exampleLogits, [1, 3, 4, 1, 1], f64), t = fromArray(exampleLabels, [1, 1, 4, 1, 1], i32);
    expectClose(await value(multiClassDiceLoss(x, t, { softmax: true, toOnehotY: true, weight: exampleWeight })), [0.9667769795052078], 1e-13, 0, 'with background');
    expectClose(await value(multiClassDiceLoss(x, t, { softmax: true, toOnehotY: true, includeBackground: false, weight: [1, 3] })), [1.381456808264059], 1e-13, 0, 'without');
    dispose([x, t]);
  });

  it('errors name the op, the operand and the classes', () => {
    const x = fromArray(exampleLogits, [1, 3, 4, 1, 1], f64), t = fromArray(exampleLabels, [1, 1, 4, 1, 1], i32);
    const o = { softmax: true, toOnehotY: true };
    expect(() => multiClassDiceLoss(x, t, { ...o, weight: [1, 2] })).toThrow('multiClassDiceLoss: weight has 2 values, must have 3 (one per class of input [1, 3, 4, 1, 1])');
    expect(() => multiClassDiceLoss(x, t, { ...o, includeBackground: false, weight: exampleWeight }))
      .toThrow('multiClassDiceLoss: weight has 3 values, must have 2 (one per class of input [1, 3, 4, 1, 1] but the background (includeBackground is false))');
    expect(() => multiClassDiceLoss(x, t, { ...o, weight: [1, -0.5, 1] })).toThrow('multiClassDiceLoss: weight[1] must be finite and ≥ 0, got -0.5');
    expect(() => multiClassDiceLoss(x, t, { ...o, weight: [1, 1, NaN] })).toThrow('multiClassDiceLoss: weight[2] must be finite and ≥ 0, got NaN');
    expect(() => multiClassDiceLoss(x, t, { ...o, weight: [Infinity, 1, 1] })).toThrow('multiClassDiceLoss: weight[0] must be finite and ≥ 0, got Infinity');
    const two = fromArray([0.5, -0.5, 1, 0], [1, 2, 2], f64), g = fromArray([0, 1, 1, 0], [1, 2, 2], f64);
    expect(() => multiClassDiceLoss(two, g, { includeBackground: false, weight: [2] }))
      .toThrow('multiClassDiceLoss: weight needs two or more classes in the loss, got one (class of input [1, 2, 2] but the background (includeBackground is false)); MONAI ignores it there');
    dispose([x, t, two, g]);
  });

  it('gradcheck of the weighted loss (float64, cpu): each reduction, with and without the background, and batch', async () => {
    const t = fromArray([0, 1, 2, 2, 1, 0, 0, 2], [2, 1, 4], i32);
    const input = { data: randomArray(24, 23, -1, 1), shape: [2, 3, 4] };
    const cases: [string, (x: Tensor) => Tensor][] = [
      ...(['none', 'mean', 'sum'] as Reduction[]).map((reduction): [string, (x: Tensor) => Tensor] =>
        [reduction, (x) => multiClassDiceLoss(x, t, { softmax: true, toOnehotY: true, reduction, weight: [0.2, 1, 3] })]),
      ['no background, squared, batch', (x) => multiClassDiceLoss(x, t, { softmax: true, toOnehotY: true, includeBackground: false, squaredPred: true, batch: true, weight: [0.5, 2] })],
    ];
    for (const [what, fn] of cases) {
      const r = await gradcheck(fn, [input], { backend: cpu });
      expect(r.ok, `${what}: ${r.message}`).toBe(true);
    }
    t.dispose();
  });
});

describe('diceCeLoss weight (MONAI ≥ 1.3 DiceCELoss(weight=...)): both terms', () => {
  const x = () => fromArray(exampleLogits, [1, 3, 4, 1, 1], f64);
  const t = () => fromArray(exampleLabels, [1, 1, 4, 1, 1], i32);
  const o = { toOnehotY: true, softmax: true };

  it('the review example: MONAI ≥ 1.3 3.1304531 / 3.5451330, ceWeight only (pre-1.3) 2.8957205 / 2.9181993', async () => {
    const logits = x(), target = t(), ceWeight = fromArray(exampleWeight, [3], f64);
    const got = [
      await value(diceCeLoss(logits, target, { ...o, weight: exampleWeight })),
      await value(diceCeLoss(logits, target, { ...o, includeBackground: false, weight: exampleWeight })),
      await value(diceCeLoss(logits, target, { ...o, ceWeight })),
      await value(diceCeLoss(logits, target, { ...o, includeBackground: false, ceWeight })),
    ].flat();
    // the review's numbers, 8 digits (the pre-1.3 ones as float32 gives them: 1.2e-7 off the float64 values)
    expectClose(got, [3.1304531, 3.5451330, 2.8957205, 2.9181993], 2e-7, 0, 'review');
    // numpy's float64 values of the same formulas
    expectClose(got, [3.130453125509904, 3.5451329542687553, 2.8957203791817547, 2.918199190801521], 1e-13, 0, 'numpy float64');
    dispose([logits, target, ceWeight]);
  });

  it('random logits: λ_dice·(weighted Dice) + λ_ce·(weighted CE), mean and sum', async () => {
    const shape = [2, 3, 2, 3, 2];
    const logits = Array.from(randomArray(sizeOf(shape), 24, -2, 2));
    const labels = Array.from(randomArray(2 * 12, 25, 0, 3), (v) => Math.floor(v));
    const xs = fromArray(logits, shape, f64), ts = fromArray(labels, [2, 1, 2, 3, 2], i32);
    const weight = [0.5, 2, 1.5];
    const ce = weightedCrossEntropy(logits, shape, labels, weight);
    for (const includeBackground of [true, false]) {
      const dice = weightedDice(logits, shape, labels, includeBackground, weight.slice(includeBackground ? 0 : 1));
      expectClose(await value(diceCeLoss(xs, ts, { ...o, includeBackground, weight, lambdaDice: 0.3, lambdaCe: 2 })),
        [0.3 * reduced(dice, 'mean')[0] + 2 * ce], 1e-14, 1e-13, `mean, includeBackground ${includeBackground}`);
    }
    // 'sum' sums the Dice losses, and CrossEntropyLoss(weight, reduction='sum') is Σ −w[t]·log softmax[t]
    const ceSum = ce * sumOf(labels.map((k) => weight[k]));
    expectClose(await value(diceCeLoss(xs, ts, { ...o, reduction: 'sum', weight })),
      [reduced(weightedDice(logits, shape, labels, true, weight), 'sum')[0] + ceSum], 1e-14, 1e-13, 'sum');
    dispose([xs, ts]);
  });

  it('fewer than two classes in the Dice term: MONAI weights the cross entropy only', async () => {
    // two channels without the background; one channel (BCE's posWeight)
    const two = fromArray([0.5, -0.5, 1, 0, 0.2, 0.7], [1, 2, 3], f64), labels = fromArray([0, 1, 1], [1, 1, 3], i32);
    const w2 = fromArray([0.4, 2.5], [2], f64);
    expectClose(await value(diceCeLoss(two, labels, { ...o, includeBackground: false, weight: [0.4, 2.5] })),
      await value(diceCeLoss(two, labels, { ...o, includeBackground: false, ceWeight: w2 })), 1e-15, 0, 'two channels');
    const one = fromArray([0.5, -1, 2], [1, 1, 3], f64), g = fromArray([1, 0, 1], [1, 1, 3], f64), w1 = fromArray([3], [1], f64);
    expectClose(await value(diceCeLoss(one, g, { sigmoid: true, weight: [3] })), await value(diceCeLoss(one, g, { sigmoid: true, ceWeight: w1 })), 1e-15, 0, 'one channel');
    dispose([two, labels, w2, one, g, w1]);
  });

  it('errors: weight and ceWeight together, the weight per channel (the background included)', () => {
    const logits = x(), target = t(), ceWeight = fromArray(exampleWeight, [3], f64);
    expect(() => diceCeLoss(logits, target, { ...o, weight: exampleWeight, ceWeight }))
      .toThrow("diceCeLoss: give weight (both terms, MONAI ≥ 1.3) or ceWeight (the cross entropy only, MONAI's ce_weight before 1.3), not both");
    expect(() => diceCeLoss(logits, target, { ...o, includeBackground: false, weight: [1, 3] }))
      .toThrow('diceCeLoss: weight has 2 values, must have 3 (one per channel of input [1, 3, 4, 1, 1])');
    expect(() => diceCeLoss(logits, target, { ...o, weight: [1, -1, 1] })).toThrow('diceCeLoss: weight[1] must be finite and ≥ 0, got -1');
    dispose([logits, target, ceWeight]);
  });

  it('gradcheck (float64, cpu): class indices, and class probabilities without the background', async () => {
    const target = fromArray([0, 1, 2, 2, 1, 0, 0, 2], [2, 1, 4], i32);
    const indices = await gradcheck((z) => diceCeLoss(z, target, { ...o, weight: [0.2, 1, 3], lambdaDice: 0.7 }),
      [{ data: randomArray(24, 26, -1, 1), shape: [2, 3, 4] }], { backend: cpu });
    expect(indices.ok, indices.message).toBe(true);
    const probabilities = await gradcheck((z, g) => diceCeLoss(z, g, { softmax: true, includeBackground: false, reduction: 'sum', weight: [0.5, 2, 1] }),
      [{ data: randomArray(24, 27, -2, 2), shape: [2, 3, 4] }, { data: randomArray(24, 28, 0, 1), shape: [2, 3, 4] }], { backend: cpu });
    expect(probabilities.ok, probabilities.message).toBe(true);
    target.dispose();
  });
});

describe('weighted Dice losses on WebGPU', () => {
  it('value and input gradient match the cpu within float32 rounding', async () => {
    const gpu = await webgpu();
    const shape = [2, 3, 2, 3, 2];
    const logits = Array.from(randomArray(sizeOf(shape), 29, -2, 2));
    const labels = Array.from(randomArray(2 * 12, 30, 0, 3), (v) => Math.floor(v));
    const run = async (backend: Backend, fn: (z: Tensor, t: Tensor) => Tensor) => {
      const dtype = backend === cpu ? 'float64' as const : 'float32' as const;
      const z = fromArray(logits, shape, { backend, dtype, requiresGrad: true }), t = fromArray(labels, [2, 1, 2, 3, 2], { backend, dtype: 'int32' });
      // 'none' gives [N, C]: the gradient of its sum
      const loss = fn(z, t), total = loss.rank === 0 ? loss : sum(loss);
      backward(total);
      const out = { loss: Array.from(await loss.toArray()), grad: Array.from(await z.grad!.toArray()) };
      dispose([z, t, loss, total]);
      return out;
    };
    const cases: [string, (z: Tensor, t: Tensor) => Tensor][] = [
      ['dice none', (z, t) => multiClassDiceLoss(z, t, { softmax: true, toOnehotY: true, includeBackground: false, reduction: 'none', weight: [1, 3] })],
      ['dice mean', (z, t) => multiClassDiceLoss(z, t, { softmax: true, toOnehotY: true, weight: [0.2, 1, 3] })],
      ['diceCe sum', (z, t) => diceCeLoss(z, t, { softmax: true, toOnehotY: true, reduction: 'sum', weight: [0.2, 1, 3] })],
    ];
    for (const [what, fn] of cases) {
      const [onGpu, onCpu] = [await run(gpu, fn), await run(cpu, fn)];
      expectClose(onGpu.loss, onCpu.loss, 1e-6, 1e-5, `${what} value`);
      expectClose(onGpu.grad, onCpu.grad, 1e-6, 1e-5, `${what} gradient`);
    }
  });
});
