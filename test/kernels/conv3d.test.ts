import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Backend, Conv3dParams, Storage } from '../../src/kernels/index.js';
import { convOutSize } from '../../src/kernels/geometry.js';
import { defaultConv3dKnobs, type Conv3dTuning } from '../../src/kernels/conv3d/webgpu.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';
import { gpuConv3dTuning } from '../helpers/gpu-conv.js';
import { propertyOptions } from '../helpers/property.js';

const P = (s: number, p: number, d = 1): Conv3dParams => ({ stride: [s, s, s], padding: [p, p, p], dilation: [d, d, d] });
const f64 = (a: ArrayLike<number>): Storage => cpu.upload(Float64Array.from(a), 'float64');

function outShape(xShape: readonly number[], wShape: readonly number[], p: Conv3dParams): number[] {
  return [xShape[0], wShape[0], ...[0, 1, 2].map((a) => convOutSize(xShape[2 + a], wShape[2 + a], p.stride[a], p.padding[a], p.dilation[a]))];
}

async function read(b: Backend, s: Storage): Promise<number[]> { return Array.from(await b.read(s)); }

describe('conv3d golden values (PyTorch definition, by hand)', () => {
  it('2×2×2 input, 2×2×2 kernel, no padding: one output, both gradients', async () => {
    // x = 1…8 in C order (x[d,h,w] = 4d + 2h + w + 1); w has taps (0,0,0)=1, (0,0,1)=2, (1,1,1)=1, the rest 0.
    const x = [1, 2, 3, 4, 5, 6, 7, 8];
    const w = [1, 2, 0, 0, 0, 0, 0, 1];
    const xs = [1, 1, 2, 2, 2], ws = [1, 1, 2, 2, 2];
    // y = 1·1 + 2·2 + 8·1 = 13, plus bias 0.5
    const y = cpu.conv3d(f64(x), xs, f64(w), ws, f64([0.5]), P(1, 0));
    expect(await read(cpu, y)).toEqual([13.5]);
    // with gy = 3: dL/dx = gy·w = [3, 6, 0, 0, 0, 0, 0, 3], dL/dw = gy·x = [3, 6, …, 24]
    const gx = cpu.conv3dBackwardInput(f64([3]), [1, 1, 1, 1, 1], f64(w), ws, xs, P(1, 0));
    expect(await read(cpu, gx)).toEqual([3, 6, 0, 0, 0, 0, 0, 3]);
    const gw = cpu.conv3dBackwardWeight(f64(x), xs, f64([3]), [1, 1, 1, 1, 1], ws, P(1, 0));
    expect(await read(cpu, gw)).toEqual([3, 6, 9, 12, 15, 18, 21, 24]);
    const gpu = await webgpu();
    const up = (a: number[]): Storage => gpu.upload(Float32Array.from(a), 'float32');
    expect(await read(gpu, gpu.conv3d(up(x), xs, up(w), ws, up([0.5]), P(1, 0)))).toEqual([13.5]);
    expect(await read(gpu, gpu.conv3dBackwardInput(up([3]), [1, 1, 1, 1, 1], up(w), ws, xs, P(1, 0)))).toEqual([3, 6, 0, 0, 0, 0, 0, 3]);
    expect(await read(gpu, gpu.conv3dBackwardWeight(up(x), xs, up([3]), [1, 1, 1, 1, 1], ws, P(1, 0)))).toEqual([3, 6, 9, 12, 15, 18, 21, 24]);
  });

  it('3×3×3 input, 3×3×3 kernel, padding 1, stride 2', async () => {
    // x[d,h,w] = 9d + 3h + w + 1 (1…27). Out size per axis ⌊(3 + 2 − 2 − 1)/2⌋ + 1 = 2; output o reads input
    // 2o − 1 + k, k = 0…2: o = 0 reads {−1, 0, 1} → valid {0, 1}; o = 1 reads {1, 2, 3} → valid {1, 2}.
    const x = Array.from({ length: 27 }, (_, i) => i + 1);
    const xs = [1, 1, 3, 3, 3], ws = [1, 1, 3, 3, 3], p = P(2, 1);
    // (a) all-ones kernel: y(o) = Σ over the valid 2×2×2 box of (9d + 3h + w + 1)
    //     = 8 + 9·4·S_d + 3·4·S_h + 4·S_w, where S = sum of the valid indices: 1 for o = 0, 3 for o = 1.
    const S = [1, 3];
    const expectedOnes: number[] = [];
    for (const od of [0, 1]) for (const oh of [0, 1]) for (const ow of [0, 1]) expectedOnes.push(8 + 36 * S[od] + 12 * S[oh] + 4 * S[ow]);
    expect(expectedOnes).toEqual([60, 68, 84, 92, 132, 140, 156, 164]);
    const ones = new Array<number>(27).fill(1);
    // (b) only the centre tap (1,1,1) = 2: y(o) = 2·x[2o] = 2·(18od + 6oh + 2ow + 1)
    const centre = new Array<number>(27).fill(0); centre[13] = 2;
    const expectedCentre = [2, 6, 14, 18, 38, 42, 50, 54];
    // gradients with gy = ones: input i is read by 1, 2, 1 outputs for i = 0, 1, 2 along each axis, so
    // dX[d,h,w] = c_d·c_h·c_w with c = [1, 2, 1] (all-ones kernel).
    const c = [1, 2, 1];
    const expectedGx: number[] = [];
    for (const d of [0, 1, 2]) for (const h of [0, 1, 2]) for (const w of [0, 1, 2]) expectedGx.push(c[d] * c[h] * c[w]);
    // dW[k] = Σ over outputs of x[2o − 1 + k]: along an axis tap 0 sees input {1}, tap 1 sees {0, 2}, tap 2 sees {1}
    // (sets A with |A| = [1, 2, 1] and ΣA = [1, 2, 1]), so dW = |A_d||A_h||A_w| + 9·ΣA_d|A_h||A_w| + 3·ΣA_h|A_d||A_w|
    // + ΣA_w|A_d||A_h| = (1 + 9 + 3 + 1)·c_d c_h c_w = 14·c_d c_h c_w.
    const expectedGw = expectedGx.map((v) => 14 * v);
    const gyOnes = new Array<number>(8).fill(1), gyShape = [1, 1, 2, 2, 2];
    expect(await read(cpu, cpu.conv3d(f64(x), xs, f64(ones), ws, null, p))).toEqual(expectedOnes);
    expect(await read(cpu, cpu.conv3d(f64(x), xs, f64(centre), ws, null, p))).toEqual(expectedCentre);
    expect(await read(cpu, cpu.conv3dBackwardInput(f64(gyOnes), gyShape, f64(ones), ws, xs, p))).toEqual(expectedGx);
    expect(await read(cpu, cpu.conv3dBackwardWeight(f64(x), xs, f64(gyOnes), gyShape, ws, p))).toEqual(expectedGw);
    const gpu = await webgpu();
    const up = (a: number[]): Storage => gpu.upload(Float32Array.from(a), 'float32');
    expect(await read(gpu, gpu.conv3d(up(x), xs, up(ones), ws, null, p))).toEqual(expectedOnes);
    expect(await read(gpu, gpu.conv3d(up(x), xs, up(centre), ws, null, p))).toEqual(expectedCentre);
    expect(await read(gpu, gpu.conv3dBackwardInput(up(gyOnes), gyShape, up(ones), ws, xs, p))).toEqual(expectedGx);
    expect(await read(gpu, gpu.conv3dBackwardWeight(up(x), xs, up(gyOnes), gyShape, ws, p))).toEqual(expectedGw);
  });

  it('convTranspose3d: a 2×2×2 input through kernel 2 stride 2 gives 4×4×4 blocks of input·kernel', async () => {
    // ConvTranspose3d(1, 1, 2, stride 2) = conv3dBackwardInput of the 2³/2 conv: out[2j + r] = in[j]·k[r].
    // in = [1, 2, …, 8], k = [1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7] (tap r = (rd, rh, rw) ↦ 10^(4rd + 2rh + rw)),
    // so e.g. out[0,0,0] = 1·1, out[0,0,1] = 1·10, out[1,1,1] = 1·1e7, out[0,0,2] = 2·1 (next input voxel along w),
    // out[3,3,3] = 8·1e7.
    const inp = [1, 2, 3, 4, 5, 6, 7, 8];
    const k = [1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7];
    const expected: number[] = [];
    for (let d = 0; d < 4; d++) for (let h = 0; h < 4; h++) for (let w = 0; w < 4; w++) {
      const j = (Math.floor(d / 2) * 2 + Math.floor(h / 2)) * 2 + Math.floor(w / 2);
      const r = ((d % 2) * 2 + (h % 2)) * 2 + (w % 2);
      expected.push(inp[j] * k[r]);
    }
    expect([expected[0], expected[1], expected[21], expected[2], expected[63]]).toEqual([1, 10, 1e7, 2, 8e7]);
    const p = P(2, 0), ws = [1, 1, 2, 2, 2], gyShape = [1, 1, 2, 2, 2];
    expect(await read(cpu, cpu.conv3dBackwardInput(f64(inp), gyShape, f64(k), ws, [1, 1, 4, 4, 4], p))).toEqual(expected);
    const gpu = await webgpu();
    const up = (a: number[]): Storage => gpu.upload(Float32Array.from(a), 'float32');
    expect(await read(gpu, gpu.conv3dBackwardInput(up(inp), gyShape, up(k), ws, [1, 1, 4, 4, 4], p))).toEqual(expected);
    // output padding 1 (xShape 5×5×5): the same values, plus a last row/column/plane that receives nothing
    const padded: number[] = [];
    for (let d = 0; d < 5; d++) for (let h = 0; h < 5; h++) for (let w = 0; w < 5; w++) {
      padded.push(d < 4 && h < 4 && w < 4 ? expected[(d * 4 + h) * 4 + w] : 0);
    }
    expect(await read(cpu, cpu.conv3dBackwardInput(f64(inp), gyShape, f64(k), ws, [1, 1, 5, 5, 5], p))).toEqual(padded);
    expect(await read(gpu, gpu.conv3dBackwardInput(up(inp), gyShape, up(k), ws, [1, 1, 5, 5, 5], p))).toEqual(padded);
  });
});

