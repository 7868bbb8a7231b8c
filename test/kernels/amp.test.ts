import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ampFamily } from '../../src/kernels/amp/index.js';
import { type Backend, type Storage, WebGPUBackend } from '../../src/kernels/index.js';
import { cpu, expectSameFloats, randomArray, runSmallBenchmarks, webgpu } from '../helpers/backends.js';

const upload = (b: Backend, v: ArrayLike<number>, dtype: 'float32' | 'int32' = 'float32') => b.upload(
  dtype === 'float32' ? Float32Array.from(v) : Int32Array.from(v), dtype);
const read = async (b: Backend, s: Storage) => Array.from(await b.read(s));
/**
 * the bits, so that signed zeros count; every NaN is one token, as IEEE leaves a NaN result's payload to the hardware
 * (x86 keeps the input's, NVIDIA returns its canonical NaN)
 */
const bits = async (b: Backend, s: Storage) => {
  const values = Float32Array.from(await b.read(s)), words = new Uint32Array(values.buffer);
  return Array.from(values, (v, i) => (Number.isNaN(v) ? 'NaN' : words[i]));
};

describe('the cpu oracle of the loss scaler, by hand', () => {
  it('unscale: each gradient × 1/scale in place; the flag set by an incoming NaN or ±Inf (PyTorch\'s rule), else left as it is', async () => {
    const run = async (grads: number[][], scale: number, flag = 0) => {
      const g = grads.map((a) => upload(cpu, a)), f = upload(cpu, [flag]);
      cpu.ampNonFiniteCheckAndUnscale(g, f, upload(cpu, [scale]));
      return { grads: await Promise.all(g.map((s) => read(cpu, s))), flag: (await read(cpu, f))[0] };
    };
    expect(await run([[1, -2], [], [8]], 4)).toEqual({ grads: [[0.25, -0.5], [], [2]], flag: 0 });
    // 1/3 rounded to float32 first, as PyTorch's inverse scale
    expect((await run([[3]], 3)).grads).toEqual([[Math.fround(3 * Math.fround(1 / 3))]]);
    expect(await run([[1], [2, NaN]], 2)).toEqual({ grads: [[0.5], [1, NaN]], flag: 1 });
    expect((await run([[Infinity]], 2)).flag).toBe(1);
    expect((await run([[-Infinity, 1]], 2)).flag).toBe(1);
    // a finite value that the unscale overflows becomes Inf without the flag, as in PyTorch
    expect(await run([[3e38]], 0.5)).toEqual({ grads: [[Infinity]], flag: 0 });
    expect((await run([[3e38]], 2)).flag).toBe(0);
    // an earlier optimizer's overflow is not cleared
    expect((await run([[1]], 2, 1)).flag).toBe(1);
  });

  it('update: backoff and a restarted count on any flag; growth after growthInterval finite steps, unless the grown scale is Inf', async () => {
    const run = async (scale: number, tracker: number, flags: number[], p = { growthFactor: 2, backoffFactor: 0.5, growthInterval: 3 }) => {
      const s = upload(cpu, [scale]), t = upload(cpu, [tracker], 'int32');
      cpu.ampUpdateScale(s, t, flags.map((f) => upload(cpu, [f])), p);
      return [(await read(cpu, s))[0], (await read(cpu, t))[0]];
    };
    expect(await run(1024, 2, [0, 1])).toEqual([512, 0]);
    expect(await run(1024, 0, [0])).toEqual([1024, 1]);
    expect(await run(1024, 2, [0, 0])).toEqual([2048, 0]);
    expect(await run(2 ** 127, 2, [0])).toEqual([2 ** 127, 0]);
    expect(await run(1000, 0, [0], { growthFactor: 1.5, backoffFactor: 0.75, growthInterval: 1 })).toEqual([1500, 0]);
    expect(await run(1000, 0, [1], { growthFactor: 1.5, backoffFactor: 0.75, growthInterval: 1 })).toEqual([750, 0]);
    expect(() => cpu.ampUpdateScale(upload(cpu, [1]), upload(cpu, [0]), [], { growthFactor: 2, backoffFactor: 0.5, growthInterval: 1 }))
      .toThrow('the growth tracker must be one int32');
  });

  it('refuses a gradient storage given twice and non-float32 gradients', () => {
    const g = upload(cpu, [1]), f = upload(cpu, [0]), s = upload(cpu, [2]);
    expect(() => cpu.ampNonFiniteCheckAndUnscale([g, g], f, s)).toThrow('a gradient storage appears twice');
    expect(() => cpu.ampNonFiniteCheckAndUnscale([upload(cpu, [1], 'int32')], f, s)).toThrow('float32 gradients only, gradient 0 is int32');
  });
});

/**
 * a value: mostly ordinary, sometimes NaN, ±Inf, float32's largest or a signed zero (no subnormals: a GPU may
 * flush them)
 */
