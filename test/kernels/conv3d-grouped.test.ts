import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Backend, Conv3dParams, Storage } from '../../src/kernels/index.js';
import { WebGPUBackend } from '../../src/kernels/index.js';
import { convOutSize } from '../../src/kernels/geometry.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { groupedBenchmarks } from '../../src/kernels/conv3d/grouped-benchmarks.js';
import { groupedKernelsFit } from '../../src/kernels/conv3d/grouped-tiling.js';
import { cpu, expectClose, randomArray, runSmallBenchmarks, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * The grouped conv3d kernels (src/kernels/conv3d/grouped.ts) against their cpu oracle (grouped-cpu.ts) on random
 * shapes, and the oracle against one ungrouped conv3d per group (the oracle of cpu.ts on channel slices).
 */

interface Case { xShape: number[]; wShape: number[]; groups: number; p: Conv3dParams; bias: boolean }

function outShape(c: Case): number[] {
  const { xShape, wShape, p } = c;
  return [xShape[0], wShape[0], ...[0, 1, 2].map((a) => convOutSize(xShape[2 + a], wShape[2 + a], p.stride[a], p.padding[a], p.dilation[a]))];
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  n: fc.integer({ min: 1, max: 2 }),
  groups: fc.integer({ min: 1, max: 5 }),
  perGroupIn: fc.integer({ min: 1, max: 3 }),
  perGroupOut: fc.integer({ min: 1, max: 3 }),
  size: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })),
  k: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
  // stride 1 along every axis half the time: the input gradient's tiled kernel (else its per-element one)
  s: fc.oneof(fc.constant<[number, number, number]>([1, 1, 1]), fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }))),
  pad: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
  dil: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  bias: fc.boolean(),
}).filter((r) => [0, 1, 2].every((a) => r.dil[a] * (r.k[a] - 1) + 1 <= r.size[a] + 2 * r.pad[a]))
  .map((r) => ({
    xShape: [r.n, r.groups * r.perGroupIn, ...r.size], wShape: [r.groups * r.perGroupOut, r.perGroupIn, ...r.k], groups: r.groups,
    p: { stride: r.s, padding: r.pad, dilation: r.dil }, bias: r.bias,
  }));

interface Results { y: Float64Array; gx: Float64Array; gw: Float64Array }

/** The three operations of case c on `be` (float32 on WebGPU, `dtype` on the cpu), from the same random data. */
async function run(be: Backend, c: Case, seed: number, dtype: 'float32' | 'float64'): Promise<Results> {
  const { xShape, wShape, groups, p } = c, gyShape = outShape(c);
  const owned: Storage[] = [];
  const up = (n: number, s: number): Storage => {
    const a = randomArray(n, s);
    const st = be.upload(dtype === 'float64' ? Float64Array.from(a) : a, dtype);
    owned.push(st);
    return st;
  };
  const x = up(sizeOf(xShape), seed), w = up(sizeOf(wShape), seed + 1), gy = up(sizeOf(gyShape), seed + 3);
  const b = c.bias ? up(wShape[0], seed + 2) : null;
  const outs = [
    be.conv3dGrouped(x, xShape, w, wShape, b, p, groups),
    be.conv3dGroupedBackwardInput(gy, gyShape, w, wShape, xShape, p, groups),
    be.conv3dGroupedBackwardWeight(x, xShape, gy, gyShape, wShape, p, groups),
  ];
  const [y, gx, gw] = await Promise.all(outs.map(async (s) => Float64Array.from(await be.read(s))));
  for (const s of [...owned, ...outs]) be.free(s);
  return { y, gx, gw };
}

