import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  avgPool3d, backward, batchNorm, concat, conv3d, conv3dBackwardInput, conv3dBackwardWeight, convTranspose3d, dropout, dropout3d, gradcheck,
  groupNorm, instanceNorm, interpolate, logSoftmax, maxPool3d, permute, relu, reshape, softmax, sum, type Conv3dOptions, type GradcheckOptions,
} from '../../src/autograd/index.js';
import type { Backend, Conv3dParams } from '../../src/kernels/index.js';
import { WebGPUBackend } from '../../src/kernels/index.js';
import { conv3dPlan } from '../../src/kernels/conv3d/webgpu.js';
import { binaryCrossEntropyWithLogits, crossEntropy, diceLoss, mseLoss } from '../../src/models/losses.js';
import { dispose, fromArray, memory, sizeOf, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';
import { setConvKernels } from '../helpers/gpu-conv.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * Every op of src/autograd/nn.ts and every loss of src/models/losses.ts through gradcheck: float64 central
 * differences on the cpu on small shapes, float32 on WebGPU (gradcheck's default float32 tolerances) for
 * conv3d, convTranspose3d, batchNorm (training and evaluation), instanceNorm, groupNorm, maxPool3d, softmax and
 * crossEntropy; the normalisations with the fused ReLU against the two ops they replace (forward, gradients,
 * running statistics; float64 cpu and float32 WebGPU); the forward of each nn op on WebGPU against the cpu
 * backend on random shapes; and the full-size allocations of the normalisations and relu (one in the forward,
 * one in the backward).
 */

type Fn = (...xs: Tensor[]) => Tensor;
interface Input { data: ArrayLike<number>; shape: readonly number[] }

/** values in [lo, hi); 'distinct' gives a random permutation of evenly spaced values (no ties for max pooling) */
function values(n: number, seed: number, lo = -1, hi = 1, distinct = false): number[] {
  const raw = Array.from(randomArray(n, Math.imul(seed ^ 0x5bd1e995, 2654435761) >>> 0));
  if (!distinct) return raw.map((v) => lo + ((v + 1) / 2) * (hi - lo));
  const order = raw.map((_, i) => i).sort((i, j) => raw[i] - raw[j]);
  const out = new Array<number>(n);
  order.forEach((i, r) => { out[i] = lo + ((r + 0.5) / n) * (hi - lo); });
  return out;
}
const input = (shape: readonly number[], seed: number, lo = -1, hi = 1, distinct = false): Input =>
  ({ data: values(sizeOf(shape), seed, lo, hi, distinct), shape });

async function expectGrad(fn: Fn, inputs: Input[], options: GradcheckOptions = {}, what = ''): Promise<void> {
  const r = await gradcheck(fn, inputs, { backend: cpu, ...options });
  expect(r.ok, `${what} ${r.message}`).toBe(true);
}

const f64 = { backend: cpu, dtype: 'float64' as const };

// ------------------------------------------------------------------------------------------------ conv

const convCases: { name: string; x: number[]; w: number[]; bias: boolean; o: Conv3dOptions }[] = [
  { name: 'padding 1 with bias', x: [1, 2, 3, 4, 3], w: [3, 2, 3, 3, 3], bias: true, o: { padding: 1 } },
  { name: 'stride 2', x: [2, 1, 5, 5, 4], w: [2, 1, 3, 3, 3], bias: true, o: { stride: 2 } },
  { name: 'padding 2', x: [1, 1, 3, 3, 3], w: [2, 1, 3, 2, 3], bias: false, o: { padding: 2 } },
  { name: 'dilation 2', x: [1, 2, 5, 4, 5], w: [2, 2, 2, 2, 2], bias: true, o: { dilation: 2 } },
  { name: 'mixed stride/padding/dilation', x: [1, 2, 5, 4, 6], w: [2, 2, 3, 2, 2], bias: true, o: { stride: [2, 1, 2], padding: [1, 0, 2], dilation: [1, 2, 2] } },
  { name: 'stride 2 leaving input rows unused', x: [1, 1, 6, 5, 4], w: [1, 1, 2, 2, 3], bias: false, o: { stride: 2, padding: [0, 1, 0] } },
];

describe('nn gradcheck, float64 on the cpu', () => {
  for (const c of convCases) {
    it(`conv3d: ${c.name}`, async () => {
      const inputs = [input(c.x, 1), input(c.w, 2, -0.5, 0.5), ...(c.bias ? [input([c.w[0]], 3)] : [])];
      await expectGrad((x, w, b) => conv3d(x, w, b ?? null, c.o), inputs);
    });
  }

  it('conv3d of a permuted (non-contiguous) input', async () => {
    await expectGrad((x, w) => conv3d(permute(x, [0, 1, 4, 3, 2]), w, null, { padding: 1 }), [input([1, 2, 3, 2, 4], 4), input([2, 2, 3, 3, 3], 5)]);
  });

  it('the two conv3d backward ops are differentiable (double backward)', async () => {
    for (const c of convCases.slice(1, 5)) {
      const xShape = c.x;
      const gyShape = tidy(() => {
        const probe = conv3d(fromArray(values(sizeOf(c.x), 1), c.x, f64), fromArray(values(sizeOf(c.w), 2), c.w, f64), null, c.o);
        return [...probe.shape];
      });
      await expectGrad((gy, w) => conv3dBackwardInput(gy, w, xShape, c.o), [input(gyShape, 6), input(c.w, 7)], {}, `${c.name} input`);
      await expectGrad((x, gy) => conv3dBackwardWeight(x, gy, c.w, c.o), [input(c.x, 8), input(gyShape, 9)], {}, `${c.name} weight`);
    }
  });

  it('convTranspose3d with stride, padding, outputPadding and bias', async () => {
    await expectGrad((x, w, b) => convTranspose3d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }),
      [input([1, 2, 2, 3, 2], 10), input([2, 3, 3, 3, 3], 11), input([3], 12)]);
    await expectGrad((x, w) => convTranspose3d(x, w, null, { stride: [2, 1, 2], outputPadding: [1, 0, 0] }),
      [input([2, 1, 2, 2, 2], 13), input([1, 2, 2, 2, 3], 14)]);
  });

  it('convTranspose3d with dilation', async () => {
    await expectGrad((x, w) => convTranspose3d(x, w, null, { dilation: 2, stride: 2, padding: 1, outputPadding: 1 }),
      [input([1, 1, 2, 2, 2], 15), input([1, 2, 2, 2, 2], 16)]);
  });

  // --------------------------------------------------------------------------------------------- pooling

  it('maxPool3d with overlapping windows, padding and the default stride', async () => {
    await expectGrad((x) => maxPool3d(x, 3, { stride: 2, padding: 1 }), [input([1, 2, 5, 5, 4], 20, -1, 1, true)]);
    await expectGrad((x) => maxPool3d(x, [2, 3, 2], { stride: 1 }), [input([2, 1, 3, 4, 3], 21, -1, 1, true)]);
    await expectGrad((x) => maxPool3d(x, 2), [input([1, 2, 4, 5, 4], 22, -1, 1, true)]);
  });

  it('avgPool3d with overlapping windows and padding', async () => {
    await expectGrad((x) => avgPool3d(x, 3, { stride: 2, padding: 1 }), [input([1, 2, 5, 5, 4], 23)]);
    await expectGrad((x) => avgPool3d(x, [2, 1, 2], { stride: 1 }), [input([2, 1, 3, 2, 3], 24)]);
    await expectGrad((x) => avgPool3d(x, 2), [input([1, 1, 4, 4, 5], 25)]);
  });

  it('interpolate: nearest and trilinear (both alignCorners), up and down', async () => {
    const x = input([1, 2, 2, 3, 3], 30);
    await expectGrad((t) => interpolate(t, { scaleFactor: 2 }), [x]);
    await expectGrad((t) => interpolate(t, { size: [3, 5, 2], mode: 'nearest' }), [x]);
    await expectGrad((t) => interpolate(t, { size: [3, 5, 2], mode: 'trilinear' }), [x]);
    await expectGrad((t) => interpolate(t, { size: [3, 5, 2], mode: 'trilinear', alignCorners: true }), [x]);
    await expectGrad((t) => interpolate(t, { scaleFactor: [2, 1, 2], mode: 'trilinear', alignCorners: false }), [x]);
    await expectGrad((t) => interpolate(t, { scaleFactor: 2, mode: 'trilinear', alignCorners: true }), [x]);
  });

  // --------------------------------------------------------------------------------------- normalisation

  it('batchNorm in training w.r.t. x, weight and bias (running statistics updated on the side)', async () => {
    const rm = fromArray([0, 0], [2], f64), rv = fromArray([1, 1], [2], f64);
    await expectGrad((x, w, b) => batchNorm(x, rm, rv, w, b, { training: true }),
      [input([3, 2, 2, 1, 2], 40), input([2], 41, 0.5, 1.5), input([2], 42)]);
    await expectGrad((x) => batchNorm(x, null, null, null, null, { training: true, eps: 1e-3 }), [input([2, 3, 2], 43)]);
    dispose([rm, rv]);
  });

  it('batchNorm in evaluation mode w.r.t. x, weight and bias', async () => {
    const rm = fromArray([0.2, -0.1], [2], f64), rv = fromArray([0.5, 2], [2], f64);
    await expectGrad((x, w, b) => batchNorm(x, rm, rv, w, b), [input([2, 2, 2, 1, 2], 44), input([2], 45), input([2], 46)]);
    dispose([rm, rv]);
  });

  it('instanceNorm and groupNorm w.r.t. x, weight and bias', async () => {
    await expectGrad((x, w, b) => instanceNorm(x, { weight: w, bias: b }), [input([2, 2, 2, 1, 3], 50), input([2], 51), input([2], 52)]);
    await expectGrad((x) => instanceNorm(x, { eps: 1e-3 }), [input([1, 3, 4], 53)]);
    await expectGrad((x, w, b) => groupNorm(x, 2, w, b), [input([2, 4, 1, 2, 2], 54), input([4], 55), input([4], 56)]);
    await expectGrad((x) => groupNorm(x, 1), [input([2, 3, 2], 57)]);
  });

  it('batchNorm, instanceNorm and groupNorm with only a weight or only a bias', async () => {
    await expectGrad((x, w) => batchNorm(x, null, null, w, null, { training: true }), [input([3, 2, 2, 1, 2], 140), input([2], 141, 0.5, 1.5)]);
    await expectGrad((x, b) => batchNorm(x, null, null, null, b, { training: true }), [input([2, 3, 3], 142), input([3], 143)]);
    await expectGrad((x, w) => instanceNorm(x, { weight: w }), [input([2, 3, 4], 144), input([3], 145, 0.5, 1.5)]);
    await expectGrad((x, b) => instanceNorm(x, { bias: b }), [input([2, 2, 3, 1], 146), input([2], 147)]);
    // three channels per group with different weights: the closed form's mean(h) weighs each channel's sum
    await expectGrad((x, w) => groupNorm(x, 2, w), [input([2, 6, 3], 148), input([6], 149, -1.5, 1.5)]);
    await expectGrad((x, b) => groupNorm(x, 3, null, b), [input([2, 6, 2], 150), input([6], 151)]);
  });

  it('the normalisations of [N, C] inputs, of permuted inputs and of inputs whose mean is far from 0', async () => {
    await expectGrad((x, w, b) => batchNorm(x, null, null, w, b, { training: true }), [input([4, 3], 152), input([3], 153), input([3], 154)]);
    await expectGrad((x, w, b) => groupNorm(x, 2, w, b), [input([2, 4], 155), input([4], 156), input([4], 157)]);
    await expectGrad((x, w, b) => batchNorm(permute(x, [1, 0, 2]), null, null, w, b, { training: true }),
      [input([3, 2, 4], 158), input([3], 159), input([3], 160)]);
    await expectGrad((x, w, b) => instanceNorm(permute(x, [0, 2, 1]), { weight: w, bias: b }), [input([2, 4, 3], 161), input([3], 162), input([3], 163)]);
    await expectGrad((x, w, b) => groupNorm(permute(x, [2, 1, 0]), 2, w, b), [input([3, 4, 2], 164), input([4], 165), input([4], 166)]);
    await expectGrad((x, w, b) => batchNorm(x, null, null, w, b, { training: true }), [input([2, 2, 5], 167, 99, 101), input([2], 168), input([2], 169)]);
    await expectGrad((x, w, b) => groupNorm(x, 1, w, b), [input([2, 2, 5], 170, -51, -49), input([2], 171), input([2], 172)]);
  });

  it('batchNorm in evaluation mode without weight or bias, and w.r.t. the running statistics', async () => {
    const rm = fromArray([0.2, -0.1, 0.4], [3], f64), rv = fromArray([0.5, 2, 1], [3], f64);
    await expectGrad((x) => batchNorm(x, rm, rv), [input([2, 3, 2], 173)]);
    await expectGrad((x, b) => batchNorm(x, rm, rv, null, b), [input([2, 3, 2, 1], 174), input([3], 175)]);
    await expectGrad((x, w) => batchNorm(x, rm, rv, w), [input([2, 3, 2], 176), input([3], 177)]);
    await expectGrad((x, m, v, w, b) => batchNorm(x, m, v, w, b), [input([2, 3, 2], 178), input([3], 179), input([3], 180, 0.5, 2), input([3], 181), input([3], 182)]);
    dispose([rm, rv]);
  });

  it('the normalisations with the fused ReLU: training and evaluation, with and without weight and bias', async () => {
    const rm = fromArray([0, 0, 0], [3], f64), rv = fromArray([1, 1, 1], [3], f64);
    const em = fromArray([0.2, -0.1, 0.4], [3], f64), ev = fromArray([0.5, 2, 1], [3], f64);
    const relu = true;
    await expectGrad((x, w, b) => batchNorm(x, rm, rv, w, b, { training: true, relu }), [input([3, 3, 2, 1, 2], 190), input([3], 191, 0.5, 1.5), input([3], 192)]);
    await expectGrad((x) => batchNorm(x, null, null, null, null, { training: true, relu }), [input([2, 3, 3], 193)]);
    await expectGrad((x, w, b) => batchNorm(x, em, ev, w, b, { relu }), [input([2, 3, 2, 2], 194), input([3], 195), input([3], 196)]);
    await expectGrad((x, m, v) => batchNorm(x, m, v, null, null, { relu }), [input([2, 3, 2], 197), input([3], 198), input([3], 199, 0.5, 2)]);
    await expectGrad((x, w, b) => instanceNorm(x, { weight: w, bias: b, relu }), [input([2, 2, 2, 1, 3], 200), input([2], 201), input([2], 202)]);
    await expectGrad((x) => instanceNorm(x, { relu }), [input([2, 3, 4], 203)]);
    await expectGrad((x, w, b) => groupNorm(x, 2, w, b, 1e-5, { relu }), [input([2, 6, 1, 2, 2], 204), input([6], 205, -1.5, 1.5), input([6], 206)]);
    await expectGrad((x, b) => groupNorm(x, 3, null, b, 1e-5, { relu }), [input([2, 6, 2], 207), input([6], 208)]);
    dispose([rm, rv, em, ev]);
  });

  it('the fused ReLU gives what the norm followed by relu gives: forward, gradients and running statistics', async () => {
    await fusedMatchesUnfused(cpu, 'float64', 1e-12);
  });

  it('dropout and dropout3d with a fixed seed', async () => {
    await expectGrad((x) => dropout(x, 0.4, true, 7), [input([2, 3, 4], 60)]);
    await expectGrad((x) => dropout3d(x, 0.5, true, 8), [input([2, 3, 2, 1, 2], 61)]);
    await expectGrad((x) => dropout(x, 0.4, false, 7), [input([2, 3], 62)]);
  });

  it('softmax and logSoftmax along several axes', async () => {
    for (const axis of [0, 1, -1]) {
      await expectGrad((x) => softmax(x, axis), [input([2, 3, 4], 70 + axis, -3, 3)], {}, `softmax ${axis}`);
      await expectGrad((x) => logSoftmax(x, axis), [input([2, 3, 4], 80 + axis, -3, 3)], {}, `logSoftmax ${axis}`);
    }
  });

  // ---------------------------------------------------------------------------------------------- losses

  it('crossEntropy with class weights and ignoreIndex, every reduction', async () => {
    const target = fromArray([0, 3, -100, 1, 2, 2, -100, 0, 1, 3, 3, 0], [3, 2, 2], { backend: cpu, dtype: 'int32' });
    const target3 = fromArray([0, 3, 2, 1, 2, 2, 3, 0, 1, 3, 3, 0], [3, 2, 2], { backend: cpu, dtype: 'int32' });
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      await expectGrad((x, w) => crossEntropy(x, target, { weight: w, reduction }), [input([3, 4, 2, 2], 90, -2, 2), input([4], 91, 0.5, 2)], {}, reduction);
      await expectGrad((x) => crossEntropy(x, target3, { reduction, ignoreIndex: 3 }), [input([3, 4, 2, 2], 92, -2, 2)], {}, `${reduction} ignore 3`);
    }
    const t2 = fromArray([2, 0, 1], [3], { backend: cpu, dtype: 'int32' });
    await expectGrad((x) => crossEntropy(x, t2), [input([3, 3], 93, -2, 2)]);
    dispose([target, target3, t2]);
  });

  it('binaryCrossEntropyWithLogits with posWeight and weight, w.r.t. input and target', async () => {
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      await expectGrad((x, y) => binaryCrossEntropyWithLogits(x, y, { reduction }), [input([2, 3, 2], 100, -3, 3), input([2, 3, 2], 101, 0, 1)]);
    }
    await expectGrad((x, y, pw, w) => binaryCrossEntropyWithLogits(x, y, { posWeight: pw, weight: w }),
      [input([2, 3, 2], 102, -3, 3), input([2, 3, 2], 103, 0, 1), input([3, 1], 104, 0.5, 2), input([2, 1, 2], 105, 0, 1)]);
  });

  it('mseLoss plain and per-element weighted', async () => {
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      await expectGrad((x, y) => mseLoss(x, y, { reduction }), [input([2, 3], 110), input([2, 3], 111)]);
      await expectGrad((x, y, w) => mseLoss(x, y, { reduction, weight: w }), [input([2, 3], 112), input([2, 3], 113), input([3], 114, 0, 1)]);
    }
  });

  it('diceLoss plain and weighted, every reduction', async () => {
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      await expectGrad((p, y) => diceLoss(p, y, { reduction }), [input([2, 1, 2, 2, 2], 120, 0, 1), input([2, 1, 2, 2, 2], 121, 0, 1)]);
      await expectGrad((p, w) => diceLoss(p, p, { reduction, weight: w }), [input([2, 1, 2, 1, 2], 122, 0, 1), input([2, 1, 2, 1, 2], 123, 0, 1)]);
    }
  });
});

