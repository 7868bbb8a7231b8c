import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  abs, add, addScalar, affine, cast, clamp, concat, contiguous, div, exp, expand, flatten, gather, gradcheck, leakyRelu,
  log, matmul, max, maximum, mean, min, minimum, mul, mulScalar, neg, pad, permute, pow, powScalar, reciprocal, relu,
  reshape, rsqrt, scatterAdd, sigmoid, slice, softplus, sqrt, square, squeeze, sub, sum, tanh, transpose, unsqueeze,
  variance, where, type GradcheckOptions,
} from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { dispose, fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * Every differentiable op of src/autograd/ops.ts through gradcheck: float64 central differences on the cpu
 * (fast-check picks small shapes, broadcasting pairs, size-1 dims, permuted and step-2-sliced views) and
 * float32 on WebGPU on a few fixed shapes with gradcheck's default float32 tolerances (eps 1e-2, atol and
 * rtol 2e-2). Inputs stay away from kinks by more than eps (|x| ≥ 0.1 for abs/relu/leakyRelu, x ≥ 0.5 for
 * log/sqrt/rsqrt/reciprocal/pow, clamp bounds ±0.5 avoided by 0.05).
 */

type Fn = (...xs: Tensor[]) => Tensor;
/** 'distinct': a random permutation of evenly spaced values (no two within 2/n: no ties for max/min) */
type Domain = 'any' | 'nonzero' | 'positive' | 'clampSafe' | 'distinct';
interface Input { data: ArrayLike<number>; shape: readonly number[] }

/** values in [-1, 1) mapped into a domain; the seed is hashed first so that seeds s and s + 1 give unrelated values */
function values(n: number, seed: number, domain: Domain = 'any'): number[] {
  const raw = Array.from(randomArray(n, Math.imul(seed ^ 0x5bd1e995, 2654435761) >>> 0));
  if (domain === 'distinct') {
    const rank = raw.map((_, i) => i).sort((i, j) => raw[i] - raw[j]);
    const out = new Array<number>(n);
    rank.forEach((i, r) => { out[i] = -1 + (2 * r + 1) / n; });
    return out;
  }
  return raw.map((v) => {
    switch (domain) {
      case 'any': return v;
      case 'nonzero': return v + (v < 0 ? -0.1 : 0.1);
      case 'positive': return 0.5 + Math.abs(v);
      case 'clampSafe': return Math.abs(Math.abs(v) - 0.5) < 0.05 ? v * 0.8 : v;
      default: return v;
    }
  });
}

const input = (shape: readonly number[], seed: number, domain: Domain = 'any'): Input => ({ data: values(sizeOf(shape), seed, domain), shape });
/** two inputs whose elements are all distinct (maximum/minimum without ties even under broadcasting) */
function distinctPair(a: readonly number[], b: readonly number[], seed: number): [Input, Input] {
  const all = values(sizeOf(a) + sizeOf(b), seed, 'distinct');
  return [{ data: all.slice(0, sizeOf(a)), shape: a }, { data: all.slice(sizeOf(a)), shape: b }];
}

async function expectGrad(fn: Fn, inputs: Input[], options: GradcheckOptions = {}): Promise<void> {
  const r = await gradcheck(fn, inputs, { backend: cpu, ...options });
  expect(r.ok, r.message).toBe(true);
}

/** How a test input reaches the op: as created, as a permuted view, or as a step-2 slice along axis 0. */
type Layout = 'contiguous' | 'permuted' | 'sliced';

/** The leaf shape to create and the view function that turns it into a tensor of `shape`. */
function layoutFor(layout: Layout, shape: readonly number[]): { leaf: number[]; view: (t: Tensor) => Tensor } {
  if (layout === 'permuted' && shape.length > 1) {
    const rev = shape.map((_, i) => shape.length - 1 - i);
    return { leaf: [...shape].reverse(), view: (t) => permute(t, rev) };
  }
  if (layout === 'sliced' && shape.length > 0) {
    return { leaf: [2 * shape[0], ...shape.slice(1)], view: (t) => slice(t, 0, 1, undefined, 2) };
  }
  return { leaf: [...shape], view: (t) => t };
}

