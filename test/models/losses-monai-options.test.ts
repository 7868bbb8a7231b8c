import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backward, reshape, sum, tanh } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import {
  crossEntropy, diceCeLoss, diceFocalLoss, focalLoss, generalizedDiceLoss, multiClassDiceLoss, tverskyLoss, type Reduction,
} from '../../src/models/losses.js';
import { dispose, fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, expectGradchecks, randomArray, webgpu, valuesOf as value, type GradcheckCase } from '../helpers/backends.js';

/**
 * MONAI's DiceLoss / TverskyLoss / DiceCELoss options jaccard, other_act, soft_label and label_smoothing, and its
 * GeneralizedDiceLoss and DiceFocalLoss: values
 * against a float64 transcription of MONAI's algorithm (activation, one-hot, background removal, compute_tp_fp_fn
 * with its norms, the Dice/Jaccard/Tversky ratio, the reduction) on random shapes, hand values, gradcheck (float64,
 * cpu) and WebGPU against the cpu.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
const i32 = { backend: cpu, dtype: 'int32' as const };
const total = (v: number[]) => v.reduce((a, b) => a + b, 0);


type Activation = 'none' | 'sigmoid' | 'softmax' | 'tanh';

interface Reference {
  activation: Activation;
  /** int32 labels [N, 1, …] one-hot encoded (else a float target of the input's shape) */
  toOnehotY: boolean;
  includeBackground: boolean;
  batch: boolean;
  softLabel: boolean;
  reduction: Reduction;
  smoothNr: number;
  smoothDr: number;
}

/** x [N, C, S] activated as MONAI does (sigmoid, softmax over C, or other_act = tanh), as plain numbers */
function activate(x: number[], n: number, c: number, s: number, activation: Activation): number[] {
  if (activation === 'sigmoid') return x.map((v) => 1 / (1 + Math.exp(-v)));
  if (activation === 'tanh') return x.map(Math.tanh);
  if (activation === 'none') return x.slice();
  const out = x.slice();
  for (let b = 0; b < n; b++) for (let v = 0; v < s; v++) {
    const e = Array.from({ length: c }, (_, k) => Math.exp(x[(b * c + k) * s + v]));
    for (let k = 0; k < c; k++) out[(b * c + k) * s + v] = e[k] / total(e);
  }
  return out;
}

/** monai.losses.utils.compute_tp_fp_fn on one group of (p, g) pairs */
function tpFpFn(p: number[], g: number[], ord: 1 | 2, softLabel: boolean, decoupled: boolean): [number, number, number] {
  if (ord === 1 && !softLabel) {
    const tp = total(p.map((a, i) => a * g[i]));
    if (decoupled) return [tp, total(p) - tp, total(g) - tp];
    return [tp, total(p.map((a, i) => a * (1 - g[i]))), total(p.map((a, i) => (1 - a) * g[i]))];
  }
  // LA.vector_norm(·, ord), raised to the power ord when ord > 1
  const norm = (v: number[]) => (ord === 1 ? total(v.map(Math.abs)) : Math.sqrt(total(v.map((a) => a * a))) ** 2);
  const predO = norm(p), groundO = norm(g), difference = norm(p.map((a, i) => a - g[i]));
  const tp = (predO + groundO - difference) / 2;
  return [tp, predO - tp, groundO - tp];
}

/** MONAI's losses before their sums: the activated input, the (one-hot) target, the first class, the sample groups */
function prepared(x: number[], shape: number[], target: number[], o: Reference) {
  const [n, c] = shape as [number, number], s = sizeOf(shape.slice(2));
  const g = o.toOnehotY ? Array.from({ length: n * c * s }, (_, i) => (target[Math.floor(i / (c * s)) * s + (i % s)] === Math.floor(i / s) % c ? 1 : 0)) : target;
  const groups = o.batch ? [Array.from({ length: n }, (_, b) => b)] : Array.from({ length: n }, (_, b) => [b]);
  return { n, c, s, p: activate(x, n, c, s, o.activation), g, first: o.includeBackground ? 0 : 1, groups };
}

/**
 * MONAI's per-(sample, class) ratios: `score` maps (tp, fp, fn) to the loss of one group; the [N, C'] ([C'] with
 * batch) losses reduced as MONAI ('none' returns them flat).
 */
function monaiRegionLoss(x: number[], shape: number[], target: number[], o: Reference, ord: 1 | 2, decoupled: boolean,
  score: (tp: number, fp: number, fn: number) => number): number[] {
  const { c, s, p, g, first, groups } = prepared(x, shape, target, o);
  const losses: number[] = [];
  for (const samples of groups) {
    for (let k = first; k < c; k++) {
      const ps: number[] = [], gs: number[] = [];
      for (const b of samples) for (let v = 0; v < s; v++) { ps.push(p[(b * c + k) * s + v]); gs.push(g[(b * c + k) * s + v]); }
      const [tp, fp, fn] = tpFpFn(ps, gs, ord, o.softLabel, decoupled);
      losses.push(score(tp, fp, fn));
    }
  }
  return o.reduction === 'none' ? losses : o.reduction === 'sum' ? [total(losses)] : [total(losses) / losses.length];
}

