import type { Pool3dParams, Storage } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { checkPoolGradShape, poolGeometry, type PoolGeometry } from '../geometry.js';
import { CpuStorage, cpuData, storageFrom } from './storage.js';

/**
 * 3-D max and average pooling with PyTorch's semantics (floor mode, dilation 1), NCDHW contiguous. The cpu
 * versions are the oracle: plain loops, accumulation in float64, results in the input's dtype.
 */

export function maxPool3d(x: Storage, xShape: readonly number[], p: Pool3dParams): { values: CpuStorage; indices: CpuStorage } {
  const g = poolGeometry(xShape, p, 'maxPool3d');
  const X = cpuData(x);
  const [D, H, W] = g.inSize, [OD, OH, OW] = g.outSize;
  const values = typedArrayFor(x.dtype, g.nc * OD * OH * OW);
  const indices = new Int32Array(values.length);
  let o = 0;
  for (let nc = 0; nc < g.nc; nc++) {
    const base = nc * D * H * W;
    for (let od = 0; od < OD; od++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++, o++) {
      const d0 = od * g.stride[0] - g.padding[0], h0 = oh * g.stride[1] - g.padding[1], w0 = ow * g.stride[2] - g.padding[2];
      const ds = Math.max(d0, 0), hs = Math.max(h0, 0), ws = Math.max(w0, 0);
      const de = Math.min(d0 + g.kernel[0], D), he = Math.min(h0 + g.kernel[1], H), we = Math.min(w0 + g.kernel[2], W);
      // PyTorch: the max starts at −inf with the window's first voxel as index; a later value wins only if
      // strictly greater (first max on ties) or NaN
      let best = -Infinity, bestAt = (ds * H + hs) * W + ws;
      for (let d = ds; d < de; d++) for (let h = hs; h < he; h++) for (let w = ws; w < we; w++) {
        const at = (d * H + h) * W + w;
        const v = X[base + at];
        if (v > best || Number.isNaN(v)) { best = v; bestAt = at; }
      }
      values[o] = best;
      indices[o] = bestAt;
    }
  }
  return { values: new CpuStorage(x.dtype, values), indices: new CpuStorage('int32', indices) };
}

/**
 * Gradient of x: gy summed into the voxel each output's index names. Outputs are visited in C order, so
 * every input voxel sums its contributions in ascending output order (the order of the WGSL gather).
 */
export function maxPool3dBackward(gy: Storage, indices: Storage, gyShape: readonly number[], xShape: readonly number[]): CpuStorage {
  const G = cpuData(gy), I = cpuData(indices);
  const nc = xShape[0] * xShape[1], vol = xShape[2] * xShape[3] * xShape[4];
  const perNc = gyShape[2] * gyShape[3] * gyShape[4];
  if (gyShape[0] * gyShape[1] !== nc) throw new Error(`maxPool3dBackward: gy [${gyShape.join(', ')}] and x [${xShape.join(', ')}] differ in N·C`);
  const out = typedArrayFor(gy.dtype, nc * vol);
  for (let c = 0; c < nc; c++) {
    for (let o = c * perNc; o < (c + 1) * perNc; o++) {
      const at = I[o];
      if (!(at >= 0 && at < vol)) throw new Error(`maxPool3dBackward: index ${at} outside the input volume of ${vol} voxels`);
      out[c * vol + at] += G[o];
    }
  }
  return new CpuStorage(gy.dtype, out);
}

/** PyTorch's divisor with count_include_pad: the window clipped to the padded volume (the full window in floor mode). */
function divisor(g: PoolGeometry, od: number, oh: number, ow: number): number {
  const o = [od, oh, ow];
  let n = 1;
  for (let a = 0; a < 3; a++) {
    const start = o[a] * g.stride[a] - g.padding[a];
    n *= Math.min(start + g.kernel[a], g.inSize[a] + g.padding[a]) - start;
  }
  return n;
}

export function avgPool3d(x: Storage, xShape: readonly number[], p: Pool3dParams): CpuStorage {
  const g = poolGeometry(xShape, p, 'avgPool3d');
  const X = cpuData(x);
  const [D, H, W] = g.inSize, [OD, OH, OW] = g.outSize;
  const out = typedArrayFor(x.dtype, g.nc * OD * OH * OW);
  let o = 0;
  for (let nc = 0; nc < g.nc; nc++) {
    const base = nc * D * H * W;
    for (let od = 0; od < OD; od++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++, o++) {
      const d0 = od * g.stride[0] - g.padding[0], h0 = oh * g.stride[1] - g.padding[1], w0 = ow * g.stride[2] - g.padding[2];
      let sum = 0;
      for (let d = Math.max(d0, 0); d < Math.min(d0 + g.kernel[0], D); d++) {
        for (let h = Math.max(h0, 0); h < Math.min(h0 + g.kernel[1], H); h++) {
          for (let w = Math.max(w0, 0); w < Math.min(w0 + g.kernel[2], W); w++) sum += X[base + (d * H + h) * W + w];
        }
      }
      out[o] = sum / divisor(g, od, oh, ow);
    }
  }
  return new CpuStorage(x.dtype, out);
}

/** The adjoint of avgPool3d: each output's gradient divided by its divisor, spread over its window. */
export function avgPool3dBackward(gy: Storage, gyShape: readonly number[], xShape: readonly number[], p: Pool3dParams): CpuStorage {
  const g = poolGeometry(xShape, p, 'avgPool3dBackward');
  checkPoolGradShape(g, gyShape, xShape, 'avgPool3dBackward');
  const [D, H, W] = g.inSize, [OD, OH, OW] = g.outSize;
  const G = cpuData(gy);
  const acc = new Float64Array(g.nc * D * H * W);
  let o = 0;
  for (let nc = 0; nc < g.nc; nc++) {
    const base = nc * D * H * W;
    for (let od = 0; od < OD; od++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++, o++) {
      const d0 = od * g.stride[0] - g.padding[0], h0 = oh * g.stride[1] - g.padding[1], w0 = ow * g.stride[2] - g.padding[2];
      const v = G[o] / divisor(g, od, oh, ow);
      for (let d = Math.max(d0, 0); d < Math.min(d0 + g.kernel[0], D); d++) {
        for (let h = Math.max(h0, 0); h < Math.min(h0 + g.kernel[1], H); h++) {
          for (let w = Math.max(w0, 0); w < Math.min(w0 + g.kernel[2], W); w++) acc[base + (d * H + h) * W + w] += v;
        }
      }
    }
  }
  return storageFrom(gy.dtype, acc);
}
