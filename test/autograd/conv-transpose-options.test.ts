import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convTranspose3d, convTranspose3dBatchNormEval, gradcheck, noGrad, batchNorm, type ConvTranspose3dOptions } from '../../src/autograd/index.js';
import { ConvTranspose3d } from '../../src/models/layers.js';
import { fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, valuesOf } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * F.conv_transpose3d's options beyond the kernel path: outputPadding at or past the stride (allowed below the
 * dilation, PyTorch's rule) and groups. Values against PyTorch's definition written out as a loop,
 * y[n, o, j] = bias[o] + Σ x[n, i, a]·w[i, o mod Cout/g, k] over j = a·s − p + k·dil per axis, i in o's group;
 * gradients through gradcheck (float64).
 */

const f64 = { backend: cpu, dtype: 'float64' as const };
type Three = readonly [number, number, number];
const three = (v: number | Three): Three => (typeof v === 'number' ? [v, v, v] : v);

function reference(x: ArrayLike<number>, xShape: number[], w: ArrayLike<number>, wShape: number[], bias: ArrayLike<number> | null,
  o: { stride: Three; padding: Three; dilation: Three; outputPadding: Three; groups: number }): { data: number[]; shape: number[] } {
  const [N, Cin, ...inSize] = xShape, [, coPerGroup, ...k] = wShape, groups = o.groups, Cout = coPerGroup * groups;
  const outSize = [0, 1, 2].map((a) => (inSize[a] - 1) * o.stride[a] - 2 * o.padding[a] + o.dilation[a] * (k[a] - 1) + o.outputPadding[a] + 1);
  const y = new Array<number>(N * Cout * sizeOf(outSize)).fill(0);
  const ciPerGroup = Cin / groups;
  for (let n = 0; n < N; n++) for (let co = 0; co < Cout; co++) {
    const base = (n * Cout + co) * sizeOf(outSize);
    if (bias) for (let v = 0; v < sizeOf(outSize); v++) y[base + v] = bias[co];
    const g = Math.floor(co / coPerGroup);
    for (let ci = g * ciPerGroup; ci < (g + 1) * ciPerGroup; ci++) {
      for (let a0 = 0; a0 < inSize[0]; a0++) for (let a1 = 0; a1 < inSize[1]; a1++) for (let a2 = 0; a2 < inSize[2]; a2++) {
        const xv = x[(((n * Cin + ci) * inSize[0] + a0) * inSize[1] + a1) * inSize[2] + a2];
        for (let k0 = 0; k0 < k[0]; k0++) for (let k1 = 0; k1 < k[1]; k1++) for (let k2 = 0; k2 < k[2]; k2++) {
          const j = [a0, a1, a2].map((a, ax) => a * o.stride[ax] - o.padding[ax] + [k0, k1, k2][ax] * o.dilation[ax]);
          if (j.some((v, ax) => v < 0 || v >= outSize[ax])) continue;
          const wv = w[(((ci * coPerGroup + (co % coPerGroup)) * k[0] + k0) * k[1] + k1) * k[2] + k2];
          y[base + (j[0] * outSize[1] + j[1]) * outSize[2] + j[2]] += xv * wv;
        }
      }
    }
  }
  return { data: y, shape: [N, Cout, ...outSize] };
}

function full(options: ConvTranspose3dOptions): { stride: Three; padding: Three; dilation: Three; outputPadding: Three; groups: number } {
  return {
    stride: three(options.stride ?? 1), padding: three(options.padding ?? 0), dilation: three(options.dilation ?? 1),
    outputPadding: three(options.outputPadding ?? 0), groups: options.groups ?? 1,
  };
}

async function expectMatchesReference(xShape: number[], wShape: number[], withBias: boolean, options: ConvTranspose3dOptions, seed: number): Promise<void> {
  const xs = Array.from(randomArray(sizeOf(xShape), seed, -1, 1)), ws = Array.from(randomArray(sizeOf(wShape), seed + 1, -1, 1));
  const cout = wShape[1] * (options.groups ?? 1);
  const bs = withBias ? Array.from(randomArray(cout, seed + 2, -1, 1)) : null;
  const want = reference(xs, xShape, ws, wShape, bs, full(options));
  const y = convTranspose3d(fromArray(xs, xShape, f64), fromArray(ws, wShape, f64), bs ? fromArray(bs, [cout], f64) : null, options);
  expect(y.shape).toEqual(want.shape);
  expectClose(await valuesOf(y), want.data, 1e-12, 1e-12);
}

