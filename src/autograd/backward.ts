import { Tensor, nextTensorId, type AccumulatedGrad, type EmbeddedGrad, type GradTerm } from '../tensor/tensor.js';
import { full } from '../tensor/creation.js';
import { keep, tidy } from '../tensor/memory.js';
import { formatShape, sameShape, sizeOf } from '../tensor/shape.js';
import { dense, sliceWindow } from './dense.js';
import { noGrad } from './graph.js';
import { add, embed, neg, sub } from './ops.js';

export interface BackwardOptions {
  /** keep the saved tensors so that backward can run through this graph again */
  retainGraph?: boolean;
}

/** Tensors that carry a grad node, inputs before outputs (iterative DFS, each node visited once). */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // the path from the root, and the next input to visit of each tensor on it
  const stack: Tensor[] = [root], nextInput: number[] = [0];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack.length - 1, t = stack[top]!;
    const inputs = t.gradNode!.inputs;
    if (nextInput[top]! < inputs.length) {
      const next = inputs[nextInput[top]!++]!;
      if (next.gradNode && !seen.has(next)) { seen.add(next); stack.push(next); nextInput.push(0); }
    } else {
      stack.pop();
      nextInput.pop();
      order.push(t);
    }
  }
  return order;
}

/** A tensor that owns a plain contiguous storage of exactly its size (what optimizers update). */
function ownedContiguous(g: Tensor): Tensor {
  return keep(dense(g));
}

/**
 * Reverse-mode differentiation: walks the graph below `root` once in reverse topological order, summing
 * the gradients of tensors used several times, and accumulates into `.grad` of the leaves that require
 * grad. Saved tensors are freed as soon as their node has run, unless `retainGraph` is set.
 */
export function backward(root: Tensor, gradient?: Tensor, options: BackwardOptions = {}): void {
  if (!root.requiresGrad) throw new Error(`backward: ${root} does not require grad (no input of it has requiresGrad)`);
  if (!gradient && root.numel() !== 1) {
    throw new Error(`backward: ${formatShape(root.shape)} is not a scalar; pass the gradient of the output explicitly`);
  }
  if (gradient && !sameShape(gradient.shape, root.shape)) {
    throw new Error(`backward: gradient ${formatShape(gradient.shape)} does not match the output ${formatShape(root.shape)}`);
  }
  noGrad(() => {
    const grads = new Map<Tensor, Pending>();
    const rootGrad: Pending = plain(keep(gradient ? gradient.viewAs(gradient.shape, gradient.strides, gradient.offset)
      : full(root.shape, 1, { dtype: root.dtype, backend: root.backend })));
    if (!root.gradNode) { accumulateLeaf(root, rootGrad); return; }
    grads.set(root, rootGrad);
    const order = topologicalOrder(root);
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const pending = grads.get(t);
      const node = t.gradNode!;
      if (!pending) { if (!options.retainGraph) node.release(); continue; }
      grads.delete(t);
      const g = resolved(pending, t.shape);
      const first = nextTensorId();
      const inputGrads = tidy(() => pendingGrads(node.backward(g), first, (k) => takeSum(grads, node.inputs[k]!)));
      g.dispose();
      if (!options.retainGraph) node.release();
      for (let k = 0; k < node.inputs.length; k++) {
        const input = node.inputs[k]!, gi = inputGrads[k];
        if (!gi) continue;
        if (!input.requiresGrad) { gi.tensor.dispose(); continue; }
        const shape = gi.window ? input.shape.map((d, a) => (a === gi.window!.axis ? gi.tensor.shape[a] : d)) : input.shape;
        if (!sameShape(gi.tensor.shape, shape)) {
          throw new Error(`internal: the backward of '${node.name}' gave a gradient ${formatShape(gi.tensor.shape)} for an input ${formatShape(input.shape)}`);
        }
        if (!input.gradNode) { accumulateLeaf(input, gi); continue; }
        const before = grads.get(input);
        grads.set(input, before ? sumOf(before, gi, input.shape) : gi);
      }
    }
    for (const p of grads.values()) p.tensor.dispose();
  });
}

/**
 * A gradient on its way to a tensor: `tensor`; or −tensor while `negated`; or, with a `window`, zeros with `tensor`
 * at a slice's positions.
 */
interface Pending {
  tensor: Tensor;
  negated: boolean;
  window: Omit<EmbeddedGrad, 'embedded'> | null;
}

/**
 * The gradient pending for an input, taken out of `grads`, when a rule's kernel can add it (`accumulate`): plain (not
 * negated, no window), dense and of the input's dtype; else null.
 */
function takeSum(grads: Map<Tensor, Pending>, input: Tensor): Tensor | null {
  const p = input.gradNode ? grads.get(input) : undefined;
  if (!p || p.negated || p.window || p.tensor.dtype !== input.dtype || !p.tensor.isDense) return null;
  grads.delete(input);
  return p.tensor;
}

/** an `accumulate` term's result, with the sum so far (takeSum of input k) added by its kernel */
function accumulated(term: AccumulatedGrad, k: number, sumOfInput: (k: number) => Tensor | null): Tensor {
  const sum = sumOfInput(k);
  const result = term.accumulate(sum);
  sum?.dispose();
  return result;
}

/**
 * A rule's terms as pending gradients: one it created is handed on as it is; one it passed through (a tensor older
 * than `first`: g, a saved tensor) or returned twice becomes a view of its own, so that each input's gradient is
 * disposed once. An `accumulate` term runs here, while the rule's saved tensors and g live.
 */
