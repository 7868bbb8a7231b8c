import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AdamItem, AdamParams, Backend, SgdParams, Storage, WebGPUBackend } from '../../src/kernels/index.js';
import { cpu, expectClose, expectSameFloats, randomArray, webgpu } from '../helpers/backends.js';
import { logBeta, oneMinusPower, wgslOneMinusPower } from '../../src/kernels/optim/bias-correction.js';
import { gpuBuffer } from '../../src/kernels/webgpu/runtime.js';

const up = (b: Backend, v: ArrayLike<number>) => b.upload(Float32Array.from(v), 'float32');
const f32 = Math.fround;

describe('the cpu optimizer oracle against PyTorch\'s formulas, one step by hand', () => {
  it('SGD: plain, weight decay, momentum (first and later steps), dampening, nesterov', async () => {
    const w0 = 1, g = 0.5, lr = 0.1, wd = 0.01, mom = 0.9, damp = 0.2;
    const run = async (p: SgdParams, buf0: number | null): Promise<[number, number | null]> => {
      const w = up(cpu, [w0]), gr = up(cpu, [g]), b = buf0 === null ? null : up(cpu, [buf0]);
      cpu.sgdStep(w, gr, b, p);
      return [(await cpu.read(w))[0], b ? (await cpu.read(b))[0] : null];
    };
    const base = { lr, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, firstStep: true };
    // w ← w − lr·g
    expect((await run(base, null))[0]).toBeCloseTo(f32(1 - 0.1 * 0.5), 6);
    // d = g + wd·w = 0.51
    expect((await run({ ...base, weightDecay: wd }, null))[0]).toBeCloseTo(f32(1 - 0.1 * 0.51), 6);
    // first step: buf = d (no dampening), w ← w − lr·buf
    const [w1, b1] = await run({ ...base, weightDecay: wd, momentum: mom, dampening: damp }, 123);
    expect(b1).toBeCloseTo(0.51, 6);
    expect(w1).toBeCloseTo(1 - 0.1 * 0.51, 6);
    // later step: buf = 0.9·0.3 + (1 − 0.2)·0.51 = 0.678
    const [w2, b2] = await run({ ...base, weightDecay: wd, momentum: mom, dampening: damp, firstStep: false }, 0.3);
    expect(b2).toBeCloseTo(0.678, 6);
    expect(w2).toBeCloseTo(1 - 0.0678, 6);
    // nesterov: d = 0.51 + 0.9·buf, buf = 0.9·0.3 + 0.51 = 0.78 → d = 1.212
    const [w3, b3] = await run({ ...base, weightDecay: wd, momentum: mom, nesterov: true, firstStep: false }, 0.3);
    expect(b3).toBeCloseTo(0.78, 6);
    expect(w3).toBeCloseTo(1 - 0.1212, 6);
  });

  it('Adam and AdamW: bias-corrected first step and a second step', async () => {
    const base: AdamParams & { step: number } = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, step: 1 };
    const run = async ({ step, ...p }: AdamParams & { step: number }, m0: number, v0: number): Promise<number[]> => {
      const w = up(cpu, [1]), g = up(cpu, [0.5]), m = up(cpu, [m0]), v = up(cpu, [v0]);
      cpu.adamSteps([{ param: w, grad: g, expAvg: m, expAvgSq: v, step }], p);
      return [(await cpu.read(w))[0], (await cpu.read(m))[0], (await cpu.read(v))[0]];
    };
    // step 1: m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25 → w = 1 − 0.1·0.5/(0.5 + 1e-8)
    const [w1, m1, v1] = await run(base, 0, 0);
    expect(m1).toBeCloseTo(0.05, 7);
    expect(v1).toBeCloseTo(0.00025, 9);
    expect(w1).toBeCloseTo(1 - 0.1 * 0.5 / (0.5 + 1e-8), 6);
    // Adam (L2): g' = 0.5 + 0.1·1 = 0.6, the step is still ≈ lr
    const [wl] = await run({ ...base, weightDecay: 0.1 }, 0, 0);
    expect(wl).toBeCloseTo(1 - 0.1 * 0.6 / (0.6 + 1e-8), 6);
    // AdamW: w·(1 − lr·wd) first: 0.99 − 0.1
    const [wd] = await run({ ...base, weightDecay: 0.1, decoupled: true }, 0, 0);
    expect(wd).toBeCloseTo(0.99 - 0.1 * 0.5 / (0.5 + 1e-8), 6);
    // step 2 from m = 0.05, v = 0.00025: m = 0.095, v = 0.00049975; m̂ = 0.095/0.19 = 0.5, v̂ = 0.00049975/0.001999 = 0.25
    const [w2, m2, v2] = await run({ ...base, step: 2 }, 0.05, 0.00025);
    expect(m2).toBeCloseTo(0.095, 7);
    expect(v2).toBeCloseTo(0.00049975, 9);
    const mh = 0.095 / (1 - 0.81), vh = 0.00049975 / (1 - 0.999 ** 2);
    expect(w2).toBeCloseTo(1 - 0.1 * mh / (Math.sqrt(vh) + 1e-8), 6);
  });
});

