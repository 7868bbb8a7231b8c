/**
 * MONAI's ROC AUC (monai/metrics/rocauc.py): `computeRocAuc` and the cumulative `ROCAUCMetric`, on host arrays (and
 * tensors, read back by `ROCAUCMetric.callBatch`).
 *
 * Scores and labels are [N] (binary) or [N, C] (one column per class, labels one-hot), as plain arrays, typed
 * arrays or arrays of rows; [N, 1] is [N], as MONAI squeezes it. A column's AUC is the Mann–Whitney statistic
 * P(score of a positive > score of a negative) + ½ P(equal), in float64: tied scores share their average rank, as
 * MONAI's `_calculate` handles ties. As MONAI's, a column whose labels are not both 0 and 1 (one value only, or a
 * value other than 0 and 1) has no AUC: it warns (through `warn`, default console.warn) and gives NaN, which the
 * 'macro' and 'weighted' averages then are too (numpy's mean and average keep NaN). Unlike MONAI, a NaN score
 * throws (torch's argsort would sort it last).
 */

import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/** MONAI's `Average`: how the classes' AUCs of [N, C] scores combine. */
export type RocAucAverage = 'macro' | 'weighted' | 'micro' | 'none';

const AVERAGES: readonly RocAucAverage[] = ['macro', 'weighted', 'micro', 'none'];

/** Scores or labels: [N] numbers, or [N, C] as rows. */
export type RocAucInput = ArrayLike<number> | readonly ArrayLike<number>[];

/** What computeRocAuc gives for an average: one number, or with 'none' a list per class ([N] scores: one number). */
export type RocAucResult<A extends RocAucAverage> = A extends 'none' ? number | number[] : number;

/** Where the warning of a column without an AUC goes (MONAI's warnings.warn); default console.warn. */
export type RocAucWarn = (message: string) => void;

/** A checked [N] or [N, C] input, row-major, with [N, 1] squeezed to [N]. */
interface Matrix { data: Float64Array; rows: number; columns: number | null }

/** The nested shape of an input, for error messages (the first element of each level). */
function shapeOf(x: unknown): number[] {
  const shape: number[] = [];
  let level: unknown = x;
  while (level !== null && typeof level === 'object' && typeof (level as ArrayLike<unknown>).length === 'number') {
    shape.push((level as ArrayLike<unknown>).length);
    level = (level as ArrayLike<unknown>)[0];
  }
  return shape;
}


function toMatrix(x: RocAucInput, what: 'yPred' | 'y', name: string): Matrix {
  const shape = shapeOf(x);
  const element = (v: unknown, at: string): number => {
    if (typeof v !== 'number') throw new Error(`${name}: ${what} must be of shape [N] or [N, C] of numbers, got shape ${formatShape(shape)} (${at} is ${typeof v})`);
    if (what === 'yPred' && Number.isNaN(v)) throw new Error(`${name}: yPred holds NaN at ${at}`);
    return v;
  };
  if (shape.length === 0) throw new Error(`${name}: ${what} must be of shape [N] or [N, C], got ${x === null ? 'null' : typeof x}`);
  if (shape.length > 2) throw new Error(`${name}: ${what} must be of shape [N] or [N, C], got ${formatShape(shape)}`);
  if (shape.length === 1) {
    const v = x as ArrayLike<unknown>;
    return { data: Float64Array.from({ length: v.length }, (_, i) => element(v[i], `[${i}]`)), rows: v.length, columns: null };
  }
  const rowsOf = x as readonly ArrayLike<unknown>[];
  const columns = shape[1]!;
  const data = new Float64Array(rowsOf.length * columns);
  for (let i = 0; i < rowsOf.length; i++) {
    const row = rowsOf[i];
    if (row === null || typeof row !== 'object' || row.length !== columns) {
      throw new Error(`${name}: ${what}'s rows must all have ${columns} values (row 0's), row ${i} has ${formatShape(shapeOf(row))}`);
    }
    for (let c = 0; c < columns; c++) data[i * columns + c] = element(row[c], `[${i}][${c}]`);
  }
  return { data, rows: rowsOf.length, columns: columns === 1 ? null : columns };
}

const matrixShape = (m: Matrix): number[] => (m.columns === null ? [m.rows] : [m.rows, m.columns]);

