import type { Conv3dParams } from '../../src/kernels/index.js';

/**
 * A second conv3d oracle (PyTorch's conv3d, groups = 1, NCDHW), written independently of the cpu backend's
 * tap walker so that an indexing error there cannot cancel out: float64 throughout,
 * - forward as im2col + one plain matmul: cols[(n, o), (ci, t)] = x[n, ci, o·s − p + t·dil] (0 outside),
 *   y = cols · Wᵀ + bias;
 * - weight gradient from the same columns: gw = gyᵀ · cols;
 * - input gradient as a gather over the transposed convolution (no scatter): input position i receives from
 *   every tap t whose output o = (i + p − t·dil)/s is an integer inside the output.
 */

export interface ConvShapes { xShape: readonly number[]; wShape: readonly number[]; p: Conv3dParams }

const axes = [0, 1, 2] as const;

export function convOutputShape({ xShape, wShape, p }: ConvShapes): number[] {
  const out = axes.map((a) => Math.floor((xShape[2 + a] + 2 * p.padding[a] - p.dilation[a] * (wShape[2 + a] - 1) - 1) / p.stride[a]) + 1);
  if (out.some((o) => o < 1)) throw new Error(`conv oracle: empty output ${JSON.stringify(out)} for ${JSON.stringify({ xShape, wShape, p })}`);
  return [xShape[0], wShape[0], ...out];
}

/** the (d, h, w) coordinates of a flat index into a box (row-major) */
function unflatten(i: number, box: readonly number[]): [number, number, number] {
  const w = i % box[2], h = Math.floor(i / box[2]) % box[1], d = Math.floor(i / (box[1] * box[2]));
  return [d, h, w];
}

const volume = (box: readonly number[]): number => box[0] * box[1] * box[2];

/** rows (n, output voxel) × columns (ci, tap) of the receptive fields */
function im2col(x: ArrayLike<number>, s: ConvShapes): { cols: Float64Array; rows: number; width: number } {
  const [N, Ci] = s.xShape, inBox = s.xShape.slice(2), k = s.wShape.slice(2), outBox = convOutputShape(s).slice(2);
  const taps = volume(k), voxels = volume(outBox), width = Ci * taps, rows = N * voxels;
  const cols = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    const n = Math.floor(r / voxels), o = unflatten(r % voxels, outBox);
    for (let c = 0; c < width; c++) {
      const ci = Math.floor(c / taps), t = unflatten(c % taps, k);
      const pos = axes.map((a) => o[a] * s.p.stride[a] - s.p.padding[a] + t[a] * s.p.dilation[a]);
      if (axes.some((a) => pos[a] < 0 || pos[a] >= inBox[a])) continue;
      cols[r * width + c] = x[(n * Ci + ci) * volume(inBox) + (pos[0] * inBox[1] + pos[1]) * inBox[2] + pos[2]];
    }
  }
  return { cols, rows, width };
}

export function oracleConv3d(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, s: ConvShapes): Float64Array {
  const Co = s.wShape[0], voxels = volume(convOutputShape(s).slice(2));
  const { cols, rows, width } = im2col(x, s);
  const y = new Float64Array(rows * Co);
  for (let r = 0; r < rows; r++) {
    const n = Math.floor(r / voxels), v = r % voxels;
    for (let co = 0; co < Co; co++) {
      let acc = bias ? bias[co] : 0;
      for (let c = 0; c < width; c++) acc += cols[r * width + c] * w[co * width + c];
      y[(n * Co + co) * voxels + v] = acc;
    }
  }
  return y;
}

export function oracleConv3dBackwardWeight(x: ArrayLike<number>, gy: ArrayLike<number>, s: ConvShapes): Float64Array {
  const Co = s.wShape[0], voxels = volume(convOutputShape(s).slice(2));
  const { cols, rows, width } = im2col(x, s);
  const gw = new Float64Array(Co * width);
  for (let co = 0; co < Co; co++) {
    for (let c = 0; c < width; c++) {
      let acc = 0;
      for (let r = 0; r < rows; r++) acc += gy[(Math.floor(r / voxels) * Co + co) * voxels + r % voxels] * cols[r * width + c];
      gw[co * width + c] = acc;
    }
  }
  return gw;
}

export function oracleConv3dBackwardInput(gy: ArrayLike<number>, w: ArrayLike<number>, s: ConvShapes): Float64Array {
  const [N, Ci] = s.xShape, [Co] = s.wShape, inBox = s.xShape.slice(2), k = s.wShape.slice(2), outBox = convOutputShape(s).slice(2);
  const taps = volume(k), voxels = volume(outBox);
  const gx = new Float64Array(N * Ci * volume(inBox));
  for (let n = 0; n < N; n++) {
    for (let ci = 0; ci < Ci; ci++) {
      for (let iv = 0; iv < volume(inBox); iv++) {
        const i = unflatten(iv, inBox);
        let acc = 0;
        for (let tv = 0; tv < taps; tv++) {
          const t = unflatten(tv, k);
          const num = axes.map((a) => i[a] + s.p.padding[a] - t[a] * s.p.dilation[a]);
          if (axes.some((a) => num[a] < 0 || num[a] % s.p.stride[a] !== 0)) continue;
          const o = axes.map((a) => num[a] / s.p.stride[a]);
          if (axes.some((a) => o[a] >= outBox[a])) continue;
          for (let co = 0; co < Co; co++) {
            acc += gy[(n * Co + co) * voxels + (o[0] * outBox[1] + o[1]) * outBox[2] + o[2]] * w[(co * Ci + ci) * taps + tv];
          }
        }
        gx[(n * Ci + ci) * volume(inBox) + iv] = acc;
      }
    }
  }
  return gx;
}
