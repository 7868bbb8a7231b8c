/**
 * More of MONAI's cumulative segmentation metrics, on the inputs of metric-classes.ts (binary masks through `call`;
 * with `numClasses`, class-index maps through `callClasses` or one-hot [C, X, Y, Z] masks through `callChannels`; one
 * case per call): `ConfusionMatrixMetric`
 * (monai/metrics/confusion_matrix.py), `MeanIoU` (meaniou.py), `GeneralizedDiceScore` (generalized_dice.py) and
 * `SurfaceDiceMetric` (surface_dice.py, over the surface distances of metrics.ts). Values are float64 here (MONAI's are
 * float32), so they agree with MONAI's within float32 rounding; NaN marks MONAI's undefined cases.
 */
import { checkReduction, distanceMetricOption, doMetricReduction, MetricBuffer, ReducedMetric, type MetricClassOptions, type MetricReduction, type Reduced, type ReductionOptions } from './metric-classes.js';
import { checkDistanceMetric, overlap, surfaceDistances, type DistanceMetric } from './metrics.js';
import type { Shape3 } from './volume.js';

type ClassMasks = readonly (readonly [Uint8Array, Uint8Array])[];

// ---------------------------------------------------------------------------------------------- confusion matrix

/** One class's confusion matrix, MONAI's order: [tp, fp, tn, fn]. */
export type ConfusionMatrix = [tp: number, fp: number, tn: number, fn: number];

/** MONAI's `get_confusion_matrix` of one class: binary masks (nonzero = foreground), counts [tp, fp, tn, fn]. */
export function getConfusionMatrix(pred: Uint8Array, gt: Uint8Array): ConfusionMatrix {
  if (!(pred instanceof Uint8Array) || !(gt instanceof Uint8Array) || pred.length !== gt.length) {
    throw new Error(`getConfusionMatrix: pred and gt must be Uint8Array masks of one length, got ${pred?.length} and ${gt?.length} voxels`);
  }
  const { na, nb, inter } = overlap(pred, gt);
  return [inter, na - inter, pred.length - na - nb + inter, nb - inter];
}

/** The short names MONAI's `check_confusion_matrix_metric_name` gives, and their aliases (spaces or underscores, any case). */
const CONFUSION_METRIC_ALIASES: Readonly<Record<string, readonly string[]>> = {
  tpr: ['sensitivity', 'recall', 'hit_rate', 'true_positive_rate', 'tpr'],
  tnr: ['specificity', 'selectivity', 'true_negative_rate', 'tnr'],
  ppv: ['precision', 'positive_predictive_value', 'ppv'],
  npv: ['negative_predictive_value', 'npv'],
  fnr: ['miss_rate', 'false_negative_rate', 'fnr'],
  fpr: ['fall_out', 'false_positive_rate', 'fpr'],
  fdr: ['false_discovery_rate', 'fdr'],
  for: ['false_omission_rate', 'for'],
  pt: ['prevalence_threshold', 'pt'],
  ts: ['threat_score', 'critical_success_index', 'ts', 'csi'],
  acc: ['accuracy', 'acc'],
  ba: ['balanced_accuracy', 'ba'],
  f1: ['f1_score', 'f1'],
  mcc: ['matthews_correlation_coefficient', 'mcc'],
  fm: ['fowlkes_mallows_index', 'fm'],
  bm: ['informedness', 'bookmaker_informedness', 'bm', 'youden_index', 'youden'],
  mk: ['markedness', 'deltap', 'mk'],
};

/** MONAI's `check_confusion_matrix_metric_name`: the short name ('tpr', 'f1', …) of a metric name or alias. */
export function checkConfusionMatrixMetricName(metricName: string): string {
  const key = String(metricName).replaceAll(' ', '_').toLowerCase();
  for (const [short, aliases] of Object.entries(CONFUSION_METRIC_ALIASES)) if (aliases.includes(key)) return short;
  throw new Error(`checkConfusionMatrixMetricName: metric ${JSON.stringify(metricName)} is not implemented; one of ${Object.values(CONFUSION_METRIC_ALIASES).flat().join(', ')}`);
}

/** a / b, NaN where b is 0 (MONAI's `torch.where(denominator != 0, …, nan)`) */
const ratio = (a: number, b: number): number => (b !== 0 ? a / b : NaN);

/**
 * MONAI's `compute_confusion_matrix_metric` of one confusion matrix [tp, fp, tn, fn]: NaN where a denominator is 0
 * (and, in the metrics built from rates, where a rate is).
 */
