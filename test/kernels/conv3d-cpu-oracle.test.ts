import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Conv3dParams, ConvNormEpilogue, Storage } from '../../src/kernels/index.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { cpu, expectClose, randomArray } from '../helpers/backends.js';
import { convOutputShape, oracleConv3d, oracleConv3dBackwardInput, type ConvShapes } from '../helpers/conv-oracle.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * What conv3d-oracle.test.ts leaves out of the cpu conv3d oracle (src/kernels/conv3d/cpu.ts): its epilogue (an
 * evaluation-mode batch norm and ReLU on the stored output), convTranspose3d's bias added to the input gradient,
 * and the argument checks it runs before computing. Expected values are worked by hand, or the independent im2col
 * oracle (test/helpers/conv-oracle.ts) followed by PyTorch's batch-norm formula written out here.
 */

const f64 = (a: ArrayLike<number>): Storage => cpu.upload(Float64Array.from(a), 'float64');
const f32 = (a: ArrayLike<number>): Storage => cpu.upload(Float32Array.from(a), 'float32');
const P0: Conv3dParams = { stride: [1, 1, 1], padding: [0, 0, 0], dilation: [1, 1, 1] };
const read = async (s: Storage): Promise<number[]> => Array.from(await cpu.read(s));

interface Bn { mean: ArrayLike<number>; variance: ArrayLike<number>; weight: ArrayLike<number> | null; bias: ArrayLike<number> | null; eps: number }

const epilogueOf = (bn: Bn, relu: boolean, up = f64): ConvNormEpilogue => ({
  norm: { mean: up(bn.mean), variance: up(bn.variance), weight: bn.weight ? up(bn.weight) : null, bias: bn.bias ? up(bn.bias) : null, eps: bn.eps },
  relu,
});

/** PyTorch's eval batch norm on [n, channels, inner]: (v − mean)/√(var + eps)·weight + bias per channel, then max(0, ·) */
function batchNorm(v: ArrayLike<number>, channels: number, inner: number, bn: Bn, relu: boolean): number[] {
  return Array.from(v, (x, i) => {
    const c = Math.floor(i / inner) % channels;
    const y = ((x - bn.mean[c]) / Math.sqrt(bn.variance[c] + bn.eps)) * (bn.weight ? bn.weight[c] : 1) + (bn.bias ? bn.bias[c] : 0);
    return relu ? Math.max(0, y) : y;
  });
}

describe('the cpu conv3d epilogue by hand', () => {
  // x [2, 1, 1, 1, 2] (n0: [1, −2], n1: [3, 4]) through a 1×1×1 kernel w = [2, −1] (2 output channels):
  // y = n0: co0 [2, −4], co1 [−1, 2]; n1: co0 [6, 8], co1 [−3, −4]
  const xs = [2, 1, 1, 1, 2], ws = [2, 1, 1, 1, 1];
  const x = [1, -2, 3, 4], w = [2, -1];
  // mean [1, 0], variance [3, 0], eps 1 → rstd [1/2, 1]; weight [2, 3], bias [0.5, −1]:
  // co0: (v − 1)·½·2 + 0.5 = v − 0.5; co1: 3v − 1
  const bn: Bn = { mean: [1, 0], variance: [3, 0], weight: [2, 3], bias: [0.5, -1], eps: 1 };

  it('normalises each output channel of each sample with its own terms', async () => {
    for (const up of [f64, f32]) {
      const y = cpu.conv3d(up(x), xs, up(w), ws, null, P0, epilogueOf(bn, false, up));
      expect(await read(y)).toEqual([1.5, -4.5, -4, 5, 5.5, 7.5, -10, -13]);
      const r = cpu.conv3d(up(x), xs, up(w), ws, null, P0, epilogueOf(bn, true, up));
      expect(await read(r)).toEqual([1.5, 0, 0, 5, 5.5, 7.5, 0, 0]);
    }
  });

  it('after the convolution\'s bias, with weight and bias absent (1 and 0)', async () => {
    // conv bias [1, 2]: y = n0: [3, −3], [1, 4]; n1: [7, 9], [−1, −2]; then (v − mean)·rstd
    const plain: Bn = { mean: [1, 0], variance: [3, 0], weight: null, bias: null, eps: 1 };
    const y = cpu.conv3d(f64(x), xs, f64(w), ws, f64([1, 2]), P0, epilogueOf(plain, false));
    expect(await read(y)).toEqual([1, -2, 1, 4, 3, 4, -1, -2]);
  });

  it('the input gradient adds convTranspose3d\'s bias per input channel, then the epilogue', async () => {
    // w [co 2, ci 2, 1, 1, 1] = [[1, 2], [−1, 1]]; gy [2, 2, 1, 1, 2]: n0 co0 [1, 2], co1 [3, −1]; n1 = −n0
    // gx[ci] = Σ_co gy[co]·w[co, ci]: n0 ci0 [−2, 3], ci1 [5, 3]; n1 ci0 [2, −3], ci1 [−5, −3]; + bias [10, −5]
    const gy = [1, 2, 3, -1, -1, -2, -3, 1], wt = [1, 2, -1, 1];
    const gys = [2, 2, 1, 1, 2], wts = [2, 2, 1, 1, 1], xts = [2, 2, 1, 1, 2];
    const gx = cpu.conv3dBackwardInput(f64(gy), gys, f64(wt), wts, xts, P0, f64([10, -5]));
    expect(await read(gx)).toEqual([8, 13, 0, -2, 12, 7, -10, -8]);
    // mean [8, 0], variance [0, 3], eps 1, no weight or bias: ci0 v − 8, ci1 v/2; ReLU
    const terms: Bn = { mean: [8, 0], variance: [0, 3], weight: null, bias: null, eps: 1 };
    const gxn = cpu.conv3dBackwardInput(f64(gy), gys, f64(wt), wts, xts, P0, f64([10, -5]), epilogueOf(terms, false));
    expect(await read(gxn)).toEqual([0, 5, 0, -1, 4, -1, -5, -4]);
    const gxr = cpu.conv3dBackwardInput(f64(gy), gys, f64(wt), wts, xts, P0, null, epilogueOf(terms, true));
    // without the bias: n0 ci0 [−2, 3] − 8 → [0, 0] after the ReLU, ci1 [5, 3]/2; n1 ci0 [2, −3] − 8, ci1 [−5, −3]/2
    expect(await read(gxr)).toEqual([0, 0, 2.5, 1.5, 0, 0, 0, 0]);
  });
});

