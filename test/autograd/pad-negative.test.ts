import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backward, gradcheck, mul, pad, sum, type PadMode } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { contiguousStrides } from '../../src/kernels/layout.js';
import { dispose, fromArray, sizeOf } from '../../src/tensor/index.js';
import { cpu, expectClose, numbersOf, randomArray, webgpu } from '../helpers/backends.js';

/**
 * pad with negative pads, which crop as PyTorch's F.pad: 'constant' and 'circular' crop first and pad the cropped
 * tensor, 'reflect' and 'replicate' read the padded positions of the uncropped axis (PyTorch's reflection and
 * replication kernels, whose index is j − pad taken about the original edges). Hand values, a plain-loop reference
 * on random shapes on both backends, gradcheck, and the refusals.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };

describe('negative pads by hand, on [0, 1, 2, 3]', () => {
  const cases: [PadMode, number[], number[], number[]][] = [
    // [mode, pads, values (constant's value 7), gradient of their sum]
    ['constant', [-1, 2], [1, 2, 3, 7, 7], [0, 1, 1, 1]],
    ['constant', [2, -3], [7, 7, 0], [1, 0, 0, 0]],
    ['constant', [-1, -1], [1, 2], [0, 1, 1, 0]],
    ['reflect', [-1, 1], [1, 2, 3, 2], [0, 1, 2, 1]],
    ['reflect', [2, -3], [2, 1, 0], [1, 1, 1, 0]],
    ['reflect', [-3, 2], [3, 2, 1], [0, 1, 1, 1]],
    ['replicate', [-2, 3], [2, 3, 3, 3, 3], [0, 0, 1, 4]],
    ['replicate', [-5, 2], [3], [0, 0, 0, 1]],
    ['circular', [2, -1], [1, 2, 0, 1, 2], [1, 2, 2, 0]],
    ['circular', [-1, 3], [1, 2, 3, 1, 2, 3], [0, 2, 2, 2]],
    ['circular', [-1, -1], [1, 2], [0, 1, 1, 0]],
  ];
  for (const [mode, pads, padded, grad] of cases) {
    it(`${mode} by [${pads.join(', ')}]`, async () => {
      const t = fromArray([0, 1, 2, 3], [1, 4], { ...f64, requiresGrad: true });
      const y = pad(t, pads, mode === 'constant' ? { value: 7 } : { mode });
      expect(y.shape).toEqual([1, padded.length]);
      expect(await numbersOf(y)).toEqual(padded);
      backward(sum(y));
      expect(await numbersOf(t.grad!)).toEqual(grad);
      dispose([t, y]);
    });
  }

  it('constant may crop an axis to nothing (PyTorch allows size 0), and crops two axes at once', async () => {
    const t = fromArray([0, 1, 2, 3, 4, 5], [2, 3], f64);
    const empty = pad(t, [-2, -1]);
    expect(empty.shape).toEqual([2, 0]);
    // [[0, 1, 2], [3, 4, 5]]: the first column cropped, a row of 9 added below
    expect(await numbersOf(pad(t, [-1, 0, 0, 1], 9))).toEqual([1, 2, 4, 5, 9, 9]);
    dispose([t, empty]);
  });

  it('refuses what PyTorch refuses, and what it would fill with unwritten memory', () => {
    const t = fromArray([0, 1, 2, 3], [1, 4], f64);
    expect(() => pad(t, [-3, -2])).toThrow(/^pad: mode 'constant' crops \[-3, -2\] from axis 1 of \[1, 4\], more than its size 4$/);
    expect(() => pad(t, [-5, 2])).toThrow(/^pad: mode 'constant' crops \[-5, 2\] from axis 1 of \[1, 4\], more than its size 4$/);
    expect(() => pad(t, [-2, -2], { mode: 'reflect' })).toThrow(/^pad: mode 'reflect' crops \[-2, -2\] from axis 1 of \[1, 4\], leaving 0 \(at least 1\)$/);
    expect(() => pad(t, [-4, -1], { mode: 'replicate' })).toThrow(/leaving -1 \(at least 1\)$/);
    expect(() => pad(t, [-1, 4], { mode: 'reflect' })).toThrow(/^pad: mode 'reflect' needs padding less than the size of axis 1, got \[-1, 4\]/);
    // PyTorch checks circular pads against the uncropped size only and then copies from unwritten memory
    expect(() => pad(t, [4, -1], { mode: 'circular' })).toThrow(/^pad: mode 'circular' needs each positive pad at most the size left after cropping axis 1, got \[4, -1\] for \[1, 4\]$/);
    expect(() => pad(t, [-5, 2], { mode: 'circular' })).toThrow(/^pad: mode 'circular' needs cropping at most the size of axis 1, got \[-5, 2\]/);
    expect(() => pad(t, [-3, -2], { mode: 'circular' })).toThrow(/^pad: mode 'circular' needs cropping at most the size of axis 1/);
    expect(() => pad(t, [0.5, 0])).toThrow(/^pad: padding must be integers, got \[0.5, 0\]$/);
    t.dispose();
  });
});

/** the source of output position o along an axis of size n padded by [before, after], or -1 for the constant */
function source(mode: PadMode, o: number, before: number, after: number, n: number): number {
  const start = Math.max(-before, 0), kept = n - start - Math.max(-after, 0);
  const j = o - Math.max(before, 0); // position in the cropped part
  if (mode === 'constant') return j >= 0 && j < kept ? start + j : -1;
  if (mode === 'circular') return start + (((j % kept) + kept) % kept);
  const k = o - before; // reflect and replicate: position on the uncropped axis
  if (mode === 'replicate') return Math.min(Math.max(k, 0), n - 1);
  return k < 0 ? -k : k >= n ? 2 * (n - 1) - k : k;
}