export function computeConfusionMatrixMetric(metricName: string, confusionMatrix: readonly number[]): number {
  const metric = checkConfusionMatrixMetricName(metricName);
  if (confusionMatrix.length !== 4) throw new Error(`computeConfusionMatrixMetric: the confusion matrix must be [tp, fp, tn, fn], got ${confusionMatrix.length} values`);
  const [tp, fp, tn, fn] = confusionMatrix as ConfusionMatrix;
  const p = tp + fn, n = fp + tn;
  const tpr = ratio(tp, p), tnr = ratio(tn, n), ppv = ratio(tp, tp + fp), npv = ratio(tn, tn + fn);
  switch (metric) {
    case 'tpr': return tpr;
    case 'tnr': return tnr;
    case 'ppv': return ppv;
    case 'npv': return npv;
    case 'fnr': return ratio(fn, p);
    case 'fpr': return ratio(fp, n);
    case 'fdr': return ratio(fp, fp + tp);
    case 'for': return ratio(fn, fn + tn);
    case 'pt': return ratio(Math.sqrt(tpr * (1 - tnr)) + tnr - 1, tpr + tnr - 1);
    case 'ts': return ratio(tp, tp + fn + fp);
    case 'acc': return ratio(tp + tn, p + n);
    case 'ba': return (tpr + tnr) / 2;
    case 'f1': return ratio(tp * 2, tp * 2 + fn + fp);
    case 'mcc': return ratio(tp * tn - fp * fn, Math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)));
    case 'fm': return Math.sqrt(ppv * tpr);
    case 'bm': return tpr + tnr - 1;
    default: return ppv + npv - 1; // 'mk', the last short name
  }
}

/** A reduced value with one more axis of 4 (MONAI's `not_nans` of the reduced confusion matrices). */
export type ConfusionNotNans = number[] | number[][] | number[][][];

/** number, number[] or number[][] */
type Nested = number | Nested[];

/** Applies `leaf` to the numbers at the same place of equally shaped nested arrays. */
function zipNested<T>(parts: readonly Nested[], leaf: (xs: number[]) => T): T | unknown[] {
  const first = parts[0]!;
  if (typeof first === 'number') return leaf(parts as number[]);
  return first.map((_, i) => zipNested(parts.map((p) => (p as Nested[])[i]!), leaf));
}

export interface ConfusionMatrixMetricOptions<R extends MetricReduction, G extends boolean> extends ReductionOptions<R, G>, MetricClassOptions {
  /** MONAI's `metric_name`: one name or alias, or several (one result each). Default 'hit_rate' (sensitivity). */
  metricName?: string | readonly string[];
  /** MONAI's `compute_sample`: each case's metric first, then the reduction (default false: the counts reduced first). */
  computeSample?: boolean;
}

/**
 * MONAI's `ConfusionMatrixMetric` (`include_background` true by default): each case's row holds one confusion matrix
 * [tp, fp, tn, fn] per scored class; `aggregate()` returns one result per metric name.
 */
export class ConfusionMatrixMetric<R extends MetricReduction = 'mean', G extends boolean = false> extends MetricBuffer<ConfusionMatrix> {
  readonly metricName: readonly string[];
  readonly computeSample: boolean;
  readonly reduction: R;
  readonly getNotNans: G;

  constructor(opts: ConfusionMatrixMetricOptions<R, G> = {}) {
    super(opts, true);
    const names = opts.metricName ?? 'hit_rate';
    this.metricName = typeof names === 'string' ? [names] : [...names];
    if (this.metricName.length === 0) throw new Error('ConfusionMatrixMetric: metricName must name at least one metric');
    for (const m of this.metricName) checkConfusionMatrixMetricName(m);
    this.computeSample = opts.computeSample ?? false;
    this.reduction = opts.reduction ?? ('mean' as R);
    this.getNotNans = opts.getNotNans ?? (false as G);
    checkReduction(this.reduction, 'ConfusionMatrixMetric');
  }

  protected computeRow(masks: ClassMasks): ConfusionMatrix[] {
    return masks.map(([p, g]) => getConfusionMatrix(p, g));
  }

