import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backward, gradcheck, sum } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import {
  BendingEnergyLoss, bendingEnergyLoss, DiffusionLoss, diffusionLoss, GlobalMutualInformationLoss, globalMutualInformationLoss, LocalNormalizedCrossCorrelationLoss,
  localNormalizedCrossCorrelationLoss, nccKernel, type NccKernelType,
} from '../../src/models/losses-registration.js';
import { dispose, fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, valuesOf as value, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

const f64 = { backend: cpu, dtype: 'float64' as const };
type Reduction = 'mean' | 'sum' | 'none';

const reduceReference = (v: number[], reduction: Reduction, sign = 1): number[] =>
  (reduction === 'none' ? v.map((x) => sign * x) : [sign * v.reduce((s, x) => s + x, 0) / (reduction === 'mean' ? v.length : 1)]);

/** row-major multi-indices of a shape */
function indices(shape: readonly number[]): number[][] {
  const out: number[][] = [];
  const walk = (prefix: number[]) => {
    if (prefix.length === shape.length) { out.push(prefix); return; }
    for (let i = 0; i < shape[prefix.length]; i++) walk([...prefix, i]);
  };
  walk([]);
  return out;
}

const flatIndex = (shape: readonly number[], idx: readonly number[]) => idx.reduce((f, v, a) => f * shape[a] + v, 0);

/** MONAI's local NCC per voxel, with plain window loops (weights k[a]·k[b]·…, zero outside the volume) */
function referenceNcc(p: ArrayLike<number>, t: ArrayLike<number>, shape: readonly number[], kernel: readonly number[], smoothNr: number, smoothDr: number): number[] {
  const r = (kernel.length - 1) / 2, spatial = shape.slice(2), vol = kernel.reduce((s, v) => s + v, 0) ** spatial.length;
  return indices(shape).map((idx) => {
    let [ts, ps, t2, p2, tp] = [0, 0, 0, 0, 0];
    for (const offset of indices(spatial.map(() => kernel.length))) {
      const q = idx.map((v, a) => (a < 2 ? v : v + offset[a - 2] - r));
      if (q.some((v, a) => a >= 2 && (v < 0 || v >= shape[a]))) continue;
      const w = offset.reduce((s, o) => s * kernel[o], 1), i = flatIndex(shape, q);
      ts += w * t[i]; ps += w * p[i]; t2 += w * t[i] * t[i]; p2 += w * p[i] * p[i]; tp += w * t[i] * p[i];
    }
    const cross = tp - (ps / vol) * ts;
    return (cross * cross + smoothNr) / (Math.max(t2 - (ts / vol) * ts, smoothDr) * Math.max(p2 - (ps / vol) * ps, smoothDr));
  });
}

/**
 * The bending energy (second = true) or diffusion per interior voxel from the second/first central differences written
 * out directly: ∂_i∂_j u(x) = (u(x+e_i+e_j) − u(x+e_i−e_j) − u(x−e_i+e_j) + u(x−e_i−e_j))/4, ∂_i u(x) = (u(x+e_i) − u(x−e_i))/2,
 * each scaled by S_i·S_j/S_c (S_i/S_c) when normalizing.
 */
function referenceDeformation(u: ArrayLike<number>, shape: readonly number[], second: boolean, normalize: boolean): number[] {
  const dims = shape.length - 2, margin = second ? 2 : 1, S = shape.slice(2);
  const inner = [...shape.slice(0, 2), ...S.map((s) => s - 2 * margin)];
  const at = (idx: readonly number[], moves: readonly [number, number][]) => {
    const q = [...idx];
    for (const [axis, step] of moves) q[2 + axis] += step;
    return u[flatIndex(shape, q)];
  };
  return indices(inner).map((ii) => {
    const idx = ii.map((v, a) => (a < 2 ? v : v + margin)), c = idx[1];
    let total = 0;
    for (let i = 0; i < dims; i++) {
      if (!second) {
        total += ((at(idx, [[i, 1]]) - at(idx, [[i, -1]])) / 2 * (normalize ? S[i] / S[c] : 1)) ** 2;
        continue;
      }
      for (let j = i; j < dims; j++) {
        const dij = (at(idx, [[i, 1], [j, 1]]) - at(idx, [[i, 1], [j, -1]]) - at(idx, [[i, -1], [j, 1]]) + at(idx, [[i, -1], [j, -1]])) / 4;
        total += (i === j ? 1 : 2) * (dij * (normalize ? (S[i] * S[j]) / S[c] : 1)) ** 2;
      }
    }
    return total;
  });
}

/** MONAI's global MI per batch element with plain loops over samples and bins (Gaussian or B-spline Parzen windows) */
function referenceMi(p: ArrayLike<number>, t: ArrayLike<number>, batch: number, kernelType: 'gaussian' | 'b-spline', bins: number, sigmaRatio: number): number[] {
  const n = p.length / batch, nr = 1e-7, dr = 1e-7;
  const weights = (x: ArrayLike<number>, order: 0 | 3): number[][] => {
    let raw: number[][];
    if (kernelType === 'gaussian') {
      const sigma = sigmaRatio / (bins - 1);
      raw = Array.from(x, (v) => Array.from({ length: bins }, (_, k) => Math.exp(-((Math.min(Math.max(v, 0), 1) - k / (bins - 1)) ** 2) / (2 * sigma * sigma))));
    } else {
      const lo = Math.min(...Array.from(x)), hi = Math.max(...Array.from(x)), size = (hi - lo) / (bins - 4);
      raw = Array.from(x, (v) => {
        const pos = Math.min(Math.max(v / size - (lo / size - 2), 2), bins - 3);
        return Array.from({ length: bins }, (_, k) => {
          const s = Math.abs(k - pos);
          if (order === 0) return s < 0.5 ? 1 : s === 0.5 ? 0.5 : 0;
          return s < 1 ? (4 - 6 * s * s + 3 * s ** 3) / 6 : s < 2 ? (2 - s) ** 3 / 6 : 0;
        });
      });
    }
    return raw.map((w) => { const z = w.reduce((a, b) => a + b, 0); return w.map((v) => v / z); });
  };
  const [wa, wb] = [weights(p, 3), weights(t, 0)];
  return Array.from({ length: batch }, (_, b) => {
    const rows = (w: number[][]) => w.slice(b * n, (b + 1) * n);
    const [A, B] = [rows(wa), rows(wb)];
    const pa = Array.from({ length: bins }, (_, k) => A.reduce((s, w) => s + w[k], 0) / n);
    const pb = Array.from({ length: bins }, (_, k) => B.reduce((s, w) => s + w[k], 0) / n);
    let mi = 0;
    for (let k = 0; k < bins; k++) for (let l = 0; l < bins; l++) {
      const pab = A.reduce((s, w, i) => s + w[k] * B[i][l], 0) / n;
      mi += pab * Math.log((pab + nr) / (pa[k] * pb[l] + dr) + dr);
    }
    return mi;
  });
}

describe('localNormalizedCrossCorrelationLoss (MONAI LocalNormalizedCrossCorrelationLoss)', () => {
  it('hand-computed: pred [1, 2, 4], target [1, 3, 2], a 3-window (zero outside)', async () => {
    // window sums t: 4 6 5, p: 3 7 6, t²: 10 14 13, p²: 5 21 20, tp: 7 15 14 (window volume 3)
    // cross 3 1 4, var_t 14/3 2 14/3, var_p 2 14/3 8 → ncc 27/28, 3/28, 12/28; mean ½; smoothNr 1: 30/28, 6/28, 51/112
    const p = fromArray([1, 2, 4], [1, 1, 3], f64), t = fromArray([1, 3, 2], [1, 1, 3], f64);
    expectClose(await value(localNormalizedCrossCorrelationLoss(p, t, { spatialDims: 1 })), [-0.5], 1e-15, 0);
    expectClose(await value(localNormalizedCrossCorrelationLoss(p, t, { spatialDims: 1, reduction: 'none' })), [-27 / 28, -3 / 28, -12 / 28], 1e-15, 0);
    expectClose(await value(new LocalNormalizedCrossCorrelationLoss({ spatialDims: 1, reduction: 'sum', smoothNr: 1 }).forward(p, t)), [-(30 / 28 + 6 / 28 + 51 / 112)], 1e-15, 0);
    dispose([p, t]);
  });

  it("MONAI's window weights: triangular and (off-centre) Gaussian", () => {
    expect(nccKernel(3, 'rectangular')).toEqual([1, 1, 1]);
    expect(nccKernel(3, 'triangular')).toEqual([0, 1, 0]);
    expectClose(nccKernel(5, 'triangular'), [1, 2, 3, 2, 1].map((v) => v / 9), 1e-16, 0);
    expectClose(nccKernel(7, 'triangular'), [0, 1, 2, 3, 2, 1, 0].map((v) => v / 9), 1e-16, 0);
    expectClose(nccKernel(3, 'gaussian'), [Math.exp(-0.5), 1, Math.exp(-0.5)], 1e-16, 0);
    // σ = 5/3 sampled at −3…3, its first five samples
    expectClose(nccKernel(5, 'gaussian'), [-3, -2, -1, 0, 1].map((x) => Math.exp(-(x * x) / (2 * 25 / 9))), 1e-16, 0);
  });

  it('equals the plain-loop reference on random shapes, kernels and reductions (fast-check)', async () => {
    await fc.assert(fc.asyncProperty(fc.record({
      n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 2 }), spatial: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }),
      kernelSize: fc.constantFrom(1, 3, 5), kernelType: fc.constantFrom<NccKernelType>('rectangular', 'triangular', 'gaussian'),
      reduction: fc.constantFrom<Reduction>('mean', 'sum', 'none'), smoothNr: fc.constantFrom(0, 0.1), smoothDr: fc.constantFrom(1e-5, 0.3),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
    }), async (r) => {
      const shape = [r.n, r.c, ...r.spatial];
      const pv = randomArray(sizeOf(shape), r.seed, -1, 1), tv = randomArray(sizeOf(shape), r.seed + 1, -1, 1);
      const [p, t] = [fromArray(pv, shape, f64), fromArray(tv, shape, f64)];
      const { reduction, kernelSize, kernelType, smoothNr, smoothDr } = r;
      const got = await value(localNormalizedCrossCorrelationLoss(p, t, { spatialDims: r.spatial.length, kernelSize, kernelType, smoothNr, smoothDr, reduction }));
      expectClose(got, reduceReference(referenceNcc(pv, tv, shape, nccKernel(kernelSize, kernelType), smoothNr, smoothDr), reduction, -1), 1e-9, 1e-9);
      dispose([p, t]);
    }), propertyOptions(15));
  });

  it('gradcheck in pred and target (3-D, each kernel type)', async () => {
    for (const kernelType of ['rectangular', 'triangular', 'gaussian'] as const) {
      const shape = [1, 2, 3, 4, 3];
      const inputs = [{ data: randomArray(sizeOf(shape), 8, -1, 1), shape }, { data: randomArray(sizeOf(shape), 9, -1, 1), shape }];
      const r = await gradcheck((p, t) => localNormalizedCrossCorrelationLoss(p, t, { kernelType, kernelSize: kernelType === 'rectangular' ? 3 : 5 }), inputs, { backend: cpu });
      expect(r.ok, `${kernelType}: ${r.message}`).toBe(true);
    }
  });

  it('refuses an even kernelSize, a wrong rank, another target shape and unknown options, naming them', () => {
    const p = fromArray(Array<number>(8).fill(0), [1, 1, 2, 2, 2], f64), q = fromArray(Array<number>(4).fill(0), [1, 1, 2, 2], f64);
    expect(() => localNormalizedCrossCorrelationLoss(p, p, { kernelSize: 4 })).toThrow('localNormalizedCrossCorrelationLoss: kernelSize must be a positive odd integer, got 4');
    expect(() => new LocalNormalizedCrossCorrelationLoss({ kernelSize: 2 })).toThrow('LocalNormalizedCrossCorrelationLoss: kernelSize must be a positive odd integer, got 2');
    expect(() => localNormalizedCrossCorrelationLoss(q, q)).toThrow('localNormalizedCrossCorrelationLoss: pred [1, 1, 2, 2] must have 3 spatial axes ([N, C, ...spatial]; spatialDims 3)');
    expect(() => localNormalizedCrossCorrelationLoss(p, q)).toThrow('localNormalizedCrossCorrelationLoss: target [1, 1, 2, 2] must have the shape of input [1, 1, 2, 2, 2]');
    expect(() => new LocalNormalizedCrossCorrelationLoss({ kernelType: 'box' as 'gaussian' })).toThrow("kernelType must be 'rectangular', 'triangular' or 'gaussian', got box");
    expect(() => new LocalNormalizedCrossCorrelationLoss({ kernelType: 3 as unknown as 'gaussian' })).toThrow('LocalNormalizedCrossCorrelationLoss: option kernelType must be a string, got 3');
    expect(() => new LocalNormalizedCrossCorrelationLoss({ spatialDims: 4 })).toThrow('LocalNormalizedCrossCorrelationLoss: spatialDims must be 1, 2 or 3, got 4');
    expect(() => new LocalNormalizedCrossCorrelationLoss({ kernel_size: 3 } as object)).toThrow("unknown option 'kernel_size' (did you mean 'kernelSize'?)");
    dispose([p, q]);
  });
});

