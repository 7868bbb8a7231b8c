import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, ReduceOp } from '../../src/kernels/index.js';
import { reduceLayout } from '../../src/kernels/reduce/webgpu.js';
import { cpu, expectClose, randomArray, view, webgpu } from '../helpers/backends.js';
import { contiguousLayout, layoutArb, pairOf, type Layout, type Pair } from '../helpers/layouts.js';

const floats = (seed: number) => (n: number) => randomArray(n, seed, -1, 1);
/** few distinct values: ties for argmax and max/min */
const coarse = (seed: number) => (n: number) => Float32Array.from(randomArray(n, seed, -3, 3), (v) => Math.round(v));
const ints = (seed: number) => (n: number) => Int32Array.from(randomArray(n, seed, -50, 50), (v) => Math.round(v));
/** values with a few NaN sprinkled in */
const withNaN = (seed: number) => (n: number) => {
  const v = randomArray(n, seed, -1, 1);
  for (let i = 0; i < n; i++) if (v[i] > 0.93) v[i] = NaN;
  return v;
};

async function check(g: Backend, op: ReduceOp, x: Pair, axes: number[], what: string): Promise<void> {
  const got = g.reduce(op, x.gpu, axes), want = cpu.reduce(op, x.cpu, axes);
  const a = await g.read(got), e = await cpu.read(want);
  g.free(got); cpu.free(want);
  expect(a.constructor).toBe(e.constructor);
  const count = x.gpu.shape.filter((_, d) => axes.includes(d)).reduce((p, q) => p * q, 1);
  // float sums: the GPU adds in a tree, the oracle in order; allow a few ulps of the sum of magnitudes
  const atol = op === 'sum' && x.gpu.storage.dtype === 'float32' ? 2e-6 * Math.max(count, 1) + 1e-6 : 0;
  expectClose(a, e, atol, op === 'sum' ? 1e-5 : 0, what);
}

async function checkArgmax(g: Backend, x: Pair, axis: number, what: string): Promise<void> {
  const got = g.argmax(x.gpu, axis), want = cpu.argmax(x.cpu, axis);
  const a = await g.read(got), e = await cpu.read(want);
  g.free(got); cpu.free(want);
  expect(a).toBeInstanceOf(Int32Array);
  expect(Array.from(a), what).toEqual(Array.from(e));
}

const caseArb = fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 }).chain((shape) => fc.tuple(
  fc.constant(shape), layoutArb(shape.length), fc.subarray([...shape.keys()]), fc.integer({ min: 1 }),
));

