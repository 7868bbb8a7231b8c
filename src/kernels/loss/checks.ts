import type { DType, LossTotal, RowLoss, RowLossInputs, RowOperand, Storage, WeightedGroup, WeightedTerm } from '../backend.js';

/* The argument checks of the row losses, shared by the cpu oracle and the WebGPU kernels. */

/** the operands' names per kind, for messages */
const OPERANDS: Record<RowLoss['kind'], readonly [string, string, string]> = {
  dice: ['p', 'y', 'w'], bce: ['x', 'y', 'weight'], mse: ['a', 'b', 'w'], l1: ['a', 'b', 'w'],
};

/** smooth and eps must be finite; a scale may be ∞ (1/n of an empty mean, which gives NaN as the composed mean does) */
function checkConstants(what: string, loss: RowLoss): void {
  const finite = loss.kind === 'dice' ? [loss.smooth] : loss.kind === 'mse' ? [loss.eps] : [];
  if (!finite.every(Number.isFinite) || ('scale' in loss && Number.isNaN(loss.scale))) {
    throw new Error(`${what}: the constants of a '${loss.kind}' loss must be numbers (smooth and eps finite), got ${JSON.stringify(loss)}`);
  }
}

/** Checks the layout, the operands' extents and dtypes; returns the present operands' storages. */
export function checkRowLoss(what: string, loss: RowLoss, inputs: RowLossInputs): Storage[] {
  const { rows, n, operands } = inputs;
  if (!(Number.isInteger(rows) && rows >= 0 && Number.isInteger(n) && n >= 0)) {
    throw new Error(`${what}: rows ${rows} and row length ${n} must be integers ≥ 0`);
  }
  if (!(loss.kind in OPERANDS)) throw new Error(`${what}: unknown loss '${(loss as { kind: string }).kind}'`);
  checkConstants(what, loss);
  if ((loss.kind === 'bce' || loss.kind === 'l1') && operands[2]) throw new Error(`${what}: '${loss.kind}' takes no weight operand`);
  const storages: Storage[] = [];
  operands.forEach((o, k) => {
    if (!o) return;
    const name = OPERANDS[loss.kind][k];
    if (!(Number.isInteger(o.rowStride) && (o.rowStride >= n || o.rowStride === 0))) {
      throw new Error(`${what}: ${name}'s row stride ${o.rowStride} must be an integer ≥ ${n}, or 0`);
    }
    const end = rows * n === 0 ? 0 : o.offset + (rows - 1) * o.rowStride + n;
    if (!(Number.isInteger(o.offset) && o.offset >= 0) || end > o.storage.length) {
      throw new Error(`${what}: ${name} [${rows}, ${n}] at offset ${o.offset} (row stride ${o.rowStride}) overruns its ${o.storage.length} elements`);
    }
    storages.push(o.storage);
  });
  checkDtypes(what, storages);
  return storages;
}

function checkDtypes(what: string, all: readonly Storage[]): void {
  const dtype = all[0].dtype;
  if (dtype === 'int32' || all.some((s) => s.dtype !== dtype)) {
    throw new Error(`${what}: operands must share one floating-point dtype, got ${all.map((s) => s.dtype).join(', ')}`);
  }
}

export function checkRowLossBackward(loss: RowLoss, inputs: RowLossInputs, sums: Storage, g: Storage,
  wanted: readonly [boolean, boolean, boolean]): void {
  const what = 'rowLossBackward';
  const storages = checkRowLoss(what, loss, inputs);
  if (wanted[2] && !inputs.operands[2]) throw new Error(`${what}: the gradient of an absent weight was asked for`);
  if (sums.length !== 3 * inputs.rows) throw new Error(`${what}: sums has ${sums.length} elements, expected ${3 * inputs.rows}`);
  if (g.length !== inputs.rows) throw new Error(`${what}: g has ${g.length} elements, expected one per row (${inputs.rows})`);
  checkDtypes(what, [...storages, sums, g]);
}

function checkWeights(what: string, weights: readonly (readonly number[])[]): void {
  if (!weights.some((w) => w.length > 0)) throw new Error(`${what}: no term has an element`);
  if (!weights.every((w) => w.every(Number.isFinite))) throw new Error(`${what}: the weights must be finite, got ${JSON.stringify(weights)}`);
}

/** Checks the terms' extents, weights and dtypes; returns their dtype. */
export function checkWeightedSum(terms: readonly WeightedTerm[]): DType {
  const what = 'weightedSum';
  checkWeights(what, terms.map((t) => t.weights));
  for (const t of terms) {
    if (!(Number.isInteger(t.offset) && t.offset >= 0 && t.offset + t.weights.length <= t.storage.length)) {
      throw new Error(`${what}: a term of ${t.weights.length} elements from ${t.offset} does not fit its storage of ${t.storage.length}`);
    }
  }
  checkDtypes(what, terms.map((t) => t.storage));
  return terms[0].storage.dtype;
}

/** weightedSums binds at most this many groups' sums in its last pass (a weightedSum's storages, see webgpu.ts) */
export const MAX_GROUPS = 7;

