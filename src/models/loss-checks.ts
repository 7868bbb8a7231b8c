import { checkFloat, checkSameBackend } from '../autograd/index.js';
import type { IndexCheckWording } from '../kernels/backend.js';
import { broadcastShapes, formatShape, sameShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/* The argument checks of the losses (losses.ts, and DBiSL's own losses built on the same kernels). */

export type Reduction = 'mean' | 'sum' | 'none';

export function checkReduction(op: string, r: string): void {
  if (r !== 'mean' && r !== 'sum' && r !== 'none') throw new Error(`${op}: unknown reduction '${r}'; valid: mean, sum, none`);
}

export function checkFloatPair(op: string, aName: string, a: Tensor, bName: string, b: Tensor): void {
  checkFloat(op, a);
  checkSameBackend(op, a, b);
  if (b.dtype !== a.dtype) {
    throw new Error(`${op}: ${bName} ${formatShape(b.shape)} ${b.dtype} must have the dtype of ${aName} ${formatShape(a.shape)} ${a.dtype}; cast() it first`);
  }
}

/**
 * PyTorch's wording of a class target outside [0, C) ("Target 5 is out of bounds."), naming the op: the class pick's
 * gathers report it so (the cpu backend at the call, WebGPU at the next readback)
 */
export function classTargetWording(op: string): IndexCheckWording {
  return { key: `${op}:target`, describe: (target, classes, element) => `${op}: target ${target} is out of bounds for ${classes} classes (element ${element} of the target)` };
}

/** A loss's input and target: floats of one dtype on one backend, of one shape. */
export function checkInputTarget(op: string, input: Tensor, target: Tensor): void {
  checkFloatPair(op, 'input', input, 'target', target);
  if (!sameShape(input.shape, target.shape)) {
    throw new Error(`${op}: target ${formatShape(target.shape)} must have the shape of input ${formatShape(input.shape)}`);
  }
}

/** An optional per-element weight: same dtype and backend as x, broadcastable to x's shape. */
export function checkWeight(op: string, name: string, w: Tensor | null | undefined, x: Tensor): void {
  if (!w) return;
  checkFloatPair(op, 'input', x, name, w);
  let target: number[];
  try {
    target = broadcastShapes(w.shape, x.shape);
  } catch {
    throw new Error(`${op}: ${name} ${formatShape(w.shape)} cannot be broadcast to the input ${formatShape(x.shape)}`);
  }
  if (!sameShape(target, x.shape)) throw new Error(`${op}: ${name} ${formatShape(w.shape)} cannot be broadcast to the input ${formatShape(x.shape)}`);
}

