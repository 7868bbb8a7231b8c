import {
  abs, add, addScalar, affine, cast, checkFloat, checkSameBackend, div, eq, exp, expand, gather, logSoftmax, lt, max, mean, mul, mulScalar, ne,
  neg, oneHot, permute, powScalar, reciprocal, reshape, sigmoid, slice, softmax, softplus, square, squeeze, sub, sum, unsqueeze, where,
} from '../autograd/index.js';
import { rowLoss } from '../autograd/losses.js';
import { fromArray, full } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { checkFloatPair, checkInputTarget, checkReduction, checkWeight, classTargetWording, type Reduction } from './loss-checks.js';

/**
 * Losses, as torch.nn.functional (PyTorch names, argument order and reduction semantics), composed of
 * differentiable operations; Soft Dice and BCE with logits reduced to values run as fused kernels (one
 * reduction forward, one pass backward: autograd/losses.ts). Reductions: 'mean' (default), 'sum', or 'none'
 * (elementwise / per sample).
 */

export type { Reduction } from './loss-checks.js';

/** An elementwise loss, times a per-element weight when one is given, reduced. */
function reduce(loss: Tensor, reduction: Reduction, weight?: Tensor | null): Tensor {
  const weighted = weight ? mul(loss, weight) : loss;
  if (reduction === 'none') return weighted;
  return reduction === 'sum' ? sum(weighted) : mean(weighted);
}

// ------------------------------------------------------------------------------------------- cross entropy

export interface NllLossOptions {
  /** a rescaling weight per class, [C] */
  weight?: Tensor | null;
  /** targets equal to this contribute nothing (and do not count in the mean); default -100 */
  ignoreIndex?: number;
  reduction?: Reduction;
}

export interface CrossEntropyOptions extends NllLossOptions {
  /**
   * ε in [0, 1] (PyTorch's label_smoothing, default 0): the target becomes (1 − ε)·target + ε/C, so with class
   * indices the loss is (1 − ε)·nll + (ε/C)·Σ_c −w_c·log_softmax(x)_c per element
   */
  labelSmoothing?: number;
}

/**
 * F.cross_entropy. Class-index targets: logits [N, C, …] (float), target [N, …] int32 in [0, C) or ignoreIndex;
 * loss_i = −w[t_i]·log_softmax(x_i)[t_i], 0 for ignored targets; 'mean' divides the sum by Σ w[t_i] over the
 * non-ignored targets (so all-ignored gives NaN with a zero gradient, as PyTorch), 'none' gives [N, …]. With
 * labelSmoothing ε, loss_i = (1 − ε)·that + (ε/C)·Σ_c −w_c·log_softmax(x_i)_c (0 for ignored targets), and 'mean'
 * divides by the same Σ w[t_i] (PyTorch's normalisation; it reduces the two terms before adding them, here they are
 * added per element first).
 * Class-probability targets: a float target of the logits' shape; loss_i = −Σ_c w_c·y_ic·log_softmax(x_i)_c with
 * y = (1 − ε)·target + ε/C, and 'mean' divides by the number of elements N·… (not by Σw), as PyTorch; ignoreIndex
 * does not apply there (a value ≥ 0 throws, as PyTorch).
 * A class index outside [0, C) other than ignoreIndex throws "crossEntropy: target t is out of bounds for C classes"
 * (PyTorch's wording): at the call on the cpu backend, at the next readback on WebGPU.
 * It is nllLoss of logSoftmax(logits, 1) when ε = 0.
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  const smoothing: unknown = options.labelSmoothing === undefined ? 0 : options.labelSmoothing;
  if (typeof smoothing !== 'number' || !(smoothing >= 0 && smoothing <= 1)) {
    throw new Error(`${op}: labelSmoothing must be a number in [0, 1], got ${String(smoothing)}`);
  }
  if (target.dtype !== 'int32' && sameShape(target.shape, logits.shape)) return probabilityCrossEntropy(op, logits, target, smoothing, options);
  checkClassTargets(op, logits, 'logits', target, options);
  return tidy(() => nllLossUnchecked(op, logSoftmax(logits, 1), target, options, smoothing));
}

/**
 * F.nll_loss: input [N, C, …] of log-probabilities, target [N, …] int32 class indices (or ignoreIndex);
 * loss_i = −w[t_i]·input_i[t_i], with crossEntropy's weight, ignoreIndex and reduction semantics.
 */
export function nllLoss(input: Tensor, target: Tensor, options: NllLossOptions = {}): Tensor {
  checkClassTargets('nllLoss', input, 'input', target, options);
  return tidy(() => nllLossUnchecked('nllLoss', input, target, options, 0));
}

function checkClassTargets(op: string, input: Tensor, inputName: string, target: Tensor, options: NllLossOptions): void {
  checkReduction(op, options.reduction ?? 'mean');
  checkFloat(op, input);
  if (input.rank < 2) throw new Error(`${op}: ${inputName} must be [N, C, …], got ${formatShape(input.shape)}`);
  checkSameBackend(op, input, target);
  if (target.dtype !== 'int32') throw new Error(`${op}: target ${formatShape(target.shape)} must hold int32 class indices, got ${target.dtype}`);
  const expected = input.shape.filter((_, i) => i !== 1);
  if (!sameShape(target.shape, expected)) {
    throw new Error(`${op}: target ${formatShape(target.shape)} must be ${formatShape(expected)} (${inputName} ${formatShape(input.shape)} without the class axis)`);
  }
  checkClassWeight(op, inputName, input, options.weight);
}