/** DiceLoss.forward after compute_tp_fp_fn: fp, fn halved unless jaccard, 1 − (2·tp + s_nr)/(2·(tp + fp + fn) + s_dr) */
function monaiDice(x: number[], shape: number[], target: number[], o: Reference & { squaredPred: boolean; jaccard: boolean }): number[] {
  return monaiRegionLoss(x, shape, target, o, o.squaredPred ? 2 : 1, true, (tp, fp, fn) => {
    const half = o.jaccard ? 1 : 0.5;
    return 1 - (2 * tp + o.smoothNr) / (2 * (tp + fp * half + fn * half) + o.smoothDr);
  });
}

/** TverskyLoss.forward: compute_tp_fp_fn(…, decoupled=False), 1 − (tp + s_nr)/(tp + α·fp + β·fn + s_dr) */
function monaiTversky(x: number[], shape: number[], target: number[], o: Reference & { alpha: number; beta: number }): number[] {
  return monaiRegionLoss(x, shape, target, o, 1, false, (tp, fp, fn) => 1 - (tp + o.smoothNr) / (tp + o.alpha * fp + o.beta * fn + o.smoothDr));
}

/** the functional options of a Reference (the activation as sigmoid / softmax / otherAct) */
function functionalOptions(o: Reference) {
  return {
    sigmoid: o.activation === 'sigmoid', softmax: o.activation === 'softmax', otherAct: o.activation === 'tanh' ? tanh : null,
    toOnehotY: o.toOnehotY, includeBackground: o.includeBackground, batch: o.batch, softLabel: o.softLabel,
    reduction: o.reduction, smoothNr: o.smoothNr, smoothDr: o.smoothDr,
  };
}

const referenceArb = fc.record({
  n: fc.integer({ min: 1, max: 3 }), c: fc.integer({ min: 2, max: 4 }),
  spatial: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
  activation: fc.constantFrom<Activation>('none', 'sigmoid', 'softmax', 'tanh'),
  toOnehotY: fc.boolean(), includeBackground: fc.boolean(), batch: fc.boolean(), softLabel: fc.boolean(),
  reduction: fc.constantFrom<Reduction>('none', 'mean', 'sum'),
  smoothNr: fc.constantFrom(1e-5, 0.5), smoothDr: fc.constantFrom(1e-5, 1),
});

/** the random case's logits, and its target: int32 labels [N, 1, …] with toOnehotY, else soft labels in [0, 1] */
function makeCase(r: { n: number; c: number; spatial: number[]; seed: number; toOnehotY: boolean }) {
  const shape = [r.n, r.c, ...r.spatial], s = sizeOf(r.spatial);
  const logits = Array.from(randomArray(sizeOf(shape), r.seed, -2, 2));
  const target = r.toOnehotY ? Array.from(randomArray(r.n * s, r.seed + 1, 0, r.c), Math.floor) : Array.from(randomArray(sizeOf(shape), r.seed + 1, 0, 1));
  const x = fromArray(logits, shape, f64);
  const t = r.toOnehotY ? fromArray(target, [r.n, 1, ...r.spatial], i32) : fromArray(target, shape, f64);
  return { shape, logits, target, x, t };
}