describe('bendingEnergyLoss and diffusionLoss (MONAI deform losses)', () => {
  it('hand-computed: u = x² along one axis; u₀ = x·y in 2-D', async () => {
    const square = fromArray([0, 1, 4, 9, 16], [1, 1, 5], f64);
    // first differences 2, 4, 6 (mean of squares 56/3); second difference 2 at the centre
    expectClose(await value(diffusionLoss(square)), [56 / 3], 1e-14, 0);
    expect(await value(bendingEnergyLoss(square))).toEqual([4]);
    expect(await value(new BendingEnergyLoss({ normalize: true }).forward(square))).toEqual([4 * 25]);
    // [1, 2, 5, 7]: u₀ = x·y, u₁ = 0 → ∂x∂y u₀ = 1, weighted 2, at 1·3 interior voxels per channel
    const xy = fromArray([...Array.from({ length: 35 }, (_, i) => Math.floor(i / 7) * (i % 7)), ...Array<number>(35).fill(0)], [1, 2, 5, 7], f64);
    expect(await value(bendingEnergyLoss(xy, { reduction: 'none' }))).toEqual([2, 2, 2, 0, 0, 0]);
    expect(await value(bendingEnergyLoss(xy))).toEqual([1]);
    // normalized: (∂x∂y u₀ · 5 · 7 / 5)² · 2 = 98 on channel 0
    expect(await value(bendingEnergyLoss(xy, { normalize: true, reduction: 'sum' }))).toEqual([98 * 3]);
    // diffusion: ∂x u₀ = y, ∂y u₀ = x; with normalize ∂y u₀ is scaled by 7/5
    expectClose(await value(new DiffusionLoss({ reduction: 'sum' }).forward(xy)), [[1, 2, 3].reduce((s, x) => s + [1, 2, 3, 4, 5].reduce((t, y) => t + y * y + x * x, 0), 0)], 1e-12, 0);
    dispose([square, xy]);
  });

  it('equal the central-difference reference on random shapes (fast-check)', async () => {
    await fc.assert(fc.asyncProperty(fc.record({
      n: fc.integer({ min: 1, max: 2 }), spatial: fc.array(fc.integer({ min: 5, max: 7 }), { minLength: 1, maxLength: 3 }),
      normalize: fc.boolean(), reduction: fc.constantFrom<Reduction>('mean', 'sum', 'none'), seed: fc.integer({ min: 1, max: 1 << 30 }),
    }), async (r) => {
      const shape = [r.n, r.spatial.length, ...r.spatial], u = randomArray(sizeOf(shape), r.seed, -2, 2), t = fromArray(u, shape, f64);
      const options = { normalize: r.normalize, reduction: r.reduction };
      expectClose(await value(bendingEnergyLoss(t, options)), reduceReference(referenceDeformation(u, shape, true, r.normalize), r.reduction), 1e-10, 1e-10, 'bending');
      expectClose(await value(diffusionLoss(t, options)), reduceReference(referenceDeformation(u, shape, false, r.normalize), r.reduction), 1e-10, 1e-10, 'diffusion');
      t.dispose();
    }), propertyOptions(15));
  });

  it('gradcheck (3-D, normalized and not)', async () => {
    const shape = [1, 3, 5, 6, 5], inputs = [{ data: randomArray(sizeOf(shape), 10, -1, 1), shape }];
    for (const normalize of [false, true]) {
      for (const fn of [bendingEnergyLoss, diffusionLoss]) {
        const r = await gradcheck((u) => fn(u, { normalize }), inputs, { backend: cpu });
        expect(r.ok, `${fn.name} normalize ${normalize}: ${r.message}`).toBe(true);
      }
    }
  });

  it('refuse a wrong rank, small extents, a channel count other than the spatial axes, naming them', () => {
    const small = fromArray(Array<number>(3 * 64).fill(0), [1, 3, 4, 4, 4], f64), two = fromArray(Array<number>(2 * 125).fill(0), [1, 2, 5, 5, 5], f64);
    const flat = fromArray(Array<number>(5).fill(0), [5], f64);
    expect(() => bendingEnergyLoss(small)).toThrow('bendingEnergyLoss: every spatial extent of pred [1, 3, 4, 4, 4] must be at least 5');
    expect(() => diffusionLoss(two)).toThrow('diffusionLoss: pred [1, 2, 5, 5, 5] must have one channel per spatial axis (3), got 2');
    expect(() => diffusionLoss(flat)).toThrow('diffusionLoss: pred [5] must be [N, C, ...spatial] with 1, 2 or 3 spatial axes');
    expect(() => new BendingEnergyLoss({ reduction: 'max' as 'sum' })).toThrow("BendingEnergyLoss: unknown reduction 'max'; valid: mean, sum, none");
    dispose([small, two, flat]);
  });
});

