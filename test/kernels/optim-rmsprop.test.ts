import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, RmspropItem, RmspropParams, Storage, WebGPUBackend } from '../../src/kernels/index.js';
import { segmentsPerDispatch } from '../../src/kernels/webgpu/multi-tensor.js';
import { optimFamily } from '../../src/kernels/optim/index.js';
import { cpu, expectClose, expectSameFloats, randomArray, runSmallBenchmarks, webgpu } from '../helpers/backends.js';

/** rmspropSteps (torch.optim.RMSprop fused, several parameters per dispatch, found_inf) and advanceStepCounts */

const up = (b: Backend, v: ArrayLike<number>) => b.upload(Float32Array.from(v), 'float32');
const f64 = (v: ArrayLike<number>) => cpu.upload(Float64Array.from(v), 'float64');
const bits = async (b: Backend, s: Storage) => Array.from(new Uint32Array((await b.read(s)).buffer));

/** w, g, square_avg, grad_avg, momentum_buffer of one parameter on `b` (the state the options need, else null) */
function item(b: Backend, arrays: readonly Float32Array[], grad: Float32Array, p: RmspropParams): RmspropItem {
  return {
    param: up(b, arrays[0]!), grad: up(b, grad), squareAvg: up(b, arrays[1]!),
    gradAvg: p.centered ? up(b, arrays[2]!) : null, momentumBuffer: p.momentum > 0 ? up(b, arrays[3]!) : null,
  };
}

const storages = (it: RmspropItem): Storage[] => [it.param, it.squareAvg, ...(it.gradAvg ? [it.gradAvg] : []), ...(it.momentumBuffer ? [it.momentumBuffer] : [])];

const options = fc.record({
  lr: fc.constantFrom(1e-3, 0.05), alpha: fc.constantFrom(0.9, 0.99), eps: fc.constantFrom(1e-8, 1e-3),
  weightDecay: fc.constantFrom(0, 1e-2), momentum: fc.constantFrom(0, 0.9), centered: fc.boolean(),
});

/** state as training makes it: square_avg ≥ grad_avg² (centered), so that √(v − ḡ²) is real */
function stateArrays(n: number, seed: number): Float32Array[] {
  const gradAvg = randomArray(n, seed + 2, -0.1, 0.1);
  const squareAvg = gradAvg.map((a, i) => a * a + 1e-2 + 1e-2 * Math.abs(Math.sin(seed + i)));
  return [randomArray(n, seed), squareAvg, gradAvg, randomArray(n, seed + 3, -0.1, 0.1)];
}

describe('the cpu oracle against torch.optim.RMSprop\'s algorithm, one step by hand (float64)', () => {
  const w0 = 1, g0 = 0.5, v0 = 0.04, a0 = 0.1, b0 = 0.2;
  const run = async (p: RmspropParams) => {
    const it: RmspropItem = { param: f64([w0]), grad: f64([g0]), squareAvg: f64([v0]), gradAvg: p.centered ? f64([a0]) : null, momentumBuffer: p.momentum > 0 ? f64([b0]) : null };
    cpu.rmspropSteps([it], p);
    return Promise.all(storages(it).map(async (s) => (await cpu.read(s))[0]!));
  };
  const base: RmspropParams = { lr: 0.1, alpha: 0.9, eps: 1e-3, weightDecay: 0, momentum: 0, centered: false };

  it('plain: v = αv + (1 − α)g², w −= lr·g/(√v + ε) (ε after the square root)', async () => {
    const v = 0.9 * v0 + (1 - 0.9) * g0 * g0;
    expect(await run(base)).toEqual([w0 - 0.1 * (g0 / (Math.sqrt(v) + 1e-3)), v]);
  });

  it('weight decay into the gradient, centered (√(v − ḡ²) + ε), momentum (b = μb + d/σ, w −= lr·b)', async () => {
    const d = g0 + 0.5 * w0, v = 0.9 * v0 + (1 - 0.9) * d * d, a = 0.9 * a0 + (1 - 0.9) * d;
    const b = 0.8 * b0 + d / (Math.sqrt(v - a * a) + 1e-3);
    expect(await run({ ...base, weightDecay: 0.5, centered: true, momentum: 0.8 })).toEqual([w0 - 0.1 * b, v, a, b]);
  });
});