/** conv3d of each group's channel slice by cpu.ts's ungrouped oracle, in float64, laid out as the grouped results */
async function perGroup(c: Case, seed: number): Promise<Results> {
  const { xShape, wShape, groups, p } = c, gyShape = outShape(c);
  const [n, ci] = xShape, co = wShape[0], cg = ci / groups, mg = co / groups;
  const x = randomArray(sizeOf(xShape), seed), w = randomArray(sizeOf(wShape), seed + 1), gy = randomArray(sizeOf(gyShape), seed + 3);
  const b = randomArray(co, seed + 2);
  const xVox = sizeOf(xShape.slice(2)), yVox = sizeOf(gyShape.slice(2)), wPer = sizeOf(wShape.slice(1));
  /** channels [first, first + count) of every sample of a [n, channels, vox] array, as float64 storage */
  const channels = (a: Float32Array, channelsTotal: number, vox: number, first: number, count: number): Storage => {
    const out = new Float64Array(n * count * vox);
    for (let s = 0; s < n; s++) out.set(a.subarray((s * channelsTotal + first) * vox, (s * channelsTotal + first + count) * vox), s * count * vox);
    return cpu.upload(out, 'float64');
  };
  const scatter = (dst: Float64Array, src: ArrayLike<number>, channelsTotal: number, vox: number, first: number, count: number): void => {
    for (let s = 0; s < n; s++) dst.set(Array.from(src).slice(s * count * vox, (s + 1) * count * vox), (s * channelsTotal + first) * vox);
  };
  const res: Results = { y: new Float64Array(n * co * yVox), gx: new Float64Array(sizeOf(xShape)), gw: new Float64Array(sizeOf(wShape)) };
  for (let j = 0; j < groups; j++) {
    const xg = channels(x, ci, xVox, j * cg, cg), gyg = channels(gy, co, yVox, j * mg, mg);
    const wg = cpu.upload(Float64Array.from(w.subarray(j * mg * wPer, (j + 1) * mg * wPer)), 'float64');
    const bg = c.bias ? cpu.upload(Float64Array.from(b.subarray(j * mg, (j + 1) * mg)), 'float64') : null;
    const xgShape = [n, cg, ...xShape.slice(2)], wgShape = [mg, ...wShape.slice(1)], gygShape = [n, mg, ...gyShape.slice(2)];
    scatter(res.y, await cpu.read(cpu.conv3d(xg, xgShape, wg, wgShape, bg, p)), co, yVox, j * mg, mg);
    scatter(res.gx, await cpu.read(cpu.conv3dBackwardInput(gyg, gygShape, wg, wgShape, xgShape, p)), ci, xVox, j * cg, cg);
    res.gw.set(await cpu.read(cpu.conv3dBackwardWeight(xg, xgShape, gyg, gygShape, wgShape, p)), j * mg * wPer);
  }
  return res;
}

/** the three directions of case c on WebGPU against the cpu oracle (float32 tolerances); the dispatches they took */
async function compare(c: Case, seed: number): Promise<number> {
  const gpu = await webgpu();
  if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
  const live = gpu.memory().liveBuffers, first = gpu.rt.dispatchCount;
  const G = await run(gpu, c, seed, 'float32'), C = await run(cpu, c, seed, 'float32');
  const dispatches = gpu.rt.dispatchCount - first;
  const label = JSON.stringify(c), taps = sizeOf(c.wShape.slice(2));
  // sums of up to Cg·k³ (Mg·k³; N·Do·Ho·Wo for the weight gradient) products of values in [−1, 1)
  expectClose(G.y, C.y, 2e-5 * Math.sqrt(c.wShape[1] * taps) + 1e-6, 1e-4, `forward ${label}`);
  expectClose(G.gx, C.gx, 2e-5 * Math.sqrt((c.wShape[0] / c.groups) * taps) + 1e-6, 1e-4, `backwardInput ${label}`);
  expectClose(G.gw, C.gw, 2e-5 * Math.sqrt(sizeOf(outShape(c)) / c.wShape[0]) + 1e-6, 1e-4, `backwardWeight ${label}`);
  expect(gpu.memory().liveBuffers).toBe(live);
  return dispatches;
}

const P = (s: number, p: number, d = 1): Conv3dParams => ({ stride: [s, s, s], padding: [p, p, p], dilation: [d, d, d] });

