import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backward, gradcheck, sum } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { DVF2DDF, dvf2ddf, Warp, warp, type WarpOptions } from '../../src/models/warp.js';
import { dispose, fromArray, liveTensorCount, sizeOf, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, valuesOf as value, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

const f64 = { backend: cpu, dtype: 'float64' as const };

/** A position mirrored at 0 and at span until it lies in [0, span] (PyTorch's reflection with alignCorners). */
function reflectAbout(v: number, span: number): number {
  const x = Math.abs(v), flips = Math.floor(x / span), rest = x - flips * span;
  return flips % 2 === 0 ? rest : span - rest;
}

/**
 * MONAI's Warp written out with plain loops: the image sampled at voxel (d + u₀, h + u₁, w + u₂), trilinearly (corners
 * outside the volume count 0) or at the nearest voxel (ties to even, as PyTorch's nearbyint); 'border' clamps the
 * position into the volume first.
 */
function referenceWarp(image: ArrayLike<number>, shape: readonly number[], ddf: ArrayLike<number>, options: Required<WarpOptions>): number[] {
  const [N, C, D, H, W] = shape, extents = [D, H, W], n = D * H * W;
  const at = (b: number, c: number, p: number[]) => (p.every((v, a) => v >= 0 && v < extents[a]) ? image[((b * C + c) * D + p[0]) * H * W + p[1] * W + p[2]] : 0);
  const roundHalfEven = (v: number) => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
  const out: number[] = [];
  for (let b = 0; b < N; b++) for (let c = 0; c < C; c++) for (let d = 0; d < D; d++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
    const voxel = (d * H + h) * W + w;
    let pos = [d, h, w].map((v, a) => v + ddf[(b * 3 + a) * n + voxel]);
    if (options.paddingMode === 'border') pos = pos.map((v, a) => Math.min(Math.max(v, 0), extents[a] - 1));
    if (options.paddingMode === 'reflection') pos = pos.map((v, a) => reflectAbout(v, extents[a] - 1));
    if (options.mode === 'nearest') { out.push(at(b, c, pos.map(roundHalfEven))); continue; }
    const lo = pos.map(Math.floor), f = pos.map((v, a) => v - lo[a]);
    let s = 0;
    for (let corner = 0; corner < 8; corner++) {
      const bits = [(corner >> 2) & 1, (corner >> 1) & 1, corner & 1];
      s += bits.reduce((wgt, bit, a) => wgt * (bit ? f[a] : 1 - f[a]), 1) * at(b, c, lo.map((v, a) => v + bits[a]));
    }
    out.push(s);
  }
  return out;
}

describe('warp (MONAI Warp)', () => {
  it('hand-computed: channel i moves along spatial axis i; border clamps, zeros reads 0 outside', async () => {
    // image [1, 1, 2, 2, 3] = 0…11 (d, h, w); ddf: +½ voxel along D, +1 along W
    const image = fromArray(Array.from({ length: 12 }, (_, i) => i), [1, 1, 2, 2, 3], f64);
    const ddf = fromArray([...Array<number>(12).fill(0.5), ...Array<number>(12).fill(0), ...Array<number>(12).fill(1)], [1, 3, 2, 2, 3], f64);
    // d = 0: the mean of the two slices at w + 1 (border: w = 2 stays at 2); d = 1: d + ½ clamps to the last slice
    expect(await value(warp(image, ddf))).toEqual([4, 5, 5, 7, 8, 8, 7, 8, 8, 10, 11, 11]);
    // zeros: w + 1 = 3 is outside; d = 1.5 is half outside
    expect(await value(warp(image, ddf, { paddingMode: 'zeros' }))).toEqual([4, 5, 0, 7, 8, 0, 3.5, 4, 0, 5, 5.5, 0]);
    // nearest: d + ½ rounds to even (0 → 0, 1.5 → 2, clamped by border to 1)
    expect(await value(new Warp({ mode: 'nearest' }).forward(image, ddf))).toEqual([1, 2, 2, 4, 5, 5, 7, 8, 8, 10, 11, 11]);
    dispose([image, ddf]);
  });

  it('equals the plain-loop reference on random shapes, modes and displacements (fast-check)', async () => {
    await fc.assert(fc.asyncProperty(fc.record({
      n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 2 }),
      spatial: fc.tuple(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 2, max: 4 }), fc.integer({ min: 2, max: 4 })),
      mode: fc.constantFrom<'bilinear' | 'nearest'>('bilinear', 'nearest'), paddingMode: fc.constantFrom<'zeros' | 'border' | 'reflection'>('zeros', 'border', 'reflection'),
      amplitude: fc.constantFrom(0.4, 1.5, 3), seed: fc.integer({ min: 1, max: 1 << 30 }),
    }), async (r) => {
      const shape = [r.n, r.c, ...r.spatial], ddfShape = [r.n, 3, ...r.spatial];
      const img = randomArray(sizeOf(shape), r.seed, -1, 1), u = randomArray(sizeOf(ddfShape), r.seed + 1, -r.amplitude, r.amplitude);
      const [x, d] = [fromArray(img, shape, f64), fromArray(u, ddfShape, f64)];
      const options = { mode: r.mode, paddingMode: r.paddingMode };
      expectClose(await value(warp(x, d, options)), referenceWarp(img, shape, u, options), 1e-12, 1e-12);
      dispose([x, d]);
    }), propertyOptions(12));
  });

  it('gradcheck in the image and the displacement (bilinear, both paddings)', async () => {
    for (const paddingMode of ['border', 'zeros'] as const) {
      const inputs = [{ data: randomArray(2 * 3 * 3 * 4, 5, -1, 1), shape: [1, 2, 3, 3, 4] }, { data: randomArray(3 * 3 * 3 * 4, 6, -0.8, 0.8), shape: [1, 3, 3, 3, 4] }];
      const r = await gradcheck((x, u) => warp(x, u, { paddingMode }), inputs, { backend: cpu });
      expect(r.ok, r.message).toBe(true);
    }
  });

  it('refuses a wrong rank, a ddf of another shape, an extent of 1 and unknown modes, naming them', () => {
    const x = fromArray(Array<number>(8).fill(0), [1, 1, 2, 2, 2], f64), u = fromArray(Array<number>(24).fill(0), [1, 3, 2, 2, 2], f64);
    const flat = fromArray(Array<number>(4).fill(0), [1, 1, 2, 2], f64), two = fromArray(Array<number>(16).fill(0), [1, 2, 2, 2, 2], f64);
    const thin = fromArray(Array<number>(4).fill(0), [1, 1, 1, 2, 2], f64), thinU = fromArray(Array<number>(12).fill(0), [1, 3, 1, 2, 2], f64);
    expect(() => warp(flat, u)).toThrow('warp: image [1, 1, 2, 2] must be [N, C, D, H, W] (three spatial axes)');
    expect(() => warp(x, two)).toThrow('warp: ddf [1, 2, 2, 2, 2] must be [1, 3, 2, 2, 2] for image [1, 1, 2, 2, 2]');
    expect(() => warp(thin, thinU)).toThrow('warp: every spatial extent of image [1, 1, 1, 2, 2] must be at least 2');
    expect(() => warp(x, u, { mode: 'bicubic' as 'nearest' })).toThrow('warp: mode must be one of bilinear, nearest, got bicubic');
    expect(() => new Warp({ paddingMode: 'mirror' as 'zeros' })).toThrow('Warp: paddingMode must be one of zeros, border, reflection, got mirror');
    expect(() => new DVF2DDF({ numSteps: 0 })).toThrow('DVF2DDF: numSteps must be a positive integer, got 0');
    expect(() => dvf2ddf(x)).toThrow('dvf2ddf: ddf [1, 1, 2, 2, 2] must be [1, 3, 2, 2, 2] for image [1, 1, 2, 2, 2]');
    dispose([x, u, flat, two, thin, thinU]);
  });

  it('prints as MONAI configures it', () => {
    expect(String(new Warp()).split('\n')[0]).toBe("Warp(mode='bilinear', paddingMode='border')");
    expect(String(new DVF2DDF({ numSteps: 3 })).split('\n')[0]).toBe("DVF2DDF(numSteps=3, mode='bilinear', paddingMode='zeros')");
  });
});

