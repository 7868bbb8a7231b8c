import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Backend, Conv3dCandidate, Conv3dParams, Storage } from '../../src/kernels/index.js';
import { candidateName, conv3dCandidates, conv3dTuning, WebGPUBackend } from '../../src/kernels/index.js';
import { convOutSize } from '../../src/kernels/geometry.js';
import { conv3dPlan, defaultConv3dKnobs, type Conv3dTuning } from '../../src/kernels/conv3d/webgpu.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { cpu, expectClose, randomArray, webgpu, uploadOverNaN } from '../helpers/backends.js';
import { gpuConv3dTuning } from '../helpers/gpu-conv.js';
import { propertyOptions } from '../helpers/property.js';

/** Stride-1 conv3d forward and input gradient through the implicit GEMM (src/kernels/conv3d/gemm.ts) against the cpu oracle. */

interface Case { xShape: number[]; wShape: number[]; p: Conv3dParams; bias: boolean }
type Op = 'forward' | 'backwardInput';

async function gpuBackend(): Promise<WebGPUBackend> {
  const gpu = await webgpu();
  if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
  return gpu;
}

const outShape = (c: Case): number[] =>
  [c.xShape[0], c.wShape[0], ...[0, 1, 2].map((a) => convOutSize(c.xShape[2 + a], c.wShape[2 + a], 1, c.p.padding[a], c.p.dilation[a]))];

/** The operation on `be` with the case's random data (storages freed before returning), by `candidate` if given. */
async function run(be: Backend, op: Op, c: Case, seed: number, candidate?: Conv3dCandidate): Promise<Float32Array | Float64Array> {
  const owned: Storage[] = [];
  const up = (a: Float32Array): Storage => { const s = be.upload(a, 'float32'); owned.push(s); return s; };
  const w = up(randomArray(sizeOf(c.wShape), seed + 1));
  let compute: () => Storage;
  if (op === 'forward') {
    const x = up(randomArray(sizeOf(c.xShape), seed)), b = c.bias ? up(randomArray(c.wShape[0], seed + 2)) : null;
    compute = () => be.conv3d(x, c.xShape, w, c.wShape, b, c.p);
  } else {
    const gyShape = outShape(c), gy = up(randomArray(sizeOf(gyShape), seed + 3));
    compute = () => be.conv3dBackwardInput(gy, gyShape, w, c.wShape, c.xShape, c.p);
  }
  const y = candidate && be instanceof WebGPUBackend ? conv3dTuning(be.rt).withCandidate(candidate, compute) : compute();
  owned.push(y);
  const out = await be.read(y);
  for (const s of owned) be.free(s);
  return out as Float32Array | Float64Array;
}

/** the tolerance of the conv3d tests: sums of (channels read)·k³ products of values in [−1, 1) */
const atol = (op: Op, wShape: readonly number[]): number => 2e-5 * Math.sqrt(wShape[op === 'forward' ? 1 : 0] * sizeOf(wShape.slice(2))) + 1e-6;

/** Checks that the implicit GEMM runs for the case and matches the cpu oracle; returns its plan line. */
async function compare(op: Op, c: Case, seed: number): Promise<string> {
  const gpu = await gpuBackend();
  const plan = conv3dPlan(gpu.rt, op, c.xShape, c.wShape, c.p);
  expect(plan).toMatch(/^implicit GEMM/);
  const live = gpu.memory().liveBuffers;
  expectClose(await run(gpu, op, c, seed), await run(cpu, op, c, seed), atol(op, c.wShape), 1e-4, `${op} ${JSON.stringify(c)}: ${plan}`);
  // the split-K partials are freed inside the operation
  expect(gpu.memory().liveBuffers).toBe(live);
  return plan;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  n: fc.integer({ min: 1, max: 2 }),
  ci: fc.constantFrom(1, 2, 3, 5, 8, 16, 17, 20),
  co: fc.constantFrom(1, 3, 4, 5, 16, 17, 32, 33, 64, 70),
  size: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 })),
  k: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
  pad: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2)),
  dil: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  bias: fc.boolean(),
}).filter((r) => [0, 1, 2].every((a) => r.dil[a] * (r.k[a] - 1) + 1 <= r.size[a] + 2 * r.pad[a]))
  .map((r) => ({
    xShape: [r.n, r.ci, ...r.size], wShape: [r.co, r.ci, ...r.k],
    p: { stride: [1, 1, 1], padding: r.pad, dilation: r.dil }, bias: r.bias,
  }));

const opArb = fc.constantFrom<Op>('forward', 'backwardInput');
const pad1: Conv3dParams = { stride: [1, 1, 1], padding: [1, 1, 1], dilation: [1, 1, 1] };

