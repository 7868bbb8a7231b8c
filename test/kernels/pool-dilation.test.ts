import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Pool3dParams } from '../../src/kernels/index.js';
import { sizeOf } from '../../src/kernels/layout.js';
import { cpu, expectMaxPoolLikeCpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * Max pooling with dilation (PyTorch's max_pool3d dilation): the taps of window o along an axis are
 * o·stride − padding + j·dilation for j < kernel, those outside the input skipped; the first tap inside is the
 * starting index, a later value wins if strictly greater or NaN. The cpu oracle against a plain reference written from
 * that definition, by hand, WebGPU against the oracle on random shapes, and the refusals.
 */

const read = async (s: Parameters<typeof cpu.read>[0]) => Array.from(await cpu.read(s));

/** PyTorch's output extent with dilation, or 0 when the pooling is refused (padding over half the kernel, no output, an empty window) */
function outExtent(n: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  if (p > Math.floor(k / 2)) return 0;
  let out = Math.floor((n + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0)) / s) + 1;
  if (ceil && (out - 1) * s >= n + p) out--;
  for (let o = 0; o < out; o++) if (!Array.from({ length: k }, (_, j) => o * s - p + j * d).some((t) => t >= 0 && t < n)) return 0;
  return Math.max(out, 0);
}

/** values and indices by the definition: per output, every tap of the window in C order */
function reference(x: ArrayLike<number>, xShape: number[], p: Required<Pick<Pool3dParams, 'kernel' | 'stride' | 'padding' | 'dilation'>>, out: number[]) {
  const [n, c, D, H, W] = xShape, size = [D, H, W];
  const values: number[] = [], indices: number[] = [];
  const taps = (o: number, a: number) => Array.from({ length: p.kernel[a] }, (_, j) => o * p.stride[a] - p.padding[a] + j * p.dilation[a]).filter((t) => t >= 0 && t < size[a]);
  for (let nc = 0; nc < n * c; nc++) {
    for (let od = 0; od < out[0]; od++) for (let oh = 0; oh < out[1]; oh++) for (let ow = 0; ow < out[2]; ow++) {
      let best = -Infinity, at = -1;
      for (const d of taps(od, 0)) for (const h of taps(oh, 1)) for (const w of taps(ow, 2)) {
        const q = (d * H + h) * W + w, v = x[nc * D * H * W + q];
        if (at < 0) at = q;
        if (v > best || Number.isNaN(v)) { best = v; at = q; }
      }
      values.push(best);
      indices.push(at);
    }
  }
  return { values, indices };
}

describe('max pooling with dilation by hand', () => {
  const xs = [1, 5, 2, 0, 3, 3, 7, 1];
  const pool = (p: Partial<Pool3dParams> & Pick<Pool3dParams, 'kernel'>) =>
    cpu.maxPool3d(cpu.upload(Float64Array.from(xs), 'float64'), [1, 1, 1, 1, 8], { stride: [1, 1, 1], padding: [0, 0, 0], ...p });

  it('kernel 3, dilation 2 along W: windows {0, 2, 4}, {1, 3, 5}, {2, 4, 6}, {3, 5, 7}', async () => {
    const { values, indices } = pool({ kernel: [1, 1, 3], dilation: [1, 1, 2] });
    expect(await read(values)).toEqual([3, 5, 7, 3]);
    expect(await read(indices)).toEqual([4, 1, 6, 5]);
  });

  it('with padding 1 and stride 3: taps in the padding are skipped, the first tap inside starts the search', async () => {
    // out = ⌊(8 + 2 − 4 − 1)/3⌋ + 1 = 2: taps {−1, 1, 3} and {2, 4, 6}
    const { values, indices } = pool({ kernel: [1, 1, 3], stride: [1, 1, 3], padding: [0, 0, 1], dilation: [1, 1, 2] });
    expect(await read(values)).toEqual([5, 7]);
    expect(await read(indices)).toEqual([1, 6]);
  });

  it('refuses a window with no tap inside the input, dilation < 1, and dilation for average pooling', () => {
    // W = 2, kernel 2, padding 1, dilation 3: one output whose taps −1 and 2 both miss (PyTorch: −inf at index 2)
    const x = cpu.upload(Float64Array.from([1, 2]), 'float64');
    expect(() => cpu.maxPool3d(x, [1, 1, 1, 1, 2], { kernel: [1, 1, 2], stride: [1, 1, 1], padding: [0, 0, 1], dilation: [1, 1, 3] }))
      .toThrow('maxPool3d: window 0 along spatial axis 2 has no tap inside the input [1, 1, 1, 1, 2] (kernel 2, stride 1, padding 1, dilation 3)');
    expect(() => cpu.maxPool3d(x, [1, 1, 1, 1, 2], { kernel: [1, 1, 1], stride: [1, 1, 1], padding: [0, 0, 0], dilation: [1, 1, 0] }))
      .toThrow('maxPool3d: dilation [1, 1, 0] must be integers ≥ 1');
    expect(() => cpu.avgPool3d(x, [1, 1, 1, 1, 2], { kernel: [1, 1, 1], stride: [1, 1, 1], padding: [0, 0, 0], dilation: [1, 1, 2] }))
      .toThrow("avgPool3d: takes no dilation (PyTorch's has none), got [1, 1, 2]");
  });
});

const dilatedCase = fc.record({
  n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 2 }),
  in: fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 })),
  k: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  s: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  p: fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 })),
  d: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  ceil: fc.boolean(),
  ties: fc.boolean(),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
}).map((r) => ({ ...r, out: [0, 1, 2].map((a) => outExtent(r.in[a], r.k[a], r.s[a], r.p[a], r.d[a], r.ceil)) }))
  .filter((r) => r.out.every((o) => o >= 1));

function caseOf(r: { n: number; c: number; in: number[]; k: number[]; s: number[]; p: number[]; d: number[]; ceil: boolean; out: number[] }) {
  const t = (v: number[]): [number, number, number] => [v[0], v[1], v[2]];
  const p = { kernel: t(r.k), stride: t(r.s), padding: t(r.p), dilation: t(r.d) };
  return { xShape: [r.n, r.c, ...r.in], gyShape: [r.n, r.c, ...r.out], p, params: { ...p, ceilMode: r.ceil } as Pool3dParams };
}

describe('max pooling with dilation on random shapes', () => {
  it('the cpu oracle equals the reference (float64)', async () => {
    await fc.assert(fc.asyncProperty(dilatedCase, async (r) => {
      const { xShape, p, params } = caseOf(r);
      let x = randomArray(sizeOf(xShape), r.seed);
      if (r.ties) x = x.map((v) => Math.round(v * 2));
      const want = reference(x, xShape, p, r.out);
      const got = cpu.maxPool3d(cpu.upload(Float64Array.from(x), 'float64'), xShape, params);
      expect(await read(got.indices)).toEqual(want.indices);
      expect(await read(got.values)).toEqual(want.values);
    }), { numRuns: 60 });
  });

  it('WebGPU equals the cpu oracle: values, indices and the backward', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(dilatedCase, async (r) => {
      const { xShape, gyShape, params } = caseOf(r);
      await expectMaxPoolLikeCpu(gpu, xShape, gyShape, params, r.seed, r.ties);
    }), { numRuns: 40 });
  });
});
