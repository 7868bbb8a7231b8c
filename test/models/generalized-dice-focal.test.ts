import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backward } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { GeneralizedDiceFocalLoss } from '../../src/models/loss-modules.js';
import { generalizedDiceFocalLoss, generalizedDiceLoss, type Reduction } from '../../src/models/losses.js';
import { dispose, fromArray, sizeOf } from '../../src/tensor/index.js';
import { cpu, expectClose, expectGradchecks, randomArray, webgpu, valuesOf as value, type GradcheckCase } from '../helpers/backends.js';

/**
 * MONAI's GeneralizedDiceFocalLoss (monai.losses.dice): lambda_gdl · GeneralizedDiceLoss(input, target) +
 * lambda_focal · FocalLoss(input, target) with the focal loss's own class `weight`, on raw logits, sigmoid form, no α.
 * Hand values, the focal term written from its textbook form −w_c·(1 − p_t)^γ·log p_t on random shapes, the 'none'
 * shape, gradcheck, WebGPU against the cpu, the class against the function, and the refusals.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const i32 = { backend: cpu, dtype: 'int32' as const };
const sigma = (z: number) => 1 / (1 + Math.exp(-z));
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

/** MONAI's sigmoid focal loss per element of the one-hot target g, classes from `first` on, weighted per class */
function focalElements(x: number[], g: number[], n: number, c: number, s: number, first: number, gamma: number, weight: number[] | null): number[] {
  const out: number[] = [];
  for (let b = 0; b < n; b++) for (let k = first; k < c; k++) for (let v = 0; v < s; v++) {
    const z = x[(b * c + k) * s + v], t = g[(b * c + k) * s + v];
    const pt = t * sigma(z) + (1 - t) * (1 - sigma(z));
    out.push(-(weight ? weight[k - first] : 1) * (1 - pt) ** gamma * Math.log(pt));
  }
  return out;
}