const unaryCases: { name: string; fn: (x: Tensor) => Tensor; domain: Domain }[] = [
  { name: 'neg', fn: neg, domain: 'any' },
  { name: 'exp', fn: exp, domain: 'any' },
  { name: 'log', fn: log, domain: 'positive' },
  { name: 'sqrt', fn: sqrt, domain: 'positive' },
  { name: 'rsqrt', fn: rsqrt, domain: 'positive' },
  { name: 'abs', fn: abs, domain: 'nonzero' },
  { name: 'square', fn: square, domain: 'any' },
  { name: 'reciprocal', fn: reciprocal, domain: 'positive' },
  { name: 'relu', fn: relu, domain: 'nonzero' },
  { name: 'leakyRelu', fn: (x) => leakyRelu(x, 0.2), domain: 'nonzero' },
  { name: 'sigmoid', fn: sigmoid, domain: 'any' },
  { name: 'tanh', fn: tanh, domain: 'any' },
  { name: 'softplus', fn: softplus, domain: 'any' },
  { name: 'powScalar', fn: (x) => powScalar(x, 2.5), domain: 'positive' },
  { name: 'clamp', fn: (x) => clamp(x, -0.5, 0.5), domain: 'clampSafe' },
  { name: 'affine', fn: (x) => affine(x, -1.5, 0.25), domain: 'any' },
  { name: 'mulScalar', fn: (x) => mulScalar(x, 3), domain: 'any' },
  { name: 'addScalar', fn: (x) => addScalar(x, -2), domain: 'any' },
  { name: 'contiguous', fn: contiguous, domain: 'any' },
];

const binaryCases: { name: string; fn: (a: Tensor, b: Tensor) => Tensor; a: Domain; b: Domain }[] = [
  { name: 'add', fn: add, a: 'any', b: 'any' },
  { name: 'sub', fn: sub, a: 'any', b: 'any' },
  { name: 'mul', fn: mul, a: 'any', b: 'any' },
  { name: 'div', fn: div, a: 'any', b: 'positive' },
  { name: 'pow', fn: pow, a: 'positive', b: 'any' },
  { name: 'maximum', fn: maximum, a: 'distinct', b: 'distinct' },
  { name: 'minimum', fn: minimum, a: 'distinct', b: 'distinct' },
];

const shapeArb = (minRank = 1, maxRank = 3) => fc.array(fc.integer({ min: 1, max: 3 }), { minLength: minRank, maxLength: maxRank });
const layoutArb = fc.constantFrom<Layout>('contiguous', 'permuted', 'sliced');
const seedArb = fc.integer({ min: 1, max: 1 << 30 });

/** A pair of shapes that broadcast to `full`: trailing dims kept, some set to 1, some leading dims dropped. */
const broadcastPairArb = shapeArb().chain((full) => fc.record({
  full: fc.constant(full),
  drop: fc.integer({ min: 0, max: full.length - 1 }),
  ones: fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }),
  swap: fc.boolean(),
}).map(({ drop, ones, swap }) => {
  const small = full.map((d, i) => (ones[i] ? 1 : d)).slice(drop);
  return swap ? { a: small, b: full, full, small } : { a: full, b: small, full, small };
}));

const runs = { numRuns: 12 };

