/**
 * MONAI's regression metrics (monai/metrics/regression.py): MSEMetric, MAEMetric, RMSEMetric, PSNRMetric and
 * SSIMMetric, as cumulative metric classes in the manner of metric-classes.ts. Each `call(yPred, y)` takes a batch of
 * real-valued tensors [B, C, …] of one shape (float, one backend), computes one value per sample (MONAI's [B, 1]
 * rows), stores them and returns them; `aggregate()` is MONAI's `do_metric_reduction` of the rows so far ('mean'
 * unless the constructor's `reduction` names another; with `getNotNans`, `[value, notNans]`); `reset()` clears them.
 * The per-sample values are computed with the tensor ops on the tensors' backend (no gradient) and read back as
 * float64 numbers; `ssimPerSample` is the differentiable SSIM that SSIMLoss (models/losses-extra.ts) takes as well.
 */
import {
  abs, add, addScalar, checkFloat, checkSameBackend, conv3d, div, flatten, log, mean, mul, mulScalar, noGrad, reshape, sqrt, square, sub,
} from '../autograd/index.js';
import { fromArray } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { checkReduction, doMetricReduction, type Aggregated, type MetricReduction, type ReductionOptions } from './metric-classes.js';

// ------------------------------------------------------------------------------------------------ SSIM

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

// ---------------------------------------------------------------------------------------------- metrics

/** MONAI's RegressionMetric._check_shape: one shape, with a channel or spatial axis; float tensors on one backend. */
function checkRegressionPair(op: string, yPred: Tensor, y: Tensor): void {
  if (!(yPred instanceof Tensor) || !(y instanceof Tensor)) throw new Error(`${op}: yPred and y must be tensors`);
  checkFloat(op, yPred);
  checkSameBackend(op, yPred, y);
  if (y.dtype !== yPred.dtype) throw new Error(`${op}: y ${formatShape(y.shape)} ${y.dtype} must have the dtype of yPred ${formatShape(yPred.shape)} ${yPred.dtype}`);
  if (!sameShape(yPred.shape, y.shape)) throw new Error(`${op}: yPred ${formatShape(yPred.shape)} and y ${formatShape(y.shape)} must have one shape`);
  if (yPred.rank < 2) throw new Error(`${op}: yPred ${formatShape(yPred.shape)} needs a channel or spatial axis after the batch axis`);
}

/** MONAI's compute_mean_error_metrics: the mean of f(y − yPred) over everything but the batch axis, [B, 1] */
function meanError(yPred: Tensor, y: Tensor, f: (d: Tensor) => Tensor): Tensor {
  return mean(flatten(f(sub(y, yPred)), 1), 1, true);
}

/**
 * MONAI's RegressionMetric: one value per sample, kept as MONAI's [cases, 1] buffer and reduced by `aggregate` as
 * metric-classes.ts's metrics are (NaNs left out).
 */
export abstract class RegressionMetric<R extends MetricReduction = 'mean', G extends boolean = false> {
  #rows: number[][] = [];
  readonly reduction: R;
  readonly getNotNans: G;

  constructor(opts: ReductionOptions<R, G> = {}) {
    this.reduction = opts.reduction ?? ('mean' as R);
    this.getNotNans = opts.getNotNans ?? (false as G);
    checkReduction(this.reduction, this.constructor.name);
  }

  /** the per-sample values [B, 1] of a checked batch, on the tensors' backend */
  protected abstract compute(yPred: Tensor, y: Tensor): Tensor;

  /** The per-sample values of a batch [B, …] (MONAI's [B, 1] result), stored for `aggregate` and returned as [B][1]. */
  async call(yPred: Tensor, y: Tensor): Promise<number[][]> {
    const op = `${this.constructor.name}.call`;
    checkRegressionPair(op, yPred, y);
    const values = noGrad(() => this.compute(yPred, y));
    let host;
    try {
      host = await values.toArray();
    } finally {
      values.dispose();
    }
    const rows = Array.from(host, (v) => [Number(v)]);
    this.#rows.push(...rows);
    return structuredClone(rows);
  }

  /** The values so far as MONAI's [cases, 1] buffer (`get_buffer()`). */
  buffer(): number[][] {
    return structuredClone(this.#rows);
  }

  /** MONAI's `aggregate(reduction)`, as metric-classes.ts's ReducedMetric.aggregate. */
  aggregate<R2 extends MetricReduction = R>(reduction?: R2): Aggregated<R2, G> {
    const name = `${this.constructor.name}.aggregate`;
    if (this.#rows.length === 0) throw new Error(`${name}: no case added yet; call(yPred, y) first`);
    const [f, notNans] = doMetricReduction(this.#rows, reduction ?? (this.reduction as MetricReduction as R2), name);
    return (this.getNotNans ? [f, notNans] : f) as Aggregated<R2, G>;
  }

  reset(): void {
    this.#rows = [];
  }
}

/** MONAI's MSEMetric: mean((y − yPred)²) per sample. */
export class MSEMetric<R extends MetricReduction = 'mean', G extends boolean = false> extends RegressionMetric<R, G> {
  protected compute(yPred: Tensor, y: Tensor): Tensor { return meanError(yPred, y, square); }
}

/** MONAI's MAEMetric: mean(|y − yPred|) per sample. */
export class MAEMetric<R extends MetricReduction = 'mean', G extends boolean = false> extends RegressionMetric<R, G> {
  protected compute(yPred: Tensor, y: Tensor): Tensor { return meanError(yPred, y, abs); }
}

/** MONAI's RMSEMetric: √mean((y − yPred)²) per sample. */
export class RMSEMetric<R extends MetricReduction = 'mean', G extends boolean = false> extends RegressionMetric<R, G> {
  protected compute(yPred: Tensor, y: Tensor): Tensor { return tidy(() => sqrt(meanError(yPred, y, square))); }
}

/**
 * MONAI's PSNRMetric: 20·log10(maxVal) − 10·log10(MSE) per sample (+Infinity for identical images), `maxVal` the
 * images' dynamic range (required, as MONAI's max_val).
 */
export class PSNRMetric<R extends MetricReduction = 'mean', G extends boolean = false> extends RegressionMetric<R, G> {
  readonly maxVal: number;

  constructor(opts: { maxVal: number } & ReductionOptions<R, G>) {
    super(opts);
    const maxVal: unknown = opts.maxVal;
    if (typeof maxVal !== 'number' || !(Number.isFinite(maxVal) && maxVal > 0)) throw new Error(`PSNRMetric: maxVal must be a positive number, got ${String(maxVal)}`);
    this.maxVal = maxVal;
  }

  protected compute(yPred: Tensor, y: Tensor): Tensor {
    return tidy(() => addScalar(mulScalar(log(meanError(yPred, y, square)), -10 / Math.LN10), 20 * Math.log10(this.maxVal)));
  }
}

/** MONAI's SSIMMetric: `ssimPerSample` (see SsimOptions for the options and MONAI's defaults). */
export class SSIMMetric<R extends MetricReduction = 'mean', G extends boolean = false> extends RegressionMetric<R, G> {
  readonly ssim: Readonly<SsimOptions>;

  constructor(opts: SsimOptions & ReductionOptions<R, G>) {
    super(opts);
    const { reduction: _r, getNotNans: _g, ...ssim } = opts;
    checkSsimOptions('SSIMMetric', ssim);
    this.ssim = ssim;
  }

  protected compute(yPred: Tensor, y: Tensor): Tensor { return ssimPerSample('SSIMMetric.call', yPred, y, this.ssim); }
}