  /**
   * MONAI's `aggregate(compute_sample, reduction)`, one entry per metric name: with `computeSample` (here or in the
   * options) each case's metric reduced (NaNs left out, `notNans` counts the values); without, the metric of the
   * reduced confusion matrices (`notNans` then has one more axis of 4, one count per entry of the matrix).
   */
  aggregate<R2 extends MetricReduction = R>(computeSample = false, reduction?: R2): (G extends true ? [Reduced<R2>, Reduced<R2> | ConfusionNotNans] : Reduced<R2>)[] {
    const name = 'ConfusionMatrixMetric.aggregate';
    const rows = this.rows('aggregate');
    const red = reduction ?? (this.reduction as MetricReduction as R2);
    return this.metricName.map((metric) => {
      let f: Reduced<R2>, notNans: Reduced<R2> | ConfusionNotNans;
      if (computeSample || this.computeSample) {
        [f, notNans] = doMetricReduction(rows.map((r) => r.map((cm) => computeConfusionMatrixMetric(metric, cm))), red, name);
      } else {
        const reduced = [0, 1, 2, 3].map((k) => doMetricReduction(rows.map((r) => r.map((cm) => cm[k]!)), red, name));
        f = zipNested(reduced.map(([v]) => v), (cm) => computeConfusionMatrixMetric(metric, cm)) as Reduced<R2>;
        notNans = zipNested(reduced.map(([, c]) => c), (counts) => counts) as ConfusionNotNans;
      }
      return (this.getNotNans ? [f, notNans] : f) as G extends true ? [Reduced<R2>, Reduced<R2> | ConfusionNotNans] : Reduced<R2>;
    });
  }
}

// ---------------------------------------------------------------------------------------------- mean IoU

/**
 * MONAI's `MeanIoU` (`include_background` true by default): |P∩G| / |P∪G| per class; an empty reference gives NaN
 * (`ignoreEmpty`, the default) or, without it, 1 when the prediction is empty too and 0 otherwise.
 */
export class MeanIoU<R extends MetricReduction = 'mean', G extends boolean = false> extends ReducedMetric<R, G> {
  readonly ignoreEmpty: boolean;

  constructor(opts: { ignoreEmpty?: boolean } & ReductionOptions<R, G> & MetricClassOptions = {}) {
    super(opts, true);
    this.ignoreEmpty = opts.ignoreEmpty ?? true;
  }

  protected computeRow(masks: ClassMasks): number[] {
    return masks.map(([p, g]) => {
      const { na, nb, inter } = overlap(p, g);
      const union = na + nb - inter;
      if (this.ignoreEmpty) return nb > 0 ? inter / union : NaN;
      return union > 0 ? inter / union : 1;
    });
  }
}

// ---------------------------------------------------------------------------------------------- generalized Dice

export type GeneralizedDiceWeight = 'square' | 'simple' | 'uniform';

/**
 * MONAI's `GeneralizedDiceScore` (Sudre et al. 2017; `include_background` true by default): class weights
 * 1/|G_c|² ('square', the default), 1/|G_c| ('simple') or 1; a class absent from the reference (infinite weight)
 * gets the case's largest finite weight (0 when every class is absent). With `reduction` 'mean', 'sum',
 * 'mean_channel' or 'sum_channel' (MONAI ≥ 1.5) a case's row is one score, 2·Σ w·|P∩G| / Σ w·(|P| + |G|) over its
 * classes; with 'mean_batch', 'sum_batch' or 'none' one score per class. A zero denominator scores 1 when the
 * prediction is empty (summed over the classes in the first case) and 0 otherwise. The reduction is fixed here,
 * as MONAI's (its `aggregate(reduction)` ignores the argument); no `getNotNans`, as MONAI.
 */
export class GeneralizedDiceScore<R extends MetricReduction = 'mean'> extends MetricBuffer<number> {
  readonly reduction: R;
  readonly weightType: GeneralizedDiceWeight;
  /** MONAI's `sum_over_classes`: whether a case's row is one score over its classes */
  readonly sumOverClasses: boolean;

  constructor(opts: { reduction?: R; weightType?: GeneralizedDiceWeight } & MetricClassOptions = {}) {
    super(opts, true);
    this.reduction = opts.reduction ?? ('mean' as R);
    checkReduction(this.reduction, 'GeneralizedDiceScore');
    this.weightType = opts.weightType ?? 'square';
    if (!['square', 'simple', 'uniform'].includes(this.weightType)) {
      throw new Error(`GeneralizedDiceScore: weightType must be 'square', 'simple' or 'uniform', got ${JSON.stringify(this.weightType)}`);
    }
    this.sumOverClasses = ['sum', 'mean', 'mean_channel', 'sum_channel'].includes(this.reduction);
  }

