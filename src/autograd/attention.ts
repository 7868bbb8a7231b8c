import { formatShape } from '../tensor/shape.js';
import { fromArray, full, type CreateOptions } from '../tensor/creation.js';
import { nextSeed } from '../tensor/seed.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { dropout, softmax } from './nn.js';
import { add, amax, checkFloat, detach, eq, matmul, mulScalar, transpose, where } from './ops.js';

/**
 * Attention as a composition of differentiable ops (matmul, softmax, dropout): PyTorch's math path of
 * F.scaled_dot_product_attention, no fused kernel.
 *
 * Masks. voxgrad has no bool dtype: an **int32** mask stands for PyTorch's bool mask (nonzero = True) and a
 * **float** mask is added to the scores, as PyTorch's float masks are. What True means follows the PyTorch function
 * it mirrors: in scaledDotProductAttention True = "takes part" (attend); in MultiheadAttention's attnMask and
 * keyPaddingMask True = "masked out". A float 0/1 mask is added like any float mask (as in PyTorch), which is
 * almost never what is meant: use int32 for a yes/no mask.
 *
 * A row of the scores that is −∞ everywhere (every key masked out): scaledDotProductAttention gives it zero weights,
 * hence a zero output row and zero gradients, as PyTorch's scaled_dot_product_attention (≥ 2.5, at::_safe_softmax),
 * and so does nn.MultiheadAttention without needWeights, which calls it; with needWeights, PyTorch's
 * MultiheadAttention takes the plain softmax, whose row of all −∞ is NaN, and so does ours.
 */

export interface AttentionWeightsOptions {
  /** an additive float mask or an int32 "attend" mask (nonzero: attend), broadcastable to [..., L, S] */
  attnMask?: Tensor | null;
  /** the causal mask of PyTorch's is_causal: query i attends to keys j ≤ i (top-left aligned, as tril(ones(L, S))) */
  isCausal?: boolean;
  /** factor of the scores; default 1/√E, E = the query's last axis */
  scale?: number;
}

export interface ScaledDotProductAttentionOptions extends AttentionWeightsOptions {
  /** dropout probability on the attention weights (default 0; applied whenever > 0, as PyTorch's dropout_p) */
  dropoutP?: number;
  /** seed of the dropout mask (see F.dropout); default: the next seed of the global generator (manualSeed) */
  dropoutSeed?: number;
}

function checkOperands(op: string, query: Tensor, key: Tensor, value: Tensor): void {
  for (const [name, t] of [['query', query], ['key', key], ['value', value]] as const) {
    checkFloat(op, t);
    if (t.rank < 2) throw new Error(`${op}: ${name} must be [..., ${name === 'query' ? 'L' : 'S'}, E] (at least 2 dimensions), got ${formatShape(t.shape)}`);
  }
  const e = query.shape[query.rank - 1], s = key.shape[key.rank - 2];
  if (key.shape[key.rank - 1] !== e) {
    throw new Error(`${op}: key ${formatShape(key.shape)} must end in the query's embedding size ${e} (query ${formatShape(query.shape)})`);
  }
  if (value.shape[value.rank - 2] !== s) {
    throw new Error(`${op}: value ${formatShape(value.shape)} must have as many rows as key ${formatShape(key.shape)} has (${s})`);
  }
}

/** The float causal mask [L, S]: 0 where query i may attend key j ≤ i, −∞ above the diagonal (float32 by default). */
export function causalMask(l: number, s: number, options: Omit<CreateOptions, 'requiresGrad'> = {}): Tensor {
  const values = new Float64Array(l * s);
  for (let i = 0; i < l; i++) for (let j = i + 1; j < s; j++) values[i * s + j] = -Infinity;
  return fromArray(values, [l, s], { dtype: 'float32', ...options });
}

/**
 * A mask as the float bias added to the scores: a float mask as it is; an int32 mask as 0 where it is nonzero and
 * −∞ elsewhere, or the other way round when `trueMasksOut` (MultiheadAttention's masks). `like` gives dtype and backend.
 */
