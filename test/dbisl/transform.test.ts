import { describe, expect, it } from 'vitest';
import { gradcheck, noGrad } from '../../src/autograd/index.js';
import { distanceToSet } from '../../src/imaging/edt.js';
import { generateSyntheticCase } from '../../src/imaging/io/synthetic.js';
import { cdtDistance, cdtParams, cdtReach, defaultCdtEps, tR2S, tS2R } from '../../src/dbisl/transform.js';
import { dispose, fromArray, tidy } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';

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
