import { Tensor, nextTensorId } from '../tensor/tensor.js';
import { full } from '../tensor/creation.js';
import { keep, tidy } from '../tensor/memory.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { dense } from './dense.js';
import { noGrad } from './graph.js';
import { add, neg, sub } from './ops.js';

export interface BackwardOptions {
  /** keep the saved tensors so that backward can run through this graph again */
  retainGraph?: boolean;
}

/** Tensors that carry a grad node, inputs before outputs (iterative DFS, each node visited once). */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const inputs = top[0].gradNode?.inputs ?? [];
    if (top[1] < inputs.length) {
      const next = inputs[top[1]++];
      if (next.gradNode && !seen.has(next)) { seen.add(next); stack.push([next, 0]); }
    } else {
      stack.pop();
      order.push(top[0]);
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
    const rootGrad = keep(gradient ? gradient.viewAs(gradient.shape, gradient.strides, gradient.offset)
      : full(root.shape, 1, { dtype: root.dtype, backend: root.backend }));
    if (!root.gradNode) { accumulateLeaf(root, { tensor: rootGrad, negated: false }); return; }
    grads.set(root, { tensor: rootGrad, negated: false });
    const order = topologicalOrder(root);
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const pending = grads.get(t);
      const node = t.gradNode!;
      if (!pending) { if (!options.retainGraph) node.release(); continue; }
      grads.delete(t);
      const g = resolved(pending);
      // a gradient the rule created is handed on as it is; one it passed through (g, a saved tensor) or returned
      // twice becomes a view of its own, so that each input's gradient is disposed once
      const first = nextTensorId();
      const inputGrads = tidy(() => {
        const seen = new Set<Tensor>();
        return node.backward(g).map((term): Pending | null => {
          if (!term) return null;
          const isNegated = !(term instanceof Tensor);
          const gi = isNegated ? term.negated : term;
          const owned = gi.id >= first && !seen.has(gi);
          seen.add(gi);
          return { tensor: owned ? gi : ownedAlias(gi), negated: isNegated };
        });
      });
      g.dispose();
      if (!options.retainGraph) node.release();
      node.inputs.forEach((input, k) => {
        const gi = inputGrads[k];
        if (!gi) return;
        if (!input.requiresGrad) { gi.tensor.dispose(); return; }
        if (!sameShape(gi.tensor.shape, input.shape)) {
          throw new Error(`internal: the backward of '${node.name}' gave a gradient ${formatShape(gi.tensor.shape)} for an input ${formatShape(input.shape)}`);
        }
        if (!input.gradNode) { accumulateLeaf(input, gi); return; }
        const before = grads.get(input);
        grads.set(input, before ? sumOf(before, gi) : gi);
      });
    }
    for (const p of grads.values()) p.tensor.dispose();
  });
}

/** a gradient on its way: `tensor`, or −tensor while `negated` (the sign not applied yet) */
interface Pending { tensor: Tensor; negated: boolean }

/**
 * before + gi, disposing both. A negated term is subtracted: a − t is a + (−t) in IEEE arithmetic, so the folded
 * sign changes no bit; of two negated terms the first is negated as it would have been without the folding.
 */
function sumOf(before: Pending, gi: Pending): Pending {
  const a = before.negated && gi.negated ? resolved(before) : before.tensor;
  const sum = keep(gi.negated ? sub(a, gi.tensor) : before.negated ? sub(gi.tensor, a) : add(a, gi.tensor));
  a.dispose();
  gi.tensor.dispose();
  return { tensor: sum, negated: false };
}

/** the pending gradient's value as a tensor (disposing what it replaces) */
function resolved(p: Pending): Tensor {
  if (!p.negated) return p.tensor;
  const value = keep(neg(p.tensor));
  p.tensor.dispose();
  return value;
}

function ownedAlias(g: Tensor): Tensor { return g.viewAs(g.shape, g.strides, g.offset); }

function accumulateLeaf(leaf: Tensor, g: Pending): void {
  if (!leaf.requiresGrad) { g.tensor.dispose(); return; }
  const before = leaf.grad;
  if (before) {
    leaf.grad = keep(g.negated ? sub(before, g.tensor) : add(before, g.tensor));
    before.dispose();
    g.tensor.dispose();
  } else if (g.negated) leaf.grad = resolved(g);
  else {
    leaf.grad = ownedContiguous(g.tensor);
    g.tensor.dispose();
  }
}
