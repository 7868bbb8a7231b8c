/**
 * Golden values of the task transformer (src/dbisl/transform.ts) from the spec formula, computed by the
 * direct window loops of test/helpers/dbisl-reference.ts in float64: the cpu backend in float64 tightly,
 * WebGPU in float32 at float32 tolerance. Plus closed-form values on a 1-D row that pin the
 * normalisation (÷ρ, not ÷(ρ + 1)) and the sign convention.
 */
import { describe, expect, it } from 'vitest';
import { backward, noGrad, permute, slice, sum } from '../../src/autograd/index.js';
import { cdtDistance, cdtReach, tR2S, tS2R } from '../../src/dbisl/transform.js';
import type { Backend, DType } from '../../src/kernels/index.js';
import { dispose, fromArray, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';
import { cdtRef, r2sRef, s2rRef, type CdtRef, type Dims } from '../helpers/dbisl-reference.js';

/** a soft blob and its binary mask, two volumes of [3, 4, 5] */
const dims: Dims = [3, 4, 5];
const n = 2 * dims[0] * dims[1] * dims[2];
function masks(): { soft: Float64Array; binary: Float64Array; noisy: Float64Array } {
  const soft = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / 60), z = Math.floor(i / 20) % 3, y = Math.floor(i / 5) % 4, x = i % 5;
    soft[i] = 1 / (1 + Math.exp(2.5 * (Math.hypot(z - 1, y - 1.5, x - 1 - b) - 1.6)));
  }
  const binary = Float64Array.from(soft, (v) => (v > 0.5 ? 1 : 0));
  const noisy = Float64Array.from(randomArray(n, 17, 0, 1)); // includes values under ε = 1e-3 below
  return { soft, binary, noisy };
}
const paramSets: CdtRef[] = [
  { radius: 1, h: 0.35, eps: 1e-6 },
  { radius: 2, h: 0.5, eps: 1e-3 },
  { radius: 3, h: 0.35, eps: 1e-12 },
  { radius: 8, h: 0.35, eps: 1e-6 },
];

async function run(backend: Backend, dtype: DType, data: Float64Array, fn: (t: Tensor) => Tensor): Promise<Float64Array> {
  const t = fromArray(dtype === 'float32' ? Float32Array.from(data) : data, [2, 1, ...dims], { backend, dtype });
  const out = noGrad(() => tidy(() => fn(t)));
  const v = Float64Array.from(await out.toArray());
  dispose([t, out]);
  return v;
}

for (const [name, getBackend, dtype, atol, rtol] of [
  ['cpu, float64', async () => cpu as Backend, 'float64', 1e-12, 1e-12],
  ['WebGPU, float32', webgpu, 'float32', 3e-5, 1e-5],
] as const) {
  describe(`task transformer = the spec formula by direct loops (${name})`, () => {
    it('cdtDistance: D = −h·logsumexp_u(ln max(p(v−u), ε) − ‖u‖/h) over the cut window', async () => {
      const backend = await getBackend();
      const m = masks();
      for (const o of paramSets) {
        for (const [what, p] of Object.entries(m)) {
          // float32 inputs: compare with the reference of the rounded values
          const input = dtype === 'float32' ? Float64Array.from(p, Math.fround) : p;
          const got = await run(backend, dtype, input, (t) => cdtDistance(t, o));
          expectClose(got, cdtRef(input, dims, o), atol, rtol, `D of the ${what} map, ${JSON.stringify(o)}`);
        }
      }
    });

    it('tS2R = clamp(D[p], 0, ρ)/ρ − clamp(D[1 − p], 0, ρ)/ρ', async () => {
      const backend = await getBackend();
      const m = masks();
      for (const o of paramSets) {
        for (const [what, p] of Object.entries(m)) {
          const input = dtype === 'float32' ? Float64Array.from(p, Math.fround) : p;
          const got = await run(backend, dtype, input, (t) => tS2R(t, o));
          expectClose(got, s2rRef(input, dims, o), atol, rtol, `T_s2r of the ${what} map, ${JSON.stringify(o)}`);
        }
      }
    });

    it('tR2S = σ(−k·R̂)', async () => {
      const backend = await getBackend();
      const r = Float64Array.from(randomArray(n, 23, -1, 1), (v) => Math.fround(v * v * v));
      for (const k of [1, 50, 1500]) {
        expectClose(await run(backend, dtype, r, (t) => tR2S(t, k)), r2sRef(r, k), dtype === 'float64' ? 1e-15 : 1e-6, 1e-6, `T_r2s, k = ${k}`);
      }
    });
  });
}