describe('globalMutualInformationLoss (MONAI GlobalMutualInformationLoss)', () => {
  it('hand-computed: two bins, one sample at each centre, identical images', async () => {
    // gaussian, σ = ½: the weights of 0 are (1, e⁻²)/(1 + e⁻²), of 1 mirrored; p_a = p_b = (½, ½)
    const x = fromArray([0, 1], [1, 2], f64);
    const e = Math.exp(-2), w = [1 / (1 + e), e / (1 + e)];
    const pab = [[(w[0] ** 2 + w[1] ** 2) / 2, w[0] * w[1]], [w[0] * w[1], (w[0] ** 2 + w[1] ** 2) / 2]];
    const mi = pab.flat().reduce((s, v) => s + v * Math.log((v + 1e-7) / (0.25 + 1e-7) + 1e-7), 0);
    expectClose(await value(globalMutualInformationLoss(x, x, { numBins: 2 })), [-mi], 1e-15, 1e-15);
    x.dispose();
  });

  it('equals the plain-loop reference on random shapes, both kernels (fast-check)', async () => {
    await fc.assert(fc.asyncProperty(fc.record({
      batch: fc.integer({ min: 1, max: 3 }), rest: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
      kernelType: fc.constantFrom<'gaussian' | 'b-spline'>('gaussian', 'b-spline'), numBins: fc.integer({ min: 5, max: 12 }), sigmaRatio: fc.constantFrom(0.5, 1),
      reduction: fc.constantFrom<Reduction>('mean', 'sum', 'none'), seed: fc.integer({ min: 1, max: 1 << 30 }),
    }), async (r) => {
      const shape = [r.batch, ...r.rest];
      const pv = randomArray(sizeOf(shape), r.seed, -0.2, 1.2), tv = randomArray(sizeOf(shape), r.seed + 1, -0.2, 1.2);
      const [p, t] = [fromArray(pv, shape, f64), fromArray(tv, shape, f64)];
      const got = await value(globalMutualInformationLoss(p, t, { kernelType: r.kernelType, numBins: r.numBins, sigmaRatio: r.sigmaRatio, reduction: r.reduction }));
      expectClose(got, reduceReference(referenceMi(pv, tv, r.batch, r.kernelType, r.numBins, r.sigmaRatio), r.reduction, -1), 1e-10, 1e-9);
      dispose([p, t]);
    }), propertyOptions(15));
  });

  it('gradcheck in pred and target (gaussian) and in pred (b-spline)', async () => {
    const shape = [2, 1, 3, 2, 2];
    const inputs = [{ data: randomArray(sizeOf(shape), 11, 0.05, 0.95), shape }, { data: randomArray(sizeOf(shape), 12, 0.05, 0.95), shape }];
    const gaussian = await gradcheck((p, t) => globalMutualInformationLoss(p, t, { numBins: 6 }), inputs, { backend: cpu });
    expect(gaussian.ok, gaussian.message).toBe(true);
    const target = fromArray(inputs[1].data, shape, f64);
    const spline = await gradcheck((p) => globalMutualInformationLoss(p, target, { kernelType: 'b-spline', numBins: 8 }), [inputs[0]], { backend: cpu });
    expect(spline.ok, spline.message).toBe(true);
    target.dispose();
  });

  it('refuses too few bins, an unknown kernel and another target shape, naming them', () => {
    const x = fromArray([0, 1], [1, 2], f64), y = fromArray([0, 1], [2, 1], f64);
    expect(() => new GlobalMutualInformationLoss({ numBins: 1 })).toThrow("GlobalMutualInformationLoss: numBins must be an integer ≥ 2 for kernelType 'gaussian', got 1");
    expect(() => globalMutualInformationLoss(x, x, { kernelType: 'b-spline', numBins: 4 })).toThrow("numBins must be an integer ≥ 5 for kernelType 'b-spline', got 4");
    expect(() => new GlobalMutualInformationLoss({ kernelType: 'parzen' as 'gaussian' })).toThrow("kernelType must be 'gaussian' or 'b-spline', got parzen");
    expect(() => globalMutualInformationLoss(x, y)).toThrow('globalMutualInformationLoss: target [2, 1] must have the shape of input [1, 2]');
    dispose([x, y]);
  });
});