interface State { gpu: Storage[]; cpu: Storage[] }

function state(g: Backend, n: number, seed: number, count: number): State {
  const arrays = Array.from({ length: count }, (_, i) => (i === 0 ? randomArray(n, seed) : new Float32Array(n)));
  return { gpu: arrays.map((a) => g.upload(a, 'float32')), cpu: arrays.map((a) => cpu.upload(a, 'float32')) };
}

async function expectSame(g: Backend, s: State, what: string): Promise<void> {
  for (let i = 0; i < s.gpu.length; i++) {
    expectClose(await g.read(s.gpu[i]), await cpu.read(s.cpu[i]), 2e-6, 2e-5, `${what} (state ${i})`);
  }
}

describe('webgpu optimizer steps against the cpu oracle over several steps', () => {
  it('SGD: momentum, dampening, nesterov, weight decay, first step, no buffer', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 700 }), fc.constantFrom(0, 0.9), fc.constantFrom(0, 0.1), fc.boolean(), fc.constantFrom(0, 1e-2),
      fc.boolean(), fc.integer({ min: 1 }),
      async (n, momentum, dampening, nesterov, weightDecay, withBuffer, seed) => {
        const s = state(g, n, seed, withBuffer ? 2 : 1);
        for (let step = 0; step < 4; step++) {
          const grad = randomArray(n, seed + 7 * step + 1);
          const p: SgdParams = { lr: 0.05, momentum, dampening, nesterov, weightDecay, firstStep: step === 0 };
          const gg = up(g, grad), cg = up(cpu, grad);
          g.sgdStep(s.gpu[0], gg, s.gpu[1] ?? null, p);
          cpu.sgdStep(s.cpu[0], cg, s.cpu[1] ?? null, p);
          g.free(gg); cpu.free(cg);
        }
        await expectSame(g, s, `sgd n=${n}`);
        for (const x of s.gpu) g.free(x);
      }), { numRuns: 25 });
  });

  it('Adam and AdamW, one parameter a call', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 700 }), fc.boolean(), fc.constantFrom(0, 1e-2), fc.integer({ min: 1 }),
      async (n, decoupled, weightDecay, seed) => {
        const s = state(g, n, seed, 3);
        for (let step = 1; step <= 4; step++) {
          const grad = randomArray(n, seed + 7 * step);
          const p: AdamParams = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, decoupled };
          const gg = up(g, grad), cg = up(cpu, grad);
          g.adamSteps([{ param: s.gpu[0], grad: gg, expAvg: s.gpu[1], expAvgSq: s.gpu[2], step }], p);
          cpu.adamSteps([{ param: s.cpu[0], grad: cg, expAvg: s.cpu[1], expAvgSq: s.cpu[2], step }], p);
          g.free(gg); cpu.free(cg);
        }
        await expectSame(g, s, `adam n=${n} decoupled=${decoupled}`);
        for (const x of s.gpu) g.free(x);
      }), { numRuns: 20 });
  });
});

const bits = async (b: Backend, s: Storage) => Array.from(new Uint32Array((await b.read(s)).buffer));

