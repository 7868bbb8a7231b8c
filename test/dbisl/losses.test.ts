import { describe, expect, it } from 'vitest';
import { add, backward, gradcheck, noGrad, sigmoid, slice } from '../../src/autograd/index.js';
import { computeSdf } from '../../src/imaging/edt.js';
import {
  dbislLoss, dbislLossConfig, diceLoss, dtcLossConfig, lambdaAt, mseLoss, sigmoidRampup, tauAt,
  type LossConfig, type LossResult,
} from '../../src/dbisl/losses.js';
import { tS2R } from '../../src/dbisl/transform.js';
import { dispose, fromArray, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

const f64 = { backend: cpu, dtype: 'float64' as const };
const patch: [number, number, number] = [5, 4, 4];
const P = patch[0] * patch[1] * patch[2];
const B = 4, L = 2;
const cdtSmall = { radius: 3, h: 0.35 };

/** a fixed tiny batch: logits, raw regression (tanh applied), labels of the first L rows */
function batch(seed = 1) {
  const z = Float64Array.from(randomArray(B * P, seed, -3, 3));
  const r = Float64Array.from(randomArray(B * P, seed + 1, -1.2, 1.2), Math.tanh);
  const label = new Uint8Array(B * P);
  for (let b = 0; b < L; b++) {
    for (let x = 0; x < patch[0]; x++) for (let y = 0; y < patch[1]; y++) for (let w = 0; w < patch[2]; w++) {
      const inside = (x - 2) ** 2 + (y - 1.5 - b * 0.5) ** 2 + (w - 1.5) ** 2 < 2.6;
      label[b * P + (x * patch[1] + y) * patch[2] + w] = inside ? 1 : 0;
    }
  }
  return { z, r, label };
}

function tensors(z: Float64Array, r: Float64Array, label: Uint8Array, requiresGrad = false) {
  return {
    seg: fromArray(z, [B, 1, ...patch], { ...f64, requiresGrad }),
    sdf: fromArray(r, [B, 1, ...patch], { ...f64, requiresGrad }),
    label: fromArray(Float64Array.from(label.subarray(0, L * P)), [L, 1, ...patch], f64),
  };
}

async function values(res: LossResult): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, t] of Object.entries(res.terms)) out[k] = await t.item();
  return out;
}

async function evaluate(cfg: LossConfig, iteration = 3000, seed = 1): Promise<{ v: Record<string, number>; lambda: number }> {
  const { z, r, label } = batch(seed);
  const t = tensors(z, r, label);
  const res = tidy(() => dbislLoss({ ...t, labelHost: label, iteration, maxIterations: 6000 }, cfg));
  const v = await values(res);
  dispose([t, res.terms]);
  return { v, lambda: res.lambda };
}

const sigma = (x: number): number => 1 / (1 + Math.exp(-x));

describe('λ(t) and τ(t)', () => {
  it('sigmoid ramp-up over 40 epochs of 150 iterations', () => {
    const cfg = dbislLossConfig();
    expect(lambdaAt(0, cfg)).toBeCloseTo(Math.exp(-5), 15);
    expect(lambdaAt(149, cfg)).toBeCloseTo(Math.exp(-5), 15);
    expect(lambdaAt(150, cfg)).toBeCloseTo(Math.exp(-5 * (39 / 40) ** 2), 15);
    expect(lambdaAt(3000, cfg)).toBeCloseTo(Math.exp(-5 * 0.25), 15);
    expect(lambdaAt(5999, cfg)).toBeCloseTo(Math.exp(-5 * (1 / 40) ** 2), 15);
    expect(lambdaAt(6000, cfg)).toBe(1);
    expect(lambdaAt(60000, cfg)).toBe(1);
    expect(lambdaAt(6000, { ...cfg, lambdaMax: 0.25 })).toBe(0.25);
    expect(sigmoidRampup(5, 0)).toBe(1);
    expect(tauAt(0, 6000, cfg)).toBeCloseTo(0.5 * (0.75 + 0.25 * Math.exp(-5)), 15);
    expect(tauAt(6000, 6000, cfg)).toBe(0.5);
  });
});

