import type { LossTotal, RowLoss, RowLossInputs, Storage, WeightedGroup, WeightedTerm } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData, roundingTo, storageFrom } from '../cpu/storage.js';
import { binaryFn, unaryFn } from '../elementwise/cpu.js';
import { checkLossTotal, checkLossTotalBackward, checkRowLoss, checkRowLossBackward, checkWeightedSum, checkWeightedSumBackward, checkWeightedSums } from './checks.js';

/**
 * The row losses in float64, literally as their formulas (see RowLoss in backend.ts): each row's sums in
 * element order, then the loss; the backward elementwise from the sums.
 */

const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** fn(r, a, b, w) for every element of every row, with the weight 1 when absent */
function forElements(inputs: RowLossInputs, fn: (r: number, at: number, a: number, b: number, w: number) => void): void {
  const [oa, ob, ow] = inputs.operands;
  const da = cpuData(oa.storage), db = cpuData(ob.storage), dw = ow ? cpuData(ow.storage) : null;
  for (let r = 0; r < inputs.rows; r++) {
    const ia = oa.offset + r * oa.rowStride, ib = ob.offset + r * ob.rowStride, iw = ow ? ow.offset + r * ow.rowStride : 0;
    for (let i = 0; i < inputs.n; i++) fn(r, r * inputs.n + i, da[ia + i], db[ib + i], dw ? dw[iw + i] : 1);
  }
}

/** the three sums of one element */
function terms(loss: RowLoss, a: number, b: number, w: number): [number, number, number] {
  switch (loss.kind) {
    case 'dice': return [w * a * b, w * a * a, w * b * b];
    case 'bce': return [b * softplus(-a) + (1 - b) * softplus(a), 0, 0];
    case 'mse': return [w * (a - b) ** 2, w, 0];
    case 'l1': return [Math.abs(a - b), 0, 0];
  }
}

function finish(loss: RowLoss, s: Float64Array, r: number, weighted: boolean): number {
  const [s0, s1, s2] = [s[3 * r], s[3 * r + 1], s[3 * r + 2]];
  switch (loss.kind) {
    case 'dice': return 1 - (2 * s0 + loss.smooth) / (s1 + s2 + loss.smooth);
    case 'bce': case 'l1': return s0 * loss.scale;
    case 'mse': return weighted ? s0 / (s1 + loss.eps) : s0 * loss.scale;
  }
}

export function rowLoss(loss: RowLoss, inputs: RowLossInputs): { loss: CpuStorage; sums: CpuStorage } {
  const dtype = checkRowLoss('rowLoss', loss, inputs)[0].dtype;
  const sums = new Float64Array(3 * inputs.rows);
  forElements(inputs, (r, _, a, b, w) => {
    const t = terms(loss, a, b, w);
    for (let j = 0; j < 3; j++) sums[3 * r + j] += t[j];
  });
  const weighted = inputs.operands[2] !== null;
  const out = Float64Array.from({ length: inputs.rows }, (_, r) => finish(loss, sums, r, weighted));
  return { loss: storageFrom(dtype, out), sums: storageFrom(dtype, sums) };
}

/** the gradients of one element's term of row r w.r.t. (a, b, w), times gr = g[r] */
function gradients(loss: RowLoss, s: Float64Array, r: number, gr: number, a: number, b: number, w: number,
  weighted: boolean): [number, number, number] {
  const [s0, s1, s2] = [s[3 * r], s[3 * r + 1], s[3 * r + 2]];
  switch (loss.kind) {
    case 'dice': {
      // L = 1 − N/D, N = 2I + s, D = P + Y + s: ∂L/∂p = 2w/D·(N/D·p − y), ∂L/∂w = (N/D·(p² + y²) − 2py)/D
      const d = s1 + s2 + loss.smooth, q = (2 * s0 + loss.smooth) / d;
      return [gr * (2 * w / d) * (q * a - b), gr * (2 * w / d) * (q * b - a), gr * (q * (a * a + b * b) - 2 * a * b) / d];
    }
    // ℓ = softplus(x) − y·x: ∂ℓ/∂x = σ(x) − y, ∂ℓ/∂y = −x
    case 'bce': return [(sigmoid(a) - b) * gr * loss.scale, -a * gr * loss.scale, 0];
    case 'l1': { const ga = Math.sign(a - b) * gr * loss.scale; return [ga, -ga, 0]; }
    case 'mse': {
      if (!weighted) { const ga = (a - b) * (2 * loss.scale * gr); return [ga, -ga, 0]; }
      // L = S/Z, Z = W + eps: ∂L/∂a = 2w(a − b)/Z, ∂L/∂w = ((a − b)² − L)/Z
      const z = s1 + loss.eps, ga = 2 * w * (a - b) / z * gr;
      return [ga, -ga, ((a - b) ** 2 - s0 / z) / z * gr];
    }
  }
}

export function rowLossBackward(loss: RowLoss, inputs: RowLossInputs, sums: Storage, g: Storage,
  wanted: readonly [boolean, boolean, boolean]): CpuStorage[] {
  checkRowLossBackward(loss, inputs, sums, g, wanted);
  const s = Float64Array.from(cpuData(sums)), gs = cpuData(g), total = inputs.rows * inputs.n;
  const out = wanted.map((want) => (want ? new Float64Array(total) : null));
  const weighted = inputs.operands[2] !== null;
  forElements(inputs, (r, at, a, b, w) => {
    const d = gradients(loss, s, r, gs[r], a, b, w, weighted);
    for (let k = 0; k < 3; k++) if (out[k]) out[k]![at] = d[k];
  });
  return out.flatMap((o) => (o ? [storageFrom(g.dtype, o)] : []));
}