describe('multiClassDiceLoss jaccard / otherAct / softLabel against MONAI DiceLoss (float64 transcription)', () => {
  it('random shapes and options', async () => {
    await fc.assert(fc.asyncProperty(referenceArb, fc.boolean(), fc.boolean(), async (r, squaredPred, jaccard) => {
      const { shape, logits, target, x, t } = makeCase(r);
      const o = { ...r, squaredPred, jaccard };
      const got = multiClassDiceLoss(x, t, { ...functionalOptions(o), squaredPred, jaccard });
      const want = monaiDice(logits, shape, target, o);
      if (r.reduction === 'none') expect(got.shape).toEqual(r.batch ? [r.c - (r.includeBackground ? 0 : 1)] : [r.n, r.c - (r.includeBackground ? 0 : 1)]);
      expectClose(await value(got), want, 1e-12, 1e-11, JSON.stringify(o));
      dispose([x, t]);
    }), { numRuns: 120 });
  });

  it('hand values: Jaccard, soft labels, both', async () => {
    const p = fromArray([0.2, 0.9], [1, 1, 2], f64), hard = fromArray([0, 1], [1, 1, 2], f64), soft = fromArray([0.3, 0.6], [1, 1, 2], f64);
    const s = 1e-5;
    // tp = 0.9, Σp = 1.1, Σg = 1: Dice 1 − (1.8 + s)/(2.1 + s), Jaccard 1 − (1.8 + s)/(2·(2.1 − 0.9) + s)
    expectClose(await value(multiClassDiceLoss(p, hard)), [1 - (1.8 + s) / (2.1 + s)], 1e-15, 0, 'dice');
    expectClose(await value(multiClassDiceLoss(p, hard, { jaccard: true })), [1 - (1.8 + s) / (2.4 + s)], 1e-15, 0, 'jaccard');
    // soft: Σ|p| = 1.1, Σ|g| = 0.9, Σ|p − g| = 0.4, tp = 0.8 (Σp·g would be 0.6)
    expectClose(await value(multiClassDiceLoss(p, soft)), [1 - (1.2 + s) / (2 + s)], 1e-15, 0, 'soft target, default');
    expectClose(await value(multiClassDiceLoss(p, soft, { softLabel: true })), [1 - (1.6 + s) / (2 + s)], 1e-15, 0, 'softLabel');
    expectClose(await value(multiClassDiceLoss(p, soft, { softLabel: true, jaccard: true })), [1 - (1.6 + s) / (2 * (2 - 0.8) + s)], 1e-15, 0, 'softLabel jaccard');
    // binary targets and p ≥ 0: softLabel changes nothing
    expectClose(await value(multiClassDiceLoss(p, hard, { softLabel: true, jaccard: true })), [1 - (1.8 + s) / (2.4 + s)], 1e-15, 0, 'softLabel on a hard target');
    // squaredPred: Σp² = 0.85, Σg² = 1; jaccard 2·(1.85 − 0.9)
    expectClose(await value(multiClassDiceLoss(p, hard, { squaredPred: true, jaccard: true })), [1 - (1.8 + s) / (1.9 + s)], 1e-15, 0, 'squared jaccard');
    dispose([p, hard, soft]);
  });

  it('otherAct is applied instead of sigmoid/softmax; errors as MONAI raises (and for a result of another shape)', async () => {
    const x = fromArray(randomArray(24, 3, -2, 2), [2, 3, 4], f64), g = fromArray(randomArray(24, 4, 0, 1), [2, 3, 4], f64);
    const activatedFirst = tanh(x);
    expectClose(await value(multiClassDiceLoss(x, g, { otherAct: tanh, jaccard: true })), await value(multiClassDiceLoss(activatedFirst, g, { jaccard: true })), 0, 0, 'tanh');
    expect(() => multiClassDiceLoss(x, g, { sigmoid: true, otherAct: tanh })).toThrow('multiClassDiceLoss: sigmoid, softmax and otherAct are mutually exclusive (give at most one)');
    expect(() => tverskyLoss(x, g, { softmax: true, otherAct: tanh })).toThrow('tverskyLoss: sigmoid, softmax and otherAct are mutually exclusive (give at most one)');
    expect(() => multiClassDiceLoss(x, g, { otherAct: (z) => reshape(z, [2, 12]) }))
      .toThrow("multiClassDiceLoss: otherAct must return a tensor of the input's shape and dtype [2, 3, 4] float64 on its backend, got [2, 12] float64");
    expect(() => multiClassDiceLoss(x, g, { otherAct: 'tanh' as unknown as (z: Tensor) => Tensor })).toThrow('multiClassDiceLoss: otherAct must be a function of the input or null, got string');
    dispose([x, g, activatedFirst]);
  });
});

describe('tverskyLoss softLabel / otherAct against MONAI TverskyLoss', () => {
  it('random shapes and options', async () => {
    await fc.assert(fc.asyncProperty(referenceArb, fc.constantFrom(0.5, 0.3, 1), fc.constantFrom(0.5, 0.7, 0), async (r, alpha, beta) => {
      const { shape, logits, target, x, t } = makeCase(r);
      const got = tverskyLoss(x, t, { ...functionalOptions(r), alpha, beta });
      expectClose(await value(got), monaiTversky(logits, shape, target, { ...r, alpha, beta }), 1e-12, 1e-11, JSON.stringify({ ...r, alpha, beta }));
      dispose([x, t]);
    }), { numRuns: 80 });
  });
});

/** PyTorch's cross entropy with label smoothing ε and a class weight, as CrossEntropyLoss computes it, from x [N, C, S] */
function smoothedCrossEntropy(x: number[], shape: number[], target: number[], indices: boolean, weight: number[], epsilon: number, reduction: 'mean' | 'sum'): number {
  const [n, c] = shape, s = sizeOf(shape.slice(2));
  let loss = 0, weights = 0;
  for (let b = 0; b < n; b++) for (let v = 0; v < s; v++) {
    const z = Array.from({ length: c }, (_, k) => x[(b * c + k) * s + v]);
    const logTotal = Math.log(total(z.map(Math.exp)));
    const logP = z.map((q) => q - logTotal);
    if (indices) {
      const t = target[b * s + v];
      loss += (1 - epsilon) * -weight[t] * logP[t] + (epsilon / c) * total(logP.map((l, k) => -weight[k] * l));
      weights += weight[t];
    } else {
      loss += total(logP.map((l, k) => -weight[k] * ((1 - epsilon) * target[(b * c + k) * s + v] + epsilon / c) * l));
      weights += 1;
    }
  }
  return reduction === 'sum' ? loss : loss / weights;
}

