import type { RowLoss, RowOperand } from '../kernels/backend.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { storageOf } from './dense.js';
import { record } from './graph.js';
import { checkFloat, checkSameBackend, contiguous, reshape } from './ops.js';

/**
 * Losses pooled per row as one fused kernel each way (kernels/loss, RowLoss): models/losses.ts and dbisl's losses
 * build their Dice, BCE with logits and MSE on it. The forward is one multi-sum reduction, the backward one
 * elementwise pass (it calls the kernel directly, so no gradient of the gradient is recorded).
 */

/** t as a kernel operand: rows of contiguous elements, one after another or one row read by all (stride 0) */
function rowOperand(t: Tensor): RowOperand | null {
  const [rows, n] = t.shape as [number, number];
  const rowStride = rows === 1 ? n : t.strides[0];
  if ((n !== 1 && t.strides[1] !== 1) || (rowStride !== n && rowStride !== 0)) return null;
  return { storage: t.storage, offset: t.offset, rowStride };
}

/**
 * The losses [rows] of `loss` over the rows of a and b (and the weight w): tensors of one shape and float dtype,
 * each seen as [rows, numel/rows] in C order. A [rows, n] operand that is one row expanded across the rows (expand's
 * stride 0) is read as it is; an operand with no such view is copied first.
 */
export function rowLoss(loss: RowLoss, rows: number, a: Tensor, b: Tensor, w: Tensor | null = null): Tensor {
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
  const [ta, tb, tw] = given.map((t) => {
    const r = t.rank === 2 && t.shape[0] === rows ? t : reshape(t, [rows, n]);
    return rowOperand(r) ? r : contiguous(r);
  });
  const inputs = (x: Tensor, y: Tensor, z: Tensor | undefined) => ({
    rows, n, operands: [rowOperand(x)!, rowOperand(y)!, z ? rowOperand(z)! : null] as const,
  });
  const { loss: values, sums } = a.backend.rowLoss(loss, inputs(ta, tb, tw));
  const out = Tensor.fromStorage(a.backend, values, [rows]);
  const sumsT = Tensor.fromStorage(a.backend, sums, [rows, 3]);
  const operands = tw ? [ta, tb, tw] : [ta, tb];
  record(`${loss.kind}Loss`, out, operands, (g, [sa, sb, s, sw]) => {
    const wanted = [ta.requiresGrad, tb.requiresGrad, tw?.requiresGrad ?? false] as const;
    const grads = a.backend.rowLossBackward(loss, inputs(sa, sb, sw), storageOf(s), storageOf(g), wanted);
    return operands.map((_, k) => (wanted[k] ? Tensor.fromStorage(a.backend, grads.shift()!, [rows, n]) : null));
  }, [ta, tb, sumsT, ...(tw ? [tw] : [])]);
  sumsT.dispose(); // the backward keeps its own alias
  return out;
}
