/**
 * MONAI's regression metrics (monai/metrics/regression.py): MSEMetric, MAEMetric, RMSEMetric, PSNRMetric and
 * SSIMMetric, as cumulative metric classes in the manner of metric-classes.ts. Each `call(yPred, y)` takes a batch of
 * real-valued tensors [B, C, …] of one shape (float, one backend), computes one value per sample (MONAI's [B, 1]
 * rows), stores them and returns them; `aggregate()` is MONAI's `do_metric_reduction` of the rows so far ('mean'
 * unless the constructor's `reduction` names another; with `getNotNans`, `[value, notNans]`); `reset()` clears them.
 * The per-sample values are computed with the tensor ops on the tensors' backend (no gradient) and read back as
 * float64 numbers; SSIM is models/losses-extra.ts's differentiable `ssimPerSample`, which SSIMLoss takes as well.
 */
import { abs, addScalar, flatten, log, mean, mulScalar, noGrad, sqrt, square, sub } from '../autograd/index.js';
import { checkRegressionPair, checkSsimOptions, ssimPerSample, type SsimOptions } from '../models/losses-extra.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkReduction, doMetricReduction, type Aggregated, type MetricReduction, type ReductionOptions } from './metric-classes.js';

// ---------------------------------------------------------------------------------------------- metrics

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

  /** the per-sample values [B, 1] of a checked batch, on the tensors' backend (`call` disposes the intermediates) */
  protected abstract compute(yPred: Tensor, y: Tensor): Tensor;

  /** The per-sample values of a batch [B, …] (MONAI's [B, 1] result), stored for `aggregate` and returned as [B][1]. */
  async call(yPred: Tensor, y: Tensor): Promise<number[][]> {
    const op = `${this.constructor.name}.call`;
    checkRegressionPair(op, yPred, y);
    const values = noGrad(() => tidy(() => this.compute(yPred, y)));
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
  protected compute(yPred: Tensor, y: Tensor): Tensor { return sqrt(meanError(yPred, y, square)); }
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
    return addScalar(mulScalar(log(meanError(yPred, y, square)), -10 / Math.LN10), 20 * Math.log10(this.maxVal));
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