async function expectGrad(fn: (...xs: Tensor[]) => Tensor, shapes: number[][]): Promise<void> {
  const inputs = shapes.map((shape, i) => ({ data: Array.from(randomArray(sizeOf(shape), 71 + i, -1, 1)), shape }));
  const r = await gradcheck(fn, inputs, { backend: cpu });
  expect(r.ok, r.message).toBe(true);
}

describe('convTranspose3d: outputPadding smaller than the dilation but not the stride', () => {
  it('stride 1, dilation 2, outputPadding 1: padding 0 (a zero row added) and padding 2 (a computed row added)', async () => {
    await expectMatchesReference([1, 2, 3, 2, 3], [2, 1, 2, 2, 2], true, { dilation: 2, outputPadding: 1 }, 1);
    await expectMatchesReference([1, 2, 4, 3, 3], [2, 3, 3, 2, 2], false, { dilation: 2, padding: 2, outputPadding: 1 }, 2);
  });

  it('per axis, mixed with an axis on the kernel path (outputPadding below the stride)', async () => {
    await expectMatchesReference([2, 1, 3, 3, 4], [1, 2, 2, 3, 2], true,
      { stride: [1, 2, 2], dilation: [3, 1, 2], padding: [1, 1, 0], outputPadding: [2, 1, 1] }, 3);
  });

  it('random shapes and parameters against the loop', async () => {
    const axes = (min: number, max: number) => fc.tuple(fc.integer({ min, max }), fc.integer({ min, max }), fc.integer({ min, max }));
    await fc.assert(fc.asyncProperty(axes(1, 3), axes(1, 3), axes(1, 3), axes(1, 3), axes(0, 2), axes(0, 5), fc.integer({ min: 1, max: 1000 }),
      async (inSize, k, stride, dilation, padding, opRaw, seed) => {
        const below = (i: 0 | 1 | 2) => opRaw[i] % Math.max(stride[i], dilation[i]);
        const outputPadding: Three = [below(0), below(1), below(2)];
        const out = inSize.map((d, i) => (d - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k[i] - 1) + outputPadding[i] + 1);
        fc.pre(out.every((d) => d >= 1));
        await expectMatchesReference([1, 2, ...inSize], [2, 2, ...k], seed % 2 === 0, { stride, dilation, padding, outputPadding }, seed);
      }), propertyOptions(40));
  });

  it('gradients (input, weight, bias)', async () => {
    await expectGrad((x, w, b) => convTranspose3d(x, w, b, { dilation: 2, padding: [2, 0, 1], outputPadding: 1 }), [[1, 2, 3, 2, 2], [2, 2, 2, 2, 2], [2]]);
  });

  it('outputPadding at or past both the stride and the dilation is refused, as PyTorch', () => {
    const x = fromArray(new Float64Array(8), [1, 1, 2, 2, 2], f64), w = fromArray(new Float64Array(8), [1, 1, 2, 2, 2], f64);
    expect(() => convTranspose3d(x, w, null, { stride: 2, dilation: 2, outputPadding: 2 })).toThrow(/smaller than either the stride \[2, 2, 2\] or the dilation \[2, 2, 2\]/);
    expect(() => convTranspose3d(x, w, null, { outputPadding: [0, 1, 0] })).toThrow(/outputPadding \[0, 1, 0\]/);
  });

  it('convTranspose3dBatchNormEval there: the transposed convolution, then the normalisation', async () => {
    const x = fromArray(Array.from(randomArray(12, 5, -1, 1)), [1, 2, 3, 2, 1], f64), w = fromArray(Array.from(randomArray(32, 6, -1, 1)), [2, 2, 2, 2, 2], f64);
    const b = fromArray([0.1, -0.2], [2], f64);
    const bn = { runningMean: fromArray([0.3, -0.1], [2], f64), runningVar: fromArray([1.5, 0.5], [2], f64), weight: fromArray([2, 0.5], [2], f64), bias: null, relu: true };
    const o = { dilation: 2, padding: [1, 0, 0] as Three, outputPadding: 1 };
    const fused = await valuesOf(noGrad(() => convTranspose3dBatchNormEval(x, w, b, bn, o)));
    const separate = await valuesOf(batchNorm(convTranspose3d(x, w, b, o), bn.runningMean, bn.runningVar, bn.weight, null, { relu: true }));
    expect(fused).toEqual(separate);
  });
});

