/**
 * MONAI's cumulative metric classes over the metric functions of metrics.ts: binary volumes (one foreground class),
 * or with `numClasses` class-index maps or MONAI's one-hot [C, X, Y, Z] masks scored per class (MONAI's [B, C] rows);
 * each call adds one case,
 * `aggregate()` is MONAI's `reduction` over the cases so far ("mean" unless the constructor's `reduction` names another;
 * with `getNotNans`, `[value, notNans]`), `reset()` clears them.
 *
 * MONAI's treatment of empty volumes, kept here: a case whose value is NaN (DiceMetric: an empty reference with
 * `ignoreEmpty`; the distances: prediction and reference both empty) is left out of the mean, and when every case is
 * NaN the mean is 0; a distance with exactly one of the two empty is +Infinity (MONAI: inf without a
 * percentile; with one, torch.quantile gives NaN, reported as a bug in Project-MONAI/MONAI#9095), which the mean keeps.
 * Distances are float64 here (MONAI's are float32), so values agree with MONAI within float32 rounding.
 */
import { checkDistanceMetric, dice, hd95, npMean, percentile, surfaceDistances, type DistanceMetric } from './metrics.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import type { Shape3 } from './volume.js';

function isEmpty(mask: Uint8Array): boolean {
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) return false;
  return true;
}

/** MONAI's metric reductions of the [cases, classes] buffer (do_metric_reduction). */
export type MetricReduction = 'mean' | 'sum' | 'mean_batch' | 'sum_batch' | 'mean_channel' | 'sum_channel' | 'none';

/** The classes a metric scores: one foreground (binary masks), or with `numClasses` class-index maps. */
export interface MetricClassOptions {
  /**
   * pred and gt are class-index maps (values 0 … numClasses − 1, at least 2 classes; `callClasses`), scored per class
   * as MONAI's metrics score one-hot channels (DiceMetric's `num_classes`), or those one-hot [numClasses, X, Y, Z]
   * masks themselves (`callChannels`); without it, binary masks (nonzero = foreground).
   */
  numClasses?: number;
  /** Score class 0 too (MONAI's `include_background`; DiceMetric's default true, the distances' false). Needs numClasses. */
  includeBackground?: boolean;
}

/** Sum and count of the non-NaN values (MONAI zeroes NaNs and counts the others). */
function notNanSum(values: readonly number[]): { sum: number; n: number } {
  let sum = 0, n = 0;
  for (const v of values) if (!Number.isNaN(v)) { sum += v; n++; }
  return { sum, n };
}

const notNanMean = (values: readonly number[]): number => {
  const { sum, n } = notNanSum(values);
  return n === 0 ? 0 : sum / n;
};

/** The number type of each of MONAI's reductions of a [cases, classes] buffer. */
export type Reduced<R extends MetricReduction> = R extends 'mean' | 'sum' ? number : R extends 'none' ? number[][] : number[];

/**
 * MONAI's `do_metric_reduction` of a [cases, classes] buffer: the reduced values, NaNs left out (a mean of no value
 * that is not NaN is 0), and `not_nans`, the count of the values that entered each one ('mean': the cases with one;
 * 'none': the buffer as it is, and 1 or 0 per value).
 */
export function doMetricReduction<R extends MetricReduction>(f: readonly (readonly number[])[], reduction: R, name = 'doMetricReduction'): [Reduced<R>, Reduced<R>] {
  const columns = f.length === 0 ? [] : f[0]!.map((_, c) => f.map((r) => r[c]!));
  const count = (xs: readonly number[]): number => notNanSum(xs).n;
  let out: [number | number[] | number[][], number | number[] | number[][]];
  switch (reduction as MetricReduction) {
    case 'mean': {
      const counted = f.filter((r) => count(r) > 0);
      out = [counted.length === 0 ? 0 : notNanSum(counted.map(notNanMean)).sum / counted.length, counted.length];
      break;
    }
    case 'sum': out = [notNanSum(f.flat()).sum, count(f.flat())]; break;
    case 'mean_batch': out = [columns.map(notNanMean), columns.map(count)]; break;
    case 'sum_batch': out = [columns.map((c) => notNanSum(c).sum), columns.map(count)]; break;
    case 'mean_channel': out = [f.map(notNanMean), f.map(count)]; break;
    case 'sum_channel': out = [f.map((r) => notNanSum(r).sum), f.map(count)]; break;
    case 'none': out = [f.map((r) => [...r]), f.map((r) => r.map((v) => (Number.isNaN(v) ? 0 : 1)))]; break;
    default: throw new Error(`${name}: reduction must be 'mean', 'sum', 'mean_batch', 'sum_batch', 'mean_channel', 'sum_channel' or 'none', got ${JSON.stringify(reduction)}`);
  }
  return out as [Reduced<R>, Reduced<R>];
}