describe('diceCeLoss labelSmoothing (MONAI ≥ 1.4), jaccard and otherAct', () => {
  it('random shapes: Dice (MONAI transcription) + smoothed cross entropy on the raw logits', async () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 2, max: 4 }), spatial: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
      seed: fc.integer({ min: 1, max: 1 << 30 }), toOnehotY: fc.boolean(), includeBackground: fc.boolean(), jaccard: fc.boolean(),
      activation: fc.constantFrom<Activation>('softmax', 'sigmoid', 'tanh'), labelSmoothing: fc.constantFrom(0, 0.1, 0.5, 1),
      reduction: fc.constantFrom<'mean' | 'sum'>('mean', 'sum'), weighted: fc.boolean(),
    });
    await fc.assert(fc.asyncProperty(arb, async (r) => {
      const { shape, logits, target, x, t } = makeCase(r);
      const weight = r.weighted ? Array.from({ length: r.c }, (_, k) => 0.5 + k) : null;
      const o: Reference & { squaredPred: boolean; jaccard: boolean } = {
        ...r, batch: false, softLabel: false, squaredPred: false, smoothNr: 1e-5, smoothDr: 1e-5,
      };
      // MONAI's Dice term gets weight[1:] without the background, and no weight when one class remains
      const diceWeight = weight?.slice(r.includeBackground ? 0 : 1);
      const diceLosses = monaiDice(logits, shape, target, { ...o, reduction: 'none' })
        .map((l, i) => l * (diceWeight && diceWeight.length > 1 ? diceWeight[i % diceWeight.length] : 1));
      const dice = r.reduction === 'sum' ? total(diceLosses) : total(diceLosses) / diceLosses.length;
      const ce = smoothedCrossEntropy(logits, shape, target, r.toOnehotY, weight ?? new Array<number>(r.c).fill(1), r.labelSmoothing, r.reduction);
      const { sigmoid, softmax, otherAct } = functionalOptions(o);
      const got = diceCeLoss(x, t, {
        sigmoid, softmax, otherAct, toOnehotY: r.toOnehotY, includeBackground: r.includeBackground, jaccard: r.jaccard,
        labelSmoothing: r.labelSmoothing, reduction: r.reduction, weight, lambdaDice: 0.7, lambdaCe: 1.3,
      });
      expectClose(await value(got), [0.7 * dice + 1.3 * ce], 1e-12, 1e-11, JSON.stringify(r));
      dispose([x, t]);
    }), { numRuns: 80 });
  });

  it('labelSmoothing 0 is the unsmoothed loss; the term equals crossEntropy with labelSmoothing', async () => {
    const x = fromArray(randomArray(2 * 3 * 6, 5, -2, 2), [2, 3, 6], f64), t = fromArray(Array.from(randomArray(12, 6, 0, 3), Math.floor), [2, 1, 6], i32);
    const plain = await value(diceCeLoss(x, t, { softmax: true, toOnehotY: true }));
    expectClose(await value(diceCeLoss(x, t, { softmax: true, toOnehotY: true, labelSmoothing: 0 })), plain, 0, 0, 'ε = 0');
    const dice = await value(multiClassDiceLoss(x, t, { softmax: true, toOnehotY: true }));
    const labels = fromArray(Array.from(await t.toArray()), [2, 6], i32);
    const ce = await value(crossEntropy(x, labels, { labelSmoothing: 0.2 }));
    expectClose(await value(diceCeLoss(x, t, { softmax: true, toOnehotY: true, labelSmoothing: 0.2 })), [dice[0] + ce[0]], 1e-15, 1e-15, 'ε = 0.2');
    expect(Math.abs(plain[0] - dice[0] - ce[0])).toBeGreaterThan(1e-3);
    dispose([x, t, labels]);
  });

  it('errors: out of [0, 1]; ε > 0 with one channel (MONAI\'s BCE branch has no smoothing)', () => {
    const x = fromArray(randomArray(12, 7, -2, 2), [2, 3, 2], f64), t = fromArray([0, 1, 2, 2], [2, 1, 2], i32);
    expect(() => diceCeLoss(x, t, { toOnehotY: true, labelSmoothing: 1.5 })).toThrow('diceCeLoss: labelSmoothing must be a number in [0, 1], got 1.5');
    expect(() => diceCeLoss(x, t, { toOnehotY: true, labelSmoothing: NaN })).toThrow('diceCeLoss: labelSmoothing must be a number in [0, 1], got NaN');
    const one = fromArray([0.5, -1, 2, 0.1], [2, 1, 2], f64), g = fromArray([1, 0, 1, 1], [2, 1, 2], f64);
    expect(() => diceCeLoss(one, g, { sigmoid: true, labelSmoothing: 0.1 }))
      .toThrow("diceCeLoss: labelSmoothing needs more than one channel: with one the cross entropy is BCE with logits, which MONAI's DiceCELoss does not smooth (input [2, 1, 2])");
    expect(() => diceCeLoss(one, g, { sigmoid: true, labelSmoothing: 0 })).not.toThrow();
    dispose([x, t, one, g]);
  });
});

