import type { MultiheadAttention } from '../../src/models/index.js';
import type { Tensor } from '../../src/tensor/index.js';

/**
 * Float64 references for the attention tests written out with explicit loops over plain arrays (row-major), no
 * engine op involved: linear layers, layer norm, GELU, and attention with an additive bias per (batch, head, i, j).
 */

export type Bias = (b: number, h: number, i: number, j: number) => number;

/** y[r, o] = Σ_i x[r, i]·w[o, i] + bias[o] for `rows` rows */
export function refLinear(x: ArrayLike<number>, rows: number, w: ArrayLike<number>, bias: ArrayLike<number> | null, inF: number, outF: number): Float64Array {
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) for (let o = 0; o < outF; o++) {
    let s = bias ? bias[o] : 0;
    for (let i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
    y[r * outF + o] = s;
  }
  return y;
}

export function refLayerNorm(x: ArrayLike<number>, rows: number, size: number, weight: ArrayLike<number>, bias: ArrayLike<number>, eps = 1e-5): Float64Array {
  const y = new Float64Array(rows * size);
  for (let r = 0; r < rows; r++) {
    let m = 0, v = 0;
    for (let i = 0; i < size; i++) m += x[r * size + i];
    m /= size;
    for (let i = 0; i < size; i++) v += (x[r * size + i] - m) ** 2;
    v /= size;
    for (let i = 0; i < size; i++) y[r * size + i] = ((x[r * size + i] - m) / Math.sqrt(v + eps)) * weight[i] + bias[i];
  }
  return y;
}

/** erf to float64 precision (Abramowitz–Stegun 7.1.26 is too coarse): the Taylor series, then the continued fraction */
export function refErf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax, sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc by its continued fraction (Lentz) for |x| ≥ 3
  let f = ax, c = ax, d = 0;
  for (let n = 1; n < 200; n++) {
    const a = n / 2;
    d = ax + a * d; d = 1 / d;
    c = ax + a / c;
    f *= c * d;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

export const refGelu = (x: number): number => 0.5 * x * (1 + refErf(x / Math.SQRT2));

/**
 * Attention per batch b and head h over q [B, H, L, D], k [B, H, S, D], v [B, H, S, Dv] (flat, row-major):
 * weights[b, h, i, :] = softmax_j(scale·q_i·k_j + bias(b, h, i, j)), out = weights · v. A row whose scores are all
 * −∞ gives NaN, as the formula does.
 */
export function refAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>,
  dims: { b: number; h: number; l: number; s: number; d: number; dv: number }, scale: number, bias: Bias = () => 0): { out: Float64Array; weights: Float64Array } {
  const { b: nb, h: nh, l, s, d, dv } = dims;
  const weights = new Float64Array(nb * nh * l * s), out = new Float64Array(nb * nh * l * dv);
  for (let b = 0; b < nb; b++) for (let h = 0; h < nh; h++) {
    const bh = b * nh + h;
    for (let i = 0; i < l; i++) {
      const scores = new Float64Array(s);
      for (let j = 0; j < s; j++) {
        let dotp = 0;
        for (let e = 0; e < d; e++) dotp += q[(bh * l + i) * d + e] * k[(bh * s + j) * d + e];
        scores[j] = dotp * scale + bias(b, h, i, j);
      }
      const m = Math.max(...scores);
      let total = 0;
      for (let j = 0; j < s; j++) total += Math.exp(scores[j] - m);
      for (let j = 0; j < s; j++) weights[(bh * l + i) * s + j] = Math.exp(scores[j] - m) / total;
      for (let e = 0; e < dv; e++) {
        let acc = 0;
        for (let j = 0; j < s; j++) acc += weights[(bh * l + i) * s + j] * v[(bh * s + j) * dv + e];
        out[(bh * l + i) * dv + e] = acc;
      }
    }
  }
  return { out, weights };
}

/** [B, N, H·D] → [B, H, N, D] */
export function splitHeads(x: ArrayLike<number>, b: number, n: number, h: number, d: number): Float64Array {
  const y = new Float64Array(b * n * h * d);
  for (let bi = 0; bi < b; bi++) for (let t = 0; t < n; t++) for (let hi = 0; hi < h; hi++) for (let e = 0; e < d; e++) {
    y[((bi * h + hi) * n + t) * d + e] = x[((bi * n + t) * h + hi) * d + e];
  }
  return y;
}

/** [B, H, N, D] → [B, N, H·D] */
export function mergeHeads(x: ArrayLike<number>, b: number, n: number, h: number, d: number): Float64Array {
  const y = new Float64Array(b * n * h * d);
  for (let bi = 0; bi < b; bi++) for (let t = 0; t < n; t++) for (let hi = 0; hi < h; hi++) for (let e = 0; e < d; e++) {
    y[((bi * n + t) * h + hi) * d + e] = x[((bi * h + hi) * n + t) * d + e];
  }
  return y;
}

/** A parameter's values as float64 on the host */
export async function hostValues(t: Tensor): Promise<Float64Array> { return Float64Array.from(await t.toArray()); }

export interface MhaDims { n: number; l: number; s: number; e: number; h: number; kdim: number; vdim: number }

/** the reference: inputs batch-first [N, L, E], [N, S, kdim], [N, S, vdim]; output [N, L, E] and weights [N, H, L, S] */
export async function refMultiheadAttention(m: MultiheadAttention, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dims: MhaDims, bias: Bias = () => 0) {
  const { n, l, s, e, h, kdim, vdim } = dims, d = e / h;
  const inW = m.inProjWeight ? await hostValues(m.inProjWeight) : null;
  const weight = async (i: number, p: Tensor | null, inF: number) => (inW ? inW.slice(i * e * e, (i + 1) * e * e) : (await hostValues(p!)).slice(0, e * inF));
  const inB = m.inProjBias ? await hostValues(m.inProjBias) : null;
  const proj = async (x: ArrayLike<number>, rows: number, i: number, p: Tensor | null, inF: number) =>
    refLinear(x, n * rows, await weight(i, p, inF), inB ? inB.slice(i * e, (i + 1) * e) : null, inF, e);
  const qh = splitHeads(await proj(q, l, 0, m.qProjWeight, e), n, l, h, d);
  const kh = splitHeads(await proj(k, s, 1, m.kProjWeight, kdim), n, s, h, d);
  const vh = splitHeads(await proj(v, s, 2, m.vProjWeight, vdim), n, s, h, d);
  const { out, weights } = refAttention(qh, kh, vh, { b: n, h, l, s, d, dv: d }, 1 / Math.sqrt(d), bias);
  const ow = await hostValues(m.outProj.weight), ob = m.outProj.bias ? await hostValues(m.outProj.bias) : null;
  return { out: refLinear(mergeHeads(out, n, l, h, d), n * l, ow, ob, e, e), weights };
}

