import type { Conv3dParams, Storage } from './backend.js';
import { formatShape, sizeOf } from './layout.js';

export { formatShape };

/**
 * Shape rules that several kernel families share (NCDHW shapes, int-or-triple arguments, a convolution's output
 * extent) and conv3d's argument validation, which its cpu oracle and its WebGPU kernels both call, so that they
 * accept and reject the same arguments; `what` names the operation (and, on WebGPU, the backend) in a message.
 * A family's own rules live in its folder (`<family>/checks.ts`).
 */

/** Throws unless `shape` is five positive integers. */
export function checkNcdhw(shape: readonly number[], what: string): void {
  if (shape.length !== 5 || shape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(`${what}: expected a non-empty NCDHW shape, got ${formatShape(shape)}`);
  }
}

/**
 * PyTorch's int-or-tuple argument as three integers, one integer standing for all three; `what` names the
 * operation and the argument in the message (e.g. 'conv3d: stride').
 */
export function triple(v: number | readonly number[], what: string): [number, number, number] {
  const t = typeof v === 'number' ? [v, v, v] : v;
  if (!Array.isArray(t) || t.length !== 3 || !t.every(Number.isInteger)) {
    throw new Error(`${what} must be an integer or three integers, got ${JSON.stringify(v)}`);
  }
  return [t[0], t[1], t[2]];
}

// ---------------------------------------------------------------------------------------------------------
// conv3d

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

/** PyTorch's output size along one axis (pooling is dil = 1). */
export function convOutSize(size: number, k: number, s: number, p: number, dil: number): number {
  return Math.floor((size + 2 * p - dil * (k - 1) - 1) / s) + 1;
}

/**
 * Validates x [N, Ci, D, H, W] and w [Co, Ci, kd, kh, kw] against the parameters and returns the geometry.
 * Throws on: ranks other than 5, empty dimensions, a channel mismatch, non-positive stride or dilation,
 * negative padding, and a (dilated) kernel larger than the padded input.
 */
export function convGeometry(xShape: readonly number[], wShape: readonly number[], p: Conv3dParams): ConvGeometry {
  if (xShape.length !== 5) throw new Error(`conv3d: input must be [N, C, D, H, W], got shape ${formatShape(xShape)}`);
  if (wShape.length !== 5) throw new Error(`conv3d: weight must be [Cout, Cin, kD, kH, kW], got shape ${formatShape(wShape)}`);
  for (const [shape, what] of [[xShape, 'input'], [wShape, 'weight']] as const) {
    if (!shape.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`conv3d: ${what} shape ${formatShape(shape)} has an empty or invalid dimension`);
  }
  const stride = triple(p.stride, 'conv3d: stride'), padding = triple(p.padding, 'conv3d: padding'), dilation = triple(p.dilation, 'conv3d: dilation');
  if (stride.some((s) => s <= 0)) throw new Error(`conv3d: stride must be positive, got ${formatShape(stride)}`);
  if (dilation.some((d) => d <= 0)) throw new Error(`conv3d: dilation must be positive, got ${formatShape(dilation)}`);
  if (padding.some((q) => q < 0)) throw new Error(`conv3d: padding must not be negative, got ${formatShape(padding)}`);
  if (xShape[1] !== wShape[1]) {
    throw new Error(`conv3d: input ${formatShape(xShape)} has ${xShape[1]} channels but weight ${formatShape(wShape)} expects ${wShape[1]}`);
  }
  const inSize: [number, number, number] = [xShape[2], xShape[3], xShape[4]];
  const k: [number, number, number] = [wShape[2], wShape[3], wShape[4]];
  for (let a = 0; a < 3; a++) {
    const span = dilation[a] * (k[a] - 1) + 1;
    if (span > inSize[a] + 2 * padding[a]) {
      throw new Error(`conv3d: kernel ${formatShape(k)} (dilation ${formatShape(dilation)}) is larger than the padded input: input ${formatShape(xShape)}, padding ${formatShape(padding)}`);
    }
  }
  const out = [0, 1, 2].map((a) => convOutSize(inSize[a], k[a], stride[a], padding[a], dilation[a])) as [number, number, number];
  return { n: xShape[0], ci: xShape[1], co: wShape[0], in: inSize, out, k, s: stride, p: padding, dil: dilation };
}

/** The gradient's shape must be the convolution's output shape [N, Cout, Do, Ho, Wo]. */
function checkGradShape(g: ConvGeometry, gyShape: readonly number[], xShape: readonly number[], wShape: readonly number[]): void {
  const want = [g.n, g.co, ...g.out];
  if (gyShape.length !== 5 || want.some((d, i) => d !== gyShape[i])) {
    throw new Error(`conv3d backward: output gradient ${formatShape(gyShape)} does not match the convolution of input ${formatShape(xShape)} with weight ${formatShape(wShape)}, whose output is ${formatShape(want)}`);
  }
}

function checkLength(s: Storage, shape: readonly number[], what: string): void {
  const n = sizeOf(shape);
  if (s.length < n) throw new Error(`conv3d: ${what} storage holds ${s.length} elements, shape ${formatShape(shape)} needs ${n}`);
}

/** conv3d's arguments (bias aside, see checkConvBias), validated: the geometry. */
export function convForwardGeometry(x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], p: Conv3dParams): ConvGeometry {
  const g = convGeometry(xShape, wShape, p);
  checkLength(x, xShape, 'input');
  checkLength(w, wShape, 'weight');
  return g;
}

export function checkConvBias(bias: Storage, g: ConvGeometry, wShape: readonly number[]): void {
  if (bias.length !== g.co) throw new Error(`conv3d: bias has ${bias.length} elements, weight ${formatShape(wShape)} has ${g.co} output channels`);
}

/** conv3dBackwardInput's arguments, validated: the geometry of the convolution of x. */
export function convBackwardInputGeometry(gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[],
  xShape: readonly number[], p: Conv3dParams): ConvGeometry {
  const g = convGeometry(xShape, wShape, p);
  checkGradShape(g, gyShape, xShape, wShape);
  checkLength(gy, gyShape, 'output gradient');
  checkLength(w, wShape, 'weight');
  return g;
}

/** conv3dBackwardWeight's arguments, validated: the geometry of the convolution of x. */
export function convBackwardWeightGeometry(x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[],
  wShape: readonly number[], p: Conv3dParams): ConvGeometry {
  const g = convGeometry(xShape, wShape, p);
  checkGradShape(g, gyShape, xShape, wShape);
  checkLength(x, xShape, 'input');
  checkLength(gy, gyShape, 'output gradient');
  return g;
}
