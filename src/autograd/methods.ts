/**
 * Method-style calls on tensors (`x.mul(w).add(b).relu().sum()`), as PyTorch users write them. Each method
 * is the differentiable function of the same name from ops.ts; a number operand becomes a scalar of the
 * tensor's dtype on its backend. Installed on Tensor's prototype when the autograd module is loaded (the
 * tensor layer itself stays free of autograd, as the layering requires).
 */
import { Tensor } from '../tensor/tensor.js';
import { full } from '../tensor/creation.js';
import type { DType } from '../kernels/backend.js';
import * as ops from './ops.js';
import { logSoftmax, softmax } from './nn.js';
import { backward, type BackwardOptions } from './backward.js';

type Operand = Tensor | number;
type Axes = number | readonly number[];

declare module '../tensor/tensor.js' {
  interface Tensor {
    add(other: Operand): Tensor;
    sub(other: Operand): Tensor;
    mul(other: Operand): Tensor;
    div(other: Operand): Tensor;
    pow(exponent: Operand): Tensor;
    maximum(other: Operand): Tensor;
    minimum(other: Operand): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    abs(): Tensor;
    round(): Tensor;
    floor(): Tensor;
    ceil(): Tensor;
    trunc(): Tensor;
    square(): Tensor;
    relu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    clamp(min?: number, max?: number): Tensor;
    sum(axes?: Axes, keepdim?: boolean): Tensor;
    mean(axes?: Axes, keepdim?: boolean): Tensor;
    max(axes?: Axes, keepdim?: boolean): Tensor;
    min(axes?: Axes, keepdim?: boolean): Tensor;
    amax(axes?: Axes, keepdim?: boolean): Tensor;
    amin(axes?: Axes, keepdim?: boolean): Tensor;
    /** torch.Tensor.var (`var` is a valid method name): options correction/unbiased/keepdim as `variance` */
    var(axes?: Axes, options?: ops.VarianceOptions): Tensor;
    std(axes?: Axes, options?: ops.VarianceOptions): Tensor;
    /** comparisons: 0/1 in the operands' dtype (no bool dtype), no gradient; see ops.eq */
    eq(other: Operand): Tensor;
    ne(other: Operand): Tensor;
    lt(other: Operand): Tensor;
    le(other: Operand): Tensor;
    gt(other: Operand): Tensor;
    ge(other: Operand): Tensor;
    logicalNot(): Tensor;
    logicalAnd(other: Tensor): Tensor;
    logicalOr(other: Tensor): Tensor;
    logicalXor(other: Tensor): Tensor;
    matmul(other: Tensor): Tensor;
    reshape(...shape: number[]): Tensor;
    permute(...dims: number[]): Tensor;
    transpose(a?: number, b?: number): Tensor;
    expand(...shape: number[]): Tensor;
    flatten(startAxis?: number): Tensor;
    squeeze(axis?: number): Tensor;
    unsqueeze(axis: number): Tensor;
    contiguous(): Tensor;
    flip(dims: Axes): Tensor;
    roll(shifts: number | readonly number[], dims?: Axes): Tensor;
    repeat(...sizes: number[]): Tensor;
    split(sizes: number | readonly number[], axis?: number): Tensor[];
    chunk(chunks: number, axis?: number): Tensor[];
    erf(): Tensor;
    softmax(axis: number): Tensor;
    logSoftmax(axis: number): Tensor;
    /** int32 indices of the maxima along `axis` (no gradient) */
    argmax(axis: number, keepdim?: boolean): Tensor;
    detach(): Tensor;
    cast(dtype: DType): Tensor;
    backward(gradient?: Tensor, options?: BackwardOptions): void;
  }
}

function operand(self: Tensor, x: Operand): Tensor {
  return typeof x === 'number' ? full([], x, { dtype: self.dtype, backend: self.backend }) : x;
}

/** a binary op with a number operand: the scalar lives only as long as the call */
function binary(fn: (a: Tensor, b: Tensor) => Tensor): (this: Tensor, x: Operand) => Tensor {
  return function (this: Tensor, x: Operand): Tensor {
    const b = operand(this, x);
    try { return fn(this, b); } finally { if (b !== x) b.dispose(); }
  };
}

