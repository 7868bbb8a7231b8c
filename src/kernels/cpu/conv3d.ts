import type { Conv3dParams, Storage } from '../backend.js';
import { typedArrayFor } from '../backend.js';
import { CpuStorage, cpuData } from './storage.js';

/**
 * 3-D convolution (PyTorch's conv3d, groups = 1, layout NCDHW, contiguous) and its two gradients: the oracle
 * every WGSL conv kernel is tested against. Written as the definition reads, in the storage's dtype
 * (float64 works), accumulating in JavaScript numbers:
 *
 *   y[n, co, o] = bias[co] + Σ_{ci, t} x[n, ci, o·s − p + t·dil] · w[co, ci, t]   (out-of-range x is 0)
 *
 * with o and t 3-vectors (od, oh, ow), (kd, kh, kw) and Do = ⌊(D + 2p − dil·(k − 1) − 1)/s⌋ + 1 per axis.
 * The shape rules and their error messages live here too; the WebGPU backend uses the same functions.
 */

/** Everything about one convolution's shapes, validated. */
export interface ConvGeometry {
  n: number;
  ci: number;
  co: number;
  /** input spatial size (D, H, W) */
  in: [number, number, number];
  /** output spatial size (Do, Ho, Wo) */
  out: [number, number, number];
  k: [number, number, number];
  s: [number, number, number];
  p: [number, number, number];
  dil: [number, number, number];
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

function triple(v: readonly number[] | undefined, what: string): [number, number, number] {
  if (!v || v.length !== 3 || !v.every((e) => Number.isInteger(e))) {
    throw new Error(`conv3d: ${what} must be three integers, got ${v ? fmt(v) : String(v)}`);
  }
  return [v[0], v[1], v[2]];
}

/** PyTorch's output size along one axis. */
export function convOutSize(size: number, k: number, s: number, p: number, dil: number): number {
  return Math.floor((size + 2 * p - dil * (k - 1) - 1) / s) + 1;
}

/**
 * Validates x [N, Ci, D, H, W] and w [Co, Ci, kd, kh, kw] against the parameters and returns the geometry.
 * Throws on: ranks other than 5, empty dimensions, a channel mismatch, non-positive stride or dilation,
 * negative padding, and a (dilated) kernel larger than the padded input.
 */
export function convGeometry(xShape: readonly number[], wShape: readonly number[], p: Conv3dParams): ConvGeometry {
  if (xShape.length !== 5) throw new Error(`conv3d: input must be [N, C, D, H, W], got shape ${fmt(xShape)}`);
  if (wShape.length !== 5) throw new Error(`conv3d: weight must be [Cout, Cin, kD, kH, kW], got shape ${fmt(wShape)}`);
  for (const [shape, what] of [[xShape, 'input'], [wShape, 'weight']] as const) {
    if (!shape.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`conv3d: ${what} shape ${fmt(shape)} has an empty or invalid dimension`);
  }
  const stride = triple(p.stride, 'stride'), padding = triple(p.padding, 'padding'), dilation = triple(p.dilation, 'dilation');
  if (stride.some((s) => s <= 0)) throw new Error(`conv3d: stride must be positive, got ${fmt(stride)}`);
  if (dilation.some((d) => d <= 0)) throw new Error(`conv3d: dilation must be positive, got ${fmt(dilation)}`);
  if (padding.some((q) => q < 0)) throw new Error(`conv3d: padding must not be negative, got ${fmt(padding)}`);
  if (xShape[1] !== wShape[1]) {
    throw new Error(`conv3d: input ${fmt(xShape)} has ${xShape[1]} channels but weight ${fmt(wShape)} expects ${wShape[1]}`);
  }
  const inSize: [number, number, number] = [xShape[2], xShape[3], xShape[4]];
  const k: [number, number, number] = [wShape[2], wShape[3], wShape[4]];
  for (let a = 0; a < 3; a++) {
    const span = dilation[a] * (k[a] - 1) + 1;
    if (span > inSize[a] + 2 * padding[a]) {
      throw new Error(`conv3d: kernel ${fmt(k)} (dilation ${fmt(dilation)}) is larger than the padded input: input ${fmt(xShape)}, padding ${fmt(padding)}`);
    }
  }
  const out = [0, 1, 2].map((a) => convOutSize(inSize[a], k[a], stride[a], padding[a], dilation[a])) as [number, number, number];
  return { n: xShape[0], ci: xShape[1], co: wShape[0], in: inSize, out, k, s: stride, p: padding, dil: dilation };
}

/** The gradient's shape must be the convolution's output shape [N, Cout, Do, Ho, Wo]. */
export function checkGradShape(g: ConvGeometry, gyShape: readonly number[], xShape: readonly number[], wShape: readonly number[]): void {
  const want = [g.n, g.co, ...g.out];
  if (gyShape.length !== 5 || want.some((d, i) => d !== gyShape[i])) {
    throw new Error(`conv3d backward: output gradient ${fmt(gyShape)} does not match the convolution of input ${fmt(xShape)} with weight ${fmt(wShape)}, whose output is ${fmt(want)}`);
  }
}

export function checkLength(s: Storage, shape: readonly number[], what: string): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (s.length < n) throw new Error(`conv3d: ${what} storage holds ${s.length} elements, shape ${fmt(shape)} needs ${n}`);
}

