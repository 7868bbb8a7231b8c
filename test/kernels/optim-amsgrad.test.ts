import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AdamItem, Backend, Storage, WebGPUBackend } from '../../src/kernels/index.js';
import { segmentsPerDispatch } from '../../src/kernels/webgpu/multi-tensor.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';

/**
 * adamSteps with amsgrad (an item's maxExpAvgSq, PyTorch's max_exp_avg_sq ← max(max_exp_avg_sq, exp_avg_sq), whose
 * root divides instead of exp_avg_sq's): the cpu oracle by hand, then the WGSL kernels against it on random
 * parameter sets (with and without max_exp_avg_sq in one call, host and device step counts, the found-inf flag).
 */

const up = (b: Backend, v: ArrayLike<number>) => b.upload(Float32Array.from(v), 'float32');
const hyper = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };

describe('the cpu oracle\'s amsgrad by hand (PyTorch: torch.maximum(max_exp_avg_sq, exp_avg_sq), denom = √max / √(1 − β₂ᵗ) + ε)', () => {
  it('a running maximum above the new exp_avg_sq divides and is kept; one below is replaced by it', async () => {
    const run = async (maxV0: number) => {
      const s = [up(cpu, [1]), up(cpu, [0.5]), up(cpu, [0]), up(cpu, [0]), up(cpu, [maxV0])];
      cpu.adamSteps([{ param: s[0]!, grad: s[1]!, expAvg: s[2]!, expAvgSq: s[3]!, maxExpAvgSq: s[4]!, step: 1 }], hyper);
      const [w, , m, v, maxV] = await Promise.all(s.map(async (x) => (await cpu.read(x))[0]!));
      return { w, m, v, maxV };
    };
    // m = 0.05, v = 0.00025, max = 0.01: w = 1 − (0.1/0.1)·0.05/(√(0.01/0.001) + 1e-8)
    const above = await run(0.01);
    expect(above.m).toBeCloseTo(0.05, 7);
    expect(above.v).toBeCloseTo(0.00025, 9);
    expect(above.maxV).toBe(Math.fround(0.01));
    expect(above.w).toBeCloseTo(1 - 0.05 / (Math.sqrt(10) + 1e-8), 6);
    // max 0: becomes v, and the step is Adam's first, ≈ lr
    const below = await run(0);
    expect(below.maxV).toBe(below.v);
    expect(below.w).toBeCloseTo(1 - 0.05 / (Math.sqrt(0.25) + 1e-8), 6);
  });
});

interface Made { gpu: Storage[]; cpu: Storage[]; arrays: Float32Array[]; amsgrad: boolean }

/** per parameter: w, m, v (as training makes them: |m| ≲ √v) and, with amsgrad, a running maximum around v */
function makeParameters(g: Backend, specs: readonly { n: number; amsgrad: boolean }[], seed: number): Made[] {
  return specs.map(({ n, amsgrad }, k) => {
    const arrays = [randomArray(n, seed + 10 * k), randomArray(n, seed + 10 * k + 1, -0.1, 0.1), randomArray(n, seed + 10 * k + 2, 1e-2, 2e-2)];
    if (amsgrad) arrays.push(randomArray(n, seed + 10 * k + 3, 0, 3e-2));
    return { gpu: arrays.map((a) => up(g, a)), cpu: arrays.map((a) => up(cpu, a)), arrays, amsgrad };
  });
}

const items = (made: readonly Made[], side: 'gpu' | 'cpu', grads: readonly Storage[], step: (k: number) => number): AdamItem[] =>
  made.map((m, k) => ({ param: m[side][0]!, grad: grads[k]!, expAvg: m[side][1]!, expAvgSq: m[side][2]!, maxExpAvgSq: m[side][3] ?? null, step: step(k) }));

const specsArbitrary = fc.array(fc.record({ n: fc.integer({ min: 0, max: 400 }), amsgrad: fc.boolean() }), { minLength: 1, maxLength: 13 });