describe('ops gradcheck, float64 on the cpu (fast-check shapes)', () => {
  for (const c of unaryCases) {
    it(`${c.name} (plain, permuted, sliced)`, async () => {
      await fc.assert(fc.asyncProperty(shapeArb(), layoutArb, seedArb, async (shape, layout, seed) => {
        const { leaf, view } = layoutFor(layout, shape);
        await expectGrad((x) => c.fn(view(x)), [input(leaf, seed, c.domain)]);
      }), runs);
    });
  }

  for (const c of binaryCases) {
    it(`${c.name} with broadcasting and views`, async () => {
      await fc.assert(fc.asyncProperty(broadcastPairArb, layoutArb, seedArb, async ({ a, b }, layout, seed) => {
        const la = layoutFor(layout, a);
        const inputs = c.a === 'distinct' ? distinctPair(la.leaf, b, seed) : [input(la.leaf, seed, c.a), input(b, seed + 1, c.b)];
        await expectGrad((x, y) => c.fn(la.view(x), y), inputs);
      }), runs);
    });
  }

  it('where with a broadcast condition', async () => {
    await fc.assert(fc.asyncProperty(broadcastPairArb, seedArb, async ({ a, b }, seed) => {
      const cond = fromArray(values(sizeOf(b), seed + 7).map((v) => (v > 0 ? 1 : 0)), b, { backend: cpu, dtype: 'float64' });
      await expectGrad((x, y) => where(cond, x, y), [input(a, seed), input(b, seed + 1)]);
      cond.dispose();
    }), runs);
  });

  /** minCount: the fewest elements a reduction needs (unbiased variance of one element is NaN, as PyTorch) */
  const reductions: { name: string; fn: (x: Tensor, axes: number[], keepdim: boolean) => Tensor; minCount?: number }[] = [
    { name: 'sum', fn: sum },
    { name: 'mean', fn: mean },
    { name: 'max', fn: max },
    { name: 'min', fn: min },
    { name: 'variance', fn: (x, axes, keepdim) => variance(x, axes, { keepdim }), minCount: 2 },
    { name: 'variance (biased)', fn: (x, axes, keepdim) => variance(x, axes, { keepdim, unbiased: false }) },
  ];
  for (const r of reductions) {
    it(`${r.name} over axis subsets`, async () => {
      const arb = shapeArb(1, 4).chain((shape) => fc.record({
        shape: fc.constant(shape),
        axes: fc.subarray(shape.map((_, i) => i), { minLength: 1 }),
        keepdim: fc.boolean(),
        layout: layoutArb,
        seed: seedArb,
      }));
      await fc.assert(fc.asyncProperty(arb, async ({ shape, axes, keepdim, layout, seed }) => {
        fc.pre(axes.reduce((n, a) => n * shape[a], 1) >= (r.minCount ?? 1));
        const { leaf, view } = layoutFor(layout, shape);
        await expectGrad((x) => r.fn(view(x), axes, keepdim), [input(leaf, seed, 'distinct')]);
      }), runs);
    });
  }

  it('reshape, flatten, unsqueeze, squeeze of views', async () => {
    await fc.assert(fc.asyncProperty(shapeArb(), layoutArb, seedArb, async (shape, layout, seed) => {
      const { leaf, view } = layoutFor(layout, shape);
      await expectGrad((x) => mul(reshape(view(x), [-1, 1]), reshape(view(x), [1, -1])), [input(leaf, seed)]);
      await expectGrad((x) => square(flatten(unsqueeze(view(x), 1), 1)), [input(leaf, seed)]);
      await expectGrad((x) => exp(squeeze(unsqueeze(view(x), 0))), [input(leaf, seed)]);
    }), runs);
  });

  it('permute and transpose', async () => {
    await fc.assert(fc.asyncProperty(shapeArb(2, 4), seedArb, fc.integer({ min: 0, max: 1000 }), async (shape, seed, k) => {
      const perm = shape.map((_, i) => i).sort((i, j) => ((i * 7 + k) % 5) - ((j * 7 + k) % 5));
      await expectGrad((x) => mul(permute(x, perm), permute(x, perm)), [input(shape, seed)]);
      await expectGrad((x) => exp(transpose(x, 0, -1)), [input(shape, seed)]);
    }), runs);
  });

  it('expand of size-1 and new leading dims', async () => {
    await fc.assert(fc.asyncProperty(broadcastPairArb, seedArb, async ({ full, small }, seed) => {
      await expectGrad((x) => square(expand(x, full)), [input(small, seed)]);
    }), runs);
  });

  it('slice with start, end and step 2 on any axis', async () => {
    const arb = shapeArb(1, 3).chain((shape) => fc.record({
      shape: fc.constant(shape.map((d) => d + 2)),
      axis: fc.integer({ min: 0, max: shape.length - 1 }),
      start: fc.integer({ min: -2, max: 1 }),
      step: fc.constantFrom(1, 2),
      seed: seedArb,
    }));
    await fc.assert(fc.asyncProperty(arb, async ({ shape, axis, start, step, seed }) => {
      await expectGrad((x) => exp(slice(x, axis, start, undefined, step)), [input(shape, seed)]);
      await expectGrad((x) => square(slice(slice(x, axis, 0, undefined, 2), axis, 1)), [input(shape, seed)]);
    }), runs);
  });

  it('concat of two or three tensors along any axis', async () => {
    const arb = shapeArb(1, 3).chain((shape) => fc.record({
      shape: fc.constant(shape),
      axis: fc.integer({ min: 0, max: shape.length - 1 }),
      sizes: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 2, maxLength: 3 }),
      seed: seedArb,
    }));
    await fc.assert(fc.asyncProperty(arb, async ({ shape, axis, sizes, seed }) => {
      const inputs = sizes.map((s, i) => input(shape.map((d, j) => (j === axis ? s : d)), seed + i));
      await expectGrad((...xs) => square(concat(xs, axis)), inputs);
    }), runs);
  });

  it('pad (constant) of the last axes', async () => {
    const arb = shapeArb(1, 3).chain((shape) => fc.record({
      shape: fc.constant(shape),
      pads: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 2, maxLength: 2 * shape.length }).filter((p) => p.length % 2 === 0),
      seed: seedArb,
    }));
    await fc.assert(fc.asyncProperty(arb, async ({ shape, pads, seed }) => {
      await expectGrad((x) => exp(pad(x, pads, 0.5)), [input(shape, seed)]);
    }), runs);
  });

  it('matmul with broadcast batch dims and 1-D operands', async () => {
    const dim = fc.integer({ min: 1, max: 3 });
    const arb = fc.record({
      m: dim, k: dim, n: dim, batch: dim,
      kind: fc.constantFrom('2d', 'batched-a', 'batched-b', 'both', 'broadcast', 'vector-a', 'vector-b', 'transposed'),
      seed: seedArb,
    });
    await fc.assert(fc.asyncProperty(arb, async ({ m, k, n, batch, kind, seed }) => {
      const shapes: Record<string, [number[], number[]]> = {
        '2d': [[m, k], [k, n]], 'batched-a': [[batch, m, k], [k, n]], 'batched-b': [[m, k], [batch, k, n]],
        both: [[batch, m, k], [batch, k, n]], broadcast: [[batch, 1, m, k], [2, k, n]],
        'vector-a': [[k], [batch, k, n]], 'vector-b': [[batch, m, k], [k]], transposed: [[k, m], [n, k]],
      };
      const [sa, sb] = shapes[kind];
      const fn: Fn = kind === 'transposed' ? (a, b) => matmul(transpose(a), transpose(b)) : matmul;
      await expectGrad(fn, [input(sa, seed), input(sb, seed + 1)]);
    }), runs);
  });

  it('gather and scatterAdd along any axis (incl. an offset view)', async () => {
    const arb = shapeArb(1, 3).chain((shape) => fc.record({
      shape: fc.constant(shape),
      axis: fc.integer({ min: 0, max: shape.length - 1 }),
      picks: fc.integer({ min: 1, max: 4 }),
      seed: seedArb,
    }));
    await fc.assert(fc.asyncProperty(arb, async ({ shape, axis, picks, seed }) => {
      const indexShape = shape.map((d, i) => (i === axis ? picks : d));
      const idx = fromArray(Array.from(randomArray(sizeOf(indexShape), seed + 3), (v) => Math.floor((v + 1) / 2 * shape[axis])),
        indexShape, { backend: cpu, dtype: 'int32' });
      await expectGrad((x) => square(gather(x, axis, idx)), [input(shape, seed)]);
      // an offset (sliced) contiguous view
      await expectGrad((x) => square(gather(slice(x, 0, 1), axis, idx)), [input([shape[0] + 1, ...shape.slice(1)], seed)]);
      await expectGrad((s) => square(scatterAdd(s, axis, idx, shape)), [input(indexShape, seed + 1)]);
      idx.dispose();
    }), runs);
  });

  it('cast float64 → float32 → float64 (cpu only; float32 rounding needs a wide step)', async () => {
    await fc.assert(fc.asyncProperty(shapeArb(), seedArb, async (shape, seed) => {
      await expectGrad((x) => cast(exp(cast(x, 'float32')), 'float64'), [input(shape, seed)], { eps: 1e-2, atol: 1e-3, rtol: 1e-3 });
    }), runs);
  });
});