function checkClassWeight(op: string, inputName: string, input: Tensor, weight: Tensor | null | undefined): void {
  const classes = input.shape[1];
  if (weight) {
    checkFloatPair(op, inputName, input, 'weight', weight);
    if (weight.rank !== 1 || weight.shape[0] !== classes) {
      throw new Error(`${op}: weight ${formatShape(weight.shape)} must be [${classes}] (one per class of ${inputName} ${formatShape(input.shape)})`);
    }
  }
}

/** the class weight [C] shaped to broadcast along axis 1 of an input of `rank` */
function classAxisWeight(weight: Tensor, rank: number): Tensor {
  return reshape(weight, [1, weight.shape[0], ...new Array<number>(rank - 2).fill(1)]);
}

/** crossEntropy with class-probability targets (PyTorch's cross_entropy_loss_prob_target) */
function probabilityCrossEntropy(op: string, logits: Tensor, target: Tensor, smoothing: number, options: CrossEntropyOptions): Tensor {
  const reduction = options.reduction ?? 'mean', weight = options.weight ?? null;
  checkReduction(op, reduction);
  if (logits.rank < 2) throw new Error(`${op}: logits must be [N, C, …], got ${formatShape(logits.shape)}`);
  checkFloatPair(op, 'logits', logits, 'target', target);
  if ((options.ignoreIndex ?? -100) >= 0) {
    throw new Error(`${op}: ignoreIndex ${options.ignoreIndex} does not apply to class-probability targets (PyTorch: "ignore_index is not supported for floating point target")`);
  }
  checkClassWeight(op, 'logits', logits, weight);
  const classes = logits.shape[1];
  return tidy(() => {
    const smoothed = smoothing > 0 ? affine(target, 1 - smoothing, smoothing / classes) : target;
    let terms = mul(smoothed, logSoftmax(logits, 1));
    if (weight) terms = mul(terms, classAxisWeight(weight, logits.rank));
    const perElement = neg(sum(terms, 1));
    if (reduction === 'none') return perElement;
    return reduction === 'sum' ? sum(perElement) : mean(perElement);
  });
}

