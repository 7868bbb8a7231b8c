import type { Pool3dParams, Storage } from '../backend.js';
import { formatShape } from '../geometry.js';

/* The argument rules of the pooling kernels, shared by the cpu oracle and the WebGPU kernels. */

/** The geometry of one pooling: batch·channels, input and output extents, kernel, stride, padding, dilation and divisor override (0: none). */
export interface PoolGeometry {
  nc: number;
  inSize: [number, number, number];
  outSize: [number, number, number];
  kernel: [number, number, number];
  stride: [number, number, number];
  padding: [number, number, number];
  dilation: [number, number, number];
  divisorOverride: number;
}

/**
 * PyTorch's pooling_output_shape: floor((in + 2·pad − dilation·(kernel − 1) − 1 (+ stride − 1 in ceil mode)) / stride)
 * + 1, and in ceil mode one fewer when the last window would start at or past in + pad (so it starts inside the
 * input or its left padding).
 */
export function poolOutSize(size: number, kernel: number, stride: number, pad: number, ceilMode: boolean, dilation = 1): number {
  const out = Math.floor((size + 2 * pad - dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0)) / stride) + 1;
  return ceilMode && (out - 1) * stride >= size + pad ? out - 1 : out;
}

/**
 * The taps of window `o` along an axis of size n that fall inside it: the first (start + a multiple of the dilation,
 * as PyTorch's `while (start < 0) start += dilation`) and the end, exclusive (first ≥ end: none)
 */
export function windowTaps(o: number, n: number, kernel: number, stride: number, pad: number, dilation: number): { first: number; end: number } {
  const start = o * stride - pad;
  const first = start < 0 ? start + Math.ceil(-start / dilation) * dilation : start;
  return { first, end: Math.min(start + (kernel - 1) * dilation + 1, n) };
}

/**
 * Validates a pooling as PyTorch does (kernel ≥ 1, stride ≥ 1, 0 ≤ padding ≤ kernel/2, dilation ≥ 1 where `dilated`
 * (max pooling) else none, output ≥ 1, a nonzero integer divisor override) and returns its geometry, output extents
 * by poolOutSize. A dilated window with no tap inside the input (PyTorch returns −inf and an index outside the
 * volume there) is refused.
 */
export function poolGeometry(xShape: readonly number[], p: Pool3dParams, what: string, dilated = false): PoolGeometry {
  if (xShape.length !== 5) throw new Error(`${what}: expected an NCDHW shape, got ${formatShape(xShape)}`);
  const dilation: [number, number, number] = p.dilation ? [...p.dilation] : [1, 1, 1];
  if (!dilation.every((d) => Number.isInteger(d) && d >= 1)) throw new Error(`${what}: dilation ${formatShape(dilation)} must be integers ≥ 1`);
  if (!dilated && dilation.some((d) => d !== 1)) throw new Error(`${what}: takes no dilation (PyTorch's has none), got ${formatShape(dilation)}`);
  const inSize: [number, number, number] = [xShape[2], xShape[3], xShape[4]];
  const outSize: [number, number, number] = [0, 0, 0];
  for (let a = 0; a < 3; a++) {
    const k = p.kernel[a], s = p.stride[a], pad = p.padding[a];
    if (!(Number.isInteger(k) && k >= 1 && Number.isInteger(s) && s >= 1 && Number.isInteger(pad) && pad >= 0)) {
      throw new Error(`${what}: kernel ${formatShape(p.kernel)}, stride ${formatShape(p.stride)} and padding ${formatShape(p.padding)} must be integers ≥ 1, ≥ 1 and ≥ 0`);
    }
    if (pad > Math.floor(k / 2)) throw new Error(`${what}: padding ${pad} exceeds half the kernel ${k} (PyTorch's rule)`);
    outSize[a] = poolOutSize(inSize[a], k, s, pad, p.ceilMode ?? false, dilation[a]);
    if (outSize[a] < 1) {
      throw new Error(`${what}: output size is too small for input ${formatShape(xShape)}, kernel ${formatShape(p.kernel)}, padding ${formatShape(p.padding)}, dilation ${formatShape(dilation)}`);
    }
    for (let o = 0; dilation[a] > 1 && o < outSize[a]; o++) { // undilated windows always hold a tap (pad ≤ kernel/2)
      const { first, end } = windowTaps(o, inSize[a], k, s, pad, dilation[a]);
      if (first >= end) throw new Error(`${what}: window ${o} along spatial axis ${a} has no tap inside the input ${formatShape(xShape)} (kernel ${k}, stride ${s}, padding ${pad}, dilation ${dilation[a]})`);
    }
  }
  const divisorOverride = p.divisorOverride ?? 0;
  if (p.divisorOverride !== undefined && !(Number.isInteger(divisorOverride) && divisorOverride !== 0)) {
    throw new Error(`${what}: divisor override must be a nonzero integer, got ${p.divisorOverride}`);
  }
  return { nc: xShape[0] * xShape[1], inSize, outSize, kernel: [...p.kernel], stride: [...p.stride], padding: [...p.padding], dilation, divisorOverride };
}

/** avgPool3dBackward's gy must be the pooling's output [N, C, OD, OH, OW] (up to the split of N·C). */
export function checkPoolGradShape(g: PoolGeometry, gyShape: readonly number[], xShape: readonly number[], what: string): void {
  const [OD, OH, OW] = g.outSize;
  if (gyShape.length !== 5 || gyShape[0] * gyShape[1] !== g.nc || gyShape[2] !== OD || gyShape[3] !== OH || gyShape[4] !== OW) {
    throw new Error(`${what}: gy ${formatShape(gyShape)} does not match the pooling of ${formatShape(xShape)}`);
  }
}

/** maxUnpool3d's arguments: an NCDHW x with as many int32 indices, a non-empty output volume; returns N·C and the volumes */
export function checkMaxUnpool(x: Storage, indices: Storage, xShape: readonly number[], outSize: readonly number[], what: string): { nc: number; inVol: number; outVol: number } {
  if (xShape.length !== 5 || xShape.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`${what}: expected an NCDHW shape, got ${formatShape(xShape)}`);
  if (outSize.length !== 3 || outSize.some((s) => !Number.isInteger(s) || s < 1)) throw new Error(`${what}: output size ${formatShape(outSize)} must be three positive integers`);
  if (indices.dtype !== 'int32') throw new Error(`${what}: indices must be int32, got ${indices.dtype}`);
  const nc = xShape[0] * xShape[1], inVol = xShape[2] * xShape[3] * xShape[4];
  if (x.length < nc * inVol || indices.length < nc * inVol) throw new Error(`${what}: x or indices hold fewer than the ${nc * inVol} elements of ${formatShape(xShape)}`);
  return { nc, inVol, outVol: outSize[0] * outSize[1] * outSize[2] };
}

/** the words of maxUnpool3d's index error, on both backends (PyTorch: "Found an invalid max index") */
export function invalidUnpoolIndex(index: number, outSize: readonly number[], element: number): string {
  return `maxUnpool3d: invalid max index ${index} at element ${element} of the indices (output volumes are of size ${outSize.join('×')})`;
}