export function conv3d(x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], bias: Storage | null, p: Conv3dParams): Storage {
  const g = convGeometry(xShape, wShape, p);
  checkLength(x, xShape, 'input');
  checkLength(w, wShape, 'weight');
  if (bias && bias.length !== g.co) throw new Error(`conv3d: bias has ${bias.length} elements, weight ${fmt(wShape)} has ${g.co} output channels`);
  const X = cpuData(x), Wt = cpuData(w), B = bias ? cpuData(bias) : null;
  const [D, H, W] = g.in, [OD, OH, OW] = g.out, [KD, KH, KW] = g.k;
  const y = typedArrayFor(x.dtype, g.n * g.co * OD * OH * OW);
  let at = 0;
  for (let n = 0; n < g.n; n++) {
    for (let co = 0; co < g.co; co++) {
      for (let od = 0; od < OD; od++) {
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++) {
            let sum = B ? B[co] : 0;
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
                    sum += X[(((n * g.ci + ci) * D + id) * H + ih) * W + iw] * Wt[(((co * g.ci + ci) * KD + kd) * KH + kh) * KW + kw];
                  }
                }
              }
            }
            y[at++] = sum;
          }
        }
      }
    }
  }
  return new CpuStorage(x.dtype, y);
}

/**
 * Gradient w.r.t. the input: every output-gradient element gy[n, co, o] flows back to the input positions
 * o·s − p + t·dil that it read, weighted by w[co, ci, t]. xShape is given explicitly: with output padding
 * (convTranspose3d) the extra trailing rows simply receive no contributions.
 */
export function conv3dBackwardInput(gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[], xShape: readonly number[], p: Conv3dParams): Storage {
  const g = convGeometry(xShape, wShape, p);
  checkGradShape(g, gyShape, xShape, wShape);
  checkLength(gy, gyShape, 'output gradient');
  checkLength(w, wShape, 'weight');
  const GY = cpuData(gy), Wt = cpuData(w);
  const [D, H, W] = g.in, [OD, OH, OW] = g.out, [KD, KH, KW] = g.k;
  const gx = typedArrayFor(gy.dtype, g.n * g.ci * D * H * W);
  for (let n = 0; n < g.n; n++) {
    for (let co = 0; co < g.co; co++) {
      for (let od = 0; od < OD; od++) {
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++) {
            const gv = GY[(((n * g.co + co) * OD + od) * OH + oh) * OW + ow];
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
                    gx[(((n * g.ci + ci) * D + id) * H + ih) * W + iw] += gv * Wt[(((co * g.ci + ci) * KD + kd) * KH + kh) * KW + kw];
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  return new CpuStorage(gy.dtype, gx);
}

/** Gradient w.r.t. the weight: gw[co, ci, t] = Σ_{n, o} gy[n, co, o] · x[n, ci, o·s − p + t·dil]. */
export function conv3dBackwardWeight(x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[], wShape: readonly number[], p: Conv3dParams): Storage {
  const g = convGeometry(xShape, wShape, p);
  checkGradShape(g, gyShape, xShape, wShape);
  checkLength(x, xShape, 'input');
  checkLength(gy, gyShape, 'output gradient');
  const X = cpuData(x), GY = cpuData(gy);
  const [D, H, W] = g.in, [OD, OH, OW] = g.out, [KD, KH, KW] = g.k;
  const gw = typedArrayFor(x.dtype, g.co * g.ci * KD * KH * KW);
  for (let co = 0; co < g.co; co++) {
    for (let ci = 0; ci < g.ci; ci++) {
      for (let kd = 0; kd < KD; kd++) {
        for (let kh = 0; kh < KH; kh++) {
          for (let kw = 0; kw < KW; kw++) {
            let sum = 0;
            for (let n = 0; n < g.n; n++) {
              for (let od = 0; od < OD; od++) {
                const id = od * g.s[0] - g.p[0] + kd * g.dil[0];
                if (id < 0 || id >= D) continue;
                for (let oh = 0; oh < OH; oh++) {
                  const ih = oh * g.s[1] - g.p[1] + kh * g.dil[1];
                  if (ih < 0 || ih >= H) continue;
                  for (let ow = 0; ow < OW; ow++) {
                    const iw = ow * g.s[2] - g.p[2] + kw * g.dil[2];
                    if (iw < 0 || iw >= W) continue;
                    sum += GY[(((n * g.co + co) * OD + od) * OH + oh) * OW + ow] * X[(((n * g.ci + ci) * D + id) * H + ih) * W + iw];
                  }
                }
              }
            }
            gw[(((co * g.ci + ci) * KD + kd) * KH + kh) * KW + kw] = sum;
          }
        }
      }
    }
  }
  return new CpuStorage(x.dtype, gw);
}
