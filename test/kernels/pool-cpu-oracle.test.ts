import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Pool3dParams } from '../../src/kernels/index.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { cpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * What pool.test.ts and pool-dilation.test.ts leave out of the cpu pooling oracle (src/kernels/pool/cpu.ts): the
 * refusals of the two backwards, windows of −Inf only, several (N, C) volumes, and, on random poolings (ceil mode,
 * padding, divisor overrides, NaN), avgPool3d, its backward, maxPool3d and its backward against references written
 * here from PyTorch's definitions. Values are small integers or quarters, so every sum is exact.
 */

const f64 = (a: ArrayLike<number>) => cpu.upload(Float64Array.from(a), 'float64');
const read = async (s: Parameters<typeof cpu.read>[0]) => Array.from(await cpu.read(s));

describe('the cpu pooling oracle by hand', () => {
  it('maxPool3dBackward refuses gy of other N·C and an index outside the volume', async () => {
    const idx = cpu.upload(Int32Array.from([0, 3]), 'int32');
    expect(() => cpu.maxPool3dBackward(f64([1, 2]), idx, [1, 2, 1, 1, 1], [1, 1, 1, 2, 2]))
      .toThrow('maxPool3dBackward: gy [1, 2, 1, 1, 1] and x [1, 1, 1, 2, 2] differ in N·C');
    for (const bad of [-1, 4]) {
      expect(() => cpu.maxPool3dBackward(f64([1, 2]), cpu.upload(Int32Array.from([0, bad]), 'int32'), [1, 2, 1, 1, 1], [1, 2, 1, 2, 2]))
        .toThrow(`maxPool3dBackward: index ${bad} outside the input volume of 4 voxels`);
    }
    // the index is checked per (N, C) volume: 3 is inside each of the two volumes of 4
    expect(await read(cpu.maxPool3dBackward(f64([1, 2]), idx, [1, 2, 1, 1, 1], [1, 2, 1, 2, 2]))).toEqual([1, 0, 0, 0, 0, 0, 0, 2]);
  });

  it('maxPool3dBackward puts each channel\'s gradient into its own volume', async () => {
    // 2 (N, C) volumes of 4 voxels, 2 outputs each: indices 3, 3 in the first, 0, 2 in the second
    const gx = cpu.maxPool3dBackward(f64([1, 2, 4, 8]), cpu.upload(Int32Array.from([3, 3, 0, 2]), 'int32'), [2, 1, 1, 1, 2], [1, 2, 1, 2, 2]);
    expect(await read(gx)).toEqual([0, 0, 0, 3, 4, 0, 8, 0]);
  });

  it('avgPool3dBackward refuses gy of another shape', () => {
    const p: Pool3dParams = { kernel: [1, 1, 2], stride: [1, 1, 2], padding: [0, 0, 0] };
    expect(() => cpu.avgPool3dBackward(f64([1, 2, 3]), [1, 1, 1, 1, 3], [1, 1, 1, 1, 4], p))
      .toThrow('avgPool3dBackward: gy [1, 1, 1, 1, 3] does not match the pooling of [1, 1, 1, 1, 4]');
    expect(() => cpu.avgPool3dBackward(f64([1, 2]), [1, 1, 1, 1, 2], [1, 1, 1, 1, 4], { ...p, padding: [0, 0, 2] }))
      .toThrow('avgPool3dBackward: padding 2 exceeds half the kernel 2 (PyTorch\'s rule)');
  });

  it('a window of −Inf only: −Inf at the index of its first voxel inside the volume', async () => {
    const { values, indices } = cpu.maxPool3d(f64([-Infinity, -Infinity, -Infinity, -Infinity]), [1, 1, 1, 1, 4],
      { kernel: [1, 1, 3], stride: [1, 1, 1], padding: [0, 0, 1] });
    expect(await read(values)).toEqual([-Infinity, -Infinity, -Infinity, -Infinity]);
    expect(indices.dtype).toBe('int32');
    // windows [−1, 1], [0, 2], [1, 3], [2, 4]: first voxels inside 0, 0, 1, 2
    expect(await read(indices)).toEqual([0, 0, 1, 2]);
    // a later equal or smaller value does not move the index off the first voxel
    expect(await read(cpu.maxPool3d(f64([5, 3, 5, 1]), [1, 1, 1, 1, 4], { kernel: [1, 1, 2], stride: [1, 1, 2], padding: [0, 0, 0] }).indices)).toEqual([0, 2]);
  });

  it('avgPool3d over two channels in ceil mode: each channel its own divisors; float32 rounds the float64 sum once', async () => {
    // [1, 2, 1, 1, 3], kernel 2, stride 2, ceil: windows [0, 2) and [2, 4) clipped to [2, 3): divisors 2 and 1
    const p: Pool3dParams = { kernel: [1, 1, 2], stride: [1, 1, 2], padding: [0, 0, 0], ceilMode: true };
    expect(await read(cpu.avgPool3d(f64([1, 2, 3, 4, 6, 8]), [1, 2, 1, 1, 3], p))).toEqual([1.5, 3, 5, 8]);
    expect(await read(cpu.avgPool3dBackward(f64([2, 4, 6, 8]), [1, 2, 1, 1, 2], [1, 2, 1, 1, 3], p))).toEqual([1, 1, 4, 3, 3, 8]);
    const x32 = cpu.upload(Float32Array.from([1, 2 ** -24, 2 ** -24]), 'float32');
    const y = cpu.avgPool3d(x32, [1, 1, 1, 1, 3], { kernel: [1, 1, 3], stride: [1, 1, 1], padding: [0, 0, 0], divisorOverride: 1 });
    expect(y.dtype).toBe('float32');
    expect(await read(y)).toEqual([1 + 2 ** -23]);
  });
});

