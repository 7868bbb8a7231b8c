import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Backend, Conv3dParams, Storage } from '../../src/kernels/index.js';
import { WebGPUBackend } from '../../src/kernels/index.js';
import { conv3dPlan, conv3dTuning, defaultConv3dKnobs, type Conv3dTuning } from '../../src/kernels/conv3d/webgpu.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { cpu, expectClose, randomArray, webgpu, uploadOverNaN } from '../helpers/backends.js';
import { gpuConv3dTuning } from '../helpers/gpu-conv.js';
import { propertyOptions } from '../helpers/property.js';

/** conv3d's forward with kernel = stride, no padding, no dilation: the down GEMM (src/kernels/conv3d/down.ts). */

interface Case { xShape: number[]; wShape: number[]; bias: boolean }

const params = (k: readonly number[]): Conv3dParams => ({ stride: [k[0], k[1], k[2]], padding: [0, 0, 0], dilation: [1, 1, 1] });

async function gpuBackend(): Promise<WebGPUBackend> {
  const gpu = await webgpu();
  if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
  return gpu;
}

/** The forward on `be` with the case's random data (float32 storages, freed before returning). */
async function forward(be: Backend, c: Case, seed: number): Promise<Float32Array | Float64Array> {
  const { xShape, wShape } = c;
  const owned: Storage[] = [];
  const up = (a: Float32Array): Storage => { const s = be.upload(a, 'float32'); owned.push(s); return s; };
  const x = up(randomArray(sizeOf(xShape), seed)), w = up(randomArray(sizeOf(wShape), seed + 1));
  const b = c.bias ? up(randomArray(wShape[0], seed + 2)) : null;
  const y = be.conv3d(x, xShape, w, wShape, b, params(wShape.slice(2)));
  owned.push(y);
  const out = await be.read(y);
  for (const s of owned) be.free(s);
  return out as Float32Array | Float64Array;
}

/** the tolerance of the conv3d tests: sums of Ci·k³ products of values in [−1, 1) */
const atol = (wShape: readonly number[]): number => 2e-5 * Math.sqrt(wShape[1] * sizeOf(wShape.slice(2))) + 1e-6;

/** Checks that the down GEMM runs for the case and matches the cpu oracle; returns its plan line. */
async function compare(c: Case, seed: number): Promise<string> {
  const gpu = await gpuBackend();
  const plan = conv3dPlan(gpu.rt, 'forward', c.xShape, c.wShape, params(c.wShape.slice(2)));
  expect(plan).toMatch(/^down GEMM/);
  const live = gpu.memory().liveBuffers;
  expectClose(await forward(gpu, c, seed), await forward(cpu, c, seed), atol(c.wShape), 1e-4, `forward ${JSON.stringify(c)}: ${plan}`);
  // the split-K partials are freed inside the operation
  expect(gpu.memory().liveBuffers).toBe(live);
  return plan;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  n: fc.integer({ min: 1, max: 2 }),
  ci: fc.integer({ min: 1, max: 20 }),
  co: fc.constantFrom(1, 2, 3, 4, 5, 16, 17, 32, 33, 64, 70),
  out: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 })),
  k: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 })),
  // input voxels past the last receptive field (the floor division leaves up to k − 1 of them unread)
  rest: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(3)),
  bias: fc.boolean(),
}).map((r) => ({
  xShape: [r.n, r.ci, ...[0, 1, 2].map((a) => r.out[a] * r.k[a] + (r.rest[a] % r.k[a]))],
  wShape: [r.co, r.ci, ...r.k],
  bias: r.bias,
}));