describe('webgpu multi-tensor optimizer steps against the cpu oracle', () => {
  it('sgdSteps and adamSteps over parameter sets larger than one dispatch binds on any adapter, three steps', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 19 }), fc.constantFrom(0, 0.9), fc.boolean(), fc.integer({ min: 1 }),
      async (sizes, momentum, decoupled, seed) => {
        const sgd = { lr: 0.05, momentum, dampening: 0, nesterov: false, weightDecay: 1e-2 };
        const adam = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled };
        // per parameter: SGD's w and momentum buffer, Adam's w, m and v, on both backends
        const made = sizes.map((n, k) => {
          const arrays = [randomArray(n, seed + 10 * k), new Float32Array(n), randomArray(n, seed + 10 * k + 1), new Float32Array(n), new Float32Array(n)];
          return { gpu: arrays.map((a) => up(g, a)), cpu: arrays.map((a) => up(cpu, a)) };
        });
        for (let step = 1; step <= 3; step++) {
          for (const [b, side] of [[g, 'gpu'], [cpu, 'cpu']] as const) {
            const grads = sizes.map((n, k) => up(b, randomArray(n, seed + 100 * step + k)));
            b.sgdSteps(made.map((m, k) => ({ param: m[side][0]!, grad: grads[k]!, momentumBuffer: momentum ? m[side][1]! : null, firstStep: step === 1 })), sgd);
            b.adamSteps(made.map((m, k) => ({ param: m[side][2]!, grad: grads[k]!, expAvg: m[side][3]!, expAvgSq: m[side][4]!, step })), adam);
            for (const x of grads) b.free(x);
          }
        }
        for (const [k, m] of made.entries()) {
          await expectSame(g, { gpu: m.gpu, cpu: m.cpu }, `parameter ${k} of ${sizes.length}`);
          for (const x of m.gpu) g.free(x);
        }
      }), { numRuns: 15 });
  });
});

describe.each([['cpu', async () => cpu], ['webgpu', webgpu]] as const)('adamSteps on %s', (_name, get) => {
  it('random parameter sets (empty ones, more than one dispatch holds, each its own step count) bit for bit as each parameter alone', async () => {
    const backend = await get();
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ n: fc.integer({ min: 0, max: 600 }), startStep: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 11 }),
      fc.boolean(), fc.constantFrom(0, 1e-2, 0.3), fc.constantFrom(1e-3, 0.05), fc.integer({ min: 1 }),
      async (specs, decoupled, weightDecay, lr, seed) => {
        const hyper = { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, decoupled };
        // each parameter twice (one, many): w random, m and v from an earlier run (non-negative v) or zero
        const made = specs.map(({ n, startStep }, k) => {
          const arrays = [randomArray(n, seed + 10 * k), startStep > 0 ? randomArray(n, seed + 10 * k + 1) : new Float32Array(n),
            startStep > 0 ? randomArray(n, seed + 10 * k + 2, 0, 1e-2) : new Float32Array(n)];
          const upload = () => arrays.map((a) => backend.upload(a, 'float32'));
          return { one: upload(), many: upload(), startStep };
        });
        for (let step = 1; step <= 3; step++) {
          const grads = made.map(({ one }, k) => backend.upload(randomArray(one[0].length, seed + 100 * step + k), 'float32'));
          made.forEach(({ one, startStep }, k) => backend.adamSteps([{ param: one[0], grad: grads[k], expAvg: one[1], expAvgSq: one[2], step: startStep + step }], hyper));
          const items: AdamItem[] = made.map(({ many, startStep }, k) => ({ param: many[0], grad: grads[k], expAvg: many[1], expAvgSq: many[2], step: startStep + step }));
          backend.adamSteps(items, hyper);
          for (const g of grads) backend.free(g);
        }
        for (const { one, many } of made) {
          for (let s = 0; s < 3; s++) expectSameFloats(backend, await backend.read(many[s]), await backend.read(one[s]), `state ${s}`);
          for (const x of [...one, ...many]) backend.free(x);
        }
      }), { numRuns: 15 });
  });
});