/**
 * MONAI's `_calculate`: the AUC of one column, or NaN with a warning when its labels are not both 0 and 1.
 * Walks the scores in ascending order; a positive counts the negatives below it and half of those tied with it.
 */
function columnAuc(scores: Float64Array, labels: Float64Array, warn: RocAucWarn): number {
  const values = [...new Set(labels)].sort((a, b) => a - b);
  if (values.length === 1) {
    warn(`y values can not be all ${values[0]}, skip AUC computation and return NaN`);
    return NaN;
  }
  if (values.length !== 2 || values[0] !== 0 || values[1] !== 1) {
    warn(`y values must be 0 or 1, but in [${values.join(', ')}], skip AUC computation and return NaN`);
    return NaN;
  }
  const order = Array.from(scores.keys()).sort((a, b) => scores[a]! - scores[b]!);
  let negativesBelow = 0, pairs = 0;
  for (let start = 0; start < order.length;) {
    let end = start, positives = 0, negatives = 0;
    for (; end < order.length && scores[order[end]!] === scores[order[start]!]; end++) {
      if (labels[order[end]!] === 1) positives++;
      else negatives++;
    }
    pairs += positives * (negativesBelow + negatives / 2);
    negativesBelow += negatives;
    start = end;
  }
  return pairs / (negativesBelow * (order.length - negativesBelow));
}

function checkAverage(average: unknown, name: string): RocAucAverage {
  if (!AVERAGES.includes(average as RocAucAverage)) {
    throw new Error(`${name}: average must be one of ${AVERAGES.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(average)}`);
  }
  return average as RocAucAverage;
}

function rocAuc(pred: Matrix, y: Matrix, average: RocAucAverage, warn: RocAucWarn, name: string): number | number[] {
  const mismatch = () => new Error(`${name}: yPred ${formatShape(matrixShape(pred))} and y ${formatShape(matrixShape(y))} must have the same shape ([N, 1] counts as [N])`);
  if (pred.rows !== y.rows || pred.columns !== y.columns) throw mismatch();
  const C = pred.columns;
  if (C === null || average === 'micro') return columnAuc(pred.data, y.data, warn);
  const column = (m: Matrix, c: number) => Float64Array.from({ length: m.rows }, (_, i) => m.data[i * C + c]!);
  const aucs = Array.from({ length: C }, (_, c) => columnAuc(column(pred, c), column(y, c), warn));
  if (average === 'none') return aucs;
  if (average === 'macro') return aucs.reduce((s, v) => s + v, 0) / C;
  const weights = Array.from({ length: C }, (_, c) => column(y, c).reduce((s, v) => s + v, 0));
  const total = weights.reduce((s, w) => s + w, 0);
  // numpy's average refuses weights that sum to zero
  if (total === 0) throw new Error(`${name}: 'weighted' average: the classes' weights (positives per class) sum to 0`);
  return aucs.reduce((s, v, c) => s + v * weights[c]!, 0) / total;
}

/**
 * MONAI's `compute_roc_auc(y_pred, y, average)`: the area under the ROC curve of scores `yPred` (probabilities or
 * any confidences) against 0/1 labels `y`, both [N] or [N, C] (labels one-hot). [N] scores give one AUC whatever
 * `average` is; [N, C] give per class AUCs combined by `average`: 'macro' (default) their mean, 'weighted' their
 * mean weighted by each class's positives, 'micro' one AUC of all N·C entries together, 'none' the list.
 * A class whose labels are not both 0 and 1 is NaN with a warning (see the file's note).
 */
export function computeRocAuc<A extends RocAucAverage = 'macro'>(yPred: RocAucInput, y: RocAucInput, average?: A,
  warn: RocAucWarn = console.warn): RocAucResult<A> {
  const name = 'computeRocAuc';
  const checked = checkAverage(average ?? 'macro', name);
  return rocAuc(toMatrix(yPred, 'yPred', name), toMatrix(y, 'y', name), checked, warn, name) as RocAucResult<A>;
}

export interface ROCAUCMetricOptions<A extends RocAucAverage = 'macro'> {
  /** how the classes' AUCs combine (default 'macro'); see computeRocAuc */
  average?: A;
  /** where the warning of a class without an AUC goes (default console.warn) */
  warn?: RocAucWarn;
}