function pendingGrads(rawTerms: readonly GradTerm[], first: number, sumOfInput: (k: number) => Tensor | null): (Pending | null)[] {
  const terms = rawTerms.map((term, k) => (term && 'accumulate' in term ? accumulated(term, k, sumOfInput) : term));
  const pending: (Pending | null)[] = [];
  for (let k = 0; k < terms.length; k++) {
    const term = terms[k];
    if (!term) { pending.push(null); continue; }
    const p = pendingOf(term);
    let repeated = false;
    for (let j = 0; j < k && !repeated; j++) { const other = terms[j]; repeated = !!other && tensorOf(other) === p.tensor; }
    if (p.tensor.id < first || repeated) p.tensor = ownedAlias(p.tensor);
    pending.push(p);
  }
  return pending;
}

function plain(tensor: Tensor): Pending { return { tensor, negated: false, window: null }; }

function tensorOf(term: Exclude<GradTerm, AccumulatedGrad | null>): Tensor {
  return term instanceof Tensor ? term : 'negated' in term ? term.negated : term.embedded;
}

function pendingOf(term: Exclude<GradTerm, AccumulatedGrad | null>): Pending {
  if (term instanceof Tensor) return plain(term);
  if ('negated' in term) return { tensor: term.negated, negated: true, window: null };
  return { tensor: term.embedded, negated: false, window: { axis: term.axis, start: term.start, step: term.step } };
}

/** the pending gradient's value as a tensor of `shape` (disposing what it replaces) */
function resolved(p: Pending, shape: readonly number[]): Tensor {
  if (!p.negated && !p.window) return p.tensor;
  const value = keep(p.window ? embed(p.tensor, shape, p.window.axis, p.window.start, p.window.step) : neg(p.tensor));
  p.tensor.dispose();
  return value;
}

/**
 * before + gi, disposing both. A negated term is subtracted: a − t is a + (−t) in IEEE arithmetic, so the folded
 * sign changes no bit (of two negated terms the first is negated as it would have been without the folding). A
 * slice's gradient is added into its positions of a whole gradient in place (one `addInto`): of the other term when
 * nothing else reads its storage, else of a copy of it, instead of a fill, a copy and an add. The floats are the same at the slice's
 * positions (IEEE addition commutes) and are the other term's elsewhere, where adding the padding's +0 would have
 * turned a −0 into +0.
 */
function sumOf(before: Pending, gi: Pending, shape: readonly number[]): Pending {
  if (before.window && gi.window && tile(before, gi, shape)) return joined(before, gi, shape);
  if (before.window && !gi.window) return sumOf(gi, before, shape);
  if (gi.window) {
    // backward may add into a whole gradient in place when nothing else reads its storage (a sum, a negation, an
    // embedding it made, or a rule's fresh result); else into a copy
    const b = before.negated ? plain(resolved(before, shape))
      : !before.window && before.tensor.isDense && before.tensor.ownsStorageAlone ? before : plain(ownedCopy(before, shape));
    if (b.tensor.dtype === gi.tensor.dtype) {
      const w = gi.window;
      b.tensor.backend.addInto(sliceWindow(b.tensor.storage, shape, gi.tensor, w.axis, w.start, w.step), gi.tensor.view);
      gi.tensor.dispose();
      return b;
    }
    return sumOf(b, plain(resolved(gi, shape)), shape);
  }
  const a = before.negated && gi.negated ? resolved(before, shape) : before.tensor;
  const sum = keep(gi.negated ? sub(a, gi.tensor) : before.negated ? sub(gi.tensor, a) : add(a, gi.tensor));
  a.dispose();
  gi.tensor.dispose();
  return plain(sum);
}

/** a pending gradient's value in a new contiguous tensor of `shape` that backward alone holds (disposing p's) */
function ownedCopy(p: Pending, shape: readonly number[]): Tensor {
  if (p.window) return resolved(p, shape);
  const copy = keep(Tensor.fromStorage(p.tensor.backend, p.tensor.backend.copy(p.tensor.view), shape));
  p.tensor.dispose();
  return copy;
}

/** true when two slices' gradients are the two parts of their axis, [0, k) and [k, n) (the rows of L and U) */
function tile(a: Pending, b: Pending, shape: readonly number[]): boolean {
  const [wa, wb] = [a.window!, b.window!];
  if (wa.axis !== wb.axis || wa.step !== 1 || wb.step !== 1 || a.tensor.dtype !== b.tensor.dtype) return false;
  const [first, second] = wa.start < wb.start ? [a, b] : [b, a];
  return first.window!.start === 0 && first.tensor.shape[wa.axis] === second.window!.start
    && second.window!.start + second.tensor.shape[wa.axis] === shape[wa.axis];
}

/** the gradient of two tiling slices: both copied into one new tensor, with no zeros to add */
function joined(a: Pending, b: Pending, shape: readonly number[]): Pending {
  const out = keep(Tensor.fromStorage(a.tensor.backend, a.tensor.backend.alloc(sizeOf(shape), a.tensor.dtype), shape));
  for (const p of [a, b]) {
    out.backend.copyInto(sliceWindow(out.storage, shape, p.tensor, p.window!.axis, p.window!.start, 1), p.tensor.view);
    p.tensor.dispose();
  }
  return plain(out);
}

function ownedAlias(g: Tensor): Tensor { return g.viewAs(g.shape, g.strides, g.offset); }

function accumulateLeaf(leaf: Tensor, g: Pending): void {
  if (!leaf.requiresGrad) { g.tensor.dispose(); return; }
  const before = leaf.grad;
  if (!before) {
    leaf.grad = g.negated || g.window ? resolved(g, leaf.shape) : ownedContiguous(g.tensor);
    if (!g.negated && !g.window) g.tensor.dispose();
    return;
  }
  const value = g.negated ? g.tensor : resolved(g, leaf.shape);
  leaf.grad = keep(g.negated ? sub(before, value) : add(before, value));
  before.dispose();
  value.dispose();
}