describe('gradients of the new options (gradcheck, float64, cpu)', () => {
  it('Dice: jaccard with softmax / otherAct; softLabel in input and target; Tversky softLabel; DiceCE with labelSmoothing', async () => {
    const labels = fromArray([0, 1, 2, 2, 1, 0, 0, 2], [2, 1, 4], i32);
    const x = { data: randomArray(24, 11, -2, 2), shape: [2, 3, 4] };
    // soft targets kept away from the predictions so that |p − g| is differentiable at every point checked
    const soft = { data: randomArray(24, 12, 0.6, 1), shape: [2, 3, 4] }, probabilities = { data: randomArray(24, 13, 0.05, 0.4), shape: [2, 3, 4] };
    const cases: GradcheckCase[] = [
      ['dice jaccard softmax', (z) => multiClassDiceLoss(z, labels, { softmax: true, toOnehotY: true, jaccard: true, reduction: 'none' }), [x]],
      ['dice jaccard squared otherAct batch', (z) => multiClassDiceLoss(z, labels, { otherAct: tanh, toOnehotY: true, jaccard: true, squaredPred: true, batch: true }), [x]],
      ['dice softLabel jaccard', (p, g) => multiClassDiceLoss(p, g, { softLabel: true, jaccard: true, reduction: 'sum' }), [probabilities, soft]],
      ['tversky softLabel', (p, g) => tverskyLoss(p, g, { softLabel: true, alpha: 0.3, beta: 0.7 }), [probabilities, soft]],
      ['diceCe labelSmoothing indices', (z) => diceCeLoss(z, labels, { softmax: true, toOnehotY: true, labelSmoothing: 0.1, weight: [0.5, 2, 1], jaccard: true }), [x]],
      ['diceCe labelSmoothing probabilities', (z, g) => diceCeLoss(z, g, { otherAct: tanh, labelSmoothing: 0.3, reduction: 'sum' }), [x, probabilities]],
    ];
    await expectGradchecks(cases);
    labels.dispose();
  });
});

describe('the new options on WebGPU', () => {
  it('value and input gradient match the cpu within float32 rounding', async () => {
    const gpu = await webgpu();
    const shape = [2, 3, 2, 3, 2];
    const logits = Array.from(randomArray(sizeOf(shape), 31, -2, 2));
    const labels = Array.from(randomArray(2 * 12, 32, 0, 3), Math.floor);
    const softTarget = Array.from(randomArray(sizeOf(shape), 33, 0, 1));
    const run = async (backend: Backend, fn: (z: Tensor, t: Tensor, soft: Tensor) => Tensor) => {
      const dtype = backend === cpu ? 'float64' as const : 'float32' as const;
      const z = fromArray(logits, shape, { backend, dtype, requiresGrad: true });
      const t = fromArray(labels, [2, 1, 2, 3, 2], { backend, dtype: 'int32' }), soft = fromArray(softTarget, shape, { backend, dtype });
      const loss = fn(z, t, soft), scalar = loss.rank === 0 ? loss : sum(loss);
      backward(scalar);
      const out = { loss: Array.from(await loss.toArray()), grad: Array.from(await z.grad!.toArray()) };
      dispose([z, t, soft, loss, scalar]);
      return out;
    };
    const cases: [string, (z: Tensor, t: Tensor, soft: Tensor) => Tensor][] = [
      ['dice jaccard none', (z, t) => multiClassDiceLoss(z, t, { softmax: true, toOnehotY: true, jaccard: true, reduction: 'none' })],
      ['dice softLabel otherAct', (z, _t, soft) => multiClassDiceLoss(z, soft, { otherAct: tanh, softLabel: true, jaccard: true, batch: true })],
      ['tversky softLabel', (z, _t, soft) => tverskyLoss(z, soft, { sigmoid: true, softLabel: true, alpha: 0.3, beta: 0.7 })],
      ['diceCe labelSmoothing', (z, t) => diceCeLoss(z, t, { softmax: true, toOnehotY: true, labelSmoothing: 0.1, weight: [0.2, 1, 3] })],
    ];
    for (const [what, fn] of cases) {
      const [onGpu, onCpu] = [await run(gpu, fn), await run(cpu, fn)];
      expectClose(onGpu.loss, onCpu.loss, 1e-6, 1e-5, `${what} value`);
      expectClose(onGpu.grad, onCpu.grad, 1e-6, 1e-5, `${what} gradient`);
    }
  });
});