describe('conv3d forward with kernel = stride (down GEMM) against the cpu oracle', () => {
  let tuning: Conv3dTuning;
  // stride-1 1³ convolutions writing 16+ channels go to the implicit GEMM by default; these tests are the down GEMM's
  beforeEach(async () => { tuning = await gpuConv3dTuning(); tuning.configure({ implicitGemmMinChannels: Infinity }); });
  afterEach(() => { tuning.configure(defaultConv3dKnobs); });

  it('random shapes, channel and voxel tails, batch 2, with and without bias (default plans)', async () => {
    await fc.assert(fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 1e6 }), (c, seed) => compare(c, seed).then(() => undefined)), propertyOptions(12));
  });

  it('random shapes with split-K forced (several chunks per split down to one)', async () => {
    tuning.configure({ minSplitK: 1 });
    const splits: number[] = [];
    await fc.assert(fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 1e6 }), async (c, seed) => {
      const plan = await compare(c, seed);
      splits.push(Number(/× (\d+) splits/.exec(plan)?.[1]));
    }), propertyOptions(10));
    // (random shapes may all be too small to split: one that is not)
    splits.push(Number(/× (\d+) splits/.exec(await compare({ xShape: [2, 3, 8, 8, 8], wShape: [4, 3, 2, 2, 2], bias: true }, 21))?.[1]));
    expect(Math.max(...splits)).toBeGreaterThan(1);
  });

  it('random shapes with single-split plans (fused bias, long K loops)', async () => {
    tuning.configure({ targetWorkgroups: 1 });
    await fc.assert(fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 1e6 }), async (c, seed) => {
      expect(await compare(c, seed)).toMatch(/× 1 splits/);
    }), propertyOptions(8));
  });

  it('stale NaN past the ends of x and w (a reused pooled buffer) does not reach the output', async () => {
    // Ci·kd·kh = 20 kernel rows in chunks of 8: the last chunk's missing rows would read past x's end (the last
    // sample) and past w's end (the last output channel) without the K-tail guards, and NaN · 0 = NaN
    const gpu = await gpuBackend();
    const c: Case = { xShape: [2, 5, 4, 2, 6], wShape: [3, 5, 2, 2, 2], bias: true };
    expect(conv3dPlan(gpu.rt, 'forward', c.xShape, c.wShape, params([2, 2, 2]))).toMatch(/^down GEMM: 128×16×16 tiles \(8 kernel rows.* × 1 splits/);
    const overNaN = (a: Float32Array): Promise<Storage> => uploadOverNaN(gpu, a);
    const xa = randomArray(sizeOf(c.xShape), 11), wa = randomArray(sizeOf(c.wShape), 12), ba = randomArray(3, 13);
    const x = await overNaN(xa), w = await overNaN(wa), b = gpu.upload(ba, 'float32');
    const y = gpu.conv3d(x, c.xShape, w, c.wShape, b, params([2, 2, 2]));
    const up = (a: Float32Array): Storage => cpu.upload(a, 'float32');
    const expected = await cpu.read(cpu.conv3d(up(xa), c.xShape, up(wa), c.wShape, up(ba), params([2, 2, 2])));
    expectClose(await gpu.read(y), expected, atol(c.wShape), 1e-4, 'y');
    for (const s of [x, w, b, y]) gpu.free(s);
  });

  it('the load widths: vec4 (kw 4), vec2 (kw 2), scalar (kw 2 with odd W, kw 3, kw 1)', async () => {
    const cases: [Case, number][] = [
      [{ xShape: [1, 3, 2, 4, 8], wShape: [5, 3, 1, 2, 4], bias: true }, 4],
      [{ xShape: [2, 8, 6, 4, 8], wShape: [16, 8, 2, 2, 2], bias: true }, 2], // the V-Net's 2³/2 down
      [{ xShape: [1, 4, 4, 4, 9], wShape: [6, 4, 2, 2, 2], bias: false }, 1],
      [{ xShape: [1, 2, 3, 6, 9], wShape: [3, 2, 3, 3, 3], bias: true }, 1],
      [{ xShape: [2, 16, 5, 4, 6], wShape: [2, 16, 1, 1, 1], bias: true }, 1], // a 1³ head
      [{ xShape: [1, 5, 3, 3, 3], wShape: [33, 5, 1, 1, 1], bias: false }, 1],
    ];
    for (const [i, [c, vec]] of cases.entries()) expect(await compare(c, 300 + i)).toContain(`x as ${vec}-float loads`);
  });
});

