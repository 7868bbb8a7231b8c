import {
  add, addScalar, affine, cast, checkFloat, checkSameBackend, clamp, concat, conv3d, div, exp, flatten, interpolate, log, matmul, maximum, maxPool3d, mean, minimum,
  mul, mulScalar, neg, powScalar, relu, reshape, slice, sqrt, square, sub, sum, transpose,
} from '../autograd/index.js';
import { fromArray } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { checkInputTarget, checkReduction, type Reduction } from './loss-checks.js';
import { LossModule } from './loss-modules.js';
import { multiClassDiceLoss, type MultiClassDiceLossOptions } from './losses.js';
import { Module } from './module.js';

/**
 * MONAI's losses that losses.ts does not have (monai/losses: hausdorff_loss.py, cldice.py, dice.py's MaskedDiceLoss,
 * ds_loss.py, ssim_loss.py, contrastive.py, unified_focal_loss.py), each as a function and as a loss class in the
 * manner of loss-modules.ts, composed of the autograd ops, so differentiable where MONAI's are; and the SSIM that
 * imaging/metrics-regression.ts's SSIMMetric computes too. HausdorffDTLoss, which needs imaging/edt.ts's distance
 * transforms, is in imaging/losses-hausdorff.ts (src/ imports only downwards).
 */

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

export function reduceLoss(loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return loss;
  return reduction === 'sum' ? sum(loss) : mean(loss);
}

export function checkNumber(op: string, name: string, v: number, ok: (v: number) => boolean, wording: string): void {
  if (typeof v !== 'number' || !ok(v)) throw new Error(`${op}: ${name} must be ${wording}, got ${String(v)}`);
}

/** a 2-D [N, C, H, W] or 3-D [N, C, H, W, D] image (MONAI's losses that pool or take distances accept only these) */
export function checkImageRank(op: string, name: string, x: Tensor): void {
  if (x.rank !== 4 && x.rank !== 5) throw new Error(`${op}: ${name} must be [N, C, H, W] or [N, C, H, W, D], got ${formatShape(x.shape)}`);
}

/** a 2-D image [N, C, H, W] as [N, C, H, W, 1] for the 3-D ops */
const as5d = (x: Tensor): Tensor => (x.rank === 5 ? x : reshape(x, [...x.shape, 1]));

// ------------------------------------------------------------------------------------------------ clDice

/** MONAI's soft_erode: the minimum of the 3-tap minimum pools along each spatial axis (a cross), on [N, C, H, W, D] */
function softErode(x: Tensor, spatialDims: number): Tensor {
  const pools = range(0, spatialDims).map((axis) => {
    const kernel: [number, number, number] = [1, 1, 1], padding: [number, number, number] = [0, 0, 0];
    kernel[axis] = 3;
    padding[axis] = 1;
    return neg(maxPool3d(neg(x), kernel, { stride: 1, padding }));
  });
  return pools.reduce((a, b) => minimum(a, b));
}

/** MONAI's soft_dilate: the 3×3(×3) maximum pool */
function softDilate(x: Tensor, spatialDims: number): Tensor {
  const k = spatialDims === 3 ? 3 : 1;
  return maxPool3d(x, [3, 3, k], { stride: 1, padding: [1, 1, (k - 1) / 2] });
}

/**
 * MONAI's soft_skel (Shit et al. 2021): the soft skeleton of a [N, C, H, W] or [N, C, H, W, D] image of values in
 * [0, 1] by `iterations` rounds of soft erosion (minimum pools) and opening (erosion then a maximum pool), all
 * differentiable (the pools' gradients go to each window's extreme).
 */