describe('closed-form values on a 1×1×10 row (float64, cpu)', () => {
  // p = 1 on x ∈ {0, 1}, 0 elsewhere; ρ = 3, h = 0.2, ε = 1e-12
  const rho = 3, h = 0.2, eps = 1e-12, W = 10;
  const p = Float64Array.from({ length: W }, (_, x) => (x < 2 ? 1 : 0));
  const row = async (fn: (t: Tensor) => Tensor) => {
    const t = fromArray(p, [1, 1, 1, 1, W], { backend: cpu, dtype: 'float64' });
    const out = noGrad(() => tidy(() => fn(t)));
    const v = Array.from(await out.toArray());
    dispose([t, out]);
    return v;
  };
  /** D at x: −h·ln(Σ_{sources s in the window} e^{−|x−s|/h} + ε·Σ_{the other taps} e^{−|x−s|/h}) */
  const D = (x: number, src: (s: number) => boolean) => {
    let sum = 0;
    for (let s = Math.max(0, x - rho); s <= Math.min(W - 1, x + rho); s++) sum += (src(s) ? 1 : eps) * Math.exp(-Math.abs(x - s) / h);
    return -h * Math.log(sum);
  };

  it('D of the object and of the background, voxel by voxel', async () => {
    const d = await row((t) => cdtDistance(t, { radius: rho, h, eps }));
    for (let x = 0; x < W; x++) expect(d[x]).toBeCloseTo(D(x, (s) => s < 2), 12);
    // 3 voxels from the object: about 2 voxels (the soft minimum sits a little under the hard one)
    expect(d[3]).toBeGreaterThan(1.99);
    expect(d[3]).toBeLessThan(2);
  });

  it('T_s2r divides by ρ: +1 beyond ρ, D/ρ inside it, negative inside the object', async () => {
    const s = await row((t) => tS2R(t, { radius: rho, h, eps }));
    const c = (v: number) => Math.min(Math.max(v, 0), rho) / rho;
    for (let x = 0; x < W; x++) expect(s[x]).toBeCloseTo(c(D(x, (q) => q < 2)) - c(D(x, (q) => q >= 2)), 12);
    // ρ + 1 voxels away the clamp holds the distance at ρ: exactly +1 (÷(ρ + 1) would give 0.75)
    for (let x = 2 + rho; x < W; x++) expect(s[x]).toBe(1);
    // 2 voxels from the object: ≈ 2/ρ
    expect(s[3]).toBeCloseTo(2 / 3, 2);
    expect(s[0]).toBeLessThan(0);
    expect(s[1]).toBeLessThan(0);
  });
});