describe('webgpu reduce against the cpu oracle', () => {
  it('sum / max / min of float32 over random axis subsets of random strided views', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(caseArb, fc.constantFrom<ReduceOp>('sum', 'max', 'min'), fc.boolean(),
      async ([shape, layout, axes, seed], op, tied) => {
        const x = pairOf(g, shape, layout, tied ? coarse(seed) : floats(seed), 'float32');
        await check(g, op, x, axes, `${op} [${shape}] axes [${axes}]`);
        x.free();
      }), { numRuns: 40 });
  });

  it('sum / max / min of int32 (sums wrap like the oracle)', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(caseArb, fc.constantFrom<ReduceOp>('sum', 'max', 'min'),
      async ([shape, layout, axes, seed], op) => {
        const x = pairOf(g, shape, layout, ints(seed), 'int32');
        await check(g, op, x, axes, `${op} int32 [${shape}] axes [${axes}]`);
        x.free();
      }), { numRuns: 20 });
    const big = Int32Array.from([2 ** 30, 2 ** 30, 2 ** 30, 5]);
    const got = await g.read(g.reduce('sum', view(g.upload(big, 'int32'), [4]), [0]));
    expect(got[0]).toBe((3 * 2 ** 30 + 5) | 0);
  });

  it('over all axes, and over none (a copy)', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(caseArb, fc.constantFrom<ReduceOp>('sum', 'max', 'min'), fc.boolean(),
      async ([shape, layout, , seed], op, all) => {
        const x = pairOf(g, shape, layout, floats(seed), 'float32');
        await check(g, op, x, all ? [...shape.keys()] : [], `${op} [${shape}] ${all ? 'all' : 'none'}`);
        x.free();
      }), { numRuns: 20 });
  });

  it('max / min propagate NaN like the oracle', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(caseArb, fc.constantFrom<ReduceOp>('max', 'min'),
      async ([shape, layout, axes, seed], op) => {
        const x = pairOf(g, shape, layout, withNaN(seed), 'float32');
        await check(g, op, x, axes, `${op} NaN [${shape}] axes [${axes}]`);
        x.free();
      }), { numRuns: 25 });
  });

  it('argmax along every axis: first index on ties, first NaN wins, strided views, int32', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(caseArb, fc.nat(), fc.constantFrom('floats', 'ties', 'nan', 'int32'),
      async ([shape, layout, , seed], axisPick, kind) => {
        const axis = axisPick % shape.length;
        const x = kind === 'int32' ? pairOf(g, shape, layout, (n) => Int32Array.from(coarse(seed)(n)), 'int32')
          : pairOf(g, shape, layout, kind === 'ties' ? coarse(seed) : kind === 'nan' ? withNaN(seed) : floats(seed), 'float32');
        await checkArgmax(g, x, axis, `argmax ${kind} [${shape}] axis ${axis}`);
        x.free();
      }), { numRuns: 30 });
  });

  it('takes the two-pass path for few long outputs (BN statistics, sum over all, column sums) and stays right', async () => {
    const g = await webgpu();
    const cases: { shape: number[]; axes: number[]; layout?: Layout }[] = [
      // batch-norm statistics: C = 3 outputs of N·D·H·W elements
      { shape: [2, 3, 100, 90], axes: [0, 2, 3] },
      // the same on a channels-last (permuted) view with an offset
      { shape: [2, 3, 100, 90], axes: [0, 2, 3], layout: { perm: [0, 2, 3, 1], bcast: [false, false, false, false], step: [1, 1, 1, 1], offset: 3 } },
      { shape: [40001], axes: [0] },
      { shape: [30000, 3], axes: [0] },
      { shape: [5, 7, 700], axes: [0, 1, 2] },
    ];
    for (const c of cases) {
      const layout = c.layout ?? contiguousLayout(c.shape.length);
      for (const op of ['sum', 'max', 'min'] as const) {
        const x = pairOf(g, c.shape, layout, op === 'sum' ? floats(7) : withNaN(7), 'float32');
        expect(reduceLayout(x.gpu, c.axes).chunks, `[${c.shape}] axes [${c.axes}]`).toBeGreaterThan(1);
        await check(g, op, x, c.axes, `two-pass ${op} [${c.shape}] axes [${c.axes}]`);
        x.free();
      }
      const xi = pairOf(g, c.shape, layout, ints(3), 'int32');
      await check(g, 'sum', xi, c.axes, `two-pass int32 sum [${c.shape}]`);
      xi.free();
    }
    // argmax over a long axis splits too; ties everywhere (first index) and with a NaN late in the axis
    const n = 50000;
    const tied = pairOf(g, [n], contiguousLayout(1), (len) => Float32Array.from(coarse(11)(len), (v) => Math.min(v, 2)), 'float32');
    expect(reduceLayout(tied.gpu, [0]).chunks).toBeGreaterThan(1);
    await checkArgmax(g, tied, 0, 'two-pass argmax ties');
    tied.free();
    const nan = pairOf(g, [2, n], contiguousLayout(2), (len) => {
      const v = randomArray(len, 12);
      v[n + 40000] = NaN; v[n + 45000] = NaN; v[30000] = 5;
      return v;
    }, 'float32');
    await checkArgmax(g, nan, 1, 'two-pass argmax NaN');
    nan.free();
  });

  it('the layouts: row sums are reduction-major, column sums and softmax-over-channels kept-major', () => {
    const s = { storage: cpu.alloc(1, 'float32'), offset: 0 };
    expect(reduceLayout({ ...s, shape: [1000, 512], strides: [512, 1] }, [1]).reductionMajor).toBe(true);
    expect(reduceLayout({ ...s, shape: [512, 1000], strides: [1000, 1] }, [0]).reductionMajor).toBe(false);
    const channels = reduceLayout({ ...s, shape: [4, 2, 112 * 112 * 80], strides: [2 * 112 * 112 * 80, 112 * 112 * 80, 1] }, [1]);
    expect(channels).toMatchObject({ reductionMajor: false, wy: 1, chunks: 1 });
    const bn = reduceLayout({ ...s, shape: [4, 16, 112, 112, 80], strides: [16 * 1003520, 1003520, 8960, 80, 1] }, [0, 2, 3, 4]);
    expect(bn.reductionMajor).toBe(true);
    expect(bn.chunks * 16).toBeGreaterThanOrEqual(1024);
  });

  it('empty reductions give the oracle\'s initial values; empty outputs are empty', async () => {
    const g = await webgpu();
    const x = g.upload(new Float32Array(0), 'float32'), c = cpu.upload(new Float32Array(0), 'float32');
    for (const op of ['sum', 'max', 'min'] as const) {
      const got = await g.read(g.reduce(op, { storage: x, shape: [3, 0], strides: [0, 1], offset: 0 }, [1]));
      expect(Array.from(got)).toEqual(Array.from(await cpu.read(cpu.reduce(op, { storage: c, shape: [3, 0], strides: [0, 1], offset: 0 }, [1]))));
      expect((await g.read(g.reduce(op, { storage: x, shape: [0, 3], strides: [3, 1], offset: 0 }, [1]))).length).toBe(0);
    }
  });
});
