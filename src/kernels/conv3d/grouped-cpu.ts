import type { Conv3dParams, Storage } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData, storageFrom } from '../cpu/storage.js';
import { checkConvBias, convBackwardInputGeometry, convBackwardWeightGeometry, convForwardGeometry, formatShape, type ConvGeometry } from '../geometry.js';
import { sizeOf } from '../layout.js';
import { eachTap } from './cpu.js';

/**
 * Grouped 3-D convolution (PyTorch's conv3d with groups, NCDHW, contiguous) and its two gradients: the oracle the
 * grouped WGSL kernels (grouped.ts) are tested against, in the storage's dtype (float64 works), written as the
 * definition reads. With G groups, x [N, G·Cg, D, H, W] and w [G·Mg, Cg, kd, kh, kw], output channel co belongs
 * to group j = ⌊co / Mg⌋ and reads input channels j·Cg … j·Cg + Cg − 1:
 *
 *   y[n, co, o] = bias[co] + Σ_{c < Cg, t} x[n, j·Cg + c, o·s − p + t·dil] · w[co, c, t]   (out-of-range x is 0)
 *
 * groups = 1 is conv3d itself (cpu.ts).
 */

/** A grouped convolution's geometry: `ci` is the input channels per group (the weight's axis 1), `co` all outputs. */
export interface GroupedGeometry extends ConvGeometry { groups: number }

/** Checks `groups` against the input's and the weight's channels; the per-group input shape [N, Cg, D, H, W]. */
function perGroupInput(xShape: readonly number[], wShape: readonly number[], groups: number): number[] {
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`conv3d: groups must be a positive integer, got ${groups}`);
  if (xShape.length === 5 && wShape.length === 5) {
    if (xShape[1] !== wShape[1] * groups) {
      throw new Error(`conv3d: input ${formatShape(xShape)} has ${xShape[1]} channels but weight ${formatShape(wShape)} expects ${wShape[1]} × ${groups} groups`);
    }
    if (wShape[0] % groups !== 0) {
      throw new Error(`conv3d: the ${wShape[0]} output channels of weight ${formatShape(wShape)} do not split into ${groups} groups`);
    }
  }
  return xShape.length === 5 ? [xShape[0], xShape[1] / groups, ...xShape.slice(2)] : [...xShape];
}

function checkLength(s: Storage, shape: readonly number[], what: string): void {
  if (s.length < sizeOf(shape)) throw new Error(`conv3d: ${what} storage holds ${s.length} elements, shape ${formatShape(shape)} needs ${sizeOf(shape)}`);
}

const withGroups = (g: ConvGeometry, groups: number): GroupedGeometry => ({ ...g, groups });

/** conv3dGrouped's arguments, validated: conv3d's shape rules (../geometry.ts) for one group, and the groups. */
export function groupedForwardGeometry(x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], p: Conv3dParams,
  groups: number): GroupedGeometry {
  const g = convForwardGeometry(x, perGroupInput(xShape, wShape, groups), w, wShape, p);
  checkLength(x, xShape, 'input');
  return withGroups(g, groups);
}

export function groupedBackwardInputGeometry(gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[],
  xShape: readonly number[], p: Conv3dParams, groups: number): GroupedGeometry {
  return withGroups(convBackwardInputGeometry(gy, gyShape, w, wShape, perGroupInput(xShape, wShape, groups), p), groups);
}

export function groupedBackwardWeightGeometry(x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[],
  wShape: readonly number[], p: Conv3dParams, groups: number): GroupedGeometry {
  const g = convBackwardWeightGeometry(x, perGroupInput(xShape, wShape, groups), gy, gyShape, wShape, p);
  checkLength(x, xShape, 'input');
  return withGroups(g, groups);
}

export function conv3dGrouped(x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], bias: Storage | null,
  p: Conv3dParams, groups: number): Storage {
  const g = groupedForwardGeometry(x, xShape, w, wShape, p, groups);
  if (bias) checkConvBias(bias, g, wShape);
  const X = cpuData(x), Wt = cpuData(w), B = bias ? cpuData(bias) : null;
  const vox = g.out[0] * g.out[1] * g.out[2];
  const y = new Float64Array(g.n * g.co * vox);
  if (B) for (let i = 0; i < y.length; i++) y[i] = B[Math.floor(i / vox) % g.co];
  eachTap(g, (xi, wi, yi) => { y[yi] += X[xi] * Wt[wi]; }, g.groups);
  return storageFrom(x.dtype, y);
}

/** Gradient w.r.t. the input (of shape xShape, as conv3dBackwardInput); accumulates in the dtype. */
export function conv3dGroupedBackwardInput(gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[],
  xShape: readonly number[], p: Conv3dParams, groups: number): Storage {
  const g = groupedBackwardInputGeometry(gy, gyShape, w, wShape, xShape, p, groups);
  const GY = cpuData(gy), Wt = cpuData(w);
  const gx = typedArrayFor(gy.dtype, g.n * g.ci * groups * g.in[0] * g.in[1] * g.in[2]);
  eachTap(g, (xi, wi, yi) => { gx[xi] += GY[yi] * Wt[wi]; }, g.groups);
  return new CpuStorage(gy.dtype, gx);
}

/** Gradient w.r.t. the weight: gw[co, c, t] = Σ_{n, o} gy[n, co, o] · x[n, j·Cg + c, o·s − p + t·dil]. */
export function conv3dGroupedBackwardWeight(x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[],
  wShape: readonly number[], p: Conv3dParams, groups: number): Storage {
  const g = groupedBackwardWeightGeometry(x, xShape, gy, gyShape, wShape, p, groups);
  const X = cpuData(x), GY = cpuData(gy);
  const gw = new Float64Array(g.co * g.ci * g.k[0] * g.k[1] * g.k[2]);
  eachTap(g, (xi, wi, yi) => { gw[wi] += GY[yi] * X[xi]; }, g.groups);
  return storageFrom(x.dtype, gw);
}