interface Case { xShape: number[]; wShape: number[]; p: Conv3dParams; bias: boolean }

/** Runs all three operations on both backends and compares (float32 tolerances). */
async function compare(c: Case, seed: number): Promise<void> {
  const gpu = await webgpu();
  const { xShape, wShape, p } = c;
  const gyShape = outShape(xShape, wShape, p);
  const x = randomArray(sizeOf(xShape), seed), w = randomArray(sizeOf(wShape), seed + 1), b = randomArray(wShape[0], seed + 2);
  const gy = randomArray(sizeOf(gyShape), seed + 3);
  const label = `${JSON.stringify(c)}`;
  const owned: [Backend, Storage][] = [];
  const on = (be: Backend) => {
    const up = (a: Float32Array): Storage => { const s = be.upload(a, 'float32'); owned.push([be, s]); return s; };
    const keep = (s: Storage): Storage => { owned.push([be, s]); return s; };
    const xs = up(x), ws = up(w), gys = up(gy);
    return {
      y: keep(be.conv3d(xs, xShape, ws, wShape, c.bias ? up(b) : null, p)),
      gx: keep(be.conv3dBackwardInput(gys, gyShape, ws, wShape, xShape, p)),
      gw: keep(be.conv3dBackwardWeight(xs, xShape, gys, gyShape, wShape, p)),
    };
  };
  const live = gpu.memory().liveBuffers;
  const G = on(gpu), C = on(cpu);
  // sums of up to Ci·k³ ≤ 9·125 products of values in [−1, 1) (up to N·Do·Ho·Wo ≈ 700 for the weight gradient)
  expectClose(await gpu.read(G.y), await cpu.read(C.y), 2e-5 * Math.sqrt(wShape[1] * sizeOf(wShape.slice(2))) + 1e-6, 1e-4, `forward ${label}`);
  expectClose(await gpu.read(G.gx), await cpu.read(C.gx), 2e-5 * Math.sqrt(wShape[0] * sizeOf(wShape.slice(2))) + 1e-6, 1e-4, `backwardInput ${label}`);
  expectClose(await gpu.read(G.gw), await cpu.read(C.gw), 2e-5 * Math.sqrt(sizeOf(gyShape) / wShape[0]) + 1e-6, 1e-4, `backwardWeight ${label}`);
  for (const [be, s] of owned) be.free(s);
  // the split-K partials are freed inside the operations
  expect(gpu.memory().liveBuffers).toBe(live);
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  n: fc.integer({ min: 1, max: 2 }),
  ci: fc.integer({ min: 1, max: 9 }),
  co: fc.integer({ min: 1, max: 9 }),
  size: fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 })),
  k: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
  s: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  pad: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
  dil: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  bias: fc.boolean(),
}).filter((r) => [0, 1, 2].every((a) => r.dil[a] * (r.k[a] - 1) + 1 <= r.size[a] + 2 * r.pad[a]))
  // each stride phase of the input gradient is a pipeline of its own (compiled per shape: seconds on llvmpipe);
  // at most 6 phases, e.g. stride 3 along one axis and 2 along another
  .filter((r) => r.s[0] * r.s[1] * r.s[2] <= 6)
  .map((r) => ({
    xShape: [r.n, r.ci, ...r.size], wShape: [r.co, r.ci, ...r.k],
    p: { stride: r.s, padding: r.pad, dilation: r.dil }, bias: r.bias,
  }));