const shapeArb = fc.record({
  n: fc.integer({ min: 1, max: 2 }), ci: fc.integer({ min: 1, max: 3 }), co: fc.integer({ min: 1, max: 3 }),
  size: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
  k: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  s: fc.integer({ min: 1, max: 2 }), pad: fc.nat(1),
}).filter((r) => r.k.every((k, a) => k <= r.size[a] + 2 * r.pad))
  .map((r): ConvShapes => ({ xShape: [r.n, r.ci, ...r.size], wShape: [r.co, r.ci, ...r.k], p: { stride: [r.s, r.s, r.s], padding: [r.pad, r.pad, r.pad], dilation: [1, 1, 1] } }));

describe('the cpu conv3d epilogue and transposed bias on random shapes (float64)', () => {
  it('conv3d + epilogue = im2col oracle, then the batch-norm formula; the input gradient + bias likewise', async () => {
    await fc.assert(fc.asyncProperty(shapeArb, fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 1e6 }), async (s, relu, affine, seed) => {
      const { xShape, wShape, p } = s;
      const yShape = convOutputShape(s), co = wShape[0], ci = wShape[1];
      const x = randomArray(sizeOf(xShape), seed), w = randomArray(sizeOf(wShape), seed + 1), gy = randomArray(sizeOf(yShape), seed + 2);
      const terms = (c: number, at: number): Bn => ({
        mean: randomArray(c, at), variance: randomArray(c, at + 1, 0.1, 2), eps: 1e-5,
        weight: affine ? randomArray(c, at + 2) : null, bias: affine ? randomArray(c, at + 3) : null,
      });
      const label = JSON.stringify({ s, relu, affine });
      const bnY = terms(co, seed + 3);
      const y = await cpu.read(cpu.conv3d(f64(x), xShape, f64(w), wShape, null, p, epilogueOf(bnY, relu)));
      expectClose(y, batchNorm(oracleConv3d(x, w, null, s), co, sizeOf(yShape.slice(2)), bnY, relu), 1e-12, 1e-12, `forward ${label}`);
      const bnX = terms(ci, seed + 7), b = randomArray(ci, seed + 11);
      const gx = await cpu.read(cpu.conv3dBackwardInput(f64(gy), yShape, f64(w), wShape, xShape, p, f64(b), epilogueOf(bnX, relu)));
      const inner = sizeOf(xShape.slice(2));
      const plus = Array.from(oracleConv3dBackwardInput(gy, w, s), (v, i) => v + b[Math.floor(i / inner) % ci]);
      expectClose(gx, batchNorm(plus, ci, inner, bnX, relu), 1e-12, 1e-12, `backwardInput ${label}`);
    }), propertyOptions(40));
  });
});

describe('the cpu conv3d oracle refuses bad biases and epilogues', () => {
  const xs = [1, 2, 2, 2, 2], ws = [3, 2, 1, 1, 1], gys = [1, 3, 2, 2, 2];
  const x = f64(randomArray(16, 1)), w = f64(randomArray(6, 2)), gy = f64(randomArray(24, 3));
  const bn = (c: number): Bn => ({ mean: new Array<number>(c).fill(0), variance: new Array<number>(c).fill(1), weight: null, bias: null, eps: 0 });

  it('a bias of another length than the output (forward) or input (transposed) channels', () => {
    expect(() => cpu.conv3d(x, xs, w, ws, f64([1, 2]), P0)).toThrow('conv3d: bias has 2 elements, weight [3, 2, 1, 1, 1] has 3 output channels');
    expect(() => cpu.conv3dBackwardInput(gy, gys, w, ws, xs, P0, f64([1, 2, 3])))
      .toThrow('conv3dBackwardInput: bias of 3 elements, expected one per output channel (2)');
  });

  it('an epilogue with terms for another number of channels, or in another dtype', () => {
    expect(() => cpu.conv3d(x, xs, w, ws, null, P0, epilogueOf(bn(2), false))).toThrow(/^conv3d: .*statistic/);
    expect(() => cpu.conv3d(x, xs, w, ws, null, P0, epilogueOf(bn(3), false, f32)))
      .toThrow('conv3d: the epilogue\'s batch-norm terms are float32, the convolution float64');
    expect(() => cpu.conv3dBackwardInput(gy, gys, w, ws, xs, P0, null, epilogueOf(bn(3), false))).toThrow(/^conv3dBackwardInput: .*statistic/);
    expect(() => cpu.conv3dBackwardInput(gy, gys, w, ws, xs, P0, null, epilogueOf(bn(2), false, f32)))
      .toThrow('conv3dBackwardInput: the epilogue\'s batch-norm terms are float32, the convolution float64');
  });
});
