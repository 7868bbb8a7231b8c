import type { GradNode, GradTerm, NegatedGrad } from '../tensor/tensor.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * The tape: every differentiable op calls `record` with its output, its inputs and a backward rule.
 * Nothing is recorded inside `noGrad` or when no input requires grad.
 */

let gradEnabled = true;

export function isGradEnabled(): boolean { return gradEnabled; }

/** Runs fn without recording a graph (inference, optimizer updates, metrics). */
export function noGrad<T>(fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = false;
  try {
    const result = fn();
    if (result instanceof Promise) {
      throw new Error('noGrad: fn must be synchronous; use setGradEnabled(false) around async work');
    }
    return result;
  } finally {
    gradEnabled = before;
  }
}

/** Switches recording on or off globally; returns the previous setting. */
export function setGradEnabled(enabled: boolean): boolean {
  const before = gradEnabled;
  gradEnabled = enabled;
  return before;
}

export function needsGrad(inputs: readonly Tensor[]): boolean {
  if (!gradEnabled) return false;
  for (let i = 0; i < inputs.length; i++) if (inputs[i]!.requiresGrad) return true;
  return false;
}

/** For a backward rule: the gradient −t without a dispatch of its own (the sum of gradients subtracts t). */
export function negated(t: Tensor): NegatedGrad { return { negated: t }; }

class Node implements GradNode {
  released = false;
  /** the output tensor, plus every node that takes the output as an input */
  private holders = 1;
  constructor(readonly name: string, readonly inputs: readonly Tensor[],
    private rule: ((g: Tensor, saved: Tensor[]) => GradTerm[]) | null, private saved: Tensor[]) {
    for (const t of inputs) if (t.gradNode instanceof Node) t.gradNode.holders++;
  }

  drop(): void {
    if (--this.holders !== 0) return;
    this.release();
    for (const t of this.inputs) t.gradNode?.drop();
  }

  backward(g: Tensor): GradTerm[] {
    if (this.released || !this.rule) {
      throw new Error(`backward through '${this.name}' a second time: its saved tensors were already freed; pass { retainGraph: true } to the first backward()`);
    }
    return this.rule(g, this.saved);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const t of this.saved) t.dispose();
    this.saved = [];
    this.rule = null;
  }
}

/**
 * Makes `output` differentiable: `rule(gradOutput, saved)` returns one gradient (or null) per input.
 * `save` lists tensors the rule reads; they are kept alive (as aliases) until backward has run, even if
 * the caller disposes the originals. `saved` has the type of `save` (`[x]` gives `[Tensor]`), so that
 * `(g, [xs]) => …` type-checks under `noUncheckedIndexedAccess`.
 */
export function record<const S extends readonly Tensor[] = Tensor[]>(name: string, output: Tensor, inputs: readonly Tensor[],
  rule: (g: Tensor, saved: S) => GradTerm[], save?: S): Tensor {
  if (!needsGrad(inputs)) return output;
  output.requiresGrad = true;
  // a copy: the caller may reuse or grow its array after the op (a list of skip connections)
  output.gradNode = new Node(name, [...inputs], rule as (g: Tensor, saved: readonly Tensor[]) => GradTerm[], (save ?? []).map((t) => t.alias()));
  return output;
}