describe('conv3d WebGPU against the cpu oracle', () => {
  let tuning: Conv3dTuning;
  beforeEach(async () => { tuning = await gpuConv3dTuning(); });
  afterEach(() => { tuning.configure(defaultConv3dKnobs); });

  it('random shapes, strides, paddings, dilations (split-K plans)', async () => {
    await fc.assert(fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 1e6 }), (c, seed) => compare(c, seed)), propertyOptions(10));
  }, 300_000); // every drawn shape compiles its pipelines

  it('random shapes with single-split plans and multi-chunk K loops', async () => {
    tuning.configure({ targetWorkgroups: 1, maxChunkChannels: 2 });
    await fc.assert(fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 1e6 }), (c, seed) => compare(c, seed)), propertyOptions(6));
  }, 300_000);

  it('the V-Net shape classes at small sizes', async () => {
    const cases: Case[] = [
      { xShape: [2, 16, 6, 5, 7], wShape: [16, 16, 3, 3, 3], p: P(1, 1), bias: true }, // 3³ stride 1 pad 1
      { xShape: [1, 1, 6, 6, 5], wShape: [16, 1, 3, 3, 3], p: P(1, 1), bias: true }, // enc1: one input channel
      { xShape: [2, 8, 6, 4, 8], wShape: [16, 8, 2, 2, 2], p: P(2, 0), bias: true }, // 2³/2 down (dX: the up GEMM)
      { xShape: [1, 8, 4, 6, 2], wShape: [20, 8, 2, 2, 2], p: P(2, 0), bias: false }, // the transposed up, Co not /4
      { xShape: [2, 16, 5, 4, 6], wShape: [1, 16, 1, 1, 1], p: P(1, 0), bias: true }, // 1-channel head
      { xShape: [1, 16, 3, 5, 4], wShape: [2, 16, 1, 1, 1], p: P(1, 0), bias: true }, // 2-class head
    ];
    for (const [i, c] of cases.entries()) await compare(c, 100 + i);
    tuning.configure({ upKernel: false }); // the same transposed class through the stride-phase path
    await compare(cases[2], 200);
    // the 16-channel 3³ class and the head's input gradient through the direct, wgrad and up kernels, which the
    // implicit GEMMs otherwise take
    tuning.configure({ upKernel: true, implicitGemmMinChannels: Infinity, implicitGemmWeightGradientMinChannels: Infinity });
    await compare(cases[0], 300);
    await compare(cases[5], 301);
  });
});

