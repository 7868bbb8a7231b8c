import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chunk, erf, flip, gradcheck, mul, oneHot, repeat, roll, split, stack, sum, type GradcheckOptions,
} from '../../src/autograd/index.js';
import { dispose, fromArray, memory, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray } from '../helpers/backends.js';

/**
 * stack, split, chunk, flip, roll, repeat, oneHot and erf: values against torch's documented definitions (each
 * written out with plain index arithmetic here, on random shapes picked by fast-check), gradients through
 * gradcheck (float64 on the cpu), and the Tensor methods of the same names.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };

async function expectGrad(fn: (...xs: Tensor[]) => Tensor, shapes: number[][], options: GradcheckOptions = {}): Promise<void> {
  const inputs = shapes.map((shape, i) => ({ data: randomArray(sizeOf(shape), 17 + i, -1, 1), shape }));
  const r = await gradcheck(fn, inputs, { backend: cpu, ...options });
  expect(r.ok, r.message).toBe(true);
}

/** the C-order multi-index of flat element i */
function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) { idx[d] = i % shape[d]; i = Math.floor(i / shape[d]); }
  return idx;
}
function ravel(idx: readonly number[], shape: readonly number[]): number {
  return idx.reduce((at, v, d) => at * shape[d] + v, 0);
}

const shapeArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 });

describe('stack, split and chunk', () => {
  it('stack inserts a new axis: out[..., i, ...] = xs[i] (random shapes and axes)', async () => {
    await fc.assert(fc.asyncProperty(shapeArb, fc.integer({ min: 1, max: 3 }), fc.nat(), async (shape, count, axisSeed) => {
      const axis = axisSeed % (shape.length + 1);
      const data = Array.from({ length: count }, (_, k) => Array.from(randomArray(sizeOf(shape), 5 + k, -1, 1)));
      const xs = data.map((d) => fromArray(d, shape, f64));
      const y = stack(xs, axis);
      const outShape = [...shape.slice(0, axis), count, ...shape.slice(axis)];
      expect(y.shape).toEqual(outShape);
      const got = await y.toArray();
      for (let i = 0; i < got.length; i++) {
        const idx = unravel(i, outShape);
        const k = idx.splice(axis, 1)[0];
        expect(got[i]).toBe(data[k][ravel(idx, shape)]);
      }
      dispose([...xs, y]);
    }), { numRuns: 25 });
  });

  it('split by size and by sizes, chunk as torch.chunk', async () => {
    const x = fromArray(Array.from({ length: 14 }, (_, i) => i), [7, 2], f64);
    expect(split(x, 3).map((t) => t.shape[0])).toEqual([3, 3, 1]);
    expect(split(x, [2, 5]).map((t) => t.shape[0])).toEqual([2, 5]);
    expect(Array.from(await split(x, [2, 5])[1].toArray())).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(split(x, 1, 1).map((t) => t.shape)).toEqual([[7, 1], [7, 1]]);
    expect(Array.from(await split(x, 1, 1)[1].toArray())).toEqual([1, 3, 5, 7, 9, 11, 13]);
    // torch.chunk: ⌈7/3⌉ = 3 per piece → 3, 3, 1; ⌈6/4⌉ = 2 per piece → only 3 pieces
    expect(chunk(x, 3).map((t) => t.shape[0])).toEqual([3, 3, 1]);
    const six = fromArray([0, 1, 2, 3, 4, 5], [6], f64);
    expect(chunk(six, 4).map((t) => t.shape[0])).toEqual([2, 2, 2]);
    expect(x.chunk(2, 1).length).toBe(2);
    expect(() => split(x, [2, 4])).toThrow(/adding up to 7/);
    expect(() => split(x, 0)).toThrow(/positive integer/);
    expect(() => chunk(x, 0)).toThrow(/positive integer/);
    dispose([x, six]);
  });

  it('gradcheck: stack, split and chunk', async () => {
    await expectGrad((a, b) => mul(stack([a, b], 1), stack([b, a], 1)), [[2, 3], [2, 3]]);
    await expectGrad((x) => { const [a, b, c] = split(x, [1, 2, 1], 1); return add3(mul(a, a), sum(b, 1, true), mul(c, b.sum(1, true))); }, [[2, 4, 2]]);
    await expectGrad((x) => { const [a, b] = chunk(x, 2, 0); return mul(a, b); }, [[4, 3]]);
  });
});

function add3(a: Tensor, b: Tensor, c: Tensor): Tensor { return a.add(b).add(c); }

