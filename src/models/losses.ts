import {
  add, addScalar, cast, checkFloat, checkSameBackend, div, gather, logSoftmax, mean, mul, mulScalar, ne, neg, reshape,
  softplus, square, sub, sum, unsqueeze, where,
} from '../autograd/index.js';
import { full } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import { broadcastShapes, formatShape, sameShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Losses, as torch.nn.functional (PyTorch names, argument order and reduction semantics), composed of
 * differentiable operations. Reductions: 'mean' (default), 'sum', or 'none' (elementwise / per sample).
 */

export type Reduction = 'mean' | 'sum' | 'none';

function checkReduction(op: string, r: string): void {
  if (r !== 'mean' && r !== 'sum' && r !== 'none') throw new Error(`${op}: unknown reduction '${r}'; valid: mean, sum, none`);
}

function checkSameShape(op: string, aName: string, a: Tensor, bName: string, b: Tensor): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new Error(`${op}: ${bName} ${formatShape(b.shape)} must have the shape of ${aName} ${formatShape(a.shape)}`);
  }
}

function checkFloatPair(op: string, aName: string, a: Tensor, bName: string, b: Tensor): void {
  checkFloat(op, a);
  checkSameBackend(op, a, b);
  if (b.dtype !== a.dtype) {
    throw new Error(`${op}: ${bName} ${formatShape(b.shape)} ${b.dtype} must have the dtype of ${aName} ${formatShape(a.shape)} ${a.dtype}; cast() it first`);
  }
}

/** An optional per-element weight: same dtype and backend as x, broadcastable to x's shape. */
function checkWeight(op: string, name: string, w: Tensor | null | undefined, x: Tensor): void {
  if (!w) return;
  checkFloatPair(op, 'input', x, name, w);
  let target: number[];
  try {
    target = broadcastShapes(w.shape, x.shape);
  } catch {
    throw new Error(`${op}: ${name} ${formatShape(w.shape)} cannot be broadcast to the input ${formatShape(x.shape)}`);
  }
  if (!sameShape(target, x.shape)) throw new Error(`${op}: ${name} ${formatShape(w.shape)} cannot be broadcast to the input ${formatShape(x.shape)}`);
}

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return loss;
  return reduction === 'sum' ? sum(loss) : mean(loss);
}

// ------------------------------------------------------------------------------------------- cross entropy

export interface CrossEntropyOptions {
  /** a rescaling weight per class, [C] */
  weight?: Tensor | null;
  /** targets equal to this contribute nothing (and do not count in the mean); default -100 */
  ignoreIndex?: number;
  reduction?: Reduction;
}

/**
 * F.cross_entropy with class-index targets: logits [N, C, …] (float), target [N, …] int32 in [0, C) or
 * ignoreIndex. loss_i = −w[t_i]·log_softmax(x_i)[t_i], 0 for ignored targets; 'mean' divides the sum by
 * Σ w[t_i] over the non-ignored targets (so all-ignored gives NaN with a zero gradient, as PyTorch), 'none' gives
 * [N, …].
 * Target values outside [0, C) other than ignoreIndex are not checked on the GPU (the cpu backend throws).
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  const reduction = options.reduction ?? 'mean', ignoreIndex = options.ignoreIndex ?? -100, weight = options.weight ?? null;
  checkReduction(op, reduction);
  checkFloat(op, logits);
  if (logits.rank < 2) throw new Error(`${op}: logits must be [N, C, …], got ${formatShape(logits.shape)}`);
  checkSameBackend(op, logits, target);
  if (target.dtype !== 'int32') throw new Error(`${op}: target ${formatShape(target.shape)} must hold int32 class indices, got ${target.dtype}`);
  const expected = logits.shape.filter((_, i) => i !== 1);
  if (!sameShape(target.shape, expected)) {
    throw new Error(`${op}: target ${formatShape(target.shape)} must be ${formatShape(expected)} (logits ${formatShape(logits.shape)} without the class axis)`);
  }
  const classes = logits.shape[1];
  if (weight) {
    checkFloatPair(op, 'logits', logits, 'weight', weight);
    if (weight.rank !== 1 || weight.shape[0] !== classes) {
      throw new Error(`${op}: weight ${formatShape(weight.shape)} must be [${classes}] (one per class of logits ${formatShape(logits.shape)})`);
    }
  }
  return tidy(() => {
    const ignore = full([], ignoreIndex, { dtype: 'int32', backend: target.backend });
    const keepMask = ne(target, ignore);
    const safe = where(keepMask, target, full([], 0, { dtype: 'int32', backend: target.backend }));
    const picked = reshape(gather(logSoftmax(logits, 1), 1, unsqueeze(safe, 1)), target.shape);
    let w = cast(keepMask, logits.dtype);
    if (weight) w = mul(w, reshape(gather(weight, 0, reshape(safe, [-1])), target.shape));
    const loss = neg(mul(picked, w));
    if (reduction === 'none') return loss;
    if (reduction === 'sum') return sum(loss);
    // Σw = 0 (every target ignored): the value is 0/0 = NaN and the gradient 0, both as PyTorch's (its backward
    // writes nothing for ignored targets); dividing by Σw itself would make the gradient 0·(1/0) = NaN
    const total = sum(w);
    const zero = full([], 0, { dtype: logits.dtype, backend: logits.backend });
    const counted = ne(total, zero);
    const mean = div(sum(loss), where(counted, total, full([], 1, { dtype: logits.dtype, backend: logits.backend })));
    return add(mean, where(counted, zero, full([], NaN, { dtype: logits.dtype, backend: logits.backend })));
  });
}

// --------------------------------------------------------------------------------------- binary / regression

export interface BceWithLogitsOptions {
  reduction?: Reduction;
  /** a weight per positive example, broadcast with the target (e.g. [C, 1, 1, 1] for NCDHW) */
  posWeight?: Tensor | null;
  /** a rescaling weight per element, broadcast to the input */
  weight?: Tensor | null;
}