const methods: Partial<Record<keyof Tensor, unknown>> = {
  add: binary(ops.add), sub: binary(ops.sub), mul: binary(ops.mul), div: binary(ops.div), pow: binary(ops.pow),
  maximum: binary(ops.maximum), minimum: binary(ops.minimum),
  neg(this: Tensor) { return ops.neg(this); },
  exp(this: Tensor) { return ops.exp(this); },
  log(this: Tensor) { return ops.log(this); },
  sqrt(this: Tensor) { return ops.sqrt(this); },
  abs(this: Tensor) { return ops.abs(this); },
  round(this: Tensor) { return ops.round(this); },
  floor(this: Tensor) { return ops.floor(this); },
  ceil(this: Tensor) { return ops.ceil(this); },
  trunc(this: Tensor) { return ops.trunc(this); },
  square(this: Tensor) { return ops.square(this); },
  relu(this: Tensor) { return ops.relu(this); },
  sigmoid(this: Tensor) { return ops.sigmoid(this); },
  tanh(this: Tensor) { return ops.tanh(this); },
  clamp(this: Tensor, lo?: number, hi?: number) { return ops.clamp(this, lo, hi); },
  sum(this: Tensor, axes?: Axes, keepdim?: boolean) { return ops.sum(this, axes, keepdim); },
  mean(this: Tensor, axes?: Axes, keepdim?: boolean) { return ops.mean(this, axes, keepdim); },
  max(this: Tensor, axes?: Axes, keepdim?: boolean) { return ops.max(this, axes, keepdim); },
  min(this: Tensor, axes?: Axes, keepdim?: boolean) { return ops.min(this, axes, keepdim); },
  amax(this: Tensor, axes?: Axes, keepdim?: boolean) { return ops.amax(this, axes, keepdim); },
  amin(this: Tensor, axes?: Axes, keepdim?: boolean) { return ops.amin(this, axes, keepdim); },
  var(this: Tensor, axes?: Axes, options?: ops.VarianceOptions) { return ops.variance(this, axes, options); },
  std(this: Tensor, axes?: Axes, options?: ops.VarianceOptions) { return ops.std(this, axes, options); },
  eq(this: Tensor, x: Operand) { return ops.eq(this, x); },
  ne(this: Tensor, x: Operand) { return ops.ne(this, x); },
  lt(this: Tensor, x: Operand) { return ops.lt(this, x); },
  le(this: Tensor, x: Operand) { return ops.le(this, x); },
  gt(this: Tensor, x: Operand) { return ops.gt(this, x); },
  ge(this: Tensor, x: Operand) { return ops.ge(this, x); },
  logicalNot(this: Tensor) { return ops.logicalNot(this); },
  logicalAnd(this: Tensor, x: Tensor) { return ops.logicalAnd(this, x); },
  logicalOr(this: Tensor, x: Tensor) { return ops.logicalOr(this, x); },
  logicalXor(this: Tensor, x: Tensor) { return ops.logicalXor(this, x); },
  matmul(this: Tensor, other: Tensor) { return ops.matmul(this, other); },
  reshape(this: Tensor, ...shape: number[]) { return ops.reshape(this, shape); },
  permute(this: Tensor, ...dims: number[]) { return ops.permute(this, dims); },
  transpose(this: Tensor, a?: number, b?: number) { return ops.transpose(this, a, b); },
  expand(this: Tensor, ...shape: number[]) { return ops.expand(this, shape); },
  flatten(this: Tensor, startAxis?: number) { return ops.flatten(this, startAxis); },
  squeeze(this: Tensor, axis?: number) { return ops.squeeze(this, axis); },
  unsqueeze(this: Tensor, axis: number) { return ops.unsqueeze(this, axis); },
  contiguous(this: Tensor) { return ops.contiguous(this); },
  flip(this: Tensor, dims: Axes) { return ops.flip(this, dims); },
  roll(this: Tensor, shifts: number | readonly number[], dims?: Axes) { return ops.roll(this, shifts, dims); },
  repeat(this: Tensor, ...sizes: number[]) { return ops.repeat(this, sizes); },
  split(this: Tensor, sizes: number | readonly number[], axis?: number) { return ops.split(this, sizes, axis); },
  chunk(this: Tensor, chunks: number, axis?: number) { return ops.chunk(this, chunks, axis); },
  erf(this: Tensor) { return ops.erf(this); },
  softmax(this: Tensor, axis: number) { return softmax(this, axis); },
  logSoftmax(this: Tensor, axis: number) { return logSoftmax(this, axis); },
  argmax(this: Tensor, axis: number, keepdim?: boolean) { return ops.argmax(this, axis, keepdim); },
  detach(this: Tensor) { return ops.detach(this); },
  cast(this: Tensor, dtype: DType) { return ops.cast(this, dtype); },
  backward(this: Tensor, gradient?: Tensor, options?: BackwardOptions) { backward(this, gradient, options); },
};

for (const [name, fn] of Object.entries(methods)) {
  Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
}