describe('conv3d adjoint identities in float64 (cpu)', () => {
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };
  const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-300);

  it('⟨conv(x), gy⟩ = ⟨x, backwardInput(gy)⟩ = ⟨w, backwardWeight(x, gy)⟩, and central differences', async () => {
    await fc.assert(fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 1e6 }), async (c, seed) => {
      const { xShape, wShape, p } = c;
      const gyShape = outShape(xShape, wShape, p);
      const x = Float64Array.from(randomArray(sizeOf(xShape), seed)), w = Float64Array.from(randomArray(sizeOf(wShape), seed + 1));
      const gy = Float64Array.from(randomArray(sizeOf(gyShape), seed + 2));
      const y = await cpu.read(cpu.conv3d(f64(x), xShape, f64(w), wShape, null, p));
      const gx = await cpu.read(cpu.conv3dBackwardInput(f64(gy), gyShape, f64(w), wShape, xShape, p));
      const gw = await cpu.read(cpu.conv3dBackwardWeight(f64(x), xShape, f64(gy), gyShape, wShape, p));
      const lhs = dot(y, gy);
      expect(rel(lhs, dot(x, gx))).toBeLessThan(1e-10);
      expect(rel(lhs, dot(w, gw))).toBeLessThan(1e-10);
      // numerical directional derivatives: ⟨gy, conv(x + εe) − conv(x − εe)⟩ / 2ε = ⟨e, gx⟩ (same for w)
      const eps = 1e-3;
      const ex = Float64Array.from(randomArray(sizeOf(xShape), seed + 3)), ew = Float64Array.from(randomArray(sizeOf(wShape), seed + 4));
      const shifted = (a: Float64Array, e: Float64Array, t: number): Storage => f64(a.map((v, i) => v + t * e[i]));
      const dx = dot(gy, await cpu.read(cpu.conv3d(shifted(x, ex, eps), xShape, f64(w), wShape, null, p)))
        - dot(gy, await cpu.read(cpu.conv3d(shifted(x, ex, -eps), xShape, f64(w), wShape, null, p)));
      expect(rel(dx / (2 * eps), dot(ex, gx))).toBeLessThan(1e-8);
      const dw = dot(gy, await cpu.read(cpu.conv3d(f64(x), xShape, shifted(w, ew, eps), wShape, null, p)))
        - dot(gy, await cpu.read(cpu.conv3d(f64(x), xShape, shifted(w, ew, -eps), wShape, null, p)));
      expect(rel(dw / (2 * eps), dot(ew, gw))).toBeLessThan(1e-8);
    }), propertyOptions(100));
  });
});