export function softSkeleton(img: Tensor, iterations = 3): Tensor {
  const op = 'softSkeleton';
  checkImageRank(op, 'img', img);
  checkFloat(op, img);
  checkNumber(op, 'iterations', iterations, (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
  const dims = img.rank - 2;
  return tidy(() => {
    let x = as5d(img);
    const open = (t: Tensor) => softDilate(softErode(t, dims), dims);
    let skel = relu(sub(x, open(x)));
    for (let i = 0; i < iterations; i++) {
      x = softErode(x, dims);
      const delta = relu(sub(x, open(x)));
      skel = add(skel, relu(sub(delta, mul(skel, delta))));
    }
    return reshape(skel, img.shape);
  });
}

export interface SoftclDiceLossOptions {
  /** the skeleton's rounds of erosion (MONAI's iter_, default 3) */
  iterations?: number;
  /** added to the numerators and denominators (default 1) */
  smooth?: number;
}

export interface SoftDiceclDiceLossOptions extends SoftclDiceLossOptions {
  /** the clDice term's weight, the soft Dice term's being 1 − alpha (default 0.5) */
  alpha?: number;
}

function checkClDiceInputs(op: string, input: Tensor, target: Tensor, o: SoftDiceclDiceLossOptions): void {
  checkInputTarget(op, input, target);
  checkImageRank(op, 'input', input);
  if (input.shape[1]! < 2) throw new Error(`${op}: input ${formatShape(input.shape)} needs two or more channels (channel 0, the background, is left out)`);
  checkNumber(op, 'smooth', o.smooth ?? 1, (v) => Number.isFinite(v) && v >= 0, 'a finite number ≥ 0');
  checkNumber(op, 'alpha', o.alpha ?? 0.5, (v) => v >= 0 && v <= 1, 'in [0, 1]');
}

/** Σ over the channels from 1 on (MONAI's [:, 1:] sums) */
const foreground = (t: Tensor): Tensor => sum(slice(t, 1, 1));

/** MONAI's clDice term 1 − 2·Tprec·Tsens/(Tprec + Tsens) of probabilities p and a target g */
function clDiceTerm(p: Tensor, g: Tensor, iterations: number, smooth: number): Tensor {
  const skelP = softSkeleton(p, iterations), skelG = softSkeleton(g, iterations);
  const ratio = (a: Tensor, b: Tensor) => div(addScalar(foreground(mul(a, b)), smooth), addScalar(foreground(a), smooth));
  const precision = ratio(skelP, g), sensitivity = ratio(skelG, p);
  return affine(div(mul(precision, sensitivity), add(precision, sensitivity)), -2, 1);
}

/**
 * MONAI's SoftclDiceLoss: 1 − 2·Tprec·Tsens/(Tprec + Tsens) with Tprec = (Σ S(p)·g + smooth)/(Σ S(p) + smooth) and
 * Tsens = (Σ S(g)·p + smooth)/(Σ S(g) + smooth), S the soft skeleton, the sums over the whole batch and the channels
 * from 1 on; a scalar. `input` holds probabilities (no activation is applied), `target` the one-hot reference of its
 * shape. (MONAI's forward takes (y_true, y_pred); the loss is symmetric in the two.)
 */
export function softclDiceLoss(input: Tensor, target: Tensor, options: SoftclDiceLossOptions = {}): Tensor {
  const op = 'softclDiceLoss';
  checkClDiceInputs(op, input, target, options);
  return tidy(() => clDiceTerm(input, target, options.iterations ?? 3, options.smooth ?? 1));
}

/**
 * MONAI's SoftDiceclDiceLoss: (1 − alpha)·softDice + alpha·clDice, the soft Dice 1 − (2·Σ p·g + smooth)/(Σ g + Σ p +
 * smooth) over the batch and the channels from 1 on, the clDice term as `softclDiceLoss`.
 */
export function softDiceclDiceLoss(input: Tensor, target: Tensor, options: SoftDiceclDiceLossOptions = {}): Tensor {
  const op = 'softDiceclDiceLoss';
  checkClDiceInputs(op, input, target, options);
  const smooth = options.smooth ?? 1, alpha = options.alpha ?? 0.5;
  return tidy(() => {
    const dice = affine(div(addScalar(mulScalar(foreground(mul(target, input)), 2), smooth), addScalar(add(foreground(target), foreground(input)), smooth)), -1, 1);
    return add(mulScalar(dice, 1 - alpha), mulScalar(clDiceTerm(input, target, options.iterations ?? 3, smooth), alpha));
  });
}

/** MONAI's SoftclDiceLoss (iter_ → iterations, smooth), over `softclDiceLoss`. */
export class SoftclDiceLoss extends LossModule<SoftclDiceLossOptions> {
  constructor(options: SoftclDiceLossOptions = {}) { super(options, { iterations: 'number', smooth: 'number' }); }
  forward(input: Tensor, target: Tensor): Tensor { return softclDiceLoss(input, target, this.options); }
}

/** MONAI's SoftDiceclDiceLoss (iter_ → iterations, alpha, smooth), over `softDiceclDiceLoss`. */
export class SoftDiceclDiceLoss extends LossModule<SoftDiceclDiceLossOptions> {
  constructor(options: SoftDiceclDiceLossOptions = {}) { super(options, { iterations: 'number', smooth: 'number', alpha: 'number' }); }
  forward(input: Tensor, target: Tensor): Tensor { return softDiceclDiceLoss(input, target, this.options); }
}

// ------------------------------------------------------------------------------------------- MaskedDiceLoss

/**
 * MONAI's MaskedDiceLoss: multiClassDiceLoss (MONAI's DiceLoss, every option of it) of the input and the target both
 * multiplied by `mask` [N or 1, 1, spatial…] first, so only the masked region counts. As MONAI's, the mask multiplies
 * the raw input, before the activation (a masked logit 0 becomes σ(0) = ½ with sigmoid). An int32 class-index target
 * (toOnehotY) keeps its class where the mask is nonzero and becomes class 0 elsewhere (MONAI's product for a 0/1 mask).
 * Without a mask (null) it is plain multiClassDiceLoss (MONAI warns).
 */
export function maskedDiceLoss(input: Tensor, target: Tensor, mask: Tensor | null, options: MultiClassDiceLossOptions = {}): Tensor {
  const op = 'maskedDiceLoss';
  if (mask === null) return multiClassDiceLoss(input, target, options);
  checkFloat(op, input);
  checkSameBackend(op, input, mask);
  if (mask.dtype !== input.dtype) throw new Error(`${op}: mask ${formatShape(mask.shape)} ${mask.dtype} must have the input's dtype ${input.dtype}`);
  const ok = mask.rank === input.rank && (mask.shape[0] === input.shape[0] || mask.shape[0] === 1) && mask.shape[1] === 1 && sameShape(mask.shape.slice(2), input.shape.slice(2));
  if (!ok) throw new Error(`${op}: mask ${formatShape(mask.shape)} must be [${input.shape[0]} or 1, 1, ${input.shape.slice(2).join(', ')}] for input ${formatShape(input.shape)}`);
  return tidy(() => {
    const maskedTarget = target.dtype === 'int32' ? cast(mul(cast(target, input.dtype), cast(mask.ne(0), input.dtype)), 'int32') : mul(target, mask);
    return multiClassDiceLoss(mul(input, mask), maskedTarget, options);
  });
}

/** MONAI's MaskedDiceLoss: DiceLoss's options; `forward(input, target, mask)`. */
export class MaskedDiceLoss extends LossModule<MultiClassDiceLossOptions> {
  constructor(options: MultiClassDiceLossOptions = {}) {
    super(options, {
      includeBackground: 'boolean', toOnehotY: 'boolean', sigmoid: 'boolean', softmax: 'boolean', reduction: 'reduction', smoothNr: 'number',
      smoothDr: 'number', batch: 'boolean', otherAct: 'function', squaredPred: 'boolean', weight: 'numbers', jaccard: 'boolean', softLabel: 'boolean',
    });
  }
  forward(input: Tensor, target: Tensor, mask: Tensor | null = null): Tensor { return maskedDiceLoss(input, target, mask, this.options); }
}

// -------------------------------------------------------------------------------------- DeepSupervisionLoss

/** MONAI's weight modes: 'exp' 1, ½, ¼, … (not below 1/16), 'same' all 1, 'two' 1 then ½ for every other level */
export type DeepSupervisionWeightMode = 'exp' | 'same' | 'two';

export interface DeepSupervisionLossOptions {
  /** default 'exp' */
  weightMode?: DeepSupervisionWeightMode;
  /** one weight per level, used instead of weightMode when it has at least as many as there are levels */
  weights?: readonly number[] | null;
}

/** MONAI's DeepSupervisionLoss.get_weights for `levels` levels */
export function deepSupervisionWeights(levels: number, options: DeepSupervisionLossOptions = {}): number[] {
  const n = Math.max(1, levels), mode = options.weightMode ?? 'exp';
  if (options.weights && options.weights.length >= n) return options.weights.slice(0, n);
  switch (mode) {
    case 'same': return new Array<number>(n).fill(1);
    case 'exp': return range(0, n).map((l) => Math.max(0.5 ** l, 0.0625));
    case 'two': return range(0, n).map((l) => (l === 0 ? 1 : 0.5));
    default: throw new Error(`deepSupervisionLoss: weightMode must be 'exp', 'same' or 'two', got '${String(mode)}'`);
  }
}

/** the target resized to the input's spatial size by 'nearest-exact' (MONAI's), an int32 target kept int32 */
function resizedTarget(op: string, input: Tensor, target: Tensor): Tensor {
  if (sameShape(input.shape.slice(2), target.shape.slice(2))) return target;
  if (target.rank !== input.rank || (target.rank !== 4 && target.rank !== 5)) {
    throw new Error(`${op}: target ${formatShape(target.shape)} and input ${formatShape(input.shape)} must both be [N, C, H, W] or [N, C, H, W, D] to resize the target`);
  }
  return tidy(() => {
    const floats = target.dtype === 'int32' ? cast(target, 'float32') : target;
    const size = input.shape.slice(2);
    const resized = interpolate(as5d(floats), { size: (size.length === 2 ? [...size, 1] : size) as [number, number, number], mode: 'nearest-exact' });
    const shaped = reshape(resized, [...target.shape.slice(0, 2), ...size]);
    return target.dtype === 'int32' ? cast(shaped, 'int32') : shaped;
  });
}

/**
 * MONAI's DeepSupervisionLoss: Σ_l w_l · loss(inputs[l], target), the target resized to each level's spatial size by
 * nearest-exact interpolation where it differs (level 0 usually full size), w from `deepSupervisionWeights`. A single
 * tensor is plain loss(input, target).
 */
export function deepSupervisionLoss(inputs: Tensor | readonly Tensor[], target: Tensor, loss: (input: Tensor, target: Tensor) => Tensor,
  options: DeepSupervisionLossOptions = {}): Tensor {
  const op = 'deepSupervisionLoss';
  if (inputs instanceof Tensor) return loss(inputs, target);
  if (!Array.isArray(inputs) || inputs.length === 0) throw new Error(`${op}: input must be a tensor or a non-empty list of tensors`);
  const weights = deepSupervisionWeights(inputs.length, options);
  return tidy(() => inputs.map((x, l) => mulScalar(loss(x, resizedTarget(op, x, target)), weights[l]!)).reduce((a, b) => add(a, b)));
}

/** MONAI's DeepSupervisionLoss as a Module around a loss (a loss class, a child of this module, or a function). */
export class DeepSupervisionLoss extends Module {
  readonly loss: Module | ((input: Tensor, target: Tensor) => Tensor);
  readonly lossFn: (input: Tensor, target: Tensor) => Tensor;
  readonly options: Readonly<DeepSupervisionLossOptions>;

  constructor(loss: LossModule<object> | ((input: Tensor, target: Tensor) => Tensor), options: DeepSupervisionLossOptions = {}) {
    super();
    if (loss instanceof LossModule) this.lossFn = (i, t) => loss.forward(i, t);
    else if (typeof loss === 'function') this.lossFn = loss;
    else throw new Error(`${this.typeName}: loss must be a loss module or a function (input, target) => Tensor`);
    this.loss = loss;
    deepSupervisionWeights(1, options);
    if (options.weights && !options.weights.every((w) => Number.isFinite(w))) throw new Error(`${this.typeName}: weights must be finite numbers, got [${options.weights.join(', ')}]`);
    this.options = { ...options };
  }

  forward(input: Tensor | readonly Tensor[], target: Tensor): Tensor { return deepSupervisionLoss(input, target, this.lossFn, this.options); }
}

// ------------------------------------------------- SSIM (MONAI's compute_ssim_and_cs; SSIMMetric uses it too)

/** MONAI's SSIM window: a separable Gaussian or a uniform box */
export type SsimKernelType = 'gaussian' | 'uniform';

export interface SsimOptions {
  /** 2 (input [B, C, H, W]) or 3 (input [B, C, H, W, D]); required, as MONAI's spatial_dims */
  spatialDims: 2 | 3;
  /** the value range of the images (MONAI's data_range, default 1) */
  dataRange?: number;
  /** 'gaussian' (default) or 'uniform' */
  kernelType?: SsimKernelType;
  /** the window's size, one number for every axis or one per spatial axis (default 11) */
  winSize?: number | readonly number[];
  /** the Gaussian's σ, one number or one per spatial axis (default 1.5; unused with 'uniform') */
  kernelSigma?: number | readonly number[];
  /** the luminance term's constant: c1 = (k1·dataRange)² (default 0.01) */
  k1?: number;
  /** the contrast term's constant: c2 = (k2·dataRange)² (default 0.03) */
  k2?: number;
}

/** one value per spatial axis from a number or a list of spatialDims numbers */
function perAxis(op: string, name: string, v: number | readonly number[], dims: number): number[] {
  const values = typeof v === 'number' ? new Array<number>(dims).fill(v) : [...v];
  if (values.length !== dims) throw new Error(`${op}: ${name} needs ${dims} values (one per spatial axis), got [${values.join(', ')}]`);
  return values;
}

/** The SSIM options checked, with MONAI's defaults filled in. */
export function checkSsimOptions(op: string, options: SsimOptions): Required<Omit<SsimOptions, 'winSize' | 'kernelSigma'>> & { winSize: number[]; kernelSigma: number[] } {
  const { spatialDims, dataRange = 1, kernelType = 'gaussian', winSize = 11, kernelSigma = 1.5, k1 = 0.01, k2 = 0.03 } = options;
  if (spatialDims !== 2 && spatialDims !== 3) throw new Error(`${op}: spatialDims must be 2 or 3, got ${String(spatialDims)}`);
  if (kernelType !== 'gaussian' && kernelType !== 'uniform') throw new Error(`${op}: kernelType must be 'gaussian' or 'uniform', got '${String(kernelType)}'`);
  const sizes = perAxis(op, 'winSize', winSize, spatialDims);
  if (!sizes.every((s) => Number.isInteger(s) && s >= 1)) throw new Error(`${op}: winSize must be positive integers, got [${sizes.join(', ')}]`);
  const sigmas = perAxis(op, 'kernelSigma', kernelSigma, spatialDims);
  if (kernelType === 'gaussian' && !sigmas.every((s) => Number.isFinite(s) && s > 0)) throw new Error(`${op}: kernelSigma must be positive, got [${sigmas.join(', ')}]`);
  for (const [name, v] of [['dataRange', dataRange], ['k1', k1], ['k2', k2]] as const) {
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`${op}: ${name} must be a positive number, got ${v}`);
  }
  return { spatialDims, dataRange, kernelType, winSize: sizes, kernelSigma: sigmas, k1, k2 };
}

/** the normalised 1-D Gaussian of `size` taps at offsets (1 − size)/2 … (size − 1)/2 */
function gaussian1d(size: number, sigma: number): number[] {
  const g = Array.from({ length: size }, (_, i) => Math.exp(-(((i + (1 - size) / 2) / sigma) ** 2) / 2));
  const total = g.reduce((a, b) => a + b, 0);
  return g.map((v) => v / total);
}

/** the window as three axes' weights [kd, kh, kw] (the third 1 for a 2-D window), each product of the axes' taps */
function ssimWindow(o: ReturnType<typeof checkSsimOptions>): { taps: Float64Array; size: [number, number, number] } {
  const axes = o.winSize.map((s, i) => (o.kernelType === 'uniform' ? new Array<number>(s).fill(1 / s) : gaussian1d(s, o.kernelSigma[i]!)));
  if (axes.length === 2) axes.push([1]);
  const [a, b, c] = axes as [number[], number[], number[]];
  const taps = new Float64Array(a.length * b.length * c.length);
  let i = 0;
  for (const x of a) for (const y of b) for (const z of c) taps[i++] = x * y * z;
  return { taps, size: [a.length, b.length, c.length] };
}

/**
 * MONAI's compute_ssim_and_cs averaged per sample: the SSIM map ((2·μx·μy + c1)(2·σxy + c2))/((μx² + μy² + c1)(σx² +
 * σy² + c2)) over the windows inside the image (a 'valid' depthwise convolution per channel, no padding), its mean
 * over channels and windows per sample, [B, 1]. Differentiable in both images.
 */
export function ssimPerSample(op: string, yPred: Tensor, y: Tensor, options: SsimOptions): Tensor {
  const o = checkSsimOptions(op, options);
  checkRegressionPair(op, yPred, y);
  const rank = o.spatialDims + 2;
  if (yPred.rank !== rank) {
    throw new Error(`${op}: with spatialDims ${o.spatialDims} the images must be [B, C, ${o.spatialDims === 2 ? 'H, W' : 'H, W, D'}], got ${formatShape(yPred.shape)}`);
  }
  const spatial = yPred.shape.slice(2);
  if (o.winSize.some((s, i) => s > spatial[i]!)) throw new Error(`${op}: winSize [${o.winSize.join(', ')}] is larger than the image ${formatShape(yPred.shape)}`);
  const channels = yPred.shape[1]!;
  return tidy(() => {
    const { taps, size } = ssimWindow(o);
    const kernel = fromArray(Array.from({ length: channels }, () => Array.from(taps)).flat(), [channels, 1, ...size], { dtype: yPred.dtype, backend: yPred.backend });
    const as5 = (t: Tensor) => (rank === 5 ? t : reshape(t, [...t.shape, 1]));
    const filter = (t: Tensor) => conv3d(as5(t), kernel, null, { groups: channels });
    const c1 = (o.k1 * o.dataRange) ** 2, c2 = (o.k2 * o.dataRange) ** 2;
    const muX = filter(yPred), muY = filter(y);
    const sigmaX = sub(filter(mul(yPred, yPred)), square(muX));
    const sigmaY = sub(filter(mul(y, y)), square(muY));
    const sigmaXY = sub(filter(mul(yPred, y)), mul(muX, muY));
    const contrast = div(addScalar(mulScalar(sigmaXY, 2), c2), addScalar(add(sigmaX, sigmaY), c2));
    const luminance = div(addScalar(mulScalar(mul(muX, muY), 2), c1), addScalar(add(square(muX), square(muY)), c1));
    return mean(flatten(mul(luminance, contrast), 1), 1, true);
  });
}

/** MONAI's RegressionMetric._check_shape: one shape, with a channel or spatial axis; float tensors on one backend. */
export function checkRegressionPair(op: string, yPred: Tensor, y: Tensor): void {
  if (!(yPred instanceof Tensor) || !(y instanceof Tensor)) throw new Error(`${op}: yPred and y must be tensors`);
  checkFloat(op, yPred);
  checkSameBackend(op, yPred, y);
  if (y.dtype !== yPred.dtype) throw new Error(`${op}: y ${formatShape(y.shape)} ${y.dtype} must have the dtype of yPred ${formatShape(yPred.shape)} ${yPred.dtype}`);
  if (!sameShape(yPred.shape, y.shape)) throw new Error(`${op}: yPred ${formatShape(yPred.shape)} and y ${formatShape(y.shape)} must have one shape`);
  if (yPred.rank < 2) throw new Error(`${op}: yPred ${formatShape(yPred.shape)} needs a channel or spatial axis after the batch axis`);
}

// ------------------------------------------------------------------------------------------------- SSIMLoss

export interface SsimLossOptions extends SsimOptions {
  /** over the batch's per-sample losses: 'mean' (default), 'sum', or 'none' ([B, 1]) */
  reduction?: Reduction;
}

/** MONAI's SSIMLoss: 1 − SSIM per sample (`ssimPerSample`, MONAI's SSIMMetric), reduced over the batch. */
export function ssimLoss(input: Tensor, target: Tensor, options: SsimLossOptions): Tensor {
  const op = 'ssimLoss';
  const { reduction = 'mean', ...ssim } = options;
  checkReduction(op, reduction);
  return tidy(() => reduceLoss(affine(ssimPerSample(op, input, target, ssim), -1, 1), reduction));
}

/** MONAI's SSIMLoss (spatial_dims → spatialDims, data_range → dataRange, …), over `ssimLoss`. */
export class SSIMLoss extends LossModule<SsimLossOptions> {
  constructor(options: SsimLossOptions) {
    // a single winSize or kernelSigma as one per spatial axis (the option kinds take a list)
    const perAxis = (v: number | readonly number[] | undefined) => (typeof v === 'number' && (options.spatialDims === 2 || options.spatialDims === 3) ? new Array<number>(options.spatialDims).fill(v) : v);
    const given = options === null || typeof options !== 'object' ? options : { ...options, winSize: perAxis(options.winSize), kernelSigma: perAxis(options.kernelSigma) };
    super(given, { spatialDims: 'number', dataRange: 'number', kernelType: 'string', winSize: 'numbers', kernelSigma: 'numbers', k1: 'number', k2: 'number', reduction: 'reduction' });
  }
  forward(input: Tensor, target: Tensor): Tensor { return ssimLoss(input, target, this.options); }
}

// --------------------------------------------------------------------------------------------- ContrastiveLoss

export interface ContrastiveLossOptions {
  /** the softmax temperature τ > 0 (default 0.5) */
  temperature?: number;
}

/**
 * MONAI's ContrastiveLoss (SimCLR's NT-Xent): with z = [input; target] (2B rows) and s_ij their cosine similarities
 * (each row divided by max(‖z‖, 1e-8)), the mean over the 2B rows of −log(exp(s_i,i±B/τ)/Σ_{j≠i} exp(s_ij/τ)), the
 * positive of row i being its partner in the other half. input and target [B, F] (or [B]).
 */
export function contrastiveLoss(input: Tensor, target: Tensor, options: ContrastiveLossOptions = {}): Tensor {
  const op = 'contrastiveLoss';
  const temperature = options.temperature ?? 0.5;
  checkNumber(op, 'temperature', temperature, (v) => Number.isFinite(v) && v > 0, 'a positive number');
  if (input.rank > 2 || target.rank > 2 || input.rank === 0) throw new Error(`${op}: input ${formatShape(input.shape)} and target ${formatShape(target.shape)} must be [B, F] or [B]`);
  checkInputTarget(op, input, target);
  const B = input.shape[0]!, rows = 2 * B;
  return tidy(() => {
    const z = concat([input, target].map((t) => (t.rank === 1 ? reshape(t, [B, 1]) : t)), 0);
    const unit = div(z, maximum(sqrt(sum(square(z), 1, true)), fromArray([1e-8], [1, 1], { dtype: z.dtype, backend: z.backend })));
    const logits = mulScalar(matmul(unit, transpose(unit)), 1 / temperature);
    const eye = new Float64Array(rows * rows), partner = new Float64Array(rows * rows);
    for (let i = 0; i < rows; i++) { eye[i * rows + i] = 1; partner[i * rows + ((i + B) % rows)] = 1; }
    const others = fromArray(eye.map((v) => 1 - v), [rows, rows], { dtype: z.dtype, backend: z.backend });
    const positives = sum(mul(logits, fromArray(partner, [rows, rows], { dtype: z.dtype, backend: z.backend })), 1);
    const denominators = log(sum(mul(exp(logits), others), 1));
    return mulScalar(sum(sub(denominators, positives)), 1 / rows);
  });
}

/** MONAI's ContrastiveLoss (temperature), over `contrastiveLoss`. */
export class ContrastiveLoss extends LossModule<ContrastiveLossOptions> {
  constructor(options: ContrastiveLossOptions = {}) { super(options, { temperature: 'number' }); }
  forward(input: Tensor, target: Tensor): Tensor { return contrastiveLoss(input, target, this.options); }
}

// ---------------------------------------------------------------------------------- AsymmetricUnifiedFocalLoss

export interface AsymmetricUnifiedFocalLossOptions {
  /** the target is int32 class indices [N, 1, …] made one-hot over the two classes (default false) */
  toOnehotY?: boolean;
  /** the classes: only 2 (binary segmentation), as MONAI's */
  numClasses?: number;
  /** the asymmetric focal term's weight, the focal Tversky term's being 1 − weight (default 0.5) */
  weight?: number;
  /** the focal exponent of both terms (default 0.5) */
  gamma?: number;
  /** the foreground's weight δ, the background's 1 − δ (default 0.7) */
  delta?: number;
  /** MONAI's reduction, which has nothing left to reduce: the loss is one number whichever is given (default 'mean') */
  reduction?: Reduction;
}

/**
 * MONAI's AsymmetricUnifiedFocalLoss (Yeung et al. 2022) for binary segmentation: weight·AFL + (1 − weight)·AFTL on
 * probabilities p clamped to [ε, 1 − ε] (ε = 1e-7) and a one-hot target g, two channels (background, foreground):
 * AFL = mean over the samples and voxels of (1 − δ)·(1 − p₀)^γ·(−g₀·log p₀) + δ·(−g₁·log p₁);
 * AFTL = mean over the samples of the background's 1 − T₀ and the foreground's (1 − T₁)^(1 − γ), where
 * T_c = (tp + ε)/(tp + δ·fn + (1 − δ)·fp + ε) over the voxels. No activation is applied (MONAI's docstring speaks of
 * logits but its code takes p as given). A one-channel input p is taken as the two channels [1 − p, p] (and a
 * one-channel float target as [1 − g, g]); MONAI one-hot encodes a one-channel prediction by its integer part instead,
 * which agrees on 0/1 predictions and otherwise has no gradient. MONAI's check that the target holds class 1 somewhere
 * (which needs a read back) is not made.
 */
export function asymmetricUnifiedFocalLoss(input: Tensor, target: Tensor, options: AsymmetricUnifiedFocalLossOptions = {}): Tensor {
  const op = 'asymmetricUnifiedFocalLoss';
  const { weight = 0.5, gamma = 0.5, delta = 0.7, numClasses = 2, reduction = 'mean' } = options;
  checkReduction(op, reduction);
  if (numClasses !== 2) throw new Error(`${op}: numClasses must be 2 (MONAI's loss supports binary segmentation only), got ${String(numClasses)}`);
  checkNumber(op, 'weight', weight, (v) => v >= 0 && v <= 1, 'in [0, 1]');
  checkNumber(op, 'delta', delta, (v) => v >= 0 && v <= 1, 'in [0, 1]');
  checkNumber(op, 'gamma', gamma, Number.isFinite, 'a finite number');
  checkImageRank(op, 'input', input);
  checkFloat(op, input);
  if (input.shape[1]! > 2) throw new Error(`${op}: input ${formatShape(input.shape)} must have 1 or 2 channels (binary segmentation)`);
  if (options.toOnehotY) {
    const expected = [input.shape[0]!, 1, ...input.shape.slice(2)];
    if (target.dtype !== 'int32' || !sameShape(target.shape, expected)) throw new Error(`${op}: with toOnehotY the target must be int32 class indices ${formatShape(expected)}, got ${formatShape(target.shape)} ${target.dtype}`);
    checkSameBackend(op, input, target);
  } else {
    checkInputTarget(op, input, target);
  }
  const eps = 1e-7;
  return tidy(() => {
    const twoChannels = (t: Tensor) => (t.shape[1] === 1 ? concat([affine(t, -1, 1), t], 1) : t);
    const p = clamp(twoChannels(input), eps, 1 - eps);
    const g = options.toOnehotY ? twoChannels(cast(target, input.dtype)) : twoChannels(target);
    const [p0, p1, g0, g1] = [slice(p, 1, 0, 1), slice(p, 1, 1, 2), slice(g, 1, 0, 1), slice(g, 1, 1, 2)];
    // the asymmetric focal loss: the background's cross entropy focused, the foreground's not
    const back = mulScalar(mul(powScalar(affine(p0, -1, 1), gamma), neg(mul(g0, log(p0)))), 1 - delta);
    const fore = mulScalar(neg(mul(g1, log(p1))), delta);
    const focal = mean(add(back, fore));
    // the asymmetric focal Tversky loss
    const axes = range(2, p.rank);
    const tp = sum(mul(g, p), axes), fn = sum(mul(g, affine(p, -1, 1)), axes), fp = sum(mul(affine(g, -1, 1), p), axes);
    const tversky = div(addScalar(tp, eps), addScalar(add(tp, add(mulScalar(fn, delta), mulScalar(fp, 1 - delta))), eps));
    const miss = affine(tversky, -1, 1);
    const tverskyLoss = mean(concat([slice(miss, 1, 0, 1), powScalar(slice(miss, 1, 1, 2), 1 - gamma)], 1));
    return add(mulScalar(focal, weight), mulScalar(tverskyLoss, 1 - weight));
  });
}

/** MONAI's AsymmetricUnifiedFocalLoss (to_onehot_y → toOnehotY, num_classes → numClasses, weight, gamma, delta). */
export class AsymmetricUnifiedFocalLoss extends LossModule<AsymmetricUnifiedFocalLossOptions> {
  constructor(options: AsymmetricUnifiedFocalLossOptions = {}) {
    super(options, { toOnehotY: 'boolean', numClasses: 'number', weight: 'number', gamma: 'number', delta: 'number', reduction: 'reduction' });
  }
  forward(input: Tensor, target: Tensor): Tensor { return asymmetricUnifiedFocalLoss(input, target, this.options); }
}
