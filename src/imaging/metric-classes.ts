/**
 * MONAI's cumulative metric classes over the metric functions of metrics.ts (binary volumes, one foreground class):
 * each call adds one case, `aggregate()` is MONAI's `reduction="mean"` over the cases so far, `reset()` clears them.
 *
 * MONAI's treatment of empty volumes, kept here: a case whose value is NaN (DiceMetric: an empty reference with
 * `ignoreEmpty`; the distances: prediction and reference both empty) is left out of the mean, and when every case is
 * NaN the mean is 0; a distance with exactly one of the two empty is +Infinity (MONAI: inf), which the mean keeps.
 * Distances are float64 here (MONAI's are float32), so values agree with MONAI within float32 rounding.
 */
import { asd, dice, hd95, npMean, percentile, surfaceDistances } from './metrics.js';
import type { Shape3 } from './volume.js';

function isEmpty(mask: Uint8Array): boolean {
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) return false;
  return true;
}

/** The shared accumulation and MONAI's mean reduction. */
abstract class CumulativeMetric {
  #values: number[] = [];

  protected abstract compute(pred: Uint8Array, gt: Uint8Array, shape: Readonly<Shape3>, spacing: Readonly<Shape3> | undefined): number;

  /** Computes one case (nonzero = foreground), stores it and returns it. */
  call(pred: Uint8Array, gt: Uint8Array, shape: Readonly<Shape3>, spacing?: Readonly<Shape3>): number {
    const name = this.constructor.name;
    if (!(pred instanceof Uint8Array) || !(gt instanceof Uint8Array)) throw new Error(`${name}.call: pred and gt must be Uint8Array masks`);
    const n = Array.isArray(shape) && shape.length === 3 && shape.every((s) => Number.isInteger(s) && s > 0) ? shape[0] * shape[1] * shape[2] : NaN;
    if (pred.length !== n || gt.length !== n) throw new Error(`${name}.call: pred (${pred.length} voxels) and gt (${gt.length}) must match shape ${JSON.stringify(shape)}`);
    if (spacing !== undefined && !(Array.isArray(spacing) && spacing.length === 3 && spacing.every((s) => Number.isFinite(s) && s > 0))) {
      throw new Error(`${name}.call: spacing must be three positive numbers, got ${JSON.stringify(spacing)}`);
    }
    const v = this.compute(pred, gt, shape, spacing);
    this.#values.push(v);
    return v;
  }