function nllLossUnchecked(op: string, logProbs: Tensor, target: Tensor, options: NllLossOptions, smoothing: number): Tensor {
  const reduction = options.reduction ?? 'mean', ignoreIndex = options.ignoreIndex ?? -100, weight = options.weight ?? null;
  const wording = classTargetWording(op);
  const ignore = full([], ignoreIndex, { dtype: 'int32', backend: target.backend });
  const keepMask = ne(target, ignore);
  const safe = where(keepMask, target, full([], 0, { dtype: 'int32', backend: target.backend }));
  const picked = reshape(gather(logProbs, 1, unsqueeze(safe, 1), wording), target.shape);
  let w = cast(keepMask, logProbs.dtype);
  if (weight) w = mul(w, reshape(gather(weight, 0, reshape(safe, [-1]), wording), target.shape));
  let loss = neg(mul(picked, w));
  if (smoothing > 0) {
    // PyTorch's smooth term: −Σ_c w_c·log p_c, set to 0 (masked, not multiplied: log p may be −inf) where ignored
    const smooth = neg(sum(weight ? mul(logProbs, classAxisWeight(weight, logProbs.rank)) : logProbs, 1));
    const kept = where(keepMask, smooth, full([], 0, { dtype: logProbs.dtype, backend: logProbs.backend }));
    loss = add(mulScalar(loss, 1 - smoothing), mulScalar(kept, smoothing / logProbs.shape[1]));
  }
  if (reduction === 'none') return loss;
  if (reduction === 'sum') return sum(loss);
  // Σw = 0 (every target ignored): the value is 0/0 = NaN and the gradient 0, both as PyTorch's (its backward
  // writes nothing for ignored targets); dividing by Σw itself would make the gradient 0·(1/0) = NaN
  const total = sum(w);
  const zero = full([], 0, { dtype: logProbs.dtype, backend: logProbs.backend });
  const counted = ne(total, zero);
  const mean = div(sum(loss), where(counted, total, full([], 1, { dtype: logProbs.dtype, backend: logProbs.backend })));
  return add(mean, where(counted, zero, full([], NaN, { dtype: logProbs.dtype, backend: logProbs.backend })));
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
  checkInputTarget(op, x, y);
  checkWeight(op, 'posWeight', options.posWeight, x);
  checkWeight(op, 'weight', options.weight, x);
  if (!options.posWeight && !options.weight && reduction !== 'none') {
    // one fused reduction (the same formula summed in another order) and one backward pass
    return tidy(() => rowLoss({ kind: 'bce', scale: reduction === 'mean' ? 1 / x.numel() : 1 }, 1, x, y, null, []));
  }
  return tidy(() => {
    let positive = mul(y, softplus(neg(x)));
    if (options.posWeight) positive = mul(positive, options.posWeight);
    return reduce(add(positive, mul(affine(y, -1, 1), softplus(x))), reduction, options.weight);
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
  checkInputTarget(op, x, y);
  checkWeight(op, 'weight', options.weight, x);
  // the unweighted mean and sum: one fused reduction forward, one pass backward (kernels/loss)
  if (reduction !== 'none' && !options.weight) {
    return tidy(() => rowLoss({ kind: 'mse', scale: reduction === 'mean' ? 1 / x.numel() : 1, eps: 0 }, 1, x, y, null, []));
  }
  return tidy(() => reduce(square(sub(x, y)), reduction, options.weight));
}

export interface RegressionLossOptions { reduction?: Reduction }

/** F.l1_loss: |x − y|. */
export function l1Loss(x: Tensor, y: Tensor, options: RegressionLossOptions = {}): Tensor {
  const op = 'l1Loss', reduction = options.reduction ?? 'mean';
  checkReduction(op, reduction);
  checkInputTarget(op, x, y);
  return tidy(() => reduce(abs(sub(x, y)), reduction));
}

export interface SmoothL1LossOptions extends RegressionLossOptions {
  /** where the loss turns from quadratic to linear (default 1; 0 gives l1Loss) */
  beta?: number;
}

/** F.smooth_l1_loss: 0.5·d²/β where |d| < β, |d| − 0.5·β elsewhere (d = x − y). */
export function smoothL1Loss(x: Tensor, y: Tensor, options: SmoothL1LossOptions = {}): Tensor {
  const op = 'smoothL1Loss', reduction = options.reduction ?? 'mean', beta = options.beta ?? 1;
  checkReduction(op, reduction);
  if (!(beta >= 0)) throw new Error(`${op}: beta must be ≥ 0, got ${beta}`);
  checkInputTarget(op, x, y);
  return tidy(() => {
    const d = abs(sub(x, y));
    if (beta === 0) return reduce(d, reduction);
    const quadratic = mulScalar(square(d), 0.5 / beta), linear = addScalar(d, -0.5 * beta);
    return reduce(where(lt(d, full([], beta, { dtype: d.dtype, backend: d.backend })), quadratic, linear), reduction);
  });
}

export interface FocalLossOptions {
  /** weight of the positives, 1 − alpha of the negatives; negative: no weighting (default 0.25) */
  alpha?: number;
  /** the focusing exponent (default 2) */
  gamma?: number;
  /** torchvision's default 'none' */
  reduction?: Reduction;
}

/**
 * torchvision.ops.sigmoid_focal_loss (RetinaNet's binary focal loss) on logits x and targets y in [0, 1]:
 * ce·(1 − p_t)^γ·α_t with p = σ(x), ce = BCE-with-logits(x, y), p_t = p·y + (1 − p)(1 − y) and
 * α_t = α·y + (1 − α)(1 − y) (left out when α < 0). Defaults as torchvision: α 0.25, γ 2, reduction 'none'.
 * MONAI's `FocalLoss()` defaults to no α and 'mean': port it as `{ alpha: -1, reduction: 'mean' }` (the two agree on
 * binary targets; on soft targets MONAI's modulating factor differs). 'sum' is torchvision's sum over every element;
 * MONAI's `FocalLoss(reduction='sum')` first averages over the spatial axes and sums the [N, C] means, so it is
 * this 'sum' divided by the number of voxels per channel.
 */
export function focalLoss(x: Tensor, y: Tensor, options: FocalLossOptions = {}): Tensor {
  const op = 'focalLoss', reduction = options.reduction ?? 'none', alpha = options.alpha ?? 0.25, gamma = options.gamma ?? 2;
  checkReduction(op, reduction);
  if (!(gamma >= 0)) throw new Error(`${op}: gamma must be ≥ 0, got ${gamma}`);
  checkInputTarget(op, x, y);
  return tidy(() => {
    let loss = binaryCrossEntropyWithLogits(x, y, { reduction: 'none' });
    if (gamma !== 0) {
      const p = sigmoid(x);
      // 1 − p_t = p + y − 2·p·y
      const miss = sub(add(p, y), mulScalar(mul(p, y), 2));
      loss = mul(loss, powScalar(miss, gamma));
    }
    if (alpha >= 0) loss = mul(loss, affine(y, 2 * alpha - 1, 1 - alpha));
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
  checkInputTarget(op, p, y);
  checkWeight(op, 'weight', options.weight, p);
  if (reduction !== 'mean' && p.rank < 1) throw new Error(`${op}: reduction '${reduction}' needs a batch axis, got input ${formatShape(p.shape)}`);
  // one fused reduction of the three sums per row (the same formula summed in another order), one backward pass
  return tidy(() => {
    const rows = reduction === 'mean' ? 1 : p.shape[0];
    const losses = rowLoss({ kind: 'dice', smooth }, rows, p, y, options.weight ? expand(options.weight, p.shape) : null, reduction === 'mean' ? [] : [rows]);
    return reduction === 'sum' ? sum(losses) : losses;
  });
}

// ------------------------------------------------------------------------------------- MONAI's region losses

export interface MonaiLossOptions {
  /** false: channel 0 (the background) is left out of the loss (default true) */
  includeBackground?: boolean;
  /** the target is int32 class indices [N, 1, …], turned into one-hot channels (default false: a float target of the input's shape) */
  toOnehotY?: boolean;
  /** σ of the input first (default false) */
  sigmoid?: boolean;
  /** softmax of the input over the channels first (default false) */
  softmax?: boolean;
  /**
   * another activation of the input instead of sigmoid or softmax, e.g. `tanh` (MONAI's other_act); it must return
   * a float tensor of the input's shape. At most one of sigmoid, softmax and otherAct.
   */
  otherAct?: ((input: Tensor) => Tensor) | null;
  /**
   * MONAI ≥ 1.5's soft_label, for targets that are not 0/1: the overlap is tp = (Σ|p| + Σ|g| − Σ|p − g|)/2 and the
   * sums Σ|p|, Σ|g| (the same as Σp·g, Σp, Σg for targets in {0, 1} and p in [0, 1]). No effect with squaredPred, whose
   * Σp·g, Σp², Σg² are MONAI's squared-norm form already (default false)
   */
  softLabel?: boolean;
  /** 'mean' (default) and 'sum' over the [N, C] losses; 'none' returns them as [N, C] ([C] with batch) */
  reduction?: Reduction;
  /** added to the numerator (default 1e-5) */
  smoothNr?: number;
  /** added to the denominator (default 1e-5) */
  smoothDr?: number;
  /** sum over the batch too, one loss per channel (default false: one per sample and channel) */
  batch?: boolean;
}

/**
 * MONAI's shared preparation of DiceLoss and TverskyLoss: the activation, the one-hot target, background
 * removal. Unlike MONAI, a single-channel input with softmax, toOnehotY or includeBackground false is an error
 * (MONAI warns and ignores the option).
 */
export function monaiInputs(op: string, input: Tensor, target: Tensor, o: MonaiLossOptions): { p: Tensor; g: Tensor; axes: number[] } {
  checkReduction(op, o.reduction ?? 'mean');
  checkFloat(op, input);
  checkSameBackend(op, input, target);
  if (input.rank < 3) throw new Error(`${op}: input must be [N, C, spatial…], got ${formatShape(input.shape)}`);
  const channels = input.shape[1];
  const otherAct: unknown = o.otherAct ?? null;
  if (otherAct !== null && typeof otherAct !== 'function') throw new Error(`${op}: otherAct must be a function of the input or null, got ${typeof otherAct}`);
  if ([o.sigmoid, o.softmax, otherAct !== null].filter(Boolean).length > 1) {
    throw new Error(`${op}: sigmoid, softmax and otherAct are mutually exclusive (give at most one)`);
  }
  for (const [name, on] of [['softmax', o.softmax], ['toOnehotY', o.toOnehotY], ['includeBackground: false', o.includeBackground === false]] as const) {
    if (on && channels === 1) throw new Error(`${op}: ${name} needs more than one channel, got input ${formatShape(input.shape)}`);
  }
  if (o.toOnehotY) {
    const expected = [input.shape[0], 1, ...input.shape.slice(2)];
    if (target.dtype !== 'int32' || !sameShape(target.shape, expected)) {
      throw new Error(`${op}: with toOnehotY the target must be int32 class indices ${formatShape(expected)}, got ${formatShape(target.shape)} ${target.dtype}`);
    }
  } else {
    checkInputTarget(op, input, target);
  }
  let p = o.sigmoid ? sigmoid(input) : o.softmax ? softmax(input, 1) : o.otherAct ? activated(op, input, o.otherAct) : input;
  let g = target;
  if (o.toOnehotY) {
    const rank = input.rank;
    // [N, …, C] → [N, C, …]
    g = cast(permute(oneHot(reshape(target, target.shape.filter((_, i) => i !== 1)), channels), [0, rank - 1, ...range(1, rank - 1)]), input.dtype);
  }
  if (o.includeBackground === false) {
    p = slice(p, 1, 1);
    g = slice(g, 1, 1);
  }
  const axes = range(2, input.rank);
  return { p, g, axes: o.batch ? [0, ...axes] : axes };
}

/** the user's activation of the input, checked to keep the input's shape, dtype and backend */
function activated(op: string, input: Tensor, act: (input: Tensor) => Tensor): Tensor {
  const p: unknown = act(input);
  if (!(p instanceof Tensor)) throw new Error(`${op}: otherAct must return a Tensor, got ${typeof p}`);
  if (!sameShape(p.shape, input.shape) || p.dtype !== input.dtype || p.backend !== input.backend) {
    throw new Error(`${op}: otherAct must return a tensor of the input's shape and dtype ${formatShape(input.shape)} ${input.dtype} on its backend, got ${formatShape(p.shape)} ${p.dtype}`);
  }
  return p;
}

/**
 * MONAI's compute_tp_fp_fn as the overlap tp and the two sums it splits (tp + fp = pred, tp + fn = target) over
 * `axes`: Σp·g, Σp, Σg; Σp·g, Σp², Σg² when squared (MONAI's (‖p‖² + ‖g‖² − ‖p − g‖²)/2 is Σp·g); with
 * softLabel (and not squared) (Σ|p| + Σ|g| − Σ|p − g|)/2, Σ|p|, Σ|g|.
 */
function overlapSums(p: Tensor, g: Tensor, axes: number[], squared: boolean, softLabel: boolean): { tp: Tensor; pred: Tensor; target: Tensor } {
  if (squared) return { tp: sum(mul(p, g), axes), pred: sum(square(p), axes), target: sum(square(g), axes) };
  if (!softLabel) return { tp: sum(mul(p, g), axes), pred: sum(p, axes), target: sum(g, axes) };
  const pred = sum(abs(p), axes), target = sum(abs(g), axes);
  return { tp: mulScalar(sub(add(pred, target), sum(abs(sub(p, g)), axes)), 0.5), pred, target };
}

function range(from: number, to: number): number[] { return Array.from({ length: to - from }, (_, i) => from + i); }


export interface MultiClassDiceLossOptions extends MonaiLossOptions {
  /** Σ p² and Σ g² in the denominator instead of Σ p and Σ g (default false) */
  squaredPred?: boolean;
  /**
   * the soft Jaccard (IoU) loss instead of Dice (MONAI's jaccard): 1 − (2·tp + smoothNr)/(2·(pred + target − tp) +
   * smoothDr) with tp = Σp·g and pred, target = Σp, Σg (Σp², Σg² with squaredPred); default false
   */
  jaccard?: boolean;
  /**
   * MONAI ≥ 1.3's `weight`: each class's loss times its weight before the reduction ('mean' stays the plain mean
   * of the [N, C] products); one finite weight ≥ 0 per class in the loss (C, or C − 1 with includeBackground false).
   * At least two classes must remain (MONAI ignores the weight with one).
   */
  weight?: readonly number[] | null;
}

/**
 * MONAI's DiceLoss: per sample and channel 1 − (2·Σ p·g + smoothNr)/(Σ g + Σ p + smoothDr), sums over the
 * spatial axes (and the batch with `batch`), smoothNr = smoothDr = 1e-5 (with `jaccard` the denominator is
 * 2·(Σ g + Σ p − Σ p·g) + smoothDr). The multi-class soft Dice from logits
 * is { softmax: true, toOnehotY: true } with the class indices [N, 1, …] as target; includeBackground false
 * leaves channel 0 out. (The existing `diceLoss` is DTC's single-ratio form.)
 */
export function multiClassDiceLoss(input: Tensor, target: Tensor, options: MultiClassDiceLossOptions = {}): Tensor {
  const op = 'multiClassDiceLoss';
  return tidy(() => {
    const { p, g, axes } = monaiInputs(op, input, target, options);
    const { tp, pred, target: targetSum } = overlapSums(p, g, axes, options.squaredPred ?? false, options.softLabel ?? false);
    const total = add(targetSum, pred);
    const denominator = options.jaccard ? mulScalar(sub(total, tp), 2) : total;
    const ratio = div(addScalar(mulScalar(tp, 2), options.smoothNr ?? 1e-5), addScalar(denominator, options.smoothDr ?? 1e-5));
    let loss = affine(ratio, -1, 1);
    if (options.weight) {
      checkLossClassWeights(op, options.weight, p.shape[1], input, options.includeBackground);
      loss = mul(loss, fromArray(options.weight, [p.shape[1]], { dtype: loss.dtype, backend: loss.backend }));
    }
    return reduce(loss, options.reduction ?? 'mean');
  });
}

export interface GeneralizedDiceLossOptions extends MonaiLossOptions {
  /** a class's weight from its target volume V = Σ g: 'square' 1/V² (default), 'simple' 1/V, 'uniform' 1 */
  wType?: 'square' | 'simple' | 'uniform';
}

/**
 * MONAI's GeneralizedDiceLoss (Sudre et al. 2017): per sample 1 − (2·Σ_c w_c·tp_c + smoothNr)/(Σ_c w_c·(Σ p_c + Σ g_c)
 * + smoothDr), with tp, Σ p and Σ g over the spatial axes as multiClassDiceLoss's (softLabel included) and the class
 * weight w_c from the target volume Σ g_c (see wType). A weight that is infinite (an empty class) becomes the largest
 * finite weight of the sample (of all with `batch`), 0 when none is finite, as MONAI. With `batch` the sums run over
 * the batch too and there is one loss. 'none' returns [N, 1] ([1] with batch).
 */
export function generalizedDiceLoss(input: Tensor, target: Tensor, options: GeneralizedDiceLossOptions = {}): Tensor {
  const op = 'generalizedDiceLoss', wType = options.wType ?? 'square', batch = options.batch ?? false;
  if (wType !== 'square' && wType !== 'simple' && wType !== 'uniform') throw new Error(`${op}: wType must be 'square', 'simple' or 'uniform', got '${String(wType)}'`);
  return tidy(() => {
    const { p, g, axes } = monaiInputs(op, input, target, options);
    const softLabel = options.softLabel ?? false;
    const { tp, pred, target: targetSum } = overlapSums(p, g, axes, false, softLabel);
    const denominator = add(targetSum, pred);
    // the volume is the plain Σ g, also with softLabel
    const weight = wType === 'uniform' ? null : volumeWeights(softLabel ? sum(g, axes) : targetSum, wType, batch);
    const classAxis = batch ? 0 : 1;
    const weighted = (t: Tensor) => sum(weight ? mul(t, weight) : t, classAxis, true);
    const ratio = div(addScalar(mulScalar(weighted(tp), 2), options.smoothNr ?? 1e-5), addScalar(weighted(denominator), options.smoothDr ?? 1e-5));
    return reduce(affine(ratio, -1, 1), options.reduction ?? 'mean');
  });
}

/** MONAI's `weight` of a loss's classes: one per class in the loss (`classes`: C, or C − 1 without the background), two or more */
function checkLossClassWeights(op: string, weight: readonly number[], classes: number, input: Tensor, includeBackground: boolean | undefined): void {
  const per = includeBackground === false ? `class of input ${formatShape(input.shape)} but the background (includeBackground is false)` : `class of input ${formatShape(input.shape)}`;
  if (classes < 2) throw new Error(`${op}: weight needs two or more classes in the loss, got one (${per}); MONAI ignores it there`);
  checkClassWeights(op, 'weight', weight, classes, per);
}

/** GeneralizedDiceLoss's w_func and its replacement of infinite weights by the largest finite one */
function volumeWeights(volume: Tensor, wType: 'square' | 'simple', batch: boolean): Tensor {
  const w = reciprocal(wType === 'simple' ? volume : square(volume));
  const infinite = eq(abs(w), full([], Infinity, { dtype: w.dtype, backend: w.backend }));
  const finite = where(infinite, full([], 0, { dtype: w.dtype, backend: w.backend }), w);
  return where(infinite, batch ? max(finite) : max(finite, 1, true), finite);
}

/** A weight per class given as numbers: `classes` of them, each finite and ≥ 0 (`per` says what a class is). */
function checkClassWeights(op: string, name: string, weight: readonly number[], classes: number, per: string): void {
  if (weight.length !== classes) throw new Error(`${op}: ${name} has ${weight.length} values, must have ${classes} (one per ${per})`);
  const bad = weight.findIndex((w) => !(Number.isFinite(w) && w >= 0));
  if (bad >= 0) throw new Error(`${op}: ${name}[${bad}] must be finite and ≥ 0, got ${weight[bad]}`);
}

export interface TverskyLossOptions extends MonaiLossOptions {
  /** weight of the false positives (default 0.5) */
  alpha?: number;
  /** weight of the false negatives (default 0.5) */
  beta?: number;
}

/**
 * MONAI's TverskyLoss: 1 − (TP + smoothNr)/(TP + α·FP + β·FN + smoothDr) per sample and channel with
 * TP = Σ p·g, FP = Σ p·(1 − g), FN = Σ (1 − p)·g over the spatial axes (and the batch with `batch`);
 * α = β = 0.5 and smoothNr = smoothDr = 1e-5 by default (α = β = 0.5 is Dice without squares). With softLabel,
 * FP = Σ|p| − TP and FN = Σ|g| − TP with the soft TP (see `softLabel`).
 */
export function tverskyLoss(input: Tensor, target: Tensor, options: TverskyLossOptions = {}): Tensor {
  const op = 'tverskyLoss';
  const alpha = options.alpha ?? 0.5, beta = options.beta ?? 0.5;
  return tidy(() => {
    const { p, g, axes } = monaiInputs(op, input, target, options);
    const { tp, pred, target: targetSum } = overlapSums(p, g, axes, false, options.softLabel ?? false);
    const fp = sub(pred, tp), fn = sub(targetSum, tp);
    const denominator = addScalar(add(tp, add(mulScalar(fp, alpha), mulScalar(fn, beta))), options.smoothDr ?? 1e-5);
    const score = div(addScalar(tp, options.smoothNr ?? 1e-5), denominator);
    return reduce(affine(score, -1, 1), options.reduction ?? 'mean');
  });
}

export interface DiceCeLossOptions extends Omit<MultiClassDiceLossOptions, 'reduction' | 'weight' | 'softLabel'> {
  /** 'mean' (default) or 'sum', for both terms; there is no 'none' (the terms are reduced over different axes) */
  reduction?: 'mean' | 'sum';
  /** the Dice term's weight (default 1) */
  lambdaDice?: number;
  /** the cross-entropy term's weight (default 1) */
  lambdaCe?: number;
  /**
   * MONAI ≥ 1.3's `weight`: one finite weight ≥ 0 per channel (C of them, the background's included) for both
   * terms: the cross entropy's class weight (with one channel, BCE's posWeight) and the Dice term's `weight`, less
   * the background's with includeBackground false (left out when fewer than two classes remain, as MONAI).
   */
  weight?: readonly number[] | null;
  /**
   * a rescaling weight per class [C] for the cross entropy only (MONAI's `ce_weight` before 1.3); with one channel,
   * BCE's posWeight. Not together with `weight`.
   */
  ceWeight?: Tensor | null;
  /**
   * MONAI ≥ 1.4's label_smoothing ε in [0, 1] for the cross entropy with C > 1 channels (crossEntropy's
   * labelSmoothing, class indices or probabilities); default 0. With one channel the term is BCE, which MONAI does
   * not smooth: ε > 0 there is an error.
   */
  labelSmoothing?: number;
}

/**
 * MONAI's DiceCELoss: lambdaDice · multiClassDiceLoss(input, target, options) + lambdaCe · CE, where the cross
 * entropy takes the raw logits whatever the Dice term's activation: with C > 1 channels and an int32 class-index
 * target [N, 1, …] (which needs `toOnehotY: true`, as in MONAI) it is crossEntropy(input, target without its
 * channel axis); with a float target of the input's shape (one-hot or class probabilities) it is crossEntropy with
 * those class-probability targets, −Σ_c w_c·target_c·logSoftmax(input)_c per voxel averaged (or summed) over the
 * voxels; with one channel it is
 * binaryCrossEntropyWithLogits. The usual multi-class form is `{ toOnehotY: true, softmax: true }`.
 */
export function diceCeLoss(input: Tensor, target: Tensor, options: DiceCeLossOptions = {}): Tensor {
  const op = 'diceCeLoss';
  const { lambdaDice = 1, lambdaCe = 1, ceWeight = null, weight = null, labelSmoothing = 0, ...diceOptions } = options;
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum') {
    throw new Error(`${op}: reduction must be 'mean' or 'sum', got '${String(reduction)}' (MONAI's DiceCELoss has no 'none' either)`);
  }
  for (const [name, v] of [['lambdaDice', lambdaDice], ['lambdaCe', lambdaCe]] as const) {
    if (!(v >= 0)) throw new Error(`${op}: ${name} must be ≥ 0, got ${v}`);
  }
  if (target.dtype === 'int32' && !options.toOnehotY) {
    throw new Error(`${op}: target ${formatShape(target.shape)} holds int32 class indices, which needs toOnehotY: true (MONAI's to_onehot_y=True); a float target must have the input's shape ${formatShape(input.shape)}`);
  }
  if (weight && ceWeight) {
    throw new Error(`${op}: give weight (both terms, MONAI ≥ 1.3) or ceWeight (the cross entropy only, MONAI's ce_weight before 1.3), not both`);
  }
  const channels = input.shape[1];
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) throw new Error(`${op}: labelSmoothing must be a number in [0, 1], got ${labelSmoothing}`);
  if (labelSmoothing > 0 && channels === 1) {
    throw new Error(`${op}: labelSmoothing needs more than one channel: with one the cross entropy is BCE with logits, which MONAI's DiceCELoss does not smooth (input ${formatShape(input.shape)})`);
  }
  // (an input without channel and spatial axes is refused by the Dice term)
  if (weight && input.rank >= 3) checkClassWeights(op, 'weight', weight, channels, `channel of input ${formatShape(input.shape)}`);
  const diceWeight = weight && options.includeBackground === false ? weight.slice(1) : weight;
  return tidy(() => {
    const dice = multiClassDiceLoss(input, target, { ...diceOptions, weight: diceWeight && diceWeight.length > 1 ? diceWeight : null });
    const classWeight = weight ? fromArray(weight, [channels], { dtype: input.dtype, backend: input.backend }) : ceWeight;
    const ce = diceCeCrossEntropy(op, input, target, reduction, classWeight, labelSmoothing);
    return add(mulScalar(dice, lambdaDice), mulScalar(ce, lambdaCe));
  });
}

/** DiceCELoss's cross-entropy term on the logits (the target already checked by the Dice term). */
function diceCeCrossEntropy(op: string, input: Tensor, target: Tensor, reduction: 'mean' | 'sum', weight: Tensor | null, labelSmoothing: number): Tensor {
  const channels = input.shape[1];
  if (channels === 1) return binaryCrossEntropyWithLogits(input, target, { reduction, posWeight: weight });
  if (target.dtype === 'int32') return crossEntropy(input, squeeze(target, 1), { weight, reduction, labelSmoothing });
  if (weight) {
    if (!sameShape(weight.shape, [channels])) throw new Error(`${op}: ceWeight ${formatShape(weight.shape)} must be [${channels}], one weight per channel of input ${formatShape(input.shape)}`);
    checkFloatPair(op, 'input', input, 'ceWeight', weight);
  }
  return crossEntropy(input, target, { weight, reduction, labelSmoothing });
}

export interface DiceFocalLossOptions extends Omit<MultiClassDiceLossOptions, 'softLabel'> {
  /** the Dice term's weight (default 1) */
  lambdaDice?: number;
  /** the focal term's weight (default 1) */
  lambdaFocal?: number;
  /** the focal term's focusing exponent γ ≥ 0 (default 2) */
  gamma?: number;
  /** the focal term's α in [0, 1]: α for the target, 1 − α for the rest; null (default) leaves it out */
  alpha?: number | null;
  /**
   * 'mean' (default), 'sum' or 'none', for both terms as MONAI: the focal 'sum' is the sum over [N, C] of each
   * channel's mean over the voxels; 'none' adds the Dice losses [N, C] to the focal losses [N, C, …] per voxel
   */
  reduction?: Reduction;
}

/**
 * MONAI's DiceFocalLoss: lambdaDice · multiClassDiceLoss(input, target, options) + lambdaFocal · focal, where the focal
 * term is MONAI's FocalLoss (its sigmoid form) on the raw logits and the one-hot target, with includeBackground and
 * `weight` (one per class in the loss, for both terms) as the Dice term's: per element
 * w_c·α_t·exp(−γ·softplus(x·(2t − 1)))·BCE-with-logits(x, t), where α_t = α·t + (1 − α)(1 − t). On targets in {0, 1}
 * the factor exp(−γ·softplus(x·(2t − 1))) is (1 − p_t)^γ, focalLoss's (torchvision's) modulating factor.
 */
export function diceFocalLoss(input: Tensor, target: Tensor, options: DiceFocalLossOptions = {}): Tensor {
  const op = 'diceFocalLoss';
  const { lambdaDice = 1, lambdaFocal = 1, gamma = 2, alpha = null, ...diceOptions } = options;
  const reduction = options.reduction ?? 'mean';
  for (const [name, v] of [['lambdaDice', lambdaDice], ['lambdaFocal', lambdaFocal], ['gamma', gamma]] as const) {
    if (!(v >= 0)) throw new Error(`${op}: ${name} must be ≥ 0, got ${v}`);
  }
  if (alpha !== null && !(alpha >= 0 && alpha <= 1)) throw new Error(`${op}: alpha must be in [0, 1] or null, got ${alpha}`);
  return tidy(() => {
    const dice = multiClassDiceLoss(input, target, diceOptions);
    const focal = sigmoidFocalTerm(op, input, target, { ...options, reduction, gamma, alpha });
    return add(mulScalar(reduction === 'none' ? overFocalVoxels(dice, input, options.batch) : dice, lambdaDice), mulScalar(focal, lambdaFocal));
  });
}

/**
 * MONAI's FocalLoss in its sigmoid form, as DiceFocalLoss and GeneralizedDiceFocalLoss add it: on the raw logits and
 * the one-hot target without the background (as their overlap term's, which checked them and `weight`), per element
 * w_c·α_t·exp(−γ·softplus(x·(2t − 1)))·BCE-with-logits(x, t), reduced as MONAI's ('sum': each channel's mean over the
 * voxels, summed).
 */
function sigmoidFocalTerm(op: string, input: Tensor, target: Tensor,
  o: Pick<MonaiLossOptions, 'toOnehotY' | 'includeBackground'> & { reduction: Reduction; gamma: number; alpha: number | null; weight?: readonly number[] | null }): Tensor {
  const { p: x, g: t, axes } = monaiInputs(op, input, target, { toOnehotY: o.toOnehotY, includeBackground: o.includeBackground, reduction: o.reduction });
  let focal = mul(binaryCrossEntropyWithLogits(x, t, { reduction: 'none' }), exp(mulScalar(softplus(mul(x, affine(t, 2, -1))), -o.gamma)));
  if (o.alpha !== null) focal = mul(focal, affine(t, 2 * o.alpha - 1, 1 - o.alpha));
  if (o.weight) focal = mul(focal, classAxisWeight(fromArray(o.weight, [x.shape[1]], { dtype: x.dtype, backend: x.backend }), x.rank));
  return o.reduction === 'none' ? focal : o.reduction === 'sum' ? sum(mean(focal, axes)) : mean(focal);
}

/** an overlap loss's 'none' result, [N, K] ([K] with batch), as [N, K, 1, …] to add to the focal term's [N, C, …] */
function overFocalVoxels(loss: Tensor, input: Tensor, batch: boolean | undefined): Tensor {
  const rows = batch ? 1 : input.shape[0];
  return reshape(loss, [rows, loss.numel() / rows, ...input.shape.slice(2).map(() => 1)]);
}

export interface GeneralizedDiceFocalLossOptions extends Omit<GeneralizedDiceLossOptions, 'softLabel'> {
  /** the generalized Dice term's weight (default 1; MONAI's lambda_gdl) */
  lambdaGdl?: number;
  /** the focal term's weight (default 1) */
  lambdaFocal?: number;
  /** the focal term's focusing exponent γ ≥ 0 (default 2) */
  gamma?: number;
  /** the focal term's class weights: one finite weight ≥ 0 per class in the loss, two or more classes (MONAI's `weight`) */
  weight?: readonly number[] | null;
  /**
   * 'mean' (default), 'sum' or 'none', for both terms as MONAI: the focal 'sum' is the sum over [N, C] of each
   * channel's mean over the voxels; 'none' adds the generalized Dice losses [N, 1] to the focal losses [N, C, …]
   */
  reduction?: Reduction;
}

/**
 * MONAI's GeneralizedDiceFocalLoss: lambdaGdl · generalizedDiceLoss(input, target, options) + lambdaFocal · focal,
 * the focal term as diceFocalLoss's (MONAI's FocalLoss, sigmoid form, on the raw logits, without α) with `weight` as
 * its class weights only (the generalized Dice term weighs classes by wType).
 */
export function generalizedDiceFocalLoss(input: Tensor, target: Tensor, options: GeneralizedDiceFocalLossOptions = {}): Tensor {
  const op = 'generalizedDiceFocalLoss';
  const { lambdaGdl = 1, lambdaFocal = 1, gamma = 2, weight = null, ...gdlOptions } = options;
  const reduction = options.reduction ?? 'mean';
  for (const [name, v] of [['lambdaGdl', lambdaGdl], ['lambdaFocal', lambdaFocal], ['gamma', gamma]] as const) {
    if (!(v >= 0)) throw new Error(`${op}: ${name} must be ≥ 0, got ${v}`);
  }
  return tidy(() => {
    const gdl = generalizedDiceLoss(input, target, gdlOptions);
    if (weight) checkLossClassWeights(op, weight, input.shape[1] - (options.includeBackground === false ? 1 : 0), input, options.includeBackground);
    const focal = sigmoidFocalTerm(op, input, target, { ...options, reduction, gamma, alpha: null, weight });
    return add(mulScalar(reduction === 'none' ? overFocalVoxels(gdl, input, options.batch) : gdl, lambdaGdl), mulScalar(focal, lambdaFocal));
  });
}
