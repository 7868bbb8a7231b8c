import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backward, gradcheck, mul, pad, sum, type PadMode } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { contiguousStrides } from '../../src/kernels/layout.js';
import { dispose, fromArray, sizeOf } from '../../src/tensor/index.js';
import { cpu, expectClose, numbersOf, randomArray, webgpu } from '../helpers/backends.js';

/**
 * pad's 'reflect', 'replicate' and 'circular' modes (F.pad): hand values, a plain-loop reference of the padded values
 * and of the gradient (summed into the source elements) on random shapes on both backends, gradcheck, and the
 * argument rules PyTorch enforces.
 */

type IndexMode = Exclude<PadMode, 'constant'>;

const f64 = { backend: cpu, dtype: 'float64' as const };

/** the source coordinate of padded coordinate j (j < 0 in the front padding), written as the definitions read */
function source(mode: IndexMode, j: number, n: number): number {
  if (mode === 'replicate') return j < 0 ? 0 : j >= n ? n - 1 : j;
  if (mode === 'circular') return j - n * Math.floor(j / n);
  let k = j; // reflect: bounce off the edge elements (without repeating them) until inside
  while (k < 0 || k >= n) k = k < 0 ? -k : 2 * (n - 1) - k;
  return k;
}

/** the padded values and the gradient of Σ g·pad(x) by plain loops: for every padded element, its source element */
function reference(xs: ArrayLike<number>, shape: number[], pads: number[], mode: IndexMode, g: ArrayLike<number>) {
  const before = shape.map((_, a) => (shape.length - 1 - a < pads.length / 2 ? pads[2 * (shape.length - 1 - a)] : 0));
  const after = shape.map((_, a) => (shape.length - 1 - a < pads.length / 2 ? pads[2 * (shape.length - 1 - a) + 1] : 0));
  const outShape = shape.map((d, a) => d + before[a] + after[a]);
  const inStrides = contiguousStrides(shape), outStrides = contiguousStrides(outShape);
  const y = new Array<number>(sizeOf(outShape)).fill(0), gx = new Array<number>(sizeOf(shape)).fill(0);
  for (let o = 0; o < y.length; o++) {
    let at = 0;
    outShape.forEach((_, a) => { at += source(mode, Math.floor(o / outStrides[a]) % outShape[a] - before[a], shape[a]) * inStrides[a]; });
    y[o] = xs[at];
    gx[at] += g[o];
  }
  return { y, gx, outShape };
}

describe('pad modes by hand', () => {
  const x = () => fromArray([0, 1, 2, 3], [1, 4], { ...f64, requiresGrad: true });
  const cases: [IndexMode, number[], number[]][] = [
    // [mode, padded values for pads [2, 1], gradient of their sum: how often each element is read]
    ['reflect', [2, 1, 0, 1, 2, 3, 2], [1, 2, 3, 1]],
    ['replicate', [0, 0, 0, 1, 2, 3, 3], [3, 1, 1, 2]],
    ['circular', [2, 3, 0, 1, 2, 3, 0], [2, 1, 2, 2]],
  ];
  for (const [mode, padded, grad] of cases) {
    it(`${mode}: [0, 1, 2, 3] padded by [2, 1], and the gradient summed into the sources`, async () => {
      const t = x(), y = pad(t, [2, 1], { mode });
      expect(y.shape).toEqual([1, 7]);
      expect(await numbersOf(y)).toEqual(padded);
      backward(sum(y));
      expect(await numbersOf(t.grad!)).toEqual(grad);
      dispose([t, y]);
    });
  }

  it('reflect of [[1, 2], [3, 4]] by one on every side (two axes, last first)', async () => {
    const t = fromArray([1, 2, 3, 4], [1, 2, 2], f64);
    expect(await numbersOf(pad(t, [1, 1, 1, 1], { mode: 'reflect' }))).toEqual([4, 3, 4, 3, 2, 1, 2, 1, 4, 3, 4, 3, 2, 1, 2, 1]);
    // only the second-last axis: [0, 0, 1, 0] → rows [3, 4], [1, 2], [3, 4]
    expect(await numbersOf(pad(t, [0, 0, 1, 0], { mode: 'reflect' }))).toEqual([3, 4, 1, 2, 3, 4]);
    // a number is still the constant's value, and { value } with mode 'constant' the same
    expect(await numbersOf(pad(t, [1, 0], 7))).toEqual([7, 1, 2, 7, 3, 4]);
    expect(await numbersOf(pad(t, [1, 0], { value: 7 }))).toEqual([7, 1, 2, 7, 3, 4]);
    t.dispose();
  });

  it('refuses what PyTorch refuses', () => {
    const t = fromArray(randomArray(2 * 3 * 4, 3), [1, 2, 3, 4], f64);
    expect(() => pad(t, [4, 0, 0, 0], { mode: 'reflect' })).toThrow(/^pad: mode 'reflect' needs padding less than the size of axis 3, got \[4, 0\] for \[1, 2, 3, 4\]$/);
    expect(() => pad(t, [0, 0, 0, 4], { mode: 'circular' })).toThrow(/^pad: mode 'circular' needs padding at most the size of axis 2, got \[0, 4\]/);
    expect(() => pad(t, [1, 1, 0, 0], { mode: 'replicate', value: 2 })).toThrow(/^pad: mode 'replicate' takes no value \(PyTorch\), got 2$/);
    // two pad values (one axis) need rank 2 or 3; eight values are more than three axes
    expect(() => pad(t, [1, 1], { mode: 'reflect' })).toThrow(/^pad: mode 'reflect' pads the last 1–3 axes of a tensor with one or two more axes \(PyTorch\), got 2 pad values for \[1, 2, 3, 4\]$/);
    expect(() => pad(t, [1, 1, 1, 1, 1, 1, 0, 0], { mode: 'replicate' })).toThrow(/pads the last 1–3 axes/);
    expect(() => pad(t, [1, 1, 1, 1], { mode: 'wrap' as PadMode })).toThrow(/^pad: unknown mode 'wrap'; valid: constant, reflect, replicate, circular$/);
    const empty = fromArray([], [1, 2, 0], f64);
    expect(() => pad(empty, [1, 0], { mode: 'replicate' })).toThrow(/^pad: mode 'replicate' cannot pad the empty axis 2 of \[1, 2, 0\]$/);
    dispose([t, empty]);
  });
});

