import {
  add, addScalar, concat, conv3d, div, exp, log, matmul, max, maximum, mean, min, mul, mulScalar, reshape, slice, square, step, sub, sum, transpose,
  abs, clamp, checkFloat,
} from '../autograd/index.js';
import { formatShape, fromArray, tidy, type Tensor } from '../tensor/index.js';
import { checkInputTarget, checkReduction, type Reduction } from './loss-checks.js';
import { LossModule } from './loss-modules.js';

/*
 * MONAI's image registration losses (monai/losses/image_dissimilarity.py and deform.py), each a function and a
 * LossModule with MONAI's arguments in camelCase. Shapes are channel-first [N, C, ...spatial] as MONAI's.
 */

function reduce(x: Tensor, reduction: Reduction): Tensor {
  return reduction === 'none' ? x : reduction === 'sum' ? sum(x) : mean(x);
}

function constant(value: number, like: Tensor): Tensor {
  return fromArray([value], [], { backend: like.backend, dtype: like.dtype });
}

// ------------------------------------------------------------------------------------------ local NCC

export type NccKernelType = 'rectangular' | 'triangular' | 'gaussian';

export interface LocalNormalizedCrossCorrelationOptions {
  /** 1, 2 or 3 (default 3): the input is [N, C, ...spatialDims axes] */
  spatialDims?: number;
  /** the window's extent along each axis, odd (default 3) */
  kernelSize?: number;
  /** default 'rectangular' */
  kernelType?: NccKernelType;
  /** added to the squared cross term (default 0) */
  smoothNr?: number;
  /** the floor of each windowed variance (default 1e-5) */
  smoothDr?: number;
  /** default 'mean' */
  reduction?: Reduction;
}

/**
 * MONAI's 1-D window weights of `kernelSize` taps. 'triangular': a box of ⌈k/2⌉ (made odd) taps convolved with itself,
 * zero-padded to k. 'gaussian': exp(−x²/2σ²) with σ = k/3 sampled at x = −t…t, t = round(σ·⌊k/2⌋), and, as MONAI,
 * its first k samples, which for k ≥ 5 is not centred (x = −3…1 for k = 5).
 */
export function nccKernel(kernelSize: number, kernelType: NccKernelType): number[] {
  const k = kernelSize;
  if (kernelType === 'rectangular') return Array.from({ length: k }, () => 1);
  if (kernelType === 'triangular') {
    const box = (k + 1) >> 1, f = box % 2 === 0 ? box - 1 : box;
    const triangle = Array.from({ length: 2 * f - 1 }, (_, i) => (f - Math.abs(i - (f - 1))) / (f * f));
    const side = (k - triangle.length) / 2;
    return [...Array.from({ length: side }, () => 0), ...triangle, ...Array.from({ length: side }, () => 0)];
  }
  const sigma = k / 3, tail = Math.trunc(Math.max(sigma * Math.floor(k / 2), 0.5) + 0.5);
  return Array.from({ length: k }, (_, i) => Math.exp((-0.5 / (sigma * sigma)) * (i - tail) ** 2));
}

function checkNccOptions(op: string, options: LocalNormalizedCrossCorrelationOptions): Required<LocalNormalizedCrossCorrelationOptions> {
  const { spatialDims = 3, kernelSize = 3, kernelType = 'rectangular', smoothNr = 0, smoothDr = 1e-5, reduction = 'mean' } = options;
  if (spatialDims !== 1 && spatialDims !== 2 && spatialDims !== 3) throw new Error(`${op}: spatialDims must be 1, 2 or 3, got ${String(spatialDims)}`);
  if (!Number.isInteger(kernelSize) || kernelSize < 1 || kernelSize % 2 === 0) throw new Error(`${op}: kernelSize must be a positive odd integer, got ${String(kernelSize)}`);
  if (!['rectangular', 'triangular', 'gaussian'].includes(kernelType)) {
    throw new Error(`${op}: kernelType must be 'rectangular', 'triangular' or 'gaussian', got ${String(kernelType)}`);
  }
  checkReduction(op, reduction);
  return { spatialDims, kernelSize, kernelType, smoothNr, smoothDr, reduction };
}

/**
 * Each channel of x [M, 1, a, b, c] filtered by the same 1-D kernel along the first `axes` spatial axes, zero-padded
 * to keep the size (MONAI's separable_filtering).
 */
function separableFilter(x: Tensor, kernel: readonly number[], axes: number): Tensor {
  const k = kernel.length, p = (k - 1) / 2;
  let y = x;
  for (let a = 0; a < axes; a++) {
    const shape = [1, 1, 1, 1, 1], padding: [number, number, number] = [0, 0, 0];
    shape[2 + a] = k;
    padding[a] = p;
    y = conv3d(y, fromArray(kernel, shape, { backend: x.backend, dtype: x.dtype }), null, { padding });
  }
  return y;
}