/** w·x as mulScalar computes it (an affine a·x + 0), x itself where w = 1 */
const weighted = (w: number, x: number): number => (w === 1 ? x : unaryFn('affine', [w, 0])(x));

/** Σ w·x over the (w, x) pairs in order as the composed ops: each product an affine, each partial sum an add, rounded. */
function weightedAccumulation(pairs: readonly (readonly [number, number])[], round: (v: number) => number): number {
  const add = binaryFn('add');
  let acc: number | null = null;
  for (const [w, x] of pairs) {
    const v = round(weighted(w, x));
    acc = acc === null ? v : round(add(acc, v));
  }
  return acc!;
}

const weightedPairs = (terms: readonly WeightedTerm[]): [number, number][] =>
  terms.flatMap(({ storage, offset, weights }) => { const data = cpuData(storage); return weights.map((w, j): [number, number] => [w, data[offset + j]]); });

/** The weighted sum as the composed ops: each product an affine, each partial sum an add, rounded to the dtype. */
export function weightedSum(terms: readonly WeightedTerm[]): CpuStorage {
  const dtype = checkWeightedSum(terms);
  return storageFrom(dtype, Float64Array.of(weightedAccumulation(weightedPairs(terms), roundingTo(dtype))));
}

/** Each group's weighted sum, then theirs with the groups' weights, as the composed ops. */
export function weightedSums(groups: readonly WeightedGroup[]): CpuStorage {
  const dtype = checkWeightedSums(groups), round = roundingTo(dtype);
  const sums = groups.map((g) => weightedAccumulation(weightedPairs(g.terms), round));
  return storageFrom(dtype, Float64Array.from([...sums, weightedAccumulation(groups.map((g, k) => [g.weight, sums[k]]), round)]));
}

export function weightedSumBackward(weights: readonly (readonly number[])[], g: Storage, scales?: readonly number[]): CpuStorage[] {
  checkWeightedSumBackward(weights, g, scales);
  const round = roundingTo(g.dtype), gv = cpuData(g)[0];
  return weights.map((ws, k) => {
    const out = typedArrayFor(g.dtype, ws.length), gk = round(weighted(scales?.[k] ?? 1, gv));
    ws.forEach((w, j) => { out[j] = round(weighted(w, gk)); });
    return new CpuStorage(g.dtype, out);
  });
}

/** the rows' sums [3R] of lossTotal's items, each row's in element order */
function itemSums(total: LossTotal, items: readonly RowLossInputs[], rows: number): Float64Array {
  const sums = new Float64Array(3 * rows);
  let first = 0;
  items.forEach((inputs, k) => {
    forElements(inputs, (r, _, a, b, w) => {
      const t = terms(total.items[k].loss, a, b, w);
      for (let j = 0; j < 3; j++) sums[3 * (first + r) + j] += t[j];
    });
    first += inputs.rows;
  });
  return sums;
}

/** The items' row losses in float64, then each group's and the total's weighted sums as weightedSums rounds them. */
export function lossTotal(total: LossTotal): { values: CpuStorage; sums: CpuStorage } {
  const { items, rows, dtype } = checkLossTotal('lossTotal', total), round = roundingTo(dtype);
  const sums = itemSums(total, items, rows);
  const losses = items.flatMap((inputs, k) => Array.from({ length: inputs.rows }, (_, r) => {
    const first = items.slice(0, k).reduce((n, i) => n + i.rows, 0);
    return round(finish(total.items[k].loss, sums, first + r, inputs.operands[2] !== null));
  }));
  const groups = total.groupWeights.map((_, g) => weightedAccumulation(losses.flatMap((x, j) => (total.group[j] === g ? [[total.weights[j], x] as const] : [])), round));
  const sum = weightedAccumulation(groups.map((s, g) => [total.groupWeights[g], s] as const), round);
  return { values: storageFrom(dtype, Float64Array.from([...losses, ...groups, sum])), sums: storageFrom(dtype, sums) };
}

/** Each item's rowLossBackward from its rows' g[r] = w_r·(W·g + 0) + 0, added per element of each input in item order. */
export function lossTotalBackward(total: LossTotal, sums: Storage, g: Storage, wanted: readonly boolean[]): CpuStorage[] {
  const { items } = checkLossTotalBackward(total, sums, g, wanted);
  const round = roundingTo(g.dtype), gv = cpuData(g)[0], s = Float64Array.from(cpuData(sums));
  const out = total.inputs.map((t, k) => (wanted[k] ? new Float64Array(t.length) : null));
  let first = 0;
  items.forEach((inputs, k) => {
    const { loss, operands } = total.items[k];
    const scale = (r: number) => {
      const j = first + r, group = total.group[j];
      return group < 0 ? 0 : round(weighted(total.weights[j], round(weighted(total.groupWeights[group], gv))));
    };
    // gradients() reads row r's sums at 3r: this item's rows' sums from its first row on
    const rowSums = s.subarray(3 * first, 3 * (first + inputs.rows));
    forElements(inputs, (r, at, a, b, w) => {
      if (total.group[first + r] < 0) return;
      const d = gradients(loss, rowSums, r, scale(r), a, b, w, inputs.operands[2] !== null);
      const i = at - r * inputs.n;
      operands.forEach((o, j) => { if (o && out[o.input]) out[o.input]![o.offset + r * o.rowStride + i] += d[j]; });
    });
    first += inputs.rows;
  });
  return out.flatMap((o) => (o ? [storageFrom(g.dtype, o)] : []));
}
