import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conv3d, pad } from '../../src/autograd/index.js';
import { dispose, fromArray, sizeOf } from '../../src/tensor/index.js';
import { cpu, expectGradchecks, numbersOf, randomArray, valuesOf } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * F.conv3d's padding strings, as PyTorch's: 'valid' no padding; 'same' (stride 1) a total of dilation·(k − 1)
 * per axis, ⌊total/2⌋ before the input and the rest after it. References: the input padded explicitly by pad().
 */

const triple = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }));

describe("F.conv3d padding 'same' and 'valid'", () => {
  it("'same' on a row of 4 with a kernel of 2 (an odd total): the extra zero after the end", async () => {
    const x = fromArray([1, 2, 3, 4], [1, 1, 1, 1, 4], { backend: cpu });
    const w = fromArray([1, 10], [1, 1, 1, 1, 2], { backend: cpu });
    expect(await valuesOf(conv3d(x, w, null, { padding: 'same' }))).toEqual([21, 32, 43, 4]);
    expect(await valuesOf(conv3d(x, w, null, { padding: 'valid' }))).toEqual([21, 32, 43]);
    dispose([x, w]);
  });

  it('equal explicit pad() + conv3d on random shapes, kernels, dilations and groups (float64, bit for bit)', async () => {
    const caseArb = fc.record({
      n: fc.integer({ min: 1, max: 2 }), groups: fc.integer({ min: 1, max: 2 }), cg: fc.integer({ min: 1, max: 2 }), mg: fc.integer({ min: 1, max: 2 }),
      size: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
      kernel: triple, dilation: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
      bias: fc.boolean(), seed: fc.integer({ min: 1, max: 1e6 }),
    });
    await fc.assert(fc.asyncProperty(caseArb, async (c) => {
      const label = JSON.stringify(c);
      const xShape = [c.n, c.groups * c.cg, ...c.size], wShape = [c.groups * c.mg, c.cg, ...c.kernel];
      const x = fromArray(randomArray(sizeOf(xShape), c.seed), xShape, { backend: cpu, dtype: 'float64' });
      const w = fromArray(randomArray(sizeOf(wShape), c.seed + 1), wShape, { backend: cpu, dtype: 'float64' });
      const b = c.bias ? fromArray(randomArray(wShape[0], c.seed + 2), [wShape[0]], { backend: cpu, dtype: 'float64' }) : null;
      const total = [0, 1, 2].map((a) => c.dilation[a] * (c.kernel[a] - 1));
      const pads = [2, 1, 0].flatMap((a) => [Math.floor(total[a] / 2), total[a] - Math.floor(total[a] / 2)]);
      const options = { dilation: c.dilation, groups: c.groups };
      const same = conv3d(x, w, b, { ...options, padding: 'same' });
      expect(same.shape, label).toEqual(xShape.slice(0, 1).concat(wShape[0], c.size));
      expect(await valuesOf(same), label).toEqual(await valuesOf(conv3d(pad(x, pads), w, b, options)));
      if (c.size.every((s, a) => s >= total[a] + 1)) {
        expect(await valuesOf(conv3d(x, w, b, { ...options, padding: 'valid' })), label).toEqual(await valuesOf(conv3d(x, w, b, options)));
      }
      dispose([x, w, b]);
    }), propertyOptions(40));
  }, 120_000);

  it('gradcheck (odd and even totals, dilation, groups)', async () => {
    const input = (shape: number[], seed: number) => ({ data: randomArray(sizeOf(shape), seed, -1, 1), shape });
    await expectGradchecks([
      ["'same', kernel [2, 3, 2], dilation [1, 1, 3]", (x, w, b) => conv3d(x, w, b, { padding: 'same', dilation: [1, 1, 3] }), [input([1, 2, 3, 3, 4], 1), input([2, 2, 2, 3, 2], 2), input([2], 3)]],
      ["'same', groups 2, kernel [1, 4, 3]", (x, w) => conv3d(x, w, null, { padding: 'same', groups: 2 }), [input([1, 2, 2, 4, 3], 4), input([2, 1, 1, 4, 3], 5)]],
      ["'valid', dilation 2", (x, w) => conv3d(x, w, null, { padding: 'valid', dilation: 2 }), [input([1, 1, 3, 4, 3], 6), input([1, 1, 2, 2, 1], 7)]],
    ]);
  });

  it("PyTorch's errors: 'same' with a stride other than 1, an unknown string", async () => {
    const x = fromArray(randomArray(2 * 27, 8), [1, 2, 3, 3, 3], { backend: cpu });
    const w = fromArray(randomArray(2 * 8, 9), [1, 2, 2, 2, 2], { backend: cpu });
    expect(() => conv3d(x, w, null, { padding: 'same', stride: [1, 2, 1] })).toThrow(/^conv3d: padding='same' needs stride 1, got stride \[1, 2, 1\]$/);
    expect(() => conv3d(x, w, null, { padding: 'full' as 'same' })).toThrow(/^conv3d: invalid padding string 'full', should be 'valid' or 'same'$/);
    expect(await numbersOf(conv3d(x, w, null, { padding: 'same', stride: 1 }))).toHaveLength(27);
    dispose([x, w]);
  });
});