/**
 * MONAI's LocalNormalizedCrossCorrelationLoss: minus the squared normalized cross-correlation of pred and target
 * [N, C, ...spatial] in a window around each voxel, (cross² + smoothNr)/(max(var_t, smoothDr)·max(var_p, smoothDr))
 * with window sums (weighted by the kernel, zero outside the volume). 'none' keeps [N, C, ...spatial].
 */
export function localNormalizedCrossCorrelationLoss(pred: Tensor, target: Tensor, options: LocalNormalizedCrossCorrelationOptions = {}): Tensor {
  const op = 'localNormalizedCrossCorrelationLoss';
  const o = checkNccOptions(op, options);
  checkInputTarget(op, pred, target);
  if (pred.rank !== o.spatialDims + 2) {
    throw new Error(`${op}: pred ${formatShape(pred.shape)} must have ${o.spatialDims} spatial axes ([N, C, ...spatial]; spatialDims ${o.spatialDims})`);
  }
  const kernel = nccKernel(o.kernelSize, o.kernelType);
  const kernelVolume = kernel.reduce((s, v) => s + v, 0) ** o.spatialDims;
  return tidy(() => {
    const M = pred.shape[0] * pred.shape[1];
    const as5d = (x: Tensor) => reshape(x, [M, 1, ...pred.shape.slice(2), ...Array.from({ length: 3 - o.spatialDims }, () => 1)]);
    const [t, p] = [as5d(target), as5d(pred)];
    // the five window sums in one filtering: t, p, t², p², t·p stacked along the batch
    const sums = separableFilter(concat([t, p, square(t), square(p), mul(t, p)], 0), kernel, o.spatialDims);
    const [tSum, pSum, t2Sum, p2Sum, tpSum] = [0, 1, 2, 3, 4].map((i) => slice(sums, 0, i * M, (i + 1) * M));
    const [tAvg, pAvg] = [mulScalar(tSum, 1 / kernelVolume), mulScalar(pSum, 1 / kernelVolume)];
    const cross = sub(tpSum, mul(pAvg, tSum));
    const floor = constant(o.smoothDr, pred);
    const tVar = maximum(sub(t2Sum, mul(tAvg, tSum)), floor), pVar = maximum(sub(p2Sum, mul(pAvg, pSum)), floor);
    const ncc = reshape(div(addScalar(square(cross), o.smoothNr), mul(tVar, pVar)), pred.shape);
    return mulScalar(reduce(ncc, o.reduction), -1);
  });
}

// ----------------------------------------------------------------------------------- global MI

export interface GlobalMutualInformationOptions {
  /** 'gaussian' (default; intensities clamped to [0, 1]) or 'b-spline' (cubic for pred, box for target) */
  kernelType?: 'gaussian' | 'b-spline';
  /** intensity bins (default 23) */
  numBins?: number;
  /** the Gaussian's σ in bin widths (default 0.5) */
  sigmaRatio?: number;
  /** default 1e-7 */
  smoothNr?: number;
  /** default 1e-7 */
  smoothDr?: number;
  /** default 'mean' (over the batch) */
  reduction?: Reduction;
}

function checkMiOptions(op: string, options: GlobalMutualInformationOptions): Required<GlobalMutualInformationOptions> {
  const { kernelType = 'gaussian', numBins = 23, sigmaRatio = 0.5, smoothNr = 1e-7, smoothDr = 1e-7, reduction = 'mean' } = options;
  if (kernelType !== 'gaussian' && kernelType !== 'b-spline') throw new Error(`${op}: kernelType must be 'gaussian' or 'b-spline', got ${String(kernelType)}`);
  // the Gaussian's σ is a bin spacing (two bins at least); the B-spline pads two bins on each side
  const fewest = kernelType === 'gaussian' ? 2 : 5;
  if (!Number.isInteger(numBins) || numBins < fewest) throw new Error(`${op}: numBins must be an integer ≥ ${fewest} for kernelType '${kernelType}', got ${String(numBins)}`);
  checkReduction(op, reduction);
  return { kernelType, numBins, sigmaRatio, smoothNr, smoothDr, reduction };
}

