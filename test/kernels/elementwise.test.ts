import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, BinaryOp, DType, Storage, UnaryOp } from '../../src/kernels/index.js';
import { contiguousStrides } from '../../src/kernels/layout.js';
import { cpu, expectClose, randomArray, view, webgpu } from '../helpers/backends.js';
import { layoutArb, pairOf, type Pair } from '../helpers/layouts.js';

const shapeArb = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 });

async function compare(g: Backend, gs: Storage, cs: Storage, atol: number, rtol: number, what: string): Promise<void> {
  const [a, e] = [await g.read(gs), await cpu.read(cs)];
  g.free(gs); cpu.free(cs);
  expect(a.constructor).toBe(e.constructor);
  expectClose(a, e, atol, rtol, what);
}

const uniform = (seed: number, lo: number, hi: number) => (n: number) => randomArray(n, seed, lo, hi);
/** small integers so that comparisons meet equal values */
const integers = (seed: number, lo: number, hi: number) => (n: number) =>
  Int32Array.from(randomArray(n, seed, lo, hi + 1), (v) => Math.floor(v));
const floatsFromIntegers = (seed: number, lo: number, hi: number) => (n: number) =>
  Float32Array.from(integers(seed, lo, hi)(n));

const unaryOps: { op: UnaryOp; lo: number; hi: number; params?: number[] }[] = [
  { op: 'neg', lo: -3, hi: 3 }, { op: 'exp', lo: -10, hi: 10 }, { op: 'log', lo: 0.01, hi: 100 },
  { op: 'sqrt', lo: 0, hi: 100 }, { op: 'rsqrt', lo: 0.01, hi: 100 }, { op: 'abs', lo: -3, hi: 3 },
  { op: 'sign', lo: -3, hi: 3 }, { op: 'square', lo: -3, hi: 3 }, { op: 'reciprocal', lo: 0.05, hi: 3 },
  { op: 'relu', lo: -3, hi: 3 }, { op: 'sigmoid', lo: -30, hi: 30 }, { op: 'tanh', lo: -10, hi: 10 },
  { op: 'softplus', lo: -30, hi: 30 }, { op: 'erf', lo: -5, hi: 5 }, { op: 'powScalar', lo: 0, hi: 3, params: [2.5] },
  { op: 'powScalar', lo: -3, hi: 3, params: [3] }, { op: 'powScalar', lo: -3, hi: 3, params: [-2] },
  { op: 'clamp', lo: -3, hi: 3, params: [-0.5, 1.25] }, { op: 'leakyRelu', lo: -3, hi: 3, params: [0.01] },
  { op: 'affine', lo: -3, hi: 3, params: [-1.5, 0.25] }, { op: 'step', lo: -3, hi: 3, params: [0.5] },
  { op: 'inRange', lo: -3, hi: 3, params: [-0.5, 1.25] }, { op: 'round', lo: -4, hi: 4 }, { op: 'floor', lo: -4, hi: 4 },
  { op: 'ceil', lo: -4, hi: 4 }, { op: 'trunc', lo: -4, hi: 4 },
];

const intUnaryOps: { op: UnaryOp; params?: number[] }[] = [
  { op: 'neg' }, { op: 'abs' }, { op: 'sign' }, { op: 'square' }, { op: 'relu' },
  { op: 'clamp', params: [-2, 3] }, { op: 'affine', params: [3, -2] }, { op: 'step', params: [0] },
  { op: 'inRange', params: [-2, 3] }, { op: 'round' }, { op: 'floor' }, { op: 'ceil' }, { op: 'trunc' },
];

const binaryOps: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'reluBackward'];

