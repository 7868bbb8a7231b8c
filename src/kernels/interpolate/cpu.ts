import type { Storage } from '../backend.js';
import { cpuData, storageFrom, type CpuStorage } from '../cpu/storage.js';
import { axisRatio, checkInterpolateBackwardShapes, checkInterpolateShapes, type InterpolateMode, type InterpolateScales } from './checks.js';

/**
 * F.interpolate for 5-D NCDHW input given `size`, as PyTorch computes it on the cpu:
 * - 'nearest' (the legacy mode): src = min(floor(dst · scale), in − 1) with scale = in / out (1/scale factor
 *   when `scales` are given), in float32 arithmetic whatever the dtype; out = in copies and out = 2·in halves
 *   the index (PyTorch's nearest_idx); 'nearest-exact': src = min(floor((dst + 0.5) · scale), in − 1), the
 *   product rounded to float32 (nearest_exact_idx);
 * - 'trilinear', separable: align_corners → src = dst · (in − 1)/(out − 1) (0 when out = 1); otherwise
 *   src = max((dst + 0.5) · in/out − 0.5, 0) (1/scale factor instead of in/out when `scales` are given); i0 = floor(src), i1 = min(i0 + 1, in − 1), λ1 = src − i0,
 *   λ0 = 1 − λ1, in the opmath type (float32 for float32 data, float64 for float64). out = in is the
 *   identity (PyTorch's shortcut).
 */

/** Per output position along one axis: the two source positions and their weights. */
export interface AxisMap {
  i0: Int32Array;
  i1: Int32Array;
  l0: Float64Array;
  l1: Float64Array;
}

export function axisMap(inSize: number, outSize: number, mode: InterpolateMode, alignCorners: boolean, float32: boolean,
  scale?: number): AxisMap {
  const m: AxisMap = { i0: new Int32Array(outSize), i1: new Int32Array(outSize), l0: new Float64Array(outSize), l1: new Float64Array(outSize) };
  if (mode !== 'trilinear') {
    const ratio = Math.fround(axisRatio(inSize, outSize, mode, alignCorners, scale));
    const offset = mode === 'nearest-exact' ? 0.5 : 0;
    for (let dst = 0; dst < outSize; dst++) {
      const src = Math.min(Math.floor(Math.fround((dst + offset) * ratio)), inSize - 1);
      m.i0[dst] = src; m.i1[dst] = src; m.l0[dst] = 1; m.l1[dst] = 0;
    }
    return m;
  }
  const r = float32 ? Math.fround : (v: number) => v;
  const ratio = r(axisRatio(inSize, outSize, mode, alignCorners, scale));
  for (let dst = 0; dst < outSize; dst++) {
    if (inSize === outSize) { m.i0[dst] = dst; m.i1[dst] = dst; m.l0[dst] = 1; m.l1[dst] = 0; continue; }
    const src = alignCorners ? r(ratio * dst) : Math.max(r(r(ratio * (dst + 0.5)) - 0.5), 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const l1 = Math.min(Math.max(r(src - i0), 0), 1);
    m.i0[dst] = i0;
    m.i1[dst] = i0 < inSize - 1 ? i0 + 1 : i0;
    m.l1[dst] = l1;
    m.l0[dst] = r(1 - l1);
  }
  return m;
}

/**
 * Visits every term weight · x[xi] of every output voxel o (outputs in C order, each one's up to 8 terms in
 * (d, h, w) order, terms of weight 0 skipped): the forward sums them per output, the backward spreads them.
 */
function eachTerm(xShape: readonly number[], outSize: readonly number[], mode: InterpolateMode, alignCorners: boolean, float32: boolean,
  scales: InterpolateScales | undefined, visit: (o: number, xi: number, weight: number) => void): void {
  const [D, H, W] = [xShape[2], xShape[3], xShape[4]], [OD, OH, OW] = outSize;
  const nc = xShape[0] * xShape[1];
  const [md, mh, mw] = [0, 1, 2].map((a) => axisMap(xShape[2 + a], outSize[a], mode, alignCorners, float32, scales?.[a]));
  let o = 0;
  for (let c = 0; c < nc; c++) {
    const base = c * D * H * W;
    for (let od = 0; od < OD; od++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++, o++) {
      for (const [d, ld] of [[md.i0[od], md.l0[od]], [md.i1[od], md.l1[od]]]) {
        if (ld === 0) continue;
        for (const [h, lh] of [[mh.i0[oh], mh.l0[oh]], [mh.i1[oh], mh.l1[oh]]]) {
          if (lh === 0) continue;
          for (const [w, lw] of [[mw.i0[ow], mw.l0[ow]], [mw.i1[ow], mw.l1[ow]]]) {
            if (lw === 0) continue;
            visit(o, base + (d * H + h) * W + w, ld * lh * lw);
          }
        }
      }
    }
  }
}

export function interpolate(x: Storage, xShape: readonly number[], size: readonly [number, number, number],
  mode: InterpolateMode, alignCorners: boolean, scales?: InterpolateScales): CpuStorage {
  checkInterpolateShapes(xShape, size, 'interpolate', scales);
  const X = cpuData(x);
  const acc = new Float64Array(xShape[0] * xShape[1] * size[0] * size[1] * size[2]);
  eachTerm(xShape, size, mode, alignCorners, x.dtype !== 'float64', scales, (o, xi, weight) => { acc[o] += weight * X[xi]; });
  return storageFrom(x.dtype, acc);
}

/** The adjoint of interpolate: every output's gradient spread back with the forward's weights. */
export function interpolateBackward(gy: Storage, gyShape: readonly number[], xShape: readonly number[],
  mode: InterpolateMode, alignCorners: boolean, scales?: InterpolateScales): CpuStorage {
  checkInterpolateBackwardShapes(gyShape, xShape, 'interpolateBackward', scales);
  const G = cpuData(gy);
  const acc = new Float64Array(xShape[0] * xShape[1] * xShape[2] * xShape[3] * xShape[4]);
  eachTerm(xShape, gyShape.slice(2), mode, alignCorners, gy.dtype !== 'float64', scales, (o, xi, weight) => { acc[xi] += weight * G[o]; });
  return storageFrom(gy.dtype, acc);
}