/** Checks each group as weightedSum's terms, the groups' weights and count; returns their dtype. */
export function checkWeightedSums(groups: readonly WeightedGroup[]): DType {
  const what = 'weightedSums';
  if (groups.length === 0 || groups.length > MAX_GROUPS) throw new Error(`${what}: expected 1 to ${MAX_GROUPS} groups, got ${groups.length}`);
  if (!groups.every((g) => Number.isFinite(g.weight))) throw new Error(`${what}: the groups' weights must be finite, got ${groups.map((g) => g.weight).join(', ')}`);
  const dtypes = groups.map((g) => checkWeightedSum(g.terms));
  checkDtypes(what, groups.map((g) => g.terms[0].storage));
  return dtypes[0];
}

export function checkWeightedSumBackward(weights: readonly (readonly number[])[], g: Storage, scales?: readonly number[]): void {
  checkWeights('weightedSumBackward', weights);
  if (g.length < 1) throw new Error('weightedSumBackward: g is empty');
  if (scales && !(scales.length === weights.length && scales.every(Number.isFinite))) {
    throw new Error(`weightedSumBackward: expected one finite scale per term (${weights.length}), got ${JSON.stringify(scales)}`);
  }
}

/** lossTotal's rows + groups: their weights fit one WebGPU parameter block (16 bytes per 4, and a zero row, in 256 bytes) */
const MAX_TOTAL_WEIGHTS = 60;

/**
 * Checks lossTotal's inputs (within their storages, one float dtype), each item as a row loss on its inputs' regions,
 * and the rows' groups and weights; returns each item's operands as RowLossInputs on the storages and the dtype.
 */
export function checkLossTotal(what: string, total: LossTotal): { items: RowLossInputs[]; rows: number; dtype: DType } {
  const { inputs, items, group, weights, groupWeights } = total;
  if (items.length === 0) throw new Error(`${what}: expected at least one item`);
  for (const t of inputs) {
    if (!(Number.isInteger(t.offset) && t.offset >= 0 && Number.isInteger(t.length) && t.length >= 0 && t.offset + t.length <= t.storage.length)) {
      throw new Error(`${what}: an input of ${t.length} elements from ${t.offset} does not fit its storage of ${t.storage.length}`);
    }
  }
  const rowInputs = items.map((item) => {
    const operands = item.operands.map((o): RowOperand | null => {
      if (!o) return null;
      const t = inputs[o.input];
      if (!t) throw new Error(`${what}: an operand reads input ${o.input} of ${inputs.length}`);
      const end = item.rows * item.n === 0 ? 0 : o.offset + (item.rows - 1) * o.rowStride + item.n;
      if (end > t.length) throw new Error(`${what}: an operand [${item.rows}, ${item.n}] at ${o.offset} (row stride ${o.rowStride}) overruns its input of ${t.length}`);
      return { storage: t.storage, offset: t.offset + o.offset, rowStride: o.rowStride };
    }) as [RowOperand, RowOperand, RowOperand | null];
    const r: RowLossInputs = { rows: item.rows, n: item.n, operands };
    checkRowLoss(what, item.loss, r);
    return r;
  });
  const rows = items.reduce((n, item) => n + item.rows, 0);
  if (group.length !== rows || weights.length !== rows) throw new Error(`${what}: expected a group and a weight per row (${rows}), got ${group.length} and ${weights.length}`);
  if (groupWeights.length === 0 || groupWeights.length > MAX_GROUPS) throw new Error(`${what}: expected 1 to ${MAX_GROUPS} groups, got ${groupWeights.length}`);
  if (!group.every((k) => Number.isInteger(k) && k >= -1 && k < groupWeights.length)) throw new Error(`${what}: a row's group must be −1 or one of ${groupWeights.length}, got ${group.join(', ')}`);
  if (!groupWeights.every((_, k) => group.includes(k))) throw new Error(`${what}: every group needs a row, got ${group.join(', ')}`);
  if (![...weights, ...groupWeights].every(Number.isFinite)) throw new Error(`${what}: the weights must be finite`);
  if (rows + groupWeights.length > MAX_TOTAL_WEIGHTS) throw new Error(`${what}: at most ${MAX_TOTAL_WEIGHTS} rows and groups, got ${rows} + ${groupWeights.length}`);
  checkDtypes(what, inputs.map((t) => t.storage));
  return { items: rowInputs, rows, dtype: inputs[0].storage.dtype };
}

export function checkLossTotalBackward(total: LossTotal, sums: Storage, g: Storage, wanted: readonly boolean[]): { items: RowLossInputs[]; rows: number } {
  const checked = checkLossTotal('lossTotalBackward', total);
  checkLossTotalGradients(total, checked.rows, sums, g, wanted);
  return checked;
}

/** lossTotalBackward's checks beyond checkLossTotal's of `total` (whose items have `rows` rows in all) */
export function checkLossTotalGradients(total: LossTotal, rows: number, sums: Storage, g: Storage, wanted: readonly boolean[]): void {
  const what = 'lossTotalBackward';
  if (wanted.length !== total.inputs.length) throw new Error(`${what}: expected a wanted flag per input (${total.inputs.length}), got ${wanted.length}`);
  if (sums.length !== 3 * rows) throw new Error(`${what}: sums has ${sums.length} elements, expected ${3 * rows}`);
  if (g.length !== 1) throw new Error(`${what}: g has ${g.length} elements, expected 1`);
  checkDtypes(what, [total.inputs[0].storage, sums, g]);
  for (const item of total.items) {
    if (item.operands.some((o) => o && o.rowStride === 0 && wanted[o.input] && item.rows > 1)) {
      throw new Error(`${what}: the gradient of an input read by every row (row stride 0) was asked for`);
    }
  }
}
