/**
 * An independent float64 reference of the DBiSL objective, written from shared/spec/dbisl.md §2–§3, the
 * definitions documented in src/dbisl/losses.ts (weighted Dice / MSE, λ(t), τ(t)) and la-protocol §5
 * (DTC's compute_sdf), with plain loops over plain arrays. It imports nothing from src/: the tests compare
 * the implementation against it, so it must not share a line of code with what it checks.
 *
 * Layout: a batch is [rows, 1, D, H, W] flattened row-major; `dims` = [D, H, W].
 */

export type Dims = readonly [number, number, number];

export interface CdtRef {
  radius: number;
  h: number;
  eps: number;
}

export const sigmoidRef = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * D(v) = −h · logsumexp_u(ln max(p(v−u), ε) − ‖u‖/h), u over the cube [−ρ, ρ]³ with v − u inside the
 * volume, per volume of a batch; a direct loop over the window, no precomputed tables.
 */
export function cdtRef(p: ArrayLike<number>, dims: Dims, o: CdtRef): Float64Array {
  const [D, H, W] = dims, vol = D * H * W, rho = o.radius;
  const out = new Float64Array(p.length);
  for (let base = 0; base < p.length; base += vol) {
    for (let z = 0; z < D; z++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const terms: number[] = [];
      for (let uz = -rho; uz <= rho; uz++) for (let uy = -rho; uy <= rho; uy++) for (let ux = -rho; ux <= rho; ux++) {
        const sz = z - uz, sy = y - uy, sx = x - ux;
        if (sz < 0 || sz >= D || sy < 0 || sy >= H || sx < 0 || sx >= W) continue;
        const q = p[base + (sz * H + sy) * W + sx];
        terms.push(Math.log(Math.max(q, o.eps)) - Math.sqrt(uz * uz + uy * uy + ux * ux) / o.h);
      }
      const m = Math.max(...terms);
      let s = 0;
      for (const t of terms) s += Math.exp(t - m);
      out[base + (z * H + y) * W + x] = -o.h * (m + Math.log(s));
    }
  }
  return out;
}

/** T_s2r(p) = clamp(D[p], 0, ρ)/ρ − clamp(D[1 − p], 0, ρ)/ρ */
export function s2rRef(p: ArrayLike<number>, dims: Dims, o: CdtRef): Float64Array {
  const dp = cdtRef(p, dims, o);
  const dq = cdtRef(Array.from(p, (v) => 1 - v), dims, o);
  const c = (d: number) => Math.min(Math.max(d, 0), o.radius) / o.radius;
  return Float64Array.from(dp, (d, i) => c(d) - c(dq[i]));
}

/** T_r2s(R̂) = σ(−k·R̂) */
export const r2sRef = (r: ArrayLike<number>, k: number): Float64Array => Float64Array.from(r, (v) => sigmoidRef(-k * v));

/** 1 − (2Σwpy + 1e-5)/(Σwp² + Σwy² + 1e-5), w = 1 when absent */
export function diceRef(p: ArrayLike<number>, y: ArrayLike<number>, w?: ArrayLike<number>): number {
  let py = 0, pp = 0, yy = 0;
  for (let i = 0; i < p.length; i++) {
    const wi = w ? w[i] : 1;
    py += wi * p[i] * y[i]; pp += wi * p[i] * p[i]; yy += wi * y[i] * y[i];
  }
  return 1 - (2 * py + 1e-5) / (pp + yy + 1e-5);
}

/** mean((a − b)²), or Σw(a − b)²/(Σw + 1e-8) with weights */
export function mseRef(a: ArrayLike<number>, b: ArrayLike<number>, w?: ArrayLike<number>): number {
  let s = 0, sw = 0;
  for (let i = 0; i < a.length; i++) {
    const wi = w ? w[i] : 1;
    s += wi * (a[i] - b[i]) ** 2; sw += wi;
  }
  return w ? s / (sw + 1e-8) : s / a.length;
}

/** binary cross-entropy of logits z with targets y, mean: −[y·ln σ(z) + (1 − y)·ln(1 − σ(z))] */
export function bceWithLogitsRef(z: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < z.length; i++) {
    // ln σ(z) = −ln(1 + e^{−z}), ln(1 − σ(z)) = −ln(1 + e^{z}), each written stably
    const lnSig = -(Math.max(-z[i], 0) + Math.log1p(Math.exp(-Math.abs(z[i]))));
    const lnOneMinus = -(Math.max(z[i], 0) + Math.log1p(Math.exp(-Math.abs(z[i]))));
    s -= y[i] * lnSig + (1 - y[i]) * lnOneMinus;
  }
  return s / z.length;
}