describe('the registration losses on WebGPU', () => {
  it('values and gradients match the cpu within float32 rounding', async () => {
    const gpu = await webgpu();
    const shape = [2, 3, 5, 6, 5];
    const pv = randomArray(sizeOf(shape), 51, 0, 1), tv = randomArray(sizeOf(shape), 52, 0, 1);
    const losses: [string, (p: Tensor, t: Tensor) => Tensor][] = [
      ['ncc', (p, t) => localNormalizedCrossCorrelationLoss(p, t, { kernelSize: 5, kernelType: 'triangular' })],
      ['mi', (p, t) => globalMutualInformationLoss(p, t, { numBins: 8 })],
      ['mi b-spline', (p, t) => globalMutualInformationLoss(p, t, { kernelType: 'b-spline', numBins: 8 })],
      ['bending', (p) => bendingEnergyLoss(p, { normalize: true })],
      ['diffusion', (p) => diffusionLoss(p)],
    ];
    const run = async (backend: Backend, fn: (p: Tensor, t: Tensor) => Tensor) => {
      const dtype = backend === cpu ? 'float64' as const : 'float32' as const;
      const p = fromArray(pv, shape, { backend, dtype, requiresGrad: true }), t = fromArray(tv, shape, { backend, dtype, requiresGrad: true });
      const loss = fn(p, t), total = sum(loss);
      backward(total);
      const out = { loss: await value(loss), gp: await value(p.grad!), gt: t.grad ? await value(t.grad) : [] };
      dispose([p, t, loss, total]);
      return out;
    };
    for (const [name, fn] of losses) {
      const [want, got] = [await run(cpu, fn), await run(gpu, fn)];
      expectClose(got.loss, want.loss, 1e-5, 1e-4, `${name} loss`);
      const scale = Math.max(...want.gp.map(Math.abs));
      expectClose(got.gp, want.gp, 1e-4 * scale, 1e-3, `${name} d/dpred`);
      expectClose(got.gt, want.gt, 1e-4 * scale, 1e-3, `${name} d/dtarget`);
    }
  });
});