describe('webgpu adamSteps with amsgrad against the cpu oracle', () => {
  it('random parameter sets, some with max_exp_avg_sq (more than one dispatch holds), three steps of host step counts', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(specsArbitrary, fc.boolean(), fc.constantFrom(0, 1e-2), fc.integer({ min: 1 }),
      async (specs, decoupled, weightDecay, seed) => {
        const p = { ...hyper, lr: 1e-2, decoupled, weightDecay };
        const made = makeParameters(g, specs, seed);
        for (let step = 1; step <= 3; step++) {
          for (const [b, side] of [[g, 'gpu'], [cpu, 'cpu']] as const) {
            const grads = specs.map(({ n }, k) => up(b, randomArray(n, seed + 100 * step + k, -0.2, 0.2)));
            b.adamSteps(items(made, side, grads, (k) => step + (k % 3)), p);
            for (const x of grads) b.free(x);
          }
        }
        for (const [k, m] of made.entries()) {
          for (let s = 0; s < m.gpu.length; s++) expectClose(await g.read(m.gpu[s]!), await cpu.read(m.cpu[s]!), 2e-6, 2e-5, `parameter ${k} (amsgrad ${m.amsgrad}), state ${s}`);
          for (const x of m.gpu) g.free(x);
        }
      }), { numRuns: 15 });
  });

  it('step counts on the device: the flag unset, as the oracle; set, nothing changes (max_exp_avg_sq neither)', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(specsArbitrary, fc.boolean(), fc.constantFrom(0, 1), fc.integer({ min: 1 }),
      async (specs, decoupled, flag, seed) => {
        const p = { ...hyper, lr: 1e-2, decoupled, weightDecay: 1e-2 };
        const counts = [3, ...specs.map((_, k) => 7 * k)];
        const made = makeParameters(g, specs, seed);
        for (const [b, side] of [[g, 'gpu'], [cpu, 'cpu']] as const) {
          const grads = specs.map(({ n }, k) => up(b, randomArray(n, seed + 100 + k, -0.2, 0.2)));
          const deviceSteps = { counts: up(b, counts), foundInf: up(b, [flag]) };
          b.adamSteps(items(made, side, grads, (k) => k + 1), p, deviceSteps);
          for (const x of [...grads, deviceSteps.counts, deviceSteps.foundInf]) b.free(x);
        }
        for (const [k, m] of made.entries()) {
          for (let s = 0; s < m.gpu.length; s++) {
            const what = `parameter ${k} (amsgrad ${m.amsgrad}), state ${s}`;
            if (flag) {
              expect(Array.from(await g.read(m.gpu[s]!)), what).toEqual(Array.from(m.arrays[s]!));
              expect(Array.from(await cpu.read(m.cpu[s]!)), what).toEqual(Array.from(m.arrays[s]!));
            } else expectClose(await g.read(m.gpu[s]!), await cpu.read(m.cpu[s]!), 2e-6, 2e-5, what);
          }
          for (const x of m.gpu) g.free(x);
        }
      }), { numRuns: 15 });
  });
});

describe('webgpu adamSteps with amsgrad: dispatches', () => {
  it('as many parameters with max_exp_avg_sq as the binding limit allows (5 buffers each) in one dispatch; those without it in their own', async () => {
    const g = await webgpu() as WebGPUBackend;
    const perDispatch = segmentsPerDispatch(g.rt, 5);
    const made = makeParameters(g, Array.from({ length: perDispatch + 1 }, (_, k) => ({ n: 10 + k, amsgrad: k < perDispatch })), 7);
    const grads = made.map((m) => up(g, randomArray(m.arrays[0]!.length, 3)));
    const before = g.rt.dispatchCount;
    g.adamSteps(items(made, 'gpu', grads, () => 1), hyper);
    expect(g.rt.dispatchCount - before).toBe(2);
    for (const x of [...made.flatMap((m) => m.gpu), ...grads]) g.free(x);
  });
});