describe.each([['cpu', async () => cpu], ['webgpu', webgpu]] as const)('sgdSteps with a found-inf flag on %s', (_name, get) => {
  it('the flag set: nothing changes; not set: bit for bit as without one (momentum or not, several dispatches)', async () => {
    const backend = await get();
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 11 }), fc.constantFrom(0, 0.9), fc.boolean(),
      fc.constantFrom(0, 1e-2), fc.integer({ min: 1 }),
      async (sizes, momentum, nesterov, weightDecay, seed) => {
        const hyper = { lr: 0.05, momentum, dampening: 0, nesterov: nesterov && momentum > 0, weightDecay };
        // w and the momentum buffer (from an earlier step) per parameter: plain, flag 0, flag 1
        const made = sizes.map((n, k) => {
          const arrays = [randomArray(n, seed + 10 * k), randomArray(n, seed + 10 * k + 1)];
          return [0, 1, 2].map(() => arrays.map((a) => backend.upload(a, 'float32')));
        });
        const grads = sizes.map((n, k) => backend.upload(randomArray(n, seed + 100 + k), 'float32'));
        const items = (copy: number) => made.map((m, k) => ({ param: m[copy]![0]!, grad: grads[k]!, momentumBuffer: m[copy]![1]!, firstStep: k % 3 === 0 }));
        const flags = [0, 1].map((v) => backend.upload(Float32Array.of(v), 'float32'));
        const before = await Promise.all(made.map(async (m) => [await bits(backend, m[2]![0]!), await bits(backend, m[2]![1]!)]));
        backend.sgdSteps(items(0), hyper);
        backend.sgdSteps(items(1), hyper, flags[0]);
        backend.sgdSteps(items(2), hyper, flags[1]);
        for (let k = 0; k < sizes.length; k++) {
          for (let s = 0; s < 2; s++) {
            expectSameFloats(backend, await backend.read(made[k]![1]![s]!), await backend.read(made[k]![0]![s]!), `parameter ${k}, state ${s}, flag 0`);
            expect(await bits(backend, made[k]![2]![s]!)).toEqual(before[k]![s]);
          }
        }
        for (const x of [...made.flat(2), ...grads, ...flags]) backend.free(x);
      }), { numRuns: 15 });
  });
});