/** GeneralizedDiceLoss.forward: w_func of Σ g, infinite weights replaced by the largest (per sample, or overall with batch) */
function monaiGeneralizedDice(x: number[], shape: number[], target: number[], o: Reference & { wType: 'square' | 'simple' | 'uniform' }): number[] {
  const { c, s, p, g, first, groups } = prepared(x, shape, target, o);
  const losses: number[] = [];
  for (const samples of groups) {
    const terms: { tp: number; denominator: number; w: number }[] = [];
    for (let k = first; k < c; k++) {
      const ps: number[] = [], gs: number[] = [];
      for (const b of samples) for (let v = 0; v < s; v++) { ps.push(p[(b * c + k) * s + v]); gs.push(g[(b * c + k) * s + v]); }
      const [tp, fp, fn] = tpFpFn(ps, gs, 1, o.softLabel, true);
      const groundO = total(gs);
      const w = o.wType === 'simple' ? 1 / groundO : o.wType === 'square' ? 1 / (groundO * groundO) : 1;
      terms.push({ tp, denominator: 2 * (tp + fp * 0.5 + fn * 0.5), w });
    }
    const infinite = terms.map((q) => Math.abs(q.w) === Infinity);
    terms.forEach((q, i) => { if (infinite[i]) q.w = 0; });
    const largest = Math.max(...terms.map((q) => q.w));
    terms.forEach((q, i) => { if (infinite[i]) q.w = largest; });
    losses.push(1 - (2 * total(terms.map((q) => q.tp * q.w)) + o.smoothNr) / (total(terms.map((q) => q.denominator * q.w)) + o.smoothDr));
  }
  return o.reduction === 'none' ? losses : o.reduction === 'sum' ? [total(losses)] : [total(losses) / losses.length];
}

describe('generalizedDiceLoss (MONAI GeneralizedDiceLoss)', () => {
  it('random shapes and options, empty classes included', async () => {
    await fc.assert(fc.asyncProperty(referenceArb, fc.constantFrom<'square' | 'simple' | 'uniform'>('square', 'simple', 'uniform'), fc.nat(3), async (r, wType, empty) => {
      const { shape, logits, target, t: t0, x } = makeCase(r);
      // one class left empty in every sample: its infinite weight is replaced
      const s = sizeOf(r.spatial), emptyClass = empty % r.c;
      const emptied = r.toOnehotY ? target.map((k) => (k === emptyClass ? (k + 1) % r.c : k)) : target.map((v, i) => (Math.floor(i / s) % r.c === emptyClass ? 0 : v));
      const t = r.toOnehotY ? fromArray(emptied, [r.n, 1, ...r.spatial], i32) : fromArray(emptied, shape, f64);
      const got = generalizedDiceLoss(x, t, { ...functionalOptions(r), wType });
      if (r.reduction === 'none') expect(got.shape).toEqual(r.batch ? [1] : [r.n, 1]);
      expectClose(await value(got), monaiGeneralizedDice(logits, shape, emptied, { ...r, wType }), 1e-12, 1e-11, JSON.stringify({ ...r, wType, emptyClass }));
      dispose([x, t, t0]);
    }), { numRuns: 120 });
  });

  it('hand values: square, simple, uniform; an empty class takes the largest weight; all empty gives 1 − smoothNr/smoothDr', async () => {
    const p = fromArray([0.9, 0.6, 0.2, 0.1, 0.4, 0.8], [1, 2, 3], f64), g = fromArray([1, 1, 0, 0, 0, 1], [1, 2, 3], f64), s = 1e-5;
    // tp 1.5, 0.8; Σp 1.7, 1.3; Σg 2, 1
    expectClose(await value(generalizedDiceLoss(p, g)), [1 - (2 * (1.5 / 4 + 0.8) + s) / (3.7 / 4 + 2.3 + s)], 1e-15, 0, 'square');
    expectClose(await value(generalizedDiceLoss(p, g, { wType: 'simple' })), [1 - (2 * (1.5 / 2 + 0.8) + s) / (3.7 / 2 + 2.3 + s)], 1e-15, 0, 'simple');
    expectClose(await value(generalizedDiceLoss(p, g, { wType: 'uniform' })), [1 - (4.6 + s) / (6 + s)], 1e-15, 0, 'uniform');
    const half = fromArray([1, 1, 0, 0, 0, 0], [1, 2, 3], f64), none = fromArray(new Float64Array(6), [1, 2, 3], f64);
    expectClose(await value(generalizedDiceLoss(p, half)), [1 - (0.75 + s) / ((3.7 + 1.3) / 4 + s)], 1e-15, 0, 'empty class weighted 1/4');
    expectClose(await value(generalizedDiceLoss(p, none, { smoothNr: 1e-3, smoothDr: 1e-2 })), [0.9], 1e-15, 0, 'all empty');
    // with softLabel the overlap uses |g| but the volume stays the plain Σ g (visible with a negative target value)
    const negative = [1, 1, -0.5, 0, 0, 1], gNegative = fromArray(negative, [1, 2, 3], f64);
    const reference: Reference = { activation: 'none', toOnehotY: false, includeBackground: true, batch: false, softLabel: true, reduction: 'mean', smoothNr: s, smoothDr: s };
    expectClose(await value(generalizedDiceLoss(p, gNegative, { softLabel: true })),
      monaiGeneralizedDice([0.9, 0.6, 0.2, 0.1, 0.4, 0.8], [1, 2, 3], negative, { ...reference, wType: 'square' }), 1e-15, 1e-14, 'softLabel volume');
    gNegative.dispose();
    expect(() => generalizedDiceLoss(p, g, { wType: 'cube' as 'square' })).toThrow("generalizedDiceLoss: wType must be 'square', 'simple' or 'uniform', got 'cube'");
    dispose([p, g, half, none]);
  });
});

