import type { Conv3dParams, ConvNormEpilogue, Storage, TypedArray } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData, storageFrom } from '../cpu/storage.js';
import { checkConvBias, convBackwardInputGeometry, convBackwardWeightGeometry, convForwardGeometry, type ConvGeometry } from '../geometry.js';
import { coefficients, normalized } from '../norm/cpu.js';
import { checkConvEpilogue, checkConvEpilogueBias } from './epilogue.js';

/**
 * 3-D convolution (PyTorch's conv3d, groups = 1, layout NCDHW, contiguous) and its two gradients: the oracle
 * every WGSL conv kernel is tested against. Written as the definition reads, in the storage's dtype
 * (float64 works), accumulating in JavaScript numbers:
 *
 *   y[n, co, o] = bias[co] + Σ_{ci, t} x[n, ci, o·s − p + t·dil] · w[co, ci, t]   (out-of-range x is 0)
 *
 * with o and t 3-vectors (od, oh, ow), (kd, kh, kw) and Do = ⌊(D + 2p − dil·(k − 1) − 1)/s⌋ + 1 per axis.
 * The forward and both gradients walk the same terms of this sum (eachTap) and differ only in what they add
 * where: y[o] += x·w, gx[x] += gy·w, gw[t] += gy·x.
 * The shape rules and their error messages are in ../geometry.ts, shared with the WebGPU backend.
 */

/**
 * Visits every term x[xi] · w[wi] of every output y[yi] (flat NCDHW / [Co, Ci, kd, kh, kw] indices) whose input
 * position is inside the volume, in the order (n, co, od, oh, ow, ci, kd, kh, kw). Each output's terms, each
 * input's and each weight's therefore come in the order of the definition's sums. With `groups` (g.ci the input
 * channels per group), output channel co reads the input channels of its group ⌊co / (Co / groups)⌋ only.
 */
export function eachTap(g: ConvGeometry, visit: (xi: number, wi: number, yi: number) => void, groups = 1): void {
  const [D, H, W] = g.in, [OD, OH, OW] = g.out, [KD, KH, KW] = g.k;
  const perGroupOut = g.co / groups, channels = g.ci * groups;
  let yi = 0;
  for (let n = 0; n < g.n; n++) {
    for (let co = 0; co < g.co; co++) {
      const first = Math.floor(co / perGroupOut) * g.ci;
      for (let od = 0; od < OD; od++) {
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++, yi++) {
            for (let ci = 0; ci < g.ci; ci++) {
              for (let kd = 0; kd < KD; kd++) {
                const id = od * g.s[0] - g.p[0] + kd * g.dil[0];
                if (id < 0 || id >= D) continue;
                for (let kh = 0; kh < KH; kh++) {
                  const ih = oh * g.s[1] - g.p[1] + kh * g.dil[1];
                  if (ih < 0 || ih >= H) continue;
                  for (let kw = 0; kw < KW; kw++) {
                    const iw = ow * g.s[2] - g.p[2] + kw * g.dil[2];
                    if (iw < 0 || iw >= W) continue;
                    visit((((n * channels + first + ci) * D + id) * H + ih) * W + iw, (((co * g.ci + ci) * KD + kd) * KH + kh) * KW + kw, yi);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

/**
 * The epilogue in place on a convolution's output `out` (in its dtype, [n, channels, inner]): each value, as the
 * convolution stored it, normalised and (relu) clamped exactly as the cpu normalize computes it, rounded to the dtype
 * as normalize's output is.
 */
function applyEpilogue(out: TypedArray, channels: number, inner: number, epilogue: ConvNormEpilogue): void {
  const coef = coefficients(epilogue.norm, { perGroup: 1, params: channels });
  for (let k = 0; k < channels; k++) {
    const c = coef(k);
    for (let base = k * inner; base < out.length; base += channels * inner) {
      for (let i = base; i < base + inner; i++) out[i] = normalized(c, out[i], epilogue.relu);
    }
  }
}

/** `epilogue`: an evaluation-mode batch norm (+ ReLU) applied to the stored output (see ConvNormEpilogue) */
export function conv3d(x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], bias: Storage | null, p: Conv3dParams,
  epilogue: ConvNormEpilogue | null = null): Storage {
  const g = convForwardGeometry(x, xShape, w, wShape, p);
  if (bias) checkConvBias(bias, g, wShape);
  if (epilogue) checkConvEpilogue('conv3d', epilogue, g.co, x.dtype);
  const X = cpuData(x), Wt = cpuData(w), B = bias ? cpuData(bias) : null;
  const vox = g.out[0] * g.out[1] * g.out[2];
  const y = new Float64Array(g.n * g.co * vox);
  if (B) for (let i = 0; i < y.length; i++) y[i] = B[Math.floor(i / vox) % g.co];
  eachTap(g, (xi, wi, yi) => { y[yi] += X[xi] * Wt[wi]; });
  const out = storageFrom(x.dtype, y);
  if (epilogue) applyEpilogue(out.data, g.co, vox, epilogue);
  return out;
}

/**
 * Gradient w.r.t. the input: every output-gradient element gy[n, co, o] flows back to the input positions
 * o·s − p + t·dil that it read, weighted by w[co, ci, t]. xShape is given explicitly: with output padding
 * (convTranspose3d) the extra trailing rows simply receive no contributions. Accumulates in the dtype; then adds
 * convTranspose3d's `bias` (as the add of its output and the bias would) and applies `epilogue` as conv3d does.
 */
export function conv3dBackwardInput(gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[], xShape: readonly number[], p: Conv3dParams,
  bias: Storage | null = null, epilogue: ConvNormEpilogue | null = null): Storage {
  const g = convBackwardInputGeometry(gy, gyShape, w, wShape, xShape, p);
  if (bias) checkConvEpilogueBias('conv3dBackwardInput', bias, g.ci);
  if (epilogue) checkConvEpilogue('conv3dBackwardInput', epilogue, g.ci, gy.dtype);
  const GY = cpuData(gy), Wt = cpuData(w);
  const vox = g.in[0] * g.in[1] * g.in[2];
  const gx = typedArrayFor(gy.dtype, g.n * g.ci * vox);
  eachTap(g, (xi, wi, yi) => { gx[xi] += GY[yi] * Wt[wi]; });
  if (bias) {
    const B = cpuData(bias);
    for (let i = 0; i < gx.length; i++) gx[i] += B[Math.floor(i / vox) % g.ci];
  }
  if (epilogue) applyEpilogue(gx, g.ci, vox, epilogue);
  return new CpuStorage(gy.dtype, gx);
}

/** Gradient w.r.t. the weight: gw[co, ci, t] = Σ_{n, o} gy[n, co, o] · x[n, ci, o·s − p + t·dil]. */
export function conv3dBackwardWeight(x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[], wShape: readonly number[], p: Conv3dParams): Storage {
  const g = convBackwardWeightGeometry(x, xShape, gy, gyShape, wShape, p);
  const X = cpuData(x), GY = cpuData(gy);
  const gw = new Float64Array(g.co * g.ci * g.k[0] * g.k[1] * g.k[2]);
  eachTap(g, (xi, wi, yi) => { gw[wi] += GY[yi] * X[xi]; });
  return storageFrom(x.dtype, gw);
}