describe('generalizedDiceFocalLoss (MONAI GeneralizedDiceFocalLoss)', () => {
  it('by hand: sigmoid GDL (square weights) plus the mean focal term', async () => {
    // x [1, 2, 2]: class 0 = [0.5, −1] with target [1, 0], class 1 = [2, 0] with target [0, 1]
    const x = fromArray([0.5, -1, 2, 0], [1, 2, 2], f64), g = fromArray([1, 0, 0, 1], [1, 2, 2], f64), s = 1e-5;
    const [p00, p01, p10, p11] = [sigma(0.5), sigma(-1), sigma(2), sigma(0)];
    // each class's volume is 1, so both square weights are 1
    const gdl = 1 - (2 * (p00 + p11) + s) / (p00 + p01 + 1 + p10 + p11 + 1 + s);
    const focal = mean([(1 - p00) ** 2 * -Math.log(p00), p01 ** 2 * -Math.log(1 - p01), p10 ** 2 * -Math.log(1 - p10), (1 - p11) ** 2 * -Math.log(p11)]);
    expectClose(await value(generalizedDiceFocalLoss(x, g, { sigmoid: true })), [gdl + focal], 1e-15, 1e-14, 'default');
    expectClose(await value(generalizedDiceFocalLoss(x, g, { sigmoid: true, lambdaGdl: 0.3, lambdaFocal: 2 })), [0.3 * gdl + 2 * focal], 1e-15, 1e-14, 'lambdas');
    // the focal weight weighs the focal term only; gamma 0 is the plain binary cross entropy
    const weighted = mean([(1 - p00) ** 2 * -Math.log(p00), p01 ** 2 * -Math.log(1 - p01), 3 * p10 ** 2 * -Math.log(1 - p10), 3 * (1 - p11) ** 2 * -Math.log(p11)]);
    expectClose(await value(generalizedDiceFocalLoss(x, g, { sigmoid: true, weight: [1, 3] })), [gdl + weighted], 1e-15, 1e-14, 'weight');
    const bce = mean([-Math.log(p00), -Math.log(1 - p01), -Math.log(1 - p10), -Math.log(p11)]);
    expectClose(await value(generalizedDiceFocalLoss(x, g, { sigmoid: true, gamma: 0, lambdaGdl: 0 })), [bce], 1e-15, 1e-14, 'gamma 0');
    dispose([x, g]);
  });

  const caseArb = fc.record({
    n: fc.integer({ min: 1, max: 3 }), c: fc.integer({ min: 2, max: 4 }), spatial: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
    toOnehotY: fc.boolean(), includeBackground: fc.boolean(), batch: fc.boolean(), activation: fc.constantFrom('sigmoid', 'softmax', 'none'),
    wType: fc.constantFrom<'square' | 'simple' | 'uniform'>('square', 'simple', 'uniform'), reduction: fc.constantFrom<Reduction>('mean', 'sum', 'none'),
    gamma: fc.constantFrom(0, 1.5, 2), weighted: fc.boolean(), lambdaGdl: fc.constantFrom(0, 0.5, 1), lambdaFocal: fc.constantFrom(0, 1, 2.5),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  });

  it('random shapes and options: lambdaGdl · generalizedDiceLoss + lambdaFocal · the focal term by its textbook form', async () => {
    await fc.assert(fc.asyncProperty(caseArb, async (r) => {
      const s = sizeOf(r.spatial), shape = [r.n, r.c, ...r.spatial], first = r.includeBackground ? 0 : 1, classes = r.c - first;
      const logits = Array.from(randomArray(r.n * r.c * s, r.seed, -3, 3));
      const labels = Array.from(randomArray(r.n * s, r.seed + 1, 0, r.c), Math.floor);
      const oneHot = Array.from({ length: r.n * r.c * s }, (_, i) => (labels[Math.floor(i / (r.c * s)) * s + (i % s)] === Math.floor(i / s) % r.c ? 1 : 0));
      const x = fromArray(logits, shape, f64);
      const t = r.toOnehotY ? fromArray(labels, [r.n, 1, ...r.spatial], i32) : fromArray(oneHot, shape, f64);
      const weight = r.weighted && classes > 1 ? Array.from({ length: classes }, (_, k) => 0.5 + k) : null;
      const act = r.activation === 'sigmoid' ? { sigmoid: true } : r.activation === 'softmax' ? { softmax: true } : {};
      const common = { ...act, toOnehotY: r.toOnehotY, includeBackground: r.includeBackground, batch: r.batch, wType: r.wType, reduction: r.reduction };
      const got = generalizedDiceFocalLoss(x, t, { ...common, gamma: r.gamma, weight, lambdaGdl: r.lambdaGdl, lambdaFocal: r.lambdaFocal });
      const gdl = await value(generalizedDiceLoss(x, t, common));
      const focal = focalElements(logits, oneHot, r.n, r.c, s, first, r.gamma, weight);
      let want: number[];
      if (r.reduction === 'none') {
        expect(got.shape).toEqual([r.n, classes, ...r.spatial]);
        want = focal.map((f, i) => r.lambdaGdl * gdl[r.batch ? 0 : Math.floor(i / (classes * s))] + r.lambdaFocal * f);
      } else {
        const channelMeans = Array.from({ length: r.n * classes }, (_, i) => mean(focal.slice(i * s, (i + 1) * s)));
        const focalReduced = r.reduction === 'sum' ? channelMeans.reduce((a, b) => a + b, 0) : mean(focal);
        want = [r.lambdaGdl * gdl[0] + r.lambdaFocal * focalReduced];
      }
      expectClose(await value(got), want, 1e-12, 1e-11, JSON.stringify(r));
      dispose([x, t, got]);
    }), { numRuns: 80 });
  });

  it('gradcheck (float64, cpu)', async () => {
    const labels = fromArray([0, 1, 1, 0, 1, 2, 0, 0], [2, 1, 4], i32);
    const x = { data: randomArray(24, 71, -2, 2), shape: [2, 3, 4] };
    const probabilities = { data: randomArray(24, 72, 0.05, 0.95), shape: [2, 3, 4] };
    const cases: GradcheckCase[] = [
      ['softmax, weight, sum', (z) => generalizedDiceFocalLoss(z, labels, { softmax: true, toOnehotY: true, weight: [0.5, 2, 1], gamma: 1.5, reduction: 'sum' }), [x]],
      ['sigmoid, simple, batch, none, soft target', (z, g) => generalizedDiceFocalLoss(z, g, { sigmoid: true, wType: 'simple', batch: true, includeBackground: false, reduction: 'none' }), [x, probabilities]],
    ];
    await expectGradchecks(cases);
    labels.dispose();
  });

  it('WebGPU: value and input gradient match the cpu within float32 rounding', async () => {
    const gpu = await webgpu();
    const shape = [2, 3, 2, 3, 2];
    const logits = Array.from(randomArray(sizeOf(shape), 81, -2, 2));
    const labels = Array.from(randomArray(2 * 12, 82, 0, 2), Math.floor); // class 2 empty
    const run = async (backend: Backend) => {
      const dtype = backend === cpu ? 'float64' as const : 'float32' as const;
      const z = fromArray(logits, shape, { backend, dtype, requiresGrad: true }), t = fromArray(labels, [2, 1, 2, 3, 2], { backend, dtype: 'int32' });
      const loss = generalizedDiceFocalLoss(z, t, { softmax: true, toOnehotY: true, weight: [0.2, 1, 3] });
      backward(loss);
      const out = { loss: Array.from(await loss.toArray()), grad: Array.from(await z.grad!.toArray()) };
      dispose([z, t, loss]);
      return out;
    };
    const [onGpu, onCpu] = [await run(gpu), await run(cpu)];
    expectClose(onGpu.loss, onCpu.loss, 1e-6, 1e-5, 'value');
    expectClose(onGpu.grad, onCpu.grad, 1e-6, 1e-5, 'gradient');
  });

  it('the class is the function, checks its options by name and prints them', async () => {
    const x = fromArray(randomArray(2 * 3 * 4, 91, -2, 2), [2, 3, 4], f64), labels = fromArray([0, 1, 2, 0, 1, 2, 2, 0], [2, 1, 4], i32);
    const options = { softmax: true, toOnehotY: true, wType: 'simple' as const, lambdaGdl: 0.5, lambdaFocal: 2, gamma: 1, weight: [1, 2, 3] };
    const loss = new GeneralizedDiceFocalLoss(options);
    expect(await value(loss.forward(x, labels))).toEqual(await value(generalizedDiceFocalLoss(x, labels, options)));
    expect(String(loss)).toBe("GeneralizedDiceFocalLoss(softmax=true, toOnehotY=true, wType='simple', lambdaGdl=0.5, lambdaFocal=2, gamma=1, weight=[1, 2, 3])");
    expect(() => new GeneralizedDiceFocalLoss({ lambda_gdl: 1 } as object)).toThrow(/^GeneralizedDiceFocalLoss: unknown option 'lambda_gdl' \(did you mean 'lambdaGdl'\?\)/);
    expect(() => new GeneralizedDiceFocalLoss({ alpha: 0.25 } as object)).toThrow(/^GeneralizedDiceFocalLoss: unknown option 'alpha'/);
    expect(() => new GeneralizedDiceFocalLoss({ wType: 'cube' as 'square' })).toThrow("GeneralizedDiceFocalLoss: option wType must be 'square', 'simple' or 'uniform', got 'cube'");
    dispose([x, labels]);
  });

  it('refuses what MONAI refuses, and a weight MONAI would ignore', () => {
    const x = fromArray(randomArray(2 * 3 * 4, 93, -2, 2), [2, 3, 4], f64), labels = fromArray([0, 1, 2, 0, 1, 2, 2, 0], [2, 1, 4], i32);
    expect(() => generalizedDiceFocalLoss(x, labels, { toOnehotY: true, lambdaGdl: -1 })).toThrow('generalizedDiceFocalLoss: lambdaGdl must be ≥ 0, got -1');
    expect(() => generalizedDiceFocalLoss(x, labels, { toOnehotY: true, lambdaFocal: -0.5 })).toThrow('generalizedDiceFocalLoss: lambdaFocal must be ≥ 0, got -0.5');
    expect(() => generalizedDiceFocalLoss(x, labels, { toOnehotY: true, gamma: -1 })).toThrow('generalizedDiceFocalLoss: gamma must be ≥ 0, got -1');
    expect(() => generalizedDiceFocalLoss(x, labels, { toOnehotY: true, weight: [1, 2, 3], includeBackground: false }))
      .toThrow('generalizedDiceFocalLoss: weight has 3 values, must have 2 (one per class of input [2, 3, 4] but the background (includeBackground is false))');
    expect(() => generalizedDiceFocalLoss(x, labels, { toOnehotY: true, weight: [1, -2, 3] })).toThrow('generalizedDiceFocalLoss: weight[1] must be finite and ≥ 0, got -2');
    const one = fromArray(randomArray(8, 94), [2, 1, 4], f64), binary = fromArray([1, 0, 0, 1, 1, 1, 0, 0], [2, 1, 4], f64);
    expect(() => generalizedDiceFocalLoss(one, binary, { weight: [2] })).toThrow(/^generalizedDiceFocalLoss: weight needs two or more classes in the loss, got one/);
    expect(() => generalizedDiceFocalLoss(x, labels, { toOnehotY: true, wType: 'cube' as 'square' })).toThrow("generalizedDiceLoss: wType must be 'square', 'simple' or 'uniform', got 'cube'");
    dispose([x, labels, one, binary]);
  });
});