describe('grouped conv3d: WebGPU against the cpu oracle', () => {
  it('random groups, channels per group, multipliers, kernels, strides, paddings, dilations', async () => {
    await fc.assert(fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 1e6 }), async (c, seed) => { await compare(c, seed); }), propertyOptions(25));
  }, 300_000);

  it('more than 4 channels written per group (chunks of channels), wide volumes (several blocks per axis)', async () => {
    await compare({ xShape: [1, 2, 3, 4, 5], wShape: [5, 2, 3, 2, 3], groups: 1, p: P(1, 1), bias: true }, 11);
    await compare({ xShape: [1, 4, 2, 3, 3], wShape: [16, 2, 1, 3, 2], groups: 2, p: P(1, 0, 1), bias: false }, 12);
    await compare({ xShape: [1, 6, 4, 3, 2], wShape: [2, 6, 2, 2, 2], groups: 1, p: P(1, 1), bias: false }, 13); // the input gradient writes 6 channels in chunks of 3
    // the weight gradient splits its 25 tiles of 2×32×16 voxels: partial gradients and their sum (4 dispatches in all)
    expect(await compare({ xShape: [1, 2, 9, 20, 70], wShape: [2, 1, 3, 3, 3], groups: 2, p: P(1, 1), bias: true }, 14)).toBe(4);
    await compare({ xShape: [1, 2, 9, 20, 70], wShape: [2, 1, 3, 3, 3], groups: 2, p: P(2, 1, 2), bias: true }, 15);
    // a 5³ kernel at dilation 2: the first blocks' halos exceed llvmpipe's 32 KiB of workgroup memory and are halved
    await compare({ xShape: [1, 2, 12, 12, 40], wShape: [2, 1, 5, 5, 5], groups: 2, p: P(1, 4, 2), bias: false }, 16);
  }, 120_000);

  it('one dispatch per direction for all groups; more workgroups than one grid dimension holds', async () => {
    const gpu = await webgpu();
    if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
    // depthwise 1³ over 70 000 channels: 70 000 weight-gradient workgroups (past 65 535: folded into y)
    const c: Case = { xShape: [1, 70_000, 1, 1, 2], wShape: [70_000, 1, 1, 1, 1], groups: 70_000, p: P(1, 0), bias: true };
    const first = gpu.rt.dispatchCount;
    const G = await run(gpu, c, 5, 'float32');
    expect(gpu.rt.dispatchCount - first).toBe(3);
    const C = await run(cpu, c, 5, 'float32');
    expectClose(G.y, C.y, 1e-6, 1e-6, 'forward');
    expectClose(G.gx, C.gx, 1e-6, 1e-6, 'backwardInput');
    expectClose(G.gw, C.gw, 1e-6, 1e-6, 'backwardWeight');
  }, 60_000);

  it('the weight gradient is the same bit for bit on every run (a fixed summation order, no atomics)', async () => {
    const gpu = await webgpu();
    // 25 tiles in 5 splits (see above)
    const c: Case = { xShape: [1, 2, 9, 20, 70], wShape: [2, 1, 3, 3, 3], groups: 2, p: P(1, 1), bias: false };
    const runs = [await run(gpu, c, 21, 'float32'), await run(gpu, c, 21, 'float32')];
    expect(runs[1]!.gw).toEqual(runs[0]!.gw);
  });

  it('the weight gradient reads no input that no output voxel reads: a NaN there stays out of it (as in the oracle)', async () => {
    // w = 10, k = 2, s = 3: the 3 outputs read x[0 … 7]; the block of 4 voxels along w has a padding voxel (gy 0)
    // whose taps would reach x[9], and 0 · NaN would be NaN
    const gpu = await webgpu();
    const xShape = [1, 2, 1, 1, 10], wShape = [2, 1, 1, 1, 2], gyShape = [1, 2, 1, 1, 3], p: Conv3dParams = { stride: [1, 1, 3], padding: [0, 0, 0], dilation: [1, 1, 1] };
    const x = randomArray(20, 31);
    x[9] = NaN; x[19] = Infinity;
    const gy = randomArray(6, 32);
    const gw = async (be: Backend): Promise<Float64Array> => {
      const xs = be.upload(x, 'float32'), gys = be.upload(gy, 'float32');
      const out = be.conv3dGroupedBackwardWeight(xs, xShape, gys, gyShape, wShape, p, 2);
      const r = Float64Array.from(await be.read(out));
      for (const st of [xs, gys, out]) be.free(st);
      return r;
    };
    const G = await gw(gpu), C = await gw(cpu);
    expect(C.every(Number.isFinite)).toBe(true);
    expectClose(G, C, 1e-6, 1e-6, 'backwardWeight with a non-finite unread tail');
  });

  it('groupedKernelsFit: a dilated kernel whose one-voxel halo exceeds the minimum workgroup memory is not taken', () => {
    const p = (d: number): Conv3dParams => ({ stride: [1, 1, 1], padding: [d, d, d], dilation: [d, d, d] });
    expect(groupedKernelsFit([1, 4, 16, 16, 16], [4, 1, 3, 3, 3], p(1), 4)).toBe(true);
    expect(groupedKernelsFit([1, 4, 16, 16, 16], [4, 1, 5, 5, 5], p(2), 4)).toBe(true);
    // 3³ at dilation 12: (2·12 + 1)² · 28 floats for one voxel is more than 16 KiB
    expect(groupedKernelsFit([1, 4, 26, 26, 26], [4, 1, 3, 3, 3], p(12), 4)).toBe(false);
    // 3³ at dilation 6 and 7³ at dilation 4: a forward block would be halved below 32 invocations
    expect(groupedKernelsFit([1, 4, 16, 16, 16], [4, 1, 3, 3, 3], p(6), 4)).toBe(false);
    expect(groupedKernelsFit([1, 4, 26, 26, 26], [4, 1, 7, 7, 7], p(4), 4)).toBe(false);
  });

  it('refuses int32, and names the groups in its errors (both backends)', async () => {
    const gpu = await webgpu();
    const p = P(1, 0);
    for (const be of [cpu, gpu]) {
      const x = be.upload(new Float32Array(4 * 8), 'float32'), w = be.upload(new Float32Array(4 * 8), 'float32');
      expect(() => be.conv3dGrouped(x, [1, 4, 2, 2, 2], w, [4, 1, 2, 2, 2], null, p, 2)).toThrow(/expects 1 × 2 groups/);
      expect(() => be.conv3dGrouped(x, [1, 4, 2, 2, 2], w, [3, 2, 1, 1, 1], null, p, 2)).toThrow(/3 output channels .* do not split into 2 groups/);
      expect(() => be.conv3dGrouped(x, [1, 4, 2, 2, 2], w, [4, 1, 2, 2, 2], null, p, 0)).toThrow(/groups must be a positive integer/);
      expect(() => be.conv3dGrouped(x, [1, 4, 2, 2, 2], w, [4, 1, 3, 3, 3], null, p, 4)).toThrow(/larger than the padded input/);
      expect(() => be.conv3dGroupedBackwardInput(x, [1, 4, 2, 2, 1], w, [4, 1, 1, 1, 1], [1, 4, 2, 2, 2], p, 4)).toThrow(/does not match/);
      expect(() => be.conv3dGroupedBackwardWeight(be.upload(new Float32Array(8), 'float32'), [1, 4, 2, 2, 2], x, [1, 4, 2, 2, 2], [4, 1, 1, 1, 1], p, 4)).toThrow(/input storage holds 8 elements/);
    }
    const d = gpu.upload(new Float32Array(8), 'float32');
    expect(() => gpu.conv3dGrouped(gpu.fill(8, 0, 'int32'), [1, 1, 2, 2, 2], d, [1, 1, 1, 1, 1], null, p, 1)).toThrow(/input must be float32, got int32/);
  });
});