  protected computeRow(masks: ClassMasks): number[] {
    const counts = masks.map(([p, g]) => overlap(p, g));
    const w = counts.map(({ nb }) => (this.weightType === 'simple' ? 1 / nb : this.weightType === 'square' ? 1 / (nb * nb) : 1));
    const maxFinite = w.reduce((m, x) => (Number.isFinite(x) ? Math.max(m, x) : m), 0);
    for (let c = 0; c < w.length; c++) if (!Number.isFinite(w[c]!)) w[c] = maxFinite;
    const score = (numer: number, denom: number, predVolume: number): number => (denom === 0 ? (predVolume === 0 ? 1 : 0) : numer / denom);
    if (!this.sumOverClasses) return counts.map(({ na, nb, inter }, c) => score(2 * inter * w[c]!, (nb + na) * w[c]!, na));
    let numer = 0, denom = 0, predVolume = 0;
    counts.forEach(({ na, nb, inter }, c) => {
      numer += inter * w[c]!;
      denom += (nb + na) * w[c]!;
      predVolume += na;
    });
    return [score(2 * numer, denom, predVolume)];
  }

  /** MONAI's `aggregate()`: the buffer reduced by the metric's `reduction`. */
  aggregate(): Reduced<R> {
    return doMetricReduction(this.rows('aggregate'), this.reduction, 'GeneralizedDiceScore.aggregate')[0];
  }
}

// ---------------------------------------------------------------------------------------------- surface Dice

export interface SurfaceDiceMetricOptions<R extends MetricReduction, G extends boolean> extends ReductionOptions<R, G>, MetricClassOptions {
  /** MONAI's `class_thresholds`: one finite threshold ≥ 0 per scored class (in `spacing`'s units), required. */
  classThresholds: readonly number[];
  /** MONAI's `distance_metric`: 'euclidean' (default), or 'chessboard' / 'taxicab' in voxels (without `spacing`). */
  distanceMetric?: DistanceMetric;
  /** MONAI's `use_subvoxels`: only false here (the default). */
  useSubvoxels?: false;
}

/**
 * MONAI's `SurfaceDiceMetric` (normalized surface Dice, `use_subvoxels=False`; `include_background` false by
 * default): the share of both surfaces' voxels (6-connected surfaces, as the distance metrics) whose distance to the
 * other surface is at most the class's threshold, compared in float32 as MONAI does. A class in neither volume is
 * NaN, in only one of them 0.
 */
export class SurfaceDiceMetric<R extends MetricReduction = 'mean', G extends boolean = false> extends ReducedMetric<R, G> {
  readonly classThresholds: readonly number[];
  readonly distanceMetric: DistanceMetric;
  readonly useSubvoxels: false;

  constructor(opts: SurfaceDiceMetricOptions<R, G>) {
    super(opts, false);
    const name = 'SurfaceDiceMetric';
    const thresholds = opts.classThresholds;
    const scored = this.classes?.length ?? 1;
    if (!Array.isArray(thresholds) || thresholds.length !== scored) {
      throw new Error(`${name}: classThresholds needs one threshold per scored class (${scored}), got ${JSON.stringify(thresholds)}`);
    }
    if (!thresholds.every((t) => typeof t === 'number' && Number.isFinite(t))) throw new Error(`${name}: all class thresholds need to be finite, got ${JSON.stringify(thresholds.map(String))}`);
    if (thresholds.some((t) => t < 0)) throw new Error(`${name}: all class thresholds need to be >= 0, got ${JSON.stringify(thresholds)}`);
    this.classThresholds = [...thresholds];
    this.distanceMetric = distanceMetricOption(opts.distanceMetric, name);
    if ((opts.useSubvoxels as boolean | undefined) === true) throw new Error(`${name}: useSubvoxels true (DeepMind's surface areas) is not implemented; only false, which counts surface voxels`);
    this.useSubvoxels = false;
  }

  protected computeRow(masks: ClassMasks, shape: Readonly<Shape3>, spacing: Readonly<Shape3> | undefined): number[] {
    checkDistanceMetric(this.distanceMetric, spacing, 'SurfaceDiceMetric.call');
    return masks.map(([p, g], c) => {
      const { na, nb } = overlap(p, g);
      if (na === 0 || nb === 0) return na === 0 && nb === 0 ? NaN : 0;
      const threshold = Math.fround(this.classThresholds[c]!);
      const pg = surfaceDistances(p, g, shape, spacing, this.distanceMetric), gp = surfaceDistances(g, p, shape, spacing, this.distanceMetric);
      let correct = 0;
      for (const d of [pg, gp]) for (const x of d) if (Math.fround(x) <= threshold) correct++;
      return correct / (pg.length + gp.length);
    });
  }
}