describe('webgpu elementwise kernels against the cpu oracle', () => {
  it('every unary op (float32) on random strided views', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(...unaryOps), shapeArb.chain((shape) => fc.tuple(fc.constant(shape), layoutArb(shape.length))), fc.integer({ min: 1 }),
      async ({ op, lo, hi, params }, [shape, layout], seed) => {
        const x = pairOf(g, shape, layout, uniform(seed, lo, hi), 'float32');
        await compare(g, g.unary(op, x.gpu, params), cpu.unary(op, x.cpu, params), 1e-5, 2e-4, `${op}`);
        x.free();
      }), { numRuns: 60 });
  });

  it('every unary op of int32 on random strided views', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(...intUnaryOps), shapeArb.chain((shape) => fc.tuple(fc.constant(shape), layoutArb(shape.length))), fc.integer({ min: 1 }),
      async ({ op, params }, [shape, layout], seed) => {
        const x = pairOf(g, shape, layout, integers(seed, -5, 5), 'int32');
        await compare(g, g.unary(op, x.gpu, params), cpu.unary(op, x.cpu, params), 0, 0, `${op} int32`);
        x.free();
      }), { numRuns: 20 });
  });

  it('sigmoid, tanh, softplus and exp stay finite and exact at ±1e4 and around 0', async () => {
    const g = await webgpu();
    const values = Float32Array.from([-1e4, -100, -20, -1e-4, 0, 1e-4, 20, 100, 1e4]);
    for (const op of ['sigmoid', 'tanh', 'softplus'] as const) {
      const gs = g.upload(values, 'float32'), cs = cpu.upload(values, 'float32');
      const out = await g.read(g.unary(op, view(gs, [values.length])));
      for (const v of out) expect(Number.isFinite(v)).toBe(true);
      expectClose(out, await cpu.read(cpu.unary(op, view(cs, [values.length]))), 1e-6, 1e-5, op);
    }
  });

  it('erf in WGSL (series near 0, A&S 7.1.26 beyond) against the cpu oracle\'s float64 over [-8, 8]: odd, ±1 in the tails', async () => {
    const g = await webgpu();
    const values = Float32Array.from({ length: 321 }, (_, i) => -8 + i * 0.05);
    const gs = g.upload(values, 'float32'), cs = cpu.upload(values, 'float64');
    const got = await g.read(g.unary('erf', view(gs, [values.length])));
    const want = await cpu.read(cpu.unary('erf', view(cs, [values.length])));
    expectClose(got, want, 2e-7, 2e-7, 'erf');
    for (let i = 0; i < values.length; i++) expect(got[i] + got[values.length - 1 - i]).toBe(0);
    expect([got[0], got[values.length - 1]]).toEqual([-1, 1]);
    g.free(gs); cpu.free(cs);
  });

  it('powScalar and pow with negative bases follow PyTorch (integral exponents keep the sign, others give NaN)', async () => {
    const g = await webgpu();
    const bases = Float32Array.from([-3, -2, -1.5, -1, -0.5, 0.5, 1, 2, 3]);
    for (const e of [0, 1, 2, 3, -1, -2, 0.5, 1.5]) {
      const gs = g.upload(bases, 'float32'), cs = cpu.upload(bases, 'float32');
      const got = await g.read(g.unary('powScalar', view(gs, [bases.length]), [e]));
      const want = await cpu.read(cpu.unary('powScalar', view(cs, [bases.length]), [e]));
      expectClose(got, want, 1e-6, 1e-5, `x^${e}`);
      for (let i = 0; i < bases.length; i++) expect(Number.isNaN(got[i])).toBe(Number.isNaN(Math.pow(bases[i], e)));
      const exps = g.upload(new Float32Array(bases.length).fill(e), 'float32'), cexps = cpu.upload(new Float32Array(bases.length).fill(e), 'float32');
      const got2 = await g.read(g.binary('pow', view(gs, [bases.length]), view(exps, [bases.length])));
      expectClose(got2, await cpu.read(cpu.binary('pow', view(cs, [bases.length]), view(cexps, [bases.length]))), 1e-6, 1e-5, `pow(x, ${e})`);
    }
  });

  it('every binary op and comparison (float32) on random strided and broadcast views', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(...binaryOps), shapeArb.chain((shape) => fc.tuple(fc.constant(shape), layoutArb(shape.length), layoutArb(shape.length))),
      fc.integer({ min: 1 }), fc.boolean(),
      async (op, [shape, la, lb], seed, small) => {
        // comparisons and max/min meet ties on small integers; pow gets positive bases or integer exponents
        // (0 ** negative is excluded: a known bug of pow_signed, see 'known bugs' below)
        const aData = small ? (n: number) => floatsFromIntegers(seed, -3, 3)(n).map((v) => (op === 'pow' && v === 0 ? 2 : v))
          : uniform(seed, op === 'pow' ? 0.1 : -3, 3);
        const bData = small || op === 'pow' ? floatsFromIntegers(seed + 1, op === 'div' ? 1 : -3, 3) : uniform(seed + 1, op === 'div' ? 0.5 : -3, 3);
        const a = pairOf(g, shape, la, aData, 'float32'), b = pairOf(g, shape, lb, bData, 'float32');
        await compare(g, g.binary(op, a.gpu, b.gpu), cpu.binary(op, a.cpu, b.cpu), 1e-5, 1e-4, op);
        a.free(); b.free();
      }), { numRuns: 60 });
  });

  it('every binary op and comparison of int32, pow exact', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(...binaryOps), shapeArb.chain((shape) => fc.tuple(fc.constant(shape), layoutArb(shape.length), layoutArb(shape.length))),
      fc.integer({ min: 1 }),
      async (op, [shape, la, lb], seed) => {
        const a = pairOf(g, shape, la, integers(seed, -6, 6), 'int32');
        // no division by zero (WGSL defines x/0 = x, JavaScript gives ±Infinity → 0)
        const b = pairOf(g, shape, lb, op === 'div' ? (n) => integers(seed + 1, 1, 5)(n).map((v, i) => (i % 2 ? -v : v)) : integers(seed + 1, -6, 6), 'int32');
        await compare(g, g.binary(op, a.gpu, b.gpu), cpu.binary(op, a.cpu, b.cpu), 0, 0, `${op} int32`);
        a.free(); b.free();
      }), { numRuns: 30 });
  });

  // Edge cases where WGSL's builtins differ from PyTorch and the kernels must handle them explicitly.
  it('max and min propagate NaN like the cpu oracle (WGSL max/min do not by themselves)', async () => {
    const g = await webgpu();
    const a = Float32Array.from([NaN, 1, NaN, -2, 3]), b = Float32Array.from([1, NaN, NaN, 5, -1]);
    for (const op of ['max', 'min'] as const) {
      const got = await g.read(g.binary(op, view(g.upload(a, 'float32'), [5]), view(g.upload(b, 'float32'), [5])));
      const want = await cpu.read(cpu.binary(op, view(cpu.upload(a, 'float32'), [5]), view(cpu.upload(b, 'float32'), [5])));
      expectClose(got, want, 0, 0, op);
    }
  });

  // WGSL leaves pow(0, y ≤ 0) undefined: llvmpipe gives 0, the H200 Infinity; skipped until pow_signed handles 0
  it('0 ** negative is +Infinity as in PyTorch (WGSL pow(0, y ≤ 0) is undefined)', async () => {
    const g = await webgpu();
    const got = await g.read(g.unary('powScalar', view(g.upload(Float32Array.from([0, 0]), 'float32'), [2]), [-1]));
    expect(Array.from(got)).toEqual([Infinity, Infinity]);
  });

  it('int32 pow is exact (f32 pow then truncation would give 5 ** 4 = 624)', async () => {
    const g = await webgpu();
    const a = Int32Array.from([5, 3, -3, 7, 2, -2]), b = Int32Array.from([4, 5, 3, 2, 10, 3]);
    const got = await g.read(g.binary('pow', view(g.upload(a, 'int32'), [6]), view(g.upload(b, 'int32'), [6])));
    expect(Array.from(got)).toEqual([625, 243, -27, 49, 1024, -8]);
  });

  it('where with a float or int condition on strided views', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      shapeArb.chain((shape) => fc.tuple(fc.constant(shape), layoutArb(shape.length), layoutArb(shape.length), layoutArb(shape.length))),
      fc.integer({ min: 1 }), fc.constantFrom<DType>('float32', 'int32'), fc.constantFrom<DType>('float32', 'int32'),
      async ([shape, lc, la, lb], seed, condType, dtype) => {
        const data = (s: number) => (dtype === 'int32' ? integers(s, -9, 9) : uniform(s, -3, 3));
        const c = pairOf(g, shape, lc, condType === 'int32' ? integers(seed, 0, 1) : floatsFromIntegers(seed, 0, 1), condType);
        const a = pairOf(g, shape, la, data(seed + 1), dtype), b = pairOf(g, shape, lb, data(seed + 2), dtype);
        await compare(g, g.where(c.gpu, a.gpu, b.gpu), cpu.where(c.cpu, a.cpu, b.cpu), 0, 0, 'where');
        c.free(); a.free(); b.free();
      }), { numRuns: 20 });
  });

  it('cast float32 ↔ int32 (truncation toward zero) and copy of strided views', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      shapeArb.chain((shape) => fc.tuple(fc.constant(shape), layoutArb(shape.length))), fc.integer({ min: 1 }),
      async ([shape, layout], seed) => {
        const f = pairOf(g, shape, layout, uniform(seed, -100, 100), 'float32');
        await compare(g, g.cast(f.gpu, 'int32'), cpu.cast(f.cpu, 'int32'), 0, 0, 'f32 → i32');
        await compare(g, g.copy(f.gpu), cpu.copy(f.cpu), 0, 0, 'copy f32');
        f.free();
        const i = pairOf(g, shape, layout, integers(seed, -1000, 1000), 'int32');
        await compare(g, g.cast(i.gpu, 'float32'), cpu.cast(i.cpu, 'float32'), 0, 0, 'i32 → f32');
        await compare(g, g.copy(i.gpu), cpu.copy(i.cpu), 0, 0, 'copy i32');
        i.free();
      }), { numRuns: 20 });
  });

  /**
   * copyInto / addInto on random shapes: a strided destination (permuted, stepped, offset; each element once) and any
   * source layout, float32 or int32; `check` gets the backends' pairs of views and what makes another one like them
   */
  const intoProperty = (check: (dst: Pair, src: Pair, like: (dst: Pair) => Pair) => Promise<void>) => fc.asyncProperty(
    shapeArb.chain((shape) => fc.tuple(fc.constant(shape), layoutArb(shape.length, false), layoutArb(shape.length))),
    fc.integer({ min: 1 }), fc.constantFrom<DType>('float32', 'int32'),
    async ([shape, ld, ls], seed, dtype) => {
      const g = await webgpu();
      const data = (s: number) => (dtype === 'int32' ? integers(s, -9, 9) : uniform(s, -3, 3));
      const dst = pairOf(g, shape, ld, data(seed), dtype), src = pairOf(g, shape, ls, data(seed + 1), dtype);
      await check(dst, src, () => pairOf(g, shape, ld, data(seed), dtype));
      dst.free(); src.free();
    });

  it('copyInto a strided destination (permuted, stepped, offset) leaves the other elements alone', async () => {
    const g = await webgpu();
    await fc.assert(intoProperty(async (dst, src) => {
      g.copyInto(dst.gpu, src.gpu);
      cpu.copyInto(dst.cpu, src.cpu);
      expectClose(await g.read(dst.gpu.storage), await cpu.read(dst.cpu.storage), 0, 0, 'copyInto');
    }), { numRuns: 20 });
  });

  it('addInto a strided destination: the cpu oracle and a binary add copied back (the two dispatches it replaces), bit for bit', async () => {
    const g = await webgpu();
    await fc.assert(intoProperty(async (dst, src, like) => {
      const twin = like(dst), shape = dst.gpu.shape;
      g.addInto(dst.gpu, src.gpu);
      cpu.addInto(dst.cpu, src.cpu);
      const sum = g.binary('add', twin.gpu, src.gpu);
      g.copyInto(twin.gpu, { storage: sum, shape, strides: contiguousStrides(shape), offset: 0 });
      g.free(sum);
      const got = await g.read(dst.gpu.storage);
      expectClose(got, await cpu.read(dst.cpu.storage), 0, 0, 'addInto vs cpu');
      expectClose(got, await g.read(twin.gpu.storage), 0, 0, 'addInto vs add + copyInto');
      twin.free();
    }), { numRuns: 20 });
  });

  it('copyInto and addInto refuse an expanded destination (stride 0), another shape or dtype, and one storage, on both backends', async () => {
    const g = await webgpu();
    for (const b of [cpu, g]) {
      const dst = b.fill(6, 1, 'float32'), src = b.fill(6, 2, 'float32'), ints = b.fill(6, 2, 'int32');
      const row = { storage: src, shape: [2, 3], strides: [3, 1], offset: 0 };
      for (const op of ['copyInto', 'addInto'] as const) {
        expect(() => b[op]({ storage: dst, shape: [2, 3], strides: [0, 1], offset: 0 }, row)).toThrow(`${op}: the destination [2, 3] repeats its elements along axis 0 (stride 0)`);
        expect(() => b[op](view(dst, [3, 2]), row)).toThrow(`${op}: destination [3, 2] and source [2, 3] differ in shape`);
        expect(() => b[op](view(dst, [2, 3]), view(ints, [2, 3]))).toThrow(`${op}: destination float32 and source int32 differ in dtype`);
        expect(() => b[op](view(src, [3]), { storage: src, shape: [3], strides: [1], offset: 3 })).toThrow(`${op}: the same storage as source and destination`);
      }
      // an extent of 1 with stride 0 writes each element once
      b.addInto({ storage: dst, shape: [1, 6], strides: [0, 1], offset: 0 }, view(src, [1, 6]));
      expect(Array.from(await b.read(dst))).toEqual([3, 3, 3, 3, 3, 3]);
      for (const s of [dst, src, ints]) b.free(s);
    }
  });

  it('fill and an odd size that does not divide the workgroup', async () => {
    const g = await webgpu();
    for (const [n, v, dtype] of [[1, 2.5, 'float32'], [257, -3, 'int32'], [1000, 0.125, 'float32']] as const) {
      const got = await g.read(g.fill(n, v, dtype));
      expect(Array.from(got)).toEqual(Array.from(await cpu.read(cpu.fill(n, v, dtype))));
    }
    const n = 70001;
    const x = randomArray(n, 5);
    const got = await g.read(g.unary('neg', view(g.upload(x, 'float32'), [n])));
    expectClose(got, x.map((v) => -v), 0, 0, 'neg 70001');
    const strides = contiguousStrides([7, 10001]);
    const t = await g.read(g.copy({ storage: g.upload(x, 'float32'), shape: [10001, 7], strides: [strides[1], strides[0]], offset: 0 }));
    expect(t[7 * 3 + 2]).toBe(x[2 * 10001 + 3]);
  });
});