export function additiveMask(mask: Tensor, like: Tensor, trueMasksOut: boolean, op: string, name: string): Tensor {
  if (mask.dtype !== 'int32') {
    if (mask.dtype !== like.dtype) throw new Error(`${op}: a float ${name} must have the query's dtype ${like.dtype} (PyTorch's rule), got ${mask.dtype}; int32 for a yes/no mask`);
    return mask;
  }
  return tidy(() => {
    const attend = full([], 0, { dtype: like.dtype, backend: like.backend });
    const blocked = full([], -Infinity, { dtype: like.dtype, backend: like.backend });
    return trueMasksOut ? where(mask, blocked, attend) : where(mask, attend, blocked);
  });
}

/**
 * at::_safe_softmax over the last axis: the softmax, but 0 on a row that is −∞ everywhere (NaN there otherwise). The
 * row's scores are set to 0 before the softmax too, so that its gradient is 0 and not NaN · 0.
 */
function safeSoftmax(scores: Tensor): Tensor {
  return tidy(() => {
    const fullyMasked = eq(amax(detach(scores), -1, true), -Infinity);
    const zero = full([], 0, { dtype: scores.dtype, backend: scores.backend });
    return where(fullyMasked, zero, softmax(where(fullyMasked, zero, scores), -1));
  });
}

/**
 * softmax(query · keyᵀ · scale + mask) over the keys: the attention weights [..., L, S] of
 * scaledDotProductAttention before its dropout (the batch axes broadcast as matmul's). With `zeroFullyMaskedRows`,
 * scaled_dot_product_attention's safe softmax (a row of all −∞ weighs 0); without, the plain softmax (NaN there).
 */
export function attentionWeights(
  query: Tensor, key: Tensor, options: AttentionWeightsOptions = {}, op = 'attentionWeights', zeroFullyMaskedRows = false,
): Tensor {
  const { attnMask = null, isCausal = false } = options;
  if (isCausal && attnMask) throw new Error(`${op}: give either attnMask or isCausal, not both (PyTorch refuses an explicit attn_mask with is_causal)`);
  const l = query.shape[query.rank - 2], s = key.shape[key.rank - 2];
  const scale = options.scale ?? 1 / Math.sqrt(query.shape[query.rank - 1]);
  return tidy(() => {
    let scores = mulScalar(matmul(query, transpose(key)), scale);
    if (attnMask) {
      const m = attnMask.rank;
      const fits = m <= scores.rank && attnMask.shape.every((d, i) => d === 1 || d === scores.shape[scores.rank - m + i]);
      if (!fits) throw new Error(`${op}: attnMask ${formatShape(attnMask.shape)} does not broadcast to the scores ${formatShape(scores.shape)} ([..., L, S])`);
      scores = add(scores, additiveMask(attnMask, query, false, op, 'attnMask'));
    }
    if (isCausal) scores = add(scores, causalMask(l, s, { dtype: query.dtype, backend: query.backend }));
    return zeroFullyMaskedRows ? safeSoftmax(scores) : softmax(scores, -1);
  });
}

/**
 * F.scaled_dot_product_attention(query [..., L, E], key [..., S, E], value [..., S, Ev]) → [..., L, Ev]:
 * dropout(softmax(query · keyᵀ · scale + mask)) · value, with the masks as described at the top of this file
 * (int32: nonzero attends; float: added). Differentiable in query, key, value and a float mask.
 */
export function scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, options: ScaledDotProductAttentionOptions = {}): Tensor {
  const op = 'scaledDotProductAttention';
  checkOperands(op, query, key, value);
  const p = options.dropoutP ?? 0;
  if (!(p >= 0 && p <= 1)) throw new Error(`${op}: dropoutP must be in [0, 1], got ${p}`);
  return tidy(() => {
    const weights = attentionWeights(query, key, options, op, true);
    const dropped = p > 0 ? dropout(weights, p, true, options.dropoutSeed ?? nextSeed()) : weights;
    return matmul(dropped, value);
  });
}