describe('nn memory', () => {
  it('forward + backward through every nn op and loss leaves live tensors and buffers unchanged', async () => {
    const o = { backend: cpu, dtype: 'float64' as const };
    const w1 = fromArray(values(2 * 1 * 27, 1), [2, 1, 3, 3, 3], { ...o, requiresGrad: true });
    const wt = fromArray(values(2 * 2 * 8, 2), [2, 2, 2, 2, 2], { ...o, requiresGrad: true });
    const gamma = fromArray([1, 1.5], [2], { ...o, requiresGrad: true });
    const rm = fromArray([0, 0], [2], o), rv = fromArray([1, 1], [2], o);
    const x = fromArray(values(2 * 4 * 4 * 4, 3), [2, 1, 4, 4, 4], o);
    const target = fromArray(Array.from({ length: 2 * 4 * 4 * 4 }, (_, i) => (i * 7) % 2), [2, 4, 4, 4], { backend: cpu, dtype: 'int32' });
    const step = () => {
      const loss = tidy(() => {
        let h = conv3d(x, w1, null, { padding: 1 });
        h = batchNorm(h, rm, rv, gamma, null, { training: true });
        h = dropout3d(instanceNorm(groupNorm(h, 2)), 0.2, true, 3);
        h = maxPool3d(h, 2);
        h = convTranspose3d(h, wt, null, { stride: 2 });
        h = interpolate(avgPool3d(h, 3, { stride: 1, padding: 1 }), { size: [4, 4, 4], mode: 'trilinear' });
        const p = softmax(h, 1);
        return sum(concatLosses([crossEntropy(logSoftmax(h, 1), target), diceLoss(p, p), mseLoss(p, p)]));
      });
      backward(loss);
      loss.dispose();
      for (const t of [w1, wt, gamma]) { t.grad?.dispose(); t.grad = null; }
    };
    step();
    const before = memory(cpu);
    for (let i = 0; i < 5; i++) step();
    expect(memory(cpu)).toEqual(before);
    dispose([w1, wt, gamma, rm, rv, x, target]);
  });
});

