import type { IndexCheckWording, Storage } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData } from '../cpu/storage.js';
import { sizeOf } from '../layout.js';
import { aroundAxis, checkGatherShapes, checkOneHot, indexOutOfRange } from './checks.js';

/**
 * Validates the shapes, then visits every element of index in order: `at` is its flat position (the same in
 * gather's output and scatterAdd's src), `xAt` the position in x that it names. Throws on an index out of range
 * (worded by `wording` when given).
 */
function eachIndex(what: string, xShape: readonly number[], index: Storage, indexShape: readonly number[], axis: number,
  visit: (at: number, xAt: number) => void, wording?: IndexCheckWording): void {
  checkGatherShapes(what, xShape, indexShape, axis);
  const I = cpuData(index);
  const [outer, inner] = aroundAxis(indexShape, axis);
  const n = indexShape[axis], xn = xShape[axis];
  for (let o = 0; o < outer; o++) for (let i = 0; i < n; i++) for (let r = 0; r < inner; r++) {
    const at = (o * n + i) * inner + r;
    const j = I[at];
    if (j < 0 || j >= xn) throw new Error(wording ? wording.describe(j, xn, at) : indexOutOfRange(what, j, xn, axis, at));
    visit(at, (o * xn + j) * inner + r);
  }
}

export function gather(x: Storage, xShape: readonly number[], axis: number, index: Storage,
  indexShape: readonly number[], wording?: IndexCheckWording): CpuStorage {
  const X = cpuData(x);
  const out = typedArrayFor(x.dtype, index.length);
  eachIndex('gather', xShape, index, indexShape, axis, (at, xAt) => { out[at] = X[xAt]; }, wording);
  return new CpuStorage(x.dtype, out);
}

export function scatterAdd(src: Storage, indexShape: readonly number[], axis: number, index: Storage,
  xShape: readonly number[]): CpuStorage {
  const S = cpuData(src);
  const out = typedArrayFor(src.dtype, sizeOf(xShape));
  eachIndex('scatterAdd', xShape, index, indexShape, axis, (at, xAt) => { out[xAt] += S[at]; });
  return new CpuStorage(src.dtype, out);
}

export function oneHot(indices: Storage, count: number, numClasses: number): CpuStorage {
  checkOneHot('oneHot', indices, count, numClasses);
  const I = cpuData(indices);
  const out = new Int32Array(count * numClasses);
  for (let i = 0; i < count; i++) {
    const c = I[i];
    if (c < 0 || c >= numClasses) throw new Error(indexOutOfRange('oneHot', c, numClasses, null, i));
    out[i * numClasses + c] = 1;
  }
  return new CpuStorage('int32', out);
}
