import type { PseudoLabelParams, PseudoWeighting, Storage } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData, roundingTo } from '../cpu/storage.js';
import { binaryFn, unaryFn } from '../elementwise/cpu.js';
import { checkPseudoLabel, checkScaledSigmoid } from './checks.js';

/*
 * The fused maps as the compositions they replace, step by step in the dtype: each step is the elementwise oracle's
 * own function, rounded to the dtype as that op's output would be, so the results are the composed ops' floats.
 */

const sigmoid = unaryFn('sigmoid', []);
const add = binaryFn('add'), sub = binaryFn('sub'), mul = binaryFn('mul');

export function scaledSigmoid(x: Storage, offset: number, n: number, a: number): CpuStorage {
  checkScaledSigmoid('scaledSigmoid', x, offset, n, a);
  const round = roundingTo(x.dtype), X = cpuData(x), scale = unaryFn('affine', [a, 0]);
  const out = typedArrayFor(x.dtype, n);
  for (let i = 0; i < n; i++) out[i] = round(sigmoid(a === 1 ? X[offset + i] : round(scale(X[offset + i]))));
  return new CpuStorage(x.dtype, out);
}

/** g·(y·(1 − y)), then ·a + 0: sigmoid's backward, then affine's (a mulScalar) when a ≠ 1 */
export function scaledSigmoidBackward(y: Storage, g: Storage, n: number, a: number): CpuStorage {
  checkScaledSigmoid('scaledSigmoidBackward', y, 0, n, a, g);
  const round = roundingTo(y.dtype), Y = cpuData(y), G = cpuData(g);
  const complement = unaryFn('affine', [-1, 1]), scale = unaryFn('affine', [a, 0]);
  const out = typedArrayFor(y.dtype, n);
  for (let i = 0; i < n; i++) {
    const gx = round(mul(G[i], round(mul(Y[i], round(complement(Y[i]))))));
    out[i] = a === 1 ? gx : round(scale(gx));
  }
  return new CpuStorage(y.dtype, out);
}

/** exp(−γ·d + 0) (an affine, then exp) or 1[−d + τ > 0] (an affine, then step) */
function weightOf(weighting: PseudoWeighting, round: (v: number) => number): (d: number) => number {
  if (weighting.kind === 'exp') {
    const scale = unaryFn('affine', [-weighting.gamma, 0]), exp = unaryFn('exp', []);
    return (d) => round(exp(round(scale(d))));
  }
  const margin = unaryFn('affine', [-1, weighting.tau]), positive = unaryFn('step', [0]);
  return (d) => positive(round(margin(d)));
}

export function pseudoLabel(p: Storage, q: Storage, params: PseudoLabelParams):
  { pseudo: CpuStorage; disagreement?: CpuStorage; weight?: CpuStorage } {
  checkPseudoLabel(p, q, params);
  const { offset, n, lead, weighting } = params;
  const round = roundingTo(p.dtype), P = cpuData(p), Q = cpuData(q), dtype = p.dtype;
  const above1 = unaryFn('step', [1]), abs = unaryFn('abs', []);
  const pseudo = typedArrayFor(dtype, lead + n);
  const disagreement = weighting ? typedArrayFor(dtype, n) : null, weight = weighting ? typedArrayFor(dtype, n) : null;
  const toWeight = weighting && weightOf(weighting, round);
  for (let i = 0; i < n; i++) {
    const a = P[offset + i], b = Q[offset + i];
    pseudo[lead + i] = above1(round(add(a, b)));
    if (toWeight) {
      const d = round(abs(round(sub(a, b))));
      disagreement![i] = d;
      weight![i] = toWeight(d);
    }
  }
  if (!disagreement || !weight) return { pseudo: new CpuStorage(dtype, pseudo) };
  return { pseudo: new CpuStorage(dtype, pseudo), disagreement: new CpuStorage(dtype, disagreement), weight: new CpuStorage(dtype, weight) };
}