describe('convTranspose3d with groups', () => {
  it('2 and 3 groups against the loop, with stride, padding and outputPadding', async () => {
    await expectMatchesReference([1, 4, 3, 2, 3], [4, 3, 2, 2, 2], true, { groups: 2, stride: 2, padding: 1, outputPadding: 1 }, 11);
    await expectMatchesReference([2, 3, 2, 3, 2], [3, 1, 3, 2, 2], false, { groups: 3 }, 12);
  });

  it('gradients', async () => {
    await expectGrad((x, w, b) => convTranspose3d(x, w, b, { groups: 2, stride: [2, 1, 1] }), [[1, 4, 2, 2, 2], [4, 1, 2, 2, 2], [2]]);
  });

  it('channels that do not split into the groups are refused', () => {
    const x = fromArray(new Float64Array(24), [1, 3, 2, 2, 2], f64), w = fromArray(new Float64Array(24), [3, 1, 2, 2, 2], f64);
    expect(() => convTranspose3d(x, w, null, { groups: 2 })).toThrow(/3 input channels .* do not split into 2 groups/);
    expect(() => convTranspose3d(x, w, fromArray([0, 0], [2], f64), { groups: 3 })).toThrow(/bias \[2\] must be \[3\]/);
  });

  it('nn.ConvTranspose3d(groups): weight [in, out/groups, k…], PyTorch\'s repr, forward as F.convTranspose3d', async () => {
    const layer = new ConvTranspose3d(4, 6, 2, { groups: 2, dilation: 2, seed: 3, backend: cpu });
    expect(layer.weight.shape).toEqual([4, 3, 2, 2, 2]);
    expect(layer.extraRepr()).toBe('4, 6, kernel_size=2, stride=1, dilation=2, groups=2');
    const x = fromArray(Array.from(randomArray(4 * 8, 9, -1, 1)), [1, 4, 2, 2, 2], { backend: cpu, dtype: 'float32' });
    const want = await valuesOf(convTranspose3d(x, layer.weight, layer.bias, { groups: 2, dilation: 2 }));
    expect(await valuesOf(layer.forward(x))).toEqual(want);
    expect(() => new ConvTranspose3d(4, 5, 2, { groups: 2 })).toThrow(/groups \(2\) must be a positive integer dividing/);
  });

  it('forward(x, outputSize) picks the outputPadding in [0, stride), as PyTorch\'s output_size', async () => {
    const layer = new ConvTranspose3d(1, 1, 3, { stride: 2, padding: 1, seed: 4, backend: cpu });
    const x = fromArray(Array.from(randomArray(8, 10, -1, 1)), [1, 1, 2, 2, 2], { backend: cpu, dtype: 'float32' });
    // s_min = (2 − 1)·2 − 2 + 2 + 1 = 3: sizes 3 and 4 are valid
    const y = layer.forward(x, [3, 4, 4]);
    expect(y.shape).toEqual([1, 1, 3, 4, 4]);
    expect(await valuesOf(y)).toEqual(await valuesOf(convTranspose3d(x, layer.weight, layer.bias, { stride: 2, padding: 1, outputPadding: [0, 1, 1] })));
    expect(layer.forward(x, [1, 1, 4, 3, 3]).shape).toEqual([1, 1, 4, 3, 3]);
    expect(() => layer.forward(x, [5, 3, 3])).toThrow(/valid sizes of axis 0 range from 3 to 4/);
  });
});