describe('webgpu rmspropSteps against the cpu oracle', () => {
  it('random parameter sets (empty ones, more than one dispatch binds) and options, three steps, without a flag and with a clear one', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 19 }), options, fc.boolean(), fc.integer({ min: 1 }),
      async (sizes, p, withFlag, seed) => {
        const arrays = sizes.map((n, k) => stateArrays(n, seed + 10 * k));
        const state = (b: Backend) => arrays.map((a) => item(b, a, new Float32Array(a[0]!.length), p));
        const ours = state(g), theirs = state(cpu);
        for (let step = 0; step < 3; step++) {
          for (const [b, items] of [[g, ours], [cpu, theirs]] as const) {
            const grads = sizes.map((n, k) => up(b, randomArray(n, seed + 100 * step + k)));
            const flag = withFlag ? up(b, [0]) : null;
            b.rmspropSteps(items.map((it, k) => ({ ...it, grad: grads[k]! })), p, flag);
            for (const x of [...grads, ...(flag ? [flag] : [])]) b.free(x);
          }
        }
        for (const [k, it] of ours.entries()) {
          const mine = storages(it), oracle = storages(theirs[k]!);
          for (let s = 0; s < mine.length; s++) expectClose(await g.read(mine[s]!), await cpu.read(oracle[s]!), 2e-6, 2e-5, `parameter ${k} of ${sizes.length}, state ${s}`);
          for (const x of [...mine, it.grad]) g.free(x);
        }
      }), { numRuns: 20 });
  });

  it('one dispatch per as many parameters as the storage bindings hold', async () => {
    const g = await webgpu() as WebGPUBackend;
    for (const p of [{ momentum: 0, centered: false }, { momentum: 0.9, centered: true }]) {
      const hyper = { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, ...p };
      const items = Array.from({ length: 20 }, (_, k) => item(g, stateArrays(5 + k, k), randomArray(5 + k, 50 + k), hyper));
      const flag = up(g, [0]);
      const perParam = 3 + (p.centered ? 1 : 0) + (p.momentum > 0 ? 1 : 0);
      for (const skip of [null, flag]) {
        const d0 = g.rt.dispatchCount;
        g.rmspropSteps(items, hyper, skip);
        expect(g.rt.dispatchCount - d0).toBe(Math.ceil(20 / segmentsPerDispatch(g.rt, perParam, skip ? 1 : 0)));
      }
      for (const x of [...items.flatMap((it) => [...storages(it), it.grad]), flag]) g.free(x);
    }
  });
});

describe.each([['cpu', async () => cpu], ['webgpu', webgpu]] as const)('rmspropSteps with a found-inf flag on %s', (_name, get) => {
  it('the flag set: parameters and every state unchanged (NaN gradients too); clear: bit for bit as without one', async () => {
    const backend = await get();
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 11 }), options, fc.integer({ min: 1 }),
      async (sizes, p, seed) => {
        const arrays = sizes.map((n, k) => stateArrays(n, seed + 10 * k));
        const grads = sizes.map((n, k) => {
          const a = randomArray(n, seed + 100 + k);
          if (n > 0 && k % 2 === 1) a[seed % n] = NaN;
          return a;
        });
        // plain, flag 0, flag 1
        const copies = [0, 1, 2].map(() => arrays.map((a, k) => item(backend, a, grads[k]!, p)));
        const flags = [0, 1].map((v) => up(backend, [v]));
        const before = await Promise.all(copies[2]!.map((it) => Promise.all(storages(it).map((s) => bits(backend, s)))));
        backend.rmspropSteps(copies[0]!, p);
        backend.rmspropSteps(copies[1]!, p, flags[0]);
        backend.rmspropSteps(copies[2]!, p, flags[1]);
        for (let k = 0; k < sizes.length; k++) {
          const [plain, clear, set] = copies.map((c) => storages(c[k]!));
          for (let s = 0; s < plain!.length; s++) {
            expectSameFloats(backend, await backend.read(clear![s]!), await backend.read(plain![s]!), `parameter ${k}, state ${s}, flag 0`);
            expect(await bits(backend, set![s]!), `parameter ${k}, state ${s}, flag 1`).toEqual(before[k]![s]);
          }
        }
        for (const x of [...copies.flat().flatMap((it) => [...storages(it), it.grad]), ...flags]) backend.free(x);
      }), { numRuns: 12 });
  });

  it('refuses state that does not match the options, mismatched lengths, and a flag that is not one float32', async () => {
    const backend = await get();
    const s = (n: number) => up(backend, new Float32Array(n));
    const p: RmspropParams = { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0.9, centered: true };
    const full: RmspropItem = { param: s(3), grad: s(3), squareAvg: s(3), gradAvg: s(3), momentumBuffer: s(3) };
    const what = `${backend.name} rmspropSteps`;
    expect(() => backend.rmspropSteps([{ ...full, gradAvg: null }], p)).toThrow(`${what}: parameter 0 lacks a grad_avg centered`);
    expect(() => backend.rmspropSteps([full], { ...p, centered: false })).toThrow(`${what}: parameter 0 has a grad_avg not centered`);
    expect(() => backend.rmspropSteps([{ ...full, momentumBuffer: null }], p)).toThrow(`${what}: parameter 0 lacks a momentum_buffer with momentum 0.9`);
    expect(() => backend.rmspropSteps([full], { ...p, momentum: 0 })).toThrow(`${what}: parameter 0 has a momentum_buffer with momentum 0`);
    const [short, flag] = [s(2), s(2)];
    expect(() => backend.rmspropSteps([full, { ...full, squareAvg: short }], p)).toThrow(`${what}: parameter 1 (3 float32) has a gradient or state of 2 float32`);
    expect(() => backend.rmspropSteps([full], p, flag)).toThrow(`${what}: the found-inf flag must be one float32, got 2 float32`);
    for (const x of [...storages(full), full.grad, short, flag]) backend.free(x);
  });
});