describe('ops gradcheck, float32 on WebGPU (fixed small shapes)', () => {
  let gpu: Backend;
  const check = async (fn: Fn, inputs: Input[], what = '') => {
    gpu ??= await webgpu();
    const r = await gradcheck(fn, inputs, { backend: gpu });
    expect(r.ok, `${what} ${r.message}`).toBe(true);
  };

  it('unary ops on a permuted [2, 3] view', async () => {
    for (const c of unaryCases) await check((x) => c.fn(permute(x, [1, 0])), [input([3, 2], 11, c.domain)], c.name);
  });

  it('binary ops with broadcasting [2, 3] ⊕ [3] and [2, 1] ⊕ [1, 3]', async () => {
    for (const c of binaryCases) {
      const pair = (a: number[], b: number[], seed: number) => (c.a === 'distinct' ? distinctPair(a, b, seed) : [input(a, seed, c.a), input(b, seed + 1, c.b)]);
      await check(c.fn, pair([2, 3], [3], 21), c.name);
      await check(c.fn, pair([2, 1], [1, 3], 23), c.name);
    }
  });

  it('where with a broadcast condition', async () => {
    gpu ??= await webgpu();
    const cond = fromArray([1, 0, 1], [3], { backend: gpu });
    await check((a, b) => where(cond, a, b), [input([2, 3], 31), input([2, 1], 32)]);
    cond.dispose();
  });

  it('reductions over axis subsets of [2, 3, 2]', async () => {
    await check((x) => sum(x, [0, 2]), [input([2, 3, 2], 41)]);
    await check((x) => mean(x, 1, true), [input([2, 3, 2], 42)]);
    await check((x) => max(x, [1, 2]), [input([2, 3, 2], 43, 'distinct')]);
    await check((x) => min(x, 0, true), [input([2, 3, 2], 44, 'distinct')]);
    await check((x) => variance(x, [0, 1]), [input([2, 3, 2], 45)]);
  });

  it('views: reshape, permute, transpose, expand, slice step 2, concat, pad', async () => {
    await check((x) => square(reshape(permute(x, [2, 0, 1]), [4, 3])), [input([2, 3, 2], 51)]);
    await check((x) => exp(transpose(x)), [input([2, 3], 52)]);
    await check((x) => square(expand(x, [2, 3, 2])), [input([3, 1], 53)]);
    await check((x) => exp(slice(x, 1, 1, undefined, 2)), [input([2, 5], 54)]);
    await check((a, b) => square(concat([a, b], 1)), [input([2, 1], 55), input([2, 2], 56)]);
    await check((x) => exp(pad(x, [1, 0, 0, 2], 0.5)), [input([2, 2], 57)]);
  });

  it('matmul with a broadcast batch', async () => {
    await check(matmul, [input([2, 2, 3], 61), input([3, 2], 62)]);
    await check(matmul, [input([2, 1, 2, 3], 63), input([2, 3, 2], 64)]);
  });

  it('gather and scatterAdd', async () => {
    gpu ??= await webgpu();
    const idx = fromArray([2, 0, 1, 1, 0, 2], [2, 3], { backend: gpu, dtype: 'int32' });
    await check((x) => square(gather(x, 1, idx)), [input([2, 4], 71)]);
    await check((s) => square(scatterAdd(s, 1, idx, [2, 3])), [input([2, 3], 72)]);
    dispose(idx);
  });
});
