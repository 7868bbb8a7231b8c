import type { PseudoLabelParams, PseudoWeighting, SigmoidPart, Storage } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData, roundingTo } from '../cpu/storage.js';
import { binaryFn, unaryFn } from '../elementwise/cpu.js';
import { checkPseudoLabel, checkScaledSigmoid, checkScaledSigmoidBackward } from './checks.js';

/*
 * The fused maps as the compositions they replace, step by step in the dtype: each step is the elementwise oracle's
 * own function, rounded to the dtype as that op's output would be, so the results are the composed ops' floats.
 */

const sigmoid = unaryFn('sigmoid', []);
const add = binaryFn('add'), sub = binaryFn('sub'), mul = binaryFn('mul');

export function scaledSigmoid(parts: readonly SigmoidPart[]): CpuStorage {
  checkScaledSigmoid(parts);
  const dtype = parts[0].x.dtype, round = roundingTo(dtype);
  const out = typedArrayFor(dtype, parts.reduce((s, q) => s + q.n, 0));
  let at = 0;
  for (const { x, offset, n, a } of parts) {
    const X = cpuData(x), scale = unaryFn('affine', [a, 0]);
    for (let i = 0; i < n; i++) out[at++] = round(sigmoid(a === 1 ? X[offset + i] : round(scale(X[offset + i]))));
  }
  return new CpuStorage(dtype, out);
}

/** g·(y·(1 − y)), then ·a + 0: sigmoid's backward, then affine's (a mulScalar) when a ≠ 1; then + addend */
export function scaledSigmoidBackward(y: Storage, yOffset: number, g: Storage, n: number, a: number, addend?: Storage): CpuStorage {
  checkScaledSigmoidBackward(y, yOffset, g, n, a, addend);
  const round = roundingTo(y.dtype), Y = cpuData(y), G = cpuData(g);
  const complement = unaryFn('affine', [-1, 1]), scale = unaryFn('affine', [a, 0]);
  const out = typedArrayFor(y.dtype, n);
  for (let i = 0; i < n; i++) {
    const yi = Y[yOffset + i], gx = round(mul(G[i], round(mul(yi, round(complement(yi))))));
    out[i] = a === 1 ? gx : round(scale(gx));
  }
  if (addend) {
    const A = cpuData(addend);
    for (let i = 0; i < n; i++) out[i] = round(out[i] + A[i]);
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

export function pseudoLabel(p: Storage, q: Storage, params: PseudoLabelParams): { pseudo: CpuStorage; weight?: CpuStorage } {
  checkPseudoLabel(p, q, params);
  const { pOffset, qOffset, n, head, weighting } = params;
  const round = roundingTo(p.dtype), P = cpuData(p), Q = cpuData(q), dtype = p.dtype;
  const above1 = unaryFn('step', [1]), abs = unaryFn('abs', []);
  const h = head?.n ?? 0, pseudo = typedArrayFor(dtype, h + n);
  if (head) pseudo.set(cpuData(head.storage).subarray(head.offset, head.offset + h));
  const weight = weighting ? typedArrayFor(dtype, n) : null, toWeight = weighting && weightOf(weighting, round);
  for (let i = 0; i < n; i++) {
    const a = P[pOffset + i], b = Q[qOffset + i];
    pseudo[h + i] = above1(round(add(a, b)));
    if (weight && toWeight) weight[i] = toWeight(round(abs(round(sub(a, b)))));
  }
  return weight ? { pseudo: new CpuStorage(dtype, pseudo), weight: new CpuStorage(dtype, weight) } : { pseudo: new CpuStorage(dtype, pseudo) };
}