describe.each([['cpu', async () => cpu], ['webgpu', webgpu]] as const)('advanceStepCounts on %s', (_name, get) => {
  it('counts[i] += 1 − found_inf for the stepped indices (or all), the others untouched', async () => {
    const backend = await get();
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 600 }), fc.constantFrom(null, 0, 1), fc.boolean(), fc.integer({ min: 1 }),
      async (start, flag, subset, seed) => {
        const picked = subset ? start.map((_, i) => i).filter((i) => (i * 7 + seed) % 3 !== 0) : null;
        const counts = up(backend, start);
        const stepped = picked ? backend.upload(Int32Array.from(picked), 'int32') : null;
        const foundInf = flag === null ? null : up(backend, [flag]);
        backend.advanceStepCounts(counts, stepped, foundInf);
        const increment = flag === 1 ? 0 : 1, chosen = new Set(picked ?? start.map((_, i) => i));
        expect(Array.from(await backend.read(counts))).toEqual(start.map((c, i) => (chosen.has(i) ? c + increment : c)));
        for (const x of [counts, stepped, foundInf]) if (x) backend.free(x);
      }), { numRuns: 20 });
  });

  it('refuses counts that are not float32, indices that are not int32, and (cpu) an index outside the counts', async () => {
    const backend = await get();
    const counts = up(backend, [0, 0]), ints = backend.upload(Int32Array.of(2), 'int32'), floats = up(backend, [0]);
    const what = `${backend.name} advanceStepCounts`;
    expect(() => backend.advanceStepCounts(ints, null)).toThrow(`${what}: the step counts must be float32, got int32`);
    expect(() => backend.advanceStepCounts(counts, floats)).toThrow(`${what}: the stepped indices must be int32, got float32`);
    if (backend === cpu) expect(() => cpu.advanceStepCounts(counts, ints)).toThrow('cpu advanceStepCounts: step count index 2 outside the 2 counts');
    for (const x of [counts, ints, floats]) backend.free(x);
  });
});

it('advanceStepCounts is one dispatch on WebGPU whatever the number of counts', async () => {
  const g = await webgpu() as WebGPUBackend;
  for (const n of [1, 20, 3000]) {
    const counts = up(g, new Float32Array(n)), flag = up(g, [0]);
    const d0 = g.rt.dispatchCount;
    g.advanceStepCounts(counts, null, flag);
    expect(g.rt.dispatchCount - d0).toBe(1);
    expect(Array.from(await g.read(counts))).toEqual(new Array<number>(n).fill(1));
    g.free(counts); g.free(flag);
  }
});

it('the optim family\'s small benchmarks run (RMSprop\'s among them)', async () => {
  expect(await runSmallBenchmarks(await webgpu(), optimFamily.benchmarks)).toBe(3);
});