/** logsigmoid(z) = −log(1 + e^−z), stable */
const logSigmoid = (z: number) => (z < 0 ? z - Math.log1p(Math.exp(z)) : -Math.log1p(Math.exp(-z)));

/** DiceFocalLoss.forward: DiceLoss(weight) + FocalLoss(weight, alpha, gamma) with sigmoid_focal_loss's formula */
function monaiDiceFocal(x: number[], shape: number[], target: number[], o: Reference & { squaredPred: boolean; jaccard: boolean; gamma: number; alpha: number | null; weight: number[] | null }): number[] {
  const [n, c] = shape, s = sizeOf(shape.slice(2)), first = o.includeBackground ? 0 : 1, classes = c - first;
  const classWeight = (k: number) => (o.weight && classes > 1 ? o.weight[k - first] : 1);
  const dice = monaiDice(x, shape, target, { ...o, reduction: 'none' }).map((l, i) => l * classWeight(first + (i % classes)));
  const g = o.toOnehotY ? Array.from({ length: n * c * s }, (_, i) => (target[Math.floor(i / (c * s)) * s + (i % s)] === Math.floor(i / s) % c ? 1 : 0)) : target;
  const focal: number[] = [];
  for (let b = 0; b < n; b++) for (let k = first; k < c; k++) for (let v = 0; v < s; v++) {
    const z = x[(b * c + k) * s + v], t = g[(b * c + k) * s + v];
    let loss = z - z * t - logSigmoid(z);
    loss *= Math.exp(logSigmoid(-z * (t * 2 - 1)) * o.gamma);
    if (o.alpha !== null) loss *= t * o.alpha + (1 - t) * (1 - o.alpha);
    focal.push(loss * classWeight(k));
  }
  if (o.reduction === 'none') return focal.map((l, i) => l + dice[o.batch ? Math.floor(i / s) % classes : Math.floor(i / s)]);
  const diceReduced = o.reduction === 'sum' ? total(dice) : total(dice) / dice.length;
  const means = Array.from({ length: n * classes }, (_, i) => total(focal.slice(i * s, (i + 1) * s)) / s);
  return [diceReduced + (o.reduction === 'sum' ? total(means) : total(focal) / focal.length)];
}

