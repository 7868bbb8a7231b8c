import type { LossItem, LossTotal, RowLoss, RowOperand } from '../kernels/backend.js';
import { formatShape, sameShape, sizeOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { storageOf } from './dense.js';
import { record } from './graph.js';
import { checkFloat, checkSameBackend, contiguous, reshape } from './ops.js';

/**
 * Losses pooled per row as one fused kernel each way (kernels/loss, RowLoss): models/losses.ts and dbisl's losses
 * build their Dice, BCE with logits and MSE on it. The forward is one multi-sum reduction, the backward one
 * elementwise pass (it calls the kernel directly, so no gradient of the gradient is recorded).
 */

/**
 * t as a kernel operand of [rows, n]: any contiguous tensor (its rows one after another), or a [rows, n] view whose rows
 * are contiguous and apart by at least a row, or one row read by all (stride 0)
 */
function rowOperand(t: Tensor, rows: number, n: number): RowOperand | null {
  if (t.isContiguous) return { storage: t.storage, offset: t.offset, rowStride: n };
  if (t.rank !== 2 || t.shape[0] !== rows) return null;
  const rowStride = t.strides[0];
  if ((n !== 1 && t.strides[1] !== 1) || (rowStride < n && rowStride !== 0)) return null;
  return { storage: t.storage, offset: t.offset, rowStride };
}

/**
 * The losses [rows] of `loss` over the rows of a and b (and the weight w): tensors of one shape and float dtype,
 * each seen as [rows, numel/rows] in C order. A contiguous operand, or a [rows, n] one whose rows are contiguous and
 * apart by at least a row or one row expanded across the rows (expand's stride 0), is read as it is (its gradient has
 * its shape); an operand with no such view is copied first. `shape`: the result's shape, of `rows` elements ([] for
 * a scalar loss of one row: no reshape op to record and run backward).
 */
export function rowLoss(loss: RowLoss, rows: number, a: Tensor, b: Tensor, w: Tensor | null = null, shape: readonly number[] = [rows]): Tensor {
  const op = `rowLoss '${loss.kind}'`;
  const given = w ? [a, b, w] : [a, b];
  checkFloat(op, a);
  checkSameBackend(op, ...given);
  for (const t of given) {
    if (!sameShape(t.shape, a.shape) || t.dtype !== a.dtype) {
      throw new Error(`${op}: operands must share one shape and dtype, got ${given.map((x) => `${formatShape(x.shape)} ${x.dtype}`).join(', ')}`);
    }
  }
  const n = rows === 0 ? 0 : a.numel() / rows;
  if (!Number.isInteger(n) || (rows === 0 && a.numel() !== 0)) throw new Error(`${op}: ${formatShape(a.shape)} does not split into ${rows} rows`);
  if (sizeOf(shape) !== rows) throw new Error(`${op}: a result of shape ${formatShape(shape)} does not hold ${rows} rows' losses`);
  const [ta, tb, tw] = given.map((t) => {
    if (rowOperand(t, rows, n)) return t;
    const r = reshape(t, [rows, n]);
    return rowOperand(r, rows, n) ? r : contiguous(r);
  });
  const inputs = (x: Tensor, y: Tensor, z: Tensor | undefined) => ({
    rows, n, operands: [rowOperand(x, rows, n)!, rowOperand(y, rows, n)!, z ? rowOperand(z, rows, n)! : null] as const,
  });
  const { loss: values, sums } = a.backend.rowLoss(loss, inputs(ta, tb, tw));
  const out = Tensor.fromStorage(a.backend, values, shape);
  const sumsT = Tensor.fromStorage(a.backend, sums, [rows, 3]);
  const operands = tw ? [ta, tb, tw] : [ta, tb];
  record(`${loss.kind}Loss`, out, operands, (g, [sa, sb, s, sw]) => {
    const wanted = [ta.requiresGrad, tb.requiresGrad, tw?.requiresGrad ?? false] as const;
    const grads = a.backend.rowLossBackward(loss, inputs(sa, sb, sw), storageOf(s), storageOf(g), wanted);
    return operands.map((t, k) => (wanted[k] ? Tensor.fromStorage(a.backend, grads.shift()!, t.shape) : null));
  }, [ta, tb, sumsT, ...(tw ? [tw] : [])]);
  sumsT.dispose(); // the backward keeps its own alias
  return out;
}

/**
 * Σ_i Σ_j w_i[j]·t_i[j], t_i[j] the elements of terms[i] in C order and w_i = weights[i] (one number for all of a
 * term's elements, or one per element): a loss's weighted combination of its scalar terms as one dispatch forward and
 * at most one backward (kernels/loss). Summed left to right, each product and partial sum rounded as mulScalar's affine
 * and add's: the floats of that chain of ops. A term's gradient is w·g, and g itself for a term of one element of
 * weight 1.
 */
export function weightedSum(terms: readonly Tensor[], weights: readonly (number | readonly number[])[]): Tensor {
  const { perElement, read } = weightedTerms('weightedSum', terms, weights);
  const backend = terms[0].backend;
  const out = Tensor.fromStorage(backend, backend.weightedSum(read.map((t, i) => ({ storage: t.storage, offset: t.offset, weights: perElement[i] }))), []);
  return record('weightedSum', out, terms, termGradients(terms, perElement, null));
}

/** a group of weightedSums: weightedSum's terms and weights */
export interface WeightedTensors { terms: readonly Tensor[]; weights: readonly (number | readonly number[])[] }

/**
 * Each group's weightedSum S_k, and the total Σ_k W_k·S_k (weightedSum's floats of the S_k with weights W =
 * groupWeights) in one dispatch forward, and the total's gradient w·(W_k·g + 0) + 0 of each term in at most one
 * backward (no factor where it is 1): a loss's sub-totals and its total, e.g. L_sup + λ·(L_con,1 + L_con,2) + λ·L_pse.
 * A sum's gradient is weightedSum's.
 */
export function weightedSums(groups: readonly WeightedTensors[], groupWeights: readonly number[]): { sums: Tensor[]; total: Tensor } {
  const op = 'weightedSums';
  if (groups.length !== groupWeights.length) throw new Error(`${op}: expected one weight per group, got ${groups.length} groups and ${groupWeights.length} weights`);
  const parts = groups.map((g) => weightedTerms(op, g.terms, g.weights));
  const terms = groups.flatMap((g) => g.terms), backend = terms[0].backend;
  checkSameBackend(op, ...terms);
  const storage = backend.weightedSums(parts.map(({ perElement, read }, k) => ({
    terms: read.map((t, i) => ({ storage: t.storage, offset: t.offset, weights: perElement[i] })), weight: groupWeights[k],
  })));
  const all = Tensor.fromStorage(backend, storage, [groups.length + 1]);
  const at = (k: number) => all.viewAs([], [], k);
  const sums = groups.map((g, k) => record('weightedSum', at(k), g.terms, termGradients(g.terms, parts[k].perElement, null)));
  const scales = groups.flatMap((g, k) => g.terms.map(() => groupWeights[k]));
  const total = record(op, at(groups.length), terms, termGradients(terms, parts.flatMap((p) => p.perElement), scales));
  all.dispose();
  return { sums, total };
}

/** weightedSum's checks; each term's weights one per element, and the terms as kernel operands (contiguous) */
function weightedTerms(op: string, terms: readonly Tensor[], weights: readonly (number | readonly number[])[]): { perElement: (readonly number[])[]; read: Tensor[] } {
  if (terms.length === 0 || terms.length !== weights.length) {
    throw new Error(`${op}: expected one weight (or one per element) for each of at least one term, got ${terms.length} terms and ${weights.length} weights`);
  }
  checkFloat(op, terms[0]);
  checkSameBackend(op, ...terms);
  if (terms.some((t) => t.dtype !== terms[0].dtype)) throw new Error(`${op}: terms must share one dtype, got ${terms.map((t) => t.dtype).join(', ')}`);
  const perElement = terms.map((t, i) => {
    const w = weights[i];
    const each = typeof w === 'number' ? new Array<number>(t.numel()).fill(w) : w;
    if (each.length !== t.numel()) throw new Error(`${op}: term ${i} ${formatShape(t.shape)} has ${t.numel()} elements, got ${each.length} weights`);
    return each;
  });
  return { perElement, read: terms.map((t) => (t.isContiguous ? t : contiguous(t))) };
}

/** the rule: each term's gradient w·(s·g) (weightedSumBackward; `scales` the s, null: 1), g itself where both are 1 */
function termGradients(callerTerms: readonly Tensor[], perElement: readonly (readonly number[])[], scales: readonly number[] | null) {
  const terms = [...callerTerms]; // the caller may reuse its array after the op
  return (g: Tensor) => {
    const passed = perElement.map((w, i) => w.length === 1 && w[0] === 1 && (scales?.[i] ?? 1) === 1);
    const scaled = terms.map((t, i) => t.requiresGrad && !passed[i]);
    const grads = scaled.some(Boolean)
      ? g.backend.weightedSumBackward(perElement.filter((_, i) => scaled[i]), storageOf(g), scales?.filter((_, i) => scaled[i]))
      : [];
    return terms.map((t, i) => (!t.requiresGrad ? null : passed[i] ? reshape(g, t.shape) : Tensor.fromStorage(g.backend, grads.shift()!, t.shape)));
  };
}

/** lossTotal's layout: the items on its inputs, each row's group (−1: in none) and weight, and the groups' weights */
export interface LossTotalLayout { items: readonly LossItem[]; group: readonly number[]; weights: readonly number[]; groupWeights: readonly number[] }

/**
 * A loss's total of row losses as one op (kernels/loss, LossTotal): the items' row losses (each item a rowLoss on
 * `inputs`, operands addressed by input, offset and row stride), each group's weighted sum of its rows, and the total
 * Σ_k W_k·S_k, in one reduction of two dispatches; the total's gradient w.r.t. every input in one pass, each element's
 * the sum of the items' gradients at it, in item order (rowLoss's and weightedSums' floats per item; the sum over
 * the items is this kernel's, not the autograd's accumulation). `values`: the rows' losses then the groups' sums, without
 * gradient (logged terms); `total` carries it. An input is read where it lies when contiguous, else copied.
 */
export function lossTotal(inputs: readonly Tensor[], layout: LossTotalLayout): { values: Tensor[]; total: Tensor } {
  const op = 'lossTotal';
  if (inputs.length === 0) throw new Error(`${op}: expected at least one input`);
  checkFloat(op, inputs[0]);
  checkSameBackend(op, ...inputs);
  const backend = inputs[0].backend;
  const reads = inputs.map((t) => (t.isContiguous ? t : contiguous(t)));
  // one object both ways: the backend may keep what it worked out for it (its checks, the kernels' layout) for the backward
  const lossTotalOf: LossTotal = { ...layout, inputs: reads.map((t) => ({ storage: t.storage, offset: t.offset, length: t.numel() })) };
  const { values, sums } = backend.lossTotal(lossTotalOf);
  const count = layout.weights.length + layout.groupWeights.length;
  const all = Tensor.fromStorage(backend, values, [count + 1]);
  const sumsT = Tensor.fromStorage(backend, sums, [sums.length]);
  const terms = Array.from({ length: count }, (_, j) => all.viewAs([], [], j));
  const total = record(op, all.viewAs([], [], count), reads, (g, saved) => {
    // the saved aliases of the reads (they keep the storages that lossTotalOf names alive until the node is released)
    const wanted = reads.map((t) => t.requiresGrad);
    const grads = backend.lossTotalBackward(lossTotalOf, storageOf(saved[reads.length]), storageOf(g), wanted);
    return wanted.map((want, i) => (want ? Tensor.fromStorage(backend, grads.shift()!, reads[i].shape) : null));
  }, [...reads, sumsT]);
  all.dispose();
  sumsT.dispose(); // the backward keeps its own alias
  return { values: terms, total };
}