describe('normalisation and relu: full-size allocations', () => {
  // x [2, 4, 8, 8, 8] float64: 32 KiB; every per-channel tensor together stays far below one full-size tensor
  const shape = [2, 4, 8, 8, 8], fullBytes = 8 * sizeOf(shape);
  const o = { backend: cpu, dtype: 'float64' as const };
  const cases: [string, (x: Tensor, w: Tensor, b: Tensor) => Tensor][] = [
    ['batchNorm', (x, w, b) => batchNorm(x, null, null, w, b, { training: true })],
    ['batchNorm eval', (x, w, b) => batchNorm(x, fromArray([0.1, 0.2, 0.3, 0.4], [4], o), fromArray([1, 2, 3, 4], [4], o), w, b)],
    ['instanceNorm', (x, w, b) => instanceNorm(x, { weight: w, bias: b })],
    ['groupNorm', (x, w, b) => groupNorm(x, 2, w, b)],
    ['relu', (x) => relu(x)],
    ['batchNorm with the fused relu', (x, w, b) => batchNorm(x, null, null, w, b, { training: true, relu: true })],
  ];
  for (const [name, fn] of cases) {
    it(`${name}: the forward allocates only its output, the backward only dx (plus per-channel tensors)`, () => {
      const x = fromArray(values(sizeOf(shape), 1), shape, { ...o, requiresGrad: true });
      const w = fromArray([1, 1.5, 0.5, 2], [4], { ...o, requiresGrad: true }), b = fromArray([0, 1, -1, 2], [4], { ...o, requiresGrad: true });
      const g = fromArray(values(sizeOf(shape), 2), shape, o);
      const before = memory(cpu).liveBytes;
      cpu.resetPeakMemory();
      const y = tidy(() => fn(x, w, b));
      expect(cpu.peakMemory() - before, 'forward peak').toBeLessThan(1.25 * fullBytes);
      const afterForward = memory(cpu).liveBytes;
      cpu.resetPeakMemory();
      backward(y, g);
      expect(cpu.peakMemory() - afterForward, 'backward peak').toBeLessThan(1.25 * fullBytes);
      dispose([x, w, b, g, y]);
    });
  }
});