describe('conv3d forward routing', () => {
  let tuning: Conv3dTuning;
  beforeEach(async () => { tuning = await gpuConv3dTuning(); });
  afterEach(() => { tuning.configure(defaultConv3dKnobs); });

  it('takes the down GEMM exactly when kernel = stride without padding or dilation', async () => {
    const { rt } = await gpuBackend();
    const P = (s: number, p: number, d: number): Conv3dParams => ({ stride: [s, s, s], padding: [p, p, p], dilation: [d, d, d] });
    // the V-Net's down1 forward and up5's input gradient (a conv3d forward with the same geometry)
    expect(conv3dPlan(rt, 'forward', [4, 16, 112, 112, 80], [32, 16, 2, 2, 2], P(2, 0, 1))).toMatch(/^down GEMM: 128×32×16 tiles/);
    expect(conv3dPlan(rt, 'forward', [4, 128, 14, 14, 10], [256, 128, 2, 2, 2], P(2, 0, 1))).toMatch(/^down GEMM: 128×64×16 tiles/);
    expect(conv3dPlan(rt, 'forward', [1, 4, 6, 6, 6], [8, 4, 2, 2, 2], P(2, 1, 1))).toMatch(/^direct/);
    expect(conv3dPlan(rt, 'forward', [1, 4, 9, 9, 9], [8, 4, 3, 3, 3], P(2, 0, 1))).toMatch(/^direct/);
    expect(conv3dPlan(rt, 'forward', [1, 4, 9, 9, 9], [8, 4, 2, 2, 2], P(2, 0, 2))).toMatch(/^direct/);
    // the other directions keep their kernels
    expect(conv3dPlan(rt, 'backwardInput', [4, 16, 112, 112, 80], [32, 16, 2, 2, 2], P(2, 0, 1))).toMatch(/^up GEMM/);
    // the weight gradient: the weight GEMM on a GPU; on a software adapter wgrad unless softwareAdapterGemms
    const onGpu = { limits: rt.limits, software: false }, onSoftware = { ...onGpu, software: true };
    expect(conv3dPlan(onGpu, 'backwardWeight', [4, 16, 112, 112, 80], [32, 16, 2, 2, 2], P(2, 0, 1))).toMatch(/^weight GEMM/);
    expect(conv3dPlan(onSoftware, 'backwardWeight', [4, 16, 112, 112, 80], [32, 16, 2, 2, 2], P(2, 0, 1))).toMatch(/^wgrad/);
    expect(conv3dPlan(onSoftware, 'forward', [4, 16, 56, 56, 40], [16, 16, 3, 3, 3], P(1, 1, 1))).toMatch(/^direct/);
    expect(conv3dPlan(onGpu, 'forward', [4, 16, 56, 56, 40], [16, 16, 3, 3, 3], P(1, 1, 1))).toMatch(/^implicit GEMM/);
    conv3dTuning(onSoftware).configure({ softwareAdapterGemms: true });
    expect(conv3dPlan(onSoftware, 'backwardWeight', [4, 16, 112, 112, 80], [32, 16, 2, 2, 2], P(2, 0, 1))).toMatch(/^weight GEMM/);
    expect(conv3dPlan(onSoftware, 'forward', [4, 16, 56, 56, 40], [16, 16, 3, 3, 3], P(1, 1, 1))).toMatch(/^implicit GEMM/);
    // the knobs are the runtime's own: this machine's runtime kept its defaults
    expect(conv3dPlan(rt, 'forward', [4, 16, 56, 56, 40], [16, 16, 3, 3, 3], P(1, 1, 1))).toMatch(rt.software ? /^direct/ : /^implicit GEMM/);
    // this machine's adapter is classified by its name
    expect(rt.software).toBe(/llvmpipe|lavapipe|swiftshader/i.test(rt.device.adapterInfo.description + rt.device.adapterInfo.device));
    tuning.configure({ downKernel: false });
    expect(conv3dPlan(rt, 'forward', [4, 16, 112, 112, 80], [32, 16, 2, 2, 2], P(2, 0, 1))).toMatch(/^direct/);
  });

  it('more than 65535 row tiles: the grid folds into z', async () => {
    // 1×1×1 kernel, one channel: y = w·x + b over 130·256·256 voxels = 66560 tiles of 128 rows
    const gpu = await gpuBackend();
    const xShape = [1, 1, 130, 256, 256], wShape = [1, 1, 1, 1, 1];
    expect(conv3dPlan(gpu.rt, 'forward', xShape, wShape, params([1, 1, 1]))).toContain('66560 workgroups × 1 splits');
    const xs = randomArray(sizeOf(xShape), 7);
    const x = gpu.upload(xs, 'float32'), w = gpu.upload(Float32Array.of(0.5), 'float32'), b = gpu.upload(Float32Array.of(0.25), 'float32');
    const y = gpu.conv3d(x, xShape, w, wShape, b, params([1, 1, 1]));
    expectClose(await gpu.read(y), xs.map((v) => 0.5 * v + 0.25), 1e-6, 1e-6, 'y');
    for (const s of [x, w, b, y]) gpu.free(s);
  });

  it('the down GEMM and the direct kernel agree', async () => {
    const gpu = await gpuBackend();
    const cases: Case[] = [
      { xShape: [2, 8, 6, 4, 8], wShape: [16, 8, 2, 2, 2], bias: true },
      { xShape: [1, 16, 4, 4, 4], wShape: [70, 16, 2, 2, 2], bias: false },
      { xShape: [2, 3, 5, 7, 6], wShape: [4, 3, 1, 3, 2], bias: true },
    ];
    for (const [i, c] of cases.entries()) {
      const down = await forward(gpu, c, 400 + i);
      tuning.configure({ downKernel: false });
      expect(conv3dPlan(gpu.rt, 'forward', c.xShape, c.wShape, params(c.wShape.slice(2)))).toMatch(/^direct/);
      const direct = await forward(gpu, c, 400 + i);
      tuning.configure({ downKernel: true });
      expectClose(down, direct, atol(c.wShape), 1e-4, `down vs direct ${JSON.stringify(c)}`);
    }
  });
});
