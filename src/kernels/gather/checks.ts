import type { Storage } from '../backend.js';
import { formatShape } from '../geometry.js';
import { sizeOf } from '../layout.js';

/* The argument checks of gather and scatterAdd, shared by the cpu oracle and the WebGPU kernels. */

/** Sizes before and after an axis, so that an index is (outer, i, inner). */
export function aroundAxis(shape: readonly number[], axis: number): [number, number] {
  return [sizeOf(shape.slice(0, axis)), sizeOf(shape.slice(axis + 1))];
}

/** torch.gather's shapes as the backends support them: index equals x off the axis. */
export function checkGatherShapes(what: string, xShape: readonly number[], indexShape: readonly number[], axis: number): void {
  if (xShape.length !== indexShape.length) throw new Error(`${what}: ranks differ (${xShape.length}, ${indexShape.length})`);
  if (!Number.isInteger(axis) || axis < 0 || axis >= xShape.length) throw new Error(`${what}: axis ${axis} out of range`);
  for (let d = 0; d < xShape.length; d++) {
    if (d !== axis && xShape[d] !== indexShape[d]) {
      throw new Error(`${what}: index shape ${formatShape(indexShape)} must equal x shape ${formatShape(xShape)} except along axis ${axis}`);
    }
  }
}

/**
 * The failure of an index check, worded the same by the cpu oracle (which throws it at once) and the WebGPU
 * kernels (whose device-side report the next readback throws): `element` is the flat position in the index.
 */
export function indexOutOfRange(op: string, index: number, bound: number, axis: number | null, element: number): string {
  return `${op}: index ${index} out of range [0, ${bound})${axis === null ? '' : ` along axis ${axis}`} at element ${element} of the index`;
}

/** F.one_hot's arguments as the backends take them: `count` int32 indices, numClasses a positive integer */
export function checkOneHot(what: string, indices: Storage, count: number, numClasses: number): void {
  if (indices.dtype !== 'int32') throw new Error(`${what}: indices must be int32, got ${indices.dtype}`);
  if (!Number.isInteger(count) || count < 0 || count > indices.length) {
    throw new Error(`${what}: ${count} indices asked of a storage of ${indices.length}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`${what}: numClasses must be a positive integer, got ${numClasses}`);
}