/** scalars → one [k] tensor */
function concatLosses(ls: Tensor[]): Tensor { return concat(ls.map((l) => reshape(l, [1])), 0); }

/**
 * Each normalisation with relu: true against relu() of it on the same inputs and output gradient: y, the
 * gradient of every input, and (batch norm in training) the running statistics it updates.
 */
async function fusedMatchesUnfused(backend: Backend, dtype: 'float32' | 'float64', tol: number): Promise<void> {
  type NormFn = (relu: boolean, running: Tensor[], ...xs: Tensor[]) => Tensor;
  const cases: [string, NormFn, Input[]][] = [
    ['batchNorm training', (relu, [rm, rv], x, w, b) => batchNorm(x, rm, rv, w, b, { training: true, relu }),
      [input([3, 3, 2, 1, 2], 210), input([3], 211, 0.5, 1.5), input([3], 212)]],
    ['batchNorm training without weight and bias', (relu, [rm, rv], x) => batchNorm(x, rm, rv, null, null, { training: true, relu }), [input([2, 3, 4], 213)]],
    ['batchNorm evaluation', (relu, _, x, w, b, m, v) => batchNorm(x, m, v, w, b, { relu }),
      [input([2, 3, 2, 2], 214), input([3], 215), input([3], 216), input([3], 217), input([3], 218, 0.5, 2)]],
    ['instanceNorm', (relu, _, x, w, b) => instanceNorm(x, { weight: w, bias: b, relu }), [input([2, 2, 2, 1, 3], 219), input([2], 220), input([2], 221)]],
    ['groupNorm', (relu, _, x, w, b) => groupNorm(x, 2, w, b, 1e-5, { relu }), [input([2, 6, 1, 2, 2], 222), input([6], 223, -1.5, 1.5), input([6], 224)]],
    ['groupNorm without weight and bias', (relu, _, x) => groupNorm(x, 3, null, null, 1e-5, { relu }), [input([2, 6, 3], 225)]],
  ];
  for (const [name, fn, inputs] of cases) {
    const run = async (fused: boolean): Promise<Float64Array[]> => {
      const o = { backend, dtype };
      const xs = inputs.map((i) => fromArray(i.data, i.shape, { ...o, requiresGrad: true }));
      const running = [fromArray([0.1, -0.2, 0.3], [3], o), fromArray([1, 2, 0.5], [3], o)];
      const y = tidy(() => (fused ? fn(true, running, ...xs) : relu(fn(false, running, ...xs))));
      expect(y.gradNode?.name, `${name}: the last op`).toBe(fused ? name.split(' ')[0] : 'relu');
      const g = fromArray(values(y.numel(), 226), y.shape, o);
      backward(y, g);
      const results = await Promise.all([y, ...xs.map((x) => x.grad!), ...running].map(async (t) => Float64Array.from(await t.toArray())));
      dispose([xs.map((x) => x.grad!), xs, running, y, g]);
      return results;
    };
    const [fused, unfused] = [await run(true), await run(false)];
    fused.forEach((v, i) => expectClose(v, unfused[i], tol, tol, `${name} on ${backend.name}: ${i === 0 ? 'y' : i <= inputs.length ? `gradient ${i - 1}` : 'running statistics'}`));
  }
}