/** exp(−5(1 − clip(t, 0, L)/L)²), 1 when L = 0 */
export function rampRef(t: number, length: number): number {
  if (length === 0) return 1;
  const c = Math.min(Math.max(t, 0), length) / length;
  return Math.exp(-5 * (1 - c) * (1 - c));
}

/**
 * DTC's compute_sdf of one binary volume (la-protocol §5) by brute force: posdis(v) = distance of a
 * foreground voxel to the nearest background voxel (0 on the background), negdis the same for the
 * background; (negdis − min)/(max − min) − (posdis − min)/(max − min), 0 on the inner boundary (foreground
 * voxels with a background face neighbour); all zeros without foreground.
 */
export function computeSdfRef(label: ArrayLike<number>, dims: Dims): Float64Array {
  const [D, H, W] = dims, n = D * H * W;
  const at = (i: number) => [Math.floor(i / (H * W)), Math.floor(i / W) % H, i % W];
  const out = new Float64Array(n);
  if (!Array.from(label).some((v) => v !== 0)) return out;
  const distTo = (fromValue: number): Float64Array => Float64Array.from({ length: n }, (_, i) => {
    if (label[i] !== fromValue) return 0;
    const [a, b, c] = at(i);
    let best = Infinity;
    for (let j = 0; j < n; j++) {
      if (label[j] === fromValue) continue;
      const [d, e, f] = at(j);
      best = Math.min(best, Math.hypot(a - d, b - e, c - f));
    }
    return best;
  });
  const norm = (d: Float64Array) => {
    const lo = Math.min(...d), hi = Math.max(...d);
    return Float64Array.from(d, (v) => (hi > lo ? (v - lo) / (hi - lo) : 0));
  };
  const pos = norm(distTo(1)), neg = norm(distTo(0));
  for (let i = 0; i < n; i++) {
    const [a, b, c] = at(i);
    const faces = [[a - 1, b, c], [a + 1, b, c], [a, b - 1, c], [a, b + 1, c], [a, b, c - 1], [a, b, c + 1]];
    const inner = label[i] === 1 && faces.some(([d, e, f]) => d >= 0 && d < D && e >= 0 && e < H && f >= 0 && f < W && label[(d * H + e) * W + f] === 0);
    out[i] = inner ? 0 : neg[i] - pos[i];
  }
  return out;
}

export interface RefConfig {
  sdfTarget: 'cdt' | 'dtc';
  ce: boolean;
  beta: number;
  supCross: boolean;
  betaX: number;
  con: boolean;
  conR2S: boolean;
  conS2R: boolean;
  pse: boolean;
  unc: boolean;
  uncertainty: 'exp' | 'mask';
  gamma: number;
  tauMax: number;
  lambdaMax: number;
  rampupEpochs: number;
  epochIterations: number;
  k: number;
  radius: number;
  h: number;
  /** 'auto': dbisl.md §2's floor e^(−ρ/h)/S, S = Σ_u e^(−‖u‖/h) over the window */
  eps: number | 'auto';
}

/** dbisl.md §2's default floor of the CDT, summed over the cubic window */
export function autoEpsRef(radius: number, h: number): number {
  let S = 0;
  for (let a = -radius; a <= radius; a++) for (let b = -radius; b <= radius; b++) for (let c = -radius; c <= radius; c++) S += Math.exp(-Math.hypot(a, b, c) / h);
  return Math.exp(-radius / h) / S;
}

/** the pseudo-supervision's constants (no gradient flows through them) */
export interface Frozen {
  pseudo: Float64Array;
  pseudoSdf: Float64Array;
  w: Float64Array | null;
}

/**
 * Every term of L = L_sup + λ(t)·(L_con + L_pse) from plain arrays: z and r are [B, 1, D, H, W] (r already
 * tanh'd), label the first L rows. `frozen` replaces Ỹ, T_s2r(Ỹ) and w (to differentiate the total by finite
 * differences with them held, as the implementation's no-gradient rule does); it is returned either way.
 * `givenTarget` is an S* passed in instead of computed (the implementation's `sdfTarget` input).
 */