describe('dvf2ddf (MONAI DVF2DDF, scaling and squaring)', () => {
  it('hand-computed: a constant velocity under border padding is its own displacement; zero stays zero', async () => {
    const v = fromArray(Array<number>(36).fill(0.3), [1, 3, 2, 2, 3], f64), zero = fromArray(Array<number>(36).fill(0), [1, 3, 2, 2, 3], f64);
    // 0.3/4 → +warp of a constant = 0.15 → 0.3
    expectClose(await value(dvf2ddf(v, { numSteps: 2, paddingMode: 'border' })), Array<number>(36).fill(0.3), 1e-15, 0);
    expect(await value(new DVF2DDF().forward(zero))).toEqual(Array<number>(36).fill(0));
    dispose([v, zero]);
  });

  it('equals numSteps squarings of the plain-loop warp (fast-check)', async () => {
    await fc.assert(fc.asyncProperty(fc.record({
      spatial: fc.tuple(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 2, max: 4 }), fc.integer({ min: 2, max: 4 })),
      numSteps: fc.integer({ min: 1, max: 4 }), paddingMode: fc.constantFrom<'zeros' | 'border' | 'reflection'>('zeros', 'border', 'reflection'), seed: fc.integer({ min: 1, max: 1 << 30 }),
    }), async (r) => {
      const shape = [1, 3, ...r.spatial], v = randomArray(sizeOf(shape), r.seed, -2, 2);
      let ddf = Array.from(v, (x) => x / 2 ** r.numSteps);
      for (let s = 0; s < r.numSteps; s++) {
        const warped = referenceWarp(ddf, shape, ddf, { mode: 'bilinear', paddingMode: r.paddingMode });
        ddf = ddf.map((x, i) => x + warped[i]);
      }
      const t = fromArray(v, shape, f64);
      expectClose(await value(dvf2ddf(t, { numSteps: r.numSteps, paddingMode: r.paddingMode })), ddf, 1e-12, 1e-12);
      t.dispose();
    }), propertyOptions(8));
  });

  it('gradcheck in the velocity', async () => {
    const r = await gradcheck((v) => dvf2ddf(v, { numSteps: 3 }), [{ data: randomArray(3 * 2 * 3 * 3, 7, -1.5, 1.5), shape: [1, 3, 2, 3, 3] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
  });
});

describe('warp and dvf2ddf on WebGPU', () => {
  it('value and gradients match the cpu within float32 rounding', async () => {
    const gpu = await webgpu();
    const shape = [2, 2, 3, 4, 3], ddfShape = [2, 3, 3, 4, 3];
    const img = randomArray(sizeOf(shape), 41, -1, 1), u = randomArray(sizeOf(ddfShape), 42, -1.5, 1.5);
    const run = async (backend: Backend) => {
      const dtype = backend === cpu ? 'float64' as const : 'float32' as const;
      const x = fromArray(img, shape, { backend, dtype, requiresGrad: true }), d = fromArray(u, ddfShape, { backend, dtype, requiresGrad: true });
      const warped = warp(x, d), ddf = dvf2ddf(d, { numSteps: 4 });
      const total: Tensor = sum(warped);
      backward(total);
      const result = { warped: await value(warped), ddf: await value(ddf), gx: await value(x.grad!), gu: await value(d.grad!) };
      dispose([x, d, warped, ddf, total]);
      return result;
    };
    const [want, got] = [await run(cpu), await run(gpu)];
    for (const k of ['warped', 'ddf', 'gx', 'gu'] as const) expectClose(got[k], want[k], 1e-5, 1e-4, k);
  });
});

describe('Warp and DVF2DDF keep their sampling grid', () => {
  /** backend.upload wrapped to count the reference grids (D·H·W·3 values) it uploads */
  function countGridUploads(backend: Backend, voxels: number): { count: () => number; restore: () => void } {
    const upload = backend.upload.bind(backend);
    let grids = 0;
    backend.upload = (data, dtype) => { if (data.length === voxels * 3) grids++; return upload(data, dtype); };
    return { count: () => grids, restore: () => { backend.upload = upload; } };
  }

  it('one grid per spatial shape, backend and dtype across calls and tidy scopes, the same numbers as warp(), freed by dispose', async () => {
    for (const backend of [cpu, await webgpu()]) {
      const shape = [1, 2, 3, 4, 5], voxels = 3 * 4 * 5;
      const image = fromArray(randomArray(sizeOf(shape), 5), shape, { backend });
      const ddf = fromArray(randomArray(3 * voxels, 6).map((v) => 3 * v - 1.5), [1, 3, 3, 4, 5], { backend });
      const module = new Warp({ paddingMode: 'zeros' }), velocity = new DVF2DDF({ numSteps: 3 });
      const want = await value(warp(image, ddf, { paddingMode: 'zeros' }));
      const wantDdf = await value(dvf2ddf(ddf, { numSteps: 3 }));
      const live = liveTensorCount();
      const uploads = countGridUploads(backend, voxels);
      try {
        for (let call = 0; call < 3; call++) {
          expect(await value(tidy(() => module.forward(image, ddf))), backend.name).toEqual(want);
          expect(await value(tidy(() => velocity.forward(ddf))), backend.name).toEqual(wantDdf);
        }
        expect(uploads.count(), backend.name).toBe(2);
        expect(liveTensorCount(), backend.name).toBe(live + 4);
        // another shape replaces the grid (the cache holds one)
        const small = tidy(() => module.forward(fromArray(randomArray(8, 7), [1, 1, 2, 2, 2], { backend }), fromArray(new Float32Array(24), [1, 3, 2, 2, 2], { backend })));
        small.dispose();
        expect(liveTensorCount(), backend.name).toBe(live + 4);
      } finally {
        uploads.restore();
      }
      module.dispose();
      velocity.dispose();
      expect(liveTensorCount(), backend.name).toBe(live);
      dispose([image, ddf]);
    }
  });

  it('a replaced grid stays valid for a graph that saved it (backward after a call of another shape)', async () => {
    const module = new Warp();
    const image = fromArray(randomArray(27, 8), [1, 1, 3, 3, 3], { backend: cpu, requiresGrad: true });
    const ddf = fromArray(randomArray(81, 9).map((v) => v - 0.5), [1, 3, 3, 3, 3], { backend: cpu, requiresGrad: true });
    const loss = sum(module.forward(image, ddf));
    tidy(() => { module.forward(fromArray(new Float32Array(8), [1, 1, 2, 2, 2], { backend: cpu }), fromArray(new Float32Array(24), [1, 3, 2, 2, 2], { backend: cpu })); });
    backward(loss);
    const reference = fromArray(await image.toArray(), [1, 1, 3, 3, 3], { backend: cpu, requiresGrad: true });
    const referenceDdf = fromArray(await ddf.toArray(), [1, 3, 3, 3, 3], { backend: cpu, requiresGrad: true });
    const referenceLoss = sum(warp(reference, referenceDdf));
    backward(referenceLoss);
    expect(await value(ddf.grad!)).toEqual(await value(referenceDdf.grad!));
    expect(await value(image.grad!)).toEqual(await value(reference.grad!));
    module.dispose();
    dispose([image, ddf, loss, reference, referenceDdf, referenceLoss]);
  });
});