describe('stride-1 conv3d through the implicit GEMM against the cpu oracle', () => {
  let tuning: Conv3dTuning;
  beforeEach(async () => { tuning = await gpuConv3dTuning(); tuning.configure({ implicitGemmMinChannels: 0, implicitGemmMinReadChannels: 0, softwareAdapterGemms: true }); });
  afterEach(() => { tuning.configure(defaultConv3dKnobs); });

  it('random shapes, paddings, dilations, channel and tap tails, batch 2, forward and input gradient (default plans)', async () => {
    await fc.assert(fc.asyncProperty(opArb, caseArb, fc.integer({ min: 1, max: 1e6 }), (op, c, seed) => compare(op, c, seed).then(() => undefined)),
      propertyOptions(10));
  });

  it('random shapes with split-K forced (several chunks per split down to one)', async () => {
    tuning.configure({ minSplitK: 1 });
    const splits: number[] = [];
    await fc.assert(fc.asyncProperty(opArb, caseArb, fc.integer({ min: 1, max: 1e6 }), async (op, c, seed) => {
      splits.push(Number(/× (\d+) splits/.exec(await compare(op, c, seed))?.[1]));
    }), propertyOptions(6));
    // (random shapes may all be too small to split: one that is not)
    splits.push(Number(/× (\d+) splits/.exec(await compare('forward', { xShape: [2, 3, 5, 5, 5], wShape: [4, 3, 3, 3, 3], p: pad1, bias: true }, 21))?.[1]));
    expect(Math.max(...splits)).toBeGreaterThan(1);
  });

  it('random shapes with single-split plans (fused bias, long K loops)', async () => {
    tuning.configure({ targetWorkgroups: 1 });
    await fc.assert(fc.asyncProperty(opArb, caseArb, fc.integer({ min: 1, max: 1e6 }), async (op, c, seed) => {
      expect(await compare(op, c, seed)).toMatch(/× 1 splits/);
    }), propertyOptions(5));
  });

  it('every tile shape the tuner tries (each forced as the candidate), random shapes and a 70-channel one', async () => {
    const gpu = await gpuBackend();
    const shapes = new Set<string>();
    const check = async (op: Op, c: Case, seed: number): Promise<void> => {
      const expected = await run(cpu, op, c, seed);
      for (const k of conv3dCandidates(gpu.rt, op, c.xShape, c.wShape, c.p).filter((k) => k.kernel === 'gemm')) {
        shapes.add(candidateName(k));
        expectClose(await run(gpu, op, c, seed, k), expected, atol(op, c.wShape), 1e-4, `${op} ${candidateName(k)} ${JSON.stringify(c)}`);
      }
    };
    await fc.assert(fc.asyncProperty(opArb, caseArb, fc.integer({ min: 1, max: 1e6 }), check), propertyOptions(4));
    const wide: Case = { xShape: [1, 6, 3, 4, 5], wShape: [70, 6, 3, 3, 3], p: pad1, bias: true };
    await check('forward', wide, 41);
    await check('backwardInput', { ...wide, xShape: [1, 70, 3, 4, 5], wShape: [6, 70, 3, 3, 3] }, 42);
    // the wide case's 64×64 tiles (64 invocations) and 256×64 tiles (256 invocations) were among them
    expect([...shapes]).toEqual(expect.arrayContaining(['implicit GEMM 64×64×16 8×8', 'implicit GEMM 256×64×16 8×8', 'implicit GEMM 128×64×32 8×8']));
  });

  it('the V-Net classes: 3³ padding 1 with 1, 16 and 32 channels (several taps per chunk, one tap of 16 channels)', async () => {
    const cases: [Case, string][] = [
      [{ xShape: [1, 1, 6, 6, 5], wShape: [16, 1, 3, 3, 3], p: pad1, bias: true }, '16 taps × 1 channels'],
      [{ xShape: [2, 16, 5, 4, 6], wShape: [16, 16, 3, 3, 3], p: pad1, bias: true }, '1 taps × 16 channels'],
      [{ xShape: [1, 32, 4, 5, 3], wShape: [32, 32, 3, 3, 3], p: pad1, bias: false }, '1 taps × 16 channels'],
    ];
    for (const [i, [c, chunk]] of cases.entries()) {
      expect(await compare('forward', c, 500 + i)).toContain(chunk);
      await compare('backwardInput', c, 600 + i);
    }
  });

  it('stale NaN past the ends of x, gy and w (a reused pooled buffer) does not reach the output', async () => {
    // 17 channels in chunks of 9 (the last chunk's 18th channel is past x's end in the last sample) and 2³ = 8
    // taps in chunks of 3 (the last chunk's 9th tap is past w's end for the last channels); NaN · 0 = NaN
    const gpu = await gpuBackend();
    const xShape = [2, 17, 3, 4, 5], wShape = [3, 17, 2, 2, 2], gyShape = [2, 3, 4, 5, 6];
    expect(conv3dPlan(gpu.rt, 'forward', xShape, wShape, pad1)).toMatch(/\(1 taps × 9 channels per chunk\)/);
    const w5 = [4, 5, 2, 2, 2];
    expect(conv3dPlan(gpu.rt, 'backwardInput', [1, 5, 3, 3, 3], w5, pad1)).toMatch(/\(4 taps × 4 channels per chunk\)/);
    expect(conv3dPlan(gpu.rt, 'forward', [1, 5, 3, 3, 3], w5, pad1)).toMatch(/\(3 taps × 5 channels per chunk\)/);
    const overNaN = (a: Float32Array): Promise<Storage> => uploadOverNaN(gpu, a);
    const up = (a: Float32Array): Storage => cpu.upload(a, 'float32');
    const check = async (xs: number[], ws: number[], gys: number[], seed: number): Promise<void> => {
      const xa = randomArray(sizeOf(xs), seed), wa = randomArray(sizeOf(ws), seed + 1), ga = randomArray(sizeOf(gys), seed + 2);
      const ba = randomArray(ws[0], seed + 3);
      const x = await overNaN(xa), w = await overNaN(wa), gy = await overNaN(ga), b = gpu.upload(ba, 'float32');
      const y = gpu.conv3d(x, xs, w, ws, b, pad1), gx = gpu.conv3dBackwardInput(gy, gys, w, ws, xs, pad1);
      expectClose(await gpu.read(y), await cpu.read(cpu.conv3d(up(xa), xs, up(wa), ws, up(ba), pad1)), atol('forward', ws), 1e-4, 'y');
      expectClose(await gpu.read(gx), await cpu.read(cpu.conv3dBackwardInput(up(ga), gys, up(wa), ws, xs, pad1)), atol('backwardInput', ws), 1e-4, 'gx');
      for (const s of [x, w, gy, b, y, gx]) gpu.free(s);
    };
    await check(xShape, wShape, gyShape, 11);
    await check([1, 5, 3, 3, 3], w5, [1, 4, 4, 4, 4], 21);
  });

  it('more than 65535 row tiles: the grid folds into z', async () => {
    // 1×1×1 kernel, one channel: y = w·x + b over 130·256·256 voxels = 66560 tiles of 128 rows
    const gpu = await gpuBackend();
    const xShape = [1, 1, 130, 256, 256], wShape = [1, 1, 1, 1, 1];
    const p: Conv3dParams = { stride: [1, 1, 1], padding: [0, 0, 0], dilation: [1, 1, 1] };
    tuning.configure({ downKernel: false }); // kernel 1 = stride 1: the down GEMM would take it
    expect(conv3dPlan(gpu.rt, 'forward', xShape, wShape, p)).toMatch(/^implicit GEMM: 128×16×1 tiles .* 66560 workgroups × 1 splits/);
    const xs = randomArray(sizeOf(xShape), 7);
    const x = gpu.upload(xs, 'float32'), w = gpu.upload(Float32Array.of(0.5), 'float32'), b = gpu.upload(Float32Array.of(0.25), 'float32');
    const y = gpu.conv3d(x, xShape, w, wShape, b, p);
    expectClose(await gpu.read(y), xs.map((v) => 0.5 * v + 0.25), 1e-6, 1e-6, 'y');
    for (const s of [x, w, b, y]) gpu.free(s);
  });
});