/**
 * The accumulation every metric class shares: one row per case (one value `V` per scored class, or what
 * `computeRow` makes of the case's classes), the input checks, and MONAI's `get_buffer()`.
 */
export abstract class MetricBuffer<V> {
  #rows: V[][] = [];
  /** the classes (class-index maps) or channels (one-hot masks) scored per case, or null for binary masks */
  readonly classes: number[] | null;

  constructor(opts: MetricClassOptions, includeBackgroundDefault: boolean) {
    const name = this.constructor.name;
    const { numClasses, includeBackground } = opts;
    if (numClasses === undefined) {
      if (includeBackground !== undefined) throw new Error(`${name}: includeBackground needs numClasses (binary masks have one foreground class)`);
      this.classes = null;
      return;
    }
    if (!Number.isInteger(numClasses) || numClasses < 2 || numClasses > 256) throw new Error(`${name}: numClasses must be an integer in [2, 256], got ${numClasses}`);
    const first = (includeBackground ?? includeBackgroundDefault) ? 0 : 1;
    this.classes = Array.from({ length: numClasses - first }, (_, i) => first + i);
  }

  /** One case's row from the binary masks of its scored classes (pred = c, gt = c), in class order. */
  protected abstract computeRow(masks: readonly (readonly [Uint8Array, Uint8Array])[], shape: Readonly<Shape3>, spacing: Readonly<Shape3> | undefined): V[];