/** a random padding: 1–3 padded axes on a tensor with one or two more, pads within each mode's limits */
const padCase = fc.record({
  mode: fc.constantFrom<IndexMode>('reflect', 'replicate', 'circular'),
  axes: fc.integer({ min: 1, max: 3 }),
  lead: fc.integer({ min: 1, max: 2 }),
  sizes: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 5, maxLength: 5 }),
  raw: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 6, maxLength: 6 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
}).map((r) => {
  const shape = r.sizes.slice(0, r.axes + r.lead);
  const pads = r.raw.slice(0, 2 * r.axes).map((p, k) => {
    const n = shape[shape.length - 1 - Math.floor(k / 2)];
    return r.mode === 'reflect' ? p % n : r.mode === 'circular' ? p % (n + 1) : p;
  });
  return { mode: r.mode, shape, pads, seed: r.seed };
});

async function padded(b: Backend, dtype: 'float32' | 'float64', c: { mode: IndexMode; shape: number[]; pads: number[]; seed: number }, xs: ArrayLike<number>, g: ArrayLike<number>) {
  const x = fromArray(xs, c.shape, { backend: b, dtype, requiresGrad: true });
  const y = pad(x, c.pads, { mode: c.mode });
  const gt = fromArray(g, y.shape, { backend: b, dtype });
  backward(sum(mul(y, gt)));
  const r = { shape: y.shape, y: await numbersOf(y), gx: await numbersOf(x.grad!) };
  dispose([x, y, gt]);
  return r;
}

describe('pad modes on random shapes: the plain-loop reference, cpu (float64) and WebGPU (float32)', () => {
  it('values and gradients', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(padCase, async (c) => {
      const xs = randomArray(sizeOf(c.shape), c.seed);
      const outSize = sizeOf(c.shape.map((d, a) => d + (c.pads[2 * (c.shape.length - 1 - a)] ?? 0) + (c.pads[2 * (c.shape.length - 1 - a) + 1] ?? 0)));
      const g = randomArray(outSize, c.seed + 1);
      const want = reference(xs, c.shape, c.pads, c.mode, g);
      for (const [b, dtype] of [[cpu, 'float64'], [gpu, 'float32']] as const) {
        const got = await padded(b, dtype, c, xs, g);
        expect(got.shape).toEqual(want.outShape);
        // the values are copies: exact on both backends; the gradient sums up to 3³ float32 terms on WebGPU
        expect(got.y).toEqual(Array.from(want.y, (v) => (dtype === 'float32' ? Math.fround(v) : v)));
        expectClose(got.gx, want.gx, dtype === 'float64' ? 1e-15 : 5e-6, dtype === 'float64' ? 1e-14 : 1e-5, `${c.mode} gradient`);
      }
    }), { numRuns: 25 });
  });

  it('gradcheck (float64 on the cpu)', async () => {
    await fc.assert(fc.asyncProperty(padCase, async (c) => {
      const r = await gradcheck((x) => pad(x, c.pads, { mode: c.mode }), [{ data: randomArray(sizeOf(c.shape), c.seed), shape: c.shape }], { backend: cpu });
      expect(r.ok, r.message).toBe(true);
    }), { numRuns: 10 });
  });
});