/** [B, n, bins] Parzen weights (normalized over the bins) of each sample of x [B, n, 1] */
function parzenWeights(x: Tensor, o: Required<GlobalMutualInformationOptions>, splineOrder: 0 | 3): Tensor {
  const bins = o.numBins;
  if (o.kernelType === 'gaussian') {
    const sigma = o.sigmaRatio / (bins - 1);
    const centers = fromArray(Array.from({ length: bins }, (_, i) => i / (bins - 1)), [1, 1, bins], { backend: x.backend, dtype: x.dtype });
    const w = exp(mulScalar(square(sub(clamp(x, 0, 1), centers)), -1 / (2 * sigma * sigma)));
    return div(w, sum(w, 2, true));
  }
  // ITK's/Mattes': bins widened so that the extremes fall two bins inside; the extremes are of the whole tensor
  const padding = 2;
  const binSize = mulScalar(sub(max(x), min(x)), 1 / (bins - 2 * padding));
  const normMin = addScalar(div(min(x), binSize), -padding);
  const position = clamp(sub(div(x, binSize), normMin), padding, bins - padding - 1);
  const indices = fromArray(Array.from({ length: bins }, (_, i) => i), [1, 1, bins], { backend: x.backend, dtype: x.dtype });
  const s = abs(sub(indices, position));
  const w = splineOrder === 0
    // 1 below ½, ½ at ½
    ? addScalar(add(mulScalar(step(s, 0.5, true), -0.5), mulScalar(step(s, 0.5), -0.5)), 1)
    : add(
      mul(addScalar(add(mulScalar(square(s), -6), mulScalar(mul(square(s), s), 3)), 4), mulScalar(addScalar(mulScalar(step(s, 1, true), -1), 1), 1 / 6)),
      mul(mul(square(addScalar(mulScalar(s, -1), 2)), addScalar(mulScalar(s, -1), 2)), mulScalar(sub(step(s, 1, true), step(s, 2, true)), 1 / 6)));
  return div(w, sum(w, 2, true));
}

/**
 * MONAI's GlobalMutualInformationLoss: minus the mutual information of pred's and target's intensities [B, ...]
 * from Parzen-window histograms, Σ p_ab·log((p_ab + smoothNr)/(p_a·p_b + smoothDr) + smoothDr) per batch element.
 * 'none' gives [B].
 */
export function globalMutualInformationLoss(pred: Tensor, target: Tensor, options: GlobalMutualInformationOptions = {}): Tensor {
  const op = 'globalMutualInformationLoss';
  const o = checkMiOptions(op, options);
  checkInputTarget(op, pred, target);
  if (pred.rank < 2) throw new Error(`${op}: pred ${formatShape(pred.shape)} must be [B, ...] with at least one axis after the batch`);
  return tidy(() => {
    const samples = pred.numel() / pred.shape[0];
    const wa = parzenWeights(reshape(pred, [pred.shape[0], samples, 1]), o, 3);
    const wb = parzenWeights(reshape(target, [pred.shape[0], samples, 1]), o, 0);
    const [pa, pb] = [mean(wa, 1, true), mean(wb, 1, true)];
    const pab = mulScalar(matmul(transpose(wa, 1, 2), wb), 1 / samples);
    const papb = matmul(transpose(pa, 1, 2), pb);
    const ratio = div(addScalar(pab, o.smoothNr), addScalar(papb, o.smoothDr));
    const mi = sum(mul(pab, log(addScalar(ratio, o.smoothDr))), [1, 2]);
    return mulScalar(reduce(mi, o.reduction), -1);
  });
}

// ------------------------------------------------------------------------------- deformation

export interface DeformationLossOptions {
  /** scale each derivative as MONAI's normalize (roughly invariant to the field's resolution; default false) */
  normalize?: boolean;
  /** default 'mean' */
  reduction?: Reduction;
}

function checkDeformationField(op: string, pred: Tensor, smallest: number, options: DeformationLossOptions): Reduction {
  const reduction = options.reduction ?? 'mean';
  checkReduction(op, reduction);
  checkFloat(op, pred);
  if (pred.rank < 3 || pred.rank > 5) throw new Error(`${op}: pred ${formatShape(pred.shape)} must be [N, C, ...spatial] with 1, 2 or 3 spatial axes`);
  if (pred.shape.slice(2).some((s) => s < smallest)) throw new Error(`${op}: every spatial extent of pred ${formatShape(pred.shape)} must be at least ${smallest}`);
  if (pred.shape[1] !== pred.rank - 2) {
    throw new Error(`${op}: pred ${formatShape(pred.shape)} must have one channel per spatial axis (${pred.rank - 2}), got ${pred.shape[1]}`);
  }
  return reduction;
}

/** MONAI's spatial_gradient: the central difference (x[i+1] − x[i−1])/2 along `axis`, inside the volume on every spatial axis. */
function spatialGradient(x: Tensor, axis: number): Tensor {
  let inner = x;
  for (let a = 2; a < x.rank; a++) if (a !== axis) inner = slice(inner, a, 1, x.shape[a] - 1);
  const n = x.shape[axis];
  return mulScalar(sub(slice(inner, axis, 2, n), slice(inner, axis, 0, n - 2)), 0.5);
}