describe('DTC as a configuration of the loss', () => {
  it('computes exactly Dice + 0.3·MSE(R̂, compute_sdf(Y)) + λ·mean((σ(−1500R̂) − σ(z))²)', async () => {
    const iteration = 3000;
    const { v, lambda } = await evaluate(dtcLossConfig(), iteration);
    // independently, from plain arrays
    const { z, r, label } = batch();
    let inter = 0, pp = 0, yy = 0, mse = 0, con = 0;
    for (let b = 0; b < L; b++) {
      const sdf = computeSdf(label.subarray(b * P, (b + 1) * P), patch);
      for (let i = 0; i < P; i++) {
        const j = b * P + i, p = sigma(z[j]!), y = label[j]!;
        inter += p * y; pp += p * p; yy += y * y;
        mse += (r[j]! - sdf[i]!) ** 2;
      }
    }
    for (let j = 0; j < B * P; j++) con += (sigma(-1500 * r[j]!) - sigma(z[j]!)) ** 2;
    const dice = 1 - (2 * inter + 1e-5) / (pp + yy + 1e-5);
    mse /= L * P;
    con /= B * P;
    const lam = Math.exp(-5 * (1 - 20 / 40) ** 2);
    expect(lambda).toBeCloseTo(lam, 15);
    expect(Object.keys(v).sort()).toEqual(['con', 'conR2S', 'supDice', 'supMse', 'sup', 'total'].sort());
    expect(v.supDice).toBeCloseTo(dice, 12);
    expect(v.supMse).toBeCloseTo(mse, 12);
    expect(v.conR2S).toBeCloseTo(con, 12);
    expect(v.total).toBeCloseTo(dice + 0.3 * mse + lam * con, 12);
  });
});