describe('the implicit GEMM and the direct kernel agree', () => {
  let tuning: Conv3dTuning;
  beforeEach(async () => { tuning = await gpuConv3dTuning(); tuning.configure({ softwareAdapterGemms: true }); });
  afterEach(() => { tuning.configure(defaultConv3dKnobs); });

  it('on the V-Net 3³ class and a dilated one, both directions', async () => {
    const gpu = await gpuBackend();
    const cases: Case[] = [
      { xShape: [2, 8, 6, 4, 8], wShape: [16, 8, 3, 3, 3], p: pad1, bias: true },
      { xShape: [1, 4, 7, 6, 5], wShape: [6, 4, 3, 2, 3], p: { stride: [1, 1, 1], padding: [2, 0, 1], dilation: [2, 1, 2] }, bias: false },
    ];
    for (const [i, c] of cases.entries()) {
      for (const op of ['forward', 'backwardInput'] as const) {
        tuning.configure({ implicitGemmMinChannels: Infinity });
        expect(conv3dPlan(gpu.rt, op, c.xShape, c.wShape, c.p)).toMatch(/^direct/);
        const direct = await run(gpu, op, c, 700 + i);
        tuning.configure({ implicitGemmMinChannels: 0 });
        expect(conv3dPlan(gpu.rt, op, c.xShape, c.wShape, c.p)).toMatch(/^implicit GEMM/);
        expectClose(await run(gpu, op, c, 700 + i), direct, atol(op, c.wShape), 1e-4, `gemm vs direct ${op} ${JSON.stringify(c)}`);
      }
    }
  });
});