  /** Checks one case's arguments. */
  #check(method: string, pred: Uint8Array, gt: Uint8Array, shape: Readonly<Shape3>, spacing: Readonly<Shape3> | undefined): void {
    const name = `${this.constructor.name}.${method}`;
    if (!(pred instanceof Uint8Array) || !(gt instanceof Uint8Array)) throw new Error(`${name}: pred and gt must be Uint8Array ${method === 'call' ? 'masks' : 'class-index maps'}`);
    const n = Array.isArray(shape) && shape.length === 3 && shape.every((s) => Number.isInteger(s) && s > 0) ? shape[0] * shape[1] * shape[2] : NaN;
    if (pred.length !== n || gt.length !== n) throw new Error(`${name}: pred (${pred.length} voxels) and gt (${gt.length}) must match shape ${JSON.stringify(shape)}`);
    if (spacing !== undefined && !(Array.isArray(spacing) && spacing.length === 3 && spacing.every((s) => Number.isFinite(s) && s > 0))) {
      throw new Error(`${name}: spacing must be three positive numbers, got ${JSON.stringify(spacing)}`);
    }
  }

  /**
   * Computes one case of binary masks (nonzero = foreground, as medpy; MONAI's binary path counts only 1, so a
   * {0, 1, 2} map scores the union here and class 1 there: pass `numClasses` for per-class scores), stores it and
   * returns it.
   */
  call(pred: Uint8Array, gt: Uint8Array, shape: Readonly<Shape3>, spacing?: Readonly<Shape3>): V {
    if (this.classes) throw new Error(`${this.constructor.name}.call: this metric has numClasses; score class-index maps with callClasses`);
    this.#check('call', pred, gt, shape, spacing);
    const row = this.computeRow([[pred, gt]], shape, spacing);
    this.#rows.push(row);
    return structuredClone(row[0]!);
  }

  /**
   * Computes one case of class-index maps: the metric of each scored class c (pred = c against gt = c), as MONAI's
   * one row of its [B, C] result; stores the row and returns it.
   */
  callClasses(pred: Uint8Array, gt: Uint8Array, shape: Readonly<Shape3>, spacing?: Readonly<Shape3>): V[] {
    const name = `${this.constructor.name}.callClasses`;
    if (!this.classes) throw new Error(`${name}: needs the metric made with numClasses; score binary masks with call`);
    this.#check('callClasses', pred, gt, shape, spacing);
    const numClasses = this.classes[this.classes.length - 1]! + 1;
    for (const [what, map] of [['pred', pred], ['gt', gt]] as const) {
      const i = map.findIndex((v) => v >= numClasses);
      if (i >= 0) throw new Error(`${name}: ${what} holds class ${map[i]} at voxel ${i}, not below numClasses ${numClasses}`);
    }
    const masks = this.classes.map((c) => [pred.map((v) => (v === c ? 1 : 0)), gt.map((v) => (v === c ? 1 : 0))] as const);
    const row = this.computeRow(masks, shape, spacing);
    this.#rows.push(row);
    return structuredClone(row);
  }

  /**
   * Computes one case of MONAI's one-hot (or multi-label: channels may overlap) masks, channel-first [C, X, Y, Z]
   * with C = numClasses (nonzero = foreground): the metric of each scored channel, as MONAI's one row of its [B, C]
   * result; stores the row and returns it.
   */
  callChannels(pred: Uint8Array, gt: Uint8Array, shape: Readonly<[number, number, number, number]>, spacing?: Readonly<Shape3>): V[] {
    const name = `${this.constructor.name}.callChannels`;
    if (!this.classes) throw new Error(`${name}: needs the metric made with numClasses (the channel count); score binary masks with call`);
    const numClasses = this.classes[this.classes.length - 1]! + 1;
    if (!(pred instanceof Uint8Array) || !(gt instanceof Uint8Array)) throw new Error(`${name}: pred and gt must be Uint8Array one-hot masks`);
    const ok = Array.isArray(shape) && shape.length === 4 && shape[0] === numClasses && shape.every((s) => Number.isInteger(s) && s > 0);
    if (!ok) throw new Error(`${name}: shape must be [C, X, Y, Z] with C = numClasses ${numClasses}, got ${JSON.stringify(shape)}`);
    const spatial: Shape3 = [shape[1], shape[2], shape[3]];
    const n = spatial[0] * spatial[1] * spatial[2];
    if (pred.length !== numClasses * n || gt.length !== numClasses * n) {
      throw new Error(`${name}: pred (${pred.length} voxels) and gt (${gt.length}) must match shape ${JSON.stringify(shape)}`);
    }
    this.#check('callChannels', pred.subarray(0, n), gt.subarray(0, n), spatial, spacing);
    const row = this.computeRow(this.classes.map((c) => [pred.subarray(c * n, (c + 1) * n), gt.subarray(c * n, (c + 1) * n)] as const), spatial, spacing);
    this.#rows.push(row);
    return structuredClone(row);
  }

  /**
   * MONAI's `metric(y_pred, y)` on tensors: a batch [B, C, X, Y, Z] of binarized predictions and references (values
   * 0 and 1; one-hot or multi-label channels, C = numClasses, or C = 1 for a metric of binary masks), read back and
   * scored case by case as `callChannels` (or `call`) does. Returns the batch's rows, MONAI's [B, C] result. A value
   * other than 0 or 1 is refused, naming where it is (threshold or one-hot first: MONAI's `AsDiscrete`); a batch that
   * is refused adds no case.
   */
  async callBatch(yPred: Tensor, y: Tensor, spacing?: Readonly<Shape3>): Promise<V[][]> {
    const name = `${this.constructor.name}.callBatch`;
    if (!(yPred instanceof Tensor) || !(y instanceof Tensor)) throw new Error(`${name}: yPred and y must be tensors [B, C, X, Y, Z]`);
    const channels = this.classes === null ? 1 : this.classes[this.classes.length - 1]! + 1;
    const shape = yPred.shape;
    if (shape.length !== 5 || shape[1] !== channels || y.shape.length !== 5 || y.shape.some((s, i) => s !== shape[i])) {
      const expected = this.classes === null ? 'C = 1 (binary masks; numClasses for more channels)' : `C = numClasses ${channels}`;
      throw new Error(`${name}: yPred ${formatShape(shape)} and y ${formatShape(y.shape)} must both be [B, C, X, Y, Z] with ${expected}`);
    }
    const [B, C, X, Y, Z] = shape as [number, number, number, number, number];
    const [pred, gt] = await Promise.all([yPred.toArray(), y.toArray()]);
    const masks = ([['yPred', pred], ['y', gt]] as const).map(([what, values]) => {
      const mask = new Uint8Array(values.length);
      for (let i = 0; i < values.length; i++) {
        const v = Number(values[i]);
        if (v !== 0 && v !== 1) {
          const at = [Math.floor(i / (C * X * Y * Z)), Math.floor(i / (X * Y * Z)) % C, Math.floor(i / (Y * Z)) % X, Math.floor(i / Z) % Y, i % Z];
          throw new Error(`${name}: ${what} holds ${v} at [${at.join(', ')}]; binarize first (a threshold, or argmax and one-hot)`);
        }
        mask[i] = v;
      }
      return mask;
    });
    const caseSize = C * X * Y * Z;
    const before = this.#rows.length;
    try {
      return Array.from({ length: B }, (_, b) => {
        const [p, g] = masks.map((m) => m.subarray(b * caseSize, (b + 1) * caseSize)) as [Uint8Array, Uint8Array];
        return this.classes === null ? [this.call(p, g, [X, Y, Z], spacing)] : this.callChannels(p, g, [C, X, Y, Z], spacing);
      });
    } catch (e) {
      this.#rows.length = before;
      throw e;
    }
  }

  /** The values so far as MONAI's [cases, classes] buffer (`get_buffer()`). */
  buffer(): V[][] {
    return structuredClone(this.#rows);
  }

  /** The rows themselves, for the reductions; the name says why it is empty. */
  protected rows(method: string): readonly V[][] {
    if (this.#rows.length === 0) throw new Error(`${this.constructor.name}.${method}: no case added yet; call(pred, gt, shape) first`);
    return this.#rows;
  }

  reset(): void {
    this.#rows = [];
  }
}

/** What `aggregate` returns: the reduced value, or with `getNotNans` MONAI's `(f, not_nans)` pair. */
export type Aggregated<R extends MetricReduction, G extends boolean> = G extends true ? [Reduced<R>, Reduced<R>] : Reduced<R>;

export interface ReductionOptions<R extends MetricReduction, G extends boolean> {
  /** MONAI's `reduction`, the default of `aggregate()`: 'mean' (default), 'sum', 'mean_batch', … 'none'. */
  reduction?: R;
  /** MONAI's `get_not_nans`: `aggregate()` returns `[value, notNans]`. Default false. */
  getNotNans?: G;
}

/** Checks a reduction by name (doMetricReduction of no case throws for an unknown one). */
export function checkReduction(reduction: MetricReduction, name: string): void {
  doMetricReduction([], reduction, name);
}

/** A metric of one number per scored class and case, with MONAI's `reduction` and `get_not_nans`. */
export abstract class ReducedMetric<R extends MetricReduction, G extends boolean> extends MetricBuffer<number> {
  readonly reduction: R;
  readonly getNotNans: G;

  constructor(opts: ReductionOptions<R, G> & MetricClassOptions, includeBackgroundDefault: boolean) {
    super(opts, includeBackgroundDefault);
    this.reduction = opts.reduction ?? ('mean' as R);
    this.getNotNans = opts.getNotNans ?? (false as G);
    checkReduction(this.reduction, this.constructor.name);
  }

  /**
   * MONAI's `aggregate(reduction)` (default: the metric's `reduction`): NaN values are left out; 'mean' averages each
   * case's classes, then the cases that have one (0 when none has); '_batch' reduces over the cases (one value per
   * class), '_channel' over the classes (one per case); 'none' is the buffer. With `getNotNans`, `[value, notNans]`.
   */
  aggregate<R2 extends MetricReduction = R>(reduction?: R2): Aggregated<R2, G> {
    const name = `${this.constructor.name}.aggregate`;
    const [f, notNans] = doMetricReduction(this.rows('aggregate'), reduction ?? (this.reduction as MetricReduction as R2), name);
    return (this.getNotNans ? [f, notNans] : f) as Aggregated<R2, G>;
  }
}

/** The shared accumulation of one number per scored class and case, computed class by class. */
abstract class CumulativeMetric<R extends MetricReduction, G extends boolean> extends ReducedMetric<R, G> {
  protected abstract compute(pred: Uint8Array, gt: Uint8Array, shape: Readonly<Shape3>, spacing: Readonly<Shape3> | undefined): number;

  protected computeRow(masks: readonly (readonly [Uint8Array, Uint8Array])[], shape: Readonly<Shape3>, spacing: Readonly<Shape3> | undefined): number[] {
    return masks.map(([p, g]) => this.compute(p, g, shape, spacing));
  }

  /** The per-case values so far of binary masks (MONAI's `get_buffer()` of one class). */
  values(): number[] {
    if (this.classes) throw new Error(`${this.constructor.name}.values: this metric scores ${this.classes.length} classes per case; use buffer()`);
    return this.buffer().map((r) => r[0]!);
  }

  /** How many cases enter the mean: those with a value that is not NaN (MONAI's `not_nans` of 'mean'). */
  notNans(): number {
    return this.buffer().filter((r) => notNanSum(r).n > 0).length;
  }
}

/**
 * MONAI's `DiceMetric` (`include_background`, one class): dice() of metrics.ts; with an empty reference the case is NaN
 * (`ignoreEmpty`, the default) or 1 when the prediction is empty too and 0 otherwise.
 */
export class DiceMetric<R extends MetricReduction = 'mean', G extends boolean = false> extends CumulativeMetric<R, G> {
  readonly ignoreEmpty: boolean;

  constructor(opts: { ignoreEmpty?: boolean } & ReductionOptions<R, G> & MetricClassOptions = {}) {
    super(opts, true);
    this.ignoreEmpty = opts.ignoreEmpty ?? true;
  }

  protected compute(pred: Uint8Array, gt: Uint8Array): number {
    if (isEmpty(gt)) return this.ignoreEmpty ? NaN : isEmpty(pred) ? 1 : 0;
    return dice(pred, gt);
  }
}

/** NaN when both are empty, +Infinity when one is (MONAI's distances without a percentile), else null: the distances are defined. */
function emptyDistance(pred: Uint8Array, gt: Uint8Array): number | null {
  const ep = isEmpty(pred), eg = isEmpty(gt);
  return ep && eg ? NaN : ep || eg ? Infinity : null;
}

/** The `distanceMetric` option of a metric class: 'euclidean' when left out, else checked by name. */
export function distanceMetricOption(distanceMetric: string | undefined, what: string): DistanceMetric {
  const metric = distanceMetric ?? 'euclidean';
  checkDistanceMetric(metric, undefined, what);
  return metric;
}

export interface HausdorffDistanceOptions<R extends MetricReduction = 'mean', G extends boolean = false> extends MetricClassOptions, ReductionOptions<R, G> {
  /** Percentile of the surface distances (numpy's 'linear'); null for the maximum. Default 95. */
  percentile?: number | null;
  /** Only prediction → reference distances. Default false. */
  directed?: boolean;
  /**
   * medpy's hd95: the percentile of both directions' distances pooled (the DTC papers' tables; `hd95()` of
   * metrics.ts) instead of MONAI's larger of the two directions' percentiles. Default false.
   */
  pooled?: boolean;
  /** MONAI's `distance_metric`: 'euclidean' (default), or 'chessboard' / 'taxicab' in voxels (without `spacing`). */
  distanceMetric?: DistanceMetric;
}

/**
 * MONAI's `HausdorffDistanceMetric`, percentile 95 by default (MONAI's default is the maximum, `percentile: null`;
 * percentile 0 gives the maximum too, as MONAI's): max(p(d(pred → gt)), p(d(gt → pred))) over the
 * 6-connected surfaces' Euclidean distances (in `spacing`'s units when given); with `pooled`, medpy's hd95.
 */
export class HausdorffDistanceMetric<R extends MetricReduction = 'mean', G extends boolean = false> extends CumulativeMetric<R, G> {
  readonly percentile: number | null;
  readonly directed: boolean;
  readonly pooled: boolean;
  readonly distanceMetric: DistanceMetric;

  constructor(opts: HausdorffDistanceOptions<R, G> = {}) {
    super(opts, false);
    this.percentile = opts.percentile === undefined ? 95 : opts.percentile;
    if (this.percentile !== null && !(this.percentile >= 0 && this.percentile <= 100)) throw new Error(`HausdorffDistanceMetric: percentile must be in [0, 100] or null, got ${this.percentile}`);
    this.directed = opts.directed ?? false;
    this.pooled = opts.pooled ?? false;
    if (this.pooled && (this.percentile !== 95 || this.directed)) throw new Error('HausdorffDistanceMetric: pooled is medpy\'s hd95 (percentile 95, both directions)');
    this.distanceMetric = distanceMetricOption(opts.distanceMetric, 'HausdorffDistanceMetric');
    if (this.pooled && this.distanceMetric !== 'euclidean') throw new Error(`HausdorffDistanceMetric: pooled is medpy's hd95, Euclidean only, not distanceMetric '${this.distanceMetric}'`);
  }

  protected compute(pred: Uint8Array, gt: Uint8Array, shape: Readonly<Shape3>, spacing: Readonly<Shape3> | undefined): number {
    checkDistanceMetric(this.distanceMetric, spacing, 'HausdorffDistanceMetric.call');
    const empty = emptyDistance(pred, gt);
    if (empty !== null) return empty;
    if (this.pooled) return hd95(pred, gt, shape, spacing);
    // MONAI takes the maximum for a falsy percentile: null, and 0 as well
    const reduce = (d: Float64Array): number => (!this.percentile ? d.reduce((m, x) => Math.max(m, x), 0) : percentile(d, this.percentile));
    const forward = reduce(surfaceDistances(pred, gt, shape, spacing, this.distanceMetric));
    return this.directed ? forward : Math.max(forward, reduce(surfaceDistances(gt, pred, shape, spacing, this.distanceMetric)));
  }
}

/**
 * MONAI's `SurfaceDistanceMetric`: the mean distance from the prediction's surface to the reference's (medpy's asd(),
 * the default), or with `symmetric` the mean of both directions' distances together.
 */
export class SurfaceDistanceMetric<R extends MetricReduction = 'mean', G extends boolean = false> extends CumulativeMetric<R, G> {
  readonly symmetric: boolean;
  readonly distanceMetric: DistanceMetric;

  constructor(opts: { symmetric?: boolean; distanceMetric?: DistanceMetric } & ReductionOptions<R, G> & MetricClassOptions = {}) {
    super(opts, false);
    this.symmetric = opts.symmetric ?? false;
    this.distanceMetric = distanceMetricOption(opts.distanceMetric, 'SurfaceDistanceMetric');
  }

  protected compute(pred: Uint8Array, gt: Uint8Array, shape: Readonly<Shape3>, spacing: Readonly<Shape3> | undefined): number {
    checkDistanceMetric(this.distanceMetric, spacing, 'SurfaceDistanceMetric.call');
    const empty = emptyDistance(pred, gt);
    if (empty !== null) return empty;
    const ab = surfaceDistances(pred, gt, shape, spacing, this.distanceMetric);
    if (!this.symmetric) return npMean(ab);
    const ba = surfaceDistances(gt, pred, shape, spacing, this.distanceMetric);
    const pooled = new Float64Array(ab.length + ba.length);
    pooled.set(ab, 0);
    pooled.set(ba, ab.length);
    return npMean(pooled);
  }
}