/**
 * F.binary_cross_entropy_with_logits in its stable form:
 * ℓ = w·[posWeight·y·softplus(−x) + (1 − y)·softplus(x)] (= −w·[pw·y·log σ(x) + (1 − y)·log(1 − σ(x))]).
 */
export function binaryCrossEntropyWithLogits(x: Tensor, y: Tensor, options: BceWithLogitsOptions = {}): Tensor {
  const op = 'binaryCrossEntropyWithLogits';
  const reduction = options.reduction ?? 'mean';
  checkReduction(op, reduction);
  checkFloatPair(op, 'input', x, 'target', y);
  checkSameShape(op, 'input', x, 'target', y);
  checkWeight(op, 'posWeight', options.posWeight, x);
  checkWeight(op, 'weight', options.weight, x);
  return tidy(() => {
    let positive = mul(y, softplus(neg(x)));
    if (options.posWeight) positive = mul(positive, options.posWeight);
    let loss = add(positive, mul(addScalar(neg(y), 1), softplus(x)));
    if (options.weight) loss = mul(loss, options.weight);
    return reduce(loss, reduction);
  });
}

export interface MseLossOptions {
  reduction?: Reduction;
  /**
   * a per-element weight broadcast to the input: the elementwise loss becomes w·(x − y)², and 'mean' is the
   * plain mean of w·(x − y)² over all elements (not divided by Σ w)
   */
  weight?: Tensor | null;
}

/** F.mse_loss: (x − y)², optionally weighted per element (see `weight`). x and y must have the same shape. */
export function mseLoss(x: Tensor, y: Tensor, options: MseLossOptions = {}): Tensor {
  const op = 'mseLoss';
  const reduction = options.reduction ?? 'mean';
  checkReduction(op, reduction);
  checkFloatPair(op, 'input', x, 'target', y);
  checkSameShape(op, 'input', x, 'target', y);
  checkWeight(op, 'weight', options.weight, x);
  return tidy(() => {
    let loss = square(sub(x, y));
    if (options.weight) loss = mul(loss, options.weight);
    return reduce(loss, reduction);
  });
}

// ------------------------------------------------------------------------------------------------- dice

export interface DiceLossOptions {
  /**
   * 'mean' (default): ONE ratio pooled over all elements (DTC/UA-MT's dice_loss), a scalar — not the mean of
   * the per-sample losses. 'none': one ratio per sample (the sums run over every axis but 0), [N].
   * 'sum': the sum of those per-sample losses, a scalar.
   */
  reduction?: Reduction;
  /** a per-element weight broadcast to p: the sums become Σ w·p·y, Σ w·p², Σ w·y² */
  weight?: Tensor | null;
  /** the smoothing term in numerator and denominator, default 1e-5 */
  smooth?: number;
}

/**
 * Soft Dice loss 1 − (2·Σ p·y + s)/(Σ p² + Σ y² + s), with s = 1e-5 (the V-Net/DTC form with squared
 * denominators); p are probabilities, y targets of the same shape and dtype. See `reduction` for what the
 * sums run over; with `weight` each element's terms are multiplied by its weight.
 */
export function diceLoss(p: Tensor, y: Tensor, options: DiceLossOptions = {}): Tensor {
  const op = 'diceLoss';
  const reduction = options.reduction ?? 'mean', smooth = options.smooth ?? 1e-5;
  checkReduction(op, reduction);
  checkFloatPair(op, 'input', p, 'target', y);
  checkSameShape(op, 'input', p, 'target', y);
  checkWeight(op, 'weight', options.weight, p);
  if (reduction !== 'mean' && p.rank < 1) throw new Error(`${op}: reduction '${reduction}' needs a batch axis, got input ${formatShape(p.shape)}`);
  return tidy(() => {
    const w = options.weight ?? null;
    const axes = reduction === 'mean' ? undefined : p.shape.map((_, i) => i).slice(1);
    const weighted = (t: Tensor) => (w ? mul(t, w) : t);
    const intersect = sum(weighted(mul(p, y)), axes);
    const denominator = add(sum(weighted(square(p)), axes), sum(weighted(square(y)), axes));
    const loss = addScalar(neg(div(addScalar(mulScalar(intersect, 2), smooth), addScalar(denominator, smooth))), 1);
    return reduction === 'sum' ? sum(loss) : loss;
  });
}
