import { concat, mulScalar, reshape, sum } from '../autograd/ops.js';
import { noGrad } from '../autograd/graph.js';
import { zeros } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Non-finite values (NaN, ±Inf) in model state: a device-side probe cheap enough to run before every checkpoint,
 * and host-side descriptions that name the tensor and what is wrong with it.
 */

/**
 * One float32 value per tensor, as a [n] tensor: 0 when every element is finite, NaN otherwise (Σ x·0, since
 * NaN·0 = ±Inf·0 = NaN while finite·0 = 0, so large finite values cannot overflow into a false alarm). Integer
 * tensors are always finite (0). Read it back together with other values: it costs no synchronisation of its own.
 */
export function nonFiniteProbe(tensors: readonly Tensor[]): Tensor {
  if (tensors.length === 0) throw new Error('nonFiniteProbe: no tensors');
  const backend = tensors[0]!.backend;
  const dtype = tensors.find((t) => t.dtype !== 'int32')?.dtype ?? 'float32';
  return noGrad(() => concat(tensors.map((t) => (t.dtype === 'int32'
    ? zeros([1], { backend, dtype })
    : reshape(sum(mulScalar(t, 0)), [1])))));
}

export type NonFiniteKind = 'NaN' | '+Inf' | '-Inf';

/** 'NaN', '+Inf' or '-Inf' for a non-finite value, null for a finite one. */
export function nonFiniteKind(v: number): NonFiniteKind | null {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return null;
}

/** The counts of NaN, +Inf and −Inf in data and the first non-finite element, or null when all are finite. */
export function describeNonFinite(data: ArrayLike<number>): string | null {
  let nan = 0, pos = 0, neg = 0, first = -1;
  for (let i = 0; i < data.length; i++) {
    const kind = nonFiniteKind(data[i]!);
    if (kind === null) continue;
    if (first < 0) first = i;
    if (kind === 'NaN') nan++;
    else if (kind === '+Inf') pos++;
    else neg++;
  }
  if (first < 0) return null;
  const counts = [[nan, 'NaN'], [pos, '+Inf'], [neg, '-Inf']].filter(([n]) => n).map(([n, k]) => `${n} ${k}`).join(', ');
  return `${counts} of ${data.length} elements (the first at element ${first}: ${nonFiniteKind(data[first]!)})`;
}