describe('diceFocalLoss (MONAI DiceFocalLoss)', () => {
  it('random shapes and options', async () => {
    const extra = fc.record({
      squaredPred: fc.boolean(), jaccard: fc.boolean(), gamma: fc.constantFrom(0, 1.5, 2), alpha: fc.constantFrom(null, 0.25, 0.9), weighted: fc.boolean(),
    });
    await fc.assert(fc.asyncProperty(referenceArb, extra, async (r0, e) => {
      const r = { ...r0, softLabel: false };
      const { shape, logits, target, x, t } = makeCase(r);
      const classes = r.c - (r.includeBackground ? 0 : 1);
      const weight = e.weighted && classes > 1 ? Array.from({ length: classes }, (_, k) => 0.5 + k) : null;
      const { softLabel: _unused, ...o } = functionalOptions(r);
      const got = diceFocalLoss(x, t, { ...o, squaredPred: e.squaredPred, jaccard: e.jaccard, gamma: e.gamma, alpha: e.alpha, weight, lambdaDice: 1, lambdaFocal: 1 });
      if (r.reduction === 'none') expect(got.shape).toEqual([r.n, classes, ...r.spatial]);
      expectClose(await value(got), monaiDiceFocal(logits, shape, target, { ...r, ...e, weight }), 1e-12, 1e-11, JSON.stringify({ ...r, ...e }));
      dispose([x, t]);
    }), { numRuns: 100 });
  });

  it("focal 'sum' is focalLoss's (torchvision's) 'sum' over the voxels per channel; lambdas; errors", async () => {
    const x = fromArray(randomArray(2 * 3 * 5, 41, -2, 2), [2, 3, 5], f64), labels = fromArray(Array.from(randomArray(10, 42, 0, 3), Math.floor), [2, 1, 5], i32);
    const hot = diceFocalLoss(x, labels, { toOnehotY: true, lambdaDice: 0, reduction: 'sum' });
    const labelValues = Array.from(await labels.toArray()), oneHotValues = new Float64Array(30);
    labelValues.forEach((k, i) => { oneHotValues[(Math.floor(i / 5) * 3 + k) * 5 + (i % 5)] = 1; });
    const y = fromArray(oneHotValues, [2, 3, 5], f64);
    expectClose(await value(hot), [(await value(focalLoss(x, y, { alpha: -1, reduction: 'sum' })))[0] / 5], 1e-14, 1e-13, 'sum / voxels');
    const dice = await value(multiClassDiceLoss(x, labels, { softmax: true, toOnehotY: true }));
    const focal = await value(diceFocalLoss(x, labels, { toOnehotY: true, lambdaDice: 0 }));
    expectClose(await value(diceFocalLoss(x, labels, { softmax: true, toOnehotY: true, lambdaDice: 0.3, lambdaFocal: 2 })), [0.3 * dice[0] + 2 * focal[0]], 1e-14, 1e-13, 'lambdas');
    expect(() => diceFocalLoss(x, labels, { toOnehotY: true, lambdaFocal: -1 })).toThrow('diceFocalLoss: lambdaFocal must be ≥ 0, got -1');
    expect(() => diceFocalLoss(x, labels, { toOnehotY: true, alpha: 1.5 })).toThrow('diceFocalLoss: alpha must be in [0, 1] or null, got 1.5');
    expect(() => diceFocalLoss(x, labels, { toOnehotY: true, weight: [1, 2] })).toThrow('multiClassDiceLoss: weight has 2 values, must have 3');
    dispose([x, labels, y]);
  });

  it('gradcheck (float64, cpu): GDL with an empty class and soft labels, DiceFocal with weight and alpha, and its none', async () => {
    const labels = fromArray([0, 1, 1, 0, 1, 1, 0, 0], [2, 1, 4], i32);
    const x = { data: randomArray(24, 51, -2, 2), shape: [2, 3, 4] };
    const probabilities = { data: randomArray(24, 52, 0.05, 0.4), shape: [2, 3, 4] }, soft = { data: randomArray(24, 53, 0.6, 1), shape: [2, 3, 4] };
    const cases: GradcheckCase[] = [
      ['gdl square softmax, class 2 empty', (z) => generalizedDiceLoss(z, labels, { softmax: true, toOnehotY: true, reduction: 'none' }), [x]],
      ['gdl simple batch', (z) => generalizedDiceLoss(z, labels, { sigmoid: true, toOnehotY: true, wType: 'simple', batch: true }), [x]],
      ['gdl softLabel', (p, g) => generalizedDiceLoss(p, g, { softLabel: true, wType: 'uniform', reduction: 'sum' }), [probabilities, soft]],
      ['diceFocal', (z) => diceFocalLoss(z, labels, { softmax: true, toOnehotY: true, weight: [0.5, 2, 1], alpha: 0.25, gamma: 1.5, jaccard: true }), [x]],
      ['diceFocal none, soft target', (z, g) => diceFocalLoss(z, g, { sigmoid: true, includeBackground: false, reduction: 'none' }), [x, probabilities]],
    ];
    await expectGradchecks(cases);
    labels.dispose();
  });

  it('WebGPU: value and input gradient match the cpu within float32 rounding', async () => {
    const gpu = await webgpu();
    const shape = [2, 3, 2, 3, 2];
    const logits = Array.from(randomArray(sizeOf(shape), 61, -2, 2));
    const labels = Array.from(randomArray(2 * 12, 62, 0, 2), Math.floor); // class 2 empty
    const run = async (backend: Backend, fn: (z: Tensor, t: Tensor) => Tensor) => {
      const dtype = backend === cpu ? 'float64' as const : 'float32' as const;
      const z = fromArray(logits, shape, { backend, dtype, requiresGrad: true }), t = fromArray(labels, [2, 1, 2, 3, 2], { backend, dtype: 'int32' });
      const loss = fn(z, t), scalar = loss.rank === 0 ? loss : sum(loss);
      backward(scalar);
      const out = { loss: Array.from(await loss.toArray()), grad: Array.from(await z.grad!.toArray()) };
      dispose([z, t, loss, scalar]);
      return out;
    };
    const cases: [string, (z: Tensor, t: Tensor) => Tensor][] = [
      ['gdl', (z, t) => generalizedDiceLoss(z, t, { softmax: true, toOnehotY: true, reduction: 'none' })],
      ['diceFocal sum', (z, t) => diceFocalLoss(z, t, { softmax: true, toOnehotY: true, reduction: 'sum', weight: [0.2, 1, 3], alpha: 0.25 })],
    ];
    for (const [what, fn] of cases) {
      const [onGpu, onCpu] = [await run(gpu, fn), await run(cpu, fn)];
      expectClose(onGpu.loss, onCpu.loss, 1e-6, 1e-5, `${what} value`);
      expectClose(onGpu.grad, onCpu.grad, 1e-6, 1e-5, `${what} gradient`);
    }
  });
});