/**
 * MONAI's `ROCAUCMetric`: each `call(yPred, y)` adds a batch of scores and labels ([B] or [B, C], every batch of
 * the same columns) to the buffers; `aggregate()` is computeRocAuc of all of them together (one AUC over the whole
 * set, not a mean over batches); `reset()` empties the buffers.
 */
export class ROCAUCMetric<A extends RocAucAverage = 'macro'> {
  readonly average: A;
  readonly #warn: RocAucWarn;
  #pred: number[] = [];
  #y: number[] = [];
  #rows = 0;
  /** the columns of the batches so far (null: [B] scores), undefined before the first */
  #columns: number | null | undefined = undefined;

  constructor(options: ROCAUCMetricOptions<A> = {}) {
    this.average = checkAverage(options.average ?? 'macro', 'ROCAUCMetric') as A;
    this.#warn = options.warn ?? console.warn;
  }

  /** Adds one batch: scores [B] or [B, C] and labels of the same shape. */
  call(yPred: RocAucInput, y: RocAucInput): void {
    const name = 'ROCAUCMetric.call';
    const pred = toMatrix(yPred, 'yPred', name), labels = toMatrix(y, 'y', name);
    if (pred.rows !== labels.rows || pred.columns !== labels.columns) {
      throw new Error(`${name}: yPred ${formatShape(matrixShape(pred))} and y ${formatShape(matrixShape(labels))} must have the same shape ([B, 1] counts as [B])`);
    }
    if (this.#columns !== undefined && pred.columns !== this.#columns) {
      throw new Error(`${name}: this batch is ${formatShape(matrixShape(pred))}, the earlier ones ${this.#columns === null ? '[B]' : `[B, ${this.#columns}]`}`);
    }
    this.#columns = pred.columns;
    this.#pred.push(...pred.data);
    this.#y.push(...labels.data);
    this.#rows += pred.rows;
  }

  /**
   * Adds one batch of tensors (either backend): scores [B] or [B, C] and labels of the same shape, read back and added
   * as `call` adds arrays (MONAI's `metric(y_pred, y)` on tensors).
   */
  async callBatch(yPred: Tensor, y: Tensor): Promise<void> {
    const name = 'ROCAUCMetric.callBatch';
    if (!(yPred instanceof Tensor) || !(y instanceof Tensor)) throw new Error(`${name}: yPred and y must be tensors [B] or [B, C]`);
    for (const [what, t] of [['yPred', yPred], ['y', y]] as const) {
      if (t.shape.length !== 1 && t.shape.length !== 2) throw new Error(`${name}: ${what} ${formatShape(t.shape)} must be [B] or [B, C]`);
    }
    const rows = async (t: Tensor): Promise<RocAucInput> => {
      const data = await t.toArray();
      if (t.shape.length === 1) return data;
      const C = t.shape[1]!;
      return Array.from({ length: t.shape[0]! }, (_, i) => data.subarray(i * C, (i + 1) * C));
    };
    const [pred, labels] = await Promise.all([rows(yPred), rows(y)]);
    this.call(pred, labels);
  }

  /** The buffers so far (MONAI's `get_buffer()`): all batches' scores and labels, [N] or [N, C] as rows. */
  buffer(): { yPred: number[] | number[][]; y: number[] | number[][] } {
    const C = this.#columns;
    if (C === undefined || C === null) return { yPred: [...this.#pred], y: [...this.#y] };
    const rows = (flat: number[]) => Array.from({ length: this.#rows }, (_, i) => flat.slice(i * C, (i + 1) * C));
    return { yPred: rows(this.#pred), y: rows(this.#y) };
  }

  /** The AUC of everything added since the last reset, combined by `average` (default: the metric's). */
  aggregate(): RocAucResult<A>;
  aggregate<B extends RocAucAverage>(average: B): RocAucResult<B>;
  aggregate(average: RocAucAverage = this.average): number | number[] {
    const name = 'ROCAUCMetric.aggregate';
    const C = this.#columns;
    if (C === undefined) throw new Error(`${name}: no batch added yet; call(yPred, y) first`);
    const matrix = (flat: number[]): Matrix => ({ data: Float64Array.from(flat), rows: this.#rows, columns: C });
    return rocAuc(matrix(this.#pred), matrix(this.#y), checkAverage(average, name), this.#warn, name);
  }

  reset(): void {
    this.#pred = [];
    this.#y = [];
    this.#rows = 0;
    this.#columns = undefined;
  }
}
