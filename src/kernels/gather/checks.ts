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
