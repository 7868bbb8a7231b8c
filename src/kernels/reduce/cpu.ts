import type { ReduceOp, View } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData } from '../cpu/storage.js';

/** Splits a view's axes into kept and reduced, returning an iterator-friendly description. */
function splitAxes(x: View, axes: readonly number[]) {
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const keptShape = kept.map((i) => x.shape[i]);
  const redShape = axes.map((i) => x.shape[i]);
  return { kept, keptShape, redShape, keptStrides: kept.map((i) => x.strides[i]), redStrides: axes.map((i) => x.strides[i]) };
}

function offsetsOf(shape: readonly number[], strides: readonly number[]): number[] {
  let offsets = [0];
  for (let d = 0; d < shape.length; d++) {
    const next: number[] = [];
    for (const o of offsets) for (let i = 0; i < shape[d]; i++) next.push(o + i * strides[d]);
    offsets = next;
  }
  return offsets;
}

export function reduce(op: ReduceOp, x: View, axes: readonly number[]): CpuStorage {
  const src = cpuData(x.storage);
  const { keptShape, redShape, keptStrides, redStrides } = splitAxes(x, axes);
  const outer = offsetsOf(keptShape, keptStrides), inner = offsetsOf(redShape, redStrides);
  const out = typedArrayFor(x.storage.dtype, outer.length);
  for (let o = 0; o < outer.length; o++) {
    const base = x.offset + outer[o];
    let acc = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
    for (const r of inner) {
      const v = src[base + r];
      if (op === 'sum') acc += v;
      else if (Number.isNaN(v) || Number.isNaN(acc)) acc = NaN;
      else acc = op === 'max' ? Math.max(acc, v) : Math.min(acc, v);
    }
    out[o] = acc;
  }
  return new CpuStorage(x.storage.dtype, out);
}

export function argmax(x: View, axis: number): CpuStorage {
  const src = cpuData(x.storage);
  const { keptShape, keptStrides } = splitAxes(x, [axis]);
  const outer = offsetsOf(keptShape, keptStrides);
  const out = new Int32Array(outer.length);
  const n = x.shape[axis], s = x.strides[axis];
  for (let o = 0; o < outer.length; o++) {
    const base = x.offset + outer[o];
    let best = 0, bestValue = src[base];
    for (let i = 1; i < n; i++) {
      const v = src[base + i * s];
      if (v > bestValue || (Number.isNaN(v) && !Number.isNaN(bestValue))) { best = i; bestValue = v; }
    }
    out[o] = best;
  }
  return new CpuStorage('int32', out);
}
