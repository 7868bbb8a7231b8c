import type { Storage } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData } from './storage.js';

/** Sizes before and after an axis, so that an index is (outer, i, inner). */
function around(shape: readonly number[], axis: number): [number, number] {
  return [shape.slice(0, axis).reduce((a, b) => a * b, 1), shape.slice(axis + 1).reduce((a, b) => a * b, 1)];
}

/** torch.gather's shapes as this backend supports them: index equals x off the axis */
function checkShapes(what: string, xShape: readonly number[], indexShape: readonly number[], axis: number): void {
  if (xShape.length !== indexShape.length) throw new Error(`${what}: ranks differ (${xShape.length}, ${indexShape.length})`);
  if (!Number.isInteger(axis) || axis < 0 || axis >= xShape.length) throw new Error(`${what}: axis ${axis} out of range`);
  for (let d = 0; d < xShape.length; d++) {
    if (d !== axis && xShape[d] !== indexShape[d]) {
      throw new Error(`${what}: index shape [${indexShape.join(', ')}] must equal x shape [${xShape.join(', ')}] except along axis ${axis}`);
    }
  }
}

export function gather(x: Storage, xShape: readonly number[], axis: number, index: Storage,
  indexShape: readonly number[]): CpuStorage {
  checkShapes('gather', xShape, indexShape, axis);
  const X = cpuData(x), I = cpuData(index);
  const [outer, inner] = around(indexShape, axis);
  const n = indexShape[axis], xn = xShape[axis];
  const out = typedArrayFor(x.dtype, I.length);
  for (let o = 0; o < outer; o++) for (let i = 0; i < n; i++) for (let r = 0; r < inner; r++) {
    const at = (o * n + i) * inner + r;
    const j = I[at];
    if (j < 0 || j >= xn) throw new Error(`gather: index ${j} out of range [0, ${xn}) along axis ${axis}`);
    out[at] = X[(o * xn + j) * inner + r];
  }
  return new CpuStorage(x.dtype, out);
}

export function scatterAdd(src: Storage, indexShape: readonly number[], axis: number, index: Storage,
  xShape: readonly number[]): CpuStorage {
  checkShapes('scatterAdd', xShape, indexShape, axis);
  const S = cpuData(src), I = cpuData(index);
  const [outer, inner] = around(indexShape, axis);
  const n = indexShape[axis], xn = xShape[axis];
  const out = typedArrayFor(src.dtype, xShape.reduce((a, b) => a * b, 1));
  for (let o = 0; o < outer; o++) for (let i = 0; i < n; i++) for (let r = 0; r < inner; r++) {
    const at = (o * n + i) * inner + r;
    const j = I[at];
    if (j < 0 || j >= xn) throw new Error(`scatterAdd: index ${j} out of range [0, ${xn}) along axis ${axis}`);
    out[(o * xn + j) * inner + r] += S[at];
  }
  return new CpuStorage(src.dtype, out);
}