describe('DBiSL loss: every term, every switch', () => {
  const base = dbislLossConfig({ ...cdtSmall, sdfTarget: 'dtc' });

  it('the total is L_sup + λ(L_con + L_pse) with the documented weights', async () => {
    const { v, lambda } = await evaluate(base);
    for (const k of ['supDice', 'supCe', 'supMse', 'supCrossDice', 'supCrossMse', 'conR2S', 'conS2R', 'pseDice', 'pseMse', 'uncertainty']) {
      expect(Number.isFinite(v[k]), k).toBe(true);
    }
    const sup = v.supDice + v.supCe + 0.3 * v.supMse + 0.5 * (v.supCrossDice + v.supCrossMse);
    expect(v.sup).toBeCloseTo(sup, 12);
    expect(v.con).toBeCloseTo(v.conR2S + v.conS2R, 12);
    expect(v.pse).toBeCloseTo(v.pseDice + v.pseMse, 12);
    expect(v.total).toBeCloseTo(sup + lambda * (v.con + v.pse), 12);
  });

  const switches: [string, Partial<LossConfig>, string[]][] = [
    ['ce', { ce: false }, ['supCe']],
    ['beta = 0', { beta: 0 }, ['supMse']],
    ['supCross', { supCross: false }, ['supCrossDice', 'supCrossMse']],
    ['con', { con: false }, ['con', 'conR2S', 'conS2R']],
    ['conS2R', { conS2R: false }, ['conS2R']],
    ['conR2S', { conR2S: false }, ['conR2S']],
    ['pse', { pse: false }, ['pse', 'pseDice', 'pseMse', 'uncertainty']],
  ];
  for (const [name, off, removed] of switches) {
    it(`switching off ${name} removes exactly its term from the total`, async () => {
      const all = await evaluate(base);
      const { v, lambda } = await evaluate({ ...base, ...off });
      for (const k of removed) expect(v[k], k).toBeUndefined();
      for (const k of Object.keys(all.v)) if (!removed.includes(k) && !['sup', 'con', 'pse', 'total'].includes(k)) expect(v[k], k).toBeCloseTo(all.v[k]!, 12);
      const sup = v.supDice + (v.supCe ?? 0) + 0.3 * (v.supMse ?? 0) + 0.5 * ((v.supCrossDice ?? 0) + (v.supCrossMse ?? 0));
      const con = (v.conR2S ?? 0) + (v.conS2R ?? 0);
      const pse = (v.pseDice ?? 0) + (v.pseMse ?? 0);
      expect(v.total).toBeCloseTo(sup + lambda * (con + pse), 12);
    });
  }

  it('switching off the uncertainty makes L_pse unweighted (w = 1)', async () => {
    const weighted = await evaluate(base);
    const plain = await evaluate({ ...base, unc: false });
    expect(plain.v.uncertainty).toBeUndefined();
    expect(plain.v.pseDice).not.toBeCloseTo(weighted.v.pseDice!, 6);
    // check the unweighted value against plain arrays
    const { z, r } = batch();
    let inter = 0, pp = 0, yy = 0;
    for (let j = L * P; j < B * P; j++) {
      const p = sigma(z[j]!), fused = (p + sigma(-1500 * r[j]!)) / 2, y = fused > 0.5 ? 1 : 0;
      inter += p * y; pp += p * p; yy += y;
    }
    expect(plain.v.pseDice).toBeCloseTo(1 - (2 * inter + 1e-5) / (pp + yy + 1e-5), 12);
  });

  it('β, β_x, γ, λ_max scale their terms', async () => {
    const a = await evaluate(base);
    const b = await evaluate({ ...base, beta: 0.6, betaX: 1, lambdaMax: 2 });
    expect(b.v.sup - a.v.sup).toBeCloseTo(0.3 * a.v.supMse + 0.5 * (a.v.supCrossDice + a.v.supCrossMse), 12);
    expect(b.lambda).toBeCloseTo(2 * a.lambda, 15);
    const g = await evaluate({ ...base, gamma: 0 });
    expect(g.v.pseDice).toBeCloseTo((await evaluate({ ...base, unc: false })).v.pseDice!, 12);
  });

  it("sdfTarget 'cdt' uses T_s2r(Y) as S*", async () => {
    const { z, r, label } = batch();
    const t = tensors(z, r, label);
    const cfg = { ...base, sdfTarget: 'cdt' as const, supCross: false, con: false, pse: false, ce: false };
    const res = tidy(() => dbislLoss({ ...t, iteration: 0, maxIterations: 10 }, cfg));
    const target = noGrad(() => tS2R(t.label, cdtSmall));
    const rL = await t.sdf.toArray(), s = await target.toArray();
    let mse = 0;
    for (let i = 0; i < L * P; i++) mse += (rL[i]! - s[i]!) ** 2;
    expect(await res.terms.supMse!.item()).toBeCloseTo(mse / (L * P), 12);
    dispose([t, res.terms, target]);
  });

  it('S* = T_s2r(Y) and T_s2r(Ỹ) in one CDT pass give the terms of S* computed apart, bit for bit', async () => {
    const { z, r, label } = batch();
    const t = tensors(z, r, label);
    const cfg = { ...base, sdfTarget: 'cdt' as const };
    const run = (sdfTarget?: Tensor) => tidy(() => dbislLoss({ ...t, ...(sdfTarget ? { sdfTarget } : {}), iteration: 3000, maxIterations: 6000 }, cfg));
    const shared = run();
    const target = noGrad(() => tS2R(t.label, cdtSmall));
    const apart = run(target);
    expect(Object.keys(shared.terms)).toContain('pseMse');
    expect(await values(shared)).toEqual(await values(apart));
    dispose([t, shared.terms, apart.terms, target]);
  });

  it('the mask mode weights by U < τ(t)', async () => {
    const m = await evaluate({ ...base, uncertainty: 'mask', tauMax: 2 });
    const plain = await evaluate({ ...base, unc: false });
    // τ ≥ 1.5 > max U: every voxel passes, as unweighted
    expect(m.v.pseDice).toBeCloseTo(plain.v.pseDice!, 12);
    expect(m.v.pseMse).toBeCloseTo(plain.v.pseMse!, 9); // Σw/(Σw + 1e-8)
  });

  it('pseudo-labels and weights carry no gradient; L_con sends gradients into both heads through both transforms', async () => {
    const { z, r, label } = batch();
    const grads = async (cfg: LossConfig, manual?: (seg: Tensor, sdf: Tensor) => Tensor) => {
      const t = tensors(z, r, label, true);
      const loss = tidy(() => (manual ? manual(t.seg, t.sdf) : dbislLoss({ ...t, iteration: 6000, maxIterations: 6000 }, cfg).total));
      backward(loss);
      const out = [Float64Array.from(await t.seg.grad!.toArray()), Float64Array.from(await t.sdf.grad!.toArray())];
      dispose([t, loss]);
      return out;
    };
    const pseOnly = { ...base, ce: false, beta: 0, supCross: false, con: false, lambdaMax: 1 };
    const [gs, gr] = await grads(pseOnly);
    // the same loss with Ỹ, w and T_s2r(Ỹ) built from plain arrays as constants
    const fused = new Float64Array((B - L) * P), wv = new Float64Array((B - L) * P);
    for (let i = 0; i < fused.length; i++) {
      const a = sigma(z[L * P + i]!), c = sigma(-1500 * r[L * P + i]!);
      fused[i] = (a + c) / 2 > 0.5 ? 1 : 0;
      wv[i] = Math.exp(-5 * Math.abs(a - c));
    }
    const pseudo = fromArray(fused, [B - L, 1, ...patch], f64);
    const w = fromArray(wv, [B - L, 1, ...patch], f64);
    const pseudoSdf = noGrad(() => tS2R(pseudo, cdtSmall));
    const yL = fromArray(Float64Array.from(label.subarray(0, L * P)), [L, 1, ...patch], f64);
    const [ms, mr] = await grads(pseOnly, (seg, sdf) => add(
      diceLoss(slice(sigmoid(seg), 0, 0, L), yL),
      add(diceLoss(slice(sigmoid(seg), 0, L, B), pseudo, w), mseLoss(slice(sdf, 0, L, B), pseudoSdf, w)),
    ));
    dispose([pseudo, w, pseudoSdf, yL]);
    for (let i = 0; i < gs.length; i++) expect(gs[i]).toBeCloseTo(ms[i]!, 12);
    for (let i = 0; i < gr.length; i++) expect(gr[i]).toBeCloseTo(mr[i]!, 12);

    // L_con's s2r direction alone: both heads get gradient (seg through T_s2r, sdf directly)
    const [cs, cr] = await grads({ ...base, ce: false, beta: 0, supCross: false, pse: false, conR2S: false });
    const unl = (g: Float64Array) => g.subarray(L * P).some((x) => x !== 0);
    expect(unl(cs)).toBe(true);
    expect(unl(cr)).toBe(true);
    // and the r2s direction alone: sdf through T_r2s (k = 3 so that σ(−kR̂) is not saturated)
    const [, cr2] = await grads({ ...base, k: 3, ce: false, beta: 0, supCross: false, pse: false, conS2R: false });
    expect(unl(cr2)).toBe(true);
  });
});