/** PyTorch's output extent (floor or ceil mode; the last window must start inside the input or its left padding) */
function extent(n: number, k: number, s: number, p: number, ceil: boolean): number {
  const out = (ceil ? Math.ceil : Math.floor)((n + 2 * p - k) / s) + 1;
  return ceil && (out - 1) * s >= n + p ? out - 1 : out;
}

interface PoolCase { nc: number; size: number[]; k: number[]; s: number[]; p: number[]; ceil: boolean; divisor: number | undefined; nan: boolean; seed: number }

const poolArb: fc.Arbitrary<PoolCase> = fc.record({
  nc: fc.integer({ min: 1, max: 4 }),
  size: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })),
  k: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
  s: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  p: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2)),
  ceil: fc.boolean(), nan: fc.boolean(),
  divisor: fc.option(fc.constantFrom(-2, 1, 3, 4), { nil: undefined }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
}).filter((c) => [0, 1, 2].every((a) => 2 * c.p[a] <= c.k[a] && extent(c.size[a], c.k[a], c.s[a], c.p[a], c.ceil) >= 1));

describe('the cpu pooling oracle on random poolings against PyTorch\'s definitions', () => {
  it('avgPool3d, its backward, maxPool3d (values and indices) and its backward', async () => {
    await fc.assert(fc.asyncProperty(poolArb, async (c) => {
      const [D, H, W] = c.size, vol = D * H * W;
      const out = [0, 1, 2].map((a) => extent(c.size[a], c.k[a], c.s[a], c.p[a], c.ceil));
      const xShape = [1, c.nc, D, H, W], yShape = [1, c.nc, ...out], outVol = sizeOf(out);
      const params: Pool3dParams = { kernel: [c.k[0], c.k[1], c.k[2]], stride: [c.s[0], c.s[1], c.s[2]], padding: [c.p[0], c.p[1], c.p[2]], ceilMode: c.ceil, ...(c.divisor === undefined ? {} : { divisorOverride: c.divisor }) };
      let r = c.seed;
      const next = () => { r = (r * 1103515245 + 12345) % 2 ** 31; return r; };
      const x = Array.from({ length: c.nc * vol }, () => (c.nan && next() % 9 === 0 ? NaN : (next() % 11) - 5));
      const gy = Array.from({ length: c.nc * outVol }, () => (next() % 9) - 4);
      // per output: the window's range along each axis, in padded and in input coordinates
      const avg: number[] = [], gxAvg = new Array<number>(c.nc * vol).fill(0), maxV: number[] = [], maxI: number[] = [];
      for (let ch = 0; ch < c.nc; ch++) {
        for (let od = 0; od < out[0]; od++) for (let oh = 0; oh < out[1]; oh++) for (let ow = 0; ow < out[2]; ow++) {
          const o = [od, oh, ow], lo = o.map((v, a) => v * c.s[a] - c.p[a]);
          const hiPadded = lo.map((v, a) => Math.min(v + c.k[a], c.size[a] + c.p[a]));
          const divisor = c.divisor ?? (hiPadded[0] - lo[0]) * (hiPadded[1] - lo[1]) * (hiPadded[2] - lo[2]);
          const inside: number[] = [];
          for (let d = Math.max(lo[0], 0); d < Math.min(lo[0] + c.k[0], D); d++) {
            for (let h = Math.max(lo[1], 0); h < Math.min(lo[1] + c.k[1], H); h++) {
              for (let w = Math.max(lo[2], 0); w < Math.min(lo[2] + c.k[2], W); w++) inside.push((d * H + h) * W + w);
            }
          }
          const g = gy[ch * outVol + (od * out[1] + oh) * out[2] + ow];
          avg.push(inside.reduce((sum, q) => sum + x[ch * vol + q], 0) / divisor);
          for (const q of inside) gxAvg[ch * vol + q] += g / divisor;
          // the first voxel, then strictly greater or NaN
          let best = -Infinity, at = inside[0];
          for (const q of inside) if (x[ch * vol + q] > best || Number.isNaN(x[ch * vol + q])) { best = x[ch * vol + q]; at = q; }
          maxV.push(best); maxI.push(at);
        }
      }
      const label = JSON.stringify(c);
      expect(await read(cpu.avgPool3d(f64(x), xShape, params)), `avg ${label}`).toEqual(avg);
      expect(await read(cpu.avgPool3dBackward(f64(gy), yShape, xShape, params)), `avg backward ${label}`).toEqual(gxAvg);
      const { values, indices } = cpu.maxPool3d(f64(x), xShape, { ...params, divisorOverride: undefined });
      expect(await read(values), `max ${label}`).toEqual(maxV);
      expect(await read(indices), `indices ${label}`).toEqual(maxI);
      const gxMax = new Array<number>(c.nc * vol).fill(0);
      maxI.forEach((q, i) => { gxMax[Math.floor(i / outVol) * vol + q] += gy[i]; });
      expect(await read(cpu.maxPool3dBackward(f64(gy), indices, yShape, xShape)), `max backward ${label}`).toEqual(gxMax);
    }), propertyOptions(150));
  });
});
