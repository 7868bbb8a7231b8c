/**
 * Merges adjacent dimensions that every operand walks contiguously, and drops size-1 dimensions, so that
 * most elementwise work runs at rank 1. Returns the merged shape and each operand's merged strides.
 */
export function collapseDims(shape: readonly number[], strides: readonly (readonly number[])[]):
  { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = [];
  for (let k = 0; k < strides.length; k++) outStrides.push([]);
  for (let d = 0; d < shape.length; d++) {
    const extent = shape[d]!;
    if (extent === 1) continue;
    const last = outShape.length - 1;
    let merges = last >= 0;
    for (let k = 0; merges && k < strides.length; k++) merges = outStrides[k]![last] === strides[k]![d]! * extent;
    if (merges) {
      outShape[last]! *= extent;
      for (let k = 0; k < strides.length; k++) outStrides[k]![last] = strides[k]![d]!;
    } else {
      outShape.push(extent);
      for (let k = 0; k < strides.length; k++) outStrides[k]!.push(strides[k]![d]!);
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** a shape as messages write it: [2, 1, 32, 32, 16] */
export const formatShape = (s: readonly number[]): string => `[${s.join(', ')}]`;

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) { strides[d] = s; s *= shape[d]; }
  return strides;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i]!;
  return n;
}
