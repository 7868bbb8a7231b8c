import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Conv3dParams, Storage } from '../../src/kernels/index.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { cpu, expectClose, randomArray } from '../helpers/backends.js';
import { convOutputShape, oracleConv3d, oracleConv3dBackwardInput, oracleConv3dBackwardWeight, type ConvShapes } from '../helpers/conv-oracle.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * The cpu conv3d oracle (one tap walker for the forward and both gradients, src/kernels/conv3d/cpu.ts) against
 * a second, independently written one (test/helpers/conv-oracle.ts: im2col + matmul, and a gather for the input
 * gradient), in float64 on random shapes, strides up to 3, kernels up to 5, paddings, dilations up to 3 and
 * output padding (the transposed convolution's extra trailing rows). The adjoint and finite-difference
 * identities of conv3d.test.ts cannot see an indexing error the three operations share; this can.
 */

interface Case extends ConvShapes { bias: boolean; extra: number[] }

const f64 = (a: ArrayLike<number>): Storage => cpu.upload(Float64Array.from(a), 'float64');

const caseArb: fc.Arbitrary<Case> = fc.record({
  n: fc.integer({ min: 1, max: 2 }),
  ci: fc.integer({ min: 1, max: 4 }),
  co: fc.integer({ min: 1, max: 4 }),
  size: fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 })),
  k: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
  s: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  pad: fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)),
  dil: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  extra: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2)),
  bias: fc.boolean(),
}).filter((r) => [0, 1, 2].every((a) => r.dil[a] * (r.k[a] - 1) + 1 <= r.size[a] + 2 * r.pad[a]))
  .map((r) => {
    const c: Case = {
      xShape: [r.n, r.ci, ...r.size], wShape: [r.co, r.ci, ...r.k], p: { stride: r.s, padding: r.pad, dilation: r.dil } as Conv3dParams,
      bias: r.bias, extra: [0, 0, 0],
    };
    // output padding: trailing input rows that no output reads (the output size must not change)
    const out = convOutputShape(c);
    c.extra = r.extra.map((e, a) => {
      const grown: ConvShapes = { ...c, xShape: c.xShape.map((v, i) => (i === 2 + a ? v + e : v)) };
      return convOutputShape(grown)[2 + a] === out[2 + a] ? e : 0;
    });
    return c;
  });

describe('cpu conv3d against an independent im2col oracle (float64)', () => {
  it('forward, input gradient (with output padding) and weight gradient on random shapes', async () => {
    const seen = { stride3: 0, kernel5: 0, dilation3: 0, extra: 0 };
    await fc.assert(fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 1e6 }), async (c, seed) => {
      const { xShape, wShape, p } = c;
      const gyShape = convOutputShape(c);
      const x = randomArray(sizeOf(xShape), seed), w = randomArray(sizeOf(wShape), seed + 1);
      const b = randomArray(wShape[0], seed + 2), gy = randomArray(sizeOf(gyShape), seed + 3);
      const label = JSON.stringify(c);
      // float64 on both sides, the same products summed in other orders
      const y = await cpu.read(cpu.conv3d(f64(x), xShape, f64(w), wShape, c.bias ? f64(b) : null, p));
      expectClose(y, oracleConv3d(x, w, c.bias ? b : null, c), 1e-12, 1e-12, `forward ${label}`);
      const gw = await cpu.read(cpu.conv3dBackwardWeight(f64(x), xShape, f64(gy), gyShape, wShape, p));
      expectClose(gw, oracleConv3dBackwardWeight(x, gy, c), 1e-12, 1e-12, `backwardWeight ${label}`);
      const padded: ConvShapes = { ...c, xShape: xShape.map((v, i) => (i < 2 ? v : v + c.extra[i - 2])) };
      const gx = await cpu.read(cpu.conv3dBackwardInput(f64(gy), gyShape, f64(w), wShape, padded.xShape, p));
      expectClose(gx, oracleConv3dBackwardInput(gy, w, padded), 1e-12, 1e-12, `backwardInput ${label}`);
      if (p.stride.includes(3)) seen.stride3++;
      if (wShape.slice(2).includes(5)) seen.kernel5++;
      if (p.dilation.includes(3)) seen.dilation3++;
      if (c.extra.some((e) => e > 0)) seen.extra++;
    }), propertyOptions(150));
    console.log(`conv3d-oracle: cases with stride 3 ${seen.stride3}, kernel 5 ${seen.kernel5}, dilation 3 ${seen.dilation3}, output padding ${seen.extra}`);
  });

  it('the oracle itself, on a case worked by hand: 1-D along w, stride 2, padding 1, dilation 2', () => {
    // x = [1, 2, 3, 4, 5] along w, kernel [1, 10], s 2, p 1, dil 2: Wo = ⌊(5 + 2 − 2 − 1)/2⌋ + 1 = 3; output o
    // reads x at 2o − 1 and 2o + 1: o = 0 → (−1: 0) + 10·x[1] = 20; o = 1 → x[1] + 10·x[3] = 42; o = 2 → x[3] + 10·x[5: 0] = 4
    const s: ConvShapes = { xShape: [1, 1, 1, 1, 5], wShape: [1, 1, 1, 1, 2], p: { stride: [1, 1, 2], padding: [0, 0, 1], dilation: [1, 1, 2] } };
    expect(Array.from(oracleConv3d([1, 2, 3, 4, 5], [1, 10], null, s))).toEqual([20, 42, 4]);
    // gy = [1, 2, 3]: gx[1] = 10·1 + 1·2 = 12, gx[3] = 10·2 + 1·3 = 23, the even positions are never read
    expect(Array.from(oracleConv3dBackwardInput([1, 2, 3], [1, 10], s))).toEqual([0, 12, 0, 23, 0]);
    // gw[0] = Σ gy·x[2o − 1] = 1·0 + 2·2 + 3·4 = 16, gw[1] = Σ gy·x[2o + 1] = 1·2 + 2·4 + 3·0 = 10
    expect(Array.from(oracleConv3dBackwardWeight([1, 2, 3, 4, 5], [1, 2, 3], s))).toEqual([16, 10]);
  });
});
