/**
 * dbislLoss against an independent float64 reference (test/helpers/dbisl-reference.ts: plain loops from
 * shared/spec/dbisl.md, nothing imported from src/): every term it reports, under every option, and the
 * gradient of the total in both heads against central differences of the reference total.
 */
import { describe, expect, it } from 'vitest';
import { backward } from '../../src/autograd/index.js';
import { dbislLoss, dbislLossConfig, dtcLossConfig, dtcSdfTarget, type LossConfig } from '../../src/dbisl/losses.js';
import { dispose, fromArray, tidy } from '../../src/tensor/index.js';
import type { DType } from '../../src/kernels/index.js';
import { cpu, expectClose, randomArray } from '../helpers/backends.js';
import { computeSdfRef, dbislLossRef, type Dims, type Frozen } from '../helpers/dbisl-reference.js';

const dims: Dims = [4, 3, 5];
const P = dims[0] * dims[1] * dims[2];
const B = 4, L = 2;
const iteration = 2000, maxIterations = 6000;

/** logits in [−3, 3], R̂ = tanh of [−1.2, 1.2], blob labels for the first `rows`; every value exact in float32 */
function batch(seed: number, rows = L) {
  const z = Float64Array.from(randomArray(B * P, seed, -3, 3), Math.fround);
  const r = Float64Array.from(randomArray(B * P, seed + 1, -1.2, 1.2), (v) => Math.fround(Math.tanh(v)));
  const label = new Uint8Array(rows * P);
  for (let b = 0; b < rows; b++) {
    for (let x = 0; x < dims[0]; x++) for (let y = 0; y < dims[1]; y++) for (let w = 0; w < dims[2]; w++) {
      const inside = (x - 1.5) ** 2 + (y - 1) ** 2 + (w - 2 + (b % 2) * 0.5) ** 2 < 2.5;
      label[b * P + (x * dims[1] + y) * dims[2] + w] = inside ? 1 : 0;
    }
  }
  return { z, r, label };
}

function inputs(z: Float64Array, r: Float64Array, label: Uint8Array, dtype: DType, requiresGrad = false) {
  const o = { backend: cpu, dtype };
  return {
    seg: fromArray(z, [B, 1, ...dims], { ...o, requiresGrad }),
    sdf: fromArray(r, [B, 1, ...dims], { ...o, requiresGrad }),
    label: fromArray(Float64Array.from(label), [label.length / P, 1, ...dims], o),
  };
}

/** how a case differs from the default batch: labeled rows, an S* given with the inputs */
interface Variant { rows?: number; sdfTarget?: Float64Array }

async function implementation(cfg: LossConfig, seed: number, dtype: DType = 'float64', variant: Variant = {}) {
  const { z, r, label } = batch(seed, variant.rows);
  const t = inputs(z, r, label, dtype);
  const given = variant.sdfTarget ? { sdfTarget: fromArray(variant.sdfTarget, [label.length / P, 1, ...dims], { backend: cpu, dtype }) } : {};
  const res = tidy(() => dbislLoss({ ...t, ...given, labelHost: label, iteration, maxIterations }, cfg));
  const v: Record<string, number> = {};
  for (const [k, x] of Object.entries(res.terms)) v[k] = await x.item();
  dispose([t, res.terms, Object.values(given)]);
  return { v, lambda: res.lambda };
}

function reference(cfg: LossConfig, seed: number, frozen?: Frozen, variant: Variant = {}) {
  const rows = variant.rows ?? L;
  const { z, r, label } = batch(seed, rows);
  return dbislLossRef(z, r, label, rows, dims, cfg, iteration, maxIterations, frozen, variant.sdfTarget);
}