describe('flip, roll, repeat', () => {
  it('flip: out[i] = x[n − 1 − i] along each flipped axis (random shapes and axes)', async () => {
    await fc.assert(fc.asyncProperty(shapeArb, fc.array(fc.nat(), { minLength: 1, maxLength: 2 }), async (shape, axisSeeds) => {
      const axes = [...new Set(axisSeeds.map((s) => s % shape.length))];
      const data = Array.from(randomArray(sizeOf(shape), 3, -1, 1));
      const x = fromArray(data, shape, f64);
      const y = flip(x, axes);
      const got = await y.toArray();
      for (let i = 0; i < got.length; i++) {
        const idx = unravel(i, shape).map((v, d) => (axes.includes(d) ? shape[d] - 1 - v : v));
        expect(got[i]).toBe(data[ravel(idx, shape)]);
      }
      dispose([x, y]);
    }), { numRuns: 25 });
  });

  it('roll: out[(i + shift) mod n] = x[i] along each axis; without dims over the flattened tensor', async () => {
    await fc.assert(fc.asyncProperty(shapeArb, fc.integer({ min: -9, max: 9 }), fc.integer({ min: -9, max: 9 }), fc.nat(),
      async (shape, s0, s1, axisSeed) => {
        const a0 = axisSeed % shape.length, a1 = (axisSeed + 1) % shape.length;
        const data = Array.from(randomArray(sizeOf(shape), 4, -1, 1));
        const x = fromArray(data, shape, f64);
        const dims = a0 === a1 ? [a0] : [a0, a1], shifts = a0 === a1 ? [s0] : [s0, s1];
        const y = roll(x, shifts, dims);
        const got = await y.toArray();
        const mod = (v: number, n: number) => ((v % n) + n) % n;
        for (let i = 0; i < got.length; i++) {
          const idx = unravel(i, shape);
          dims.forEach((d, k) => { idx[d] = mod(idx[d] - shifts[k], shape[d]); });
          expect(got[i]).toBe(data[ravel(idx, shape)]);
        }
        const flat = roll(x, s0);
        const gotFlat = await flat.toArray();
        expect(flat.shape).toEqual(shape);
        for (let i = 0; i < data.length; i++) expect(gotFlat[mod(i + s0, data.length)]).toBe(data[i]);
        dispose([x, y, flat]);
      }), { numRuns: 25 });
  });

  it('repeat: out[i] = x[i mod shape] with leading axes prepended (torch.Tensor.repeat)', async () => {
    await fc.assert(fc.asyncProperty(shapeArb, fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 4 }), async (shape, reps) => {
      const sizes = reps.slice(0, Math.max(shape.length, reps.length));
      if (sizes.length < shape.length) return;
      const data = Array.from(randomArray(sizeOf(shape), 6, -1, 1));
      const x = fromArray(data, shape, f64);
      const y = repeat(x, sizes);
      const full = [...new Array<number>(sizes.length - shape.length).fill(1), ...shape];
      const outShape = full.map((d, i) => d * sizes[i]);
      expect(y.shape).toEqual(outShape);
      const got = await y.toArray();
      for (let i = 0; i < got.length; i++) {
        const idx = unravel(i, outShape).map((v, d) => v % full[d]).slice(sizes.length - shape.length);
        expect(got[i]).toBe(data[ravel(idx, shape)]);
      }
      dispose([x, y]);
    }), { numRuns: 25 });
  });

  it('known values and errors', async () => {
    const x = fromArray([1, 2, 3, 4, 5, 6], [2, 3], f64);
    const checks: [Tensor, number[]][] = [
      [flip(x, [0, 1]), [6, 5, 4, 3, 2, 1]],
      [x.flip(1), [3, 2, 1, 6, 5, 4]],
      [roll(x, 1, 1), [3, 1, 2, 6, 4, 5]],
      [x.roll([1, -1], [0, 1]), [5, 6, 4, 2, 3, 1]],
      [roll(x, 2), [5, 6, 1, 2, 3, 4]],
      [repeat(x, [1, 2]), [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]],
      [x.repeat(2, 1, 1), [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]],
    ];
    for (const [t, expected] of checks) expect(Array.from(await t.toArray())).toEqual(expected);
    expect(() => repeat(x, [2])).toThrow(/at least one per axis/);
    expect(() => roll(x, [1, 2], [0])).toThrow(/2 shifts for 1 dims/);
    dispose([x, ...checks.map(([t]) => t)]);
  });

  it('gradcheck: flip, roll, repeat (strided inputs included)', async () => {
    await expectGrad((x) => mul(flip(x, [0, 2]), x), [[2, 3, 2]]);
    await expectGrad((x) => mul(roll(x, [1, -2], [1, 2]), x), [[2, 3, 4]]);
    await expectGrad((x) => mul(roll(x.transpose(0, 1), 3), x.transpose(0, 1)), [[3, 2]]);
    await expectGrad((x) => repeat(x, [2, 1, 3]).square(), [[2, 3]]);
  });

  it('leave nothing behind', () => {
    const x = fromArray([1, 2, 3, 4, 5, 6], [2, 3], f64);
    const before = memory(cpu);
    const ys = [flip(x, [0, 1]), roll(x, [1, 1], [0, 1]), repeat(x, [2, 2]), stack([x, x]), ...split(x, 2, 1)];
    dispose(ys);
    expect(memory(cpu)).toEqual(before);
    x.dispose();
  });
});

describe('oneHot and erf', () => {
  it('oneHot: out[..., c] = (index == c), int32', async () => {
    const idx = fromArray([0, 2, 1, 2], [2, 2], { backend: cpu, dtype: 'int32' });
    const y = oneHot(idx, 3);
    expect(y.shape).toEqual([2, 2, 3]);
    expect(y.dtype).toBe('int32');
    expect(Array.from(await y.toArray())).toEqual([1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1]);
    expect(() => oneHot(fromArray([0.5], [1], f64), 2)).toThrow(/must be int32/);
    expect(() => oneHot(idx, 0)).toThrow(/positive integer/);
    dispose([idx, y]);
  });

  it('erf: known values (Abramowitz & Stegun table 7.1) and odd symmetry, gradient 2/√π·e^(−x²)', async () => {
    const x = fromArray([0, 0.5, 1, -2, 3, 6.5, -0.1], [7], f64);
    const expected = [0, 0.5204998778130465, 0.8427007929497149, -0.9953222650189527, 0.9999779095030014, 1, -0.1124629160182849];
    expectClose(await erf(x).toArray(), expected, 1e-15, 1e-14, 'erf');
    expectClose(await x.erf().toArray(), expected, 1e-15, 1e-14, 'erf method');
    await expectGrad((t) => erf(t.mul(2)), [[3, 4]]);
    x.dispose();
  });
});