// -------------------------------------------------------------------------------------------- webgpu

/** the stride-1 convolution of the WebGPU conv gradchecks, and the kernel each of its three operations runs */
const stride1 = { x: [1, 1, 2, 3, 4], w: [1, 1, 3, 2, 2] };
function stride1Plans(gpu: Backend): string[] {
  if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
  const p: Conv3dParams = { stride: [1, 1, 1], padding: [1, 1, 1], dilation: [1, 1, 1] };
  return (['forward', 'backwardInput', 'backwardWeight'] as const).map((op) => conv3dPlan(gpu.rt, op, stride1.x, stride1.w, p).split(':')[0]);
}

describe('nn gradcheck, float32 on WebGPU (tiny shapes)', () => {
  let gpu: Backend;
  const check = async (fn: Fn, inputs: Input[], what = '', options: GradcheckOptions = {}) => {
    gpu ??= await webgpu();
    const r = await gradcheck(fn, inputs, { backend: gpu, ...options });
    expect(r.ok, `${what} ${r.message}`).toBe(true);
  };

  // 'gemm': the implicit GEMMs a GPU runs, forced onto these few-channel shapes (llvmpipe keeps the direct and
  // wgrad kernels by default)
  it.each(['adapter', 'gemm'] as const)('conv3d and convTranspose3d (stride 2; with the GEMMs also stride 1 with padding, dilation), conv kernels: %s', async (mode) => {
    gpu ??= await webgpu();
    const restore = setConvKernels(gpu, mode);
    try {
      expect(stride1Plans(gpu)).toEqual(mode === 'gemm' ? ['implicit GEMM', 'implicit GEMM', 'weight GEMM'] : ['direct', 'direct', 'wgrad']);
      await check((x, w, b) => conv3d(x, w, b, { stride: 2, padding: 1 }), [input([1, 2, 3, 3, 3], 1), input([2, 2, 2, 2, 2], 2, -0.5, 0.5), input([2], 3)]);
      await check((x, w, b) => convTranspose3d(x, w, b, { stride: 2, outputPadding: 1 }), [input([1, 2, 2, 2, 2], 4), input([2, 1, 2, 2, 2], 5, -0.5, 0.5), input([1], 6)]);
      if (mode === 'adapter') return; // the direct kernel's stride-1 cases are in the random-shape comparisons below
      // (each input element costs two forwards: small shapes)
      await check((x, w, b) => conv3d(x, w, b, { padding: 1, dilation: [1, 1, 2] }), [input(stride1.x, 40), input(stride1.w, 41, -0.5, 0.5), input([1], 42)]);
      await check((x, w) => convTranspose3d(x, w, null, { padding: [0, 1, 1] }), [input([1, 1, 2, 2, 3], 45), input([1, 1, 2, 2, 2], 46, -0.5, 0.5)]);
    } finally {
      restore();
    }
  });

  it('batchNorm in training', async () => {
    await check((x, w, b) => batchNorm(x, null, null, w, b, { training: true }), [input([3, 2, 2, 1, 2], 7), input([2], 8, 0.5, 1.5), input([2], 9)]);
    await check((x) => batchNorm(x, null, null, null, null, { training: true }), [input([2, 3, 3], 14)]);
  });

  it('batchNorm in evaluation mode, instanceNorm and groupNorm', async () => {
    gpu ??= await webgpu();
    const rm = fromArray([0.2, -0.1], [2], { backend: gpu }), rv = fromArray([0.5, 2], [2], { backend: gpu });
    await check((x, w, b) => batchNorm(x, rm, rv, w, b), [input([2, 2, 2, 1, 2], 15), input([2], 16), input([2], 17)]);
    await check((x, w, b) => instanceNorm(x, { weight: w, bias: b }), [input([2, 2, 2, 1, 3], 18), input([2], 19, 0.5, 1.5), input([2], 20)]);
    await check((x, w, b) => groupNorm(x, 2, w, b), [input([2, 4, 1, 2, 2], 21), input([4], 22, 0.5, 1.5), input([4], 23)]);
    await check((x) => groupNorm(x, 1), [input([2, 3, 4], 24)]);
    dispose([rm, rv]);
  });

  it('the normalisations with the fused ReLU', async () => {
    // steps of 10⁻³ rather than float32's default 10⁻²: fewer central differences straddle the ReLU's kink
    const relu = true, o = { eps: 1e-3 };
    await check((x, w, b) => batchNorm(x, null, null, w, b, { training: true, relu }), [input([3, 2, 2, 1, 2], 30), input([2], 31, 0.5, 1.5), input([2], 32)], 'batchNorm', o);
    await check((x, w, b) => groupNorm(x, 2, w, b, 1e-5, { relu }), [input([2, 4, 1, 2, 2], 33), input([4], 34, 0.5, 1.5), input([4], 35)], 'groupNorm', o);
    gpu ??= await webgpu();
    const rm = fromArray([0.2, -0.1], [2], { backend: gpu }), rv = fromArray([0.5, 2], [2], { backend: gpu });
    await check((x, w, b) => batchNorm(x, rm, rv, w, b, { relu }), [input([2, 2, 2, 1, 2], 36), input([2], 37), input([2], 38)], 'batchNorm eval', o);
    dispose([rm, rv]);
  });

  it('the fused ReLU gives what the norm followed by relu gives (float32)', async () => {
    gpu ??= await webgpu();
    await fusedMatchesUnfused(gpu, 'float32', 1e-5);
  });

  it('maxPool3d with overlapping windows', async () => {
    await check((x) => maxPool3d(x, 2, { stride: 1 }), [input([1, 2, 3, 3, 2], 10, -1, 1, true)]);
  });

  it('softmax and crossEntropy with weights and an ignored target', async () => {
    gpu ??= await webgpu();
    await check((x) => softmax(x, 1), [input([2, 3, 2], 11, -2, 2)]);
    const target = fromArray([2, 0, -100, 1], [2, 2], { backend: gpu, dtype: 'int32' });
    await check((x, w) => crossEntropy(x, target, { weight: w }), [input([2, 3, 2], 12, -2, 2), input([3], 13, 0.5, 2)]);
    target.dispose();
  });
});

