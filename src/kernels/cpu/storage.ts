import type { DType, Storage, TypedArray, View } from '../backend.js';
import { typedArrayFor } from '../backend.js';

/** A cpu storage is a typed array of its dtype. */
export class CpuStorage implements Storage {
  readonly backend = 'cpu' as const;
  constructor(readonly dtype: DType, readonly data: TypedArray) {}
  get length(): number { return this.data.length; }
}

/** A storage of `dtype` holding `values` (float64 sums, rounded to the dtype). */
export function storageFrom(dtype: DType, values: Float64Array): CpuStorage {
  const out = typedArrayFor(dtype, values.length);
  out.set(values);
  return new CpuStorage(dtype, out);
}

/** what storing a value in `dtype` does to it (an op's output rounded as its storage rounds it) */
export function roundingTo(dtype: DType): (v: number) => number {
  return dtype === 'float32' ? Math.fround : (v) => v;
}

export function cpuData(s: Storage): TypedArray {
  if (!(s instanceof CpuStorage)) throw new Error(`cpu backend: got a storage of the '${s.backend}' backend`);
  return s.data;
}

/** Calls fn(flatOutputIndex, storageIndex) for every element of a view, in C order. */
export function forEachIndex(v: View, fn: (i: number, at: number) => void): void {
  const shape = v.shape, strides = v.strides, rank = shape.length;
  const size = shape.reduce((a, b) => a * b, 1);
  if (size === 0) return;
  const idx = new Array<number>(rank).fill(0);
  let at = v.offset;
  for (let i = 0; i < size; i++) {
    fn(i, at);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      at += strides[d];
      if (idx[d] < shape[d]) break;
      at -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

/** The elements of a view as a contiguous array of its dtype. */
export function gatherView(v: View): TypedArray {
  const src = cpuData(v.storage);
  const size = v.shape.reduce((a, b) => a * b, 1);
  const out = new (src.constructor as { new(n: number): TypedArray })(size);
  forEachIndex(v, (i, at) => { out[i] = src[at]; });
  return out;
}