const value = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: -4000, max: 4000 }).map((v) => v / 1000) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 3.4e38, -3.4e38, -0) },
);

describe('webgpu loss scaler kernels against the cpu oracle', () => {
  it('unscale: random gradient sets (empty ones, more than one dispatch holds) with NaN, ±Inf and huge values, bit for bit', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 600 }), { minLength: 0, maxLength: 19 }), fc.integer({ min: -20, max: 24 }),
      fc.array(fc.record({ at: fc.nat(), v: value }), { maxLength: 6 }), fc.integer({ min: 1 }), fc.constantFrom(0, 1),
      async (sizes, log2Scale, specials, seed, flag0) => {
        const arrays = sizes.map((n, k) => randomArray(n, seed + k, -1e4, 1e4));
        for (const { at, v } of specials) {
          const total = sizes.reduce((a, b) => a + b, 0);
          if (total === 0) break;
          let i = at % total, k = 0;
          while (i >= sizes[k]!) i -= sizes[k++]!;
          arrays[k]![i] = v;
        }
        const scale = 2 ** log2Scale;
        const results = await Promise.all([g, cpu].map(async (b) => {
          const grads = arrays.map((a) => upload(b, a)), flag = upload(b, [flag0]);
          b.ampNonFiniteCheckAndUnscale(grads, flag, upload(b, [scale]));
          const out = { grads: await Promise.all(grads.map((s) => bits(b, s))), flag: await read(b, flag) };
          for (const s of [...grads, flag]) b.free(s);
          return out;
        }));
        expect(results[0]).toEqual(results[1]);
      }), { numRuns: 40 });
  });

  it('update: random sequences of flags from one to three optimizers, bit for bit (scale and tracker after each)', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      fc.array(fc.array(fc.constantFrom(0, 0, 0, 1), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom(2, 4, 1.5), fc.constantFrom(0.5, 0.25, 0.75),
      fc.constantFrom(65536, 1000, 2 ** 126),
      async (steps, optimizers, growthInterval, growthFactor, backoffFactor, initScale) => {
        const p = { growthFactor, backoffFactor, growthInterval };
        const trace = await Promise.all([g, cpu].map(async (b) => {
          const s = upload(b, [initScale]), t = upload(b, [0], 'int32'), out: (number | string)[][] = [];
          for (const flags of steps) {
            const f = flags.slice(0, optimizers).map((v) => upload(b, [v]));
            b.ampUpdateScale(s, t, f, p);
            out.push([...await bits(b, s), ...await read(b, t)]);
            for (const x of f) b.free(x);
          }
          b.free(s); b.free(t);
          return out;
        }));
        expect(trace[0]).toEqual(trace[1]);
      }), { numRuns: 30 });
  });

  it('runs its benchmark cases', async () => {
    expect(await runSmallBenchmarks(await webgpu(), ampFamily.benchmarks)).toBe(1);
  });
});

it('on an adapter with 8 storage bindings per stage (WebGPU\'s default limit): unscale 6 gradients and SGD 2 parameters per dispatch, the same results', async () => {
  const g = await webgpu() as WebGPUBackend;
  const limits = g.rt.limits as { maxStorageBuffersPerShaderStage: number };
  const sizes = [5, 300, 0, 17, 64, 1, 9, 33, 2];
  const run = async () => {
    const grads = sizes.map((n, k) => upload(g, randomArray(n, 7 + k)));
    const params = sizes.map((n, k) => [upload(g, randomArray(n, 70 + k)), upload(g, randomArray(n, 700 + k))]);
    const flag = upload(g, [0]), d0 = g.rt.dispatchCount;
    g.ampNonFiniteCheckAndUnscale(grads, flag, upload(g, [4]));
    const unscaleDispatches = g.rt.dispatchCount - d0;
    g.sgdSteps(params.map(([w, b], k) => ({ param: w!, grad: grads[k]!, momentumBuffer: b!, firstStep: false })),
      { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 }, flag);
    const out = await Promise.all(params.flat().map((s) => g.read(s)));
    return { out, unscaleDispatches, stepDispatches: g.rt.dispatchCount - d0 - unscaleDispatches };
  };
  const wide = await run();
  const saved = limits.maxStorageBuffersPerShaderStage;
  limits.maxStorageBuffersPerShaderStage = 8;
  try {
    const narrow = await run();
    narrow.out.forEach((v, k) => expectSameFloats(g, v, wide.out[k]!, `state ${k}, 8 bindings vs all`));
    // 8 non-empty gradients: 6 + 2 (beside the flag and the scale); SGD 3 buffers each beside the flag: 2 per dispatch
    expect([narrow.unscaleDispatches, narrow.stepDispatches]).toEqual([2, 4]);
  } finally {
    limits.maxStorageBuffersPerShaderStage = saved;
  }
});