describe('nn forward: WebGPU against the cpu backend on random shapes', () => {
  const dim = (lo: number, hi: number) => fc.integer({ min: lo, max: hi });
  const seedArb = fc.integer({ min: 1, max: 1 << 30 });
  const runs = { numRuns: 4 };

  /** runs fn on both backends (float32) and compares the outputs */
  async function compare(fn: (b: Backend, ...xs: Tensor[]) => Tensor, inputs: Input[], atol = 1e-4, what = ''): Promise<void> {
    const gpu = await webgpu();
    const results: Float64Array[] = [];
    for (const b of [cpu, gpu]) {
      const xs = inputs.map((x) => fromArray(x.data, x.shape, { backend: b, dtype: 'float32' }));
      const y = tidy(() => fn(b, ...xs));
      results.push(Float64Array.from(await y.toArray()));
      dispose([y, xs]);
    }
    expectClose(results[1], results[0], atol, 1e-4, what);
  }

  it.each(['adapter', 'gemm'] as const)('conv3d, convTranspose3d, conv kernels: %s', async (mode) => {
    const restore = setConvKernels(await webgpu(), mode);
    try {
      expect(stride1Plans(await webgpu())).toEqual(mode === 'gemm' ? ['implicit GEMM', 'implicit GEMM', 'weight GEMM'] : ['direct', 'direct', 'wgrad']);
      await randomConvs();
    } finally {
      restore();
    }
  });

  async function randomConvs(): Promise<void> {
    const arb = fc.record({ n: dim(1, 2), ci: dim(1, 3), co: dim(1, 3), d: dim(3, 5), h: dim(3, 5), w: dim(3, 5), k: dim(1, 3),
      stride: dim(1, 2), padding: dim(0, 1), dilation: dim(1, 2), seed: seedArb });
    await fc.assert(fc.asyncProperty(arb, async ({ n, ci, co, d, h, w, k, stride, padding, dilation, seed }) => {
      const extent = dilation * (k - 1) + 1;
      fc.pre(extent <= Math.min(d, h, w) + 2 * padding);
      const o = { stride, padding, dilation };
      await compare((_, x, wt, b) => conv3d(x, wt, b, o), [input([n, ci, d, h, w], seed), input([co, ci, k, k, k], seed + 1), input([co], seed + 2)], 1e-4, 'conv3d');
      const outputPadding = stride > 1 ? 1 : 0;
      await compare((_, x, wt, b) => convTranspose3d(x, wt, b, { ...o, padding: 0, outputPadding }),
        [input([n, ci, d - 1, h - 2, w], seed + 3), input([ci, co, k, k, k], seed + 4), input([co], seed + 5)], 1e-4, 'convTranspose3d');
    }), propertyOptions(2)); // every new shape compiles new conv pipelines (seconds each on llvmpipe)
  }

  it('maxPool3d, avgPool3d, interpolate', async () => {
    const arb = fc.record({ n: dim(1, 2), c: dim(1, 3), d: dim(2, 5), h: dim(2, 5), w: dim(2, 5), k: dim(1, 3), stride: dim(1, 2), seed: seedArb,
      mode: fc.constantFrom<'nearest' | 'trilinear'>('nearest', 'trilinear'), alignCorners: fc.boolean(), size: fc.tuple(dim(1, 6), dim(1, 6), dim(1, 6)) });
    await fc.assert(fc.asyncProperty(arb, async ({ n, c, d, h, w, k, stride, seed, mode, alignCorners, size }) => {
      fc.pre(k <= Math.min(d, h, w));
      const x = input([n, c, d, h, w], seed, -1, 1, true);
      const padding = k > 1 ? 1 : 0;
      await compare((_, t) => maxPool3d(t, k, { stride, padding: Math.min(padding, Math.floor(k / 2)) }), [x], 1e-6, 'maxPool3d');
      await compare((_, t) => avgPool3d(t, k, { stride, padding: Math.min(padding, Math.floor(k / 2)) }), [x], 1e-5, 'avgPool3d');
      await compare((_, t) => interpolate(t, mode === 'nearest' ? { size, mode } : { size, mode, alignCorners }), [x], 1e-5, `interpolate ${mode}`);
    }), runs);
  });

  it('batchNorm (training and eval), instanceNorm, groupNorm, dropout3d, softmax, logSoftmax', async () => {
    const arb = fc.record({ n: dim(1, 3), g: dim(1, 2), cpg: dim(1, 2), d: dim(1, 3), h: dim(1, 3), w: dim(2, 3), seed: seedArb });
    await fc.assert(fc.asyncProperty(arb, async ({ n, g, cpg, d, h, w, seed }) => {
      const c = g * cpg;
      const shape = [n, c, d, h, w];
      const x = input(shape, seed, -2, 2), wt = input([c], seed + 1, 0.5, 1.5), b = input([c], seed + 2);
      await compare((_, t, ww, bb) => batchNorm(t, null, null, ww, bb, { training: true }), [x, wt, b], 1e-4, 'batchNorm training');
      await compare((be, t, ww, bb) => {
        const rm = fromArray(values(c, seed + 3), [c], { backend: be }), rv = fromArray(values(c, seed + 4, 0.5, 2), [c], { backend: be });
        return batchNorm(t, rm, rv, ww, bb);
      }, [x, wt, b], 1e-4, 'batchNorm eval');
      await compare((_, t, ww, bb) => instanceNorm(t, { weight: ww, bias: bb }), [x, wt, b], 1e-4, 'instanceNorm');
      await compare((_, t, ww, bb) => groupNorm(t, g, ww, bb), [x, wt, b], 1e-4, 'groupNorm');
      await compare((_, t) => softmax(t, 1), [x], 1e-6, 'softmax');
      await compare((_, t) => logSoftmax(t, -1), [x], 1e-5, 'logSoftmax');
    }), runs);
  });

  it('dropout and dropout3d: kept elements scaled by 1/(1 − p), whole channels, rate ≈ p, reproducible per seed', async () => {
    // masks need only be deterministic per backend, so each backend is checked by structure, not against the other
    const shape = [2, 8, 4, 4, 8], n = sizeOf(shape);
    const data = values(n, 5, 0.5, 1.5);
    for (const backend of [cpu, await webgpu()]) for (const [name, p, fn] of [['dropout', 0.3, dropout], ['dropout3d', 0.5, dropout3d]] as const) {
      const x = fromArray(data, shape, { backend });
      const y = fn(x, p, true, 42), again = fn(x, p, true, 42), other = fn(x, p, true, 43);
      const yv = await y.toArray();
      expect(Array.from(await again.toArray()), `${name} same seed on ${backend.name}`).toEqual(Array.from(yv));
      expect(Array.from(await other.toArray()), `${name} other seed`).not.toEqual(Array.from(yv));
      let zeros = 0;
      yv.forEach((v, i) => {
        if (v === 0) zeros++;
        else expect(Math.abs(v - data[i] / (1 - p)), `${name} element ${i}`).toBeLessThan(1e-5);
      });
      expect(Math.abs(zeros / n - p), `${name} rate`).toBeLessThan(name === 'dropout' ? 0.03 : 0.3);
      if (name === 'dropout3d') {
        const volume = 4 * 4 * 8;
        for (let c = 0; c < 16; c++) {
          const kept = Array.from(yv.subarray(c * volume, (c + 1) * volume), (v) => v !== 0);
          expect(new Set(kept).size, `channel ${c} all kept or all dropped`).toBe(1);
        }
      }
      dispose([x, y, again, other]);
    }
  });
});