describe('conv3d errors', () => {
  it('names the shapes and parameters on both backends', async () => {
    const gpu = await webgpu();
    for (const be of [cpu, gpu]) {
      const x = be.upload(new Float32Array(2 * 3 * 4 * 4 * 4), 'float32');
      const w = be.upload(new Float32Array(5 * 3 * 3 * 3 * 3), 'float32');
      const xs = [2, 3, 4, 4, 4];
      expect(() => be.conv3d(x, xs, w, [5, 2, 3, 3, 3], null, P(1, 1))).toThrow(/input \[2, 3, 4, 4, 4\] has 3 channels but weight \[5, 2, 3, 3, 3\] expects 2/);
      expect(() => be.conv3d(x, xs, w, [5, 3, 3, 3, 3], null, P(1, 0, 2))).toThrow(/kernel \[3, 3, 3\] \(dilation \[2, 2, 2\]\) is larger than the padded input/);
      expect(() => be.conv3d(x, [2, 3, 2, 2, 2], w, [5, 3, 3, 3, 3], null, P(1, 0))).toThrow(/larger than the padded input: input \[2, 3, 2, 2, 2\]/);
      expect(() => be.conv3d(x, xs, w, [5, 3, 3, 3, 3], null, { stride: [1, 1, 1], padding: [1, -1, 1], dilation: [1, 1, 1] })).toThrow(/padding must not be negative, got \[1, -1, 1\]/);
      expect(() => be.conv3d(x, xs, w, [5, 3, 3, 3, 3], null, { stride: [1, 0, 1], padding: [1, 1, 1], dilation: [1, 1, 1] })).toThrow(/stride must be positive, got \[1, 0, 1\]/);
      const twoPaddings = { stride: [1, 1, 1], padding: [1, 1], dilation: [1, 1, 1] } as unknown as Conv3dParams;
      expect(() => be.conv3d(x, xs, w, [5, 3, 3, 3, 3], null, twoPaddings)).toThrow(/^conv3d: padding must be an integer or three integers, got \[1,1\]$/);
      expect(() => be.conv3d(x, [2, 3, 4, 4], w, [5, 3, 3, 3, 3], null, P(1, 1))).toThrow(/input must be \[N, C, D, H, W\], got shape \[2, 3, 4, 4\]/);
      expect(() => be.conv3d(x, xs, w, [5, 3, 3, 3, 3], be.upload(new Float32Array(4), 'float32'), P(1, 1))).toThrow(/bias has 4 elements/);
      const gy = be.upload(new Float32Array(2 * 5 * 4 * 4 * 4), 'float32');
      expect(() => be.conv3dBackwardInput(gy, [2, 5, 4, 4, 3], w, [5, 3, 3, 3, 3], xs, P(1, 1))).toThrow(/output gradient \[2, 5, 4, 4, 3\] does not match .* whose output is \[2, 5, 4, 4, 4\]/);
      expect(() => be.conv3dBackwardWeight(x, xs, gy, [2, 4, 4, 4, 4], [5, 3, 3, 3, 3], P(1, 1))).toThrow(/does not match/);
      expect(() => be.conv3dBackwardInput(gy, [2, 5, 4, 4, 4], w, [5, 3, 3, 3, 3], [2, 3, 4, 4, 4], P(1, 3))).toThrow(/does not match/);
    }
  });
});