export function dbislLossRef(z: ArrayLike<number>, r: ArrayLike<number>, label: ArrayLike<number>, rows: number, dims: Dims,
  cfg: RefConfig, iteration: number, maxIterations: number, frozen?: Frozen, givenTarget?: ArrayLike<number>): { terms: Record<string, number>; lambda: number; frozen: Frozen | null } {
  const P = dims[0] * dims[1] * dims[2], B = z.length / P, L = rows;
  const cdt: CdtRef = { radius: cfg.radius, h: cfg.h, eps: cfg.eps === 'auto' ? autoEpsRef(cfg.radius, cfg.h) : cfg.eps };
  const yhat = Float64Array.from(z, sigmoidRef);
  const r2s = r2sRef(r, cfg.k);
  const part = (a: ArrayLike<number>, from: number, to: number) => Float64Array.from({ length: (to - from) * P }, (_, i) => a[from * P + i]);
  const t: Record<string, number> = {};
  const lambda = cfg.lambdaMax * rampRef(Math.floor(iteration / cfg.epochIterations), cfg.rampupEpochs);

  let sup: number | null = null;
  if (L > 0) {
    const y = part(label, 0, L), yL = part(yhat, 0, L), rL = part(r, 0, L);
    let target: Float64Array;
    if (givenTarget) target = Float64Array.from(givenTarget);
    else if (cfg.sdfTarget === 'cdt') target = s2rRef(y, dims, cdt);
    else {
      target = new Float64Array(L * P);
      for (let b = 0; b < L; b++) target.set(computeSdfRef(part(y, b, b + 1), dims), b * P);
    }
    t.supDice = diceRef(yL, y);
    sup = t.supDice;
    if (cfg.ce) { t.supCe = bceWithLogitsRef(part(z, 0, L), y); sup += t.supCe; }
    if (cfg.beta !== 0) { t.supMse = mseRef(rL, target); sup += cfg.beta * t.supMse; }
    if (cfg.supCross) {
      t.supCrossDice = diceRef(part(r2s, 0, L), y);
      t.supCrossMse = mseRef(s2rRef(yL, dims, cdt), target);
      sup += cfg.betaX * (t.supCrossDice + t.supCrossMse);
    }
    t.sup = sup;
  }

  let unsup: number | null = null;
  if (cfg.con && (cfg.conR2S || cfg.conS2R)) {
    let con = 0;
    if (cfg.conR2S) { t.conR2S = mseRef(r2s, yhat); con += t.conR2S; }
    if (cfg.conS2R) { t.conS2R = mseRef(s2rRef(yhat, dims, cdt), r); con += t.conS2R; }
    t.con = con;
    unsup = con;
  }

  let fr: Frozen | null = null;
  if (B > L && cfg.pse) {
    const yU = part(yhat, L, B), rU = part(r, L, B), cU = part(r2s, L, B);
    const u = Float64Array.from(yU, (v, i) => Math.abs(v - cU[i]));
    if (frozen) fr = frozen;
    else {
      const pseudo = Float64Array.from(yU, (v, i) => ((v + cU[i]) / 2 > 0.5 ? 1 : 0));
      let w: Float64Array | null = null;
      if (cfg.unc) {
        const tau = cfg.tauMax * (0.75 + 0.25 * rampRef(iteration, maxIterations));
        w = cfg.uncertainty === 'exp' ? Float64Array.from(u, (v) => Math.exp(-cfg.gamma * v)) : Float64Array.from(u, (v) => (v < tau ? 1 : 0));
      }
      fr = { pseudo, pseudoSdf: s2rRef(pseudo, dims, cdt), w };
    }
    if (cfg.unc) t.uncertainty = u.reduce((a, b) => a + b, 0) / u.length;
    t.pseDice = diceRef(yU, fr.pseudo, fr.w ?? undefined);
    t.pseMse = mseRef(rU, fr.pseudoSdf, fr.w ?? undefined);
    t.pse = t.pseDice + t.pseMse;
    unsup = (unsup ?? 0) + t.pse;
  }
  t.total = (sup ?? 0) + lambda * (unsup ?? 0);
  return { terms: t, lambda, frozen: fr };
}