describe('the basic losses on the fused kernels', () => {
  const input = (shape: number[], seed: number, lo: number, hi: number) => ({ data: randomArray(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape });

  it('mseLoss: mean((a − b)²) and Σw(a − b)²/(Σw + 1e-8), values and gradients in a, b and w (cpu float64, WebGPU float32)', async () => {
    const a = [0.5, -1, 2, 0], b = [0, 1, 1.5, 0.25], w = [1, 0.5, 0, 2];
    const d2 = a.map((v, i) => (v - b[i]!) ** 2);
    const t = (v: number[]) => fromArray(v, [1, 1, 2, 2], f64);
    expect(await mseLoss(t(a), t(b)).item()).toBeCloseTo(d2.reduce((s, v) => s + v) / 4, 15);
    const weighted = d2.reduce((s, v, i) => s + w[i]! * v, 0) / (w.reduce((s, v) => s + v) + 1e-8);
    expect(await mseLoss(t(a), t(b), t(w)).item()).toBeCloseTo(weighted, 15);
    for (const backend of [cpu, await webgpu()]) {
      for (const fn of [(x: Tensor, y: Tensor) => mseLoss(x, y), (x: Tensor, y: Tensor, v: Tensor) => mseLoss(x, y, v)]) {
        const r = await gradcheck(fn, [input([2, 1, 3], 1, -1, 1), input([2, 1, 3], 2, -1, 1), input([2, 1, 3], 3, 0.1, 1)].slice(0, fn.length), { backend });
        expect(r.ok, `${backend.name} ${fn.length} operands: ${r.message}`).toBe(true);
      }
    }
  });

  it("mseLoss's argument errors are models' mseLoss's", () => {
    const t = (shape: number[], dtype: 'float32' | 'float64' = 'float64') => fromArray(new Array(shape.reduce((a, b) => a * b, 1)).fill(0), shape, { backend: cpu, dtype });
    expect(() => mseLoss(t([2, 3]), t([3, 2]))).toThrow(/^mseLoss: target \[3, 2\] must have the shape of input \[2, 3\]$/);
    expect(() => mseLoss(t([2, 3]), t([2, 3], 'float32'))).toThrow(/^mseLoss: target \[2, 3\] float32 must have the dtype of input \[2, 3\] float64; cast\(\) it first$/);
    expect(() => mseLoss(t([2, 3]), t([2, 3]), t([4, 2, 3]))).toThrow(/^mseLoss: weight \[4, 2, 3\] cannot be broadcast to the input \[2, 3\]$/);
  });
});