  /** The per-case values so far (MONAI's `get_buffer()`). */
  values(): number[] {
    return [...this.#values];
  }

  /** How many cases enter the mean (not NaN). */
  notNans(): number {
    return this.#values.filter((v) => !Number.isNaN(v)).length;
  }

  /** The mean over the non-NaN cases; 0 when all are NaN (MONAI's `do_metric_reduction`). */
  aggregate(): number {
    if (this.#values.length === 0) throw new Error(`${this.constructor.name}.aggregate: no case added yet; call(pred, gt, shape) first`);
    let sum = 0, n = 0;
    for (const v of this.#values) if (!Number.isNaN(v)) { sum += v; n++; }
    return n === 0 ? 0 : sum / n;
  }

  reset(): void {
    this.#values = [];
  }
}

/**
 * MONAI's `DiceMetric` (`include_background`, one class): dice() of metrics.ts; with an empty reference the case is NaN
 * (`ignoreEmpty`, the default) or 1 when the prediction is empty too and 0 otherwise.
 */
export class DiceMetric extends CumulativeMetric {
  readonly ignoreEmpty: boolean;

  constructor(opts: { ignoreEmpty?: boolean } = {}) {
    super();
    this.ignoreEmpty = opts.ignoreEmpty ?? true;
  }

  protected compute(pred: Uint8Array, gt: Uint8Array): number {
    if (isEmpty(gt)) return this.ignoreEmpty ? NaN : isEmpty(pred) ? 1 : 0;
    return dice(pred, gt);
  }
}

/** NaN when both are empty, +Infinity when one is (MONAI's distances), else null: the distances are defined. */
function emptyDistance(pred: Uint8Array, gt: Uint8Array): number | null {
  const ep = isEmpty(pred), eg = isEmpty(gt);
  return ep && eg ? NaN : ep || eg ? Infinity : null;
}

export interface HausdorffDistanceOptions {
  /** Percentile of the surface distances (numpy's 'linear'); null for the maximum. Default 95. */
  percentile?: number | null;
  /** Only prediction → reference distances. Default false. */
  directed?: boolean;
  /**
   * medpy's hd95: the percentile of both directions' distances pooled (the DTC papers' tables; `hd95()` of
   * metrics.ts) instead of MONAI's larger of the two directions' percentiles. Default false.
   */
  pooled?: boolean;
}

/**
 * MONAI's `HausdorffDistanceMetric`, percentile 95 by default (MONAI's default is the maximum, `percentile: null`;
 * percentile 0 gives the maximum too, as MONAI's): max(p(d(pred → gt)), p(d(gt → pred))) over the
 * 6-connected surfaces' Euclidean distances (in `spacing`'s units when given); with `pooled`, medpy's hd95.
 */
export class HausdorffDistanceMetric extends CumulativeMetric {
  readonly percentile: number | null;
  readonly directed: boolean;
  readonly pooled: boolean;

  constructor(opts: HausdorffDistanceOptions = {}) {
    super();
    this.percentile = opts.percentile === undefined ? 95 : opts.percentile;
    if (this.percentile !== null && !(this.percentile >= 0 && this.percentile <= 100)) throw new Error(`HausdorffDistanceMetric: percentile must be in [0, 100] or null, got ${this.percentile}`);
    this.directed = opts.directed ?? false;
    this.pooled = opts.pooled ?? false;
    if (this.pooled && (this.percentile !== 95 || this.directed)) throw new Error('HausdorffDistanceMetric: pooled is medpy\'s hd95 (percentile 95, both directions)');
  }

  protected compute(pred: Uint8Array, gt: Uint8Array, shape: Readonly<Shape3>, spacing: Readonly<Shape3> | undefined): number {
    const empty = emptyDistance(pred, gt);
    if (empty !== null) return empty;
    if (this.pooled) return hd95(pred, gt, shape, spacing);
    // MONAI takes the maximum for a falsy percentile: null, and 0 as well
    const reduce = (d: Float64Array): number => (!this.percentile ? d.reduce((m, x) => Math.max(m, x), 0) : percentile(d, this.percentile));
    const forward = reduce(surfaceDistances(pred, gt, shape, spacing));
    return this.directed ? forward : Math.max(forward, reduce(surfaceDistances(gt, pred, shape, spacing)));
  }
}

/**
 * MONAI's `SurfaceDistanceMetric`: the mean distance from the prediction's surface to the reference's (medpy's asd(),
 * the default), or with `symmetric` the mean of both directions' distances together.
 */
export class SurfaceDistanceMetric extends CumulativeMetric {
  readonly symmetric: boolean;

  constructor(opts: { symmetric?: boolean } = {}) {
    super();
    this.symmetric = opts.symmetric ?? false;
  }

  protected compute(pred: Uint8Array, gt: Uint8Array, shape: Readonly<Shape3>, spacing: Readonly<Shape3> | undefined): number {
    const empty = emptyDistance(pred, gt);
    if (empty !== null) return empty;
    if (!this.symmetric) return asd(pred, gt, shape, spacing);
    const ab = surfaceDistances(pred, gt, shape, spacing), ba = surfaceDistances(gt, pred, shape, spacing);
    const pooled = new Float64Array(ab.length + ba.length);
    pooled.set(ab, 0);
    pooled.set(ba, ab.length);
    return npMean(pooled);
  }
}
