import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { affine, backward, clamp, gradcheck, mul, mulScalar, noGrad, sub, sum } from '../../src/autograd/index.js';
import { distanceToSet } from '../../src/imaging/edt.js';
import { generateSyntheticCase } from '../../src/imaging/io/synthetic.js';
import { cdtDistance, cdtParams, cdtReach, defaultCdtEps, tR2S, tS2R, type CdtOptions } from '../../src/dbisl/transform.js';
import type { Backend, DType } from '../../src/kernels/index.js';
import { dispose, fromArray, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

const f64 = { backend: cpu, dtype: 'float64' as const };

function probabilities(n: number, seed: number): Float64Array {
  return Float64Array.from(randomArray(n, seed, 0.05, 0.95));
}

describe('task transformer: gradients (float64, cpu)', () => {
  it('cdtDistance passes gradcheck on a tiny volume', async () => {
    const shape = [2, 1, 3, 4, 3];
    const n = shape.reduce((a, b) => a * b, 1);
    const r = await gradcheck((p) => cdtDistance(p, { radius: 2, h: 0.5 }), [{ data: probabilities(n, 7), shape }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    const rd = await gradcheck((p) => cdtDistance(p), [{ data: probabilities(27, 8), shape: [1, 1, 3, 3, 3] }], { backend: cpu });
    expect(rd.ok, rd.message).toBe(true);
  });

  it('tS2R passes gradcheck (both distance transforms and the clamps)', async () => {
    const shape = [1, 1, 4, 3, 4];
    const n = shape.reduce((a, b) => a * b, 1);
    const r = await gradcheck((p) => tS2R(p, { radius: 2, h: 0.35 }), [{ data: probabilities(n, 11), shape }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
  });

  it('tS2R passes gradcheck with both clamps active and inactive (ρ 1, h 1, two volumes) and with the defaults', async () => {
    // a ramp from p ≈ 0 to p ≈ 1 along x: D[p] and D[1 − p] run from below 0 to beyond ρ = 1
    const shape = [2, 1, 2, 3, 6];
    const n = shape.reduce((a, b) => a * b, 1);
    const ramp = Float64Array.from({ length: n }, (_, i) => 0.02 + 0.96 * (i % 6) / 5 + 0.01 * Math.sin(i));
    const r = await gradcheck((p) => tS2R(p, { radius: 1, h: 1 }), [{ data: ramp, shape }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    const rd = await gradcheck((p) => tS2R(p), [{ data: probabilities(36, 9), shape: [1, 1, 3, 4, 3] }], { backend: cpu });
    expect(rd.ok, rd.message).toBe(true);
  });

  it('tS2R passes gradcheck on WebGPU (float32)', async () => {
    const gpu = await webgpu();
    const shape = [1, 1, 3, 4, 5];
    const r = await gradcheck((p) => tS2R(p, { radius: 2, h: 1 }), [{ data: probabilities(60, 13), shape }], { backend: gpu });
    expect(r.ok, r.message).toBe(true);
  });

  it('tR2S is σ(−k·R̂), finite and saturated for |k·R̂| ≫ 1, with a finite gradient', async () => {
    const r = await gradcheck((x) => tR2S(x, 3), [{ data: [-0.7, -0.1, 0, 0.2, 0.9], shape: [5] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    const x = fromArray([-1, -0.5, -1e-3, 0, 1e-3, 0.5, 1], [7], f64);
    const y = Array.from(await noGrad(() => tR2S(x)).toArray());
    expect(y.every(Number.isFinite)).toBe(true);
    expect(y[0]).toBe(1);
    expect(y[6]).toBe(0);
    expect(y[3]).toBe(0.5);
    expect(y[2]).toBeCloseTo(1 / (1 + Math.exp(-1.5)), 12);
    const g = await gradcheck((v) => tR2S(v), [{ data: [-0.9, 0.9], shape: [2] }], { backend: cpu });
    expect(g.ok, g.message).toBe(true);
    dispose(x);
  });
});

describe('task transformer: dbisl.md §2 sanity checks on a binary mask', () => {
  const shape: [number, number, number] = [22, 22, 18];
  const label = generateSyntheticCase('t', 3, { shape, seed: 5 }).case.label!.data;
  const n = label.length;
  // exact signed distance in voxels: distance to the object outside, minus the distance to the background inside
  const toFg = distanceToSet(label, shape);
  const toBg = distanceToSet(Uint8Array.from(label, (v) => 1 - v), shape);
  const exact = Float64Array.from({ length: n }, (_, i) => toFg[i]! - toBg[i]!);

  async function signedCdt(options: { radius?: number; h?: number; eps?: number }): Promise<Float64Array> {
    const y = fromArray(Float64Array.from(label), [1, 1, ...shape], f64);
    const t = tidy(() => tS2R(y, options));
    const out = Float64Array.from(await t.toArray());
    dispose([y, t]);
    return out;
  }

  it('the default ε = e^(−ρ/h)/S lets the transform reach ρ; ε = 1e-6 saturates at ≈ 4.7 voxels (dbisl.md §2)', async () => {
    const radius = 8, h = 0.35;
    // S = Σ_u e^(−‖u‖/h) over the 17³ window, summed here shell by shell of equal ‖u‖²
    const shells = new Map<number, number>();
    for (let i = -radius; i <= radius; i++) for (let j = -radius; j <= radius; j++) for (let k = -radius; k <= radius; k++) {
      const r2 = i * i + j * j + k * k;
      shells.set(r2, (shells.get(r2) ?? 0) + 1);
    }
    let S = 0;
    for (const [r2, count] of shells) S += count * Math.exp(-Math.sqrt(r2) / h);
    expect(defaultCdtEps(radius, h)).toBeCloseTo(Math.exp(-radius / h) / S, 20);
    expect(defaultCdtEps(radius, h)).toBeGreaterThan(6e-11);
    expect(defaultCdtEps(radius, h)).toBeLessThan(8e-11);
    expect(cdtParams({ radius, h }).eps).toBe(defaultCdtEps(radius, h));
    expect(cdtReach({ radius, h })).toBe(radius);
    // far from a one-voxel source, D of the default ε is the distance up to ρ; D of 1e-6 stops short
    const side = 2 * radius + 3;
    const source = new Float64Array(side ** 3);
    source[0] = 1;
    const far = side ** 3 - 1; // the opposite corner, √3·(side − 1) ≈ 31 voxels away: beyond the window
    const d = async (eps?: number) => {
      const p = fromArray(source, [1, 1, side, side, side], f64);
      const t = tidy(() => cdtDistance(p, { radius, h, ...(eps === undefined ? {} : { eps }) }));
      const v = Float64Array.from(await t.toArray());
      dispose([p, t]);
      return v;
    };
    const auto = await d(), fixed = await d(1e-6);
    expect(auto[far]).toBeGreaterThanOrEqual(radius);
    expect(fixed[far]).toBeGreaterThan(4.6);
    expect(fixed[far]).toBeLessThan(4.9);
    // at 7 voxels along an axis (inside ρ): the default ε gives 7 within the soft minimum's h·ln S; 1e-6 gives < 5
    const at7 = 7 * side * side;
    expect(Math.abs(auto[at7]! - 7)).toBeLessThan(h * Math.log(S));
    expect(fixed[at7]).toBeLessThan(5);
  });

  for (const eps of [undefined, 1e-6]) {
    it(`tS2R(Y)·ρ is within h·ln(window size) voxels of the exact signed EDT (ε = ${eps ?? 'default'})`, async () => {
      const radius = 8, h = 0.35;
      const bound = h * Math.log((2 * radius + 1) ** 3);
      // inside ρ, and inside what the ε floor lets the transform express (h·ln(1/ε) ≈ 4.8 voxels for 1e-6)
      const reach = cdtReach({ radius, h, ...(eps === undefined ? {} : { eps }) });
      const t = await signedCdt({ radius, h, ...(eps === undefined ? {} : { eps }) });
      let checked = 0, worst = 0;
      for (let i = 0; i < n; i++) {
        if (Math.abs(exact[i]!) > reach) continue;
        checked++;
        worst = Math.max(worst, Math.abs(t[i]! * radius - exact[i]!));
      }
      expect(checked).toBeGreaterThan(n / 3);
      expect(worst).toBeLessThanOrEqual(bound);
      // the sign convention: negative inside, positive outside
      for (let i = 0; i < n; i++) {
        if (exact[i]! <= -1.5) expect(t[i]).toBeLessThan(0);
        if (exact[i]! >= 1.5) expect(t[i]).toBeGreaterThan(0);
      }
    });
  }

  it('tR2S(tS2R(Y)) reproduces Y with Dice > 0.99', async () => {
    const y = fromArray(Float64Array.from(label), [1, 1, ...shape], f64);
    const back = tidy(() => tR2S(tS2R(y)));
    const p = await back.toArray();
    let inter = 0, sp = 0, sy = 0, hard = 0, sh = 0;
    for (let i = 0; i < n; i++) {
      inter += p[i]! * label[i]!;
      sp += p[i]!;
      sy += label[i]!;
      const b = p[i]! > 0.5 ? 1 : 0;
      hard += b * label[i]!;
      sh += b;
    }
    expect((2 * inter) / (sp + sy)).toBeGreaterThan(0.99);
    expect((2 * hard) / (sh + sy)).toBeGreaterThan(0.99);
    dispose([y, back]);
  });
});

/** T_s2r as the ops the fused kernels replace: (clamp(D[p], 0, ρ) − clamp(D[1 − p], 0, ρ))·(1/ρ) */
function composedS2R(p: Tensor, options: CdtOptions): Tensor {
  const params = cdtParams(options);
  const clamped = (q: Tensor) => clamp(cdtDistance(q, params), 0, params.radius);
  return mulScalar(sub(clamped(p), clamped(affine(p, -1, 1))), 1 / params.radius);
}

/** fn(p) and the gradient of Σ g·fn(p) w.r.t. p, as float64 copies of the backend's floats */
async function valueAndGrad(fn: (p: Tensor) => Tensor, backend: Backend, dtype: DType, p: Float64Array, g: Float64Array,
  shape: number[]): Promise<[Float64Array, Float64Array]> {
  const cast = (a: Float64Array) => (dtype === 'float32' ? Float32Array.from(a) : a);
  const pt = fromArray(cast(p), shape, { backend, dtype, requiresGrad: true });
  const gt = fromArray(cast(g), shape, { backend, dtype });
  const out = tidy(() => fn(pt));
  const loss = tidy(() => sum(mul(out, gt)));
  backward(loss);
  const result: [Float64Array, Float64Array] = [Float64Array.from(await out.toArray()), Float64Array.from(await pt.grad!.toArray())];
  dispose([pt, gt, out, loss]);
  return result;
}

/** the same floats, element by element (−0 ≠ +0; NaN = NaN) */
function expectSameFloats(actual: Float64Array, expected: Float64Array, what: string): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) throw new Error(`${what}: element ${i} is ${actual[i]}, the composed ops give ${expected[i]}`);
  }
}

describe('tS2R (one kernel each way) gives the floats of the composed ops', () => {
  const backends: [string, () => Promise<Backend>, DType][] = [
    ['cpu, float64', async () => cpu, 'float64'],
    ['cpu, float32', async () => cpu, 'float32'],
    ['WebGPU, float32', webgpu, 'float32'],
  ];

  /** p of a random half-space (a sigmoid ramp) with every fourth voxel 0, 1, under ε or uniform */
  function field(n: number, shape: number[], seed: number): Float64Array {
    const [, , D, H, W] = shape;
    const [a, b, c, offset, u] = [...randomArray(4, seed, -2, 2), randomArray(n, seed + 1, 0, 1)] as [number, number, number, number, Float32Array];
    return Float64Array.from({ length: n }, (_, i) => {
      if (i % 4 === 1) return [0, 1, 1e-12, u[i]][Math.floor(u[i] * 4)];
      const x = i % W, y = Math.floor(i / W) % H, z = Math.floor(i / (W * H)) % D;
      return 1 / (1 + Math.exp(-(a * (x - W / 2) + b * (y - H / 2) + c * (z - D / 2) + offset)));
    });
  }

  for (const [name, getBackend, dtype] of backends) {
    it(`random shapes, ρ 1–3 and 8, default and fixed ε (${name})`, async () => {
      const backend = await getBackend();
      await fc.assert(fc.asyncProperty(fc.record({
        n: fc.integer({ min: 1, max: 2 }),
        dims: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })),
        radius: fc.constantFrom(1, 2, 3, 8),
        h: fc.constantFrom(0.35, 1),
        eps: fc.constantFrom(undefined, 1e-6),
        seed: fc.integer({ min: 1, max: 1 << 30 }),
      }), async (r) => {
        const shape = [r.n, 1, ...r.dims];
        const n = shape.reduce((x, y) => x * y, 1);
        const o: CdtOptions = { radius: r.radius, h: r.h, ...(r.eps === undefined ? {} : { eps: r.eps }) };
        const p = field(n, shape, r.seed), g = Float64Array.from(randomArray(n, r.seed + 2, -1, 1));
        const [value, grad] = await valueAndGrad((t) => tS2R(t, o), backend, dtype, p, g, shape);
        const [composedValue, composedGrad] = await valueAndGrad((t) => composedS2R(t, o), backend, dtype, p, g, shape);
        const what = `${JSON.stringify(shape)} ${JSON.stringify(o)}`;
        expectSameFloats(value, composedValue, `T_s2r ${what}`);
        expectSameFloats(grad, composedGrad, `d Σ g·T_s2r / dp ${what}`);
      }), { numRuns: dtype === 'float64' ? 12 : 8 });
    });
  }

  it('the clamps pass the gradient on the closed interval [0, ρ], as clamp does: D = 0 and D = ρ pass, beyond ρ not', async () => {
    // single voxels, ρ = 1, h = 1: D[p] = −ln max(p, ε), D[1 − p] = −ln max(1 − p, ε); d T_s2r/dp = c'(D[p])·(−1/p) − c'(D[1 − p])·(1/(1 − p))
    const o: CdtOptions = { radius: 1, h: 1, eps: 1e-6 };
    const e1 = Math.exp(-1);
    expect(-Math.log(e1)).toBe(1); // D[e⁻¹] is exactly ρ in float64
    const p = Float64Array.of(1, 0, e1, e1 * 0.999, 0.5);
    const expected = [
      -1, //          D[p] = −0 (passes), D[1 − p] = ln 10⁶ > ρ (blocked)
      -1, //          D[p] beyond ρ, and p ≤ ε anyway; D[1 − p] = −0 passes
      -1 / e1 - 1 / (1 - e1), // D[p] = ρ passes
      -1 / (1 - e1 * 0.999), //   D[p] just beyond ρ is blocked
      -4, //          both inside
    ];
    const shape = [5, 1, 1, 1, 1], ones = new Float64Array(5).fill(1);
    const [, grad] = await valueAndGrad((t) => tS2R(t, o), cpu, 'float64', p, ones, shape);
    const [, composedGrad] = await valueAndGrad((t) => composedS2R(t, o), cpu, 'float64', p, ones, shape);
    expectSameFloats(grad, composedGrad, 'the boundaries, cpu');
    for (let i = 0; i < 5; i++) expect(grad[i]).toBeCloseTo(expected[i], 12);
    const gpu = await webgpu();
    const [, gpuGrad] = await valueAndGrad((t) => tS2R(t, o), gpu, 'float32', p, ones, shape);
    const [, gpuComposed] = await valueAndGrad((t) => composedS2R(t, o), gpu, 'float32', p, ones, shape);
    expectSameFloats(gpuGrad, gpuComposed, 'the boundaries, WebGPU');
    // p = 1 and p = 0: D = −0 exactly in float32 too
    expect([gpuGrad[0], gpuGrad[1]]).toEqual([-1, -1]);
  });

  it('a one-voxel object: D[p] = −0 at its centre in float32 and D[1 − p] < 0, so the map is +0 as the composed a·x + 0 gives', async () => {
    const shape = [1, 1, 3, 3, 3], o: CdtOptions = { radius: 1, h: 1, eps: 1e-9 };
    const p = new Float64Array(27);
    p[13] = 1;
    for (const [name, getBackend, dtype] of backends) {
      const [value, grad] = await valueAndGrad((t) => tS2R(t, o), await getBackend(), dtype, p, Float64Array.from(randomArray(27, 3, -1, 1)), shape);
      const [composedValue, composedGrad] = await valueAndGrad((t) => composedS2R(t, o), await getBackend(), dtype, p, Float64Array.from(randomArray(27, 3, -1, 1)), shape);
      expect(Object.is(value[13], 0), `${name}: ${value[13]}`).toBe(true);
      expectSameFloats(value, composedValue, `T_s2r, ${name}`);
      expectSameFloats(grad, composedGrad, `d Σ g·T_s2r / dp, ${name}`);
    }
  });
});