/** every reported term equals the reference's, and exactly the expected terms are reported */
async function expectTerms(cfg: LossConfig, expected: string[], dtype: DType = 'float64', seed = 3, variant: Variant = {}) {
  const { v, lambda } = await implementation(cfg, seed, dtype, variant);
  const ref = reference(cfg, seed, undefined, variant);
  expect(Object.keys(v).sort()).toEqual([...expected, 'total'].sort());
  expect(Object.keys(ref.terms).sort()).toEqual([...expected, 'total'].sort());
  const tol = dtype === 'float64' ? 1e-6 : 2e-5;
  for (const k of Object.keys(ref.terms)) {
    expect(Math.abs(v[k]! - ref.terms[k]!), `${k}: ${v[k]} vs reference ${ref.terms[k]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(ref.terms[k]!)));
  }
  expect(lambda).toBeCloseTo(ref.lambda, 14);
  return { v, ref: ref.terms };
}

const SUP = ['sup', 'supDice', 'supCe', 'supMse', 'supCrossDice', 'supCrossMse'];
const CON = ['con', 'conR2S', 'conS2R'];
const PSE = ['pse', 'pseDice', 'pseMse', 'uncertainty'];
const ALL = [...SUP, ...CON, ...PSE];
const without = (...names: string[]) => ALL.filter((n) => !names.includes(n));

/** a small CDT window so that the reference's direct loops stay cheap; ε given explicitly */
const small = { radius: 2, h: 0.5, eps: 1e-6 };

describe('the default configurations are the spec’s', () => {
  it('dbislLossConfig() and dtcLossConfig() hold dbisl.md §2–§3’s values', () => {
    expect(dbislLossConfig()).toMatchObject({
      sdfTarget: 'cdt', ce: true, beta: 0.3, supCross: true, betaX: 0.5, con: true, conR2S: true, conS2R: true,
      pse: true, unc: true, uncertainty: 'exp', gamma: 5, lambdaMax: 1, rampupEpochs: 40, epochIterations: 150,
      k: 1500, radius: 8, h: 0.35, eps: 'auto',
    });
    // DTC: Dice + 0.3·MSE(R̂, compute_sdf(Y)) and the one-way consistency, nothing else
    expect(dtcLossConfig()).toMatchObject({
      sdfTarget: 'dtc', ce: false, beta: 0.3, supCross: false, con: true, conR2S: true, conS2R: false, pse: false, unc: false,
      k: 1500, lambdaMax: 1, rampupEpochs: 40, epochIterations: 150,
    });
  });
});

describe('dbislLoss = the independent reference, term by term (cpu)', () => {
  it('every term, the default configuration (ρ = 8, h = 0.35, k = 1500, ε = e^(−ρ/h)/S) on a tiny volume, and ε = 1e-6', async () => {
    await expectTerms(dbislLossConfig(), ALL);
    await expectTerms(dbislLossConfig({ eps: 1e-6 }), ALL);
  });

  it("every term with sdfTarget 'cdt' and 'dtc', small window", async () => {
    await expectTerms(dbislLossConfig(small), ALL);
    await expectTerms(dbislLossConfig({ ...small, sdfTarget: 'dtc' }), ALL);
  });

  it('every term in float32 (the training dtype)', async () => {
    await expectTerms(dbislLossConfig(small), ALL, 'float32');
  });

  it('non-default weights: β, β_x, γ, k, λ_max and the ramp-up length', async () => {
    await expectTerms(dbislLossConfig({ ...small, beta: 0.7, betaX: 0.2, gamma: 2, k: 4, lambdaMax: 0.6, rampupEpochs: 30, epochIterations: 100 }), ALL);
    await expectTerms(dbislLossConfig({ ...small, k: 50, rampupEpochs: 0 }), ALL);
  });

  it('uncertainty mask U < τ(t) with the ramped threshold', async () => {
    const cfg = dbislLossConfig({ ...small, uncertainty: 'mask' });
    const { v, ref } = await expectTerms(cfg, ALL);
    // τ(2000) ≈ 0.389, not τ_max: the ramp matters for these values
    const noRamp = reference({ ...cfg, tauMax: 0.5 / (0.75 + 0.25 * Math.exp(-5 * (1 - 2000 / 6000) ** 2)) }, 3);
    expect(noRamp.terms.pseDice).not.toBeCloseTo(ref.pseDice!, 4);
    expect(v.uncertainty).toBeCloseTo(ref.uncertainty!, 12);
    await expectTerms(dbislLossConfig({ ...small, uncertainty: 'mask', tauMax: 0.3 }), ALL);
  });

  const switches: [string, Partial<LossConfig>, string[]][] = [
    ['ce', { ce: false }, without('supCe')],
    ['beta = 0', { beta: 0 }, without('supMse')],
    ['supCross', { supCross: false }, without('supCrossDice', 'supCrossMse')],
    ['con', { con: false }, without(...CON)],
    ['conR2S', { conR2S: false }, without('conR2S')],
    ['conS2R', { conS2R: false }, without('conS2R')],
    ['conR2S and conS2R', { conR2S: false, conS2R: false }, without(...CON)],
    ['pse', { pse: false }, without(...PSE)],
    ['unc', { unc: false }, without('uncertainty')],
  ];
  for (const [name, off, expected] of switches) {
    it(`switching off ${name}`, async () => {
      await expectTerms(dbislLossConfig({ ...small, ...off }), expected);
      await expectTerms(dbislLossConfig({ ...small, sdfTarget: 'dtc', ...off }), expected);
    });
  }

  it('dtcLossConfig(): Dice + 0.3·MSE(R̂, compute_sdf(Y)) + λ·mean((σ(−1500R̂) − Ŷ)²)', async () => {
    await expectTerms(dtcLossConfig(), ['sup', 'supDice', 'supMse', 'con', 'conR2S']);
  });

  it('the cross-task supervision alone (no L_con, no L_pse) still computes T_r2s(R̂)', async () => {
    await expectTerms(dbislLossConfig({ ...small, con: false, pse: false }), [...SUP]);
  });

  it('no labeled rows: only L_con and L_pse, weighted by λ; every row labeled: no L_pse', async () => {
    await expectTerms(dbislLossConfig(small), [...CON, ...PSE], 'float64', 3, { rows: 0 });
    await expectTerms(dbislLossConfig(small), [...SUP, ...CON], 'float64', 3, { rows: B });
    await expectTerms(dbislLossConfig({ ...small, con: false }), [...PSE], 'float64', 3, { rows: 0 });
  });

  it('an S* given with the inputs is used as it is', async () => {
    const given = Float64Array.from(randomArray(L * P, 9, -1, 1));
    await expectTerms(dbislLossConfig(small), ALL, 'float64', 3, { sdfTarget: given });
    await expectTerms(dbislLossConfig({ ...small, sdfTarget: 'dtc' }), ALL, 'float64', 3, { sdfTarget: given });
  });
});

describe("dtcSdfTarget: DTC's compute_sdf of each row", () => {
  it('= the brute-force reference, float32 on the default backend unless told', async () => {
    const { label } = batch(3);
    const t = dtcSdfTarget(label, L, dims);
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([L, 1, ...dims]);
    const expected = new Float64Array(L * P);
    for (let b = 0; b < L; b++) expected.set(computeSdfRef(label.subarray(b * P, (b + 1) * P), dims), b * P);
    expectClose(await t.toArray(), expected, 1e-7, 1e-6, 'compute_sdf');
    const t64 = dtcSdfTarget(label, L, dims, { backend: cpu, dtype: 'float64' });
    expect(t64.dtype).toBe('float64');
    dispose([t, t64]);
  });
});

describe('dbislLoss: bad input is an error naming it', () => {
  const cfg = dbislLossConfig(small);
  const o = { backend: cpu, dtype: 'float64' as const };
  const t = (shape: number[]) => fromArray(new Float64Array(shape.reduce((a, b) => a * b, 1)), shape, o);
  const call = (seg: number[], sdf: number[], label: number[], extra: Partial<Parameters<typeof dbislLoss>[0]> = {}, c = cfg) => () => {
    const ts = [t(seg), t(sdf), t(label)];
    try {
      tidy(() => dbislLoss({ seg: ts[0]!, sdf: ts[1]!, label: ts[2]!, iteration, maxIterations, ...extra }, c));
    } finally {
      dispose(ts);
    }
  };
  const v = [B, 1, ...dims];

  it('shapes of seg, sdf and label', () => {
    expect(call([B, 1, 12, 5], [B, 1, 12, 5], [L, 1, 12, 5])).toThrow(/dbislLoss: seg must be \[B, 1, X, Y, Z\], got \[4, 1, 12, 5\]/);
    expect(call([B, ...dims], [B, ...dims], [L, ...dims])).toThrow(/dbislLoss: seg must be \[B, 1, X, Y, Z\], got \[4, 4, 3, 5\]/);
    expect(call([B, 2, ...dims], [B, 2, ...dims], [L, 2, ...dims])).toThrow(/dbislLoss: seg must be \[B, 1, X, Y, Z\], got \[4, 2, 4, 3, 5\]/);
    expect(call(v, [B, 1, 4, 3, 4], [L, 1, ...dims])).toThrow(/dbislLoss: sdf \[4, 1, 4, 3, 4\] does not match seg \[4, 1, 4, 3, 5\]/);
    expect(call(v, v, [L, ...dims])).toThrow(/dbislLoss: label \[2, 4, 3, 5\] must be \[L ≤ 4, 1, 4, 3, 5\]/);
    expect(call(v, v, [B + 1, 1, ...dims])).toThrow(/dbislLoss: label \[5, 1, 4, 3, 5\] must be \[L ≤ 4, 1, 4, 3, 5\]/);
    expect(call(v, v, [L, 1, 4, 3, 4])).toThrow(/dbislLoss: label \[2, 1, 4, 3, 4\] must be/);
    expect(call(v, v, [B, 1, ...dims])).not.toThrow();
  });

  it("sdfTarget 'dtc' without host labels, too few host labels, every term off", () => {
    expect(call(v, v, [L, 1, ...dims], {}, { ...cfg, sdfTarget: 'dtc' })).toThrow(/dbislLoss: sdfTarget 'dtc' needs the host labels \(labelHost\)/);
    expect(call(v, v, [L, 1, ...dims], { labelHost: new Uint8Array(L * P - 1) }, { ...cfg, sdfTarget: 'dtc' }))
      .toThrow(/computeSdfRows: 119 label values for 2 rows of \[4, 3, 5\]/);
    expect(call(v, v, [0, 1, ...dims], {}, { ...cfg, con: false, pse: false })).toThrow(/dbislLoss: every term is switched off/);
  });
});

describe('the gradient of the total = central differences of the reference total (float64, cpu)', () => {
  const cases: [string, LossConfig][] = [
    ['every term, exp weights, k = 4', dbislLossConfig({ ...small, k: 4 })],
    ["every term, mask weights, sdfTarget 'dtc', k = 4", dbislLossConfig({ ...small, k: 4, sdfTarget: 'dtc', uncertainty: 'mask' })],
  ];
  for (const [name, cfg] of cases) {
    it(name, async () => {
      const seed = 5;
      const { z, r, label } = batch(seed);
      const t = inputs(z, r, label, 'float64', true);
      const total = tidy(() => dbislLoss({ ...t, labelHost: label, iteration, maxIterations }, cfg).total);
      backward(total);
      const gz = Float64Array.from(await t.seg.grad!.toArray()), gr = Float64Array.from(await t.sdf.grad!.toArray());
      dispose([t, total]);

      // Ỹ, w and T_s2r(Ỹ) carry no gradient: hold them at their values at the point
      const frozen = reference(cfg, seed).frozen!;
      const f = (zz: Float64Array, rr: Float64Array) => dbislLossRef(zz, rr, label, L, dims, cfg, iteration, maxIterations, frozen).terms.total!;
      const step = 1e-6;
      const fd = (x: Float64Array, other: Float64Array, first: boolean) => Float64Array.from(x, (v, i) => {
        const a = Float64Array.from(x), b = Float64Array.from(x);
        a[i] = v + step; b[i] = v - step;
        return ((first ? f(a, other) : f(other, a)) - (first ? f(b, other) : f(other, b))) / (2 * step);
      });
      const ez = fd(z, r, true), er = fd(r, z, false);
      expect(ez.some((v) => Math.abs(v) > 1e-3) && er.some((v) => Math.abs(v) > 1e-3)).toBe(true);
      expectClose(gz, ez, 1e-7, 1e-5, 'd total / d seg logits');
      expectClose(gr, er, 1e-7, 1e-5, 'd total / d sdf');
    });
  }
});