/** float32 values among which NaN, ±Inf and ±0 are frequent */
const specialArb = fc.oneof(fc.constantFrom(NaN, Infinity, -Infinity, 0, -0), fc.double({ min: -4, max: 4, noNaN: true }).map(Math.fround));
const specialArrayArb = fc.array(specialArb, { minLength: 1, maxLength: 40 }).map((v) => Float32Array.from(v));

/** PyTorch's definitions (relu = clamp_min(x, 0), leaky_relu = x > 0 ? x : slope·x, threshold_backward: y ≤ 0 → 0) */
const torchUnary: Partial<Record<UnaryOp, (x: number, a: number, b: number) => number>> = {
  relu: (x) => (Number.isNaN(x) ? NaN : Math.max(x, 0)),
  leakyRelu: (x, a) => (x > 0 ? x : Math.fround(a) * x),
  clamp: (x, lo, hi) => (Number.isNaN(x) ? NaN : Math.min(Math.max(x, lo), hi)),
};
const torchBinary: Partial<Record<BinaryOp, (a: number, b: number) => number>> = {
  max: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)),
  min: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)),
  reluBackward: (g, y) => (y <= 0 ? 0 : g),
};

describe('NaN and ±Inf through relu, leakyRelu, clamp, max, min and the ReLU gradient, as PyTorch', () => {
  const backends = async (): Promise<Backend[]> => [cpu, await webgpu()];

  it('unary ops on values with NaN and ±Inf match PyTorch on both backends', async () => {
    const bs = await backends();
    const cases: { op: UnaryOp; params: [number, number] }[] = [
      { op: 'relu', params: [0, 0] }, { op: 'leakyRelu', params: [0.01, 0] }, { op: 'leakyRelu', params: [0.2, 0] },
      { op: 'clamp', params: [-0.5, 1.25] }, { op: 'clamp', params: [0, Infinity] },
    ];
    await fc.assert(fc.asyncProperty(fc.constantFrom(...cases), specialArrayArb, async ({ op, params }, values) => {
      const want = Float32Array.from(values, (v) => torchUnary[op]!(v, params[0], params[1]));
      for (const b of bs) {
        const s = b.upload(values, 'float32');
        const out = b.unary(op, view(s, [values.length]), params);
        // NaN must be NaN and ±Inf exact; finite values within float32 rounding (the cpu multiplies by the slope in
        // float64, subnormal products may flush on a GPU)
        expectClose(await b.read(out), want, 1e-30, 1e-6, `${op}(${params}) on ${b.name} of [${[...values]}]`);
        b.free(out); b.free(s);
      }
    }), { numRuns: 40 });
  });

  it('the other unary ops keep NaN and map ±Inf as PyTorch (tanh, sigmoid, softplus, exp, log, sqrt, abs)', async () => {
    const values = Float32Array.from([NaN, Infinity, -Infinity]);
    const want: Partial<Record<UnaryOp, number[]>> = {
      tanh: [NaN, 1, -1], sigmoid: [NaN, 1, 0], softplus: [NaN, Infinity, 0], exp: [NaN, Infinity, 0],
      log: [NaN, Infinity, NaN], sqrt: [NaN, Infinity, NaN], abs: [NaN, Infinity, Infinity],
    };
    for (const b of await backends()) {
      for (const [op, expected] of Object.entries(want) as [UnaryOp, number[]][]) {
        const s = b.upload(values, 'float32');
        expect(Array.from(await b.read(b.unary(op, view(s, [3])))), `${op} on ${b.name}`).toEqual(expected);
      }
    }
  });

  it("round takes halves to the even integer, and round/floor/ceil/trunc keep signed zeros, ±Inf and NaN, on both backends", async () => {
    const values = Float32Array.from([-2.5, -1.5, -0.5, -0.25, 0.25, 0.5, 1.5, 2.5, 3.5, 4194304.5, -4194305.5, Infinity, -Infinity, NaN]);
    const want: Partial<Record<UnaryOp, number[]>> = {
      round: [-2, -2, -0, -0, 0, 0, 2, 2, 4, 4194304, -4194306, Infinity, -Infinity, NaN], // 2²² + ½: float32 holds halves there
      floor: [-3, -2, -1, -1, 0, 0, 1, 2, 3, 4194304, -4194306, Infinity, -Infinity, NaN],
      ceil: [-2, -1, -0, -0, 1, 1, 2, 3, 4, 4194305, -4194305, Infinity, -Infinity, NaN],
      trunc: [-2, -1, -0, -0, 0, 0, 1, 2, 3, 4194304, -4194305, Infinity, -Infinity, NaN],
    };
    for (const b of await backends()) {
      for (const [op, expected] of Object.entries(want) as [UnaryOp, number[]][]) {
        const s = b.upload(values, 'float32');
        expect(Array.from(await b.read(b.unary(op, view(s, [values.length])))), `${op} on ${b.name}`).toEqual(expected);
      }
    }
  });

  it('max, min and reluBackward on values with NaN and ±Inf match PyTorch on both backends', async () => {
    const bs = await backends();
    const pairArb = fc.array(fc.tuple(specialArb, specialArb), { minLength: 1, maxLength: 40 });
    await fc.assert(fc.asyncProperty(fc.constantFrom<BinaryOp>('max', 'min', 'reluBackward'), pairArb, async (op, pairs) => {
      const a = Float32Array.from(pairs, ([x]) => x), c = Float32Array.from(pairs, ([, y]) => y);
      const want = Float32Array.from(pairs, ([x, y]) => torchBinary[op]!(x, y));
      for (const b of bs) {
        const sa = b.upload(a, 'float32'), sc = b.upload(c, 'float32');
        const out = b.binary(op, view(sa, [a.length]), view(sc, [c.length]));
        expectClose(await b.read(out), want, 0, 0, `${op} on ${b.name} of ${JSON.stringify(pairs.map(String))}`);
        b.free(out); b.free(sa); b.free(sc);
      }
    }), { numRuns: 30 });
  });
});