describe('adamSteps with the step counts on the device', () => {
  it('the bias correction 1 − βᵗ: the oracle within float32 rounding of ln β; the WGSL function within a few float32 roundings of it, from t = 1 (no cancellation) on', async () => {
    const g = await webgpu() as WebGPUBackend;
    const betas = [0.9, 0.99, 0.999, 0.9999, 0.5, 0], ts = [1, 2, 3, 7, 10, 100, 693, 1000, 5000, 1e5, 16_777_216];
    const cases = betas.flatMap((beta) => ts.map((t) => [beta, t] as const));
    for (const [beta, t] of cases) {
      const exact = 1 - Math.pow(beta, t), got = oneMinusPower(beta, t);
      // ln β rounded to float32 (2⁻²⁴ relative) moves t·ln β, hence 1 − βᵗ by at most that relative amount
      expect(Math.abs(got - exact), `β ${beta}, t ${t}`).toBeLessThanOrEqual(2 ** -23 * exact);
    }
    const source = `${wgslOneMinusPower}
@group(0) @binding(0) var<storage, read> input: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < arrayLength(&output)) { output[gid.x] = one_minus_power(input[gid.x].x, input[gid.x].y); }
}`;
    const kernel = g.rt.kernel('test:one_minus_power', () => source, 2);
    const input = g.upload(Float32Array.from(cases.flatMap(([beta, t]) => [logBeta(beta), t])), 'float32');
    const output = g.rt.alloc(cases.length, 'float32');
    g.rt.dispatch(kernel, [gpuBuffer(input), output.buffer], null, [Math.ceil(cases.length / 64)]);
    const values = await g.read(output);
    cases.forEach(([beta, t], i) => {
      const want = oneMinusPower(beta, t);
      expect(Math.abs(values[i]! - want), `β ${beta}, t ${t}: ${values[i]} vs ${want}`).toBeLessThanOrEqual(8 * 2 ** -24 * want);
    });
    g.free(input); g.free(output);
  });

  it('webgpu against the cpu oracle on random parameter sets and counts: the flag unset, each its own t = count + 1; set, nothing changes', async () => {
    const g = await webgpu();
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ n: fc.integer({ min: 0, max: 500 }), count: fc.integer({ min: 0, max: 5000 }) }), { minLength: 1, maxLength: 11 }),
      fc.boolean(), fc.constantFrom(0, 1e-2), fc.constantFrom(0, 1), fc.integer({ min: 1 }),
      async (specs, decoupled, weightDecay, flag, seed) => {
        const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, decoupled };
        // the counts in reverse order, with a spare one: an item's index into them is not its position
        const counts = [0, ...specs.map((s) => s.count).reverse()];
        // moments as training makes them (|m| ≲ √v): the update stays ≲ lr, and float32's rounding with it
        const made = specs.map(({ n }, k) => {
          const arrays = [randomArray(n, seed + 10 * k), randomArray(n, seed + 10 * k + 1, -0.1, 0.1), randomArray(n, seed + 10 * k + 2, 1e-2, 2e-2)];
          return { gpu: arrays.map((a) => up(g, a)), cpu: arrays.map((a) => up(cpu, a)), arrays };
        });
        for (const [b, side] of [[g, 'gpu'], [cpu, 'cpu']] as const) {
          const grads = specs.map(({ n }, k) => up(b, randomArray(n, seed + 100 + k)));
          const deviceSteps = { counts: up(b, counts), foundInf: up(b, [flag]) };
          b.adamSteps(made.map((m, k) => ({ param: m[side][0]!, grad: grads[k]!, expAvg: m[side][1]!, expAvgSq: m[side][2]!, step: specs.length - k })), hyper, deviceSteps);
          // the counts are only read
          expect(Array.from(await b.read(deviceSteps.counts))).toEqual(counts);
          for (const x of [...grads, deviceSteps.counts, deviceSteps.foundInf]) b.free(x);
        }
        for (const [k, m] of made.entries()) {
          if (flag) {
            for (let s = 0; s < 3; s++) {
              expect(Array.from(await g.read(m.gpu[s]!)), `webgpu state ${s}`).toEqual(Array.from(m.arrays[s]!));
              expect(Array.from(await cpu.read(m.cpu[s]!)), `cpu state ${s}`).toEqual(Array.from(m.arrays[s]!));
            }
          } else await expectSame(g, { gpu: m.gpu, cpu: m.cpu }, `parameter ${k} of ${specs.length}`);
          for (const x of m.gpu) g.free(x);
        }
      }), { numRuns: 15 });
  });

  it('the cpu oracle: a count c steps as the host step count t = c + 1, within the float32 rounding of ln β', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 100_000 }), fc.boolean(), fc.integer({ min: 1 }),
      async (n, count, decoupled, seed) => {
        const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled };
        const arrays = [randomArray(n, seed), randomArray(n, seed + 1), randomArray(n, seed + 2, 0, 1e-2)];
        const device = arrays.map((a) => up(cpu, a)), host = arrays.map((a) => up(cpu, a));
        const grad = up(cpu, randomArray(n, seed + 3));
        cpu.adamSteps([{ param: device[0]!, grad, expAvg: device[1]!, expAvgSq: device[2]! , step: 0 }], hyper, { counts: up(cpu, [count]), foundInf: up(cpu, [0]) });
        cpu.adamSteps([{ param: host[0]!, grad, expAvg: host[1]!, expAvgSq: host[2]!, step: count + 1 }], hyper);
        // the moments do not depend on t; the parameter within the float32 rounding of β and 1 − βᵗ
        for (let s = 1; s < 3; s++) expect(Array.from(await cpu.read(device[s]!))).toEqual(Array.from(await cpu.read(host[s]!)));
        expectClose(await cpu.read(device[0]!), await cpu.read(host[0]!), 1e-6, 1e-5, `count ${count}`);
      }), { numRuns: 30 });
  });

  it('refuses counts that are not float32 and an index outside them', () => {
    const w = up(cpu, [1]), items: AdamItem[] = [{ param: w, grad: w, expAvg: w, expAvgSq: w, step: 2 }];
    const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };
    expect(() => cpu.adamSteps(items, hyper, { counts: up(cpu, [0, 0]), foundInf: up(cpu, [0]) })).toThrow('cpu adamSteps: step count index 2 outside the 2 counts');
    expect(() => cpu.adamSteps(items, hyper, { counts: cpu.upload(Int32Array.of(0, 0, 0), 'int32'), foundInf: up(cpu, [0]) }))
      .toThrow('cpu adamSteps: the step counts must be float32, got int32');
  });
});