/** the padded values (constant 0) and the gradient of Σ g·pad(x) by plain loops over the output */
function reference(xs: ArrayLike<number>, shape: number[], pads: number[], mode: PadMode, g: ArrayLike<number>) {
  const side = (a: number, s: 0 | 1) => (shape.length - 1 - a < pads.length / 2 ? pads[2 * (shape.length - 1 - a) + s] : 0);
  const outShape = shape.map((d, a) => d + side(a, 0) + side(a, 1));
  const inStrides = contiguousStrides(shape), outStrides = contiguousStrides(outShape);
  const y = new Array<number>(sizeOf(outShape)).fill(0), gx = new Array<number>(sizeOf(shape)).fill(0);
  for (let o = 0; o < y.length; o++) {
    let at = 0;
    for (let a = 0; a < shape.length && at >= 0; a++) {
      const s = source(mode, Math.floor(o / outStrides[a]) % outShape[a], side(a, 0), side(a, 1), shape[a]);
      at = s < 0 ? -1 : at + s * inStrides[a];
    }
    if (at < 0) continue;
    y[o] = xs[at];
    gx[at] += g[o];
  }
  return { y, gx, outShape };
}

/** a random padding of 1–3 axes (one or two more in front) with some pads negative, within each mode's limits */
const padCase = fc.record({
  mode: fc.constantFrom<PadMode>('constant', 'reflect', 'replicate', 'circular'),
  axes: fc.integer({ min: 1, max: 3 }),
  lead: fc.integer({ min: 1, max: 2 }),
  sizes: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 5, maxLength: 5 }),
  raw: fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 6, maxLength: 6 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
}).map((r) => {
  const shape = r.sizes.slice(0, r.axes + r.lead);
  const pads: number[] = [];
  for (let i = 0; i < r.axes; i++) {
    const n = shape[shape.length - 1 - i];
    // crops leave at least one element, positive pads fit the mode (circular: the cropped size)
    let before = Math.max(r.raw[2 * i], -(n - 1)), after = Math.max(r.raw[2 * i + 1], -(n - 1 - Math.max(-before, 0)));
    const kept = n - Math.max(-before, 0) - Math.max(-after, 0);
    const limit = r.mode === 'reflect' ? n - 1 : r.mode === 'circular' ? kept : 5;
    before = Math.min(before, limit);
    after = Math.min(after, limit);
    pads.push(before, after);
  }
  return { mode: r.mode, shape, pads, seed: r.seed };
}).filter((c) => c.pads.some((p) => p < 0));

async function padded(b: Backend, dtype: 'float32' | 'float64', c: { mode: PadMode; shape: number[]; pads: number[] }, xs: ArrayLike<number>, g: (n: number) => ArrayLike<number>) {
  const x = fromArray(xs, c.shape, { backend: b, dtype, requiresGrad: true });
  const y = pad(x, c.pads, { mode: c.mode });
  const gt = fromArray(g(y.numel()), y.shape, { backend: b, dtype });
  backward(sum(mul(y, gt)));
  const r = { shape: y.shape, y: await numbersOf(y), gx: await numbersOf(x.grad!) };
  dispose([x, y, gt]);
  return r;
}

describe('negative pads on random shapes: the plain-loop reference, cpu (float64) and WebGPU (float32)', () => {
  it('values and gradients', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(padCase, async (c) => {
      const xs = randomArray(sizeOf(c.shape), c.seed);
      const g = (n: number) => randomArray(n, c.seed + 1);
      for (const [b, dtype] of [[cpu, 'float64'], [gpu, 'float32']] as const) {
        const got = await padded(b, dtype, c, xs, g);
        const want = reference(xs, c.shape, c.pads, c.mode, g(sizeOf(got.shape)));
        expect(got.shape).toEqual(want.outShape);
        expect(got.y).toEqual(Array.from(want.y, (v) => (dtype === 'float32' ? Math.fround(v) : v)));
        expectClose(got.gx, want.gx, dtype === 'float64' ? 1e-15 : 5e-6, dtype === 'float64' ? 1e-14 : 1e-5, `${c.mode} [${c.pads.join(', ')}] gradient`);
      }
    }), { numRuns: 30 });
  });

  it('gradcheck (float64 on the cpu)', async () => {
    await fc.assert(fc.asyncProperty(padCase, async (c) => {
      const r = await gradcheck((x) => pad(x, c.pads, { mode: c.mode }), [{ data: randomArray(sizeOf(c.shape), c.seed), shape: c.shape }], { backend: cpu });
      expect(r.ok, r.message).toBe(true);
    }), { numRuns: 12 });
  });
});