/** the first-order central differences along each spatial axis, scaled per channel c by extent(axis)/extent(c) when normalizing */
function firstDerivatives(pred: Tensor, normalize: boolean): Tensor[] {
  const spatial = pred.shape.slice(2);
  return spatial.map((extent, i) => {
    const g = spatialGradient(pred, i + 2);
    if (!normalize) return g;
    const perChannel = spatial.map((s) => extent / s);
    return mul(g, fromArray(perChannel, [1, spatial.length, ...spatial.map(() => 1)], { backend: pred.backend, dtype: pred.dtype }));
  });
}

/**
 * MONAI's BendingEnergyLoss of a displacement field pred [N, C = spatial axes, ...spatial], every extent ≥ 5:
 * Σ_i (∂²u/∂x_i²)² + 2·Σ_{i<j} (∂²u/∂x_i∂x_j)² by repeated central differences. 'none' keeps
 * [N, C, ...spatial − 4].
 */
export function bendingEnergyLoss(pred: Tensor, options: DeformationLossOptions = {}): Tensor {
  const reduction = checkDeformationField('bendingEnergyLoss', pred, 5, options);
  const normalize = options.normalize ?? false;
  return tidy(() => {
    const scaled = (x: Tensor, axis: number) => (normalize ? mulScalar(x, pred.shape[axis]) : x);
    const terms: Tensor[] = [];
    firstDerivatives(pred, normalize).forEach((g, i) => {
      const axis = i + 2;
      terms.push(square(scaled(spatialGradient(g, axis), axis)));
      for (let other = axis + 1; other < pred.rank; other++) terms.push(mulScalar(square(scaled(spatialGradient(g, other), other)), 2));
    });
    return reduce(terms.reduce((s, t) => add(s, t)), reduction);
  });
}

/** MONAI's DiffusionLoss: Σ_i (∂u/∂x_i)² by central differences, every extent ≥ 3. 'none' keeps [N, C, ...spatial − 2]. */
export function diffusionLoss(pred: Tensor, options: DeformationLossOptions = {}): Tensor {
  const reduction = checkDeformationField('diffusionLoss', pred, 3, options);
  return tidy(() => reduce(firstDerivatives(pred, options.normalize ?? false).map(square).reduce((s, g) => add(s, g)), reduction));
}

// ---------------------------------------------------------------------------------- modules

/** MONAI's LocalNormalizedCrossCorrelationLoss (kernel_size → kernelSize, kernel_type → kernelType, smooth_nr, smooth_dr). */
export class LocalNormalizedCrossCorrelationLoss extends LossModule<LocalNormalizedCrossCorrelationOptions> {
  constructor(options: LocalNormalizedCrossCorrelationOptions = {}) {
    super(options, { spatialDims: 'number', kernelSize: 'number', kernelType: 'string', smoothNr: 'number', smoothDr: 'number', reduction: 'reduction' });
    checkNccOptions(this.typeName, options);
  }
  forward(pred: Tensor, target: Tensor): Tensor { return localNormalizedCrossCorrelationLoss(pred, target, this.options); }
}

/** MONAI's GlobalMutualInformationLoss (kernel_type → kernelType, num_bins → numBins, sigma_ratio → sigmaRatio). */
export class GlobalMutualInformationLoss extends LossModule<GlobalMutualInformationOptions> {
  constructor(options: GlobalMutualInformationOptions = {}) {
    super(options, { kernelType: 'string', numBins: 'number', sigmaRatio: 'number', smoothNr: 'number', smoothDr: 'number', reduction: 'reduction' });
    checkMiOptions(this.typeName, options);
  }
  forward(pred: Tensor, target: Tensor): Tensor { return globalMutualInformationLoss(pred, target, this.options); }
}

/** MONAI's BendingEnergyLoss: `forward(ddf)`. */
export class BendingEnergyLoss extends LossModule<DeformationLossOptions> {
  constructor(options: DeformationLossOptions = {}) { super(options, { normalize: 'boolean', reduction: 'reduction' }); }
  forward(pred: Tensor): Tensor { return bendingEnergyLoss(pred, this.options); }
}

/** MONAI's DiffusionLoss: `forward(ddf)`. */
export class DiffusionLoss extends LossModule<DeformationLossOptions> {
  constructor(options: DeformationLossOptions = {}) { super(options, { normalize: 'boolean', reduction: 'reduction' }); }
  forward(pred: Tensor): Tensor { return diffusionLoss(pred, this.options); }
}
