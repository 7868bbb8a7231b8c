import type { Storage, View } from '../kernels/backend.js';
import { contiguousStrides } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/** What raw kernels read: a storage holding exactly a tensor's elements in C order from offset 0 (`isDense`). */

/** a tensor over a dense storage of x's elements: a view of x when x is dense, else a copy */
export function dense(x: Tensor): Tensor {
  if (x.isDense) return x.viewAs(x.shape, x.strides, 0);
  return Tensor.fromStorage(x.backend, x.backend.copy(x.view), x.shape);
}

/** x's storage when x is dense, else a copy's (which dies with the enclosing tidy) */
export function storageOf(x: Tensor): Storage {
  return x.isDense ? x.storage : dense(x).storage;
}

/** Runs a raw kernel on the dense storages of some tensors: their own when dense, else copies freed after. */
export function withDense<T>(ts: readonly Tensor[], fn: (...storages: Storage[]) => T): T {
  const copies: Tensor[] = [];
  const storages = ts.map((t) => {
    if (t.isDense) return t.storage;
    const copy = dense(t);
    copies.push(copy);
    return copy.storage;
  });
  try {
    return fn(...storages);
  } finally {
    for (const c of copies) c.dispose();
  }
}

/** the positions [start::step] along axis of a contiguous tensor of `shape`, as a view of `storage` with g's shape */
export function sliceWindow(storage: Storage, shape: readonly number[], g: Tensor, axis: number, start: number, step: number): View {
  const strides = contiguousStrides(shape);
  return { storage, shape: g.shape, offset: start * strides[axis], strides: strides.map((st, i) => (i === axis ? st * step : st)) };
}
