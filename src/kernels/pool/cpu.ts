import type { Pool3dParams, Storage } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData, storageFrom } from '../cpu/storage.js';
import { checkMaxUnpool, checkPoolGradShape, invalidUnpoolIndex, poolGeometry, windowTaps, type PoolGeometry } from './checks.js';

/**
 * 3-D max and average pooling with PyTorch's semantics (floor or ceil mode, dilation for max), NCDHW contiguous. The cpu
 * versions are the oracle: plain loops, accumulation in float64, results in the input's dtype.
 */

/**
 * Visits the taps of every output's window that fall inside the volume: outputs in C order (o), each window's taps
 * in C order, `at` the voxel's index inside its channel's D·H·W volume and `xi` = its index in x.
 */
function eachWindowVoxel(g: PoolGeometry, visit: (o: number, xi: number, at: number) => void): void {
  const [D, H, W] = g.inSize, [OD, OH, OW] = g.outSize, [dd, dh, dw] = g.dilation;
  const taps = (o: number, a: number) => windowTaps(o, g.inSize[a], g.kernel[a], g.stride[a], g.padding[a], g.dilation[a]);
  let o = 0;
  for (let nc = 0; nc < g.nc; nc++) {
    const base = nc * D * H * W;
    for (let od = 0; od < OD; od++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++, o++) {
      const td = taps(od, 0), th = taps(oh, 1), tw = taps(ow, 2);
      for (let d = td.first; d < td.end; d += dd) {
        for (let h = th.first; h < th.end; h += dh) {
          for (let w = tw.first; w < tw.end; w += dw) {
            const at = (d * H + h) * W + w;
            visit(o, base + at, at);
          }
        }
      }
    }
  }
}

export function maxPool3d(x: Storage, xShape: readonly number[], p: Pool3dParams): { values: CpuStorage; indices: CpuStorage } {
  const g = poolGeometry(xShape, p, 'maxPool3d', true);
  const X = cpuData(x);
  const n = g.nc * g.outSize[0] * g.outSize[1] * g.outSize[2];
  // PyTorch: the max starts at −inf with the window's first voxel as index; a later value wins only if
  // strictly greater (first max on ties) or NaN
  const best = new Float64Array(n).fill(-Infinity);
  const indices = new Int32Array(n).fill(-1);
  eachWindowVoxel(g, (o, xi, at) => {
    if (indices[o] < 0) indices[o] = at; // the window's first voxel
    const v = X[xi];
    if (v > best[o] || Number.isNaN(v)) { best[o] = v; indices[o] = at; }
  });
  return { values: storageFrom(x.dtype, best), indices: new CpuStorage('int32', indices) };
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

/** F.max_unpool3d: inputs visited in C order, so where several indices name one voxel the last one's value stays */
export function maxUnpool3d(x: Storage, indices: Storage, xShape: readonly number[], outSize: readonly [number, number, number]): CpuStorage {
  const { nc, inVol, outVol } = checkMaxUnpool(x, indices, xShape, outSize, 'maxUnpool3d');
  const X = cpuData(x), I = cpuData(indices);
  const out = typedArrayFor(x.dtype, nc * outVol);
  for (let i = 0; i < nc * inVol; i++) {
    const at = I[i];
    if (!(at >= 0 && at < outVol)) throw new Error(invalidUnpoolIndex(at, outSize, i));
    out[Math.floor(i / inVol) * outVol + at] = X[i];
  }
  return new CpuStorage(x.dtype, out);
}

/**
 * PyTorch's divisors with count_include_pad, per output: the window clipped to the padded volume (the full window in
 * floor mode; ceil mode's last windows may reach past it), or the divisor override for all.
 */
function divisors(g: PoolGeometry): Float64Array {
  const [OD, OH, OW] = g.outSize;
  const out = new Float64Array(g.nc * OD * OH * OW);
  if (g.divisorOverride !== 0) return out.fill(g.divisorOverride);
  let o = 0;
  for (let nc = 0; nc < g.nc; nc++) {
    for (let od = 0; od < OD; od++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++, o++) {
      const c = [od, oh, ow];
      let n = 1;
      for (let a = 0; a < 3; a++) {
        const start = c[a] * g.stride[a] - g.padding[a];
        n *= Math.min(start + g.kernel[a], g.inSize[a] + g.padding[a]) - start;
      }
      out[o] = n;
    }
  }
  return out;
}

export function avgPool3d(x: Storage, xShape: readonly number[], p: Pool3dParams): CpuStorage {
  const g = poolGeometry(xShape, p, 'avgPool3d');
  const X = cpuData(x);
  const div = divisors(g);
  const sum = new Float64Array(div.length);
  eachWindowVoxel(g, (o, xi) => { sum[o] += X[xi]; });
  for (let o = 0; o < sum.length; o++) sum[o] /= div[o];
  return storageFrom(x.dtype, sum);
}

/** The adjoint of avgPool3d: each output's gradient divided by its divisor, spread over its window. */
export function avgPool3dBackward(gy: Storage, gyShape: readonly number[], xShape: readonly number[], p: Pool3dParams): CpuStorage {
  const g = poolGeometry(xShape, p, 'avgPool3dBackward');
  checkPoolGradShape(g, gyShape, xShape, 'avgPool3dBackward');
  const G = cpuData(gy);
  const div = divisors(g);
  const acc = new Float64Array(g.nc * g.inSize[0] * g.inSize[1] * g.inSize[2]);
  eachWindowVoxel(g, (o, xi) => { acc[xi] += G[o] / div[o]; });
  return storageFrom(gy.dtype, acc);
}
