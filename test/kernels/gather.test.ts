import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { benchmarks, scatterAdd, type ScatterMode } from '../../src/kernels/gather/webgpu.js';
import type { DType, WebGPUBackend } from '../../src/kernels/index.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { cpu, expectClose, randomArray, runSmallBenchmarks, webgpu } from '../helpers/backends.js';

interface Case { xShape: number[]; axis: number; n: number; seed: number }

/** x of rank 1..4, an axis, and the index's length along it (n > x's length forces repeated indices) */
const caseArb: fc.Arbitrary<Case> = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }).chain((xShape) =>
  fc.record({
    xShape: fc.constant(xShape), axis: fc.integer({ min: 0, max: xShape.length - 1 }),
    n: fc.integer({ min: 1, max: 9 }), seed: fc.integer({ min: 1 }),
  }));

function inputs(c: Case, dtype: DType) {
  const iShape = c.xShape.slice();
  iShape[c.axis] = c.n;
  const xn = c.xShape[c.axis];
  const index = Int32Array.from(randomArray(sizeOf(iShape), c.seed, 0, xn), (v) => Math.min(Math.floor(v), xn - 1));
  const values = (len: number, seed: number) => (dtype === 'int32'
    ? Int32Array.from(randomArray(len, seed, -20, 20), Math.round) : randomArray(len, seed));
  return { iShape, index, x: values(sizeOf(c.xShape), c.seed + 1), src: values(sizeOf(iShape), c.seed + 2) };
}

async function gpuBackend(): Promise<WebGPUBackend> {
  return (await webgpu()) as WebGPUBackend;
}

describe('webgpu gather / scatterAdd against the cpu oracle', () => {
  it('gather along a random axis with repeated indices (float32 and int32, exact)', async () => {
    const g = await gpuBackend();
    await fc.assert(fc.asyncProperty(caseArb, fc.constantFrom<DType>('float32', 'int32'), async (c, dtype) => {
      const { iShape, index, x } = inputs(c, dtype);
      const got = await g.read(g.gather(g.upload(x, dtype), c.xShape, c.axis, g.upload(index, 'int32'), iShape));
      const want = await cpu.read(cpu.gather(cpu.upload(x, dtype), c.xShape, c.axis, cpu.upload(index, 'int32'), iShape));
      expect(got.constructor).toBe(want.constructor);
      expectClose(got, want, 0, 0, `gather ${JSON.stringify(c)}`);
    }), { numRuns: 40 });
  });

  it('scatterAdd sums repeated indices: deterministic, atomic and auto paths', async () => {
    const g = await gpuBackend();
    await fc.assert(fc.asyncProperty(caseArb, fc.constantFrom<DType>('float32', 'int32'), fc.constantFrom<ScatterMode>('auto', 'deterministic', 'atomic'),
      async (c, dtype, mode) => {
        const { iShape, index, src } = inputs(c, dtype);
        const got = await g.read(scatterAdd(g.rt, g.upload(src, dtype), iShape, c.axis, g.upload(index, 'int32'), c.xShape, mode));
        const want = await cpu.read(cpu.scatterAdd(cpu.upload(src, dtype), iShape, c.axis, cpu.upload(index, 'int32'), c.xShape));
        expect(got.constructor).toBe(want.constructor);
        expectClose(got, want, dtype === 'int32' ? 0 : 1e-6 * c.n, dtype === 'int32' ? 0 : 1e-6, `scatterAdd ${mode} ${JSON.stringify(c)}`);
      }), { numRuns: 50 });
  });

  it('every index hitting one position; the deterministic path gives the same bits every run', async () => {
    const g = await gpuBackend();
    const n = 300, inner = 5;
    const src = randomArray(n * inner, 9);
    const index = new Int32Array(n * inner).fill(2);
    const want = await cpu.read(cpu.scatterAdd(cpu.upload(src, 'float32'), [n, inner], 0, cpu.upload(index, 'int32'), [4, inner]));
    const gi = g.upload(index, 'int32'), gs = g.upload(src, 'float32');
    const first = await g.read(scatterAdd(g.rt, gs, [n, inner], 0, gi, [4, inner], 'deterministic'));
    expectClose(first, want, 1e-4, 1e-5, 'all into one');
    for (let run = 0; run < 3; run++) {
      const again = await g.read(scatterAdd(g.rt, gs, [n, inner], 0, gi, [4, inner], 'deterministic'));
      expect(Array.from(again)).toEqual(Array.from(first));
    }
    expectClose(await g.read(scatterAdd(g.rt, gs, [n, inner], 0, gi, [4, inner], 'atomic')), want, 1e-4, 1e-5, 'atomic all into one');
  });

  it('gather and scatterAdd are adjoint: <gather(x), y> = <x, scatterAdd(y)>', async () => {
    const g = await gpuBackend();
    const c: Case = { xShape: [3, 5, 4], axis: 1, n: 7, seed: 21 };
    const { iShape, index, x, src } = inputs(c, 'float32');
    const gx = await g.read(g.gather(g.upload(x, 'float32'), c.xShape, 1, g.upload(index, 'int32'), iShape));
    const sy = await g.read(g.scatterAdd(g.upload(src, 'float32'), iShape, 1, g.upload(index, 'int32'), c.xShape));
    let lhs = 0, rhs = 0;
    for (let i = 0; i < gx.length; i++) lhs += gx[i] * src[i];
    for (let i = 0; i < sy.length; i++) rhs += x[i] * sy[i];
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4);
  });

  it('rejects index shapes that differ from x off the axis', async () => {
    const g = await gpuBackend();
    const x = g.upload(new Float32Array(6), 'float32'), i = g.upload(new Int32Array(4), 'int32');
    expect(() => g.gather(x, [2, 3], 1, i, [1, 4])).toThrow(/must equal x shape/);
    expect(() => g.scatterAdd(x, [2, 3], 0, i, [2, 2])).toThrow(/must equal x shape/);
    // the cpu oracle too (it used to read the wrong elements), and out-of-range indices there
    const cx = cpu.upload(new Float32Array(6), 'float32'), ci = cpu.upload(new Int32Array(4), 'int32');
    expect(() => cpu.gather(cx, [2, 3], 1, ci, [1, 4])).toThrow(/must equal x shape/);
    expect(() => cpu.scatterAdd(cx, [2, 3], 0, ci, [2, 2])).toThrow(/must equal x shape/);
    expect(() => cpu.scatterAdd(cx, [1, 2], 1, cpu.upload(Int32Array.from([0, 3]), 'int32'), [1, 3])).toThrow(/out of range/);
  });

  it('the benchmark shapes run (small cases; their indices are in range, so the syncs report nothing)', async () => {
    expect(await runSmallBenchmarks(await webgpu(), benchmarks)).toBe(4);
  });
});