describe('grouped conv3d benchmark cases', () => {
  it('the small ones run', async () => {
    expect(await runSmallBenchmarks(await webgpu(), groupedBenchmarks)).toBe(6);
  }, 120_000);
});

describe('grouped conv3d oracle (cpu)', () => {
  it('equals one ungrouped conv3d per group, in float64 and float32', async () => {
    await fc.assert(fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 1e6 }), async (c, seed) => {
      const want = await perGroup(c, seed);
      const label = JSON.stringify(c);
      // float64: the same products summed in the same order
      const got = await run(cpu, c, seed, 'float64');
      expect(got.y, `forward ${label}`).toEqual(want.y);
      expect(got.gx, `backwardInput ${label}`).toEqual(want.gx);
      expect(got.gw, `backwardWeight ${label}`).toEqual(want.gw);
      // float32: within its rounding of the float64 values
      const f32 = await run(cpu, c, seed, 'float32');
      expectClose(f32.y, want.y, 1e-6, 1e-6, `forward float32 ${label}`);
      expectClose(f32.gx, want.gx, 2e-6 * Math.sqrt((c.wShape[0] / c.groups) * sizeOf(c.wShape.slice(2))), 1e-6, `backwardInput float32 ${label}`);
      expectClose(f32.gw, want.gw, 1e-6, 1e-6, `backwardWeight float32 ${label}`);
    }), propertyOptions(100));
  });
});