describe('task transformer: views, volumes of rank 3, parameters (float64, cpu)', () => {
  const o: CdtRef = { radius: 2, h: 0.5, eps: 1e-6 };
  const f64 = { backend: cpu, dtype: 'float64' as const };

  it('a permuted or sliced view is transformed as its values', async () => {
    const { soft } = masks();
    // [2, 1, 3, 4, 5] → permuted [2, 1, 5, 4, 3]: the reference of the permuted values
    const permuted = new Float64Array(n);
    for (let b = 0; b < 2; b++) for (let z = 0; z < 3; z++) for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) {
      permuted[b * 60 + (x * 4 + y) * 3 + z] = soft[b * 60 + (z * 4 + y) * 5 + x];
    }
    const t = fromArray(soft, [2, 1, ...dims], f64);
    const viaView = noGrad(() => tidy(() => tS2R(permute(t, [0, 1, 4, 3, 2]), o)));
    expectClose(await viaView.toArray(), s2rRef(permuted, [5, 4, 3], o), 1e-12, 1e-12, 'T_s2r of a permuted view');
    const second = noGrad(() => tidy(() => cdtDistance(slice(t, 0, 1, 2), o)));
    expectClose(await second.toArray(), cdtRef(soft.subarray(60), dims, o), 1e-12, 1e-12, 'D of the second row (a view at an offset)');
    dispose([t, viaView, second]);
  });

  it('a [D, H, W] volume of rank 3 works; rank 2 is an error naming the op and the shape', async () => {
    const { soft } = masks();
    const one = fromArray(soft.subarray(0, 60), dims, f64);
    const d = noGrad(() => tidy(() => cdtDistance(one, o)));
    expectClose(await d.toArray(), cdtRef(soft.subarray(0, 60), dims, o), 1e-12, 1e-12, 'D of a rank-3 volume');
    const flat = fromArray(soft.subarray(0, 20), [4, 5], f64);
    expect(() => cdtDistance(flat, o)).toThrow(/cdtDistance: expected a \[N, 1, D, H, W\] probability map, got \[4, 5\]/);
    expect(() => tS2R(flat, o)).toThrow(/tS2R: expected a \[N, 1, D, H, W\] probability map, got \[4, 5\]/);
    const ints = fromArray(Int32Array.of(1, 0, 1), [1, 1, 3], { backend: cpu, dtype: 'int32' });
    expect(() => tR2S(ints)).toThrow(/tR2S/);
    expect(() => cdtDistance(ints)).toThrow(/cdtDistance/);
    dispose([one, d, flat, ints]);
  });

  it('the gradient of Σ w·D reaches p through the backend kernel (central differences of the reference)', async () => {
    const { soft } = masks();
    const w = Float64Array.from(randomArray(n, 5, -1, 1));
    const p = fromArray(soft, [2, 1, ...dims], { ...f64, requiresGrad: true });
    const wt = fromArray(w, [2, 1, ...dims], f64);
    const loss = tidy(() => sum(tS2R(p, o).mul(wt)));
    backward(loss);
    const g = Float64Array.from(await p.grad!.toArray());
    const f = (q: Float64Array) => s2rRef(q, dims, o).reduce((a, v, i) => a + v * w[i]!, 0);
    const fd = Float64Array.from(soft, (v, i) => {
      const a = Float64Array.from(soft), b = Float64Array.from(soft);
      a[i] = v + 1e-6; b[i] = v - 1e-6;
      return (f(a) - f(b)) / 2e-6;
    });
    expect(fd.some((v) => Math.abs(v) > 1e-2)).toBe(true);
    expectClose(g, fd, 1e-7, 1e-5, 'd Σ w·T_s2r / dp');
    dispose([p, wt, loss]);
  });

  it('radius, h and ε are checked, naming the bad value; cdtReach = min(ρ, h·ln(1/ε))', () => {
    const p = fromArray(new Float64Array(8).fill(0.5), [1, 1, 2, 2, 2], f64);
    for (const radius of [0, 1.5, -1]) expect(() => cdtDistance(p, { radius }), String(radius)).toThrow(new RegExp(`cdt: radius must be an integer ≥ 1, got ${radius}`));
    for (const h of [0, -1, Infinity, NaN]) expect(() => tS2R(p, { h }), String(h)).toThrow(new RegExp(`cdt: h must be a positive number, got ${h}`));
    for (const eps of [0, 1, -1e-6, 2]) expect(() => cdtDistance(p, { eps }), String(eps)).toThrow(new RegExp(`cdt: eps must be in \\(0, 1\\), got ${eps}`));
    dispose(p);
    expect(cdtReach({ radius: 8, h: 0.35, eps: 1e-6 })).toBeCloseTo(0.35 * Math.log(1e6), 12);
    expect(cdtReach({ radius: 3, h: 0.35, eps: 1e-6 })).toBe(3);
    // the default ε (dbisl.md §2) puts the floor's cost at ρ: the whole window is expressed
    expect(cdtReach()).toBeCloseTo(8, 12);
  });
});
